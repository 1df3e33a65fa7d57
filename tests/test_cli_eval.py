"""``extractkit eval ...`` through argparse, against the local chat server, as the CLI runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractkit import Usage
from extractkit.cli import main
from extractkit.evals import load_cases
from extractkit.store import Exchange, open_store
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer

KEY = "sk-eval-cli-0123456789"
RIGHT = {
    "designer in Paris": {"locations": [{"city": "Paris", "country": "France"}]},
    "nurse in Lyon": {"locations": [{"city": "Lyon", "country": "France"}]},
    "engineer in Boston": {"locations": [{"city": "Boston", "country": "United States"}]},
    "remote job": {"locations": []},
}
FT = "ft:gpt-4o-mini-2024-07-18:acme::cli"
# The fine-tuned model's answers where they differ: one wrong, one right in other words.
FT_ANSWERS = {
    "nurse in Lyon": {"locations": [{"city": "Lyon", "country": "Belgium"}]},
    "engineer in Boston": {"locations": [{"city": "Boston", "country": "USA"}]},
}
USAGE = {"gpt-4o": Usage(1400, 20), FT: Usage(250, 18)}


def handler(request: RecordedRequest) -> Reply:
    text = next(m["content"] for m in request.messages if m["role"] == "user")
    model = request.body["model"]
    answer = FT_ANSWERS.get(text, RIGHT[text]) if model == FT else RIGHT[text]
    return Reply.json(answer, usage=USAGE[model])


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedChatServer]:
    monkeypatch.setenv("EVAL_CLI_KEY", KEY)
    with ScriptedChatServer(handler, validate=spec_validator, api_key=KEY) as srv:
        yield srv
    assert srv.spec_errors == []


def write_config(tmp_path: Path, srv: ScriptedChatServer, extra: str = "", candidates: str = "") -> Path:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "".join(
            f"- input: {text}\n  expected: {json.dumps(want)}\n"
            + ("  tags: [us]\n" if "Boston" in text else "")
            for text, want in RIGHT.items()
        )
    )
    config = tmp_path / "eval.toml"
    config.write_text(
        f"""
extractor = "location"
cases = "cases.yaml"
baseline = "teacher"
scorer = "normalized"
concurrency = 2
cache = "cache/answers.sqlite"
thresholds = {{ accuracy = 0.5 }}
{extra}

[settings.backends.openai]
base_url = "{srv.base_url}"
api_key_env = "EVAL_CLI_KEY"

[candidates.teacher]
model = "openai:gpt-4o"
prompt_variant = "full"
description = "big model, full prompt"

[candidates.finetuned]
model = "openai:{FT}"
max_attempts = 2
{candidates}
"""
    )
    return config


def run(*argv: str) -> int:
    return main(list(argv))


def test_run_prints_the_side_by_side_table_and_uses_the_cache(
    server: ScriptedChatServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, server)
    assert run("eval", "run", str(config)) == 0
    out, err = capsys.readouterr()
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("teacher ", "finetuned "))}
    n = len(RIGHT)
    assert f"{100 * (n - 1) / n:.1f}%" in rows["finetuned"]  # one wrong answer; "USA" counts as right
    assert f"{100.0:.1f}%" in rows["teacher"] and "(baseline)" in rows["teacher"]
    assert f"{USAGE[FT].prompt_tokens:,.1f} / {USAGE[FT].completion_tokens:,.1f}" in rows["finetuned"]
    assert f"eval: finetuned {n}/{n}" in err  # progress goes to stderr
    asked = len(server.requests)
    assert asked == 2 * n

    assert run("eval", "run", str(config), "--quiet") == 0
    assert len(server.requests) == asked  # everything came from the answer cache
    assert "came from the cache" in capsys.readouterr().out
    assert run("eval", "run", str(config), "--quiet", "--no-cache", "--candidates", "finetuned") == 0
    assert len(server.requests) == asked + n
    out = capsys.readouterr().out
    assert "finetuned " in out and "teacher " not in out


def test_thresholds_set_the_exit_status_and_the_json_report(
    server: ScriptedChatServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, server)
    report = tmp_path / "report.json"
    status = run(
        "eval", "run", str(config), "--quiet", "--format", "json", "-o", str(report),
        "--threshold", "finetuned/accuracy=0.9",
    )  # fmt: skip
    assert status == 1
    out, err = capsys.readouterr()
    assert "finetuned: accuracy is 0.75, needs >= 0.9" in err
    assert out.startswith("candidate")  # the table still goes to the terminal
    data = json.loads(report.read_text())
    assert data["passed"] is False
    assert [f["candidate"] for f in data["failures"]] == ["finetuned"]
    assert data["metrics"]["finetuned"]["accuracy"]["hits"] == len(RIGHT) - 1
    assert data["metrics"]["teacher"]["prompt_tokens_per_call"] == USAGE["gpt-4o"].prompt_tokens
    assert data["candidates"][0]["description"] == "big model, full prompt"
    assert run("eval", "run", str(config), "--quiet", "--threshold", "accuracy=0.7") == 0


def test_html_and_markdown_reports(
    server: ScriptedChatServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, server)
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()
    assert run("eval", "run", str(config), "--quiet", "--format", "html", "-o", str(page)) == 0
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and '<svg id="chart"' in html
    assert 'data-case="cases.yaml:3"' in html  # the Boston case, named by its line
    capsys.readouterr()
    assert run("eval", "run", str(config), "--quiet", "--format", "markdown") == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("## Evaluation: location") and "| teacher |" in markdown


def test_custom_scorer_and_replay_candidate_from_the_config(
    server: ScriptedChatServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_scorers.py").write_text(
        "def cities_only(expected, actual):\n"
        "    return [l['city'] for l in expected['locations']] == [l['city'] for l in actual['locations']]\n"
    )
    export = tmp_path / "recorded.jsonl"
    recorded = [
        Exchange(extractor="location", input=t, model="openai:gpt-4o", output=w) for t, w in RIGHT.items()
    ]
    export.write_text("".join(e.to_json() + "\n" for e in recorded[:-1]))
    config = write_config(
        tmp_path, server, candidates='\n[candidates.production]\nreplay = "recorded.jsonl"\n'
    )
    config.write_text(
        config.read_text().replace('scorer = "normalized"', 'scorer = "my_scorers.py:cities_only"')
    )
    assert run("eval", "run", str(config), "--quiet", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scorer"] == "cities_only"
    n = len(RIGHT)
    assert data["metrics"]["finetuned"]["accuracy"]["hits"] == n  # only cities decide now
    assert data["metrics"]["production"]["accuracy"]["hits"] == n - 1
    assert data["metrics"]["production"]["errors"] == {"MissingAnswer": 1}


def test_bad_configs_exit_2_bad_data_1_and_name_the_problem(
    server: ScriptedChatServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, server, extra="colour = 'blue'")
    assert run("eval", "run", str(config)) == 2
    assert "'colour' is not a known key" in capsys.readouterr().err
    config = write_config(tmp_path, server)
    (tmp_path / "cases.yaml").write_text("- input: x\n  expected: {}\n- input: y\n")
    assert run("eval", "run", str(config)) == 1  # a bad data file (DatasetError), not a usage error
    assert "cases.yaml:3: the case has no 'expected'" in capsys.readouterr().err
    config = write_config(tmp_path, server, candidates='\n[candidates.bad]\nprompt_variant = "long"\n')
    assert run("eval", "run", str(config)) == 2
    assert "'candidates.bad' is invalid" in capsys.readouterr().err
    assert run("eval", "run", str(tmp_path / "missing.toml")) == 2  # argparse: a usage error
    assert "missing.toml does not exist" in capsys.readouterr().err
    assert run("eval", "run", str(write_config(tmp_path, server)), "--threshold", "speed=3") == 2
    assert "unknown metric 'speed'" in capsys.readouterr().err
    assert server.requests == []  # nothing was paid for a config that could not run
    config = write_config(tmp_path, server)
    assert run("eval", "run", str(config), "--quiet", "-o", str(tmp_path / "no" / "such" / "dir.html")) == 1
    assert "cannot write" in capsys.readouterr().err
    asked = len(server.requests)
    assert run("eval", "run", str(config), "--quiet") == 0
    assert len(server.requests) == asked  # the answers were cached before the write failed


def test_cases_command_exports_the_records_chosen_for_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/ex.db"
    with open_store(url) as store:
        store.write_batch(
            [
                Exchange(extractor="location", input=t, model="openai:gpt-4o", output=w)
                for t, w in RIGHT.items()
            ]
        )
        paris = store.find("location", "designer in Paris")
        assert paris is not None
        store.include([paris.id])
    out = tmp_path / "cases.jsonl"
    assert run("eval", "cases", "--store", url, "--extractor", "location", "-o", str(out)) == 0
    (case,) = load_cases(out)
    assert (case.input, case.expected) == ("designer in Paris", RIGHT["designer in Paris"])
    assert run("eval", "cases", "--store", url, "--extractor", "intent", "-o", str(out)) == 1
    assert "no included records for extractor 'intent'" in capsys.readouterr().err


def test_the_config_can_come_from_stdin_with_paths_relative_to_the_current_folder(
    server: ScriptedChatServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import io
    import os

    config = write_config(tmp_path, server)
    monkeypatch.chdir(tmp_path)  # cases.yaml and the cache are named relative to here
    monkeypatch.setattr("sys.stdin", io.StringIO(config.read_text()))
    assert run("eval", "run", "-", "--quiet", "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert {c["name"] for c in report["candidates"]} == {"teacher", "finetuned"}
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".extractkit-stdin-")]
