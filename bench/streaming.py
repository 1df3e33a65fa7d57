"""Streaming extraction against the raw SDK stream on the same local server, and instructor's Partial.

The server (its own process) streams a ~2 KB answer (48 locations) in one-token
chunks (4 characters, about one token of English JSON): ~500 chunks a stream.
In one run, medians over many streams:

* raw: ``AsyncOpenAI().chat.completions.create(stream=True, include_usage)``, the
  content gathered and ``json.loads`` at the end (no partials at all);
* extractkit: ``LocationExtractor.extract_stream(text)``: a partial value per change,
  then the validated value, usage and cost;
* extractkit's transport alone: ``OpenAIChatBackend.stream`` (the SDK's SSE decoding,
  each event as a dict) + ``json.loads``: what is left is the streaming layer's own
  cost (parser, partial view, updates, validation, bookkeeping);
* instructor ``create_partial(response_model=Locations)`` (``Partial[Locations]``,
  Mode.JSON), from .venv-bench with its own raw baseline (``bash scripts/bench-venv.sh``).

Figures: time to the first visible field (the first city showing), wall time, and
the client's CPU time per stream (``time.process_time``: on a shared machine wall
time also counts waiting for the server process and for a core); per-chunk
overhead = (CPU - raw CPU) / chunks. Goal (issue 13): <= 20 us a chunk.
It also counts partials that a later one contradicted (0 is the goal; instructor's
partial strings and numbers have no in-progress marker, so only shrinking lists and
changed non-string values count against it).

Run: .venv/bin/python bench/streaming.py [--streams 40]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import openai
from _common import HERE, grows, server_process

from extractkit import LocationExtractor, Settings
from extractkit.backends.openai import OpenAIChatBackend

ROOT = HERE.parent
CITIES = [
    ("New York", "United States"),
    ("Paris", "France"),
    ("Zürich", "Switzerland"),
    ("São Paulo", "Brazil"),
    ("Kraków", "Poland"),
    ("Osaka", "Japan"),
]
ANSWER = json.dumps({"locations": [{"city": c, "country": k} for c, k in CITIES * 8]}, ensure_ascii=False)
CHUNK = 4
TEXT = "offices in many cities"
GOAL_US = 20.0


class Run:
    """One stream's figures: wall and CPU seconds, time to the first field, pieces, contradictions."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.first = 0.0
        self.count = 0
        self.contradicted = 0

    def seen_first(self) -> None:
        if not self.first:
            self.first = time.perf_counter() - self.wall0

    def end(self) -> Run:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
        return self


async def measure(base_url: str, streams: int) -> dict[str, list[Run]]:
    settings = Settings.from_mapping({"backends": {"openai": {"base_url": base_url}}})
    ours = LocationExtractor(
        model="openai:gpt-4o-mini", settings=settings, prompt_variant="minimal", output_mode="json_object"
    )
    request = ours.build_request(TEXT)
    body = OpenAIChatBackend(base_url=base_url).build_params(request)
    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    backend = OpenAIChatBackend(base_url=base_url, api_key="bench")

    async def raw() -> Run:
        run, parts = Run(), []
        stream = await client.chat.completions.create(
            **body, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                run.seen_first()
                parts.append(chunk.choices[0].delta.content)
        json.loads("".join(parts))
        run.count = len(parts)
        return run.end()

    async def transport() -> Run:
        run, parts = Run(), []
        async for delta in backend.stream(request):
            if delta.text:
                run.seen_first()
                parts.append(delta.text)
        json.loads("".join(parts))
        run.count = len(parts)
        return run.end()

    async def extractkit() -> Run:
        run, shown = Run(), []
        async for update in ours.extract_stream(TEXT):
            data = update.data
            if data and data.get("locations") and data["locations"][0].get("city"):
                run.seen_first()
            shown.append(data)
        run.end()
        assert update.done and update.extraction is not None
        run.count = len(shown)
        run.contradicted = sum(1 for a, b in itertools.pairwise(shown) if not grows(a, b))
        return run

    cases = {"raw": raw, "transport": transport, "extractkit": extractkit}
    runs: dict[str, list[Run]] = {name: [] for name in cases}
    for fn in cases.values():
        for _ in range(5):
            await fn()
    for _ in range(streams):  # interleaved, so load on the machine lands on all alike
        for name, fn in cases.items():
            runs[name].append(await fn())
    await client.close()
    await backend.aclose()
    return runs


def med(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def instructor_times(base_url: str, streams: int) -> dict[str, Any] | None:
    python = ROOT / ".venv-bench" / "bin" / "python"
    if not python.exists():
        return None
    out = subprocess.run(
        [str(python), str(HERE / "_instructor_streaming.py"), base_url, str(streams)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--no-peer", action="store_true", help="skip instructor even if installed")
    args = parser.parse_args()
    with server_process(0.0, ANSWER, CHUNK) as url:
        runs = asyncio.run(measure(url, args.streams))
        peer = None if args.no_peer else instructor_times(url, args.streams)
    chunks = runs["raw"][0].count
    raw_cpu = med(runs["raw"], "cpu")
    print(
        f"answer: {len(ANSWER.encode())} bytes in {chunks} chunks of {CHUNK} characters; medians of {args.streams}"
    )
    print("client CPU per stream is the figure (wall time also waits for the server and the machine)")
    print(f"{'':32s} {'first field':>11s} {'wall':>9s} {'CPU':>9s} {'CPU/chunk vs raw':>17s}")
    rows = (
        ("raw", "raw AsyncOpenAI stream + loads"),
        ("transport", "OpenAIChatBackend.stream alone"),
        ("extractkit", "extractkit extract_stream"),
    )
    for name, label in rows:
        cpu = med(runs[name], "cpu")
        extra = ""
        if name == "extractkit":
            extra = (
                f"  ({runs[name][0].count} updates, {max(r.contradicted for r in runs[name])} contradicted)"
            )
        print(
            f"{label:32s} {med(runs[name], 'first') * 1e3:8.2f} ms {med(runs[name], 'wall') * 1e3:6.1f} ms "
            f"{cpu * 1e3:6.1f} ms {(cpu - raw_cpu) / chunks * 1e6:+12.1f} us{extra}"
        )
    per_chunk = (med(runs["extractkit"], "cpu") - raw_cpu) / chunks * 1e6
    layer = (med(runs["extractkit"], "cpu") - med(runs["transport"], "cpu")) / chunks * 1e6
    print(f"extractkit's streaming layer alone (extract_stream - transport): {layer:+.1f} us CPU a chunk")
    contradicted = max(r.contradicted for r in runs["extractkit"])
    ok = per_chunk <= GOAL_US and contradicted == 0
    if peer is not None:
        peer_chunk = (peer["cpu"] - peer["raw_cpu"]) / peer["chunks"] * 1e6
        print(
            f"{'raw stream (.venv-bench)':32s} {peer['raw_first'] * 1e3:8.2f} ms {peer['raw_wall'] * 1e3:6.1f} ms "
            f"{peer['raw_cpu'] * 1e3:6.1f} ms"
        )
        print(
            f"{'instructor create_partial':32s} {peer['first'] * 1e3:8.2f} ms {peer['wall'] * 1e3:6.1f} ms "
            f"{peer['cpu'] * 1e3:6.1f} ms {peer_chunk:+12.1f} us  ({peer['updates']} updates, "
            f"{peer['contradicted']} contradicted)  {peer['versions']}"
        )
        print(
            f"instructor's partial layer / extractkit's streaming layer: {peer_chunk / max(layer, 0.1):.0f}x"
        )
    else:
        print("instructor: not in .venv-bench (bash scripts/bench-venv.sh); not measured")
    print(
        f"goal: <= {GOAL_US:.0f} us CPU a chunk over the raw stream, none contradicted: {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
