"""Runs in the benchmark venv that has instructor (see scripts/bench-venv.sh).

Usage: python bench/_instructor_streaming.py BASE_URL STREAMS
Prints a JSON object: medians (seconds; wall and client CPU) of the raw SDK stream in this venv and of
instructor's ``create_partial`` (Partial[Locations], Mode.JSON) over the same server,
time to the first visible field, updates per stream, and how many partials a later
one contradicted (a field changed other than a string growing, or a list shrank).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import sys
import time

import instructor
import openai
from _common import grows
from pydantic import BaseModel


class Location(BaseModel):
    city: str | None = None
    country: str | None = None


class Locations(BaseModel):
    locations: list[Location] = []


MESSAGES = [
    {"role": "system", "content": "Extract the locations (city, country) from the search query as JSON."},
    {"role": "user", "content": "offices in many cities"},
]


async def main() -> None:
    base_url, streams = sys.argv[1], int(sys.argv[2])
    raw_client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    patched = instructor.from_openai(
        openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0), mode=instructor.Mode.JSON
    )

    async def raw() -> tuple[float, float, int, float]:
        t, c = time.perf_counter(), time.process_time()
        first, chunks = 0.0, 0
        stream = await raw_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        parts = []
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                chunks += 1
                if not first:
                    first = time.perf_counter() - t
                parts.append(chunk.choices[0].delta.content)
        json.loads("".join(parts))
        return first, time.perf_counter() - t, chunks, time.process_time() - c

    async def partial() -> tuple[float, float, int, int, float]:
        t, c = time.perf_counter(), time.process_time()
        first, shown = 0.0, []
        async for item in patched.chat.completions.create_partial(
            model="gpt-4o-mini", messages=MESSAGES, response_model=Locations, max_retries=1
        ):
            if not first and item.locations and item.locations[0].city:
                first = time.perf_counter() - t
            shown.append(item.model_dump())
        final = shown[-1]
        contradicted = sum(1 for a, b in itertools.pairwise(shown) if not grows(a, b))
        contradicted += sum(1 for a in shown if not grows(a, final))
        return first, time.perf_counter() - t, len(shown), contradicted, time.process_time() - c

    for _ in range(3):
        await raw()
        await partial()
    raws, peers = [], []
    for _ in range(streams):  # interleaved
        raws.append(await raw())
        peers.append(await partial())
    print(
        json.dumps(
            {
                "raw_first": statistics.median(r[0] for r in raws),
                "raw_wall": statistics.median(r[1] for r in raws),
                "raw_cpu": statistics.median(r[3] for r in raws),
                "chunks": raws[0][2],
                "first": statistics.median(p[0] for p in peers),
                "wall": statistics.median(p[1] for p in peers),
                "cpu": statistics.median(p[4] for p in peers),
                "updates": peers[0][2],
                "contradicted": max(p[3] for p in peers),
                "versions": {"instructor": instructor.__version__, "openai": openai.__version__},
            }
        )
    )


asyncio.run(main())
