"""Property tests of the repair engine (hypothesis).

* Every prefix of a valid document repairs to exactly what the truncation rule
  says (the rule is stated independently in repair_corpus/oracle.py).
* A premature close injected between two members of any object, repaired with
  the document's schema, gives the original back (and without a schema too when
  the object sits in an array or at the root).
* Valid JSON comes back unchanged with no actions.
* Streaming: every partial value only grows (complete parts never change) and
  finish() equals the one-shot repair.
"""

from __future__ import annotations

import itertools
import json
import string
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from extractkit.exceptions import RepairError
from extractkit.repair import StreamingParser, repair_json

sys.path.insert(0, str(Path(__file__).parent / "repair_corpus"))

from oracle import MISSING, serialize_with_prefixes

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

keys = st.text(alphabet=string.ascii_letters + "_ -é", min_size=1, max_size=8)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["line\n", "  padded  ", 'say "hi"', "tab\there", "emoji 😀", "back\\slash", "{[,]}:"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
containers = st.one_of(st.lists(values, min_size=0, max_size=4), st.dictionaries(keys, values, max_size=4))


@SETTINGS
@given(doc=containers, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_every_prefix_follows_the_truncation_rule(doc: Any, indent: int | None, ascii_only: bool) -> None:
    text, expected = serialize_with_prefixes(doc, indent=indent, ensure_ascii=ascii_only)
    assert json.loads(text) == doc
    for cut in range(1, len(text) + 1):
        prefix = text[:cut]
        want = expected[cut - 1]
        if want is MISSING:
            try:
                repair_json(prefix)
            except RepairError:
                continue
            raise AssertionError(f"no value expected from {prefix!r}")
        result = repair_json(prefix)
        assert result.value == want, prefix
        complete = cut == len(text)
        assert result.truncated is not complete, prefix
        assert (() in result.cut_paths) is not complete, prefix


# ---------------------------------------------------------------- schema-guided premature closes


@st.composite
def schema_and_doc(draw: st.DrawFn) -> tuple[dict[str, Any], Any]:
    """An object schema whose property names are unique across the whole tree, and a document."""
    counter = [0]

    def fresh() -> str:
        counter[0] += 1
        return draw(st.sampled_from(["name", "city", "id", "kind", "note", "x"])) + f"_{counter[0]}"

    def object_schema(depth: int) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for _ in range(draw(st.integers(2, 4))):
            kind = draw(st.sampled_from(["scalar", "scalar", "object", "array"] if depth < 3 else ["scalar"]))
            if kind == "object":
                props[fresh()] = object_schema(depth + 1)
            elif kind == "array":
                props[fresh()] = {"type": "array", "items": object_schema(depth + 1)}
            else:
                props[fresh()] = {"type": "string"}
        return {"type": "object", "properties": props, "required": list(props)}

    def instance(schema: dict[str, Any]) -> Any:
        if schema.get("type") == "array":
            return [instance(schema["items"]) for _ in range(draw(st.integers(1, 3)))]
        if schema.get("type") == "object":
            return {key: instance(sub) for key, sub in schema["properties"].items()}
        return draw(st.one_of(st.text(max_size=6), st.integers(0, 99).map(str)))

    schema = object_schema(0)
    return schema, instance(schema)


def _objects(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    found = []
    if isinstance(value, dict):
        found.append((path, value))
        for key, child in value.items():
            found.extend(_objects(child, (*path, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_objects(child, (*path, index)))
    return found


def dump_with_early_close(
    value: Any, target: tuple[Any, ...], after: int, stray: str, path: tuple[Any, ...] = ()
) -> str:
    if isinstance(value, dict):
        parts = []
        for index, (key, child) in enumerate(value.items()):
            parts.append(
                f"{json.dumps(key)}: {dump_with_early_close(child, target, after, stray, (*path, key))}"
            )
            if index < len(value) - 1:
                parts.append(stray if (path == target and index == after) else ", ")
        return "{" + "".join(parts) + "}"
    if isinstance(value, list):
        items = [
            dump_with_early_close(child, target, after, stray, (*path, i)) for i, child in enumerate(value)
        ]
        return "[" + ", ".join(items) + "]"
    return json.dumps(value)


def _member_after_object(value: Any) -> bool:
    """Whether some object in ``value`` has a member after a member holding an object."""
    if isinstance(value, dict):
        kinds = [isinstance(child, dict | list) for child in value.values()]
        if any(kinds[:-1]):
            return True
        return any(_member_after_object(child) for child in value.values())
    if isinstance(value, list):
        return any(_member_after_object(child) for child in value)
    return False


@SETTINGS
@given(pair=schema_and_doc(), data=st.data())
def test_premature_close_with_its_schema_gives_the_original(
    pair: tuple[dict[str, Any], Any], data: st.DataObject
) -> None:
    schema, doc = pair
    candidates = [(path, obj) for path, obj in _objects(doc) if len(obj) >= 2]
    path, obj = data.draw(st.sampled_from(candidates))
    after = data.draw(st.integers(0, len(obj) - 2))
    stray = data.draw(st.sampled_from(["}, ", "}", "} ", "},\n  "]))
    text = dump_with_early_close(doc, path, after, stray)
    result = repair_json(text, schema)
    assert result.value == doc, text
    assert "reopened_object_closed_early" in result.actions
    assert not result.truncated
    if not path or isinstance(path[-1], int):
        # In an array or at the root only the object just closed can take the member, unless
        # the object has a member after an object of its own: then that inner object may have
        # been the one closed early (`{"a": {"x": 1}, "b": 2}, "c": 3}`), and only the
        # schema can tell. Without it the answer is the original or an ambiguous_close error.
        try:
            assert repair_json(text).value == doc, text
        except RepairError as exc:
            assert exc.reason == "ambiguous_close", text
            assert _member_after_object(obj), text


# ---------------------------------------------------------------- valid input and streaming


@SETTINGS
@given(doc=values, indent=st.sampled_from([None, 1]))
def test_valid_json_comes_back_unchanged_with_no_actions(doc: Any, indent: int | None) -> None:
    text = json.dumps(doc, indent=indent)
    result = repair_json(text)
    assert result.value == doc
    assert result.actions == ()
    assert not result.truncated
    assert result.cut_paths == ()


@SETTINGS
@given(pair=schema_and_doc())
def test_valid_json_with_its_schema_comes_back_unchanged(pair: tuple[dict[str, Any], Any]) -> None:
    schema, doc = pair
    result = repair_json(json.dumps(doc), schema)
    assert result.value == doc
    assert result.actions == ()


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


@SETTINGS
@given(doc=containers, sizes=st.lists(st.integers(1, 9), min_size=1, max_size=8))
def test_streaming_values_only_grow_and_finish_matches_one_shot(doc: Any, sizes: list[int]) -> None:
    text = json.dumps(doc)
    parser = StreamingParser()
    snapshots = []
    pos = 0
    step = 0
    while pos < len(text):
        size = sizes[step % len(sizes)]
        step += 1
        snapshots.append(json.loads(json.dumps(parser.feed(text[pos : pos + size]))))
        pos += size
    assert snapshots[-1] == doc
    for early, late in itertools.pairwise(snapshots):
        if early is not None:
            assert _grows_into(early, late), (early, late)
    assert parser.finish() == repair_json(text)


@SETTINGS
@given(doc=containers, cut=st.floats(0.05, 0.95))
def test_streaming_a_cut_answer_finishes_like_the_one_shot_repair(doc: Any, cut: float) -> None:
    text = json.dumps(doc)
    prefix = text[: max(1, int(len(text) * cut))]
    assume(prefix != text)
    parser = StreamingParser()
    for pos in range(0, len(prefix), 3):
        parser.feed(prefix[pos : pos + 3])
    assert parser.finish() == repair_json(prefix)
