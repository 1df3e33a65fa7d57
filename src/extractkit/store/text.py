"""Text a database cannot hold, stored escaped so it round-trips exactly.

A Python ``str`` may hold lone surrogates (``"\\ud800"``, e.g. from
``surrogateescape`` decoding or a cut emoji), which neither SQLite nor
PostgreSQL can store as UTF-8 text, and NUL (``"\\x00"``), which PostgreSQL
refuses in ``TEXT`` and SQLite's functions stop at. Such an input used to fail
its whole write after the extraction had returned its exchange id.

:func:`encode` turns such a text into a marked, escaped form that both
databases hold; :func:`decode` turns it back, exactly. Text without those
characters is stored as it is (the usual case costs one regex scan), so
search, ``LIKE`` and indexes keep working on it.

The form: :data:`MARK` (U+FDD0, a Unicode noncharacter reserved for internal
use) followed by the text with ``\\`` written ``\\\\`` and each character that
cannot be stored written ``\\uXXXX``. A text that itself starts with the mark
is escaped too, so decoding is never ambiguous.
"""

from __future__ import annotations

import re

__all__ = ["MARK", "decode", "encode"]

MARK = "\ufdd0"
"""The first character of an escaped text."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ESCAPE = re.compile("[\\\\\x00\ud800-\udfff]")
_UNESCAPE = re.compile(r"\\(\\|u[0-9a-f]{4})")


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return "\\\\" if char == "\\" else f"\\u{ord(char):04x}"


def _unescape_one(match: re.Match[str]) -> str:
    code = match.group(1)
    return "\\" if code == "\\" else chr(int(code[1:], 16))


def encode(text: str) -> str:
    """Return ``text`` in a form both databases store: itself, or :data:`MARK` + escaped text."""
    if text.isascii():  # O(1) in CPython: no surrogate, no mark; only NUL to look for
        if "\x00" not in text:
            return text
    elif _UNSTORABLE.search(text) is None and not text.startswith(MARK):
        return text
    return MARK + _ESCAPE.sub(_escape_one, text)


def decode(text: str) -> str:
    """Invert :func:`encode`."""
    if not text.startswith(MARK):
        return text
    return _UNESCAPE.sub(_unescape_one, text[1:])


def encode_opt(text: str | None) -> str | None:
    """:func:`encode` for a nullable column."""
    return None if text is None else encode(text)


def decode_opt(text: str | None) -> str | None:
    """:func:`decode` for a nullable column."""
    return None if text is None else decode(text)
