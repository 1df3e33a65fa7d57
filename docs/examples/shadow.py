"""Shadow a second model on live traffic, then list where the two disagree.

Run:  python docs/examples/shadow.py

One FakeBackend plays both models so the example runs offline: the live model
(gpt-4o-mini) answers every city; the shadow (a fine-tuned candidate) gets Lyon
wrong. In production you set ``shadow`` in extractkit.toml instead and keep your
code as it is.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from extractkit import LocationExtractor, Shadow
from extractkit.messages import ChatRequest
from extractkit.shadow import drain, stats
from extractkit.store import open_store
from extractkit.testing import FakeBackend

CANDIDATE = "openai:ft:gpt-4o-mini-2024-07-18:acme::loc1"


def both_models(request: ChatRequest) -> dict[str, object]:
    city = str(request.messages[-1].content).split()[-1]
    if request.model.startswith("ft:") and city == "Lyon":
        city = "Paris"  # the candidate's mistake
    return {"locations": [{"city": city, "country": None}]}


async def main(directory: Path) -> None:
    store = open_store(f"sqlite:///{directory}/exchanges.db")
    extractor = LocationExtractor(
        "openai:gpt-4o-mini",
        backend=FakeBackend(both_models),
        store=store,
        # Every call here; in production a sample such as 0.05, with at most 4 shadow calls at once.
        shadow=Shadow(CANDIDATE, rate=1.0, max_in_flight=4),
    )
    for text in ("nurse in Berlin", "welder in Lyon", "chef in Rome"):
        value = await extractor.extract(text)  # returns the live answer; the shadow runs behind it
        print(f"{text!r} -> {value.locations[0].city}")

    await drain()  # wait for the shadow calls still running (aclose() does this too)
    store.flush()
    for pair in store.disagreements(extractor="location"):
        print(f"disagree on {pair.shadow.input!r}: live {pair.live_output} vs shadow {pair.shadow.output}")
    (summary,) = store.shadow_summary(extractor="location")
    print(f"{summary.model}: agreed {summary.agreed} of {summary.total}")
    print(stats("location"))
    store.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
