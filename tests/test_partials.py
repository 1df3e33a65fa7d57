"""PartialView on live values a parser could give, and typed partial instances."""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import BaseModel

from extractkit import Extractor
from extractkit.partials import PartialView, extends, typed_partial
from extractkit.results import CallContext
from extractkit.testing import FakeBackend
from streaming_oracle import grows


def views(*lives: Any, wrapped: bool = False) -> tuple[PartialView, list[tuple[Any, Any]]]:
    view, shown = PartialView(wrapped=wrapped), []
    for live in lives:
        if view.update(live):
            shown.append((view.data, view.in_progress))
    return view, shown


def test_the_last_scalar_waits_for_what_follows_it() -> None:
    live: dict[str, Any] = {"n": 1}
    view = PartialView()
    assert view.update(live) and view.data == {}
    live["n"] = 12  # a number still being written
    assert not view.update(live)
    live["s"] = "ab"
    assert view.update(live) and view.data == {"n": 12, "s": "ab"} and view.in_progress == ("s",)


def test_a_string_item_waits_until_complete_and_a_reread_one_is_never_shown() -> None:
    item: dict[str, Any] = {"city": "Paris"}
    lives = [
        {"locations": [item]},
        {"locations": [item, "country"]},  # a stray key shown as an item for a moment
        {"locations": [{"city": "Paris", "country": "Fr"}]},
        {"locations": [{"city": "Paris", "country": "France"}, {"city": "L"}]},
    ]
    view, shown = views(*lives)
    assert not view.broken
    assert all(all(isinstance(i, dict) for i in data["locations"]) for data, _ in shown)
    assert shown[-1][0] == {"locations": [{"city": "Paris", "country": "France"}, {"city": "L"}]}
    for (before, path), (after, _) in itertools.pairwise(shown):
        assert grows(before, after, path)


def test_a_value_already_shown_that_changes_stops_the_view() -> None:
    view, shown = views({"a": "x", "b": 1}, {"a": "y", "b": 1, "c": 2})
    assert view.broken
    assert shown == [({"a": "x"}, None)]  # the re-read value was never shown


def test_frozen_members_are_copies_and_snapshots_share_them() -> None:
    first: dict[str, Any] = {"k": [1, 2]}
    live: dict[str, Any] = {"items": [first, {"k": [3]}]}
    view = PartialView()
    assert view.update(live)
    snapshot = view.data
    first["k"].append(99)  # the parser mutating a live container
    live["items"].append({})
    # What was handed out did not change (the last number waits for what follows it).
    assert snapshot == {"items": [{"k": [1, 2]}, {"k": []}]}
    assert view.update(live)
    assert grows(snapshot, view.data) and view.data["items"][1:] == [{"k": [3]}, {}]


def test_wrapped_values_are_unwrapped() -> None:
    _, shown = views({"answer": ["a"]}, {"answer": ["a", "b"]}, wrapped=True)
    assert shown == [([], None), (["a"], None)]


def test_extends_rules() -> None:
    assert extends({"a": "Par"}, {"a": "Paris", "b": 1}, ("a",))
    assert not extends({"a": "Par"}, {"a": "Paris"})
    assert not extends([1, 2], [1])
    assert not extends({"a": 1}, {"a": 1.0})
    assert extends(None, {"anything": True})


class Inner(BaseModel):
    x: int
    y: str


class Outer(BaseModel):
    inner: Inner | None = None
    many: list[Inner]
    tag: str


def test_typed_partial_builds_nested_models_with_missing_fields_none() -> None:
    value = typed_partial(Outer, {"inner": {"x": 1}, "many": [{"y": "a"}]})
    assert isinstance(value, Outer) and isinstance(value.inner, Inner) and isinstance(value.many[0], Inner)
    assert (value.inner.x, value.inner.y, value.many[0].x, value.many[0].y, value.tag) == (
        1,
        None,
        None,
        "a",
        None,
    )
    assert typed_partial(Outer, None) is None
    assert typed_partial(list[str], ["a"]) == ["a"]


class Shouty(Extractor[Inner]):
    instructions = "Extract x and y."

    def parse(self, raw: str, ctx: CallContext) -> tuple[Any, tuple[str, ...]]:
        value, repairs = super().parse(raw, ctx)
        return {**value, "y": value["y"].upper()}, repairs


async def test_a_final_value_that_does_not_extend_the_partials_is_flagged() -> None:
    fake = FakeBackend(lambda request: '{"x": 1, "y": "abc"}', chunk_size=2)
    updates = [u async for u in Shouty(backend=fake, output_mode="json_object").extract_stream("x")]
    assert any(u.data and u.data.get("y") for u in updates[:-1])
    assert updates[-1].revised and updates[-1].value == Inner(x=1, y="ABC")
