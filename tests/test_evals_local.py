"""Candidates whose model runs on this machine are evaluated alone, one case at a time.

Decoding on one CPU, eight requests at once made each wait for the others
(p50 10 s at concurrency 8 vs 0.8 s at 1 for the shipped local model). The
backends here stand in for such a model: each measures how many requests it,
and every local backend together, had in flight.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from extractkit import ChatResponse, LocationExtractor, Settings, Usage
from extractkit.evals import Candidate, run_eval
from extractkit.evals.run import runs_locally
from extractkit.messages import ChatRequest

CASES = [
    {"input": f"nurse in {city}", "expected": {"locations": [{"city": city, "country": None}]}}
    for city in ("Paris", "Rome", "Oslo", "Lima", "Kyiv", "Bern")
]


class Machine:
    """What is decoding on 'this machine' right now, across backends."""

    def __init__(self) -> None:
        self.busy: set[str] = set()
        self.overlaps: list[set[str]] = []


class CountingBackend:
    """A chat backend that answers after a short wait and records its peak in-flight count."""

    supports_logit_bias = False

    def __init__(self, name: str, machine: Machine | None, *, local: bool) -> None:
        self.name = name
        self.machine = machine
        self.runs_locally = local
        self.in_flight = 0
        self.peak = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.machine is not None:
            self.machine.busy.add(self.name)
            if len(self.machine.busy) > 1:
                self.machine.overlaps.append(set(self.machine.busy))
        try:
            await asyncio.sleep(0.01)
        finally:
            self.in_flight -= 1
            if self.machine is not None and not self.in_flight:
                self.machine.busy.discard(self.name)
        text = request.messages[-1].content or ""
        city = text.rsplit(" ", 1)[-1]
        answer = json.dumps({"locations": [{"city": city, "country": None}]})
        return ChatResponse(text=answer, usage=Usage(50, 10), model=request.model)

    async def aclose(self) -> None:
        return None


async def test_local_candidates_run_alone_one_case_at_a_time() -> None:
    machine = Machine()
    small = CountingBackend("small", machine, local=True)
    tuned = CountingBackend("tuned", machine, local=True)
    remote = CountingBackend("remote", None, local=False)
    candidates = [
        Candidate("remote", model="openai:gpt-4o", backend=remote),
        Candidate("small", model="local:smollm2-135m", backend=small),
        Candidate("tuned", model="local:ft-smollm2-135m-abc", backend=tuned),
    ]
    report = await run_eval(LocationExtractor, CASES, candidates, concurrency=4)

    assert remote.peak == 4  # remote candidates keep the concurrency asked for
    assert small.peak == 1 and tuned.peak == 1  # a local one decodes one case at a time
    assert machine.overlaps == []  # and never at the same time as the other local one
    assert [report.metrics[n].accuracy.value for n in ("remote", "small", "tuned")] == [1.0, 1.0, 1.0]
    info = {c["name"]: c for c in report.candidates}
    assert (info["remote"]["local"], info["remote"]["concurrency"]) == (False, 4)
    assert (info["small"]["local"], info["small"]["concurrency"]) == (True, 1)
    notes = " ".join(report.notes())
    assert "small, tuned ran on this machine, one candidate at a time and one case at a time" in notes
    assert "ran on this machine" in report.to_table() and "ran on this machine" in report.to_markdown()


async def test_local_concurrency_can_be_raised_for_a_server_with_parallel_slots() -> None:
    small = CountingBackend("small", None, local=True)
    candidates = [Candidate("small", model="local:smollm2-135m", backend=small)]
    report = await run_eval(LocationExtractor, CASES, candidates, concurrency=8, local_concurrency=3)
    assert small.peak == 3
    assert report.candidates[0]["concurrency"] == 3
    assert "3 cases at a time: the latency includes waiting" in " ".join(report.notes())


def test_which_candidates_run_locally() -> None:
    settings = Settings.from_mapping({"backends": {"local": {"type": "local"}, "mine": {"type": "local"}}})

    def built(model: str, **kwargs: Any) -> bool:
        candidate = Candidate("c", model=model, **kwargs)
        return runs_locally(candidate, candidate.build(LocationExtractor, settings=settings))

    assert built("local:smollm2-135m") and built("mine:ft-smollm2-135m-x")
    assert not built("openai:gpt-4o-mini")
    assert built("openai:gpt-4o", backend=CountingBackend("x", None, local=True))
    assert not built("local:smollm2-135m", backend=CountingBackend("x", None, local=False))
    assert not runs_locally(Candidate("replayed"), None)


@pytest.mark.parametrize("bad", [{"concurrency": 0}, {"local_concurrency": 0}])
async def test_concurrency_must_be_positive(bad: dict[str, int]) -> None:
    from extractkit.exceptions import UserError

    with pytest.raises(UserError, match="concurrency must be >= 1"):
        await run_eval(LocationExtractor, CASES, [Candidate("c", model="openai:gpt-4o")], **bad)
