"""The answer cache: a re-run after a crash (or with another scorer) does not pay twice.

Answers live in one SQLite file (stdlib ``sqlite3``), one row per key, written
as each answer arrives, so a run killed halfway keeps everything it was paid
for. The key hashes the candidate's name and everything that shapes its
requests (model, prompt variant, output mode, instructions, examples, schema,
sampling settings, endpoint) with the case input. Change any of them and the
case is asked again; rename the candidate and it is too.

Model answers are cached, failed extractions included (the model did answer,
and was paid). Transport failures (rate limits, timeouts, dropped
connections) are not: a re-run tries them again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from extractkit.exceptions import UserError

__all__ = ["AnswerCache", "cache_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    candidate TEXT NOT NULL,
    input TEXT NOT NULL,
    answer TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


def cache_key(fingerprint: Mapping[str, Any], text: str) -> str:
    """The cache key of one input under one candidate fingerprint (SHA-256 hex)."""
    blob = json.dumps(
        {"fingerprint": fingerprint, "input": text}, sort_keys=True, ensure_ascii=False, default=repr
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """Answers by key in a SQLite file; safe to use from several threads.

    Args:
        path: The cache file (created with its folder when missing); ``":memory:"`` for tests.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        if self.path != ":memory:":
            from extractkit.private_files import FILE_MODE, make_private_dirs

            # Cached answers hold inputs and outputs: a 0700 folder and a 0600 file.
            make_private_dirs(os.path.dirname(os.path.abspath(self.path)))
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
            except FileExistsError:
                pass
        try:
            # Results arrive on the event loop's thread; reports read them on the caller's.
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise UserError(
                f"answer cache {self.path!r} cannot be used: {exc}; delete it or pick another path"
            ) from None
        self._lock = threading.Lock()
        self.hits = 0
        self.writes = 0

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached answer for ``key``, or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self.hits += 1
        answer: dict[str, Any] = json.loads(row[0])
        return answer

    def put(self, key: str, candidate: str, text: str, answer: Mapping[str, Any]) -> None:
        """Store ``answer`` under ``key`` now (autocommit: nothing waits for the end of the run)."""
        blob = json.dumps(dict(answer), ensure_ascii=False, default=str)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, candidate, input, answer, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, candidate, text, blob, stamp),
            )
        self.writes += 1

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM answers").fetchone()
        return int(count)

    def clear(self, candidate: str | None = None) -> int:
        """Forget every answer (or one candidate's); return how many were removed."""
        with self._lock:
            if candidate is None:
                cur = self._db.execute("DELETE FROM answers")
            else:
                cur = self._db.execute("DELETE FROM answers WHERE candidate = ?", (candidate,))
        return cur.rowcount

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
