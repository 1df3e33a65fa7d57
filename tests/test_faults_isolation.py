"""One input's failure is that input's error; every other result comes back.

``extract_many``, ``extract_batch``, dataset labelling and eval runs are fed
inputs that break in every way an input can: a malformed 200 (raw-socket
server), a request that never ends, a hook that raises a non-extractkit
exception, a progress callback that raises, a scorer that raises. Also the
per-input request budget of ``dataset label``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractkit import (
    BackendTimeoutError,
    InvalidOutputError,
    ItemError,
    LocationExtractor,
    Locations,
    MalformedResponseError,
    RequestBudgetError,
    ServerError,
    Settings,
)
from extractkit.batch import extract_batch
from extractkit.datasets import LabelCheckpoint, label_inputs
from extractkit.evals import Candidate, run_eval
from extractkit.evals.scorers import Score
from extractkit.results import CallContext
from extractkit.retries import RequestBudget, RetryPolicy
from extractkit.testing.faults import Fault, FaultServer, RawRequest, completion, with_field
from extractkit.testing.openai_jobs import add_openai_jobs
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer


def answer_for(text: str) -> dict[str, Any]:
    return {"locations": [{"city": text.rsplit(" ", 1)[-1], "country": None}]}


def user_text(request: RawRequest) -> str:
    messages = request.json["messages"]
    return str(next(m["content"] for m in messages if m["role"] == "user"))


class Touchy(LocationExtractor):
    """An extractor whose own hook breaks on one input (a bug in user code)."""

    name = "location"

    def postprocess(self, value: Any, ctx: CallContext) -> Locations:
        if "Atlantis" in ctx.text:
            raise KeyError("atlantis")
        return super().postprocess(value, ctx)


def no_wait(attempts: int = 5) -> RetryPolicy:
    async def sleep(seconds: float) -> None:
        pass

    return RetryPolicy(max_attempts=attempts, sleep=sleep)


def faults(request: RawRequest) -> Fault:
    text = user_text(request)
    if text.startswith("malformed"):
        return Fault.json(
            with_field(completion(json.dumps(answer_for(text))), "choices.0.message.content", 42)
        )
    if text.startswith("hang"):
        return Fault.never()
    if text.startswith("strings"):
        return Fault.json(with_field(completion("{}"), "usage.prompt_tokens", "12"))
    return Fault.json(completion(json.dumps(answer_for(text))))


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer(faults) as srv:
        yield srv


def settings_for(base_url: str, **backend: Any) -> Settings:
    return Settings.from_mapping({"backends": {"openai": {"base_url": base_url, **backend}}})


async def test_extract_many_keeps_every_other_result(server: FaultServer) -> None:
    texts = [
        "nurse in Paris",
        "malformed in Lyon",
        "cook in Atlantis",
        "hang in Oslo",
        "strings in Rome",
        "driver in Berlin",
    ]
    ex = Touchy(settings=settings_for(server.base_url, timeout=0.5), retry=no_wait(1), deadline=5)
    seen: list[int] = []

    def progress(done: int, total: int, item: Any) -> None:
        seen.append(item.index)
        if item.index == 5:
            raise RuntimeError("the progress bar broke")

    results = await ex.extract_many(texts, concurrency=3, on_progress=progress)
    assert [r.index for r in results] == list(range(6)) and sorted(seen) == list(range(6))
    assert results[0].value.locations[0].city == "Paris"
    assert isinstance(results[1].error, MalformedResponseError)
    assert results[1].error.field == "choices[0].message.content"
    error = results[2].error
    assert (
        isinstance(error, ItemError) and isinstance(error.cause, KeyError) and error.__cause__ is error.cause
    )
    assert "input 2" in str(error) and "KeyError" in str(error)
    assert isinstance(results[3].error, BackendTimeoutError)
    assert (
        isinstance(results[4].error, MalformedResponseError)
        and results[4].error.field == "usage.prompt_tokens"
    )
    # The answer for input 5 arrived; the caller's callback failing on it is reported on that item.
    assert results[5].extraction is not None and isinstance(results[5].error, ItemError)
    assert "on_progress" in str(results[5].error)


# ---------------------------------------------------------------------------- batch


def batch_answers(request: RecordedRequest) -> Reply | str:
    text = request.last_user_text
    if text.startswith("malformed"):
        return Reply.raw({"id": "x", "object": "chat.completion", "choices": [{"message": "oops"}]})
    return Reply.json(answer_for(text))


async def test_extract_batch_keeps_every_other_result() -> None:
    async def sleep(seconds: float) -> None:
        pass

    texts = ["nurse in Paris", "malformed in Lyon", "cook in Atlantis", "driver in Berlin"]
    with ScriptedChatServer(batch_answers) as srv:
        add_openai_jobs(srv)
        results = await extract_batch(Touchy(settings=settings_for(srv.base_url)), texts, sleep=sleep)
    assert [r.input for r in results] == texts
    assert results[0].value.locations[0].city == "Paris" and results[3].value.locations[0].city == "Berlin"
    assert (
        isinstance(results[1].error, MalformedResponseError)
        and results[1].error.field == "choices[0].message"
    )
    assert isinstance(results[2].error, ItemError) and isinstance(results[2].error.cause, KeyError)


# ---------------------------------------------------------------------------- dataset label


async def test_label_inputs_isolates_inputs_and_keeps_the_checkpoint(
    server: FaultServer, tmp_path: Path
) -> None:
    teacher = Touchy(settings=settings_for(server.base_url, timeout=2), retry=no_wait(1))
    checkpoint = tmp_path / "labels.jsonl"
    texts = ["nurse in Paris", "cook in Atlantis", "malformed in Lyon", "driver in Berlin"]
    run = await label_inputs(teacher, texts, checkpoint=checkpoint, retry_failed=0)
    assert [label.input for label in run.labels] == ["nurse in Paris", "driver in Berlin"]
    failed = dict(run.failed)
    assert isinstance(failed["cook in Atlantis"], ItemError)
    assert isinstance(failed["malformed in Lyon"], MalformedResponseError)
    assert [label.input for label in LabelCheckpoint(checkpoint).load()] == [
        "nurse in Paris",
        "driver in Berlin",
    ]


def flaky_then_invalid(counts: dict[str, int]) -> Any:
    """Four 500s, then an invalid answer, over and over: the worst a failing input can cost."""

    def handler(request: RawRequest) -> Fault:
        text = user_text(request)
        counts[text] = counts.get(text, 0) + 1
        if text.startswith("good"):
            return Fault.json(completion(json.dumps(answer_for(text))))
        if counts[text] % 5:
            return Fault.error(500, "flaky")
        return Fault.json(completion(json.dumps({"locations": "everywhere"})))

    return handler


async def test_dataset_label_has_a_total_request_budget_per_input() -> None:
    counts: dict[str, int] = {}
    with FaultServer(flaky_then_invalid(counts)) as srv:
        teacher = LocationExtractor(settings=settings_for(srv.base_url, timeout=5), retry=no_wait())
        assert teacher.requests_per_call() == 15
        run = await label_inputs(teacher, ["bad in Paris", "good in Rome"], retry_failed=1)
    # Before: 5 tries x 3 answers x 2 passes = 30 requests. Now one budget covers both passes.
    assert counts == {"bad in Paris": 15, "good in Rome": 1}
    assert [label.input for label in run.labels] == ["good in Rome"]
    error = dict(run.failed)["bad in Paris"]
    assert isinstance(error, InvalidOutputError) and "3 attempt(s)" in str(error)

    counts.clear()
    with FaultServer(flaky_then_invalid(counts)) as srv:
        teacher = LocationExtractor(settings=settings_for(srv.base_url, timeout=5), retry=no_wait())
        run = await label_inputs(teacher, ["bad in Paris"], retry_failed=3, max_requests=7)
    assert counts == {"bad in Paris": 7}  # 4 x 500, invalid, re-ask: 2 x 500, budget spent
    assert isinstance(dict(run.failed)["bad in Paris"], ServerError)


# ---------------------------------------------------------------------------- eval runs


class PickyScorer:
    """A scorer with a bug on one output."""

    name = "picky"

    def score(self, expected: Any, actual: Any, case: Any) -> Score:
        if case.id == "rome":
            raise ZeroDivisionError("picky scorer")
        return Score(expected == actual)


async def test_an_eval_run_isolates_cases(server: FaultServer) -> None:
    cases = [
        {"id": "paris", "input": "nurse in Paris", "expected": answer_for("nurse in Paris")},
        {"id": "atlantis", "input": "cook in Atlantis", "expected": answer_for("cook in Atlantis")},
        {"id": "lyon", "input": "malformed in Lyon", "expected": answer_for("malformed in Lyon")},
        {"id": "rome", "input": "chef in Rome", "expected": answer_for("chef in Rome")},
    ]
    touchy = Touchy(settings=settings_for(server.base_url, timeout=2), retry=no_wait(1))
    report = await run_eval(Touchy, cases, [Candidate("mini", extractor=touchy)], scorer=PickyScorer())
    by_case = {r.case_id: r for r in report.results["mini"]}
    assert by_case["paris"].ok and by_case["paris"].score is not None and by_case["paris"].score.correct
    assert by_case["atlantis"].error_type == "ItemError" and "KeyError" in (by_case["atlantis"].error or "")
    assert by_case["lyon"].error_type == "MalformedResponseError"
    assert by_case["rome"].error_type == "ItemError" and "picky" in (by_case["rome"].error or "")
    assert report.metrics["mini"].accuracy.hits == 1 and report.metrics["mini"].n == 4


async def test_a_spent_budget_sends_nothing(server: FaultServer) -> None:
    budget = RequestBudget(2)
    ex = LocationExtractor(settings=settings_for(server.base_url, timeout=2), retry=no_wait())
    await ex.extract_detailed("nurse in Paris", budget=budget)
    await ex.extract_detailed("nurse in Paris", budget=budget)
    with pytest.raises(RequestBudgetError) as info:
        await ex.extract_detailed("nurse in Paris", budget=budget)
    assert info.value.limit == 2 and len(server.requests) == 2
