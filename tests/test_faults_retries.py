"""Retry decisions against a raw-socket server: quota errors, ``x-should-retry``, logs, Ctrl-C.

Waits are injected (nothing sleeps for real) except in the Ctrl-C test, which
sends a real SIGINT to a child process blocked in ``extract_sync``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractkit import (
    HTTPStatusError,
    LocationExtractor,
    QuotaExceededError,
    ServerError,
    Settings,
)
from extractkit.retries import RetryPolicy
from extractkit.testing.faults import Fault, FaultServer, completion

NY = {"locations": [{"city": "New York", "country": "United States"}]}
ANSWER = completion(json.dumps(NY))
KEY = "sk-canary-4f1c2b9e7d6a5c3b2a19f8e7d6c5b4a3"
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def extractor(srv: FaultServer, waits: list[float] | None = None, **kwargs: Any) -> LocationExtractor:
    async def sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)

    settings = Settings.from_mapping(
        {"backends": {"openai": {"base_url": srv.base_url, "api_key_env": "EK_FAULT_KEY", "timeout": 5}}}
    )
    retry = RetryPolicy(max_attempts=4, sleep=sleep, jitter=False)
    return LocationExtractor(settings=settings, retry=retry, **kwargs)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EK_FAULT_KEY", KEY)


# ---------------------------------------------------------------------------- quota and x-should-retry


@pytest.mark.parametrize("where", ["code", "type"])
async def test_insufficient_quota_is_not_retried_and_says_check_billing(
    server: FaultServer, where: str
) -> None:
    marker = {where: "insufficient_quota"}
    server.enqueue(Fault.error(429, "You exceeded your current quota.", **marker), Fault.json(ANSWER))  # type: ignore[arg-type]
    waits: list[float] = []
    with pytest.raises(QuotaExceededError) as info:
        await extractor(server, waits).extract("x")
    assert info.value.status_code == 429 and not info.value.retryable
    assert "billing" in str(info.value) and "exceeded your current quota" in str(info.value)
    assert len(server.requests) == 1 and waits == []


async def test_a_plain_429_is_still_retried(server: FaultServer) -> None:
    server.enqueue(Fault.error(429, "Rate limit reached", code="rate_limit_exceeded"), Fault.json(ANSWER))
    waits: list[float] = []
    assert (await extractor(server, waits).extract("x")).locations[0].city == "New York"
    assert len(server.requests) == 2 and waits == [0.5]


async def test_x_should_retry_false_stops_a_retryable_error(server: FaultServer) -> None:
    server.enqueue(Fault.error(503, "down for good", headers={"x-should-retry": "false"}), Fault.json(ANSWER))
    with pytest.raises(ServerError, match="down for good") as info:
        await extractor(server).extract("x")
    assert not info.value.retryable and len(server.requests) == 1


async def test_x_should_retry_true_retries_a_4xx(server: FaultServer) -> None:
    server.enqueue(Fault.error(400, "try again", headers={"x-should-retry": "true"}), Fault.json(ANSWER))
    assert (await extractor(server).extract("x")).locations[0].city == "New York"
    assert len(server.requests) == 2

    server.enqueue(Fault.error(400, "bad request"), Fault.json(ANSWER))  # without the header: not retried
    with pytest.raises(HTTPStatusError):
        await extractor(server).extract("x")
    assert len(server.requests) == 3


async def test_x_should_retry_true_on_a_quota_error_is_honoured(server: FaultServer) -> None:
    quota = Fault.error(429, "quota", code="insufficient_quota", headers={"x-should-retry": "true"})
    server.enqueue(quota, Fault.json(ANSWER))
    assert (await extractor(server).extract("x")).locations[0].city == "New York"


# ---------------------------------------------------------------------------- logs


async def test_each_retry_and_re_ask_is_logged_without_the_key(
    server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    invalid = Fault.json(completion(json.dumps({"locations": "everywhere"})))
    server.enqueue(Fault.error(502, "bad gateway"), Fault.error(429, "slow", headers={"Retry-After": "3"}))
    server.enqueue(invalid, Fault.json(ANSWER))
    caplog.set_level(logging.INFO, logger="extractkit")
    waits: list[float] = []
    assert (await extractor(server, waits).extract("x")).locations[0].city == "New York"
    assert waits == [0.5, 3.0]
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("extractkit")]
    retries = [line for line in lines if "transport try" in line]
    assert len(retries) == 2
    assert "transport try 2 of 4 in 0.50 s after ServerError" in retries[0] and "bad gateway" in retries[0]
    assert "transport try 3 of 4 in 3.00 s after RateLimitError" in retries[1]
    assert "openai:gpt-4o-mini" in retries[0]
    reasks = [line for line in lines if "re-asked" in line]
    assert len(reasks) == 1 and "answer attempt 2 of 3" in reasks[0] and "locations" in reasks[0]
    assert all(KEY not in line for line in lines)
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"  # the key was in play


async def test_a_deadline_refusal_to_retry_is_logged(
    server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.enqueue(Fault.error(429, "slow down", headers={"Retry-After": "20"}))
    caplog.set_level(logging.INFO, logger="extractkit")
    with pytest.raises(Exception, match="deadline of 5 s"):
        await extractor(server, deadline=5).extract("x")
    assert any("not retried" in r.getMessage() and "deadline" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------- Ctrl-C

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys, threading, time
    from extractkit import LocationExtractor, Settings
    from extractkit.runtime import _runner
    from extractkit.testing.faults import Fault, FaultServer

    with FaultServer([Fault.never()]) as srv:
        def announce():
            while not srv.requests:
                time.sleep(0.01)
            print("waiting", flush=True)

        threading.Thread(target=announce, daemon=True).start()
        settings = Settings.from_mapping({"backends": {"openai": {"base_url": srv.base_url, "timeout": 60}}})
        ex = LocationExtractor(settings=settings, deadline=120)
        try:
            ex.extract_sync("graphic designer in New York")
            outcome = "returned"
        except KeyboardInterrupt:
            outcome = "interrupted"
        interrupted_at = time.monotonic()
        time.sleep(0.3)  # let a connection that was not cancelled show itself

        async def tasks():
            return len(asyncio.all_tasks()) - 1  # this one excluded

        pending = asyncio.run_coroutine_threadsafe(tasks(), _runner._loop).result(5)
        print(json.dumps({
            "outcome": outcome,
            "closed_after": [c - interrupted_at for c in srv.client_closed],
            "pending_tasks": pending,
        }), flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_in_extract_sync_cancels_the_running_call(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "waiting"  # the request is at the server, unanswered
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["outcome"] == "interrupted"
    # The HTTP request was cancelled: the server saw the client hang up right away (not at the
    # 60 s timeout), and nothing is left running on the background loop.
    assert len(report["closed_after"]) == 1 and report["closed_after"][0] < 1.0
    assert report["pending_tasks"] == 0
    assert time.monotonic() - sent < 10
