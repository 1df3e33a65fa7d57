"""The :class:`Store` Protocol: record exchanges off the hot path, serve curation queries.

A store keeps one row per (extractor, input), the input matched
case-insensitively (:func:`~extractkit.store.exchange.input_key`). Recording an
input again updates the row's latest exchange; it never creates a duplicate and
never drops the row's ``included_at`` or correction. Every model answer and
correction is kept in the row's label history.

``record()`` only enqueues; a background thread writes batches in transactions.
What could not be written reaches the caller: ``flush()`` and ``close()`` raise
:class:`~extractkit.exceptions.StoreError` with the exchanges. Curation queries
wait for pending writes first, so a process reads what it recorded. Ids
accepted by curation methods are record ids or the id of any exchange recorded
into the row.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from extractkit.store.exchange import Exchange, Record

__all__ = ["RecordQuery", "Store"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordQuery:
    """Filters shared by :meth:`Store.list` and :meth:`Store.count`.

    Args:
        extractor: Only this extractor's rows.
        model: Only rows whose latest exchange used this model reference.
        since: Only rows whose latest exchange is at or after this time.
        until: Only rows whose latest exchange is before this time.
        errors_only: Only rows whose latest exchange failed.
        repaired_only: Only rows whose latest output needed JSON repair.
        unreviewed_only: Only rows no reviewer has included, excluded or corrected.
        included: ``True``: only included rows; ``False``: only rows not included; ``None``: both.
        search: Case-insensitive substring of the input or the (corrected) output JSON.
    """

    extractor: str | None = None
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    errors_only: bool = False
    repaired_only: bool = False
    unreviewed_only: bool = False
    included: bool | None = None
    search: str | None = None


@runtime_checkable
class Store(Protocol):
    """Where exchanges are recorded and curated. Use as a context manager, or call :meth:`close`."""

    def record(self, exchange: Exchange) -> None:
        """Enqueue ``exchange`` for writing and return at once; safe from any thread or task."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything recorded before the call is written.

        Raises:
            StoreError: Exchanges recorded before could not be written (with the counts and
                the exchanges); each failure is reported once.
            StoreUnavailableError: Not all of it was handled within ``timeout`` seconds.
        """
        ...

    def close(self) -> None:
        """Flush, stop the writer and release connections. Idempotent; also runs at interpreter exit.

        Raises:
            StoreError: Exchanges could not be written (they are on the error).
        """
        ...

    def write_batch(self, exchanges: Iterable[Exchange]) -> int:
        """Write ``exchanges`` now, in one transaction, bypassing the queue; return how many."""
        ...

    def get(self, id: str) -> Record | None:
        """Return the row with this record id or exchange id, with its label history."""
        ...

    def find(self, extractor: str, input: str) -> Record | None:
        """Return the row for ``input`` (matched case-insensitively), with its label history."""
        ...

    def resolve_id(self, prefix: str) -> str:
        """Return the record id that ``prefix`` (a record id, an exchange id or a unique prefix) names.

        Raises:
            UserError: No row, or more than one, matches.
        """
        ...

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
        """Return matching rows, newest latest-exchange first (see :class:`RecordQuery`)."""
        ...

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
        """Return how many rows match (see :class:`RecordQuery`)."""
        ...

    def include(self, ids: Iterable[str]) -> int:
        """Mark rows as chosen for training; return how many rows changed state."""
        ...

    def exclude(self, ids: Iterable[str]) -> int:
        """Unmark rows (reviewed, not for training); return how many rows changed state."""
        ...

    def correct(self, id: str, output: Any) -> None:
        """Replace the model's output for training with ``output``; ``None`` clears the correction.

        Raises:
            UserError: No row has this id.
        """
        ...

    def iter_included(self, extractor: str) -> Iterator[Record]:
        """Yield the extractor's included rows, oldest inclusion first, page by page."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
