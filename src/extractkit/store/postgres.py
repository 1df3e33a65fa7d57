"""PostgreSQL store, for many application processes recording into one database.

Needs psycopg 3 (``pip install 'extractkit-llm[postgres]'``), imported only when a
``PostgresStore`` is made. Semantics match the SQLite store exactly: the same
SQL (``ON CONFLICT`` on a unique index over extractor and case-folded input),
the same label history, migrations versioned in a ``schema_version`` table.

Migrations take a transaction-scoped advisory lock, so processes that start
together migrate once. ``schema=`` puts the tables in their own PostgreSQL
schema (created if needed), so several applications, or tests, can share a
database. A broken connection is reopened on the next write; the writer
retries the batch meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from extractkit.exceptions import ConfigError, UserError
from extractkit.store.redaction import Redactor
from extractkit.store.sqlite import Migration
from extractkit.store.sqlstore import Cursor, SQLStore

if TYPE_CHECKING:
    import psycopg

__all__ = ["MIGRATIONS", "PostgresStore", "migrate"]

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


class PostgresStore(SQLStore):
    """A :class:`~extractkit.store.base.Store` in a PostgreSQL database.

    Args:
        dsn: A libpq connection string or ``postgresql://`` URL.
        schema: PostgreSQL schema for the tables (created if missing); default: the
            connection's ``search_path`` (usually ``public``).
        connect_timeout: Seconds to wait for a connection.
        redact: A hook run on each exchange before it is written (then secrets are scrubbed).
        scrub_secrets: Scrub API keys and auth headers (on by default).
        batch_size: Most exchanges per transaction.
        close_timeout: Seconds ``close()`` keeps retrying failing writes before giving up.
        sleep: How the writer waits between retries (injectable for tests).

    Raises:
        ConfigError: psycopg is not installed.
    """

    like_operator: ClassVar[str] = "ILIKE"
    no_limit: ClassVar[int | None] = None  # LIMIT NULL means no limit in PostgreSQL

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        connect_timeout: float = 10.0,
        redact: Redactor | None = None,
        scrub_secrets: bool = True,
        batch_size: int = 1000,
        close_timeout: float = 30.0,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self._psycopg = _driver()
        self.dsn = dsn
        self.schema = schema
        self._connect_timeout = connect_timeout
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._write_conn = self._connect(create=True)
        self._read_conn = self._connect()
        super().__init__(
            redact=redact,
            scrub_secrets=scrub_secrets,
            batch_size=batch_size,
            close_timeout=close_timeout,
            sleep=sleep,
        )

    def _connect(self, *, create: bool = False) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = self._psycopg.connect(
            self.dsn, autocommit=True, connect_timeout=max(1, int(self._connect_timeout))
        )
        try:
            if create:
                migrate(conn, schema=self.schema)
            if self.schema is not None:
                from psycopg import sql

                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        except BaseException:
            conn.close()
            raise
        return conn

    def _live(self, conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
        return self._connect() if conn.closed or conn.broken else conn

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

    def _is_transient(self, exc: BaseException) -> bool:
        # OperationalError covers lost connections, deadlocks and serialisation failures.
        return isinstance(exc, self._psycopg.OperationalError)

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
        with self._reading() as cur:
            cur.execute("SELECT MAX(version) FROM schema_version")
            return int(cur.fetchone()[0])

    def __repr__(self) -> str:
        schema = f", schema={self.schema!r}" if self.schema else ""
        return f"PostgresStore(<dsn>{schema})"
