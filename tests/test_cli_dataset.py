"""``extractkit dataset ...`` through argparse as the CLI runs it, against real files, stores and servers."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractkit.cli import main
from extractkit.cli.loading import load_extractor
from extractkit.extractors import IntentRouter, LocationExtractor
from extractkit.store import Exchange, open_store
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer

PARIS = {"locations": [{"city": "Paris", "country": "France"}]}
KEY = "sk-test-cli-dataset-0123456789"


def run(*argv: str) -> int:
    return main(list(argv))


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/ex.db"
    with open_store(url) as store:
        store.write_batch(
            [
                Exchange(
                    extractor="location", input="designer in Paris", model="openai:gpt-4o", output=PARIS
                ),
                Exchange(
                    extractor="location", input="nurse", model="openai:gpt-4o", output={"locations": []}
                ),
                Exchange(
                    extractor="location", input="chef in Rome", model="openai:gpt-4o", output={"locations": 1}
                ),
            ]
        )
        good = [r.id for r in store.list() if r.exchange.input != "chef in Rome"]
        store.include(good)
    return url


def test_build_from_the_store(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "train.jsonl"
    assert run("dataset", "build", "--store", store_url, "--extractor", "location", "-o", str(out)) == 0
    captured = capsys.readouterr()
    assert f"wrote 2 example(s) to {out}" in captured.out
    assert "estimated cost $" in captured.out and "tokens per example" in captured.out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["messages"][0]["content"] for r in rows} == {LocationExtractor.instructions}


def test_build_names_an_invalid_included_record_and_writes_nothing(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store(store_url) as store:
        rome = store.find("location", "chef in rome")
        assert rome is not None
        store.include([rome.id])
    out = tmp_path / "train.jsonl"
    assert run("dataset", "build", "--store", store_url, "--extractor", "location", "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert f"record {rome.id[:12]}" in err and "'chef in Rome'" in err
    assert not out.exists()
    assert (
        run(
            "dataset",
            "build",
            "--store",
            store_url,
            "--extractor",
            "location",
            "-o",
            str(out),
            "--skip-invalid",
        )
        == 0
    )
    assert len(out.read_text().splitlines()) == 2


def test_build_without_a_source_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("dataset", "build", "--extractor", "location", "-o", "x.jsonl") == 2
    assert "--labels FILE or --store URL" in capsys.readouterr().err


def located(request: RecordedRequest) -> Reply:
    city = request.last_user_text.rsplit(" ", 1)[-1]
    return Reply.json({"locations": [{"city": city, "country": None}]})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedChatServer]:
    monkeypatch.setenv("EXTRACTKIT_TEST_KEY", KEY)
    with ScriptedChatServer(located, validate=spec_validator, api_key=KEY) as srv:
        # The CLI reads its backends from extractkit.toml in the working directory (a fresh tmp dir).
        Path("extractkit.toml").write_text(
            f'[backends.openai]\nbase_url = "{srv.base_url}"\napi_key_env = "EXTRACTKIT_TEST_KEY"\n'
        )
        yield srv
    assert srv.spec_errors == [], srv.spec_errors


def test_label_is_resumable_and_build_uses_the_students_prompt(
    server: ScriptedChatServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("designer in Paris\nnurse in Lyon\n\nchef in Rome\n")
    labels = tmp_path / "labels.jsonl"
    argv = ["dataset", "label", str(inputs), "--teacher-model", "openai:gpt-4o", "--extractor", "location"]

    assert run(*argv, "-o", str(labels)) == 0
    captured = capsys.readouterr()
    assert "3 of 3 input(s) labelled" in captured.out and "(3 new, 0 from earlier runs" in captured.out
    assert captured.err.endswith("3/3 labelled, 0 failed\n")
    assert len(server.requests) == 3
    assert "job-search queries" in server.requests[0].body["messages"][0]["content"]  # the full prompt

    inputs.write_text("designer in Paris\nnurse in Lyon\nchef in Rome\npilot in Oslo\n")
    assert run(*argv, "-o", str(labels), "--quiet") == 0
    assert "(1 new, 3 from earlier runs" in capsys.readouterr().out
    assert len(server.requests) == 4  # only the new input was sent

    train = tmp_path / "train.jsonl"
    assert run("dataset", "build", "--labels", str(labels), "--extractor", "location", "-o", str(train)) == 0
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    assert len(rows) == 4
    assert {r["messages"][0]["content"] for r in rows} == {LocationExtractor.instructions}


def test_validate_prints_every_error_with_its_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {
        "messages": [
            {"role": "system", "content": LocationExtractor.instructions},
            {"role": "user", "content": "designer in Paris"},
            {"role": "assistant", "content": json.dumps(PARIS)},
        ]
    }
    bad_answer = json.loads(json.dumps(good))
    bad_answer["messages"][2]["content"] = "Paris"
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(good) + "\n{oops\n" + json.dumps(bad_answer) + "\n")

    assert run("dataset", "validate", str(path), "--extractor", "location") == 1
    out = capsys.readouterr().out
    assert f"{path}:2: error: the line is not valid JSON" in out
    assert f"{path}:3: error: the assistant answer is not valid JSON" in out
    assert "2 error(s)" in out

    assert run("dataset", "validate", str(path), "--json") == 1  # no extractor: only the format
    report = json.loads(capsys.readouterr().out)
    assert [(e["line"], e["code"]) for e in report["errors"]] == [(2, "invalid_json")]

    path.write_text((json.dumps(good) + "\n") * 12)
    assert run("dataset", "validate", str(path), "--model", "gpt-4o-mini") == 0
    out = capsys.readouterr().out
    assert "OK" in out and "8 epoch(s)" in out and "(limit 65,536 for gpt-4o-mini)" in out


def test_validate_a_router_file_with_routes_from_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = {"book_holiday": "Book a day off", "get_payslip": "Get a payslip"}
    (tmp_path / "routes.json").write_text(json.dumps(routes))
    router = IntentRouter(routes)
    rows = []
    for i, label in enumerate(["book_holiday", "get_payslip", "lunch"]):
        system = router.render(f"m{i}").split("--- system\n", 1)[1].split("\n--- user", 1)[0]
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": f"m{i}"},
                    {"role": "assistant", "content": json.dumps({"route": label})},
                ]
            }
        )
    path = tmp_path / "router.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    routes_arg = str(tmp_path / "routes.json")
    assert run("dataset", "validate", str(path), "--extractor", "intent", "--routes", routes_arg) == 1
    out = capsys.readouterr().out
    assert (
        f"{path}:1: error: the system message contains the teacher prompt" in out
    )  # render() is the full prompt
    assert f"{path}:3: error: the assistant answer does not match IntentRouter's schema" in out
    assert run("dataset", "validate", str(path), "--extractor", "intent") == 2  # a usage error
    assert "give its routes with --routes" in capsys.readouterr().err


def test_split_prints_the_counts_per_route(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "router.jsonl"
    lines = []
    for i in range(20):
        answer = json.dumps({"route": "a" if i < 15 else "b"})
        messages = [{"role": "user", "content": f"m{i}"}, {"role": "assistant", "content": answer}]
        lines.append(json.dumps({"messages": messages}))
    path.write_text("\n".join(lines) + "\n")
    assert run("dataset", "split", str(path), "--seed", "1", "--fraction", "0.2") == 0
    out = capsys.readouterr().out
    assert f"train: 16 example(s) -> {tmp_path / 'router_train.jsonl'}" in out
    assert "  a: 12 train, 3 validation" in out and "  b: 4 train, 1 validation" in out
    assert run("dataset", "split", str(tmp_path / "none.jsonl")) == 2
    assert "none.jsonl does not exist" in capsys.readouterr().err


def test_user_extractors_are_loaded_from_module_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # undo the CLI's cwd insertion afterwards
    Path("skills_ex.py").write_text(
        "from extractkit import Extractor\n"
        "class Skills(Extractor[list[str]]):\n"
        "    instructions = 'List the skills.'\n"
    )
    extractor = load_extractor("skills_ex:Skills")
    assert type(extractor).__name__ == "Skills"
    path = tmp_path / "skills.jsonl"
    row = {
        "messages": [
            {"role": "system", "content": "List the skills."},
            {"role": "user", "content": "python and sql"},
            {"role": "assistant", "content": '{"answer":["python","sql"]}'},
        ]
    }
    path.write_text(json.dumps(row) + "\n")
    assert run("dataset", "validate", str(path), "--extractor", "skills_ex:Skills") == 0
    assert run("dataset", "validate", str(path), "--extractor", "skills_ex:Nope") == 2
    assert "has no 'Nope'" in capsys.readouterr().err
    assert run("dataset", "validate", str(path), "--extractor", "sentiment") == 2
    assert "unknown extractor 'sentiment'" in capsys.readouterr().err


def test_validate_without_an_extractor_parses_json_answers_and_split_refuses_broken_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def row(i: int, answer: str) -> str:
        messages = [
            {"role": "system", "content": LocationExtractor.instructions},
            {"role": "user", "content": f"designer in town {i}"},
            {"role": "assistant", "content": answer},
        ]
        return json.dumps({"messages": messages})

    rows = [row(i, json.dumps({"locations": [{"city": f"T{i}", "country": None}]})) for i in range(12)]
    rows[5] = row(5, '{"locations":[{"city":"Lyon","country":"France"}]')  # the missing brace
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(rows) + "\n")

    assert run("dataset", "validate", str(path)) == 1
    out = capsys.readouterr().out
    assert f"{path}:6: error: the assistant answer is not valid JSON" in out
    assert "answers: JSON, each one parsed" in out
    assert run("dataset", "validate", str(path), "--no-json-answers") == 0
    capsys.readouterr()

    assert run("dataset", "split", str(path)) == 1
    err = capsys.readouterr().err
    assert err.startswith("extractkit: error: ") and "line 6: the assistant answer is not valid JSON" in err
    assert not (tmp_path / "train_train.jsonl").exists()
    assert run("dataset", "split", str(path), "--no-json-answers") == 0
