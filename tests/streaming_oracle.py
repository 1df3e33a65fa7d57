"""The monotonic rule for streamed partials, stated apart from the code under test.

``grows(before, after, path)``: ``after`` keeps every member and item of ``before``
unchanged, except the string at ``path`` (the one still being written), which it
may only extend; it may add members and items.
"""

from __future__ import annotations

from typing import Any


def grows(before: Any, after: Any, path: tuple[Any, ...] | None = None) -> bool:
    if before is None:
        return True
    if path is not None and len(path) == 0:
        return isinstance(after, str) and isinstance(before, str) and after[: len(before)] == before
    if isinstance(before, dict):
        return isinstance(after, dict) and all(
            key in after and grows(value, after[key], _below(path, key)) for key, value in before.items()
        )
    if isinstance(before, list):
        return (
            isinstance(after, list)
            and len(after) >= len(before)
            and all(grows(value, after[i], _below(path, i)) for i, value in enumerate(before))
        )
    return type(before) is type(after) and before == after


def _below(path: tuple[Any, ...] | None, step: Any) -> tuple[Any, ...] | None:
    return path[1:] if path and path[0] == step else None
