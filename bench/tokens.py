"""Benchmark: offline token counting against plain tiktoken, side by side in one run.

Prints, for a typical extraction prompt (a full system prompt with rules, schema and
examples, plus a short user text):

* cold load: ``extractkit.tokens.encoding_for`` (offline, hash-verified package data)
  vs ``tiktoken.get_encoding`` reading a pre-filled TIKTOKEN_CACHE_DIR (the best plain
  tiktoken can do offline), each in a fresh interpreter;
* hot counting: ``count_message_tokens`` vs the floor, the same cookbook arithmetic done
  inline on the same ``tiktoken.Encoding`` with no caching, with the system prompt repeated
  (the hot path of ``extract_detailed``) and with a fresh system prompt on every call.

Run: ``.venv/bin/python bench/tokens.py``
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from extractkit.tokens import DATA_DIR, count_message_tokens, encoding_for

SCHEMA = {
    "type": "object",
    "properties": {
        "locations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "city": {"type": ["string", "null"], "description": "City name in English."},
                    "region": {"type": ["string", "null"], "description": "State or region, if named."},
                    "country": {"type": ["string", "null"], "description": "Country, full English name."},
                },
                "required": ["city", "region", "country"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["locations"],
    "additionalProperties": False,
}
RULES = "\n".join(
    f"{i}. Extract every place the text names; normalise spelling; infer the country only when certain."
    for i in range(1, 16)
)
EXAMPLES = "\n\n".join(
    f"Input: senior data engineer, remote from Lisbon or Porto #{i}\n"
    'Output: {"locations": [{"city": "Lisbon", "region": null, "country": "Portugal"}, '
    '{"city": "Porto", "region": null, "country": "Portugal"}]}'
    for i in range(8)
)
SYSTEM = (
    f"You extract locations.\n\nRules:\n{RULES}\n\nSchema:\n{json.dumps(SCHEMA)}\n\nExamples:\n{EXAMPLES}"
)
USER = "graphic designer in New York, open to relocating to Berlin or Amsterdam"
MODEL = "gpt-4o-mini"


def messages(system: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": USER}]


def best_of(fn: Any, repeat: int = 5, number: int = 2000) -> float:
    """Best mean seconds per call over ``repeat`` rounds of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def cold_load(code: str, env: dict[str, str]) -> float:
    """Best of 3 fresh interpreters; the child prints the seconds the load took."""
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(3)
    ]
    return min(runs)


def main() -> None:
    encoding = encoding_for(MODEL)
    count = count_message_tokens(messages(SYSTEM), MODEL)
    print(f"typical prompt: {len(SYSTEM) + len(USER)} chars, {count} prompt tokens ({MODEL})")

    with tempfile.TemporaryDirectory() as cache:
        # Fill a tiktoken cache the way tiktoken keys it, from the verified bytes, for the peer.
        data = gzip.decompress((DATA_DIR / "o200k_base.tiktoken.gz").read_bytes())
        url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
        (Path(cache) / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
        timer = "import time; t = time.perf_counter(); {load}; print(time.perf_counter() - t)"
        ours = cold_load(
            timer.format(load="from extractkit.tokens import encoding_for; encoding_for('gpt-4o-mini')"),
            {**os.environ, "TIKTOKEN_CACHE_DIR": os.path.join(cache, "empty")},
        )
        peer = cold_load(
            timer.format(load="import tiktoken; tiktoken.get_encoding('o200k_base')"),
            {**os.environ, "TIKTOKEN_CACHE_DIR": cache},
        )
    print(f"cold load   extractkit (package data, verified) {ours * 1e3:7.1f} ms")
    print(f"            tiktoken (pre-filled cache)         {peer * 1e3:7.1f} ms")
    print(f"            ratio {ours / peer:.2f}x")

    encode = encoding.encode_ordinary

    def floor(msgs: list[dict[str, Any]]) -> int:
        return 3 + sum(3 + len(encode(m["role"])) + len(encode(m["content"])) for m in msgs)

    repeated = messages(SYSTEM)
    assert floor(repeated) == count_message_tokens(repeated, MODEL)
    ours_hot = best_of(lambda: count_message_tokens(repeated, MODEL))
    floor_hot = best_of(lambda: floor(repeated))
    print(
        f"hot, same system prompt   extractkit {ours_hot * 1e6:8.1f} µs   floor {floor_hot * 1e6:8.1f} µs"
        f"   ratio {ours_hot / floor_hot:.2f}x"
    )

    # A distinct system prompt per call: every long text misses the cache.
    fresh = [messages(f"{SYSTEM}\n#{i}") for i in range(6000)]
    it_ours, it_floor = iter(fresh), iter(fresh)
    ours_cold = best_of(lambda: count_message_tokens(next(it_ours), MODEL), repeat=3, number=2000)
    floor_cold = best_of(lambda: floor(next(it_floor)), repeat=3, number=2000)
    print(
        f"hot, new system prompt    extractkit {ours_cold * 1e6:8.1f} µs   floor {floor_cold * 1e6:8.1f} µs"
        f"   ratio {ours_cold / floor_cold:.2f}x"
    )


if __name__ == "__main__":
    main()
