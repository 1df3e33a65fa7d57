"""Transport faults from a raw-socket server, with the official ``openai`` client in the loop.

Each scenario ends in the right value or a typed error within its bound: the
request ``timeout`` (connect to last byte, even against a server that drips one
byte at a time) or the call's ``deadline`` (retries and re-asks included). The
timeouts are small (0.3-0.5 s) so the suite is quick; each elapsed time is
checked against the bound from both sides, with a second of slack above for a
loaded machine.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai  # noqa: F401  (imported here so that no measured time includes importing it)
import pytest

from extractkit import (
    BackendConnectionError,
    BackendTimeoutError,
    LocationExtractor,
    MalformedResponseError,
    RateLimitError,
    ServerError,
    Settings,
)
from extractkit.extractor import DEFAULT_DEADLINE_FACTOR
from extractkit.retries import RetryPolicy
from extractkit.testing.faults import Fault, FaultServer, completion

NY = {"locations": [{"city": "New York", "country": "United States"}]}
ANSWER = completion(json.dumps(NY))
SLACK = 1.0  # seconds above a bound that a busy CI machine may add


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def settings_for(srv: FaultServer, **backend: Any) -> Settings:
    return Settings.from_mapping({"backends": {"openai": {"base_url": srv.base_url, **backend}}})


def no_wait(attempts: int, waits: list[float] | None = None) -> RetryPolicy:
    """Tiny backoff, injected (never slept): the deadline is what is measured."""

    async def sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)

    return RetryPolicy(max_attempts=attempts, initial_wait=0.01, sleep=sleep, jitter=False)


def extractor(srv: FaultServer, *, timeout: float, attempts: int = 1, **kwargs: Any) -> LocationExtractor:
    kwargs.setdefault("retry", no_wait(attempts))
    return LocationExtractor(settings=settings_for(srv, timeout=timeout), **kwargs)


async def elapsed_error(ex: LocationExtractor, kind: type[Exception]) -> tuple[Any, float]:
    started = time.monotonic()
    with pytest.raises(kind) as info:
        await ex.extract("graphic designer in New York")
    return info.value, time.monotonic() - started


# ---------------------------------------------------------------------------- one request, one timeout


@pytest.mark.parametrize("from_head", [False, True], ids=["drip-body", "drip-headers"])
async def test_a_dripping_server_is_cut_off_at_the_timeout(server: FaultServer, from_head: bool) -> None:
    # ~400 bytes at one per 0.2 s would take 80 s; httpx's per-read timeout never fires on it.
    server.enqueue(Fault.drip(ANSWER, interval=0.2, from_head=from_head))
    err, took = await elapsed_error(extractor(server, timeout=0.5, deadline=30), BackendTimeoutError)
    assert err.bound == "timeout" and err.seconds == 0.5
    assert "within the timeout of 0.5 s" in str(err) and "connect to last byte" in str(err)
    assert 0.5 <= took < 0.5 + SLACK
    assert len(server.requests) == 1


async def test_a_server_that_never_answers_costs_one_timeout_per_try(server: FaultServer) -> None:
    server.enqueue(*[Fault.never()] * 3)
    waits: list[float] = []
    ex = extractor(server, timeout=0.3, retry=no_wait(3, waits), deadline=30)
    err, took = await elapsed_error(ex, BackendTimeoutError)
    assert err.bound == "timeout"
    assert len(server.requests) == 3 and waits == [0.01, 0.02]  # waits injected, not slept
    assert 0.9 <= took < 0.9 + SLACK


async def test_a_slow_but_steady_answer_within_the_timeout_is_read(server: FaultServer) -> None:
    body = completion(json.dumps({"locations": []}))
    server.enqueue(Fault.json(body, interval=0.001))  # ~300 bytes over ~0.3 s of drips
    value = await extractor(server, timeout=5).extract("x")
    assert value.locations == []


# ---------------------------------------------------------------------------- the deadline


async def test_the_deadline_bounds_transport_retries(server: FaultServer) -> None:
    server.enqueue(*[Fault.never()] * 10)
    ex = extractor(server, timeout=0.5, attempts=10, deadline=1.2)
    err, took = await elapsed_error(ex, BackendTimeoutError)
    assert err.bound == "deadline" and err.seconds == 1.2 and not err.retryable
    assert "deadline of 1.2 s" in str(err) and "EXTRACTKIT_DEADLINE" in str(err)
    assert 1.2 <= took < 1.2 + SLACK, str(err)
    assert 2 <= len(server.requests) <= 3  # 0.5 + 0.5 + (a third try cut at 1.2)


async def test_the_deadline_bounds_re_asks(server: FaultServer) -> None:
    invalid = Fault.json(completion(json.dumps({"locations": "everywhere"})), delay=0.4)
    server.enqueue(*[invalid] * 10)
    ex = extractor(server, timeout=5, max_attempts=10, deadline=2.0)
    err, took = await elapsed_error(ex, BackendTimeoutError)
    assert err.bound == "deadline"
    assert 2.0 <= took < 2.0 + SLACK
    # Re-asks happened (each answer takes 0.4 s), and the deadline, not max_attempts, ended them.
    assert 2 <= len(server.requests) <= 5
    assert all("did not match the required format" in r.body.decode() for r in server.requests[1:])


async def test_a_backoff_longer_than_the_deadline_left_is_not_slept(server: FaultServer) -> None:
    server.enqueue(Fault.error(500, "overloaded"), Fault.json(ANSWER))
    slow = RetryPolicy(max_attempts=3, initial_wait=10, jitter=False)  # the real asyncio.sleep
    ex = LocationExtractor(settings=settings_for(server, timeout=5), retry=slow, deadline=2)
    err, took = await elapsed_error(ex, BackendTimeoutError)
    assert err.bound == "deadline" and isinstance(err.__cause__, ServerError)
    assert "the wait of 10.00 s" in str(err)
    assert took < 1.0  # failed at once instead of sleeping into the deadline
    assert len(server.requests) == 1


async def test_a_retry_after_past_the_deadline_fails_now(server: FaultServer) -> None:
    server.enqueue(Fault.error(429, "slow down", headers={"Retry-After": "30"}))
    ex = extractor(server, timeout=5, attempts=5, deadline=10)
    err, took = await elapsed_error(ex, BackendTimeoutError)
    assert isinstance(err.__cause__, RateLimitError) and err.__cause__.retry_after == 30
    assert took < 1.0 and len(server.requests) == 1


async def test_the_default_deadline_is_a_multiple_of_the_timeout(server: FaultServer) -> None:
    server.enqueue(*[Fault.never()] * 10)
    ex = extractor(server, timeout=0.3, attempts=10)
    assert ex.resolve_deadline() == DEFAULT_DEADLINE_FACTOR * 0.3
    err, took = await elapsed_error(ex, BackendTimeoutError)
    bound = DEFAULT_DEADLINE_FACTOR * 0.3
    assert err.bound == "deadline" and err.seconds == pytest.approx(bound)
    assert bound <= took < bound + SLACK


async def test_worst_case_with_the_default_policies_is_the_deadline(server: FaultServer) -> None:
    # The documented worst case (docs/reliability.md): default RetryPolicy (5 tries, real jittered
    # backoff) x 3 answer attempts = 15 requests at most, and never longer than the deadline,
    # DEFAULT_DEADLINE_FACTOR x timeout. Scaled down: timeout 0.4 s -> deadline 1.2 s.
    server.enqueue(*[Fault.never()] * 15)
    ex = LocationExtractor(settings=settings_for(server, timeout=0.4))
    assert ex.requests_per_call() == 15
    err, took = await elapsed_error(ex, BackendTimeoutError)
    assert err.bound == "deadline"
    assert took < 1.2 + SLACK
    # Each try lasts its 0.4 s timeout; the call ends at the deadline, or earlier when the next
    # (real, jittered) backoff would end past it.
    assert min(1.2, 0.4 * len(server.requests)) - 0.05 <= took
    assert 1 <= len(server.requests) <= 15


async def test_no_deadline_leaves_only_the_request_timeouts(server: FaultServer) -> None:
    server.enqueue(*[Fault.never()] * 4)
    ex = extractor(server, timeout=0.3, attempts=4, deadline=math.inf)
    err, took = await elapsed_error(ex, BackendTimeoutError)
    assert err.bound == "timeout" and len(server.requests) == 4
    assert 1.2 <= took < 1.2 + SLACK


async def test_a_deadline_from_config_and_env(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.from_mapping(
        {
            "defaults": {"deadline": 40},
            "extractors": {"location": {"deadline": 0.6}},
            "backends": {"openai": {"base_url": server.base_url, "timeout": 5}},
        }
    )
    ex = LocationExtractor(settings=settings, retry=no_wait(5))
    assert ex.resolve_deadline() == 0.6
    server.enqueue(Fault.never())
    err, took = await elapsed_error(ex, BackendTimeoutError)
    assert err.seconds == 0.6 and 0.6 <= took < 0.6 + SLACK
    assert LocationExtractor(settings=settings, deadline=3).resolve_deadline() == 3
    env = Settings.from_mapping({}, env={"EXTRACTKIT_DEADLINE": "7.5", "EXTRACTKIT_LOCATION_DEADLINE": "inf"})
    assert env.deadline == 7.5 and env.extractor("location").deadline == math.inf


# ---------------------------------------------------------------------------- broken connections and bodies


async def test_half_a_body_then_close_is_a_connection_error_and_retried(server: FaultServer) -> None:
    server.enqueue(Fault.half_body(ANSWER), Fault.json(ANSWER))
    waits: list[float] = []
    value = await extractor(server, timeout=2, retry=no_wait(3, waits)).extract("x")
    assert value.locations[0].city == "New York"
    assert len(server.requests) == 2 and len(waits) == 1

    server.enqueue(Fault.half_body(ANSWER), Fault.half_body(ANSWER, fraction=0.1))
    err, took = await elapsed_error(extractor(server, timeout=2, attempts=2), BackendConnectionError)
    assert "connection" in str(err) and took < 2 + SLACK


async def test_a_content_length_longer_than_the_body_is_a_connection_error(server: FaultServer) -> None:
    size = len(json.dumps(ANSWER, ensure_ascii=False).encode())
    server.enqueue(Fault.wrong_length(ANSWER, declared=size + 50))
    await elapsed_error(extractor(server, timeout=2), BackendConnectionError)


async def test_a_content_length_shorter_than_the_body_is_a_malformed_body(server: FaultServer) -> None:
    size = len(json.dumps(ANSWER, ensure_ascii=False).encode())
    server.enqueue(Fault.wrong_length(ANSWER, declared=size - 20))
    err, _ = await elapsed_error(extractor(server, timeout=2, attempts=3), MalformedResponseError)
    assert err.field == "body" and "not JSON" in str(err)
    assert len(server.requests) == 1  # a malformed body is not retried


async def test_a_connection_closed_before_any_answer_is_retried(server: FaultServer) -> None:
    server.enqueue(Fault.drop(), Fault.drop(), Fault.json(ANSWER))
    value = await extractor(server, timeout=2, attempts=3).extract("x")
    assert value.locations[0].city == "New York" and len(server.requests) == 3


async def test_a_body_that_ends_at_close_without_a_length_is_read(server: FaultServer) -> None:
    server.enqueue(Fault.json(ANSWER, declared_length=-1))
    assert (await extractor(server, timeout=2).extract("x")).locations[0].city == "New York"


def test_the_documented_defaults_match_the_code() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text()
    ex = LocationExtractor()
    assert ex.requests_per_call() == 15 and "= **15**" in page
    assert ex.resolve_deadline() == 180 and "**180 s**" in page
    assert RetryPolicy().worst_case_waits() == 7.5 and "≤ 7.5 s per answer" in page
