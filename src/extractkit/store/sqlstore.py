"""The SQL implementation of the Store Protocol that SQLite and PostgreSQL share.

Both stores keep the same two tables (created by their migrations):

* ``records``: one row per (extractor, case-folded input), holding the latest
  exchange and the reviewer's marks. The row id is the id of the first
  exchange recorded for the input and never changes.
* ``labels``: the label history, one row per model answer (keyed by exchange
  id, so rewriting an exchange is a no-op) and per correction.

A subclass supplies connections (a writer and a reader, each behind a lock),
transactions, how times are stored, and which errors are transient; all SQL is
written here once, with ``?`` placeholders that a subclass may rewrite.

Every text goes through :mod:`extractkit.store.text` on its way in and out (a
lone surrogate or a NUL is stored escaped and comes back exactly), and every
exchange through :func:`extractkit.redaction.redact` on its way in. Database
errors never escape raw: reads are retried a bounded number of times when the
error may pass (a lock, a lost connection), then raise
:class:`~extractkit.exceptions.StoreUnavailableError`; anything else raises
:class:`~extractkit.exceptions.StoreError`.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol, Self, TypeVar

from extractkit.exceptions import ExtractKitError, StoreError, StoreUnavailableError, UserError
from extractkit.store.base import RecordQuery
from extractkit.store.exchange import Exchange, Label, Record, input_key, utc_now
from extractkit.store.redaction import Redactor, apply_redaction
from extractkit.store.shadows import (
    INSERT_SHADOW,
    ShadowPair,
    ShadowSummary,
    read_pairs,
    read_summaries,
    shadow_rows,
    split_shadows,
    without_ids,
)
from extractkit.store.text import decode, decode_opt, encode, encode_opt
from extractkit.store.writer import BatchWriter

__all__ = ["Cursor", "SQLStore"]

_RECORD_COLUMNS = (
    "id, extractor, input, exchange_id, model, prompt_variant, messages, raw_response, output, error, "
    "prompt_tokens, completion_tokens, cost, latency_s, attempts, repairs, created_at, metadata, "
    "first_seen_at, included_at, corrected_output, reviewed_at"
)

_UPSERT = """
INSERT INTO records (id, extractor, input, input_key, exchange_id, model, prompt_variant, messages,
    raw_response, output, error, prompt_tokens, completion_tokens, cost, latency_s, attempts, repairs,
    created_at, metadata, first_seen_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (extractor, input_key) DO UPDATE SET
    input = excluded.input, exchange_id = excluded.exchange_id, model = excluded.model,
    prompt_variant = excluded.prompt_variant, messages = excluded.messages,
    raw_response = excluded.raw_response, output = excluded.output, error = excluded.error,
    prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
    cost = excluded.cost, latency_s = excluded.latency_s, attempts = excluded.attempts,
    repairs = excluded.repairs, created_at = excluded.created_at, metadata = excluded.metadata
WHERE excluded.created_at >= records.created_at
"""
# The WHERE keeps "latest" meaning latest by time: batches from several processes
# can arrive out of order. Curation columns are never in the SET list, so
# re-recording keeps included_at, reviewed_at and the correction.

_INSERT_LABEL = """
INSERT INTO labels (extractor, input_key, kind, exchange_id, model, output, error, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (exchange_id) DO NOTHING
"""

_RESOLVE = """
SELECT id FROM records WHERE id = ?
UNION ALL
SELECT r.id FROM labels l JOIN records r ON r.extractor = l.extractor AND r.input_key = l.input_key
WHERE l.exchange_id = ?
"""

_PAGE = 500

logger = logging.getLogger("extractkit.store")

OnRecordError = Literal["raise", "warn"]
"""What an extraction does when its exchange cannot be recorded (see ``docs/recording.md``)."""

ON_RECORD_ERROR: tuple[OnRecordError, ...] = ("raise", "warn")

_T = TypeVar("_T")


class Cursor(Protocol):
    """The DB-API cursor subset both sqlite3 and psycopg provide."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: Any, params: Any = ..., /) -> object: ...

    def executemany(self, sql: Any, params: Any, /) -> object: ...

    def fetchone(self) -> Any: ...

    def fetchmany(self, size: int = ..., /) -> builtins.list[Any]: ...

    def fetchall(self) -> builtins.list[Any]: ...


def _json_default(value: Any) -> Any:
    # Outputs should already be plain JSON data; tolerate models and dataclasses
    # rather than dropping the exchange, and stringify anything else.
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def dumps(value: Any) -> str:
    """Encode ``value`` as compact JSON text for a TEXT column (not yet escaped for the database)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


_fragments: dict[tuple[Any, str], str] = {}


def dumps_messages(messages: Any) -> str:
    """Encode a message list; long ``{role, content}`` messages are encoded once and reused.

    The system prompt is the same long text on nearly every exchange; re-encoding it
    was the largest part of a write.
    """
    parts = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and len(content) >= 256 and len(message) == 2 and "role" in message:
            key = (message["role"], content)
            fragment = _fragments.get(key)
            if fragment is None:
                fragment = dumps(message)
                if len(_fragments) >= 256:
                    _fragments.clear()
                _fragments[key] = fragment
            parts.append(fragment)
        else:
            parts.append(dumps(message))
    return "[" + ",".join(parts) + "]"


def _strict_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _loads(text: str | None) -> Any:
    # JSON columns are escaped like any text (a lone surrogate stays raw inside the JSON text,
    # which json.loads reads back as the same lone code point).
    return None if text is None else json.loads(decode(text))


def check_policy(value: str) -> OnRecordError:
    """Return ``value`` if it is an ``on_record_error`` policy, else raise UserError naming both."""
    if value not in ON_RECORD_ERROR:
        raise UserError(f"on_record_error must be 'raise' or 'warn', got {value!r}")
    return value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SQLStore(ABC):
    """Shared implementation of :class:`~extractkit.store.base.Store` over a SQL database.

    Args:
        redact: A hook run on each exchange before it is written (then secrets are scrubbed).
        scrub_secrets: Scrub API keys and bearer tokens by value (on by default; see
            :mod:`extractkit.redaction`).
        batch_size: Most exchanges written per transaction.
        close_timeout: Seconds ``close()`` keeps retrying failing writes before giving up.
        retry_for: Seconds a batch that fails transiently (locked, connection lost) is retried
            before its exchanges count as failed and reach the caller as a StoreError.
        sleep: How the writer waits between retries (injectable for tests).
        read_only: Open for reading only: no writer thread, no migration, no lock, and
            nothing is created; recording or curating raises StoreError.
        on_record_error: What an extraction recording into this store does when its exchange
            cannot be written: ``"raise"`` a RecordingError that carries the value, or ``"warn"``.
    """

    like_operator: ClassVar[str] = "LIKE"
    """Case-insensitive LIKE operator of the dialect."""
    no_limit: ClassVar[int | None] = None
    """The LIMIT value meaning "no limit"."""

    def __init__(
        self,
        *,
        redact: Redactor | None = None,
        scrub_secrets: bool = True,
        batch_size: int = 1000,
        close_timeout: float = 30.0,
        retry_for: float = 30.0,
        sleep: Callable[[float], object] | None = None,
        read_only: bool = False,
        on_record_error: OnRecordError = "raise",
    ) -> None:
        self._redact = redact
        self._scrub = scrub_secrets
        self._closed = False
        self._close_lock = threading.Lock()
        self._sleep = sleep if sleep is not None else time.sleep
        self.read_only = read_only
        self.on_record_error: OnRecordError = check_policy(on_record_error)
        self._writer: BatchWriter | None = None
        if not read_only:
            self._writer = BatchWriter(
                self._write_rows,
                is_transient=self._is_transient,
                is_store_failure=self._is_store_failure,
                describe=self._describe,
                batch_size=batch_size,
                name=f"extractkit-{type(self).__name__}-writer",
                close_timeout=close_timeout,
                retry_for=retry_for,
                sleep=self._sleep,
                location=self.location,
            )

    # -- what a dialect provides -------------------------------------------------

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Cursor]:
        """Hold the writer connection and run one write transaction; commit on success."""

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Cursor]:
        """Hold the reader connection for a few queries."""

    @abstractmethod
    def _is_transient(self, exc: BaseException) -> bool:
        """Whether retrying a write that raised ``exc`` may succeed."""

    @abstractmethod
    def _encode_time(self, value: datetime) -> Any:
        """Turn an aware datetime into the column value."""

    @abstractmethod
    def _decode_time(self, value: Any) -> datetime:
        """Turn a column value back into an aware UTC datetime."""

    @abstractmethod
    def _close_connections(self) -> None:
        """Release every connection."""

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[Cursor]:
        """A cursor in its own read transaction: every query through it sees one snapshot."""

    @property
    @abstractmethod
    def location(self) -> str:
        """The database, for messages: a path, or the server and database without credentials."""

    def _describe(self, exc: BaseException) -> str:
        """One line saying why a database call failed and what to do about it."""
        return f"{type(exc).__name__}: {exc}"

    def _is_driver_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` came from the database driver (and must not escape raw)."""
        return False

    def _is_store_failure(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the database's own failure (full, read-only), not one exchange's."""
        return False

    def _sql(self, text: str) -> str:
        """Rewrite ``?`` placeholders for the driver (identity for sqlite3)."""
        return text

    # -- errors ---------------------------------------------------------------------

    def _store_error(self, exc: BaseException) -> StoreError:
        kind = StoreUnavailableError if self._is_transient(exc) else StoreError
        return kind(f"store {self.location}: {self._describe(exc)}", location=self.location)

    def _query(self, fn: Callable[[Cursor], _T], *, attempts: int = 3) -> _T:
        """Run ``fn`` on the reader connection; retry errors that may pass, then raise typed ones."""
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                with self._reading() as cur:
                    return fn(cur)
            except ExtractKitError:
                raise
            except Exception as exc:
                if not self._is_driver_error(exc):
                    raise
                if attempt == attempts or not self._is_transient(exc):
                    raise self._store_error(exc) from exc
                self._sleep(delay)
                delay *= 4
        raise AssertionError("unreachable")  # pragma: no cover

    def _change(self, fn: Callable[[Cursor], _T]) -> _T:
        """Run ``fn`` in one write transaction; driver errors become typed errors (no retry: a
        curation write is not repeated blindly, the caller decides)."""
        self._require_writable()
        try:
            with self._transaction() as cur:
                return fn(cur)
        except ExtractKitError:
            raise
        except Exception as exc:
            if not self._is_driver_error(exc):
                raise
            raise self._store_error(exc) from exc

    def _require_writable(self) -> BatchWriter:
        if self._writer is None:
            raise StoreError(
                f"store {self.location} was opened read-only; open it without read_only=True to change it",
                location=self.location,
            )
        return self._writer

    def _sync(self) -> None:
        # Reads see what this process recorded: wait for the writer, without reporting its
        # failures here (flush() and the next extraction do that).
        if self._writer is not None:
            self._writer.wait()

    # -- recording ----------------------------------------------------------------

    @property
    def writer(self) -> BatchWriter:
        """The background writer (``written``, ``failed``, ``pending`` and ``last_error`` live here).

        Raises:
            StoreError: The store is read-only.
        """
        return self._require_writable()

    def record(self, exchange: Exchange) -> None:
        """Enqueue ``exchange``; returns at once. Safe from any thread or asyncio task.

        Raises:
            StoreError: The store is closed or read-only.
        """
        self._require_writable().submit(exchange)

    def take_failures(self) -> StoreError | None:
        """Hand over the exchanges that could not be written since the last report, as an error.

        The extractor calls this before recording, so a failure reaches the next extraction
        (``on_record_error``) even when nobody calls :meth:`flush`.
        """
        if self._writer is None:
            return None
        failures, error = self._writer.take_failures()
        if failures:
            failures, shadows = split_shadows(failures)
            if shadows:
                # A shadow answer is never the caller's business (it must not change what a live
                # extraction returns or raises): its loss is logged, and counted by the writer.
                logger.error(
                    "extractkit store: %d shadow answer(s) could not be written to %s: %s",
                    len(shadows),
                    self.location,
                    self._writer.failure_error(shadows, error),
                )
        return self._writer.failure_error(failures, error) if failures else None

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything recorded before the call is written.

        Raises:
            StoreError: Exchanges recorded before could not be written; the error carries the
                counts (``written``, ``failed``, ``pending``) and the exchanges. Each failed
                exchange is reported once.
            StoreUnavailableError: Not all of it was handled within ``timeout`` seconds.
        """
        if self._writer is not None:
            self._writer.flush(timeout)

    def close(self) -> None:
        """Flush, stop the writer and close connections. Idempotent.

        Raises:
            StoreError: Exchanges could not be written (they are on the error); the store is
                closed all the same.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._writer is not None and self._writer.is_fork_copy:
            return  # the connections are the parent's; leave them alone
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._close_connections()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        # Leaving the block with an error already: do not replace it with the store's own, but
        # do not swallow that either: it goes on the log and on the propagating error.
        try:
            self.close()
        except StoreError as store_error:
            logger.error("extractkit store: %s", store_error)
            exc.add_note(f"and the store could not write everything: {store_error}")

    def write_batch(self, exchanges: Iterable[Exchange]) -> int:
        """Write ``exchanges`` now in one transaction, bypassing the queue; return how many.

        Redaction applies as for :meth:`record`. Useful for imports.

        Raises:
            StoreError: The write failed (nothing of the batch was written).
        """
        self._require_writable()
        batch = list(exchanges)
        try:
            self._write_rows(batch)
        except ExtractKitError:
            raise
        except Exception as exc:
            if not self._is_driver_error(exc):
                raise
            raise self._store_error(exc) from exc
        return len(batch)

    def _write_rows(self, batch: Sequence[Exchange]) -> None:
        if not batch:
            return
        live, shadows = split_shadows(batch)
        shadow_values = (
            shadow_rows(
                self,
                shadows,
                apply_redaction(list(map(without_ids, shadows)), self._redact, scrub=self._scrub),
            )
            if shadows
            else []
        )
        clean = apply_redaction(live, self._redact, scrub=self._scrub)
        # One lock order for every writer (PostgreSQL row locks), so concurrent batches touching
        # the same inputs cannot deadlock each other.
        keyed = sorted((((ex.extractor, input_key(ex.input)), ex) for ex in clean), key=lambda kv: kv[0])
        rows = []
        labels = []
        for (_, key), ex in keyed:
            key = encode(key)
            extractor = encode(ex.extractor)
            model = encode(ex.model)
            error = encode_opt(ex.error)
            created = self._encode_time(ex.created_at)
            output = None if ex.output is None else encode(dumps(ex.output))
            rows.append(
                (
                    ex.id, extractor, encode(ex.input), key, ex.id, model, encode(ex.prompt_variant),
                    encode(dumps_messages(ex.messages)), encode_opt(ex.raw_response), output, error,
                    ex.prompt_tokens, ex.completion_tokens, ex.cost, ex.latency_s, ex.attempts,
                    encode(dumps(ex.repairs)), created, encode(dumps(ex.metadata)), created,
                )
            )  # fmt: skip
            labels.append((extractor, key, "model", ex.id, model, output, error, created))
        with self._transaction() as cur:
            if rows:
                cur.executemany(self._sql(_UPSERT), rows)
                cur.executemany(self._sql(_INSERT_LABEL), labels)
            if shadow_values:
                cur.executemany(self._sql(INSERT_SHADOW), shadow_values)

    # -- reading ------------------------------------------------------------------

    def _decode(self, row: Sequence[Any], history: tuple[Label, ...] = ()) -> Record:
        created = self._decode_time(row[16])
        exchange = Exchange(
            id=row[3],
            extractor=decode(row[1]),
            input=decode(row[2]),
            model=decode(row[4]),
            prompt_variant=decode(row[5]),
            messages=tuple(_loads(row[6]) or ()),
            raw_response=decode_opt(row[7]),
            output=_loads(row[8]),
            error=decode_opt(row[9]),
            prompt_tokens=row[10],
            completion_tokens=row[11],
            cost=row[12],
            latency_s=row[13],
            attempts=row[14],
            repairs=tuple(_loads(row[15]) or ()),
            created_at=created,
            metadata=_loads(row[17]) or {},
        )
        return Record(
            id=row[0],
            exchange=exchange,
            first_seen_at=self._decode_time(row[18]),
            included_at=None if row[19] is None else self._decode_time(row[19]),
            corrected_output=_loads(row[20]),
            reviewed_at=None if row[21] is None else self._decode_time(row[21]),
            label_history=history,
        )

    def _history(self, cur: Cursor, record_id: str) -> tuple[Label, ...]:
        cur.execute(
            self._sql(
                "SELECT l.kind, l.output, l.created_at, l.exchange_id, l.model, l.error FROM labels l "
                "JOIN records r ON r.extractor = l.extractor AND r.input_key = l.input_key "
                "WHERE r.id = ? ORDER BY l.created_at, l.seq"
            ),
            (record_id,),
        )
        return tuple(
            Label(
                kind=kind,
                output=_loads(output),
                created_at=self._decode_time(created),
                exchange_id=exchange_id,
                model=decode_opt(model),
                error=decode_opt(error),
            )
            for kind, output, created, exchange_id, model, error in cur.fetchall()
        )

    def _full_record(self, cur: Cursor, record_id: str) -> Record | None:
        cur.execute(self._sql(f"SELECT {_RECORD_COLUMNS} FROM records WHERE id = ?"), (record_id,))
        row = cur.fetchone()
        return None if row is None else self._decode(row, self._history(cur, record_id))

    def _lookup(self, cur: Cursor, id: str) -> str | None:
        cur.execute(self._sql(_RESOLVE), (id, id))
        row = cur.fetchone()
        return None if row is None else str(row[0])

    def get(self, id: str) -> Record | None:
        """Return the row with this record id or exchange id, with its label history."""
        self._sync()

        def read(cur: Cursor) -> Record | None:
            record_id = self._lookup(cur, id)
            return None if record_id is None else self._full_record(cur, record_id)

        return self._query(read)

    def find(self, extractor: str, input: str) -> Record | None:
        """Return the row for ``input`` (matched case-insensitively), with its label history."""
        self._sync()

        def read(cur: Cursor) -> Record | None:
            cur.execute(
                self._sql("SELECT id FROM records WHERE extractor = ? AND input_key = ?"),
                (encode(extractor), encode(input_key(input))),
            )
            row = cur.fetchone()
            return None if row is None else self._full_record(cur, row[0])

        return self._query(read)

    def resolve_id(self, prefix: str) -> str:
        """Return the record id named by a record id, an exchange id or a unique id prefix.

        Raises:
            UserError: No row, or more than one, matches.
        """
        self._sync()

        def read(cur: Cursor) -> str | builtins.list[str]:
            found = self._lookup(cur, prefix)
            if found is not None:
                return found
            if len(prefix) < 4:
                raise UserError(f"no record with id {_shown(prefix)!r}; give at least 4 characters of an id")
            cur.execute(
                self._sql("SELECT id FROM records WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 2"),
                (_escape_like(prefix) + "%",),
            )
            return [row[0] for row in cur.fetchall()]

        matches = self._query(read)
        if isinstance(matches, str):
            return matches
        if not matches:
            raise UserError(f"no record with id {_shown(prefix)!r}; see `extractkit records list`")
        if len(matches) > 1:
            shown = ", ".join(m[: max(12, len(prefix) + 4)] for m in matches)
            raise UserError(f"id prefix {_shown(prefix)!r} is ambiguous ({shown}...); give more characters")
        return str(matches[0])

    def _where(self, query: RecordQuery) -> tuple[str, builtins.list[Any]]:
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if query.extractor is not None:
            clauses.append("extractor = ?")
            params.append(encode(query.extractor))
        if query.model is not None:
            clauses.append("model = ?")
            params.append(encode(query.model))
        if query.since is not None:
            clauses.append("created_at >= ?")
            params.append(self._encode_time(_aware(query.since, "since")))
        if query.until is not None:
            clauses.append("created_at < ?")
            params.append(self._encode_time(_aware(query.until, "until")))
        if query.errors_only:
            clauses.append("error IS NOT NULL")
        if query.repaired_only:
            clauses.append("repairs <> '[]'")
        if query.unreviewed_only:
            clauses.append("reviewed_at IS NULL")
        if query.included is True:
            clauses.append("included_at IS NOT NULL")
        elif query.included is False:
            clauses.append("included_at IS NULL")
        if query.search:
            like = self.like_operator
            clauses.append(
                f"(input_key LIKE ? ESCAPE '\\' OR output {like} ? ESCAPE '\\' "
                f"OR corrected_output {like} ? ESCAPE '\\')"
            )
            # Search text a database cannot hold matches nothing stored raw; escape it like a value.
            params.append("%" + _escape_like(_storable(input_key(query.search))) + "%")
            # Outputs are JSON text, where non-ASCII may be escaped; match the raw text as given.
            pattern = "%" + _escape_like(_storable(query.search)) + "%"
            params.extend([pattern, pattern])
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def list(
        self,
        *,
        extractor: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        errors_only: bool = False,
        repaired_only: bool = False,
        unreviewed_only: bool = False,
        included: bool | None = None,
        search: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> builtins.list[Record]:
        """Return matching rows, newest latest-exchange first (filters: see ``RecordQuery``)."""
        query = RecordQuery(
            extractor=extractor, model=model, since=since, until=until, errors_only=errors_only,
            repaired_only=repaired_only, unreviewed_only=unreviewed_only, included=included, search=search,
        )  # fmt: skip
        where, params = self._where(query)
        self._sync()

        def read(cur: Cursor) -> builtins.list[Record]:
            cur.execute(
                self._sql(
                    f"SELECT {_RECORD_COLUMNS} FROM records{where} "
                    "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
                ),
                (*params, self.no_limit if limit is None else limit, offset),
            )
            return [self._decode(row) for row in cur.fetchall()]

        return self._query(read)

    def export(
        self,
        *,
        extractor: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        errors_only: bool = False,
        repaired_only: bool = False,
        unreviewed_only: bool = False,
        included: bool | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Record]:
        """Yield matching rows, newest first, all read from one consistent snapshot.

        Rows written or changed by others while the iteration runs are not seen, and none is
        seen twice or skipped, unlike paging through :meth:`list` with ``offset``. The rows
        are fetched a page at a time, so a large store is not held in memory. Close the
        iterator (or exhaust it) to end the read transaction.

        Raises:
            StoreError: The database could not be read.
        """
        query = RecordQuery(
            extractor=extractor, model=model, since=since, until=until, errors_only=errors_only,
            repaired_only=repaired_only, unreviewed_only=unreviewed_only, included=included, search=search,
        )  # fmt: skip
        where, params = self._where(query)
        self._sync()
        sql = f"SELECT {_RECORD_COLUMNS} FROM records{where} ORDER BY created_at DESC, id DESC LIMIT ?"
        try:
            with self._snapshot() as cur:
                cur.execute(self._sql(sql), (*params, self.no_limit if limit is None else limit))
                while rows := cur.fetchmany(_PAGE):
                    yield from (self._decode(row) for row in rows)
        except ExtractKitError:
            raise
        except Exception as exc:
            if not self._is_driver_error(exc):
                raise
            raise self._store_error(exc) from exc

    def count(
        self,
        *,
        extractor: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        errors_only: bool = False,
        repaired_only: bool = False,
        unreviewed_only: bool = False,
        included: bool | None = None,
        search: str | None = None,
    ) -> int:
        """Return how many rows match (filters: see ``RecordQuery``)."""
        query = RecordQuery(
            extractor=extractor, model=model, since=since, until=until, errors_only=errors_only,
            repaired_only=repaired_only, unreviewed_only=unreviewed_only, included=included, search=search,
        )  # fmt: skip
        where, params = self._where(query)
        self._sync()

        def read(cur: Cursor) -> int:
            cur.execute(self._sql(f"SELECT COUNT(*) FROM records{where}"), tuple(params))
            return int(cur.fetchone()[0])

        return self._query(read)

    def iter_included(self, extractor: str) -> Iterator[Record]:
        """Yield the extractor's included rows, oldest inclusion first, a page at a time."""
        self._sync()
        after: tuple[Any, str] | None = None
        while True:

            def read(cur: Cursor, after: tuple[Any, str] | None = after) -> builtins.list[Any]:
                sql = f"SELECT {_RECORD_COLUMNS} FROM records WHERE extractor = ? AND included_at IS NOT NULL"
                params: builtins.list[Any] = [encode(extractor)]
                if after is not None:
                    # Keyset paging: stable while rows are included meanwhile, and no lock is held
                    # between pages.
                    sql += " AND (included_at > ? OR (included_at = ? AND id > ?))"
                    params += [after[0], after[0], after[1]]
                cur.execute(self._sql(sql + " ORDER BY included_at, id LIMIT ?"), (*params, _PAGE))
                return cur.fetchall()

            rows = self._query(read)
            yield from (self._decode(row) for row in rows)
            if len(rows) < _PAGE:
                return
            after = (rows[-1][19], rows[-1][0])

    # -- shadow answers (see extractkit.store.shadows) -----------------------------

    def disagreements(
        self,
        *,
        extractor: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        failed: bool = False,
        limit: int | None = 100,
        offset: int = 0,
    ) -> builtins.list[ShadowPair]:
        """Shadow answers that differ from the live answer, newest first.

        Args:
            extractor: Only this extractor's.
            model: Only this shadow model's (a ``provider:model`` reference).
            since: Only shadow answers recorded at or after this time.
            failed: Also list shadow calls that gave no answer (an error, a timeout).
            limit: Most pairs (``None`` for all).
            offset: Pairs to skip.
        """
        statuses = ("disagree", "failed") if failed else ("disagree",)
        return self.shadow_pairs(
            extractor=extractor, model=model, since=since, statuses=statuses, limit=limit, offset=offset
        )

    def shadow_pairs(
        self,
        *,
        extractor: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        statuses: Sequence[str] = ("agree", "disagree", "failed"),
        limit: int | None = 100,
        offset: int = 0,
    ) -> builtins.list[ShadowPair]:
        """Live and shadow answer pairs with the given statuses (``agree``, ``disagree``, ``failed``).

        Raises:
            UserError: An unknown status.
        """
        unknown = sorted(set(statuses) - {"agree", "disagree", "failed"})
        if unknown or not statuses:
            raise UserError(f"statuses must be some of 'agree', 'disagree', 'failed'; got {list(statuses)}")
        if since is not None:
            since = _aware(since, "since")
        self._sync()
        return read_pairs(
            self, extractor=extractor, model=model, since=since, statuses=tuple(statuses), limit=limit,
            offset=offset,
        )  # fmt: skip

    def shadow_summary(
        self, *, extractor: str | None = None, model: str | None = None, since: datetime | None = None
    ) -> builtins.list[ShadowSummary]:
        """How often each shadow model agreed with the live one, per extractor and pair of models."""
        if since is not None:
            since = _aware(since, "since")
        self._sync()
        return read_summaries(self, extractor=extractor, model=model, since=since)

    # -- curation -----------------------------------------------------------------

    def _resolve_all(self, ids: Iterable[str]) -> builtins.list[str]:
        wanted = builtins.list(ids)

        def read(cur: Cursor) -> builtins.list[str]:
            resolved: builtins.list[str] = []
            for id in wanted:
                found = self._lookup(cur, id)
                if found is None:
                    raise UserError(f"no record with id {_shown(id)!r}; nothing was changed")
                resolved.append(found)
            return resolved

        return self._query(read)

    def include(self, ids: Iterable[str]) -> int:
        """Mark rows as chosen for training; return how many were not included before.

        Raises:
            UserError: An id matches no row (then no row is changed).
            StoreError: The store is read-only, or the database could not be changed.
        """
        return self._mark(ids, include=True)

    def exclude(self, ids: Iterable[str]) -> int:
        """Unmark rows (reviewed, not for training); return how many were included before.

        Raises:
            UserError: An id matches no row (then no row is changed).
            StoreError: The store is read-only, or the database could not be changed.
        """
        return self._mark(ids, include=False)

    def _mark(self, ids: Iterable[str], *, include: bool) -> int:
        self._require_writable()
        self._sync()
        resolved = self._resolve_all(ids)
        now = self._encode_time(utc_now())

        def change(cur: Cursor) -> int:
            changed = 0
            for record_id in resolved:
                if include:
                    cur.execute(
                        self._sql("UPDATE records SET included_at = ? WHERE id = ? AND included_at IS NULL"),
                        (now, record_id),
                    )
                else:
                    cur.execute(
                        self._sql(
                            "UPDATE records SET included_at = NULL WHERE id = ? AND included_at IS NOT NULL"
                        ),
                        (record_id,),
                    )
                changed += max(cur.rowcount, 0)
                cur.execute(self._sql("UPDATE records SET reviewed_at = ? WHERE id = ?"), (now, record_id))
            return changed

        return self._change(change)

    def correct(self, id: str, output: Any) -> None:
        """Replace the model's output for training with ``output``; ``None`` clears the correction.

        The correction is kept in the label history and survives re-recording the input.

        Raises:
            UserError: No row has this id, or ``output`` is not JSON-serialisable.
            StoreError: The store is read-only, or the database could not be changed.
        """
        self._require_writable()
        try:
            encoded = None if output is None else encode(_strict_dumps(output))
        except (TypeError, ValueError) as exc:
            raise UserError(f"the corrected output must be JSON data: {exc}") from exc
        self._sync()
        (record_id,) = self._resolve_all([id])
        now = self._encode_time(utc_now())

        def change(cur: Cursor) -> None:
            cur.execute(
                self._sql("UPDATE records SET corrected_output = ?, reviewed_at = ? WHERE id = ?"),
                (encoded, now, record_id),
            )
            cur.execute(
                self._sql(
                    "INSERT INTO labels (extractor, input_key, kind, exchange_id, model, output, error, "
                    "created_at) SELECT extractor, input_key, 'correction', NULL, NULL, ?, NULL, ? "
                    "FROM records WHERE id = ?"
                ),
                (encoded, now, record_id),
            )

        self._change(change)


def _shown(id: str) -> str:
    # A full 32-hex id reads as an Azure key to the redaction of messages: show the prefix the
    # tables show instead (``records show`` accepts it).
    return id if len(id) <= 12 else id[:12] + "…"


def _storable(text: str) -> str:
    # A search pattern is compared with stored (possibly escaped) text: escape it the same way,
    # minus the mark, so a needle with a lone surrogate can still match inside an escaped value.
    stored = encode(text)
    return text if stored is text else stored[1:]


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise UserError(f"{name} must be timezone-aware (got naive {value!r}); e.g. add tzinfo=UTC")
    return value
