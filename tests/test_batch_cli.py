"""``extractkit batch``: run, fetch and status against a local server."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractkit import DatasetError, UserError
from extractkit.cli import batch
from extractkit.testing.openai_jobs import OpenAIJobs, add_openai_jobs
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer


def answer(request: RecordedRequest) -> Reply | str:
    text = request.last_user_text
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
    parser = argparse.ArgumentParser(prog="extractkit")
    batch.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_writes_one_line_per_input_in_order(
    jobs: OpenAIJobs, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["batch", "run", "location", "inputs.txt", "--out", "results.jsonl", "--poll-interval", "0"])
    assert code == 0
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
    assert batch.load_extractor("my_extractors:Cities", model="openai:gpt-4o").name == "cities"
    assert str(batch.load_extractor("my_extractors:Cities", model="openai:gpt-4o").resolve_model()) == (
        "openai:gpt-4o"
    )
    assert batch.load_extractor("my_extractors:ready").name == "cities"
    assert batch.load_extractor("my_extractors:make").name == "cities"
    with pytest.raises(UserError, match="not an Extractor"):
        batch.load_extractor("my_extractors:not_one")
    with pytest.raises(UserError, match="cannot be loaded"):
        batch.load_extractor("my_extractors:Missing")
    with pytest.raises(UserError, match="module:attr"):
        batch.load_extractor("nonsense")
    with pytest.raises(UserError, match="--model"):
        batch.load_extractor("my_extractors:ready", model="openai:gpt-4o")
    sys.modules.pop("my_extractors", None)

    Path("bad.jsonl").write_text('"ok"\n{"input": 3}\n')
    with pytest.raises(DatasetError) as info:
        batch.read_inputs("bad.jsonl")
    assert info.value.line == 2
    with pytest.raises(DatasetError, match="does not exist"):
        batch.read_inputs("missing.txt")
