"""The lexical pieces of broken JSON: patterns, literals, numbers and escapes.

Everything here is a pure function of the text; the engine decides what the
pieces mean where they occur.
"""

from __future__ import annotations

import json.decoder
import json.scanner
import math
import re
from collections.abc import Callable
from typing import Any, Final, cast

__all__ = [
    "BARE_VALUE",
    "CONTROL",
    "ESCAPES",
    "IDENT",
    "JSON_NUMBER",
    "LITERALS",
    "LITERAL_PREFIXES",
    "NO_LITERAL",
    "NUMBER",
    "PLAUSIBLE_START",
    "UNQUOTED_KEY",
    "WHITESPACE",
    "complete_literal",
    "continues_json",
    "decode_escapes",
    "number_value",
    "scan_container",
    "scan_string",
    "skip_space",
]

#: A control character: inside a string, one the model forgot to escape.
CONTROL: Final = re.compile(r"[\x00-\x1f]")
#: JSON whitespace; the engine skips it with ``WHITESPACE.match(text, pos).end()``.
WHITESPACE: Final = re.compile(r"[ \t\n\r]*")
#: A lenient number: a sign, ``.5``, ``1.``, a dangling exponent. Checked against JSON_NUMBER.
NUMBER: Final = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d*)?")
JSON_NUMBER: Final = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_INT_PREFIX: Final = re.compile(r"[-+]?\d+")
_FLOAT_PREFIX: Final = re.compile(r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
#: A whole number in a non-JSON form Python reads: +1, .5, 1., 01, 1.e5.
_LENIENT_WHOLE: Final = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
#: A word in value position: a literal (true, None, NaN) or a bare word.
IDENT: Final = re.compile(r"[A-Za-z_$][\w$]*")
#: A ``{`` or ``[`` that can start JSON; the engine is only started at these.
PLAUSIBLE_START: Final = re.compile(
    r"""\{[ \t\r\n]*(?:["'}{\u201c\u2018]|[A-Za-z_$0-9][\w$.\-]*[ \t\r\n]*:|//|/\*|\Z"""
    r"""|[A-Za-z_]\w*[ \t]+"[^"\n]{0,200}"[ \t]*:)"""  # {COMMENT "key": ...
    r"""|\[[ \t\r\n]*(?:[\[{("'\]\-.\d\u2026]|//|/\*|\Z"""
    r"""|(?:true|false|null|None|True|False|TRUE|FALSE|NULL|Null)\b"""
    r"""|(?:t(?:r(?:ue?)?)?|f(?:a(?:l(?:se?)?)?)?|n(?:u(?:ll?)?)?|N(?:o(?:ne?)?)?|T(?:r(?:ue?)?)?|F(?:a(?:l(?:se?)?)?)?)\Z)"""
)
#: A JavaScript-style key: letters, digits, _ $ - . (numeric keys come from Python dict reprs).
UNQUOTED_KEY: Final = re.compile(r"[A-Za-z_$0-9][\w$.\-]*")
#: An unquoted value on one line, up to the next delimiter (``{"city": New York}``).
BARE_VALUE: Final = re.compile(r"[^,{}\[\]\n\r:\"]*")

#: Literal words: value and, when the word is not JSON, the action that reading it takes.
LITERALS: Final[dict[str, tuple[Any, str | None]]] = {
    "true": (True, None),
    "false": (False, None),
    "null": (None, None),
    # json.loads accepts these three; reading them is not a repair.
    "NaN": (math.nan, None),
    "Infinity": (math.inf, None),
    "True": (True, "converted_python_literal"),
    "False": (False, "converted_python_literal"),
    "None": (None, "converted_python_literal"),
    "undefined": (None, "converted_python_literal"),
}
#: Literals a cut-off word may complete to, in order of preference.
LITERAL_PREFIXES: Final = (("true", True), ("false", False), ("null", None))
_PY_PREFIXES: Final = (("True", True), ("False", False), ("None", None))

#: Single-character escapes; ``\'`` is not JSON but means the obvious thing.
ESCAPES: Final[dict[str, str]] = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "'": "'",
}

#: ``skip_space(text, pos).end()`` is the first position at or after ``pos`` that is not whitespace.
skip_space: Final = cast("Callable[[str, int], re.Match[str]]", WHITESPACE.match)
#: ``scan_string(text, index_after_quote, strict)`` → (value, index after the closing quote), in C.
_decoder: Any = json.decoder  # typeshed does not declare scanstring
scan_string: Final = cast("Callable[[str, int, bool], tuple[str, int]]", _decoder.scanstring)
#: ``scan_container(text, index)`` → (value, end): the stdlib's C scanner for one whole valid value.
_context: Any = json.JSONDecoder(strict=True)
scan_container: Final = cast("Callable[[str, int], tuple[Any, int]]", json.scanner.make_scanner(_context))


def number_value(token: str) -> tuple[int | float | None, bool]:
    """Read a lenient number token.

    Args:
        token: A match of :data:`NUMBER`.

    Returns:
        The value (``None`` when no prefix is a number) and whether the token was valid JSON.
    """
    if JSON_NUMBER.fullmatch(token):
        if "." in token or "e" in token or "E" in token:
            return float(token), True
        return int(token), True
    if _LENIENT_WHOLE.fullmatch(token):
        # Every digit counts: "1.e5" is 100000.0, not the 1 a cut-back would give.
        if "e" in token or "E" in token or not token.rstrip(".").lstrip("+-").isdigit():
            return float(token), False
        return int(token.rstrip(".")), False
    # Cut back to the longest prefix that is a number: "1e+" → 1, "-" → nothing.
    match = _FLOAT_PREFIX.match(token)
    if match is None:
        return None, False
    text = match.group()
    if _INT_PREFIX.fullmatch(text):
        return int(text), False
    return float(text), False


def complete_literal(word: str) -> Any:
    """The literal a cut-off word completes to, or the ``_NO_LITERAL`` marker."""
    for name, value in LITERAL_PREFIXES:
        if name.startswith(word):
            return value
    for name, value in _PY_PREFIXES:
        if name.startswith(word):
            return value
    return NO_LITERAL


#: Returned by :func:`complete_literal` when the word is no literal's prefix.
NO_LITERAL: Final = object()

_HEX4: Final = re.compile(r"[0-9a-fA-F]{4}").fullmatch
_LOW_SURROGATE: Final = re.compile(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}").fullmatch


def decode_escapes(raw: str, quote: str) -> tuple[str, bool]:
    """Decode a run of string text that holds escapes (but no partial one at its end).

    The C string scanner does it when every escape is JSON; otherwise the run is read
    here, keeping an invalid escape like ``\\d`` as its two characters.

    Args:
        raw: The text between two points of a string, as written.
        quote: The string's quote character.

    Returns:
        The decoded text and whether an invalid escape was kept.
    """
    if quote == '"':
        try:
            value, end = scan_string(raw + '"', 0, False)
        except ValueError:
            pass
        else:
            if end == len(raw) + 1:
                return value, False
    parts: list[str] = []
    kept = False
    i = 0
    while True:
        at = raw.find("\\", i)
        if at < 0:
            parts.append(raw[i:])
            return "".join(parts), kept
        parts.append(raw[i:at])
        esc = raw[at + 1 : at + 2]
        i = at + 2
        if esc == "u" and _HEX4(raw[at + 2 : at + 6]):
            code = int(raw[at + 2 : at + 6], 16)
            i = at + 6
            if 0xD800 <= code < 0xDC00 and _LOW_SURROGATE(raw[at + 6 : at + 12]):
                code = 0x10000 + ((code - 0xD800) << 10) + (int(raw[at + 8 : at + 12], 16) - 0xDC00)
                i = at + 12
            parts.append(chr(code))
        elif esc in ESCAPES and esc != "u":
            parts.append(ESCAPES[esc])
            kept = kept or (esc == "'" and quote == '"')  # \' is no JSON escape
        else:
            parts.append("\\" + esc)  # \d in a regex, \. in a path: the model meant both characters
            kept = True


_BRACKETS: Final = re.compile(r"[{}\[\]]|```")
# A quoted key and its colon: after text the engine could not place, the JSON goes on.
_QUOTED_KEY: Final = re.compile(r'"[^"\\\n]{0,200}"[ \t]*:[ \t\r\n]*["\'{\[\-\d.tfnTFN]')


def continues_json(text: str, pos: int, *, keys: bool = True) -> bool:
    """Whether the JSON goes on after ``text[pos]``: prose does not close brackets it did not open.

    Text the engine cannot read inside a value is prose when nothing after it closes a
    container opened before it (``{"a": 1`` then ``Hope this helps [1].``); it is a token
    that could not be placed when a later bracket closes one (``{"a": 1/3, "b": 2}``) or a
    quoted key with its colon follows (with ``keys``). The count stops at a code fence.
    """
    depth = 0
    stop = len(text)
    for match in _BRACKETS.finditer(text, pos):
        c = match.group()
        if c == "```":
            stop = match.start()
            break
        if c == "{" or c == "[":
            depth += 1
        else:
            depth -= 1
            if depth < 0:
                return True
    return keys and _QUOTED_KEY.search(text, pos, stop) is not None
