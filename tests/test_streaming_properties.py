"""Partials never contradict a later value, whatever the chunking (hypothesis).

Random JSON documents (nested objects and arrays; strings with escapes, quotes,
backslashes and non-ASCII; numbers that grow digit by digit; true/false/null),
written compactly or indented, cut into random chunks (one character included),
go through the repair package's StreamingParser and the PartialView. Every
snapshot must extend the one before it, and the last one must extend the
document itself.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from extractkit import Extractor
from extractkit.partials import PartialView
from extractkit.repair import StreamingParser
from extractkit.testing import FakeBackend
from streaming_oracle import grows

text = st.text(alphabet=st.sampled_from([*list('ab Zé☃"\\/\n\t{}[],:'), "\u2028", "😀"]), max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    text,
)
keys = st.text(alphabet="abcxyz_é", min_size=1, max_size=5)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=16,
).map(lambda value: {"v": value})


def chunked(data: st.DataObject, whole: str) -> list[str]:
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(whole) - 1)), max_size=len(whole))))
    bounds = [0, *cuts, len(whole)]
    return [whole[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, indent=st.sampled_from([None, 1]), ascii_only=st.booleans(), data=st.data())
def test_snapshots_only_grow_over_random_chunkings(
    document: dict[str, Any], indent: int | None, ascii_only: bool, data: st.DataObject
) -> None:
    whole = json.dumps(document, indent=indent, ensure_ascii=ascii_only)
    parser, view = StreamingParser(), PartialView()
    shown: list[tuple[Any, Any]] = []
    for piece in chunked(data, whole):
        if view.update(parser.feed(piece)):
            shown.append((view.data, view.in_progress))
    for (before, path), (after, _) in itertools.pairwise(shown):
        assert grows(before, after, path), (whole, before, after)
    assert parser.finish().value == document
    assert not view.broken
    assert grows(view.data, document, view.in_progress), (whole, view.data)


@settings(max_examples=200, deadline=None)
@given(document=documents, data=st.data())
def test_wrapped_outputs_show_the_inner_value(document: dict[str, Any], data: st.DataObject) -> None:
    whole = json.dumps({"answer": document["v"]})
    parser, view = StreamingParser(), PartialView(wrapped=True)
    last, path = None, None
    for piece in chunked(data, whole):
        if view.update(parser.feed(piece)):
            assert grows(last, view.data, path), (last, view.data)
            last, path = view.data, view.in_progress
    assert grows(view.data, document["v"], view.in_progress)


class Item(BaseModel):
    name: str
    qty: int
    price: float | None = None
    tags: list[str] = []


class Order(BaseModel):
    items: list[Item]
    paid: bool
    note: str | None = None


class OrderExtractor(Extractor[Order]):
    instructions = "Extract the order as JSON."


orders = st.builds(
    Order,
    items=st.lists(
        st.builds(
            Item,
            name=text,
            qty=st.integers(0, 10**6),
            price=st.none() | st.floats(0, 1e6, allow_nan=False),
            tags=st.lists(text, max_size=3),
        ),
        max_size=4,
    ),
    paid=st.booleans(),
    note=st.none() | text,
)


@settings(max_examples=60, deadline=None)
@given(order=orders, chunk=st.integers(1, 9))
async def test_extract_stream_is_monotonic_and_ends_with_the_validated_value(
    order: Order, chunk: int
) -> None:
    fake = FakeBackend(lambda request: order.model_dump_json(), chunk_size=chunk)
    updates = [u async for u in OrderExtractor(backend=fake, output_mode="json_object").extract_stream("x")]
    for before, after in itertools.pairwise(updates):
        assert grows(before.data, after.data, before.in_progress), (before, after)
    final = updates[-1]
    assert final.done and not final.revised and final.value == order
    for update in updates[:-1]:
        partial = update.value
        assert partial is None or isinstance(partial, Order)
        # A number is shown only once it is whole: it never changes afterwards.
        for shown, real in zip(partial.items if partial and partial.items else [], order.items, strict=False):
            assert shown.qty in (None, real.qty)
