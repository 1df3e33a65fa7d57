"""Latency of a local model in ``run_eval``: eight cases at a time vs one (the default now).

The shipped SmolLM2-135M-Instruct is served by llama.cpp on this machine
(``[backends.local] type = "local"``) and evaluated by ``extractkit.evals.run_eval``
over the same cases twice in one run: with ``local_concurrency=8`` (what every
candidate got before local candidates were run alone) and with the default
``local_concurrency=1``. With eight requests in flight on the same cores each
one waits for the others, so the p50 measured at 8 is mostly queueing; at 1 it
is what one query costs. The wall time of each run is printed too: the work is
the same, so it does not shrink with more requests in flight.

Needs the local extra (``bash scripts/install-local.sh``). Run:

    .venv/bin/python bench/eval_local_latency.py [--cases 16]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from extractkit import LocationExtractor, Settings
from extractkit.evals import Candidate, run_eval
from extractkit.local.backend import stop_all_servers

CITIES = (
    "Paris", "Rome", "Oslo", "Lima", "Kyiv", "Bern", "Lyon", "Porto",
    "Seattle", "Denver", "Madrid", "Vienna", "Dublin", "Prague", "Warsaw", "Athens",
)  # fmt: skip


# The default local backend (one llama.cpp server, one request decoded at a time), as a user has it.
SETTINGS = Settings.from_mapping({"backends": {"local": {"type": "local"}}})


async def measure(cases: list[dict[str, object]], local_concurrency: int) -> tuple[float, float, float]:
    # Constrained decoding (json_schema): every answer parses, so every case has a latency.
    candidate = Candidate(
        "local",
        model="local:smollm2-135m",
        output_mode="json_schema",
        # A long timeout: at 8 in flight on a busy 2-core machine, queued requests pass the default.
        options={"max_attempts": 1, "max_tokens": 48, "timeout": 900.0},
    )
    started = time.perf_counter()
    report = await run_eval(
        LocationExtractor,
        cases,
        [candidate],
        settings=SETTINGS,
        concurrency=8,
        local_concurrency=local_concurrency,
    )
    wall = time.perf_counter() - started
    m = report.metrics["local"]
    if m.latency_p50_s is None or m.latency_p95_s is None:
        raise SystemExit(f"no case produced an answer: {report.to_table()}")
    return m.latency_p50_s, m.latency_p95_s, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=16)
    args = parser.parse_args()
    cases: list[dict[str, object]] = [
        {"input": f"nurse jobs in {CITIES[i % len(CITIES)]}", "expected": {"locations": []}}
        for i in range(args.cases)
    ]

    async def both() -> dict[int, tuple[float, float, float]]:
        # One loop, one backend, one server. A first pass starts the server, so neither row pays for it.
        await measure(cases[:2], 1)
        return {n: await measure(cases, n) for n in (8, 1)}

    try:
        rows = asyncio.run(both())
    finally:
        stop_all_servers()
    print(f"{args.cases} cases, local:smollm2-135m on llama.cpp (default settings), one candidate")
    print(f"{'cases in flight':<16} {'p50 s':>7} {'p95 s':>7} {'wall s':>7}")
    for n, (p50, p95, wall) in rows.items():
        print(f"{n:<16} {p50:7.2f} {p95:7.2f} {wall:7.2f}")
    print(f"p50 ratio 8 vs 1: {rows[8][0] / rows[1][0]:.1f}x")


if __name__ == "__main__":
    main()
