"""``extractkit batch``: run, fetch and status against a local server."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractkit import DatasetError, UserError
from extractkit.cli import main
from extractkit.cli.loading import load_extractor
from extractkit.datasets import read_inputs
from extractkit.testing.openai_jobs import OpenAIJobs, add_openai_jobs
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer


def answer(request: RecordedRequest) -> Reply | str:
    text = request.last_user_text
    system = str(request.messages[0].get("content", "")) if request.messages else ""
    if "Options:" in system:  # the intent router, one-token mode: answer the option's number
        options = re.findall(r"^(\d+)\. (.+)$", system, re.MULTILINE)
        wanted = "payslip" if "payslip" in text else "day off"
        return next(number for number, description in options if wanted in description)
    if text.startswith("garbled"):
        return "no idea"
    return Reply.json({"locations": [{"city": text.rsplit(" ", 1)[-1], "country": None}]})


@pytest.fixture
def server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(answer, validate=spec_validator) as srv:
        yield srv
    assert srv.spec_errors == [], srv.spec_errors


@pytest.fixture
def jobs(server: ScriptedChatServer) -> OpenAIJobs:
    return add_openai_jobs(server)


@pytest.fixture
def project(server: ScriptedChatServer) -> Path:
    Path("extractkit.toml").write_text(f'[backends.openai]\nbase_url = "{server.base_url}"\n')
    Path("inputs.txt").write_text("nurse in Paris\n\ngarbled words\ncook in Rome\n")
    return Path.cwd()


def run(argv: list[str]) -> int:
    return main(argv)


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_writes_one_line_per_input_in_order(
    jobs: OpenAIJobs, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["batch", "run", "location", "inputs.txt", "-o", "results.jsonl", "--poll-interval", "0"])
    assert code == 1  # one input failed
    out = rows(Path("results.jsonl"))
    assert [r["input"] for r in out] == ["nurse in Paris", "garbled words", "cook in Rome"]
    assert [r["ok"] for r in out] == [True, False, True]
    assert out[0]["value"] == {"locations": [{"city": "Paris", "country": None}]}
    assert isinstance(out[0]["cost"], float) and out[0]["usage"]["prompt_tokens"] > 0  # type: ignore[index]
    assert out[1]["error"]["type"] == "UnparseableOutputError"  # type: ignore[index]
    err = capsys.readouterr().err
    (batch_id,) = jobs.batches
    assert f"batch {batch_id}" in err and "3 inputs: 2 ok, 1 failed" in err and "batch prices" in err


def test_no_wait_then_fetch_then_status(
    jobs: OpenAIJobs, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("inputs.jsonl").write_text('"nurse in Paris"\n{"input": "cook in Rome"}\n{"text": "chef in Oslo"}\n')
    assert run(["batch", "run", "location", "inputs.jsonl", "--no-wait", "--max-requests", "2"]) == 0
    err = capsys.readouterr().err
    ids = list(jobs.batches)
    assert len(ids) == 2
    hint = f"extractkit batch fetch location inputs.jsonl {' '.join(ids)}"
    assert hint in err

    assert run(["batch", "fetch", "location", "inputs.jsonl", *ids, "--poll-interval", "0"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["value"]["locations"][0]["city"] for r in out] == ["Paris", "Rome", "Oslo"]
    assert len(jobs.batches) == 2  # fetched, not resubmitted

    assert run(["batch", "status", *ids]) == 0
    status = capsys.readouterr().out
    assert all(f"{i}  completed" in status for i in ids) and "inputs 0..1" in status


def test_extractor_specs_and_input_errors(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "my_extractors.py"
    module.write_text(
        textwrap.dedent(
            """
            from extractkit import LocationExtractor

            class Cities(LocationExtractor):
                name = "cities"

            ready = Cities()

            def make():
                return Cities()

            not_one = 42
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_extractor("my_extractors:Cities", model="openai:gpt-4o").name == "cities"
    assert str(load_extractor("my_extractors:Cities", model="openai:gpt-4o").resolve_model()) == (
        "openai:gpt-4o"
    )
    assert load_extractor("my_extractors:ready").name == "cities"
    assert load_extractor("my_extractors:make").name == "cities"
    with pytest.raises(UserError, match="not an Extractor"):
        load_extractor("my_extractors:not_one")
    with pytest.raises(UserError, match="has no 'Missing'"):
        load_extractor("my_extractors:Missing")
    with pytest.raises(UserError, match="module:Class"):
        load_extractor("nonsense")
    with pytest.raises(UserError, match="--model"):
        load_extractor("my_extractors:ready", model="openai:gpt-4o")
    with pytest.raises(UserError, match="--routes is only for routers"):
        load_extractor("my_extractors:Cities", routes="routes.json")
    sys.modules.pop("my_extractors", None)

    Path("bad.jsonl").write_text('"ok"\n{"input": 3}\n')
    with pytest.raises(DatasetError) as info:
        read_inputs("bad.jsonl")
    assert info.value.line == 2
    with pytest.raises(DatasetError, match="does not exist"):
        read_inputs("missing.txt")


def test_batch_run_takes_a_router_with_routes_like_every_command(
    jobs: OpenAIJobs, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `batch run intent` once failed where `dataset build --extractor intent` worked: one loader now.
    Path("routes.json").write_text('{"holiday": "Book a day off", "payslip": "Get a payslip"}')
    Path("messages.txt").write_text("a day off please\nwhere is my payslip\n")
    argv = ["batch", "run", "intent", "messages.txt", "--routes", "routes.json", "--poll-interval", "0"]
    assert run(argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["value"] for r in rows] == ["holiday", "payslip"]
    assert run(["batch", "run", "intent", "messages.txt", "--poll-interval", "0"]) == 2
    assert "give its routes with --routes" in capsys.readouterr().err
