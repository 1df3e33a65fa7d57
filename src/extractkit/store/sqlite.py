"""SQLite store: the embedded default, stdlib ``sqlite3`` in WAL mode.

Several threads, asyncio tasks and processes may record into one file: each
store has its own writer connection, write transactions start with ``BEGIN
IMMEDIATE`` (so two writers queue on the busy timeout instead of deadlocking
on a lock upgrade), and a batch is one transaction, so a process killed
mid-batch leaves either the whole batch or none of it. ``synchronous=NORMAL``
in WAL mode survives application crashes; pass ``synchronous="FULL"`` to also
survive power loss at some cost in write speed.

Times are stored as ISO 8601 UTC text with fixed-width microseconds, so text
order is time order.

Opening does not take the write lock unless the schema must change: the
version is read first, and only a writer that finds it behind migrates. A
``read_only=True`` store opens the file with ``mode=ro``: it never creates,
migrates or locks the database, and a path with no store is an error naming
the path. The file (and its ``-wal``/``-shm`` companions, which SQLite gives the
same mode) is created readable by its owner only (0600), and folders the store
creates are 0700.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from extractkit.exceptions import StoreError, UserError
from extractkit.store.redaction import Redactor
from extractkit.store.sqlstore import Cursor, OnRecordError, SQLStore

__all__ = ["MIGRATIONS", "Migration", "SQLiteStore", "migrate", "schema_version"]

_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: applied once, in version order, inside one transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


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
                cost REAL,
                latency_s REAL NOT NULL,
                attempts INTEGER NOT NULL,
                repairs TEXT NOT NULL,
                created_at TEXT NOT NULL,
                metadata TEXT NOT NULL,
                first_seen_at TEXT NOT NULL,
                included_at TEXT,
                corrected_output TEXT,
                reviewed_at TEXT
            )""",
            "CREATE UNIQUE INDEX records_extractor_input ON records (extractor, input_key)",
        ),
    ),
    Migration(
        2,
        "labels: history of model answers and corrections, backfilled from records",
        (
            """CREATE TABLE labels (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                extractor TEXT NOT NULL,
                input_key TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('model', 'correction')),
                exchange_id TEXT,
                model TEXT,
                output TEXT,
                error TEXT,
                created_at TEXT NOT NULL
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
                agrees INTEGER CHECK (agrees IN (0, 1)),
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                cost REAL,
                latency_s REAL NOT NULL,
                attempts INTEGER NOT NULL,
                repairs TEXT NOT NULL,
                created_at TEXT NOT NULL,
                metadata TEXT NOT NULL
            )""",
            "CREATE INDEX shadows_extractor ON shadows (extractor, agrees, created_at)",
            "CREATE INDEX shadows_created ON shadows (created_at)",
            "CREATE INDEX shadows_live ON shadows (live_exchange_id)",
        ),
    ),
)


def _begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


def schema_version(conn: sqlite3.Connection) -> int | None:
    """Return the schema version of the database behind ``conn``; ``None`` if it has no store.

    A plain read: takes no write lock.
    """
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if found is None:
        return None
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Bring the database behind ``conn`` (autocommit mode) to ``target`` (default: latest).

    Safe when several processes open the same file at once: the check and the
    steps run in one ``BEGIN IMMEDIATE`` transaction.

    Returns:
        The schema version after migrating.

    Raises:
        UserError: The database was written by a newer extractkit.
    """
    latest = MIGRATIONS[-1].version
    target = latest if target is None else target
    _begin(conn)
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
        if current > latest:
            raise UserError(
                f"the store's schema version is {current} but this extractkit knows only up to {latest}; "
                "upgrade extractkit"
            )
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        for step in MIGRATIONS:
            if current < step.version <= target:
                for statement in step.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                    (step.version, step.description, now),
                )
                current = step.version
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(current)


class SQLiteStore(SQLStore):
    """A :class:`~extractkit.store.base.Store` in one SQLite file.

    Args:
        path: The database file (created with its folder unless ``read_only``), or ``":memory:"``.
        busy_timeout: Seconds a connection waits for another connection's write lock before
            the call fails with :class:`~extractkit.exceptions.StoreUnavailableError`.
        synchronous: SQLite's ``synchronous`` pragma (``"NORMAL"`` or ``"FULL"``).
        on_connect: Called with each new connection (extra pragmas, functions, tracing).
        redact: A hook run on each exchange before it is written (then secrets are scrubbed).
        scrub_secrets: Scrub API keys and bearer tokens by value (on by default).
        batch_size: Most exchanges per transaction.
        close_timeout: Seconds ``close()`` keeps retrying failing writes before giving up.
        retry_for: Seconds a batch that fails transiently is retried before it counts as failed.
        sleep: How the writer waits between retries (injectable for tests).
        read_only: Only read: never create, migrate or lock the database.
        on_record_error: ``"raise"`` or ``"warn"``: what an extraction does when its exchange
            cannot be written (see ``docs/recording.md``).

    Raises:
        StoreError: The file is not a store, cannot be opened, or (``read_only``) does not exist.
        StoreUnavailableError: The database stayed locked past ``busy_timeout`` while a
            writer had to migrate it.
    """

    like_operator: ClassVar[str] = "LIKE"  # ASCII case-insensitive in SQLite
    no_limit: ClassVar[int | None] = -1

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 10.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        on_connect: Callable[[sqlite3.Connection], object] | None = None,
        redact: Redactor | None = None,
        scrub_secrets: bool = True,
        batch_size: int = 1000,
        close_timeout: float = 30.0,
        retry_for: float = 30.0,
        sleep: Callable[[float], object] | None = None,
        read_only: bool = False,
        on_record_error: OnRecordError = "raise",
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise UserError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = str(path)
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._on_connect = on_connect
        self._read_only = read_only
        memory = self._memory = self.path == ":memory:"
        if memory:
            # Each connection to ":memory:" is a separate database; a named shared-cache one
            # is visible to both of this store's connections and to no one else.
            self._target = f"file:extractkit-{uuid.uuid4().hex}?mode=memory&cache=shared"
            if read_only:
                raise UserError("an in-memory store cannot be opened read-only: it would be empty")
        elif read_only:
            if not Path(self.path).is_file():
                raise StoreError(
                    f"no store at {self.path!r}: the file does not exist; check the path "
                    "(read-only commands never create a store)",
                    location=self.path,
                )
            self._target = Path(self.path).absolute().as_uri() + "?mode=ro"
        else:
            _create_private(Path(self.path))
            self._target = self.path
        self._write_lock = threading.Lock()
        try:
            first = self._connect(wal=not memory and not read_only)
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc
        try:
            self._check_schema(first)
        except BaseException:
            first.close()
            raise
        self._write_conn = first
        # A shared-cache memory database locks per table with no busy wait, so there both
        # roles share one connection and one lock. A read-only store needs one connection.
        self._read_lock = self._write_lock if memory or read_only else threading.Lock()
        try:
            self._read_conn = first if memory or read_only else self._connect(wal=False)
        except sqlite3.Error as exc:
            first.close()
            raise self._open_error(exc) from exc
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
        """The database file."""
        return self.path

    def _open_error(self, exc: sqlite3.Error) -> StoreError:
        return self._store_error(exc)

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        latest = MIGRATIONS[-1].version
        try:
            version = schema_version(conn)
            if self._read_only:
                if version is None:
                    raise StoreError(
                        f"{self.path!r} is not an extractkit store (it has no schema_version table); "
                        "check the path",
                        location=self.path,
                    )
                if version < latest:
                    raise StoreError(
                        f"the store {self.path!r} has schema version {version}, older than this "
                        f"extractkit's {latest}; open it once for writing (e.g. record into it) to "
                        "upgrade it, then read it",
                        location=self.path,
                    )
            if version is None or version < latest:
                migrate(conn)  # takes the write lock only now, when there is something to change
            elif version > latest:
                raise UserError(
                    f"the store's schema version is {version} but this extractkit knows only up to "
                    f"{latest}; upgrade extractkit"
                )
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc

    def _connect(self, *, wal: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._target,
            timeout=self._busy_timeout,
            isolation_level=None,  # autocommit; transactions are explicit BEGIN IMMEDIATE/COMMIT
            check_same_thread=False,  # each connection is used under its own lock
            uri=self._target.startswith("file:"),
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            if wal:
                # Persistent in the file; the first opener switches it, later ones find it set.
                conn.execute("PRAGMA journal_mode = WAL")
            if not self._read_only:
                conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            if self._on_connect is not None:
                self._on_connect(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        with self._write_lock:
            conn = self._write_conn
            _begin(conn)
            try:
                yield conn.cursor()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _reading(self) -> Iterator[Cursor]:
        with self._read_lock:
            yield self._read_conn.cursor()

    @contextmanager
    def _snapshot(self) -> Iterator[Cursor]:
        # In WAL mode a read transaction sees the database as of its first read, whatever
        # writers commit meanwhile. Its own connection, so other reads are not held up.
        if self._memory:  # one shared connection
            with self._write_lock:
                conn = self._write_conn
                conn.execute("BEGIN")
                try:
                    yield conn.cursor()
                finally:
                    conn.execute("COMMIT")
            return
        conn = self._connect(wal=False)
        try:
            conn.execute("BEGIN")
            yield conn.cursor()
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", 0) & 0xFF in (
            _SQLITE_BUSY,
            _SQLITE_LOCKED,
        )

    def _is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error)

    def _is_store_failure(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", 0) & 0xFF in (
            _SQLITE_PERM,
            _SQLITE_READONLY,
            _SQLITE_IOERR,
            _SQLITE_CORRUPT,
            _SQLITE_FULL,
            _SQLITE_CANTOPEN,
            _SQLITE_NOTADB,
        )

    def _describe(self, exc: BaseException) -> str:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return (
                f"the database is locked: another connection held its write lock for more than "
                f"{self._busy_timeout:g} s (busy_timeout); retry later, or find the process holding it"
            )
        if code == _SQLITE_FULL:
            return "the disk (or the database's size limit) is full; free space, then record again"
        if code == _SQLITE_READONLY:
            return "the database file is read-only for this process; check its permissions"
        if code == _SQLITE_CANTOPEN:
            return "the database file cannot be opened; check the path and its folder's permissions"
        if code == _SQLITE_NOTADB:
            return "the file is not a SQLite database; check the path"
        return f"{type(exc).__name__}: {exc}"

    def _encode_time(self, value: datetime) -> Any:
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def _decode_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def _close_connections(self) -> None:
        with self._write_lock:
            self._write_conn.close()
        if self._read_conn is not self._write_conn:
            with self._read_lock:
                self._read_conn.close()

    def schema_version(self) -> int:
        """Return the database's schema version."""

        def read(cur: Cursor) -> int:
            cur.execute("SELECT MAX(version) FROM schema_version")
            return int(cur.fetchone()[0])

        return self._query(read)

    def __repr__(self) -> str:
        mode = ", read_only=True" if self._read_only else ""
        return f"SQLiteStore({self.path!r}{mode})"


def _create_private(path: Path) -> None:
    """Create ``path``'s missing folders (0700) and the file itself (0600) if it does not exist.

    SQLite would create the file with the process umask (usually 0644, readable by everyone on
    the machine) and give its -wal and -shm files the same mode; creating it first decides both.
    """
    from extractkit.private_files import FILE_MODE, make_private_dirs

    try:
        make_private_dirs(path.parent)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(
            f"cannot create the store file {str(path)!r}: {exc.strerror or exc}", location=str(path)
        ) from exc
    os.close(fd)
