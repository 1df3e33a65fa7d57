"""Labelling inputs with a teacher: resumable, retried, and kept apart from the student's prompt."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractkit.config import Settings
from extractkit.datasets import (
    LabelCheckpoint,
    Progress,
    TeacherLabel,
    build_from_labels,
    label_inputs,
    label_inputs_sync,
    validate_file,
)
from extractkit.exceptions import DatasetError, InvalidOutputError
from extractkit.extractors import IntentRouter, LocationExtractor
from extractkit.messages import ChatRequest
from extractkit.retries import RetryPolicy
from extractkit.testing import FakeBackend
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer

CITIES = ["Paris", "Lyon", "Rome", "Berlin", "Madrid", "Lisbon", "Vienna", "Prague", "Oslo", "Dublin"]
INPUTS = [f"designer in {city}" for city in CITIES]
TEACHER_TEXT = "You extract locations from job-search queries"


def answer(request: ChatRequest) -> dict[str, Any]:
    city = (request.messages[-1].content or "").rsplit(" ", 1)[-1]
    return {"locations": [{"city": city, "country": None}]}


def teacher(backend: Any, **kw: Any) -> LocationExtractor:
    return LocationExtractor(model="openai:gpt-4o", prompt_variant="full", backend=backend, store=False, **kw)


async def test_teacher_labels_train_the_student_with_its_short_prompt(tmp_path: Path) -> None:
    fake = FakeBackend(answer)
    checkpoint = tmp_path / "labels.jsonl"

    run = await label_inputs(teacher(fake), INPUTS, checkpoint=checkpoint, concurrency=3)

    assert [label.input for label in run.labels] == INPUTS
    assert run.labelled == 10 and run.resumed == 0 and run.failed == []
    assert all(TEACHER_TEXT in (r.messages[0].content or "") for r in fake.requests)  # the teacher's prompt
    assert TEACHER_TEXT not in checkpoint.read_text()  # labels hold answers, not the teacher's messages
    out = tmp_path / "train.jsonl"
    dataset = build_from_labels(LocationExtractor(), checkpoint, path=out)
    assert len(dataset) == 10
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {row["messages"][0]["content"] for row in rows} == {LocationExtractor.instructions}
    assert rows[0]["messages"][2]["content"] == '{"locations":[{"city":"Paris","country":null}]}'
    assert validate_file(out, extractor=LocationExtractor()).errors == []


async def test_an_interrupted_run_resumes_without_paying_twice(tmp_path: Path) -> None:
    checkpoint = tmp_path / "labels.jsonl"
    never = asyncio.Event()
    both_stuck = asyncio.Event()
    stuck: list[str] = []

    async def first(request: ChatRequest) -> Any:
        if len(first_fake.requests) > 4:
            stuck.append(request.messages[-1].content or "")
            if len(stuck) == 2:
                both_stuck.set()
            await never.wait()  # the machine is lost mid-run
        return answer(request)

    first_fake = FakeBackend(first)
    task = asyncio.create_task(
        label_inputs(teacher(first_fake), INPUTS, checkpoint=checkpoint, concurrency=2)
    )
    await both_stuck.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    done_before = [json.loads(line)["input"] for line in checkpoint.read_text().splitlines()]
    assert len(done_before) == 4

    second = FakeBackend(answer)
    run = await label_inputs(teacher(second), INPUTS, checkpoint=checkpoint, concurrency=2)

    asked = [r.messages[-1].content for r in second.requests]
    assert len(asked) == 6  # only the inputs with no label
    assert not set(asked) & set(done_before)
    assert run.resumed == 4 and run.labelled == 6
    assert [label.input for label in run.labels] == INPUTS
    assert len(checkpoint.read_text().splitlines()) == 10


def test_a_half_written_last_line_is_dropped_and_its_input_labelled_again(tmp_path: Path) -> None:
    checkpoint = tmp_path / "labels.jsonl"
    label_inputs_sync(teacher(FakeBackend(answer)), INPUTS[:3], checkpoint=checkpoint)
    with open(checkpoint, "a") as handle:
        handle.write('{"input":"designer in Berlin","output":{"locati')  # killed mid-write

    fake = FakeBackend(answer)
    run = label_inputs_sync(teacher(fake), INPUTS[:4], checkpoint=checkpoint)

    assert [r.messages[-1].content for r in fake.requests] == ["designer in Berlin"]
    assert run.resumed == 3
    lines = checkpoint.read_text().splitlines()
    assert [json.loads(line)["input"] for line in lines] == INPUTS[:4]  # nothing lost, no garbage left


def test_a_corrupt_complete_line_stops_the_resume_and_names_the_line(tmp_path: Path) -> None:
    checkpoint = tmp_path / "labels.jsonl"
    label = TeacherLabel(input="x", output={"locations": []}, model="openai:gpt-4o")
    checkpoint.write_text(label.to_json() + "\nnot json\n" + label.to_json() + "\n")
    with pytest.raises(DatasetError, match=r"labels.jsonl:2: not a JSON label line") as caught:
        LabelCheckpoint(checkpoint).load()
    assert caught.value.line == 2
    assert len(checkpoint.read_text().splitlines()) == 3  # nothing was changed


async def test_failures_get_another_pass_then_are_reported_and_retried_next_run(tmp_path: Path) -> None:
    checkpoint = tmp_path / "labels.jsonl"

    def flaky(request: ChatRequest) -> Any:
        return {"locations": "nowhere"} if "Rome" in (request.messages[-1].content or "") else answer(request)

    fake = FakeBackend(flaky)
    run = await label_inputs(teacher(fake, max_attempts=1), INPUTS[:3], checkpoint=checkpoint, retry_failed=1)

    assert [text for text, _ in run.failed] == ["designer in Rome"]
    assert isinstance(run.failed[0][1], InvalidOutputError)
    assert [r.messages[-1].content for r in fake.requests].count("designer in Rome") == 2
    assert len(run.labels) == 2

    fixed = FakeBackend(answer)
    again = await label_inputs(teacher(fixed), INPUTS[:3], checkpoint=checkpoint)
    assert [r.messages[-1].content for r in fixed.requests] == ["designer in Rome"]
    assert again.failed == [] and [label.input for label in again.labels] == INPUTS[:3]


def test_duplicates_are_labelled_once_and_progress_goes_to_the_stream(tmp_path: Path) -> None:
    fake = FakeBackend(answer)
    stream = io.StringIO()
    run = label_inputs_sync(
        teacher(fake), ["Job in Oslo", "JOB IN OSLO", "", "job in Rome"], progress=stream, concurrency=1
    )
    assert len(fake.requests) == 2 and run.skipped_duplicates == 1
    shown = stream.getvalue()
    assert shown.startswith("\r0/2 labelled, 0 failed")
    assert shown.endswith("\r2/2 labelled, 0 failed\n")


def test_progress_redraws_at_most_once_per_interval() -> None:
    now = [0.0]
    stream = io.StringIO()
    meter = Progress(5, stream=stream, interval=1.0, clock=lambda: now[0])
    meter.update(labelled=1)
    meter.update(labelled=1)  # same instant: not redrawn
    now[0] = 1.5
    meter.update(failed=1)
    meter.finish()
    assert stream.getvalue() == "\r1/5 labelled, 0 failed\r2/5 labelled, 1 failed\r2/5 labelled, 1 failed\n"


ROUTES = {"book_holiday": "Book a day off", "get_payslip": "Get a payslip", "other": "Anything else"}
PHRASES = {"can I take a day off": "book_holiday", "where is my payslip": "get_payslip", "hello": "other"}
MESSAGES = {f"{phrase} ({i})": route for i in range(4) for phrase, route in PHRASES.items()}


def test_a_router_teacher_in_one_token_mode_gives_route_labels_for_the_json_student(tmp_path: Path) -> None:
    orders = set()

    def pick(request: ChatRequest) -> str:
        options = re.findall(r"^(\d+)\. (.+)$", request.messages[0].content or "", re.M)
        orders.add(tuple(desc for _, desc in options))
        wanted = ROUTES[MESSAGES[request.messages[-1].content or ""]]
        return next(number for number, desc in options if desc == wanted)

    backend = FakeBackend(pick, supports_logit_bias=True)
    router_teacher = IntentRouter(ROUTES, model="openai:gpt-4o", backend=backend, seed=3, store=False)
    run = label_inputs_sync(router_teacher, list(MESSAGES), checkpoint=tmp_path / "labels.jsonl")

    assert all(r.max_tokens == 1 and r.logit_bias for r in backend.requests)  # the one-token teacher
    assert len(orders) > 1  # options shuffled per call, so labels do not follow positions
    assert [label.output for label in run.labels] == [{"route": route} for route in MESSAGES.values()]
    dataset = build_from_labels(IntentRouter(ROUTES), tmp_path / "labels.jsonl")
    assert len(dataset) == len(MESSAGES)
    for example in dataset:
        assert example.messages[0]["content"].startswith(IntentRouter.instructions)
        assert "Answer with the number" not in example.messages[0]["content"]
        expected = json.dumps({"route": MESSAGES[example.input]}, separators=(",", ":"))
        assert example.messages[-1]["content"] == expected


KEY = "sk-test-labels-0123456789"


calls: list[str] = []


def located(request: RecordedRequest) -> Reply:
    calls.append(request.last_user_text)
    if len(calls) == 1:
        return Reply.error(429, retry_after=2)
    city = request.last_user_text.rsplit(" ", 1)[-1]
    return Reply.json({"locations": [{"city": city, "country": None}]})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedChatServer]:
    monkeypatch.setenv("EXTRACTKIT_TEST_KEY", KEY)
    calls.clear()
    with ScriptedChatServer(located, validate=spec_validator, api_key=KEY) as srv:
        yield srv
    assert srv.spec_errors == [], srv.spec_errors


async def test_a_teacher_behind_the_openai_client_is_retried_and_never_pays_twice(
    server: ScriptedChatServer, tmp_path: Path
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    settings = Settings.from_mapping(
        {"backends": {"openai": {"base_url": server.base_url, "api_key_env": "EXTRACTKIT_TEST_KEY"}}}
    )
    strong = LocationExtractor(
        model="openai:gpt-4o",
        prompt_variant="full",
        settings=settings,
        store=False,
        retry=RetryPolicy(max_attempts=3, sleep=sleep, jitter=False),
    )
    checkpoint = tmp_path / "labels.jsonl"
    run = await label_inputs(strong, INPUTS[:4], checkpoint=checkpoint, concurrency=1)
    again = await label_inputs(strong, INPUTS[:4], checkpoint=checkpoint, concurrency=1)

    assert waits == [2]
    assert len(calls) == 5  # four labels and the one 429, none of them repeated by the second run
    assert run.labelled == 4 and again.resumed == 4 and again.labelled == 0
    assert run.cost is not None and run.cost > 0 and again.cost == 0
    body = server.requests[-1].body
    assert body["model"] == "gpt-4o" and TEACHER_TEXT in body["messages"][0]["content"]
