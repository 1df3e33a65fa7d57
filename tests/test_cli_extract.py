"""``extractkit extract``: end to end against a real OpenAI-compatible server on 127.0.0.1.

The official ``openai`` client reaches the scripted server through
``OPENAI_BASE_URL``, as a user pointing the command at a compatible server would.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractkit.cli import main
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer

KEYS = {"input", "value", "error", "model", "latency_s"}


def first_user_text(request: RecordedRequest) -> str:
    return next(m["content"] for m in request.messages if m.get("role") == "user")


def answer(request: RecordedRequest) -> Reply | str:
    text = first_user_text(request)
    system = str(request.messages[0].get("content", ""))
    if "Options:" in system:  # the intent router in one-token mode: the number of the right option
        options = re.findall(r"^(\d+)\. (.+)$", system, re.MULTILINE)
        wanted = "payslip" if "payslip" in text else "day off"
        return next(number for number, description in options if wanted in description)
    if text.startswith("garbled"):
        return "no idea"  # every attempt: the input fails with UnparseableOutputError
    # The first input answers last, so the output order cannot come from the arrival order.
    delay = 0.3 if text.startswith("slow") else 0.0
    city = text.rsplit(" ", 1)[-1]
    return Reply.json({"locations": [{"city": city, "country": None}]}, delay=delay)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(answer, validate=spec_validator) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-extract")
        yield srv
    assert srv.spec_errors == [], srv.spec_errors


def lines_in(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_one_text_prints_its_value(server: ScriptedChatServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", "location", "graphic designer in New York"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"locations": [{"city": "York", "country": None}]}
    assert captured.out.count("\n") == 1 and captured.err == ""
    (request,) = server.requests
    assert request.body["model"] == "gpt-4o-mini"
    assert first_user_text(request) == "graphic designer in New York"


def test_the_installed_command_runs_end_to_end(server: ScriptedChatServer, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "extractkit.cli", "extract", "location", "nurse in Paris", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert set(row) == KEYS
    assert row["value"] == {"locations": [{"city": "Paris", "country": None}]}
    assert row["error"] is None and row["model"] == "openai:gpt-4o-mini" and row["latency_s"] > 0


def test_lines_from_stdin_as_json_in_input_order_and_exit_1_when_some_fail(
    server: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines_in("slow nurse in Paris\n\ngarbled words\ncook in Rome\n", monkeypatch)
    assert main(["extract", "location", "-", "--json", "--concurrency", "3"]) == 1
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert all(set(r) == KEYS for r in rows)
    assert [r["input"] for r in rows] == ["slow nurse in Paris", "garbled words", "cook in Rome"]
    assert rows[0]["value"] == {"locations": [{"city": "Paris", "country": None}]}
    assert rows[1]["value"] is None and rows[1]["error"]["type"] == "UnparseableOutputError"
    assert rows[1]["model"] == "openai:gpt-4o-mini" and rows[1]["latency_s"] > 0
    assert rows[2]["error"] is None
    assert "3 texts: 2 ok, 1 failed" in captured.err


def test_plain_output_keeps_one_line_per_input_and_errors_on_stderr(
    server: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines_in("nurse in Paris\ngarbled words\ncook in Rome\n", monkeypatch)
    assert main(["extract", "location"]) == 1  # no TEXT: standard input
    captured = capsys.readouterr()
    out = captured.out.split("\n")
    assert json.loads(out[0])["locations"][0]["city"] == "Paris"
    assert out[1] == ""  # the failed input's line stays, empty
    assert json.loads(out[2])["locations"][0]["city"] == "Rome"
    assert "extractkit: input 2 failed: UnparseableOutputError" in captured.err


def test_all_ok_is_exit_0_with_progress_and_output_file(
    server: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines_in("nurse in Paris\ncook in Rome\n", monkeypatch)
    assert main(["extract", "location", "-", "--json", "--progress", "-o", "out.jsonl"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "\rextract: 2/2 done, 0 failed\n" in captured.err and "results in out.jsonl" in captured.err
    rows = [json.loads(line) for line in Path("out.jsonl").read_text().splitlines()]
    assert [r["value"]["locations"][0]["city"] for r in rows] == ["Paris", "Rome"]
    # Progress is off by default when standard error is not a terminal (as here).
    lines_in("nurse in Paris\ncook in Rome\n", monkeypatch)
    assert main(["extract", "location", "--json"]) == 0
    assert "extract:" not in capsys.readouterr().err


def test_model_config_and_routes(
    server: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["extract", "location", "chef in Oslo", "--model", "openai:gpt-4o", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "openai:gpt-4o"
    assert server.requests[-1].body["model"] == "gpt-4o"

    Path("conf.toml").write_text('[extractors.location]\nmodel = "openai:gpt-4.1-mini"\n')
    assert main(["extract", "location", "chef in Oslo", "--config", "conf.toml"]) == 0
    assert server.requests[-1].body["model"] == "gpt-4.1-mini"
    capsys.readouterr()

    Path("routes.json").write_text('{"holiday": "Book a day off", "payslip": "Get a payslip"}')
    lines_in("a day off please\nwhere is my payslip\n", monkeypatch)
    assert main(["extract", "intent", "--routes", "routes.json", "--json"]) == 0
    assert [json.loads(line)["value"] for line in capsys.readouterr().out.splitlines()] == [
        "holiday",
        "payslip",
    ]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["extract", "sentiment", "x"], "unknown extractor 'sentiment'"),
        (["extract", "intent", "x"], "give its routes with --routes"),
        (["extract", "location", "x", "--routes", "routes.json"], "--routes is only for routers"),
        (["extract", "location", "x", "--config", "missing.toml"], "missing.toml does not exist"),
        (["extract", "location", "x", "--model", "nosuch:model-1"], "nosuch"),
        (["extract", "location", "x", "--concurrency", "0"], "--concurrency must be >= 1"),
        (["extract", "location", "-"], "no text to extract from"),
        (["extract", "intent", "-", "--routes", "-"], "only one argument can read standard input"),
        (["extract", "nomodule_here:Thing", "x"], "cannot import 'nomodule_here'"),
    ],
)
def test_usage_and_config_errors_exit_2_in_one_line(
    server: ScriptedChatServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    said: str,
) -> None:
    Path("routes.json").write_text('{"a": "first", "b": "second"}')
    lines_in("", monkeypatch)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert server.requests == []  # nothing was asked of the model


def test_a_bug_in_a_users_hook_fails_that_input_only(
    server: ScriptedChatServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("buggy_ex.py").write_text(
        "from extractkit import LocationExtractor\n"
        "class Buggy(LocationExtractor):\n"
        "    def postprocess(self, value, ctx):\n"
        "        if 'Rome' in ctx.text:\n"
        "            raise ZeroDivisionError('a bug in my hook')\n"
        "        return super().postprocess(value, ctx)\n"
    )
    monkeypatch.setattr("sys.path", list(sys.path))  # the CLI puts the current folder on the path
    lines_in("nurse in Paris\ncook in Rome\n", monkeypatch)
    assert main(["extract", "buggy_ex:Buggy", "--json"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["error"] is None
    assert rows[1]["error"]["type"] == "ItemError" and "ZeroDivisionError" in rows[1]["error"]["message"]
