"""The extraction loop, driven through FakeBackend (a function plays the model)."""

from __future__ import annotations

import asyncio
import enum
import json
from typing import Any, ClassVar, Literal

import pytest
from pydantic import BaseModel

from extractkit import (
    Example,
    Extractor,
    InvalidOutputError,
    LocationExtractor,
    Locations,
    RateLimitError,
    RefusalError,
    ServerError,
    Settings,
    TruncatedOutputError,
    UnparseableOutputError,
    UserError,
)
from extractkit.exceptions import HTTPStatusError
from extractkit.messages import ChatRequest, ChatResponse, ToolCall, Usage
from extractkit.retries import RetryPolicy
from extractkit.testing import FakeBackend

NY = {"locations": [{"city": "New York", "country": "United States"}]}


def no_sleep_policy(waits: list[float], attempts: int = 4) -> RetryPolicy:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return RetryPolicy(max_attempts=attempts, sleep=sleep, jitter=False, initial_wait=0.5)


def reply(text: str, *, finish: str = "stop", prompt: int = 100, completion: int = 10) -> ChatResponse:
    return ChatResponse(text=text, finish_reason=finish, usage=Usage(prompt, completion))  # type: ignore[arg-type]


async def test_location_base_model_uses_full_prompt_and_strict_schema() -> None:
    fake = FakeBackend(lambda r: NY)
    ex = LocationExtractor(backend=fake)
    detail = await ex.extract_detailed("graphic designer in New York")
    assert detail.value == Locations.model_validate(NY)
    assert detail.value.locations[0].city == "New York"
    assert detail.attempts == 1 and detail.repairs == ()
    req = fake.requests[0]
    assert req.model == "gpt-4o-mini"
    assert req.response_format is not None and req.response_format.type == "json_schema"
    assert req.response_format.strict is True
    schema = req.response_format.schema
    assert schema is not None
    loc = schema["$defs"]["Location"]
    assert loc["additionalProperties"] is False and set(loc["required"]) == {"city", "country"}
    assert "Rules:" in (req.messages[0].content or "")
    assert req.messages[-1].content == "graphic designer in New York"
    assert detail.prompt_variant == "full" and detail.output_mode == "json_schema"


async def test_fine_tuned_model_gets_minimal_prompt_and_bare_output() -> None:
    fake = FakeBackend(lambda r: NY)
    ex = LocationExtractor("openai:ft:gpt-4o-mini-2024-07-18:acme::abc123", backend=fake)
    await ex.extract("graphic designer in New York")
    req = fake.requests[0]
    assert req.model == "ft:gpt-4o-mini-2024-07-18:acme::abc123"
    assert req.response_format is None and not req.tools
    assert req.messages[0].content == LocationExtractor.instructions
    assert len(req.messages) == 2


async def test_reask_replaces_the_failed_turn_and_sums_usage() -> None:
    answers = [
        reply('{"locations": [{"city": 5}]}'),
        reply('{"locations": "Paris"}'),
        reply(json.dumps(NY)),
    ]
    fake = FakeBackend(answers)
    ex = LocationExtractor(backend=fake)
    detail = await ex.extract_detailed("designer in New York")
    assert detail.attempts == 3
    assert detail.usage == Usage(300, 30)
    first, second, third = fake.requests
    assert len(first.messages) == 2
    # Bounded context: each re-ask is the base conversation plus only the latest failed turn.
    assert len(second.messages) == len(third.messages) == 4
    assert second.messages[2].content == '{"locations": [{"city": 5}]}'
    assert "locations[0].city" in (second.messages[3].content or "")
    assert third.messages[2].content == '{"locations": "Paris"}'
    assert "locations" in (third.messages[3].content or "")


async def test_invalid_after_all_attempts_is_a_typed_error_with_usage() -> None:
    fake = FakeBackend(lambda r: reply('{"locations": [{"city": 5}]}'))
    ex = LocationExtractor(backend=fake, max_attempts=2)
    with pytest.raises(InvalidOutputError) as info:
        await ex.extract("x")
    err = info.value
    assert err.attempts == 2 and len(fake.requests) == 2
    assert err.usage == Usage(200, 20)
    assert err.raw == '{"locations": [{"city": 5}]}'
    assert any("locations[0].city" in e for e in err.errors)
    assert "max_attempts" in str(err)


async def test_prose_without_json_is_unparseable_after_reasking() -> None:
    fake = FakeBackend(lambda r: reply("Sorry, I cannot tell where that is."))
    ex = LocationExtractor(backend=fake, max_attempts=2)
    with pytest.raises(UnparseableOutputError) as info:
        await ex.extract("x")
    assert info.value.attempts == 2
    assert "not valid JSON" in (fake.requests[1].messages[-1].content or "")


async def test_truncation_is_never_reasked() -> None:
    fake = FakeBackend(lambda r: reply('{"locations": [{"city": "New Yo', finish="length"))
    ex = LocationExtractor(backend=fake, max_tokens=12)
    with pytest.raises(TruncatedOutputError) as info:
        await ex.extract("x")
    assert len(fake.requests) == 1
    assert info.value.usage == Usage(100, 10)
    assert "max_tokens" in str(info.value)


async def test_refusal_is_a_typed_outcome() -> None:
    fake = FakeBackend(lambda r: ChatResponse(text=None, refusal="I can't help with that", usage=Usage(5, 1)))
    with pytest.raises(RefusalError, match="can't help"):
        await LocationExtractor(backend=fake).extract("x")
    assert len(fake.requests) == 1


async def test_transport_retries_honour_retry_after_and_never_leak_tenacity() -> None:
    waits: list[float] = []
    script: list[object] = [RateLimitError("429", retry_after=3.0), ServerError("500"), NY]
    fake = FakeBackend(script)  # type: ignore[arg-type]
    ex = LocationExtractor(backend=fake, retry=no_sleep_policy(waits))
    assert (await ex.extract("x")).locations[0].city == "New York"
    assert waits == [3.0, 1.0]  # Retry-After honoured; then exponential backoff (0.5 * 2)

    waits.clear()
    always = FakeBackend(lambda r: RateLimitError("429", retry_after=0.1))
    with pytest.raises(RateLimitError):
        await LocationExtractor(backend=always, retry=no_sleep_policy(waits, attempts=3)).extract("x")
    assert len(always.requests) == 3 and waits == [0.1, 0.1]


async def test_non_retryable_http_error_fails_at_once() -> None:
    waits: list[float] = []
    fake = FakeBackend(lambda r: HTTPStatusError("400 bad request", status_code=400))
    with pytest.raises(HTTPStatusError):
        await LocationExtractor(backend=fake, retry=no_sleep_policy(waits)).extract("x")
    assert len(fake.requests) == 1 and waits == []


async def test_retry_after_beyond_the_cap_fails_fast() -> None:
    waits: list[float] = []
    fake = FakeBackend(lambda r: RateLimitError("429", retry_after=3600))
    with pytest.raises(RateLimitError) as info:
        await LocationExtractor(backend=fake, retry=no_sleep_policy(waits)).extract("x")
    assert info.value.retry_after == 3600 and len(fake.requests) == 1


async def test_extract_many_keeps_order_bounds_concurrency_and_returns_errors() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: ChatRequest) -> object:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (hash(request.messages[-1].content) % 5))
        in_flight -= 1
        text = request.messages[-1].content or ""
        if text.startswith("bad"):
            return {"locations": "nope"}
        return {"locations": [{"city": text, "country": None}]}

    progress: list[tuple[int, int]] = []
    ex = LocationExtractor(backend=FakeBackend(handler), max_attempts=1)
    inputs = [f"city{i}" if i % 7 else f"bad{i}" for i in range(40)]
    results = await ex.extract_many(
        inputs, concurrency=5, on_progress=lambda d, t, r: progress.append((d, t))
    )
    assert [r.input for r in results] == inputs
    assert peak <= 5
    for i, r in enumerate(results):
        if i % 7:
            assert r.ok and r.value.locations[0].city == f"city{i}"
        else:
            assert not r.ok and isinstance(r.error, InvalidOutputError)
            with pytest.raises(InvalidOutputError):
                _ = r.value
    assert progress[-1] == (40, 40) and len(progress) == 40


def test_sync_wrappers_work_repeatedly() -> None:
    ex = LocationExtractor(backend=FakeBackend(lambda r: NY))
    assert ex.extract_sync("a").locations[0].country == "United States"
    assert ex.extract_sync("b").locations[0].country == "United States"
    results = ex.extract_many_sync(["a", "b", "c"])
    assert [r.ok for r in results] == [True, True, True]


async def test_model_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeBackend(lambda r: NY)
    settings = Settings.from_mapping({"extractors": {"location": {"model": "openai:gpt-4.1-mini"}}})
    # The class default needs its key; without one LocationExtractor goes offline (test_embedded_default).
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert LocationExtractor(settings=Settings()).resolve_model().model == "gpt-4o-mini"  # class default
    assert LocationExtractor(settings=settings).resolve_model().model == "gpt-4.1-mini"  # config
    with LocationExtractor.override(model="openai:gpt-4o", backend=fake):
        ex = LocationExtractor(settings=settings)
        assert ex.resolve_model().model == "gpt-4o"  # override beats config
        assert LocationExtractor("openai:gpt-4.1", settings=settings).resolve_model().model == "gpt-4.1"
        await ex.extract("x")
    assert fake.requests[0].model == "gpt-4o"
    assert LocationExtractor(settings=settings).resolve_model().model == "gpt-4.1-mini"  # override ended
    env = Settings.from_mapping(
        {"extractors": {"location": {"model": "openai:gpt-4.1-mini"}}},
        env={"EXTRACTKIT_LOCATION_MODEL": "openai:ft:gpt-4o-mini:acme::x1"},
    )
    assert LocationExtractor(settings=env).resolve_model().model == "ft:gpt-4o-mini:acme::x1"


async def test_config_overrides_prompt_variant_and_output_mode() -> None:
    settings = Settings.from_mapping(
        {"extractors": {"location": {"prompt_variant": "minimal", "output_mode": "tools", "max_attempts": 1}}}
    )
    args = json.dumps(NY)
    fake = FakeBackend(
        lambda r: ChatResponse(text=None, tool_calls=(ToolCall("c1", "Locations", args),), usage=Usage(1, 1))
    )
    detail = await LocationExtractor(backend=fake, settings=settings).extract_detailed("x")
    req = fake.requests[0]
    assert req.tools[0].name == "Locations" and req.tool_choice == "Locations"
    assert req.messages[0].content == LocationExtractor.instructions
    assert detail.output_mode == "tools" and detail.value.locations[0].city == "New York"


async def test_tools_mode_reask_answers_the_tool_call() -> None:
    answers = iter(['{"locations": 3}', json.dumps(NY)])
    fake = FakeBackend(
        lambda r: ChatResponse(text=None, tool_calls=(ToolCall("c1", "Locations", next(answers)),))
    )
    await LocationExtractor(backend=fake, output_mode="tools").extract("x")
    second = fake.requests[1].messages
    assert second[-2].role == "assistant" and second[-2].tool_calls[0].id == "c1"
    assert second[-1].role == "tool" and second[-1].tool_call_id == "c1"


class Sentiment(enum.Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


class SentimentExtractor(Extractor[Literal["positive", "negative", "neutral"]]):
    instructions = "Classify the sentiment."
    examples = (Example("great!", "positive"),)


class Attributes(BaseModel):
    job_titles: list[str]
    skills: list[str]
    locations: list[str]


class SearchAttributes(Extractor[Attributes]):
    instructions = "Extract job titles, skills and locations from the search query as JSON."


async def test_user_defined_extractors_wrap_non_object_outputs() -> None:
    assert SentimentExtractor.name == "sentiment" and SearchAttributes.name == "search_attributes"
    fake = FakeBackend(lambda r: {"answer": "positive"})
    ex = SentimentExtractor(backend=fake)
    assert await ex.extract("I love it") == "positive"
    fmt = fake.requests[0].response_format
    assert fmt is not None and fmt.schema is not None and fmt.schema["required"] == ["answer"]
    assert 'Output: {"answer":"positive"}' in (fake.requests[0].messages[0].content or "")
    # A model that drops the wrapper is still understood; an answer outside the Literal is not.
    assert await SentimentExtractor(backend=FakeBackend(lambda r: '"negative"')).extract("meh") == "negative"
    with pytest.raises(InvalidOutputError):
        await SentimentExtractor(backend=FakeBackend(lambda r: {"answer": "happy"}), max_attempts=1).extract(
            "x"
        )

    attrs = {"job_titles": ["data engineer"], "skills": ["python"], "locations": ["Berlin"]}
    got = await SearchAttributes(backend=FakeBackend(lambda r: attrs)).extract("python data engineer berlin")
    assert got == Attributes(**attrs)


async def test_raw_json_schema_output_type_is_validated_with_jsonschema() -> None:
    class Raw(Extractor[dict]):  # type: ignore[type-arg]
        output_type: ClassVar[Any] = {
            "type": "object",
            "properties": {"total": {"type": "number"}},
            "required": ["total"],
            "additionalProperties": False,
        }
        instructions = "Extract the invoice total."

    assert await Raw(backend=FakeBackend(lambda r: {"total": 12.5})).extract("x") == {"total": 12.5}
    with pytest.raises(InvalidOutputError, match="total"):
        await Raw(backend=FakeBackend(lambda r: {"total": "12"}), max_attempts=1).extract("x")


def test_misdefined_extractors_are_clear_user_errors() -> None:
    class NoType(Extractor):  # type: ignore[type-arg]
        instructions = "x"

    class NoInstructions(Extractor[Attributes]):
        pass

    with pytest.raises(UserError, match="no output type"):
        NoType()
    with pytest.raises(UserError, match="instructions is empty"):
        NoInstructions()
    with pytest.raises(UserError, match="output_mode"):
        LocationExtractor(output_mode="xml")
    with pytest.raises(UserError, match="str"):
        LocationExtractor(backend=FakeBackend(lambda r: NY)).extract_sync(42)  # type: ignore[arg-type]


async def test_answer_ending_inside_a_value_is_truncation_not_data() -> None:
    # finish_reason "stop" but the JSON stops mid-string: "New Yo" must never be returned as a city.
    fake = FakeBackend(lambda r: reply('{"locations": [{"city": "New Yo'))
    with pytest.raises(TruncatedOutputError) as info:
        await LocationExtractor(backend=fake).extract("x")
    assert len(fake.requests) == 1
    assert "locations.0.city" in str(info.value)
    assert info.value.partial == {"locations": [{"city": "New Yo"}]}


async def test_an_array_left_open_at_the_end_is_truncation_not_data() -> None:
    # The answer stops after a complete element: whether more locations were coming, the text
    # does not say, and validation cannot tell a short list from a whole one. (This used to be
    # accepted as the whole answer: a cut container returned as data.)
    fake = FakeBackend(lambda r: reply('{"locations": [{"city": "Paris", "country": "France"}'))
    with pytest.raises(TruncatedOutputError) as info:
        await LocationExtractor(backend=fake).extract("x")
    assert "locations" in str(info.value)
    assert info.value.partial == {"locations": [{"city": "Paris", "country": "France"}]}
