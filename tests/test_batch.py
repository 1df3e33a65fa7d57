"""Batch extraction end to end: official ``openai`` client → local server with files and batches.

The batch answers come from the same scripted chat handler online calls use;
the server writes them to an output file in an order unlike the input's and
the failures to an error file. Every request body (each batch line's body
included) is checked against the official spec; no test sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractkit import (
    BackendError,
    HTTPStatusError,
    IntentRouter,
    InvalidOutputError,
    LocationExtractor,
    RateLimitError,
    RefusalError,
    Settings,
    TruncatedOutputError,
    UnparseableOutputError,
    Usage,
    UserError,
)
from extractkit.backends.openai import OpenAIChatBackend
from extractkit.batch import BatchBackend, BatchJob, BatchStatus, OpenAIBatchBackend, extract_batch
from extractkit.prices import cost
from extractkit.testing.openai_jobs import BatchPlan, add_openai_jobs
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer


def city_of(text: str) -> str:
    return text.rsplit(" ", 1)[-1]


def answer(request: RecordedRequest) -> Reply | str:
    """Plays the model: the answer depends on what the input asks for."""
    text = request.last_user_text
    if text.startswith("garbled"):
        return "I am not sure, sorry"
    if text.startswith("invalid"):
        return Reply.json({"locations": "everywhere"})
    if text.startswith("refuse"):
        return Reply(refusal="I can't help with that.")
    if text.startswith("long"):
        return Reply(content='{"locations": [{"city": "Par', finish_reason="length")
    if text.startswith("reject"):
        return Reply.error(400, "Invalid 'messages': too long", code="context_length_exceeded")
    if text.startswith("throttle"):
        return Reply.error(429, "Rate limit reached")
    if text.startswith("cutoff"):
        return '{"locations": [{"city": "New Yo'
    if text.startswith("fenced"):
        return '```json\n{"locations": [{"city": "Oslo", "country": "Norway"}]}\n```'
    return Reply.json({"locations": [{"city": city_of(text), "country": None}]}, usage=Usage(300, 20))


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(answer, validate=spec_validator) as srv:
        yield srv
    assert srv.spec_errors == [], srv.spec_errors


def settings_for(srv: ScriptedChatServer, **extra: Any) -> Settings:
    return Settings.from_mapping({"backends": {"openai": {"base_url": srv.base_url}}, **extra})


def created(srv: ScriptedChatServer) -> list[RecordedRequest]:
    return [r for r in srv.requests if r.method == "POST" and r.path == "/v1/batches"]


async def test_results_come_back_in_input_order_with_typed_errors(server: ScriptedChatServer) -> None:
    jobs = add_openai_jobs(server)
    texts = [
        "nurse jobs in Paris",
        "garbled input",
        "invalid shape",
        "driver in Lyon",
        "refuse this",
        "long answer",
        "reject me",
        "throttle me",
        "fenced answer",
        "cook in Rome",
    ]
    sleeps = Sleeps()
    results = await extract_batch(LocationExtractor(settings=settings_for(server)), texts, sleep=sleeps)

    assert [r.index for r in results] == list(range(len(texts)))
    assert [r.input for r in results] == texts
    assert [r.value.locations[0].city for r in (results[0], results[3], results[9])] == [
        "Paris",
        "Lyon",
        "Rome",
    ]
    assert results[8].ok and results[8].value.locations[0].city == "Oslo"  # repaired like an online answer
    assert results[8].extraction is not None and results[8].extraction.repairs
    kinds = {i: type(results[i].error) for i in (1, 2, 4, 5, 6, 7)}
    assert kinds == {
        1: UnparseableOutputError,
        2: InvalidOutputError,
        4: RefusalError,
        5: TruncatedOutputError,
        6: HTTPStatusError,
        7: RateLimitError,
    }
    assert results[2].error is not None and results[2].error.raw == '{"locations":"everywhere"}'  # type: ignore[attr-defined]
    assert "too long" in str(results[6].error)
    assert results[6].error.provider_message == "Invalid 'messages': too long"  # type: ignore[union-attr]
    # One batch; its output file lists the answers in another order than the inputs.
    (batch,) = jobs.batches.values()
    output = jobs.files[batch["output_file_id"]].data.decode().splitlines()
    assert json.loads(output[0])["custom_id"] != "ek-0"
    assert batch["request_counts"] == {"total": 10, "completed": 8, "failed": 2}
    assert sleeps.waits == [30.0] * 4  # validating, in_progress, finalizing, completed
    assert jobs.response_errors == []


async def test_usage_and_cost_are_at_batch_prices(server: ScriptedChatServer) -> None:
    add_openai_jobs(server)
    results = await extract_batch(
        LocationExtractor(settings=settings_for(server)), ["cook in Rome"], sleep=Sleeps()
    )
    ex = results[0].extraction
    assert ex is not None
    assert ex.usage == Usage(300, 20)
    assert ex.cost == pytest.approx(cost(Usage(300, 20), "gpt-4o-mini", batch=True))
    online = cost(Usage(300, 20), "gpt-4o-mini")
    assert online is not None and ex.cost == pytest.approx(online / 2)
    assert ex.attempts == 1 and ex.model == "openai:gpt-4o-mini"

    priced = settings_for(
        server, prices={"gpt-4o-mini": {"input": 1.0, "output": 2.0, "batch_discount": 0.4}}
    )
    add_openai_jobs(server)
    again = await extract_batch(LocationExtractor(settings=priced), ["cook in Rome"], sleep=Sleeps())
    assert again[0].extraction is not None
    assert again[0].extraction.cost == pytest.approx((300 * 1.0 + 20 * 2.0) / 1e6 * 0.6)


async def test_each_line_is_the_request_an_online_call_sends(server: ScriptedChatServer) -> None:
    jobs = add_openai_jobs(server)
    extractor = LocationExtractor(settings=settings_for(server), seed=3)
    await extract_batch(extractor, ["nurse jobs in Paris", "cook in Rome"], sleep=Sleeps())
    (upload,) = [f for f in jobs.files.values() if f.purpose == "batch"]
    lines = [json.loads(line) for line in upload.data.decode().splitlines()]
    chat = OpenAIChatBackend(base_url=server.base_url)
    assert lines == [
        {
            "custom_id": f"ek-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": chat.build_params(extractor.build_request(text)),
        }
        for i, text in enumerate(["nurse jobs in Paris", "cook in Rome"])
    ]
    (create,) = created(server)
    assert create.body["endpoint"] == "/v1/chat/completions" and create.body["completion_window"] == "24h"
    meta = create.body["metadata"]
    assert meta["extractor"] == "location" and meta["model"] == "openai:gpt-4o-mini"
    assert (meta["first"], meta["count"]) == ("0", "2")


async def test_large_inputs_are_split_within_the_limits(server: ScriptedChatServer) -> None:
    # The server enforces the same (small) limits the client is given, as the API enforces its own.
    jobs = add_openai_jobs(server, batch_plan=BatchPlan(max_requests=3, max_bytes=6_000))
    texts = [f"job number {i} in City{i}" for i in range(8)]
    seen: list[BatchJob] = []
    results = await extract_batch(
        LocationExtractor(settings=settings_for(server)),
        texts,
        sleep=Sleeps(),
        max_requests=3,
        max_bytes=6_000,
        on_update=seen.append,
    )
    assert [r.value.locations[0].city for r in results] == [f"City{i}" for i in range(8)]
    spans = sorted((j["metadata"]["first"], j["metadata"]["count"]) for j in jobs.batches.values())
    assert len(spans) >= 3
    sizes = [len(f.data) for f in jobs.files.values() if f.purpose == "batch"]
    assert max(sizes) <= 6_000 and sum(int(c) for _, c in spans) == 8
    assert all(j["status"] == "completed" for j in jobs.batches.values())
    assert {j.id for j in seen} == set(jobs.batches)

    # A request bigger than a whole batch file cannot be batched: that input alone fails.
    add_openai_jobs(server)
    texts = ["cook in Rome", "x" * 7_000 + " in Oslo", "chef in Oslo"]
    ids: list[str] = []
    mixed = await extract_batch(
        LocationExtractor(settings=settings_for(server)),
        texts,
        sleep=Sleeps(),
        max_bytes=6_000,
        on_update=lambda job: ids.append(job.id),
    )
    assert [r.ok for r in mixed] == [True, False, True] and isinstance(mixed[1].error, UserError)
    resumed = await extract_batch(
        LocationExtractor(settings=settings_for(server)), texts, batch_id=sorted(set(ids)), max_bytes=6_000
    )
    assert [r.ok for r in resumed] == [True, False, True]


async def test_expired_and_failed_batches_give_per_input_errors(server: ScriptedChatServer) -> None:
    add_openai_jobs(server, batch_plan=BatchPlan(expire_after=2))
    texts = ["a in Paris", "b in Lyon", "c in Rome"]
    results = await extract_batch(LocationExtractor(settings=settings_for(server)), texts, sleep=Sleeps())
    assert [r.ok for r in results] == [True, True, False]
    assert isinstance(results[2].error, BackendError) and "batch_expired" in str(results[2].error)

    # The server allows 1 request per batch; the client was told 2: the API fails the batch.
    add_openai_jobs(server, batch_plan=BatchPlan(max_requests=1))
    failed = await extract_batch(
        LocationExtractor(settings=settings_for(server)), texts, sleep=Sleeps(), max_requests=2
    )
    assert [r.ok for r in failed] == [False, False, True]  # inputs 0-1 in the failed batch, 2 alone
    assert "too_many_requests" in str(failed[0].error) and "failed" in str(failed[0].error)
    assert all(isinstance(r.error, BackendError) for r in failed[:2])


async def test_transient_errors_while_following_are_retried(server: ScriptedChatServer) -> None:
    jobs = add_openai_jobs(server)
    jobs.inject(
        "GET",
        "/v1/batches/",
        Reply.error(503, "overloaded"),
        Reply.drop_connection(),
        Reply.error(429, "slow down", retry_after=7),
    )
    jobs.inject("GET", "/v1/files/", Reply.error(500, "try again"))
    sleeps = Sleeps()
    results = await extract_batch(
        LocationExtractor(settings=settings_for(server)), ["cook in Rome"], sleep=sleeps, poll_interval=60
    )
    assert results[0].ok
    assert 7.0 in sleeps.waits and sleeps.waits.count(60) == 4


async def test_resume_by_batch_id_from_a_new_process(server: ScriptedChatServer) -> None:
    jobs = add_openai_jobs(server, batch_plan=BatchPlan(max_requests=2))
    texts = ["a in Paris", "garbled b", "c in Rome", "d in Oslo"]
    ids: list[str] = []
    with pytest.raises(TimeoutError, match="resume"):
        await extract_batch(
            LocationExtractor(settings=settings_for(server)),
            texts,
            sleep=Sleeps(),
            max_wait=0,
            max_requests=2,
            on_update=lambda job: ids.append(job.id),
        )
    assert len(ids) == 2 and len(created(server)) == 2

    fresh = LocationExtractor(settings=settings_for(server))  # nothing shared with the first run
    results = await extract_batch(fresh, texts, batch_id=ids, sleep=Sleeps())
    assert len(created(server)) == 2  # nothing submitted twice
    assert [r.ok for r in results] == [True, False, True, True]
    assert results[3].value.locations[0].city == "Oslo"
    assert isinstance(results[1].error, UnparseableOutputError)

    # Given only the first batch, the inputs it does not hold are submitted again.
    again = await extract_batch(fresh, texts, batch_id=ids[0], sleep=Sleeps(), max_requests=2)
    assert len(created(server)) == 3
    assert [r.ok for r in again] == [True, False, True, True]
    assert jobs.response_errors == []


async def test_resume_refuses_other_inputs_or_models(server: ScriptedChatServer) -> None:
    add_openai_jobs(server)
    ids: list[str] = []
    texts = ["a in Paris", "b in Lyon"]
    await extract_batch(
        LocationExtractor(settings=settings_for(server)),
        texts,
        sleep=Sleeps(),
        on_update=lambda j: ids.append(j.id),
    )
    with pytest.raises(UserError, match="differ"):
        await extract_batch(
            LocationExtractor(settings=settings_for(server)), ["a in Paris", "b in Rome"], batch_id=ids[0]
        )
    with pytest.raises(UserError, match="model="):
        await extract_batch(
            LocationExtractor("openai:gpt-4o", settings=settings_for(server)), texts, batch_id=ids[0]
        )
    with pytest.raises(UserError, match="only 1 inputs"):
        await extract_batch(LocationExtractor(settings=settings_for(server)), texts[:1], batch_id=ids[0])


async def test_shuffled_router_answers_are_matched_after_a_resume(server: ScriptedChatServer) -> None:
    """One-token routing answers an option *number*; the number means something only in the
    option order of that very request, so a resumed run must rebuild the same shuffles."""
    routes = {"billing": "questions about invoices", "tech": "bugs and errors", "sales": "buying more seats"}

    def pick(request: RecordedRequest) -> Reply:
        system = request.messages[0]["content"]
        options = [line.split(". ", 1)[1] for line in system.splitlines() if line[:1].isdigit()]
        want = "bugs and errors" if "crash" in request.last_user_text else "questions about invoices"
        return Reply(content=str(options.index(want) + 1))

    add_openai_jobs(server, answer=pick)
    texts = [f"app crash number {i}" if i % 2 else f"invoice question {i}" for i in range(8)]
    ids: list[str] = []
    with pytest.raises(TimeoutError):
        await extract_batch(
            IntentRouter(routes, one_token=True, settings=settings_for(server)),
            texts,
            sleep=Sleeps(),
            max_wait=0,
            on_update=lambda j: ids.append(j.id),
        )
    router = IntentRouter(routes, one_token=True, settings=settings_for(server))
    results = await extract_batch(router, texts, batch_id=ids, sleep=Sleeps())
    assert [r.value for r in results] == ["tech" if i % 2 else "billing" for i in range(8)]


async def test_exchanges_are_recorded_like_online_ones(server: ScriptedChatServer, tmp_path: Path) -> None:
    add_openai_jobs(server)
    extractor = LocationExtractor(settings=settings_for(server), store=f"sqlite:///{tmp_path}/ex.db")
    results = await extract_batch(extractor, ["cook in Rome", "garbled x"], sleep=Sleeps())
    store = extractor.store
    store.flush()
    ok = store.find("location", "cook in Rome")
    bad = store.find("location", "garbled x")
    assert ok is not None and ok.exchange.output == {"locations": [{"city": "Rome", "country": None}]}
    assert ok.exchange.cost == pytest.approx(results[0].extraction.cost)  # type: ignore[union-attr]
    assert bad is not None and bad.exchange.error is not None and "Unparseable" in bad.exchange.error


async def test_an_explicit_backend_and_the_protocol(server: ScriptedChatServer) -> None:
    add_openai_jobs(server)
    chat = OpenAIChatBackend(base_url=server.base_url)
    batch_backend = OpenAIBatchBackend(chat)
    assert isinstance(batch_backend, BatchBackend)
    results = await extract_batch(LocationExtractor(), ["cook in Rome"], backend=chat, sleep=Sleeps())
    assert results[0].ok
    job_id = next(iter(r.body for r in created(server)))["input_file_id"]
    assert job_id.startswith("file-")
    with pytest.raises(UserError):
        await extract_batch(LocationExtractor(), ["x"], backend=chat, max_requests=0)
    # An extractor's own OpenAI backend is used, and left open for its online calls.
    extractor = LocationExtractor(backend=chat)
    mine = await extract_batch(extractor, ["chef in Oslo"], sleep=Sleeps())
    assert mine[0].value.locations[0].city == "Oslo"
    assert chat._client is not None
    assert (await extractor.extract("cook in Rome")).locations[0].city == "Rome"
    assert BatchStatus.parse("paused") is BatchStatus.UNKNOWN and not BatchStatus.UNKNOWN.is_final
    await chat.aclose()


async def test_extractor_extract_batch_method(server: ScriptedChatServer) -> None:
    add_openai_jobs(server)
    ex = LocationExtractor(settings=settings_for(server))
    results = await ex.extract_batch(["nurse in Oslo", "invalid shape"], sleep=Sleeps())
    assert results[0].value.locations[0].city == "Oslo"
    assert isinstance(results[1].error, InvalidOutputError)


async def test_an_answer_cut_inside_a_value_is_truncation(server: ScriptedChatServer) -> None:
    add_openai_jobs(server)
    ex = LocationExtractor(settings=settings_for(server))
    (result,) = await ex.extract_batch(["cutoff answer"], sleep=Sleeps())
    assert isinstance(result.error, TruncatedOutputError)
    assert result.error.partial == {"locations": [{"city": "New Yo"}]}
