"""StreamingParser past its live start: containers read whole, strings shown in steps.

The first ``LIVE`` characters of a streamed answer are shown as they arrive (the
unit and property tests in test_repair_unit.py / test_repair_properties.py cover
that); these tests use answers long enough that the rest is read container by
container, and check what the issue asks of it: complete parts never change, the
value shown is never more than ``WAIT_LIMIT`` characters behind the text, the last
chunk shows the whole value, and ``finish()`` equals the one-shot repair.
"""

from __future__ import annotations

import itertools
import json
import string
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from extractkit.exceptions import RepairError
from extractkit.repair import RepairResult, StreamingParser, repair_json
from extractkit.repair.stream_engine import LIVE, WAIT_LIMIT

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PAD = "p" * (LIVE + 50)  # a first member long enough that what follows is past the live start


def _grows_into(early: Any, late: Any) -> bool:
    """Whether ``early`` is a part of ``late`` that later chunks only added to."""
    if isinstance(early, dict):
        return isinstance(late, dict) and all(k in late and _grows_into(v, late[k]) for k, v in early.items())
    if isinstance(early, list):
        if not isinstance(late, list) or len(early) > len(late):
            return False
        return all(_grows_into(a, b) for a, b in zip(early[:-1], late, strict=False)) and (
            not early or _grows_into(early[-1], late[len(early) - 1])
        )
    if isinstance(early, str):
        return isinstance(late, str) and late.startswith(early)
    return bool(early == late)


def _stream(text: str, sizes: list[int], *, every: int = 1) -> tuple[StreamingParser, list[Any], list[int]]:
    """Feed ``text`` in chunks of the given sizes (cycled). Returns the parser, a copy of the
    value shown after every ``every``-th chunk and after the last, and how much had arrived."""
    parser = StreamingParser()
    shown: list[Any] = []
    received: list[int] = []
    pos = 0
    for step, size in enumerate(itertools.cycle(sizes)):
        if pos >= len(text):
            break
        value = parser.feed(text[pos : pos + size])
        pos = min(len(text), pos + size)
        if step % every == 0 or pos == len(text):
            shown.append(json.loads(json.dumps(value)))
            received.append(pos)
    return parser, shown, received


def _document(count: int) -> dict[str, Any]:
    """A long answer: objects with nested parts, strings holding quotes, braces and escapes."""
    code = 'def f(event):\n    return {"status": 200, "body": event["body"]}\n'
    return {
        "pad": PAD,
        "items": [
            {
                "id": i,
                "name": f"item {i}",
                "tags": ["a", "b", str(i)],
                "meta": {"ok": i % 2 == 0, "score": i / 3, "note": None},
                "code": code if i % 5 == 0 else "",
            }
            for i in range(count)
        ],
        "summary": 'done, "quoted" and {braced} and \\back\\slashed ' * 20,
        "numbers": list(range(300)),
    }


# ---------------------------------------------------------------- the value shown


def test_a_long_answer_grows_and_is_complete_after_its_last_chunk() -> None:
    doc = _document(60)
    text = json.dumps(doc)
    assert len(text) > 10 * WAIT_LIMIT
    for sizes, every in (([16], 1), ([1], 13), ([5, 40, 3], 1), ([700], 1)):
        parser, shown, _ = _stream(text, sizes, every=every)
        assert shown[-1] == doc, sizes
        for early, late in itertools.pairwise(shown):
            if early is not None:
                assert _grows_into(early, late), sizes
        assert parser.finish() == repair_json(text)


def test_the_value_shown_is_never_more_than_the_wait_limit_behind() -> None:
    doc = _document(120)
    text = json.dumps(doc)
    items = doc["items"]
    # Where each item's text ends: json.dumps writes them in order, each exactly once.
    ends = []
    at = 0
    for item in items:
        piece = json.dumps(item)
        at = text.index(piece, at) + len(piece)
        ends.append(at)
    _, shown, received = _stream(text, [16])
    checked = 0
    for value, got in zip(shown, received, strict=True):
        due = sum(1 for end in ends if end <= got - WAIT_LIMIT - 16)
        if due:
            assert len(value["items"]) >= due
            assert value["items"][: due - 1] == items[: due - 1]  # complete ones, exactly
            checked += 1
    assert checked > 100


def test_a_long_string_past_the_live_start_is_shown_within_a_sixteenth() -> None:
    content = "lorem ipsum, dolor {sit} amet " * 2000
    text = json.dumps({"pad": PAD, "content": content})
    start = text.index('"content": "') + len('"content": "')
    _, shown, received = _stream(text, [16])
    for value, got in zip(shown, received, strict=True):
        written = min(len(content), got - start)
        if written <= 0:
            continue
        partial = value.get("content", "")
        assert content.startswith(partial)
        assert len(partial) >= written * 15 // 16 - 16
    assert shown[-1]["content"] == content


def test_brackets_inside_strings_do_not_hide_the_end_of_the_answer() -> None:
    # Unbalanced braces in strings fool a plain bracket count of the last container.
    doc = {"pad": PAD, "rows": [{"a": "{", "b": "{{"}, {"a": "[", "b": "x"}, {"c": "{["}]}
    text = json.dumps(doc)
    for size in (1, 3, 16):
        parser, shown, _ = _stream(text, [size])
        assert shown[-1] == doc, size
        assert parser.finish() == repair_json(text)


# ---------------------------------------------------------------- finish() is the one-shot repair


def _broken(text: str) -> dict[str, str]:
    first = text.index('"name"')
    return {
        "truncated": text[: len(text) * 2 // 3],
        "object closed early": text[:first] + "}, " + text[first:],
        "unescaped inner quotes": text.replace('\\"', '"'),
        "trailing commas": text.replace("}", ", }").replace("]", ", ]"),
        "single quotes": text.replace('"', "'"),
        "fence and prose": "Here it is:\n```json\n" + text + "\n```\nDone.",
        "raw newlines": text.replace("\\n", "\n"),
    }


def _outcome(fn: Callable[[], RepairResult]) -> RepairResult | tuple[str, str | None]:
    try:
        return fn()
    except RepairError as exc:
        return ("RepairError", exc.reason)


def test_broken_long_answers_finish_like_the_one_shot_repair() -> None:
    text = json.dumps(_document(15))
    for name, broken in _broken(text).items():
        want = _outcome(lambda b=broken: repair_json(b))  # type: ignore[misc]
        for sizes in ([1], [16], [7, 61]):
            parser, _, _ = _stream(broken, sizes, every=len(broken))
            assert _outcome(parser.finish) == want, (name, sizes)


def test_inner_quotes_streamed_a_character_at_a_time() -> None:
    # A string with unescaped inner quotes that runs past the text the engine keeps: the
    # engine used to slice from a string start it had already dropped and repeat text.
    code = (
        'import json\n\ndef handler(event):\n    """Answer one request."""\n'
        '    body = json.loads(event["body"])\n    if body.get("kind") == "ping":\n'
        '        return {"status": 200, "body": "pong"}\n    return {\'status\': 404}\n'
    )
    doc = {"files": [{"content": code}, {"path": "x.py", "content": code}]}
    text = json.dumps(doc).replace('\\"', '"')
    want = repair_json(text)
    assert want.value == doc
    for size in (1, 2, 5):
        parser, shown, _ = _stream(text, [size])
        for value in shown:
            for item in (value or {}).get("files", []):
                assert code.startswith(item.get("content", "")), size
        assert parser.finish() == want, size


# ---------------------------------------------------------------- properties

# No ' in keys: the one-shot token walk misreads a key like "it's" after a value (its closing-
# quote test takes the ' for a quote), while a stream reads the same object with the C scanner.
keys = st.text(alphabet=string.ascii_letters + '_ -é{}[]"', min_size=1, max_size=8)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(['say "hi"', "{[", "]}", "back\\slash", "a, b", "x}, {"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)


@SETTINGS
@given(
    doc=st.lists(values, min_size=1, max_size=12),
    sizes=st.lists(st.integers(1, 60), min_size=1, max_size=6),
    indent=st.sampled_from([None, 1]),
)
def test_streamed_values_only_grow_and_finish_matches_one_shot(
    doc: list[Any], sizes: list[int], indent: int | None
) -> None:
    full = {"pad": PAD, "data": doc}
    text = json.dumps(full, indent=indent)
    parser, shown, _ = _stream(text, sizes)
    assert shown[-1] == full
    for early, late in itertools.pairwise(shown):
        if early is not None:
            assert _grows_into(early, late)
    assert parser.finish() == repair_json(text)


@SETTINGS
@given(
    doc=st.lists(values, min_size=1, max_size=12),
    sizes=st.lists(st.integers(1, 60), min_size=1, max_size=6),
    cut=st.floats(0.3, 0.99),
)
def test_a_cut_long_answer_finishes_like_the_one_shot_repair(
    doc: list[Any], sizes: list[int], cut: float
) -> None:
    text = json.dumps({"pad": PAD, "data": doc})
    prefix = text[: int(len(text) * cut)]
    parser, _, _ = _stream(prefix, sizes, every=len(prefix))
    assert parser.finish() == repair_json(prefix)


def test_a_string_missing_its_quote_past_the_live_start_rewinds_like_the_one_shot_repair() -> None:
    # The key after the missing quote ("quantity") is only known at its colon, chunks later:
    # the comma before the quote that starts it must be remembered when the text is dropped.
    # (Streamed in 16- or 7-character chunks, the description used to swallow the member.)
    class Line(BaseModel):
        sku: str
        description: str
        quantity: int
        unit_price: float
        tags: list[str]

    class Address(BaseModel):
        street: str
        city: str
        zip: str
        country: str

    class Customer(BaseModel):
        name: str
        address: Address

    class Invoice(BaseModel):
        number: str
        date: str
        currency: str
        customer: Customer
        lines: list[Line]
        total: float
        paid: bool

    text = (
        '{"number": "INV-2025-7444", "date": "2024-10-01", "currency": "JPY", "customer": {"name": '
        '"Ana Silva", "address": {"street": "726 Rua Augusta", "city": "Kraków", "zip": "01101", '
        '"country": "Poland"}}, "lines": [{"sku": "SKU-8394", "description": "  two leading spaces", '
        '"quantity": 25000, "unit_price": 602.45, "tags": ["table", "column"]}, {"sku": "SKU-5163", '
        '"description": "50% off, today only!, "quantity": 25000, "unit_price": 4749.94, "tags": '
        '["delivery", "broken"]}, {"sku": "SKU-7804", "description": "Press \\"Save\\", then '
        '\\"Close\\".", "quantity": 3, "unit_price": 1968.75, "tags": ["review", "price", "late"]}], '
        '"total": 133815656.25, "paid": true}'
    )
    for schema in (None, Invoice):
        want = repair_json(text, schema)
        assert want.value["lines"][1]["description"] == "50% off, today only!"
        for size in (1, 7, 16):
            parser = StreamingParser(schema)
            for start in range(0, len(text), size):
                parser.feed(text[start : start + size])
            assert parser.finish() == want, (schema, size)
