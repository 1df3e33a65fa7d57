"""Streaming extraction end to end: official ``openai`` client → SSE from a real server on 127.0.0.1.

Every request body (``stream=true`` included) is checked against the OpenAPI
spec by the server. Retry waits are injected; the one stall test waits 0.3 s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractkit import (
    BackendConnectionError,
    BackendTimeoutError,
    InvalidOutputError,
    LocationExtractor,
    RefusalError,
    Settings,
    TruncatedOutputError,
    Usage,
)
from extractkit.retries import RetryPolicy
from extractkit.store import SQLiteStore
from extractkit.streaming import StreamUpdate
from extractkit.testing import FakeBackend
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import Reply, ScriptedChatServer, Streamed
from streaming_oracle import grows

NY = {"locations": [{"city": "New York", "country": "United States"}]}
TWO = {"locations": [{"city": "Lyon", "country": "France"}, {"city": "Berlin", "country": "Germany"}]}


@pytest.fixture
def server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(validate=spec_validator) as srv:
        yield srv
    assert srv.spec_errors == [], srv.spec_errors


def extractor(srv: ScriptedChatServer, **kwargs: Any) -> LocationExtractor:
    settings = Settings.from_mapping({"backends": {"openai": {"base_url": srv.base_url, "timeout": 5}}})
    return LocationExtractor(settings=settings, **kwargs)


def policy(waits: list[float], attempts: int = 3) -> RetryPolicy:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return RetryPolicy(max_attempts=attempts, sleep=sleep, jitter=False)


async def collect(ex: LocationExtractor, text: str = "x") -> list[StreamUpdate[Any]]:
    return [update async for update in ex.extract_stream(text)]


def assert_monotonic(updates: list[StreamUpdate[Any]]) -> None:
    """Within one attempt a later update only adds to an earlier one; the final ends it."""
    for before, after in itertools.pairwise(updates):
        if after.attempt == before.attempt:
            assert grows(before.data, after.data, before.in_progress), (before, after)
    assert updates[-1].done and not updates[-1].revised


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "tools", "bare"])
async def test_streams_partials_then_the_validated_value_in_every_mode(
    server: ScriptedChatServer, mode: str
) -> None:
    answer = Reply.json(TWO, usage=Usage(120, 30), streaming=Streamed(chunk_size=3))
    if mode == "tools":
        answer = Reply(tool_calls=[("locations", TWO)], finish_reason="tool_calls", usage=Usage(120, 30))
    server.enqueue(answer)
    updates = await collect(extractor(server, output_mode=mode))

    assert len(updates) > 5
    assert_monotonic(updates)
    final = updates[-1]
    assert final.extraction is not None
    assert final.value == final.extraction.value
    assert [(loc.city, loc.country) for loc in final.extraction.value.locations] == [
        ("Lyon", "France"),
        ("Berlin", "Germany"),
    ]
    assert final.extraction.usage == Usage(120, 30)  # from stream_options.include_usage
    assert final.extraction.cost is not None and final.extraction.output_mode == mode
    body = server.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    # A partial in the middle is a typed instance with the fields not yet complete None.
    middle = next(u for u in updates if u.data and u.data.get("locations") and len(u.data["locations"]) == 2)
    assert middle.value is not None and middle.value.locations[0].city == "Lyon"


async def test_fields_show_once_complete_and_strings_are_marked_in_progress() -> None:
    text = json.dumps({"locations": [{"city": "Paris", "country": "France"}]})
    fake = FakeBackend(lambda request: text, chunk_size=1)
    updates = [u async for u in LocationExtractor(backend=fake).extract_stream("x")]
    growing = [u for u in updates if u.in_progress == ("locations", 0, "city")]
    assert [u.data["locations"][0]["city"] for u in growing][:3] == ["", "P", "Pa"]
    assert all(u.value is not None and u.value.locations[0].country is None for u in growing)
    assert updates[-1].value is not None and updates[-1].value.locations[0].country == "France"


async def test_a_premature_close_mid_stream_is_repaired(server: ScriptedChatServer) -> None:
    # The fine-tuned-model failure: an item closed before its last member.
    server.enqueue(
        Reply.text(
            '{"locations": [{"city": "Paris"}, "country": "France"}, {"city": "Lyon", "country": "France"}]}',
            streaming=Streamed(chunk_size=1),
        )
    )
    updates = await collect(extractor(server, model="openai:ft:gpt-4o-mini-2024-07-18:acme::abc123"))
    assert_monotonic(updates)
    final = updates[-1].extraction
    assert final is not None and final.output_mode == "bare" and final.repairs
    assert [(loc.city, loc.country) for loc in final.value.locations] == [
        ("Paris", "France"),
        ("Lyon", "France"),
    ]
    # The stray member was shown where it belongs while it streamed, never as an item.
    shown = [u.data for u in updates if not u.done and u.data]
    assert all(isinstance(item, dict) for data in shown for item in data.get("locations", []))
    assert any(data["locations"][0].get("country") == "France" for data in shown if data.get("locations"))


async def test_a_reask_restarts_the_stream(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.json({"locations": [{"city": 5}]}), Reply.json(NY, streaming=Streamed(chunk_size=2)))
    updates = await collect(extractor(server))
    assert {u.attempt for u in updates} == {1, 2}
    assert updates[-1].extraction is not None and updates[-1].extraction.attempts == 2
    assert len(server.requests) == 2
    reask = server.requests[1].body["messages"]
    assert reask[-2]["role"] == "assistant" and "did not match" in reask[-1]["content"]
    assert_monotonic(updates)


async def test_invalid_output_on_every_attempt_is_the_same_error_as_extract(
    server: ScriptedChatServer,
) -> None:
    server.enqueue(*[Reply.json({"locations": [{"city": 5}]}) for _ in range(2)])
    with pytest.raises(InvalidOutputError, match="after 2 attempt"):
        await collect(extractor(server, max_attempts=2))


async def test_truncation_and_refusal_are_typed_errors(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.text('{"locations": [{"city": "New Yo', finish_reason="length", usage=Usage(50, 8)))
    with pytest.raises(TruncatedOutputError) as info:
        await collect(extractor(server, max_tokens=8))
    assert info.value.usage == Usage(50, 8) and info.value.attempts == 1

    server.enqueue(Reply(refusal="I can't help with that.", usage=Usage(40, 6)))
    with pytest.raises(RefusalError, match="can't help"):
        await collect(extractor(server))
    assert len(server.requests) == 2  # neither is re-asked


async def test_a_stream_cut_mid_value_is_retried_from_the_start(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.json(NY, streaming=Streamed(chunk_size=2, cut_after=12)), Reply.json(NY))
    waits: list[float] = []
    updates = await collect(extractor(server, retry=policy(waits)))
    assert waits == [0.5]
    assert updates[0].attempt == 1 and updates[-1].attempt == 2
    assert updates[-1].value == LocationExtractor.output_type.model_validate(NY)
    assert updates[-1].extraction is not None and updates[-1].extraction.attempts == 1

    server.enqueue(*[Reply.json(NY, streaming=Streamed(chunk_size=2, cut_after=3, abort=True))] * 2)
    with pytest.raises(BackendConnectionError):
        await collect(extractor(server, retry=policy([], attempts=2)))


async def test_a_stream_that_stalls_past_the_timeout_is_a_timeout(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.json(NY, streaming=Streamed(stall_after=3, stall=30)))
    ex = extractor(server, timeout=0.3, retry=policy([], attempts=1))
    started = time.perf_counter()
    with pytest.raises(BackendTimeoutError):
        await collect(ex)
    assert time.perf_counter() - started < 3


async def test_bytes_split_inside_utf8_characters_and_escapes(server: ScriptedChatServer) -> None:
    value = {"locations": [{"city": "Zürich ☃", "country": 'Schweiz/Suisse "CH"'}]}
    server.enqueue(Reply.json(value, streaming=Streamed(chunk_size=2, split_inside=True)))
    raw = '{"locations": [{"city": "Caf\\u00e9 \\"X\\"", "country": "France"}]}'
    pieces = ['{"locations": [{"city": "Caf\\', "u00", "e9 \\", '"X\\"', '", "country": "France"}]}']
    server.enqueue(Reply.text(raw, streaming=Streamed(chunks=pieces)))
    first = await collect(extractor(server))
    assert first[-1].value == LocationExtractor.output_type.model_validate(value)
    assert_monotonic(first)
    second = await collect(extractor(server))
    assert second[-1].value is not None and second[-1].value.locations[0].city == 'Café "X"'
    assert_monotonic(second)


async def test_streamed_and_plain_extractions_record_and_price_alike(
    server: ScriptedChatServer, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "x.db")
    server.enqueue(Reply.json(NY, usage=Usage(100, 20)), Reply.json(NY, usage=Usage(100, 20)))
    plain = await extractor(server, store=store).extract_detailed("Designer in New York")
    streamed = (await collect(extractor(server, store=store), "Nurse in New York"))[-1].extraction
    store.flush()
    assert streamed is not None
    assert (streamed.value, streamed.usage, streamed.cost, streamed.attempts) == (
        plain.value,
        plain.usage,
        plain.cost,
        plain.attempts,
    )
    one, two = store.find("location", "designer in new york"), store.find("location", "nurse in new york")
    assert one is not None and two is not None
    assert two.exchange.output == one.exchange.output == NY
    assert two.exchange.raw_response == one.exchange.raw_response
    assert two.exchange.messages[:-1] == one.exchange.messages[:-1]
    assert streamed.exchange_id == two.exchange.id


def test_sync_stream_and_breaking_out_early(server: ScriptedChatServer) -> None:
    server.enqueue(Reply.json(TWO, streaming=Streamed(chunk_size=2)), Reply.json(TWO), Reply.json(NY))
    ex = extractor(server)
    updates = list(ex.extract_stream_sync("x"))
    assert updates[-1].done and updates[-1].value is not None and len(updates[-1].value.locations) == 2
    for update in ex.extract_stream_sync("y"):
        if update.data:
            break  # closes the stream; the connection pool stays usable
    assert ex.extract_sync("z").locations[0].city == "New York"


async def test_stopping_early_closes_the_stream_and_frees_its_slot(server: ScriptedChatServer) -> None:
    # One request at a time through this backend: a slot kept by an abandoned stream would hang the next.
    settings = Settings.from_mapping(
        {"backends": {"openai": {"base_url": server.base_url, "max_concurrency": 1}}}
    )
    server.enqueue(
        Reply.json(TWO, streaming=Streamed(chunk_size=2, stall_after=10, stall=30)), Reply.json(NY)
    )
    ex = LocationExtractor(settings=settings)
    updates = ex.extract_stream("x")
    async for update in updates:
        if update.data:
            break
    await updates.aclose()  # what `async for` leaves to the caller (or the garbage collector)
    assert (await asyncio.wait_for(ex.extract("y"), 5)).locations[0].city == "New York"


async def test_a_backend_without_stream_gives_one_final_update() -> None:
    class Plain:
        name = "plain"
        supports_logit_bias = False

        async def complete(self, request: Any) -> Any:
            return await FakeBackend(lambda r: NY).complete(request)

        async def aclose(self) -> None:
            return None

    updates = [u async for u in LocationExtractor(backend=Plain()).extract_stream("x")]
    assert len(updates) == 1 and updates[0].done and updates[0].data == NY


async def test_the_call_deadline_bounds_a_stream(server: ScriptedChatServer) -> None:
    # The stall is shorter than the request timeout (5 s) but longer than the call's
    # deadline: the deadline ends the stream, and it is not restarted.
    server.enqueue(Reply.json(NY, streaming=Streamed(stall_after=3, stall=30)), Reply.json(NY))
    started = time.perf_counter()
    with pytest.raises(BackendTimeoutError) as info:
        await collect(extractor(server, deadline=0.4, retry=policy([])))
    assert info.value.bound == "deadline"
    assert time.perf_counter() - started < 3
    assert len(server.requests) == 1
