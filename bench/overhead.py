"""Per-call overhead of extractkit over the raw AsyncOpenAI call, on the paths users run.

One run measures, against the same local chat-completions server (its own
process, no latency), with identical request bodies:

* raw: ``AsyncOpenAI().chat.completions.create(**body)`` + ``json.loads``;
* zero-config: ``LocationExtractor(model="openai:gpt-4o-mini").extract(text)`` with
  only ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` set and no config file (the README's path);
* configured: the same extractor with ``[backends.openai] base_url`` in Settings;
* extractkit's loop alone over a FakeBackend (no HTTP), for scale.

Overhead = median(per-call time) - median(raw). Goal (issue 13): <= 100 us added
per call on both paths. Optionally instructor, from .venv-bench (see
docs/benchmarks.md), in the same run.

Run: .venv/bin/python bench/overhead.py [--rounds 10 --per-round 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import openai
from _common import HERE, server_process

from extractkit import LocationExtractor, Settings
from extractkit.backends.openai import OpenAIChatBackend
from extractkit.config import set_settings
from extractkit.messages import ChatResponse, Usage
from extractkit.testing import FakeBackend

ROOT = HERE.parent
MODEL = "openai:gpt-4o-mini"
TEXT = "graphic designer in New York"
REPLY = json.dumps({"locations": [{"city": "New York", "country": "United States"}]})
GOAL_US = 100.0


def zero_config_environment(base_url: str) -> None:
    """What a user of the README has: two environment variables, no extractkit.toml."""
    for key in [k for k in os.environ if k.startswith("EXTRACTKIT_")]:
        del os.environ[key]
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    os.chdir(tempfile.mkdtemp(prefix="extractkit-bench-"))  # no config file up the tree
    set_settings(None)


async def measure(base_url: str, rounds: int, per_round: int) -> dict[str, float]:
    zero = LocationExtractor(model=MODEL)
    configured = LocationExtractor(
        model=MODEL, settings=Settings.from_mapping({"backends": {"openai": {"base_url": base_url}}})
    )
    # The raw call sends the very body the extractor sends (full prompt, strict JSON schema),
    # so the difference is extractkit's work, not a bigger request.
    body = OpenAIChatBackend(base_url=base_url).build_params(zero.build_request(TEXT))
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)

    async def raw() -> None:
        c = await client.chat.completions.create(**body)
        json.loads(c.choices[0].message.content or "")

    async def zero_config() -> None:
        await zero.extract(TEXT)

    async def with_config() -> None:
        await configured.extract(TEXT)

    canned = ChatResponse(text=REPLY, usage=Usage(300, 20))

    async def answer(request: object) -> ChatResponse:
        return canned

    offline = LocationExtractor(model=MODEL, backend=FakeBackend(answer))

    async def loop_only() -> None:
        await offline.extract(TEXT)

    cases: dict[str, Callable[[], Awaitable[None]]] = {
        "raw": raw,
        "zero_config": zero_config,
        "configured": with_config,
        "loop_only": loop_only,
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():
        for _ in range(10):
            await fn()
    # Interleaved rounds: a burst of load on the shared machine lands on every case alike.
    for _ in range(rounds):
        for name, fn in cases.items():
            for _ in range(per_round):
                t = time.perf_counter()
                await fn()
                times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def clients_built(base_url: str, calls: int) -> int:
    """AsyncOpenAI clients constructed by ``calls`` zero-config extractions on a fresh loop."""
    made = 0
    real = openai.AsyncOpenAI

    class Counting(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            nonlocal made
            made += 1
            super().__init__(*args, **kwargs)

    async def run() -> None:
        extractor = LocationExtractor(model=MODEL)
        for _ in range(calls):
            await extractor.extract(TEXT)

    openai.AsyncOpenAI = Counting  # type: ignore[misc]
    try:
        asyncio.run(run())
    finally:
        openai.AsyncOpenAI = real  # type: ignore[misc]
    return made


def validation_costs(number: int = 20_000) -> dict[str, float]:
    """Seconds per answer for the validation layers, side by side on the benchmark's reply.

    The key layer (a compiled walk over the strict schema) is on the hot path of every call;
    a compiled jsonschema validator of the same strict schema is timed beside it as the
    alternative that was not chosen.
    """
    import timeit

    import jsonschema

    from extractkit.output import output_spec

    value = json.loads(REPLY)
    strict = output_spec(LocationExtractor.output_type)
    loose = output_spec(LocationExtractor.output_type, strict=False)
    keys = strict._keys
    assert keys is not None and strict.strict_schema is not None
    validator = jsonschema.Draft202012Validator(strict.strict_schema)
    timers = {
        "pydantic_alone": lambda: loose.check(value),
        "both_layers": lambda: strict.check(value),
        "key_walk": lambda: keys.errors(value),
        "jsonschema": lambda: validator.is_valid(value),
    }
    return {name: min(timeit.repeat(fn, number=number, repeat=5)) / number for name, fn in timers.items()}


def instructor_times(base_url: str, rounds: int, per_round: int) -> dict[str, float] | None:
    python = ROOT / ".venv-bench" / "bin" / "python"
    if not python.exists():
        return None
    out = subprocess.run(
        [str(python), str(HERE / "_instructor_overhead.py"), base_url, str(rounds), str(per_round)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--no-peer", action="store_true", help="skip instructor even if installed")
    args = parser.parse_args()
    costs = validation_costs()
    with server_process(0.0, REPLY) as url:
        zero_config_environment(url)
        built = clients_built(url, 100)
        ours = asyncio.run(measure(url, args.rounds, args.per_round))
        peer = None if args.no_peer else instructor_times(url, args.rounds, args.per_round)
    raw = ours["raw"]
    print(f"raw AsyncOpenAI create + json.loads   : {raw * 1e6:9.1f} us/call (median, same body)")
    ok = True
    for name, label in (
        ("zero_config", "zero-config LocationExtractor(model=)"),
        ("configured", "configured (Settings)"),
    ):
        added = (ours[name] - raw) * 1e6
        passed = added <= GOAL_US
        ok &= passed
        print(
            f"{label:38s}: {ours[name] * 1e6:9.1f} us/call -> {added:+8.1f} us vs raw  "
            f"(goal <= +{GOAL_US:.0f} us: {'PASS' if passed else 'FAIL'})"
        )
    print(f"extractkit loop alone, no HTTP        : {ours['loop_only'] * 1e6:9.1f} us/call")
    print(
        f"validation per answer                 : {costs['both_layers'] * 1e6:9.2f} us both layers = "
        f"{costs['pydantic_alone'] * 1e6:.2f} us pydantic alone + strict key layer "
        f"(key walk {costs['key_walk'] * 1e6:.2f} us; a compiled jsonschema validator: "
        f"{costs['jsonschema'] * 1e6:.2f} us)"
    )
    print(f"AsyncOpenAI clients built by 100 zero-config extractions: {built} (goal: 1)")
    ok &= built == 1
    if peer is not None:
        peer_added = (peer["instructor"] - peer["raw"]) * 1e6
        print(
            f"instructor create() (.venv-bench)     : {peer['instructor'] * 1e6:9.1f} us/call -> "
            f"{peer_added:+8.1f} us vs its raw {peer['raw'] * 1e6:.1f} us  {peer['versions']}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
