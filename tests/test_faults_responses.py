"""Malformed 200 answers from a raw-socket server, read through the official ``openai`` client.

What the API may legally send is read (content as a list of parts, custom and
legacy function calls, usage without details); everything else is a typed
``MalformedResponseError`` naming the field, after exactly one request: never a
raw ``AttributeError``/``TypeError``, never a guessed value. A property test
then breaks random fields of a valid completion in random ways.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractkit import (
    LocationExtractor,
    MalformedResponseError,
    RefusalError,
    Settings,
    Usage,
)
from extractkit.backends.reader import response_from_json
from extractkit.retries import RetryPolicy
from extractkit.testing.faults import DELETE, Fault, FaultServer, completion, with_field

NY = {"locations": [{"city": "New York", "country": "United States"}]}
TEXT = json.dumps(NY)
VALID = completion(TEXT)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def extractor(srv: FaultServer, **kwargs: Any) -> LocationExtractor:
    async def sleep(seconds: float) -> None:
        pass

    settings = Settings.from_mapping({"backends": {"openai": {"base_url": srv.base_url, "timeout": 5}}})
    return LocationExtractor(settings=settings, retry=RetryPolicy(max_attempts=3, sleep=sleep), **kwargs)


MALFORMED = [
    ("choices.0.message", "hello", "choices[0].message"),
    ("choices.0.message", DELETE, "choices[0].message"),
    ("choices.0.message.content", 42, "choices[0].message.content"),
    ("choices.0.message.content", {"text": TEXT}, "choices[0].message.content"),
    ("choices.0.message.content", True, "choices[0].message.content"),
    ("choices.0.message.content", [TEXT], "choices[0].message.content[0]"),
    ("choices.0.message.content", [{"type": "text", "text": 7}], "choices[0].message.content[0].text"),
    ("choices.0.message.content", [{"type": "image_url"}], "choices[0].message.content[0].type"),
    ("choices.0.message.refusal", 5, "choices[0].message.refusal"),
    ("choices.0.message.tool_calls", {"id": "c"}, "choices[0].message.tool_calls"),
    ("choices.0.message.tool_calls", ["call"], "choices[0].message.tool_calls[0]"),
    ("choices.0.finish_reason", 7, "choices[0].finish_reason"),
    ("choices.0", "x", "choices[0]"),
    ("choices", DELETE, "choices"),
    ("choices", [], "choices"),
    ("choices", {"0": {}}, "choices"),
    ("usage", "18 tokens", "usage"),
    ("usage.prompt_tokens", "12", "usage.prompt_tokens"),
    ("usage.completion_tokens", -1, "usage.completion_tokens"),
    ("usage.completion_tokens", 2.5, "usage.completion_tokens"),
    ("usage.prompt_tokens", True, "usage.prompt_tokens"),
    ("usage.prompt_tokens_details", [], "usage.prompt_tokens_details"),
    ("model", 4, "model"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), MALFORMED, ids=[f"{p}={v!r}"[:60] for p, v, _ in MALFORMED]
)
async def test_a_malformed_completion_is_a_typed_error_naming_the_field(
    server: FaultServer, path: str, value: Any, field: str
) -> None:
    server.enqueue(Fault.json(with_field(VALID, path, value)))
    with pytest.raises(MalformedResponseError) as info:
        await extractor(server).extract("graphic designer in New York")
    assert info.value.field == field
    assert field in str(info.value) and "the API sends" in str(info.value)
    assert info.value.__cause__ is None or not isinstance(info.value.__cause__, AttributeError | TypeError)
    assert len(server.requests) == 1  # not retried: a malformed body comes back the same way


TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "locations", "arguments": TEXT}}


async def test_tool_call_arguments_as_an_object_are_a_typed_error(server: FaultServer) -> None:
    call = {**TOOL_CALL, "function": {"name": "locations", "arguments": NY}}
    server.enqueue(Fault.json(completion(None, tool_calls=[call], finish_reason="tool_calls")))
    with pytest.raises(MalformedResponseError) as info:
        await extractor(server, output_mode="tools").extract("x")
    assert info.value.field == "choices[0].message.tool_calls[0].function.arguments"
    assert "an object" in str(info.value) and "JSON string" in str(info.value)


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        ("<html><body>Sign in</body></html>", "text/html", "content-type"),
        ('data: {"choices": []}\n\n', "text/event-stream", "content-type"),
        ("<html>bad gateway</html>", "application/json", "body"),
        ("", "application/json", "body"),
        ("[1, 2]", "application/json", "body"),
        ("null", "application/json", "body"),
        (b"\xff\xfe{", "application/json", "body"),
    ],
    ids=["html", "sse", "not-json", "empty", "a-list", "null", "not-utf8"],
)
async def test_a_body_that_is_not_a_completion_names_what_it_is(
    server: FaultServer, body: str | bytes, content_type: str, field: str
) -> None:
    server.enqueue(Fault.raw(body, content_type=content_type))
    with pytest.raises(MalformedResponseError) as info:
        await extractor(server).extract("x")
    assert info.value.field == field and info.value.status_code == 200
    if field == "content-type":
        assert repr(content_type) in str(info.value)
    assert len(server.requests) == 1


# ---------------------------------------------------------------------------- legal shapes are read


async def test_content_as_a_list_of_text_parts_is_joined(server: FaultServer) -> None:
    half = len(TEXT) // 2
    parts = [{"type": "text", "text": TEXT[:half]}, {"type": "text", "text": TEXT[half:]}]
    server.enqueue(Fault.json(with_field(VALID, "choices.0.message.content", parts)))
    value = await extractor(server).extract("x")
    assert value.locations[0].city == "New York"


async def test_reasoning_parts_are_not_the_answer(server: FaultServer) -> None:
    parts = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "{not json"}]},
        {"type": "text", "text": TEXT},
    ]
    server.enqueue(Fault.json(with_field(VALID, "choices.0.message.content", parts)))
    assert (await extractor(server).extract("x")).locations[0].country == "United States"


async def test_a_refusal_part_is_a_refusal(server: FaultServer) -> None:
    parts = [{"type": "refusal", "refusal": "I can't help with that."}]
    server.enqueue(Fault.json(with_field(VALID, "choices.0.message.content", parts)))
    with pytest.raises(RefusalError, match="can't help"):
        await extractor(server).extract("x")


async def test_no_content_type_with_a_json_body_is_read(server: FaultServer) -> None:
    server.enqueue(Fault.json(VALID, content_type=None))
    assert (await extractor(server).extract("x")).locations[0].city == "New York"


async def test_custom_and_legacy_function_calls_are_read(server: FaultServer) -> None:
    custom = {"id": "c1", "type": "custom", "custom": {"name": "locations", "input": TEXT}}
    legacy = with_field(completion(None, finish_reason="function_call"), "choices.0.message.function_call",
                        {"name": "locations", "arguments": TEXT})  # fmt: skip
    server.enqueue(
        Fault.json(completion(None, tool_calls=[custom], finish_reason="tool_calls")), Fault.json(legacy)
    )
    ex = extractor(server, output_mode="tools")
    assert (await ex.extract("x")).locations[0].city == "New York"
    assert (await ex.extract("y")).locations[0].city == "New York"


def test_usage_without_details_and_null_fields_are_read() -> None:
    body = with_field(
        VALID, "usage", {"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": None}
    )
    body = with_field(body, "choices.0.finish_reason", None)
    response = response_from_json(with_field(body, "model", None))
    assert response.usage == Usage(12, 3, 0) and response.finish_reason == "other" and response.model is None
    assert response_from_json(with_field(VALID, "usage", None)).usage is None


# ---------------------------------------------------------------------------- breaking fields at random

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    # Tuples, not dotted strings: drawn keys may contain dots.
    out = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        path = (*prefix, key)
        out.append(path)
        out.extend(_paths(child, path))
    return out


BODIES = [VALID, completion(None, tool_calls=[TOOL_CALL], finish_reason="tool_calls")]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_broken_field_reads_or_is_a_typed_error(data: st.DataObject) -> None:
    body = data.draw(st.sampled_from(BODIES))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(body)))
        value = data.draw(st.just(DELETE) | json_values)
        body = with_field(body, path, value)
    try:
        response = response_from_json(body)
    except MalformedResponseError as exc:
        assert exc.field and exc.field in str(exc)
        return
    # Whatever was read is of the promised types: no odd value slips through.
    assert response.text is None or isinstance(response.text, str)
    assert response.refusal is None or isinstance(response.refusal, str)
    assert all(isinstance(c.arguments, str) and isinstance(c.name, str) for c in response.tool_calls)
    if response.usage is not None:
        assert all(
            type(n) is int and n >= 0
            for n in (response.usage.prompt_tokens, response.usage.completion_tokens)
        )
