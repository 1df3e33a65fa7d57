"""PostgreSQL store, for many application processes recording into one database.

Needs psycopg 3 (``pip install 'extractkit-llm[postgres]'``), imported only when a
``PostgresStore`` is made. Semantics match the SQLite store exactly: the same
SQL (``ON CONFLICT`` on a unique index over extractor and case-folded input),
the same label history, migrations versioned in a ``schema_version`` table.

Opening reads the schema version first; only a writer that finds it behind
migrates, under a transaction-scoped advisory lock, so processes that start
together migrate once. ``schema=`` puts the tables in their own PostgreSQL
schema (created if needed), so several applications, or tests, can share a
database. ``read_only=True`` creates, migrates and locks nothing and runs its
sessions read-only.

No call waits forever: every session sets ``lock_timeout`` (a table or row lock
not granted in time fails the statement) and ``statement_timeout``. A
connection lost (a server restart, a network cut) is reopened on the next call:
reads retry a bounded number of times, the writer retries its batch for
``retry_for`` seconds; then the caller gets
:class:`~extractkit.exceptions.StoreUnavailableError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from extractkit.exceptions import ConfigError, StoreError, UserError
from extractkit.store.redaction import Redactor
from extractkit.store.sqlite import Migration
from extractkit.store.sqlstore import Cursor, OnRecordError, SQLStore

if TYPE_CHECKING:
    import psycopg

__all__ = ["MIGRATIONS", "PostgresStore", "migrate", "schema_version"]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "records: one row per extractor and case-folded input",
        (
            """CREATE TABLE records (
                id TEXT PRIMARY KEY,
                extractor TEXT NOT NULL,
                input TEXT NOT NULL,
                input_key TEXT NOT NULL,
                exchange_id TEXT NOT NULL,
                model TEXT NOT NULL,
                prompt_variant TEXT NOT NULL,
                messages TEXT NOT NULL,
                raw_response TEXT,
                output TEXT,
                error TEXT,
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                cost DOUBLE PRECISION,
                latency_s DOUBLE PRECISION NOT NULL,
                attempts INTEGER NOT NULL,
                repairs TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                metadata TEXT NOT NULL,
                first_seen_at TIMESTAMPTZ NOT NULL,
                included_at TIMESTAMPTZ,
                corrected_output TEXT,
                reviewed_at TIMESTAMPTZ
            )""",
            "CREATE UNIQUE INDEX records_extractor_input ON records (extractor, input_key)",
        ),
    ),
    Migration(
        2,
        "labels: history of model answers and corrections, backfilled from records",
        (
            """CREATE TABLE labels (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                extractor TEXT NOT NULL,
                input_key TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('model', 'correction')),
                exchange_id TEXT,
                model TEXT,
                output TEXT,
                error TEXT,
                created_at TIMESTAMPTZ NOT NULL
            )""",
            "CREATE UNIQUE INDEX labels_exchange ON labels (exchange_id)",
            "CREATE INDEX labels_record ON labels (extractor, input_key)",
            """INSERT INTO labels (extractor, input_key, kind, exchange_id, model, output, error, created_at)
               SELECT extractor, input_key, 'model', exchange_id, model, output, error, created_at
               FROM records""",
            """INSERT INTO labels (extractor, input_key, kind, output, created_at)
               SELECT extractor, input_key, 'correction', corrected_output, COALESCE(reviewed_at, created_at)
               FROM records WHERE corrected_output IS NOT NULL""",
        ),
    ),
    Migration(
        3,
        "indexes for curation filters",
        (
            "CREATE INDEX records_created ON records (created_at)",
            "CREATE INDEX records_included ON records (extractor, included_at)",
            "CREATE INDEX records_model ON records (model, created_at)",
        ),
    ),
    Migration(
        4,
        "shadows: a second model's answers to live inputs, beside the live answer",
        (
            """CREATE TABLE shadows (
                id TEXT PRIMARY KEY,
                live_exchange_id TEXT NOT NULL,
                extractor TEXT NOT NULL,
                input TEXT NOT NULL,
                input_key TEXT NOT NULL,
                live_model TEXT NOT NULL,
                live_output TEXT,
                model TEXT NOT NULL,
                prompt_variant TEXT NOT NULL,
                messages TEXT NOT NULL,
                raw_response TEXT,
                output TEXT,
                error TEXT,
                agrees BOOLEAN,
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                cost DOUBLE PRECISION,
                latency_s DOUBLE PRECISION NOT NULL,
                attempts INTEGER NOT NULL,
                repairs TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                metadata TEXT NOT NULL
            )""",
            "CREATE INDEX shadows_extractor ON shadows (extractor, agrees, created_at)",
            "CREATE INDEX shadows_created ON shadows (created_at)",
            "CREATE INDEX shadows_live ON shadows (live_exchange_id)",
        ),
    ),
)


def _driver() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigError(
            "the PostgreSQL store needs psycopg 3: pip install 'extractkit-llm[postgres]'", key="store.url"
        ) from exc
    return psycopg


def migrate(conn: psycopg.Connection[Any], target: int | None = None, *, schema: str | None = None) -> int:
    """Bring the database (or ``schema`` in it) to ``target`` (default: latest); return the version.

    ``conn`` must be in autocommit mode. Concurrent callers serialise on an advisory lock.

    Raises:
        UserError: The schema was written by a newer extractkit.
    """
    from psycopg import sql

    latest = MIGRATIONS[-1].version
    target = latest if target is None else target
    with conn.transaction(), conn.cursor() as cur:
        # Index builds on a large table may take long; the session's statement_timeout is for queries.
        cur.execute("SET LOCAL statement_timeout = 0")
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"extractkit.store:{schema or ''}",))
        if schema is not None:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            cur.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        row = cur.fetchone()
        current = int(row[0]) if row else 0
        if current > latest:
            raise UserError(
                f"the store's schema version is {current} but this extractkit knows only up to {latest}; "
                "upgrade extractkit"
            )
        for step in MIGRATIONS:
            if current < step.version <= target:
                for statement in step.statements:
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_version (version, description, applied_at) VALUES (%s, %s, now())",
                    (step.version, step.description),
                )
                current = step.version
    return current


def schema_version(conn: psycopg.Connection[Any], schema: str | None = None) -> int | None:
    """Return the schema version of the store in ``schema`` (default: the search path).

    ``None`` when there is no store there. A plain read: takes no lock.
    """
    table = "schema_version" if schema is None else f'"{schema.replace(chr(34), chr(34) * 2)}".schema_version'
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (table,))
        row = cur.fetchone()
        if row is None or row[0] is None:
            return None
        cur.execute(f"SELECT COALESCE(MAX(version), 0) FROM {table}")
        found = cur.fetchone()
        return int(found[0]) if found else 0


class PostgresStore(SQLStore):
    """A :class:`~extractkit.store.base.Store` in a PostgreSQL database.

    Args:
        dsn: A libpq connection string or ``postgresql://`` URL.
        schema: PostgreSQL schema for the tables (created if missing); default: the
            connection's ``search_path`` (usually ``public``).
        connect_timeout: Seconds to wait for a connection.
        lock_timeout: Seconds a statement waits for a lock before it fails (``None``: the
            server's setting, by default forever).
        statement_timeout: Seconds a statement may run before it is cancelled (``None``: the
            server's setting); migrations are exempt.
        redact: A hook run on each exchange before it is written (then secrets are scrubbed).
        scrub_secrets: Scrub API keys and bearer tokens by value (on by default).
        batch_size: Most exchanges per transaction.
        close_timeout: Seconds ``close()`` keeps retrying failing writes before giving up.
        retry_for: Seconds a batch that fails transiently is retried before it counts as failed.
        sleep: How the writer waits between retries (injectable for tests).
        read_only: Only read: never create, migrate or lock; sessions are read-only.
        on_record_error: ``"raise"`` or ``"warn"``: what an extraction does when its exchange
            cannot be written (see ``docs/recording.md``).

    Raises:
        ConfigError: psycopg is not installed.
        StoreError: There is no store to read (``read_only``), or it cannot be opened.
        StoreUnavailableError: The server cannot be reached.
    """

    like_operator: ClassVar[str] = "ILIKE"
    no_limit: ClassVar[int | None] = None  # LIMIT NULL means no limit in PostgreSQL

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        connect_timeout: float = 10.0,
        lock_timeout: float | None = 10.0,
        statement_timeout: float | None = 300.0,
        redact: Redactor | None = None,
        scrub_secrets: bool = True,
        batch_size: int = 1000,
        close_timeout: float = 30.0,
        retry_for: float = 30.0,
        sleep: Callable[[float], object] | None = None,
        read_only: bool = False,
        on_record_error: OnRecordError = "raise",
    ) -> None:
        self._psycopg = _driver()
        self.dsn = dsn
        self.schema = schema
        self._connect_timeout = connect_timeout
        self._lock_timeout = lock_timeout
        self._statement_timeout = statement_timeout
        self._read_only = read_only
        self._location = _location(dsn, schema)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        try:
            first = self._connect()
            try:
                self._check_schema(first)
                self._write_conn = first
                self._read_conn = self._connect()
            except BaseException:
                first.close()
                raise
        except self._psycopg.Error as exc:
            raise self._store_error(exc) from exc
        super().__init__(
            redact=redact,
            scrub_secrets=scrub_secrets,
            batch_size=batch_size,
            close_timeout=close_timeout,
            retry_for=retry_for,
            sleep=sleep,
            read_only=read_only,
            on_record_error=on_record_error,
        )

    @property
    def location(self) -> str:
        """The server, database and schema (never the password)."""
        return self._location

    def _check_schema(self, conn: psycopg.Connection[Any]) -> None:
        latest = MIGRATIONS[-1].version
        version = schema_version(conn, self.schema)
        if self._read_only:
            if version is None:
                where = f"schema {self.schema!r} of " if self.schema else ""
                raise StoreError(
                    f"no extractkit store in {where}{self._location} (no schema_version table); "
                    "check the URL and schema",
                    location=self._location,
                )
            if version < latest:
                raise StoreError(
                    f"the store in {self._location} has schema version {version}, older than this "
                    f"extractkit's {latest}; open it once for writing to upgrade it, then read it",
                    location=self._location,
                )
        if version is None or version < latest:
            migrate(conn, schema=self.schema)  # the advisory lock is taken only now
        elif version > latest:
            raise UserError(
                f"the store's schema version is {version} but this extractkit knows only up to {latest}; "
                "upgrade extractkit"
            )

    def _set_search_path(self, conn: psycopg.Connection[Any]) -> None:
        from psycopg import sql

        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema or "public")))

    def _connect(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = self._psycopg.connect(
            self.dsn, autocommit=True, connect_timeout=max(1, int(self._connect_timeout))
        )
        try:
            # Session settings, so no call of this store waits on a lock or a query forever.
            if self._lock_timeout is not None:
                conn.execute(f"SET lock_timeout = {int(self._lock_timeout * 1000)}")
            if self._statement_timeout is not None:
                conn.execute(f"SET statement_timeout = {int(self._statement_timeout * 1000)}")
            if self._read_only:
                conn.execute("SET default_transaction_read_only = on")
            if self.schema is not None:
                self._set_search_path(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _live(self, conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
        if conn.closed or conn.broken:
            conn.close()
            return self._connect()
        return conn

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        with self._write_lock:
            self._write_conn = conn = self._live(self._write_conn)
            with conn.transaction(), conn.cursor() as cur:
                yield cur

    @contextmanager
    def _reading(self) -> Iterator[Cursor]:
        with self._read_lock:
            self._read_conn = conn = self._live(self._read_conn)
            with conn.cursor() as cur:
                yield cur

    @contextmanager
    def _snapshot(self) -> Iterator[Cursor]:
        # One REPEATABLE READ transaction sees one snapshot; a server-side cursor streams the
        # rows a page at a time. Its own connection, so other reads are not held up.
        from psycopg import IsolationLevel

        conn = self._connect()
        try:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction(), conn.cursor(name="extractkit_export") as cur:
                yield cur
        finally:
            conn.close()

    def _is_transient(self, exc: BaseException) -> bool:
        # OperationalError covers lost connections, lock and statement timeouts, deadlocks and
        # serialisation failures: each may pass on a later try.
        return isinstance(exc, self._psycopg.OperationalError)

    def _is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self._psycopg.Error)

    def _describe(self, exc: BaseException) -> str:
        errors = self._psycopg.errors
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, errors.LockNotAvailable):
            limit = "the server's" if self._lock_timeout is None else f"{self._lock_timeout:g} s"
            return (
                f"a lock was not granted within lock_timeout ({limit}): another session holds it; "
                "retry later, or find the session holding it (pg_locks)"
            )
        if isinstance(exc, errors.QueryCanceled):
            limit = "the server's" if self._statement_timeout is None else f"{self._statement_timeout:g} s"
            return f"a statement ran past statement_timeout ({limit}): {first_line}"
        if isinstance(exc, self._psycopg.OperationalError):
            return (
                f"the server could not be reached or the connection was lost ({first_line}); "
                "the next call reconnects"
            )
        return f"{type(exc).__name__}: {first_line}"

    def _encode_time(self, value: datetime) -> Any:
        return value

    def _decode_time(self, value: Any) -> datetime:
        if not isinstance(value, datetime):  # pragma: no cover - psycopg always returns datetimes
            raise TypeError(f"expected a datetime from PostgreSQL, got {value!r}")
        return value.astimezone(UTC)

    def _close_connections(self) -> None:
        with self._write_lock:
            self._write_conn.close()
        with self._read_lock:
            self._read_conn.close()

    def schema_version(self) -> int:
        """Return the database's schema version."""

        def read(cur: Cursor) -> int:
            cur.execute("SELECT MAX(version) FROM schema_version")
            return int(cur.fetchone()[0])

        return self._query(read)

    def __repr__(self) -> str:
        schema = f", schema={self.schema!r}" if self.schema else ""
        return f"PostgresStore({self._location!r}{schema})"


def _location(dsn: str, schema: str | None) -> str:
    # For messages: where the store is, never how to log in to it.
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(dsn)
    except Exception:
        return "postgresql://<dsn>"
    host = str(info.get("host") or "localhost")
    port = f":{info['port']}" if info.get("port") else ""
    where = f"postgresql://{host}{port}/{info.get('dbname') or ''}"
    return f"{where} (schema {schema})" if schema else where
