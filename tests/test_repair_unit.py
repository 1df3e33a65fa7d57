"""Specific behaviours of extractkit.repair: the issue's examples, errors, schemas, streaming."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from extractkit.exceptions import ExtractKitError, RepairError, UnparseableOutputError, UserError
from extractkit.repair import ACTIONS, RepairResult, StreamingParser, repair_json
from extractkit.repair.schema import schema_node


class Location(BaseModel):
    city: str
    country: str | None = None


class Locations(BaseModel):
    locations: list[Location]


PARIS = {"locations": [{"city": "Paris", "country": "France"}]}


def test_the_issue_example_reopens_the_location() -> None:
    r = repair_json('{"locations": [{"city": "Paris"}], "country": "France"}', schema=Locations)
    assert r.value == PARIS
    assert r.actions == ("reopened_object_closed_early",)
    assert r.repaired and not r.truncated


@pytest.mark.parametrize(
    "text", ['{"a": 1}, "b": 2}', '{"a": 1}"b": 2}', '{"a": 1} "b": 2}', '{"a": 1},\n b: 2}']
)
def test_root_closed_early_in_every_form(text: str) -> None:
    assert repair_json(text).value == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    "text",
    [
        '[{"city": "Paris"}, "country": "France"}]',
        '[{"city": "Paris"} "country": "France"}]',
        '[{"city": "Paris"}, "country": "France"]',
        '[{"city": "Paris"}, "country": "France"}, {"city": "Nice"}]',
    ],
)
def test_array_elements_closed_early_need_no_schema(text: str) -> None:
    value = repair_json(text).value
    assert value[0] == {"city": "Paris", "country": "France"}


def test_nested_object_closed_early_needs_the_schema() -> None:
    text = '{"person": {"name": "Ana"}, "age": 31, "team": "blue"}}'
    schema = {
        "type": "object",
        "properties": {
            "person": {"$ref": "#/$defs/Person"},
            "team": {"type": "string"},
        },
        "$defs": {"Person": {"type": "object", "properties": {"name": {}, "age": {}}}},
    }
    # Without a schema the text does not say which object closed early: "age" and "team" may
    # belong to the person as well as to the root (returning the root reading was a guess).
    with pytest.raises(RepairError) as caught:
        repair_json(text)
    assert caught.value.reason == "ambiguous_close"
    # With it, "age" goes back into the person, and "team" closes the person again.
    guided = repair_json(text, schema)
    assert guided.value == {"person": {"name": "Ana", "age": 31}, "team": "blue"}


def test_schema_may_be_a_type_adapter_type_or_a_union() -> None:
    text = '[{"city": "Paris"}], "country": "France"}]'
    assert repair_json(text, list[Location]).value == [{"city": "Paris", "country": "France"}]
    union = {
        "anyOf": [{"type": "null"}, {"type": "array", "items": {"properties": {"city": {}, "country": {}}}}]
    }
    assert repair_json(text, union).value == [{"city": "Paris", "country": "France"}]


def test_schema_info_is_cached_per_schema_object_and_per_content() -> None:
    assert schema_node(Locations) is schema_node(Locations)
    schema = Locations.model_json_schema()
    assert schema_node(schema) is schema_node(schema)
    assert schema_node(json.loads(json.dumps(schema))) is schema_node(schema)
    adapter = TypeAdapter(Locations)
    assert repair_json('{"locations": [{"city": "Paris"}], "country": "France"}', adapter).value == PARIS


def test_truncation_keeps_what_began_and_says_what_was_cut() -> None:
    r = repair_json('{"locations": [{"city": "Paris", "country": "Fra')
    assert r.value == PARIS | {"locations": [{"city": "Paris", "country": "Fra"}]}
    assert r.truncated
    assert r.cut_paths == ((), ("locations",), ("locations", 0), ("locations", 0, "country"))
    assert "closed_truncated" in r.actions


@pytest.mark.parametrize(
    ("text", "value", "cut"),
    [
        ('{"a": 1, "b":', {"a": 1}, ("b",)),
        ('{"a": 1, "bc', {"a": 1}, ()),
        ('{"a": "x\\u00', {"a": "x"}, ("a",)),
        ('{"a": "x\\', {"a": "x"}, ("a",)),
        ('{"a": -1.5e', {"a": -1.5}, ("a",)),
        ('{"a": 12.', {"a": 12}, ("a",)),
        ('{"a": -', {}, ("a",)),
        ('{"a": tr', {"a": True}, ("a",)),
        ('{"a": fal', {"a": False}, ("a",)),
        ('{"a": nu', {"a": None}, ("a",)),
        ('["x", "y', ["x", "y"], (1,)),
        ('{"a": "x\\ud83d', {"a": "x"}, ("a",)),
    ],
)
def test_truncation_rule(text: str, value: Any, cut: tuple[Any, ...]) -> None:
    r = repair_json(text)
    assert r.value == value
    assert r.truncated
    assert r.cut_paths[-1] == cut


def test_string_contents_survive_every_repair_path() -> None:
    content = "line one\n  indented\ttab  \n\n"
    doc = {"path": "a.txt", "content": content}
    texts = [
        json.dumps(doc)[:-1] + ",}",
        "```json\n" + json.dumps(doc) + "\n```",
        "Here: " + json.dumps(doc) + " done [1]",
        json.dumps(doc).replace("\\n", "\n").replace("\\t", "\t"),
        "{'path': 'a.txt', 'content': " + json.dumps(content) + "}",
        '{"content": ' + json.dumps(content) + '}, "path": "a.txt"}',
    ]
    for text in texts:
        assert repair_json(text).value["content"] == content, text
    cut = repair_json('{"content": "trailing  \\n  ')
    assert cut.value == {"content": "trailing  \n  "}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "Sorry, I can't help with that.",
        "{{ name }}",
        "The answer is 42.",
        "[see below]",
        "{name}",
    ],
)
def test_nothing_recoverable_raises_a_typed_error(text: str) -> None:
    with pytest.raises(RepairError) as info:
        repair_json(text)
    assert isinstance(info.value, UnparseableOutputError)
    assert isinstance(info.value, ExtractKitError)
    assert info.value.raw == text
    assert info.value.position is not None


def test_misuse_raises_user_error() -> None:
    with pytest.raises(UserError):
        repair_json(b'{"a": 1}')  # type: ignore[arg-type]
    with pytest.raises(UserError):
        repair_json("{'a': 1}", schema=object())


def test_prose_brackets_are_never_spliced_into_the_value() -> None:
    text = 'Based on [the message] I found {two} places:\n{"a": [1, 2]}\nSee [1] and {notes}.'
    r = repair_json(text)
    assert r.value == {"a": [1, 2]}
    assert r.actions == ("extracted_json_span",)
    unclosed = repair_json('{"a": [1, 2\n\nHope this helps!')
    assert unclosed.value == {"a": [1, 2]}
    assert not unclosed.truncated
    assert "closed_unclosed_container" in unclosed.actions


def test_a_close_inside_a_comment_is_not_a_close() -> None:
    r = repair_json('{"a": 1, /* } */ "b": [2, // ]\n 3]}')
    assert r.value == {"a": 1, "b": [2, 3]}
    assert r.actions == ("removed_comment",)


def test_code_fence_ends_a_value_that_ran_past_it() -> None:
    r = repair_json('```json\n{"a": "x\n```\nThat is all.')
    assert r.value == {"a": "x"}
    assert not r.truncated
    assert "stripped_code_fence" in r.actions
    inner = {"code": "```py\nprint(1)\n```"}
    assert repair_json("```json\n" + json.dumps(inner) + "\n```").value == inner


def test_several_values_all_or_an_error() -> None:
    text = '{"a": 1}\n{"a": 2}\n'
    # Which of two different values is the answer? Nothing says: an error, not the first.
    with pytest.raises(RepairError) as caught:
        repair_json(text)
    assert caught.value.reason == "several_values"
    same = repair_json('{"a": 1}\n{"a": 1}\n')
    assert same.value == {"a": 1}
    assert same.actions == ("dropped_extra_values",)
    assert repair_json(text, multiple=True).value == [{"a": 1}, {"a": 2}]
    assert repair_json('{"a": 1}', multiple=True).value == [{"a": 1}]
    cut = repair_json('{"a": 1} {"b": [2', multiple=True)
    assert cut.value == [{"a": 1}, {"b": [2]}]
    assert cut.truncated and (1, "b") in cut.cut_paths


def test_literals_and_numbers() -> None:
    r = repair_json("{'a': None, 'b': True, c: False, 'd': undefined, 'e': +1, 'f': .5, 'g': NaN,}")
    assert {k: v for k, v in r.value.items() if k != "g"} == {
        "a": None, "b": True, "c": False, "d": None, "e": 1, "f": 0.5,
    }  # fmt: skip
    assert math.isnan(r.value["g"])
    assert {"converted_python_literal", "normalized_number", "removed_trailing_comma"} <= set(r.actions)


def test_doubled_braces_and_inner_quotes() -> None:
    assert repair_json('{{"a": {{"b": 1}}}}').value == {"a": {"b": 1}}
    assert repair_json('{"q": "he said "hi" to me", "n": 1}').value == {"q": 'he said "hi" to me', "n": 1}
    assert repair_json('{"a": "hello, "b": 2}').value == {"a": "hello", "b": 2}


def test_deep_nesting_is_no_problem() -> None:
    r = repair_json("[" * 3000 + "1")
    depth = 0
    value = r.value
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    assert depth == 3000 and value == 1
    assert r.truncated


def test_result_is_a_frozen_dataclass() -> None:
    r = repair_json('{"a": 1,}')
    assert isinstance(r, RepairResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.value = 2  # type: ignore[misc]
    assert RepairResult(1).repaired is False
    assert set(r.actions) <= set(ACTIONS)


def test_streaming_partial_values() -> None:
    parser = StreamingParser(Locations)
    assert parser.feed("Sure! Here it is: ") is None
    assert parser.feed('{"locations": [{"city": "Pa') == {"locations": [{"city": "Pa"}]}
    assert parser.feed('ris"}], "country"') == {"locations": [{"city": "Paris"}]}
    assert parser.feed(': "France"}') == PARIS
    final = parser.finish()
    assert final.value == PARIS
    assert final.actions == ("extracted_json_span", "reopened_object_closed_early")


def test_streaming_keeps_a_live_value_that_only_grows() -> None:
    text = json.dumps({"items": [{"id": i, "text": "x" * 50} for i in range(40)]})
    parser = StreamingParser()
    seen = []
    for start in range(0, len(text), 16):
        value = parser.feed(text[start : start + 16])
        seen.append(len(value["items"]) if value else 0)
    assert seen == sorted(seen)
    assert parser.finish().value == json.loads(text)


def test_streaming_one_long_string_stays_linear_and_close_behind() -> None:
    content = "lorem ipsum " * 4000
    text = json.dumps({"content": content})
    parser = StreamingParser()
    received = 0
    for start in range(0, len(text), 16):
        received = min(len(text), start + 16)
        shown = parser.feed(text[start : start + 16])
        if shown and "content" in shown:
            partial = shown["content"]
            assert content.startswith(partial)
            written = max(0, received - len('{"content": "'))
            # Long strings are re-shown in steps of a sixteenth of their length.
            assert len(partial) >= min(written, len(content)) * 15 // 16 - 16
    assert parser.finish().value == {"content": content}


def test_an_apostrophe_inside_a_double_quoted_key_does_not_close_it() -> None:
    from extractkit.repair import repair_json

    result = repair_json('{"a": "x", "it\'s": 1, "b": [1, 2')
    assert result.value == {"a": "x", "it's": 1, "b": [1, 2]}
