"""The differential fuzzer: valid answers, broken the way models break them, judged against the original.

Every case starts from a valid value (see fuzz_values.py) and applies one class of
break to its text. The original value is the oracle: a repair of a broken text
must give it back exactly, or say that it cannot (a ``RepairError``, or the
``truncated`` flag). Anything else — a value returned as whole that is not the
original — is a *silent wrong value*. For the truncation class the oracle is the
truncation rule (oracle.py): the partial value a cut prefix stands for, returned
with ``truncated=True``; a partial that is not a prefix of the original is wrong.

Used by tests/test_repair_fuzz.py (a fast deterministic subset) and by
bench/repair.py (the full run, side by side with json_repair).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fuzz_values import SCHEMAS, values
from oracle import MISSING, serialize_with_prefixes

#: A value that is returned as data, must be the original: these are the only outcomes.
EXACT, FLAGGED, WRONG = "exact", "flagged", "silent_wrong"


@dataclass
class Case:
    """One fuzz case: a broken text, the original value, and what the text is an answer to."""

    cls: str
    text: str
    expected: Any
    schema: str | None  # a name in fuzz_values.SCHEMAS, or None for a repair without a schema
    partial: Any = MISSING  # truncation only: what the truncation rule says the prefix stands for


# ---------------------------------------------------------------- the emitter

_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_BARE_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/:@+\-]*[A-Za-z0-9.]|[A-Za-z0-9]")
_NUMBERISH = re.compile(r"[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d*)?")
_WORDS_TO_AVOID = {"true", "false", "null", "none", "nan", "infinity", "undefined"}


class Emitter:
    """Writes a value as text, with the slips of one class of break, and records where
    containers, members and strings are so that structural breaks can be placed."""

    def __init__(self, rng: random.Random, **opts: Any) -> None:
        self.rng = rng
        self.key = opts.get("key", "double")  # double | single | bare
        self.quote = opts.get("quote", '"')
        self.literals = opts.get("literals", "json")  # json | python | upper
        self.p = {
            name: float(opts.get(name, 0.0))
            for name in (
                "trailing",
                "extra_comma",
                "comments",
                "missing_comma",
                "bare",
                "tuples",
                "sets",
                "ellipsis",
                "stray",
            )
        }
        self.raw_control = bool(opts.get("raw_control"))
        self.inner_quotes = bool(opts.get("inner_quotes"))
        self.doubled = bool(opts.get("doubled"))
        self.grouped = bool(opts.get("grouped"))
        self.indent: int | None = opts.get("indent")
        self.parts: list[str] = []
        self.size = 0
        # (value end, number of members, index) for each member of an object not its last.
        self.member_ends: list[int] = []
        # (close position, parent is an array, followed by a sibling) for each non-root container.
        self.closes: list[tuple[int, bool, bool, str]] = []
        # closing quote positions of string member values followed by another member.
        self.open_strings: list[int] = []

    def _w(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def _chance(self, name: str) -> bool:
        return self.p[name] > 0 and self.rng.random() < self.p[name]

    def emit(self, value: Any) -> str:
        self._value(value, 0, None)
        return "".join(self.parts)

    def _nl(self, level: int) -> None:
        if self.indent is not None:
            self._w("\n" + " " * (self.indent * level))

    def _comment(self) -> None:
        kind = self.rng.choice(["//", "/*", "#"])
        note = self.rng.choice(["note", "see [1]", "the city", "TODO: check }", "optional"])
        if kind == "/*":
            self._w(f" /* {note} */ ")
        else:
            self._w(f" {kind} {note}\n")

    def _sep(self, level: int) -> None:
        if self._chance("missing_comma"):
            self._w(" ")
        else:
            self._w("," if self.indent is not None else ", ")
            if self._chance("extra_comma"):
                self._w(", ")
        if self._chance("comments"):
            self._comment()
        self._nl(level)

    def _value(self, v: Any, level: int, parent: str | None) -> None:
        if isinstance(v, dict):
            self._object(v, level, parent)
        elif isinstance(v, list):
            self._array(v, level, parent)
        elif isinstance(v, str):
            self._string(v, parent)
        elif v is True or v is False or v is None:
            if self.literals == "python":
                self._w({True: "True", False: "False", None: "None"}[v])
            elif self.literals == "upper":
                self._w({True: "TRUE", False: "FALSE", None: self.rng.choice(["Null", "NULL"])}[v])
            else:
                self._w(json.dumps(v))
        elif isinstance(v, int) and self.grouped and abs(v) >= 1000:
            self._w(f"{v:_}")
        else:
            self._w(json.dumps(v))

    def _object(self, v: dict[str, Any], level: int, parent: str | None) -> None:
        opener, closer = ("{{", "}}") if self.doubled else ("{", "}")
        self._w(opener)
        items = list(v.items())
        for i, (k, x) in enumerate(items):
            if i:
                self._sep(level + 1)
            else:
                self._nl(level + 1)
            if self._chance("stray"):
                self._w(self.rng.choice(["COMMENT ", "NOTE ", "SHOULD_NOT_EXIST "]))
            self._key(k)
            self._w(": ")
            self._value(x, level + 1, "object")
            if i < len(items) - 1:
                self.member_ends.append(self.size)
                if isinstance(x, str):
                    self.open_strings.append(self.size - 1)
        if items and self._chance("trailing"):
            self._w(",")
        if items:
            self._nl(level)
        self._close(closer, parent)

    def _close(self, closer: str, parent: str | None) -> None:
        if parent is not None:
            self.closes.append((self.size, parent == "array", False, closer))
        self._w(closer)

    def _array(self, v: list[Any], level: int, parent: str | None) -> None:
        scalars = all(isinstance(x, str | int | float) and not isinstance(x, bool) for x in v)
        distinct = len({json.dumps(x) for x in v}) == len(v)
        if v and scalars and distinct and len(v) >= 2 and self._chance("sets"):
            opener, closer = "{", "}"
        elif v and self._chance("tuples"):
            opener, closer = "(", ")"
        else:
            opener, closer = "[", "]"
        self._w(opener)
        items: list[Any] = list(v)
        elided = -1
        if items and closer == "]" and self._chance("ellipsis"):
            elided = self.rng.randint(0, len(items))
        for i in range(len(items) + 1):
            if i == elided:
                if i:
                    self._sep(level + 1)
                self._w(self.rng.choice(["...", "…"]))
                if i == len(items):
                    break
                self._sep(level + 1)
            elif i == len(items):
                break
            elif i:
                self._sep(level + 1)
            else:
                self._nl(level + 1)
            self._value(items[i], level + 1, "array")
        if (opener == "(" and len(items) == 1) or (items and closer == "]" and self._chance("trailing")):
            self._w(",")
        if items:
            self._nl(level)
        self._close(closer, parent)

    def _key(self, k: str) -> None:
        if self.key == "bare" and _IDENT.fullmatch(k):
            self._w(k)
        elif self.key == "single":
            self._w(_quoted(k, "'", raw_control=False, inner=False))
        else:
            self._w(_quoted(k, '"', raw_control=False, inner=False))

    def _string(self, s: str, parent: str | None) -> None:
        if self._chance("bare") and _bare_safe(s) and (parent == "object" or s[0].isdigit()):
            self._w(s)
            return
        self._w(_quoted(s, self.quote, raw_control=self.raw_control, inner=self.inner_quotes))


def _quoted(s: str, quote: str, *, raw_control: bool, inner: bool) -> str:
    out = [quote]
    for c in s:
        if c == quote:
            out.append(c if inner and quote == '"' else "\\" + c)
        elif c == "\\":
            out.append("\\\\")
        elif c in "\n\t" and raw_control:
            out.append(c)
        elif c < " ":
            out.append(json.dumps(c)[1:-1])
        else:
            out.append(c)
    out.append(quote)
    return "".join(out)


def _bare_safe(s: str) -> bool:
    if not _BARE_SAFE.fullmatch(s) or _NUMBERISH.fullmatch(s) or s.lower() in _WORDS_TO_AVOID:
        return False
    if "//" in s or "  " in s:
        return False
    return s[0].isdigit() or ":" not in s


# ---------------------------------------------------------------- break classes

PROSE_BEFORE = [
    "Here is the JSON you asked for:\n\n",
    "Sure! Based on the text [the user's message], the result is: ",
    "Result [1]: ",
    "I found the following (confidence: high):\n",
    "Output:\n",
    "json\n",
    "Certainly. {Analysis}: the request names one place.\n",
]
PROSE_AFTER = [
    "\n\nLet me know if you need anything else!",
    " (see [2] for details)",
    "\n\nNote: I assumed {city} means the capital.",
    "\n\nHope this helps :)",
    "\n---\nExplanation: the user mentioned [two] places.",
    "",
]
FENCES = [
    "```json\n{}\n```",
    "```\n{}\n```",
    "Here is the output:\n```json\n{}\n```\nDone.",
    "```json {} ```",
    "```json\n{}",
]

Builder = Callable[[random.Random, Any, str], "list[tuple[str, Any]] | None"]


def _emit(value: Any, rng: random.Random, **opts: Any) -> str:
    return Emitter(rng, **opts).emit(value)


def _emitter_class(**opts: Any) -> Callable[[random.Random, Any], str | None]:
    def build(rng: random.Random, value: Any) -> str | None:
        text = _emit(value, rng, **opts)
        return None if text == json.dumps(value, ensure_ascii=False) else text

    return build


#: Break classes whose text is the value written with one kind of slip.
SLIPS: dict[str, Callable[[random.Random, Any], str | None]] = {
    "trailing_comma": _emitter_class(trailing=0.5),
    "extra_comma": _emitter_class(extra_comma=0.3),
    "missing_comma": _emitter_class(missing_comma=0.3),
    "single_quotes": _emitter_class(quote="'", key="single"),
    "python_literals": _emitter_class(literals="python"),
    "literal_case": _emitter_class(literals="upper"),
    "unquoted_keys": _emitter_class(key="bare"),
    "comments": _emitter_class(comments=0.3),
    "control_chars": _emitter_class(raw_control=True),
    "inner_quotes": _emitter_class(inner_quotes=True),
    "doubled_braces": _emitter_class(doubled=True),
    "grouped_numbers": _emitter_class(grouped=True),
    "bare_values": _emitter_class(bare=0.7),
    "tuples_sets": _emitter_class(tuples=0.5, sets=0.5),
    "ellipsis": _emitter_class(ellipsis=0.5),
    "stray_words": _emitter_class(stray=0.2),
    "pretty_mixed": _emitter_class(indent=2, trailing=0.3, comments=0.2, key="bare"),
}


def _python_repr(rng: random.Random, value: Any) -> str | None:
    return repr(value)


def _premature_close(rng: random.Random, value: Any) -> str | None:
    em = Emitter(rng)
    text = em.emit(value)
    if not em.member_ends:
        return None
    at = rng.choice(em.member_ends)
    return text[:at] + rng.choice(["}", "} ", "}\n"]) + text[at:]


def _missing_close(rng: random.Random, value: Any) -> str | None:
    em = Emitter(rng)
    text = em.emit(value)
    # A container whose parent goes on after it (a comma follows its close).
    spots = [pos for pos, _, _, _ in em.closes if text.startswith(", ", pos + 1)]
    if not spots:
        return None
    at = rng.choice(spots)
    return text[:at] + text[at + 1 :]


def _extra_close(rng: random.Random, value: Any) -> str | None:
    em = Emitter(rng)
    text = em.emit(value)
    spots = [pos for pos, in_array, _, closer in em.closes if in_array and closer == "}"]
    if spots and rng.random() < 0.7:
        at = rng.choice(spots) + 1
        return text[:at] + "}" + text[at:]
    return text + rng.choice(["}", "]", "\n}"])


def _unclosed_string(rng: random.Random, value: Any) -> str | None:
    em = Emitter(rng)
    text = em.emit(value)
    spots = [q for q in em.open_strings if text[q] == '"']
    if not spots:
        return None
    at = rng.choice(spots)
    return text[:at] + text[at + 1 :]


def _missing_open_brace(rng: random.Random, value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return None
    return json.dumps(value, ensure_ascii=False)[1:]


def _fence(rng: random.Random, value: Any) -> str | None:
    body = json.dumps(value, ensure_ascii=False, indent=rng.choice([None, 2]))
    return rng.choice(FENCES).replace("{}", body)


def _prose(rng: random.Random, value: Any) -> str | None:
    body = json.dumps(value, ensure_ascii=False, indent=rng.choice([None, 2]))
    before, after = rng.choice(PROSE_BEFORE), rng.choice(PROSE_AFTER)
    if rng.random() < 0.3:
        before = ""
    if not before and not after:
        after = PROSE_AFTER[0]
    return before + body + after


def _mixed(rng: random.Random, value: Any) -> str | None:
    opts: dict[str, Any] = {}
    for name in rng.sample(["trailing", "comments", "single", "python", "bare_keys", "raw", "pretty"], 3):
        if name == "single":
            opts.update(quote="'", key="single")
        elif name == "python":
            opts.update(literals="python")
        elif name == "bare_keys":
            opts.update(key="bare")
        elif name == "raw":
            opts.update(raw_control=True)
        elif name == "pretty":
            opts.update(indent=2)
        else:
            opts[name] = 0.3
    text = _emit(value, rng, **opts)
    if rng.random() < 0.5:
        text = rng.choice(FENCES).replace("{}", text)
    return text


STRUCTURAL: dict[str, Callable[[random.Random, Any], str | None]] = {
    "python_repr": _python_repr,
    "premature_close": _premature_close,
    "missing_close": _missing_close,
    "extra_close": _extra_close,
    "unclosed_string": _unclosed_string,
    "missing_open_brace": _missing_open_brace,
    "code_fence": _fence,
    "prose": _prose,
    "mixed": _mixed,
}

#: Every class of break, in the order the benchmark prints them.
CLASSES = ["valid", "truncation", *STRUCTURAL, *SLIPS, "several_values"]


def cases(count: int, seed: int, *, schema_share: float = 0.5) -> Iterator[Case]:
    """Every class of break applied to ``count`` generated values.

    About ``schema_share`` of the cases are repaired with the value's schema, the
    rest without one (a repair without a schema must be just as honest).
    """
    pool = values(count, seed)
    for index, (name, value) in enumerate(pool):
        for cls in CLASSES:
            rng = random.Random(f"{seed}:{index}:{cls}")
            schema = name if rng.random() < schema_share else None
            if cls == "valid":
                yield Case(cls, json.dumps(value, ensure_ascii=rng.random() < 0.5), value, schema)
            elif cls == "truncation":
                text, expected = serialize_with_prefixes(value, indent=rng.choice([None, 2]))
                cut = rng.randrange(1, len(text))
                yield Case(cls, text[:cut], value, schema, expected[cut - 1])
            elif cls == "several_values":
                yield _several(rng, pool, index, schema)
            else:
                build = STRUCTURAL.get(cls) or SLIPS[cls]
                text = build(rng, value)
                if text is not None:
                    yield Case(cls, text, value, schema)


def _several(rng: random.Random, pool: list[tuple[str, Any]], index: int, schema: str | None) -> Case:
    name, value = pool[index]
    first = json.dumps(value, ensure_ascii=False)
    kind = rng.choice(["same", "other", "prose"])
    if kind == "same":
        return Case("several_values", first + rng.choice(["\n", " ", "\n\n"]) + first, value, schema)
    other_name, other = pool[(index + rng.randint(1, len(pool) - 1)) % len(pool)]
    second = json.dumps(other, ensure_ascii=False)
    sep = "\n" if kind == "other" else "\n\nOr, if you prefer:\n"
    texts = [first, second]
    rng.shuffle(texts)
    return Case("several_values", texts[0] + sep + texts[1], value, name if other_name != name else schema)


# ---------------------------------------------------------------- judging


def same(a: Any, b: Any) -> bool:
    """JSON equality that tells ``true`` from ``1`` (Python's ``==`` does not)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def prefix_of(part: Any, whole: Any) -> bool:
    """Whether ``part`` is a reading of a prefix of ``whole``'s text: everything but the last
    member or element equal, the last a prefix itself (a number may be cut short)."""
    if isinstance(whole, dict):
        if not isinstance(part, dict) or list(part) != list(whole)[: len(part)]:
            return False
        keys = list(part)
        return all(same(part[k], whole[k]) for k in keys[:-1]) and (
            not keys or prefix_of(part[keys[-1]], whole[keys[-1]])
        )
    if isinstance(whole, list):
        if not isinstance(part, list) or len(part) > len(whole):
            return False
        return all(same(x, y) for x, y in zip(part[:-1], whole, strict=False)) and (
            not part or prefix_of(part[-1], whole[len(part) - 1])
        )
    if isinstance(whole, str):
        return isinstance(part, str) and whole.startswith(part)
    if isinstance(whole, int | float) and not isinstance(whole, bool):
        if not isinstance(part, int | float) or isinstance(part, bool):
            return False
        if part == whole:
            return True
        token = json.dumps(whole)  # a cut number reads as one of the prefixes of its text
        return any(_number_at(token[:k]) == part for k in range(1, len(token)))
    return same(part, whole)


def _number_at(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def judge(case: Case, value: Any, truncated: bool, *, raised: bool) -> str:
    """EXACT, FLAGGED or WRONG for one repair of ``case``.

    Args:
        case: The case.
        value: The value the repair returned (ignored when ``raised``).
        truncated: Whether the repair said the answer was cut off.
        raised: Whether the repair raised instead (it said it could not).
    """
    if raised:
        return FLAGGED
    if case.cls == "truncation" and case.partial is not MISSING:
        if truncated:
            if same(value, case.partial):
                return EXACT
            return FLAGGED if prefix_of(value, case.expected) else WRONG
        return EXACT if same(value, case.expected) else WRONG
    if same(value, case.expected) and not truncated:
        return EXACT
    return FLAGGED if truncated else WRONG


def schema_of(case: Case) -> Any:
    """The output type of the case's schema, or ``None``."""
    return SCHEMAS[case.schema] if case.schema is not None else None
