"""Exchange recording and curation: every extraction recorded, reviewed and chosen for training.

``open_store("sqlite:///exchanges.db")`` (or ``"postgresql://..."``) returns a
:class:`Store`; ``store.record(exchange)`` enqueues one :class:`Exchange` and
returns at once, a background thread writes batches. Curation (``list``,
``include``, ``correct``...) returns :class:`Record` rows. See
``docs/recording.md``.

Importing this package does not import psycopg: :class:`PostgresStore` is
loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from extractkit.store.base import RecordQuery, Store
from extractkit.store.exchange import Exchange, Label, Record, input_key, new_exchange_id
from extractkit.store.redaction import REDACTED, Redactor, redact_secrets
from extractkit.store.sqlite import SQLiteStore
from extractkit.store.sqlstore import OnRecordError
from extractkit.store.url import open_store

if TYPE_CHECKING:
    from extractkit.store.postgres import PostgresStore

__all__ = [
    "REDACTED",
    "Exchange",
    "Label",
    "OnRecordError",
    "PostgresStore",
    "Record",
    "RecordQuery",
    "Redactor",
    "SQLiteStore",
    "Store",
    "input_key",
    "new_exchange_id",
    "open_store",
    "redact_secrets",
]


def __getattr__(name: str) -> Any:
    # PostgresStore's module is cheap, but keep it (and any psycopg import) off the import path.
    if name == "PostgresStore":
        from extractkit.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module 'extractkit.store' has no attribute {name!r}")
