"""The OpenAI backend end to end: official ``openai`` client → real HTTP server on 127.0.0.1.

Every request body is checked against the official OpenAPI spec (bundled from
../shared/openai-openapi) by the server itself; a spec error answers 400 and is
kept in ``srv.spec_errors``. Waits between retries are injected, so nothing
sleeps for real except the one timeout test (0.2 s budgets).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from extractkit import (
    AuthenticationError,
    BackendConnectionError,
    BackendTimeoutError,
    ConfigError,
    IntentRouter,
    InvalidOutputError,
    LocationExtractor,
    RealRequestBlockedError,
    Settings,
    TruncatedOutputError,
    Usage,
)
from extractkit.backends.openai import OpenAIChatBackend
from extractkit.retries import RetryPolicy
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer

NY = {"locations": [{"city": "New York", "country": "United States"}]}
KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedChatServer]:
    monkeypatch.setenv("EXTRACTKIT_TEST_KEY", KEY)
    srv = ScriptedChatServer(validate=spec_validator, api_key=KEY)
    with srv:
        yield srv
    assert srv.spec_errors == [], srv.spec_errors  # every request matched the official spec


def settings_for(srv: ScriptedChatServer, **backend: object) -> Settings:
    return Settings.from_mapping(
        {
            "backends": {
                "openai": {"base_url": srv.base_url, "api_key_env": "EXTRACTKIT_TEST_KEY", **backend},
            }
        }
    )


def policy(waits: list[float], attempts: int = 4) -> RetryPolicy:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return RetryPolicy(max_attempts=attempts, sleep=sleep, jitter=False)


async def test_location_round_trip_with_strict_schema(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.json(NY, usage=Usage(321, 17)))
    ex = LocationExtractor(settings=settings_for(server))
    detail = await ex.extract_detailed("graphic designer in New York")
    assert detail.value.locations[0].city == "New York"
    assert detail.usage == Usage(321, 17)
    assert detail.cost is not None and detail.cost > 0
    body = server.requests[0].body
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_sync_calls_reuse_one_client(server: ScriptedChatServer) -> None:
    server.enqueue(*[Reply.json(NY) for _ in range(3)])
    ex = LocationExtractor(settings=settings_for(server))
    for _ in range(3):
        assert ex.extract_sync("designer in New York").locations[0].country == "United States"
    assert len(server.requests) == 3


async def test_429_with_retry_after_then_success(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.error(429, "slow down", retry_after=2), Reply.error(500), Reply.json(NY))
    waits: list[float] = []
    ex = LocationExtractor(settings=settings_for(server), retry=policy(waits))
    assert (await ex.extract("x")).locations[0].city == "New York"
    assert waits == [2.0, 1.0] and len(server.requests) == 3


async def test_timeouts_end_in_a_typed_error_within_a_bounded_time(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.slow(5, json.dumps(NY)), Reply.slow(5, json.dumps(NY)))
    waits: list[float] = []
    ex = LocationExtractor(
        settings=settings_for(server, timeout=0.2), retry=policy(waits, attempts=2), deadline=5
    )
    started = time.perf_counter()
    with pytest.raises(BackendTimeoutError, match=r"within the timeout of 0\.2 s") as info:
        await ex.extract("x")
    assert info.value.bound == "timeout" and info.value.seconds == 0.2
    assert time.perf_counter() - started < 2.0
    assert len(waits) == 1


async def test_dropped_connection_is_retried(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.drop_connection(), Reply.json(NY))
    waits: list[float] = []
    ex = LocationExtractor(settings=settings_for(server), retry=policy(waits))
    assert (await ex.extract("x")).locations[0].city == "New York"
    assert len(waits) == 1

    server.enqueue(Reply.drop_connection(), Reply.drop_connection())
    with pytest.raises(BackendConnectionError):
        await LocationExtractor(settings=settings_for(server), retry=policy([], attempts=2)).extract("x")


async def test_truncated_answer_is_a_typed_error_with_usage(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.text('{"locations": [{"city": "New Yo', finish_reason="length", usage=Usage(50, 8)))
    with pytest.raises(TruncatedOutputError) as info:
        await LocationExtractor(settings=settings_for(server), max_tokens=8).extract("x")
    assert info.value.usage == Usage(50, 8)
    assert server.requests[0].body["max_tokens"] == 8
    assert len(server.requests) == 1


async def test_malformed_and_prematurely_closed_json_is_repaired(server: ScriptedChatServer) -> None:
    server.enqueue(
        Reply.text('Sure! ```json\n{"locations": [{"city": "New York", "country": "United States",},]}\n```'),
        Reply.text('{"locations": [{"city": "Paris"}, "country": "France"}]}'),
    )
    ex = LocationExtractor(settings=settings_for(server))
    fenced = await ex.extract_detailed("x")
    assert fenced.value.locations[0].city == "New York" and fenced.repairs
    early = await ex.extract_detailed("y")
    assert [(loc.city, loc.country) for loc in early.value.locations] == [("Paris", "France")]
    assert early.attempts == 1 and early.repairs


async def test_router_answer_outside_routes_is_reasked(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.json({"route": "sick_leave"}), Reply.json({"route": "book_holiday"}))
    router = IntentRouter(
        {"book_holiday": "Book a day off", "get_payslip": "Get a payslip"},
        settings=settings_for(server),
        one_token=False,
    )
    assert await router.extract("I'm ill, book me a day off") == "book_holiday"
    second = server.requests[1].body["messages"]
    assert second[-2]["role"] == "assistant" and json.loads(second[-2]["content"]) == {"route": "sick_leave"}
    assert "route must be one of" in second[-1]["content"]

    server.enqueue(Reply.json({"route": "sick_leave"}), Reply.json({"route": "sick_leave"}))
    router2 = IntentRouter(
        {"book_holiday": "Book a day off", "get_payslip": "Get a payslip"},
        settings=settings_for(server),
        one_token=False,
        max_attempts=2,
    )
    with pytest.raises(InvalidOutputError):
        await router2.extract("I'm ill")


async def test_one_token_router_request_matches_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    def pick(req: RecordedRequest) -> Reply:
        system = req.body["messages"][0]["content"]
        number = next(line.split(".")[0] for line in system.splitlines() if line.endswith("Get a payslip"))
        return Reply.text(number, usage=Usage(80, 1))

    monkeypatch.setenv("EXTRACTKIT_TEST_KEY", KEY)
    with ScriptedChatServer(pick, validate=spec_validator, api_key=KEY) as srv:
        router = IntentRouter(
            {"book_holiday": "Book a day off", "get_payslip": "Get a payslip", "escalate": "Talk to HR"},
            settings=settings_for(srv),
            seed=4,
        )
        for _ in range(4):
            assert await router.extract("where is my payslip") == "get_payslip"
    assert srv.spec_errors == []
    body = srv.requests[0].body
    assert body["max_tokens"] == 1 and len(body["logit_bias"]) == 3
    assert "response_format" not in body


async def test_tools_mode_request_matches_the_spec(server: ScriptedChatServer) -> None:
    server.enqueue(Reply(tool_calls=[("Locations", NY)], finish_reason="tool_calls"))
    ex = LocationExtractor(settings=settings_for(server), output_mode="tools")
    assert (await ex.extract("x")).locations[0].city == "New York"
    body = server.requests[0].body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Locations"}}


async def test_auth_failure_is_not_retried_and_names_the_fix(
    server: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXTRACTKIT_TEST_KEY", "sk-wrong-key-000000")
    waits: list[float] = []
    with pytest.raises(AuthenticationError) as info:
        await LocationExtractor(settings=settings_for(server), retry=policy(waits)).extract("x")
    assert waits == [] and len(server.requests) == 1
    assert "api_key_env" in str(info.value) and "sk-wrong" not in str(info.value)


async def test_tripwire_blocks_the_public_endpoint() -> None:
    backend = OpenAIChatBackend(api_key="sk-never-sent")
    with pytest.raises(RealRequestBlockedError, match="ScriptedChatServer"):
        await LocationExtractor(backend=backend).extract("x")
    assert "sk-never-sent" not in repr(backend)


async def test_missing_api_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIChatBackend()._resolve_key()


async def test_compatible_server_provider_uses_prompted_json(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.text('Here you go: {"locations": []}'))
    settings = Settings.from_mapping(
        {
            "backends": {
                "local": {"type": "openai", "base_url": server.base_url, "api_key_env": "EXTRACTKIT_TEST_KEY"}
            },
            "extractors": {"location": {"model": "local:smollm2-135m"}},
        }
    )
    detail = await LocationExtractor(settings=settings).extract_detailed("a job")
    assert detail.value.locations == [] and detail.output_mode == "prompted"
    assert detail.cost is None  # no list price for a self-hosted model
    body = server.requests[0].body
    assert body["model"] == "smollm2-135m" and "response_format" not in body
    assert "JSON Schema" in body["messages"][0]["content"]


async def test_aclose_releases_the_configured_clients(server: ScriptedChatServer) -> None:
    from extractkit import aclose
    from extractkit.runtime import backend_for

    server.enqueue(Reply.json(NY), Reply.json(NY))
    settings = settings_for(server)
    ex = LocationExtractor(settings=settings)
    await ex.extract("x")
    first, _ = backend_for(settings.backend("openai"))
    await aclose()
    assert first._client is None  # type: ignore[attr-defined]
    await ex.extract("y")  # a fresh client is built on demand
    second, _ = backend_for(settings.backend("openai"))
    assert second is not first
    await aclose()
