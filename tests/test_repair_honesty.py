"""Repair is exact or it says so: the examples of issue 10, the API for "cannot", the extractor.

Every example the issue lists (each returned a plausible wrong value with
``truncated=False`` before) either comes back as what the text meant, with a named
action, or raises ``RepairError`` with a stable ``reason``. The extraction loop never
validates such a value as data: a ``RepairError`` is re-asked.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from extractkit import Extractor, LocationExtractor, TruncatedOutputError, UnparseableOutputError
from extractkit.exceptions import RepairError
from extractkit.exceptions import UnparseableOutputError as Unparseable
from extractkit.messages import ChatRequest, ChatResponse, Usage
from extractkit.repair import ACTIONS, REASONS, StreamingParser, repair_json
from extractkit.testing import FakeBackend


def reply(text: str) -> ChatResponse:
    return ChatResponse(text=text, finish_reason="stop", usage=Usage(10, 10))


def refusal(text: str, schema: Any = None) -> RepairError:
    with pytest.raises(RepairError) as caught:
        repair_json(text, schema)
    assert caught.value.reason in REASONS
    assert caught.value.raw == text
    return caught.value


# ---------------------------------------------------------------- the examples, one by one


@pytest.mark.parametrize(
    ("text", "value", "action"),
    [
        (
            '{"here": "now", "key": 1/3, "foo": "bar"}',
            {"here": "now", "key": "1/3", "foo": "bar"},
            "quoted_bare_value",
        ),
        (
            '{"id": 550e8400-e29b-41d4-a716-446655440000, "name": "x"}',
            {"id": "550e8400-e29b-41d4-a716-446655440000", "name": "x"},
            "quoted_bare_value",
        ),
        ('{"range": 10-20, "n": 1}', {"range": "10-20", "n": 1}, "quoted_bare_value"),
        ('{"value": 82_461_110}', {"value": 82461110}, "normalized_number"),
        ("[1, 2, ... , 3]", [1, 2, 3], "removed_ellipsis"),
        (
            '{"value_1": true, COMMENT "value_2": "data"}',
            {"value_1": True, "value_2": "data"},
            "removed_stray_word",
        ),
        ('{"key": "value", 5: "value"}', {"key": "value", "5": "value"}, "quoted_unquoted_key"),
        ('["a" "b" "c"]', ["a", "b", "c"], "inserted_missing_comma"),
        ('{"a": [1, 2, 3, "b": 4}', {"a": [1, 2, 3], "b": 4}, "inserted_missing_close"),
        ('{"tags": ["a", "b",,], "n": 2,}', {"tags": ["a", "b"], "n": 2}, "removed_extra_comma"),
        ('[{"key":"value"}},{"key":"value"}]', [{"key": "value"}, {"key": "value"}], "removed_extra_close"),
        ("{'key1', 'key2'}", ["key1", "key2"], "converted_tuple_or_set"),
        ("{'coords': (1.5, 2.5)}", {"coords": [1.5, 2.5]}, "converted_tuple_or_set"),
        ('{"a": TRUE, "b": FALSE, "c": Null}', {"a": True, "b": False, "c": None}, "normalized_literal_case"),
        ('{"a": "x", # a comment\n "b": 2}', {"a": "x", "b": 2}, "removed_comment"),
        ('{"color": #ff0000, "n": 1}', {"color": "#ff0000", "n": 1}, "quoted_bare_value"),
        (
            '"name": "get_weather", "arguments": {"city": "Paris"}}',
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            "inserted_missing_open_brace",
        ),
    ],
)
def test_each_example_is_read_as_meant_with_its_action(text: str, value: Any, action: str) -> None:
    result = repair_json(text)
    assert result.value == value
    assert action in result.actions and set(result.actions) <= set(ACTIONS)
    assert not result.truncated
    # The streaming parser reads the same.
    parser = StreamingParser()
    for start in range(0, len(text), 3):
        parser.feed(text[start : start + 3])
    assert parser.finish() == result


def test_a_number_like_word_is_a_string_only_where_a_string_may_stand() -> None:
    class Score(BaseModel):
        score: float
        note: str

    assert repair_json('{"score": 1.5, "note": 1/3}', Score).value == {"score": 1.5, "note": "1/3"}
    # The schema wants a number there: "1/3" is not one, and 1 would be a guess.
    assert refusal('{"score": 1/3, "note": "x"}', Score).reason == "unplaceable_token"


@pytest.mark.parametrize(
    ("text", "value", "action"),
    [
        # The comment sits between a string and its comma: it used to join the string.
        ('{"a": "x" # a note\n, "b": "y"}', {"a": "x", "b": "y"}, "removed_comment"),
        ('{"a": "x" # a note\n "b": "y"}', {"a": "x", "b": "y"}, "removed_comment"),
        (
            '{\n  "name": "x", # the name\n  "tags": ["a", "b"] # tags\n}',
            {"name": "x", "tags": ["a", "b"]},
            "removed_comment",
        ),
        ("[TRUE, FALSE, Null, NULL]", [True, False, None, None], "normalized_literal_case"),
        ('(1, "a", None)', [1, "a", None], "converted_tuple_or_set"),
        ("[1, 2, \u2026, 3]", [1, 2, 3], "removed_ellipsis"),
        ('{"a": 1, ..., "b": 2}', {"a": 1, "b": 2}, "removed_ellipsis"),
        ('{"d": 2024-01-15, "n": 1}', {"d": "2024-01-15", "n": 1}, "quoted_bare_value"),
        ('{"key": "value", 5: "value", 6: 7}', {"key": "value", "5": "value", "6": 7}, "quoted_unquoted_key"),
        ('["a" "b", "c" "d"]', ["a", "b", "c", "d"], "inserted_missing_comma"),
        ('[{"a": 1}}, {"b": 2}}]', [{"a": 1}, {"b": 2}], "removed_extra_close"),
        ('{"a": [{"x": 1}, "b": 4, "c": 5}', {"a": [{"x": 1}], "b": 4, "c": 5}, "inserted_missing_close"),
    ],
)
def test_variants_of_the_examples_are_read_as_meant(text: str, value: Any, action: str) -> None:
    result = repair_json(text)
    assert (result.value, result.truncated) == (value, False)
    assert action in result.actions


def test_a_number_like_word_where_the_schema_wants_a_number_is_refused_not_cut() -> None:
    class Record(BaseModel):
        id: int
        name: str

    class Span(BaseModel):
        range: int
        n: int

    class Count(BaseModel):
        value: int

    uuid = '{"id": 550e8400-e29b-41d4-a716-446655440000, "name": "x"}'
    assert refusal(uuid, Record).reason == "unplaceable_token"  # never {"id": inf} or 550
    assert refusal('{"range": 10-20, "n": 1}', Span).reason == "unplaceable_token"
    # Digit groups are a number: the schema that wants one gets it whole.
    assert repair_json('{"value": 82_461_110}', Count).value == {"value": 82461110}


def test_two_top_level_values_are_an_error_without_a_schema_and_chosen_with_one() -> None:
    class Weather(BaseModel):
        city: str
        days: int

    for text in (
        '{"city": "Paris", "days": 2} {"query": "x"}',
        'Example: {"query": "x"}. Answer: {"city": "Paris", "days": 2}',
    ):
        assert refusal(text).reason == "several_values"
        chosen = repair_json(text, Weather)
        assert chosen.value == {"city": "Paris", "days": 2}
        assert "chose_value_by_schema" in chosen.actions
    # Equal values lose nothing: one is the answer.
    assert repair_json('{"a": 1}\n{"a": 1}').value == {"a": 1}
    # A schema whose root is a list takes values in a row as its elements.
    rows = repair_json('{"city": "Paris", "days": 2}\n{"city": "Rome", "days": 1}', list[Weather])
    assert rows.value == [{"city": "Paris", "days": 2}, {"city": "Rome", "days": 1}]
    # And multiple=True returns them all, as before.
    assert repair_json('{"a": 1} {"b": 2}', multiple=True).value == [{"a": 1}, {"b": 2}]


def test_missing_root_brace_with_a_schema_gives_the_whole_object() -> None:
    class ToolCall(BaseModel):
        name: str
        arguments: dict[str, Any]

    text = '"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}'
    result = repair_json(text, ToolCall)
    assert result.value == {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}
    assert "inserted_missing_open_brace" in result.actions


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": 1, "b": 2 3, "c": 4}', "unplaceable_token"),  # 3 belongs nowhere; the JSON goes on
        ('{"a": {"x": 1}, "y": 2}}', "ambiguous_close"),  # did "a" close early, or is "}" extra?
        ('{"a": 1, "b"}', "missing_value"),
        ('{"key": , "key2": "value2"}', "missing_value"),
        ('{"a": 1 "a": 2}', "duplicate_key"),
        ('{"key": ""value"}', "ambiguous_quote"),
        ('{"a": 1} {"b": 2}', "several_values"),
        ("", "empty"),
        ("Sorry, I can't help with that.", "no_json"),
    ],
)
def test_what_cannot_be_read_as_meant_is_refused_with_a_reason(text: str, reason: str) -> None:
    error = refusal(text)
    assert error.reason == reason
    assert isinstance(error, Unparseable)
    assert "re-ask" in str(error).lower() or reason in ("empty", "no_json")


def test_prose_after_a_value_left_open_is_still_closed() -> None:
    # Nothing after the stop closes a bracket or starts a key: prose, so the value ended there.
    result = repair_json('{"a": 1, "b": [1, 2\n\nHope this helps (see [1]).')
    assert result.value == {"a": 1, "b": [1, 2]}
    assert "closed_unclosed_container" in result.actions and not result.truncated


def test_a_cut_answer_says_so() -> None:
    result = repair_json('{"locations": [{"city": "Paris"}, {"city": "Ro')
    assert result.truncated
    assert result.value == {"locations": [{"city": "Paris"}, {"city": "Ro"}]}
    assert ("locations", 1, "city") in result.cut_paths


def test_every_reason_is_documented() -> None:
    text = (__import__("pathlib").Path(__file__).parent.parent / "docs" / "repair.md").read_text(
        encoding="utf-8"
    )
    for reason in REASONS:
        assert f"`{reason}`" in text, reason
    for action in ACTIONS:
        assert f"`{action}`" in text, action


# ---------------------------------------------------------------- the extraction loop


class City(BaseModel):
    city: str
    country: str


class CityExtractor(Extractor[City]):
    output_type = City
    instructions = "Extract the city."


async def test_the_loop_re_asks_instead_of_validating_a_lossy_repair() -> None:
    answers = iter(['{"city": "Paris", "country": 1/3 "France"}', '{"city": "Paris", "country": "France"}'])
    fake = FakeBackend(lambda r: reply(next(answers)))
    detail = await CityExtractor(backend=fake).extract_detailed("x")
    assert detail.value == City(city="Paris", country="France")
    assert detail.attempts == 2
    # The re-ask tells the model what was wrong with its answer.
    second: ChatRequest = fake.requests[1]
    assert any("cannot be read" in (m.content or "") for m in second.messages)


async def test_a_lossy_answer_every_time_is_unparseable_not_a_value() -> None:
    fake = FakeBackend(lambda r: reply('{"city": "Paris" "Lyon", "country": "France"} extra }'))
    with pytest.raises(UnparseableOutputError):
        await CityExtractor(backend=fake, max_attempts=2).extract("x")
    assert len(fake.requests) == 2


async def test_an_array_cut_between_elements_is_truncation_but_an_object_goes_to_validation() -> None:
    fake = FakeBackend(lambda r: reply('{"locations": [{"city": "Paris", "country": "France"}, '))
    with pytest.raises(TruncatedOutputError):
        await LocationExtractor(backend=fake).extract("x")
    # An object whose last "}" is missing after complete members: validation decides.
    fake = FakeBackend(lambda r: reply('{"city": "Paris", "country": "France"'))
    assert await CityExtractor(backend=fake).extract("x") == City(city="Paris", country="France")


# ---------------------------------------------------------------- numbers in non-JSON forms


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1.e5}', {"a": 100000.0}),  # was 1: the cut-back for a cut number dropped "e5"
        ('{"a": -1.E-2, "b": 2}', {"a": -0.01, "b": 2}),
        ("[1., .5, +1, -.5, 1.e5]", [1, 0.5, 1, -0.5, 100000.0]),
    ],
)
def test_every_digit_of_a_number_in_a_non_json_form_counts(text: str, value: Any) -> None:
    result = repair_json(text)
    assert (result.value, result.truncated) == (value, False)
    assert "normalized_number" in result.actions


def test_a_number_with_a_leading_zero_where_only_a_string_may_stand_keeps_its_digits() -> None:
    class Address(BaseModel):
        zip: str
        floor: int

    result = repair_json('{"zip": 01101, "floor": 02}', Address)
    assert result.value == {"zip": "01101", "floor": 2}
    assert {"quoted_bare_value", "normalized_number"} <= set(result.actions)
