"""``extractkit distill`` end to end against the scripted OpenAI server: chat, files and fine-tuning jobs.

One ScriptedChatServer plays the teacher (``gpt-4o``: always right), the base
student (``gpt-4o-mini-2024-07-18``: wrong on every other input) and the
fine-tuned student (right, or wrong, as the test says), and serves the files and
jobs API; every request is checked against the OpenAPI spec. The official
``openai`` client is in the loop; the store is a real SQLite file.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from distill_store import (
    BY_TEACHER,
    CORRECTED_ONLY,
    EXCLUDED,
    INCLUDED,
    TO_LABEL,
    TRUTH,
    WRONG,
    StoreInfo,
    make_store,
)
from extractkit import LocationExtractor
from extractkit.cli import main
from extractkit.testing.openai_jobs import JobPlan, OpenAIJobs, add_openai_jobs
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer

KEY = "sk-distill-test-0123456789"
STUDENT = "gpt-4o-mini-2024-07-18"
USABLE = len(TRUTH)  # the excluded row is left out
EVAL = round(USABLE * 0.2)


@dataclass
class Models:
    """What the scripted models answer; ``finetuned_right`` decides the student's quality."""

    finetuned_right: bool = True
    seen: dict[str, list[RecordedRequest]] = field(default_factory=dict)

    def __call__(self, request: RecordedRequest) -> Reply:
        model = request.body["model"]
        text = request.last_user_text
        self.seen.setdefault(model, []).append(request)
        if text in INTENTS:
            return _route(
                request, INTENTS[text] if self.finetuned_right or "ft:" not in model else "get_payslip"
            )
        truth = TRUTH.get(text, {"locations": []})
        if model == "gpt-4o":
            return Reply.json(truth)
        if model == STUDENT:
            right = sorted(TRUTH).index(text) % 2 == 0 if text in TRUTH else True
            return Reply.json(truth if right else WRONG)
        if model.startswith(f"ft:{STUDENT}"):
            return Reply.json(truth if self.finetuned_right else WRONG)
        return Reply.error(404, f"The model {model} does not exist", code="model_not_found")


ROUTES = {
    "book_holiday": "Book a day off or a holiday",
    "get_payslip": "Get a copy of a payslip",
    "report_sick": "Report being ill and unable to work",
}
INTENTS = {
    **{f"can you book {d} off for me": "book_holiday" for d in ("monday", "friday", "next week", "june 3rd")},
    **{f"where is my payslip for {m}": "get_payslip" for m in ("may", "june", "july", "august")},
    **{f"send me the {m} pay slip please": "get_payslip" for m in ("march", "april")},
    **{f"I feel {x} and can't come in today": "report_sick" for x in ("sick", "ill", "awful", "feverish")},
    **{f"off sick {d}, sorry": "report_sick" for d in ("today", "tomorrow")},
    **{f"please book {n} days of holiday": "book_holiday" for n in ("two", "three")},
}


def _route(request: RecordedRequest, label: str) -> Reply:
    if request.body.get("logit_bias"):  # one-token mode: the number of the option, as listed in this call
        for line in request.messages[0]["content"].splitlines():
            number, _, description = line.partition(". ")
            if number.isdigit() and description == ROUTES[label]:
                return Reply.text(number)
    return Reply.json({"route": label})


@dataclass
class Project:
    server: ScriptedChatServer
    jobs: OpenAIJobs
    models: Models
    store: StoreInfo
    config: Path

    def argv(self, *extra: str) -> list[str]:
        return [
            *("distill", "location", "--teacher", "openai:gpt-4o", "--student", STUDENT),
            *("--store", self.store.url, "--config", str(self.config), "--poll-interval", "0"),
            *extra,
        ]

    def requests(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.server.requests if r.path == path]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setenv("DISTILL_TEST_KEY", KEY)
    models = Models()
    with ScriptedChatServer(models, validate=spec_validator, api_key=KEY, models=("gpt-4o",)) as server:
        jobs = add_openai_jobs(server)
        config = Path("extractkit.toml").resolve()
        config.write_text(
            "# the app's config\n"
            f'[backends.openai]\nbase_url = "{server.base_url}"\napi_key_env = "DISTILL_TEST_KEY"\n\n'
            '[extractors.location]\nmodel = "openai:gpt-4o"  # the teacher, in production today\n',
            encoding="utf-8",
        )
        yield Project(server, jobs, models, make_store(tmp_path), config)
        assert server.spec_errors == [], server.spec_errors
        assert jobs.response_errors == []
        assert server.handler_errors == []


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    try:
        data = json.loads(out) if out.strip().startswith("{") else out
    except ValueError:
        data = out
    return code, data, err


def _training_rows(jobs: OpenAIJobs) -> list[dict[str, Any]]:
    (job,) = jobs.jobs.values()
    data = jobs.files[job["training_file"]].data.decode()
    return [json.loads(line) for line in data.splitlines()]


def test_distill_passes_trains_on_the_right_rows_and_switches_the_config(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary, err = run(project.argv("-y", "--json"), capsys)
    assert code == 0, err
    assert summary["status"] == "passed" and summary["exit_code"] == 0
    run_dir = Path(summary["run_dir"])

    # The teacher labelled exactly the inputs without a trusted answer, with its full prompt.
    teacher_calls = project.models.seen["gpt-4o"]
    labels = [r for r in teacher_calls if r.messages[0]["content"] and "Rules:" in r.messages[0]["content"]]
    assert len(teacher_calls) == len(TO_LABEL) + EVAL  # labels, then the live evaluation
    assert sorted(r.last_user_text for r in teacher_calls[: len(TO_LABEL)]) == sorted(TO_LABEL)
    assert len(labels) == len(teacher_calls)  # every teacher call carried the full prompt

    # The training file: the minimal prompt, the corrections, no excluded row, no evaluation input.
    rows = _training_rows(project.jobs)
    assert len(rows) == USABLE - EVAL
    assert {r["messages"][0]["content"] for r in rows} == {LocationExtractor.instructions}
    trained = {r["messages"][1]["content"]: json.loads(r["messages"][2]["content"]) for r in rows}
    cases = [json.loads(line) for line in (run_dir / "eval.jsonl").read_text().splitlines()]
    assert len(cases) == EVAL and not {c["input"] for c in cases} & set(trained)
    assert set(trained) | {c["input"] for c in cases} == set(TRUTH)
    assert EXCLUDED not in trained
    for text, output in trained.items():
        assert output == TRUTH[text], text  # corrections won over the recorded wrong answers
    assert all(TRUTH[c["input"]] == c["expected"] for c in cases)

    # One job on the base model, for the location extractor; the model then answered the evaluation.
    (job,) = project.jobs.jobs.values()
    assert job["model"] == STUDENT and job["metadata"]["extractkit_extractor"] == "location"
    model = f"openai:{job['fine_tuned_model']}"
    assert summary["model"] == model
    assert len(project.models.seen[job["fine_tuned_model"]]) == EVAL
    assert len(project.models.seen[STUDENT]) == EVAL

    # The gate passed, so the config names the model now; its comment and layout are kept.
    text = project.config.read_text()
    assert tomllib.loads(text)["extractors"]["location"]["model"] == model
    assert text.startswith("# the app's config\n")
    gate = summary["gate"]
    assert gate["passed"] and gate["checks"][0]["rule"] == "accuracy"
    evaluation = summary["steps"]["evaluate"]["outputs"]["metrics"]
    assert evaluation["finetuned"]["accuracy"]["hits"] == EVAL
    assert evaluation["teacher"]["accuracy"]["hits"] == EVAL
    assert evaluation["base"]["accuracy"]["hits"] < EVAL  # the base student is wrong on every other input
    assert evaluation["finetuned"]["cost_per_call"] < evaluation["teacher"]["cost_per_call"]

    # Every step recorded, and the report says what happened.
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [k for k, v in manifest["steps"].items() if v["status"] == "done"] == [
        "collect", "estimate", "label", "dataset", "split", "finetune", "evaluate", "gate",
    ]  # fmt: skip
    assert manifest["steps"]["collect"]["outputs"]["sources"] == {
        "included": len(INCLUDED),
        "corrected": len(CORRECTED_ONLY),
        "teacher": len(BY_TEACHER),
        "label": len(TO_LABEL),
    }
    report = (run_dir / "report.html").read_text()
    assert 'id=verdict class=pass data-passed="true"' in report
    assert (
        f'<tr data-source="label"><td>labelled by the teacher in this run</td><td class=num>{len(TO_LABEL)}'
        in report
    )
    assert (run_dir / "eval.html").is_file()
    assert "[8/9] gate: passed" in err and "estimated cost: $" in err  # progress went to stderr


def test_the_gate_refuses_a_worse_student_and_leaves_the_config_alone(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.models.finetuned_right = False
    before = project.config.read_bytes()
    code, out, err = run(project.argv("-y"), capsys)
    assert code == 1, err
    assert out.startswith("refused: student 0.0% (0/")
    assert "stays below the teacher's 100.0%" in out and "config: unchanged" in out
    assert project.config.read_bytes() == before
    run_dir = Path(".extractkit/distill/location")
    report = (run_dir / "report.html").read_text()
    assert 'id=verdict class=fail data-passed="false"' in report
    gate = json.loads((run_dir / "manifest.json").read_text())["steps"]["gate"]["outputs"]
    assert gate["config"] is None and not gate["decision"]["passed"]

    # An absolute bar the student does meet passes it on the same run; nothing is recomputed.
    requests = len(project.server.requests)
    code, out, err = run(project.argv("-y", "--min-accuracy", "0"), capsys)
    assert code == 0 and out.startswith("passed: student 0.0%")
    assert len(project.server.requests) == requests
    assert "done earlier" in err
    assert tomllib.loads(project.config.read_text())["extractors"]["location"]["model"].startswith(
        "openai:ft:"
    )

    # Evaluation options may change on a finished run: the estimate is asked again and only the
    # evaluation runs again, asking the base student anew (the other answers come from the cache).
    seen = {model: len(calls) for model, calls in project.models.seen.items()}
    code, out, err = run(project.argv("-y", "--min-accuracy", "0", "--base-prompt", "minimal"), capsys)
    assert code == 0, err
    assert "estimate: base_prompt changed since it was confirmed: estimating again" in err
    assert "evaluate: base_prompt changed: evaluating again" in err
    grown = {model: len(calls) - seen.get(model, 0) for model, calls in project.models.seen.items()}
    tuned = next(m for m in seen if m.startswith("ft:"))
    assert grown == {"gpt-4o": 0, STUDENT: EVAL, tuned: 0}
    minimal = LocationExtractor.instructions
    assert all(r.messages[0]["content"] == minimal for r in project.models.seen[STUDENT][-EVAL:])


def test_dry_run_spends_nothing(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, summary, err = run(project.argv("--dry-run", "--json"), capsys)
    assert code == 0 and summary["status"] == "dry-run"
    assert project.server.requests == []  # no teacher call, no upload, no job
    estimate = summary["estimate"]
    assert estimate["to_label"] == len(TO_LABEL) and estimate["eval_cases"] == EVAL
    assert estimate["train_examples"] == USABLE - EVAL
    for part in ("labelling", "training", "evaluation"):
        assert estimate[part]["cost"] > 0 and not estimate[part]["free"], part
    assert estimate["total"] == pytest.approx(
        sum(estimate[p]["cost"] for p in ("labelling", "training", "evaluation"))
    )
    assert "dry run: stopping before anything is spent" in err
    assert list(summary["steps"]) == ["collect"]


def test_without_a_terminal_or_yes_nothing_is_spent(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # noqa: SIM115
    code, _out, err = run(project.argv(), capsys)
    assert code == 2
    assert "standard input is not a terminal. Pass -y/--yes" in err
    assert "estimated cost: $" in err  # the estimate was shown first
    assert project.server.requests == []


def test_invalid_recorded_answers_are_refused_before_any_spending(
    tmp_path: Path, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = "welder " * 70_000 + "in Lyon"  # over the 65,536-token limit of a gpt-4o-mini training example
    info = make_store(tmp_path / "bad", extra={huge: TRUTH["nurse jobs in Lyon"]})
    code, _out, err = run(project.argv("-y", "--store", info.url), capsys)
    assert code == 1
    assert "recorded answer(s) cannot be trained on; nothing was spent" in err
    assert f"record {info.record_ids[huge][:12]}: the example is" in err and "[too_long]" in err
    assert project.server.requests == []


def test_a_teacher_label_that_fails_validation_is_refused_with_its_line(
    tmp_path: Path, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # The input needs a teacher label, and its training example is too long: the dataset step names the
    # line of dataset.jsonl and nothing is uploaded.
    info = make_store(tmp_path / "bad")
    huge = "welder " * 70_000 + "in Lyon"
    from extractkit.store import Exchange, open_store

    with open_store(info.url) as store:
        store.write_batch(
            [Exchange(extractor="location", input=huge, model="openai:gpt-4o-mini", output=None)]
        )
    code, _out, err = run(project.argv("-y", "--store", info.url), capsys)
    assert code == 1
    assert "does not validate; nothing was spent on fine-tuning" in err
    line = USABLE + 1  # labelled rows come last, so the huge one is the last line
    assert f"dataset.jsonl:{line}: error: the example is" in err
    assert project.requests("/v1/files") == [] and project.jobs.jobs == {}


def test_killed_while_the_job_trains_then_resumed_follows_the_same_job(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.jobs.job_plan = JobPlan(running_polls=60)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "extractkit.cli", *project.argv("-y", "-q"), "--poll-interval", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    manifest_path = Path(".extractkit/distill/location/manifest.json")
    deadline = time.monotonic() + 120
    job_id = None
    try:
        while job_id is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if manifest_path.exists():
                step = json.loads(manifest_path.read_text()).get("steps", {}).get("finetune", {})
                job_id = step.get("outputs", {}).get("job_id")
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=30)
    assert job_id is not None, stderr.decode()
    killed = json.loads(manifest_path.read_text())["steps"]["finetune"]
    assert killed["status"] == "running"  # SIGKILL: no chance to record anything more
    label_calls = len(project.models.seen["gpt-4o"])
    uploads = len(project.requests("/v1/files"))
    assert label_calls == len(TO_LABEL) and uploads == 1

    code, summary, err = run(project.argv("-y", "--json"), capsys)
    assert code == 0 and summary["status"] == "passed", err
    assert list(project.jobs.jobs) == [job_id]  # the same job, followed to its end: not paid twice
    assert len(project.requests("/v1/files")) == uploads
    assert len(project.models.seen["gpt-4o"]) == label_calls + EVAL  # no label asked again
    assert f"following {job_id}, started by an earlier attempt" in err
    for step in ("collect", "estimate", "label", "dataset", "split"):
        assert f"{step}: done earlier" in err or f"{step}: confirmed earlier" in err, step

    # Run again: everything is done; the gate finds the config already written.
    requests = len(project.server.requests)
    code, _summary, err = run(project.argv("-y", "--json"), capsys)
    assert code == 0 and len(project.server.requests) == requests
    assert "already names" in err

    # A finished step done with other inputs is refused, not mixed with a new run.
    code, _out, err = run(project.argv("-y", "--seed", "7"), capsys)
    assert code == 2
    assert "was done with other inputs (changed: seed)" in err and "--restart" in err


def test_restart_keeps_the_evaluation_set_and_the_paid_labels(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(project.argv("-y"), capsys)
    assert code == 0, err
    run_dir = Path(".extractkit/distill/location")
    cases = (run_dir / "eval.jsonl").read_bytes()
    label_calls = len(project.models.seen["gpt-4o"])
    code, _, err = run(project.argv("-y", "--restart", "--seed", "3"), capsys)
    assert code == 0, err
    assert (run_dir / "eval.jsonl").read_bytes() == cases  # the same held-out set, whatever the seed
    # Labels were reused, and the teacher's and base student's evaluation answers came from the cache.
    assert len(project.models.seen["gpt-4o"]) == label_calls
    assert len(project.jobs.jobs) == 2  # a new job, on the new seed


def test_a_router_is_labelled_with_shuffled_options_and_split_by_route(
    tmp_path: Path, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    from extractkit.store import Exchange, open_store

    url = f"sqlite:///{tmp_path / 'intents.db'}"
    texts = list(INTENTS)
    rows = [Exchange(extractor="intent", input=t, model="openai:gpt-4o-mini", output={"route": "get_payslip"})
            for t in texts]  # fmt: skip
    with open_store(url) as store:
        store.write_batch(rows)
        store.include([r.id for r in rows[:3]])
        for row in rows[:3]:
            store.correct(row.id, {"route": INTENTS[row.input]})
    Path("routes.json").write_text(json.dumps(ROUTES))
    argv = project.argv("-y", "--json", "--store", url, "--routes", "routes.json", "--eval-fraction", "0.25")
    argv[1] = "intent"
    code, summary, err = run(argv, capsys)
    assert code == 0, err

    # The teacher (full prompt: one-token answers) saw the options in several orders while labelling.
    to_label = len(texts) - 3
    labels = project.models.seen["gpt-4o"][:to_label]
    assert sorted(r.last_user_text for r in labels) == sorted(texts[3:])
    orders = {
        tuple(line for line in r.messages[0]["content"].splitlines() if line[:1].isdigit()) for r in labels
    }
    assert len(orders) > 1 and all(len(order) == len(ROUTES) for order in orders)
    assert all(r.body["max_tokens"] == 1 and r.body["logit_bias"] for r in labels)

    # Training answers are the teacher's labels as JSON routes, every route in training; the options are
    # shuffled per example in the minimal prompt too.
    rows_ = _training_rows(project.jobs)
    answers = {r["messages"][1]["content"]: json.loads(r["messages"][2]["content"]) for r in rows_}
    assert all(answers[t] == {"route": INTENTS[t]} for t in answers)
    assert {a["route"] for a in answers.values()} == set(ROUTES)
    assert len({r["messages"][0]["content"] for r in rows_}) > 1
    cases = [json.loads(line) for line in Path(summary["run_dir"], "eval.jsonl").read_text().splitlines()]
    assert len(cases) == round(len(texts) * 0.25) and {c["expected"] for c in cases} <= set(ROUTES)
    assert summary["status"] == "passed"


class Terminal(io.StringIO):
    """A stdin that is a terminal, with the user's answer typed in."""

    def isatty(self) -> bool:
        return True


def test_answering_no_spends_nothing_and_the_next_run_asks_again(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, out, err = run(project.argv(), capsys)
    assert code == 1 and out.startswith("declined")
    assert "as estimated? [y/N]" in err and "not started: nothing was spent" in err
    assert project.server.requests == []
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, err = run(project.argv(), capsys)
    assert code == 0 and "as estimated? [y/N]" in err and out.startswith("passed")


def test_help_shows_examples_and_the_gate_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["distill", "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "--dry-run" in text and "--provider local" in text
    assert "upper end of the fine-tuned student's 95% Wilson interval" in text
