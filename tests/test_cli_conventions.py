"""One convention for every ``extractkit`` command, checked by walking every parser.

Exit codes (0 ok, 1 failure, 2 usage/config, 130 Ctrl-C, 141 closed pipe),
one-line errors without tracebacks, examples in every ``--help`` that parse,
``-o/--output`` as the only output flag, ``--json`` on every list and status
command, and ``-`` for standard input wherever a file argument is read.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractkit.cli import build_parser, main
from extractkit.cli.conventions import existing_file, exit_code
from extractkit.exceptions import (
    BackendConnectionError,
    ConfigError,
    DatasetError,
    FineTuneError,
    InvalidOutputError,
    UserError,
)
from extractkit.store import Exchange, open_store


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every leaf command, with its path (``("dataset", "split")``)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for action in subs:
        for name, child in action.choices.items():
            yield from commands(child, (*path, name))


LEAVES = list(commands(build_parser()))
IDS = [" ".join(path) for path, _ in LEAVES]


def test_the_walk_finds_every_command() -> None:
    assert len(LEAVES) >= 23
    for expected in ("extract", "serve", "records list", "dataset split", "finetune status", "batch status"):
        assert expected in IDS


@pytest.fixture
def files_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    # Examples name files (train.jsonl, eval.toml...) that existing_file checks at parse time.
    monkeypatch.setattr("extractkit.cli.conventions.Path.is_file", lambda self: True)


@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=IDS)
def test_help_has_examples_that_parse_and_no_markup(
    path: tuple[str, ...], parser: argparse.ArgumentParser, files_exist: None
) -> None:
    assert parser.formatter_class is argparse.RawDescriptionHelpFormatter
    text = parser.format_help()
    for markup in ("``", ":func:", ":mod:", ":class:", ":meth:", "::"):
        assert markup not in text, f"raw markup {markup!r} in the help of {' '.join(path)}"
    assert parser.epilog and parser.epilog.startswith("examples:\n")
    examples = [line.strip() for line in parser.epilog.replace("\\\n", " ").splitlines()[1:] if line.strip()]
    assert examples
    for example in examples:
        # The part a shell hands to extractkit: its pipeline stage, without redirections and comments.
        stage = next(p for p in example.split("#")[0].split("|") if p.strip().startswith("extractkit "))
        words = shlex.split(stage)
        for redirect in ("<", ">"):
            while redirect in words:
                at = words.index(redirect)
                del words[at : at + 2]
        assert words[0] == "extractkit" and tuple(words[1 : 1 + len(path)]) == path, example
        try:
            args = build_parser().parse_args(words[1:])
        except SystemExit as exc:
            # A file the example names need not exist here; nothing else may fail to parse.
            pytest.fail(f"example does not parse ({exc.code}): {example}")
        assert callable(args.func)


@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=IDS)
def test_one_output_flag_and_json_on_lists_and_status(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    flags = {flag for action in parser._actions for flag in action.option_strings}
    assert not {"--out", "--output-file", "--outfile"} & flags
    for action in parser._actions:
        if action.dest == "output" and action.option_strings:
            assert action.option_strings == ["-o", "--output"], path
    if path[-1] in ("list", "search", "show", "status"):
        assert "--json" in flags, f"{' '.join(path)} needs --json"


@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=IDS)
def test_every_file_argument_takes_dash_for_stdin(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    for action in parser._actions:
        if action.type is existing_file:
            assert action.type("-") == "-"


def test_exit_codes_by_error_class() -> None:
    assert exit_code(UserError("x")) == 2
    assert exit_code(ConfigError("x")) == 2
    for failure in (DatasetError("x"), FineTuneError("x"), BackendConnectionError("x"), OSError("x")):
        assert exit_code(failure) == 1
    assert exit_code(InvalidOutputError("x")) == 1
    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(BrokenPipeError()) == 141


def test_argparse_errors_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["records", "list", "--limit", "many"]) == 2
    assert "invalid int value" in capsys.readouterr().err
    assert main(["no-such-command"]) == 2
    assert main(["dataset"]) == 2  # a group without its command: help on stderr
    assert "usage: extractkit dataset" in capsys.readouterr().err


def test_ctrl_c_is_130_and_a_file_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(self: object, *args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    Path("train.jsonl").write_text('{"messages": []}\n')
    with monkeypatch.context() as patched:
        patched.setattr("extractkit.datasets.validate._Checker.line", interrupted)
        assert main(["dataset", "validate", "train.jsonl"]) == 130
    assert capsys.readouterr().err == "extractkit: interrupted\n"

    from extractkit.store import open_store

    open_store("sqlite:///ex.db").close()  # read-only commands refuse a missing store first
    assert main(["records", "export", "--store", "sqlite:///ex.db", "-o", "no/such/dir/out.jsonl"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("extractkit: error: no/such/dir/out.jsonl: No such file") and err.count("\n") == 1


def test_an_unreachable_postgresql_store_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("psycopg")
    assert main(["records", "list", "--store", "postgresql://127.0.0.1:1/nothing"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("extractkit: error: ") and "127.0.0.1" in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/many.db"
    with open_store(url) as store:
        store.write_batch(
            [
                Exchange(extractor="location", input=f"job {i} " + "x" * 200, model="openai:m", output={})
                for i in range(2000)
            ]
        )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [
        sys.executable,
        "-m",
        "extractkit.cli",
        "records",
        "list",
        "--json",
        "--limit",
        "0",
        "--store",
        url,
    ]
    # `extractkit records list --json | head -1`: the reader leaves after one line.
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        json.loads(proc.stdout.readline())
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert err == "" and code == 141


def test_dash_reads_stdin_for_validate_and_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    row = {
        "messages": [
            {"role": "user", "content": "nurse in Paris"},
            {"role": "assistant", "content": '{"locations":[]}'},
        ]
    }
    lines = "".join(
        json.dumps({**row, "messages": [{**row["messages"][0], "content": f"m{i}"}, row["messages"][1]]})
        + "\n"
        for i in range(10)
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert main(["dataset", "validate", "-"]) == 0
    assert "<stdin>: OK" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert main(["dataset", "split", "-"]) == 2  # stdin has no name to derive the outputs from
    assert "--train FILE and --validation FILE" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert main(["dataset", "split", "-", "--train", "t.jsonl", "--validation", "v.jsonl"]) == 0
    assert len(Path("t.jsonl").read_text().splitlines()) == 8
    assert len(Path("v.jsonl").read_text().splitlines()) == 2
