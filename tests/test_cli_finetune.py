"""``extractkit finetune``: the commands against a local server, through the official client."""

from __future__ import annotations

import io
import json
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractkit.cli import main
from extractkit.testing.openai_jobs import OpenAIJobs, add_openai_jobs
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import ScriptedChatServer

BASE = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(validate=spec_validator) as srv:
        yield srv
    assert srv.spec_errors == [], srv.spec_errors


@pytest.fixture
def jobs(server: ScriptedChatServer) -> Iterator[OpenAIJobs]:
    state = add_openai_jobs(server)
    yield state
    assert state.response_errors == []


@pytest.fixture
def project(server: ScriptedChatServer) -> Path:
    """The current folder (a fresh tmp dir) with an extractkit.toml pointing at the server."""
    config = Path("extractkit.toml")
    config.write_text(
        "# app config\n"
        f'[backends.openai]\nbase_url = "{server.base_url}"\n\n'
        '[extractors.location]\nmodel = "openai:gpt-4o-mini"\n'
    )
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Extract the locations."},
                {"role": "user", "content": f"jobs in town {i}"},
                {"role": "assistant", "content": json.dumps({"locations": [{"city": f"T{i}"}]})},
            ]
        }
        for i in range(12)
    ]
    Path("train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return config


def run(argv: list[str]) -> int:
    return main(argv)


class Terminal(io.StringIO):
    """A stdin that is a terminal, with the user's answer typed in."""

    def isatty(self) -> bool:
        return True


def test_start_shows_the_cost_follows_and_switches_the_config(
    server: ScriptedChatServer, jobs: OpenAIJobs, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        [
            *("finetune", "start", "train.jsonl", "--extractor", "location", "--model", BASE),
            *("--epochs", "2", "--suffix", "loc", "--yes", "--poll-interval", "0"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "12 examples" in out and "x 2 epochs" in out and "estimated cost $" in out
    (job_id,) = jobs.jobs
    assert f"extractkit finetune follow {job_id}" in out
    assert "validating_files" in out and "step 3/3" in out and "succeeded" in out
    model = jobs.jobs[job_id]["fine_tuned_model"]
    data = tomllib.loads(project.read_text())
    assert data["extractors"]["location"]["model"] == f"openai:{model}"
    assert project.read_text().startswith("# app config\n")
    create = next(r for r in server.requests if r.path == "/v1/fine_tuning/jobs" and r.method == "POST")
    assert create.body["method"]["supervised"]["hyperparameters"] == {"n_epochs": 2}


def test_start_refuses_without_a_terminal_or_yes(
    server: ScriptedChatServer, jobs: OpenAIJobs, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["finetune", "start", "train.jsonl", "--extractor", "location", "--model", BASE]) == 2
    captured = capsys.readouterr()
    assert "estimated cost" in captured.out  # the estimate is still shown
    assert captured.err.startswith("extractkit: error: not starting") and "--yes" in captured.err
    assert jobs.files == {} and jobs.jobs == {}


@pytest.mark.parametrize(("typed", "started"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_start_asks_on_a_terminal(
    server: ScriptedChatServer,
    jobs: OpenAIJobs,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    typed: str,
    started: bool,
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal(typed))
    code = run(
        ["finetune", "start", "train.jsonl", "--extractor", "location", "--model", BASE, "--no-follow"]
    )
    out = capsys.readouterr().out
    assert "Start the job? [y/N]" in out
    assert (code == 0) is started and bool(jobs.jobs) is started
    assert ("not started" in out) is not started


def test_follow_after_no_follow_then_status_and_list(
    server: ScriptedChatServer, jobs: OpenAIJobs, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["finetune", "start", "train.jsonl", "--extractor", "location", "--model", BASE, "-y", "--no-follow"])
    (job_id,) = jobs.jobs
    capsys.readouterr()
    assert run(["finetune", "status", job_id]) == 0
    status = capsys.readouterr().out
    assert job_id in status and "validating_files" in status and "location" in status

    assert run(["finetune", "follow", job_id, "--poll-interval", "0", "--no-config-update"]) == 0
    assert "succeeded" in capsys.readouterr().out
    assert 'model = "openai:gpt-4o-mini"' in project.read_text()  # --no-config-update

    assert run(["finetune", "follow", job_id, "--poll-interval", "0"]) == 0  # an ended job: just apply
    assert jobs.jobs[job_id]["fine_tuned_model"] in project.read_text()

    assert run(["finetune", "list"]) == 0
    listing = capsys.readouterr().out
    assert job_id in listing and "succeeded" in listing and jobs.jobs[job_id]["fine_tuned_model"] in listing


def test_cancel(
    server: ScriptedChatServer, jobs: OpenAIJobs, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["finetune", "start", "train.jsonl", "--extractor", "location", "--model", BASE, "-y", "--no-follow"])
    (job_id,) = jobs.jobs
    assert run(["finetune", "cancel", job_id]) == 0
    assert f"{job_id}  cancelled" in capsys.readouterr().out
    assert run(["finetune", "follow", job_id, "--poll-interval", "0"]) == 1  # FineTuneError
    assert f"fine-tuning job {job_id} was cancelled" in capsys.readouterr().err


def test_list_when_empty_and_bad_training_file(
    server: ScriptedChatServer, jobs: OpenAIJobs, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["finetune", "list"]) == 0
    assert "no fine-tuning jobs" in capsys.readouterr().out
    Path("bad.jsonl").write_text('{"messages": []}\n')
    assert run(["finetune", "start", "bad.jsonl", "--extractor", "location", "--model", BASE, "-y"]) == 1
    assert "bad.jsonl:1" in capsys.readouterr().err  # a DatasetError naming the line
    assert jobs.files == {}


@pytest.mark.realmodel
def test_a_local_job_prints_a_resume_command_that_reaches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from extractkit.local.models import missing_extras

    missing = missing_extras(serve=False, train=True)
    if missing:
        pytest.skip(f"the local extra is not installed ({', '.join(missing)}): bash scripts/install-local.sh")
    models = tmp_path / "models"
    Path("extractkit.toml").write_text(f'[backends.local]\ntype = "local"\nmodels_dir = "{models}"\n')
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"nurse in {city}"},
                {"role": "assistant", "content": json.dumps({"locations": [{"city": city}]})},
            ]
        }
        for city in ("Paris", "Rome", "Oslo", "Lima")
    ]
    Path("train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # A base model file that is not a model: the job is created, then fails in seconds, not minutes.
    Path("broken.gguf").write_bytes(b"not a gguf file")
    start = ["finetune", "start", "train.jsonl", "--provider", "local", "--extractor", "location"]
    start += ["--model", "broken.gguf", "--yes", "--poll-interval", "0"]

    # A local job trains inside the process: leaving it behind would end it.
    assert run([*start, "--no-follow"]) == 2
    assert "drop --no-follow" in capsys.readouterr().err

    assert run(start) == 1
    captured = capsys.readouterr()
    hint = captured.out.split("follow (or resume) with: ", 1)[1].splitlines()[0]
    words = shlex.split(hint)
    assert words[:3] == ["extractkit", "finetune", "follow"] and words[4:] == ["--provider", "local"]
    job_id = words[3]
    assert (models / "jobs" / f"{job_id}.json").is_file()  # the job lives in the configured models_dir

    # The printed command, as printed, reaches the job and reports how it ended.
    assert run(words[1:]) == 1
    assert f"fine-tuning job {job_id} failed" in capsys.readouterr().err
    # Without --provider local it would have asked OpenAI about a job OpenAI never saw.
    assert run(words[1:4]) == 1
    assert "blocked a request to the provider default endpoint" in capsys.readouterr().err
