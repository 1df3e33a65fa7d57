"""Fault scenarios against a raw-socket server: the outcome, its bound and the time it took.

Each scenario runs one ``LocationExtractor.extract`` through the official
``openai`` client against ``extractkit.testing.faults.FaultServer`` and prints
one Markdown table row: what the server did, the bound that applies, what the
call ended in, the requests it sent and the seconds it took. Timeouts are 1 s
(so the deadline default is 3 s); retries wait for real, with the default
jittered backoff. The figures are in docs/reliability.md.

Run: .venv/bin/python bench/faults.py
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import openai  # noqa: F401  (imported up front: no measured time includes importing it)

from extractkit import LocationExtractor, Settings
from extractkit.retries import RetryPolicy
from extractkit.testing.faults import Fault, FaultServer, completion, with_field

NY = json.dumps({"locations": [{"city": "New York", "country": "United States"}]})
GOOD = completion(NY)
INVALID = completion(json.dumps({"locations": "everywhere"}))
TIMEOUT = 1.0


def scenarios() -> list[tuple[str, str, list[Fault], dict[str, Any]]]:
    """(what the server does, the bound, its faults, extractor options)."""
    size = len(json.dumps(GOOD).encode())
    one_try = {"retry": RetryPolicy(max_attempts=1)}
    return [
        ("drips the body, 1 byte / 0.2 s", "timeout 1 s", [Fault.drip(GOOD, interval=0.2)], one_try),
        ("drips the headers, 1 byte / 0.2 s", "timeout 1 s", [Fault.drip(GOOD, interval=0.2, from_head=True)], one_try),
        ("never answers (default retries)", "deadline 3 s", [Fault.never()] * 15, {}),
        ("never answers, no deadline, 5 tries", "5 x timeout + backoff", [Fault.never()] * 5, {"deadline": float("inf")}),
        ("half the body, then closes; then answers", "value", [Fault.half_body(GOOD), Fault.json(GOOD)], {}),
        ("Content-Length 50 bytes too long", "2 tries", [Fault.wrong_length(GOOD, declared=size + 50)] * 2, {"retry": RetryPolicy(max_attempts=2)}),
        ("Content-Length 20 bytes too short", "1 request", [Fault.wrong_length(GOOD, declared=size - 20)], {}),
        ("200 with content = 42", "1 request", [Fault.json(with_field(GOOD, "choices.0.message.content", 42))], {}),
        ("200 with message = 'hello'", "1 request", [Fault.json(with_field(GOOD, "choices.0.message", "hello"))], {}),
        ("200 with usage.prompt_tokens = '12'", "1 request", [Fault.json(with_field(GOOD, "usage.prompt_tokens", "12"))], {}),
        ("200 text/html login page", "1 request", [Fault.raw("<html>Sign in</html>", content_type="text/html")], {}),
        ("200 content as text parts", "value", [Fault.json(with_field(GOOD, "choices.0.message.content", [{"type": "text", "text": NY}]))], {}),
        ("429 insufficient_quota", "1 request", [Fault.error(429, "quota", code="insufficient_quota")], {}),
        ("503 x-should-retry: false", "1 request", [Fault.error(503, "down", headers={"x-should-retry": "false"})], {}),
        ("429 Retry-After: 30 (past the deadline)", "deadline 3 s", [Fault.error(429, "slow", headers={"Retry-After": "30"})], {}),
        ("invalid answers, 0.8 s each", "deadline 3 s", [Fault.json(INVALID, delay=0.8)] * 5, {"max_attempts": 5}),
    ]  # fmt: skip


async def run(faults: list[Fault], options: dict[str, Any]) -> tuple[str, int, float]:
    with FaultServer(faults) as srv:
        settings = Settings.from_mapping(
            {"backends": {"openai": {"base_url": srv.base_url, "timeout": TIMEOUT}}}
        )
        ex = LocationExtractor(settings=settings, **options)
        started = time.monotonic()
        try:
            await ex.extract("graphic designer in New York")
            outcome = "value"
        except Exception as exc:
            bound = getattr(exc, "bound", None)
            field = getattr(exc, "field", None)
            outcome = type(exc).__name__ + (f" ({bound})" if bound else "") + (f" `{field}`" if field else "")
        took = time.monotonic() - started
        from extractkit.runtime import aclose

        await aclose()
        return outcome, len(srv.requests), took


def main(emit: Callable[[str], None] = print) -> None:
    emit("| the server | bound | outcome | requests | seconds |")
    emit("|---|---|---|---:|---:|")
    for what, bound, faults, options in scenarios():
        outcome, requests, took = asyncio.run(run(faults, options))
        emit(f"| {what} | {bound} | {outcome} | {requests} | {took:.2f} |")


if __name__ == "__main__":
    main()
