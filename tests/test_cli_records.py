"""``extractkit records ...`` against a real SQLite store, through argparse as the CLI runs it."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from extractkit.cli import main, records
from extractkit.store import Exchange, open_store

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def run(*argv: str) -> int:
    return main(list(argv))


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/ex.db"
    with open_store(url) as store:
        store.write_batch(
            [
                Exchange(
                    id="aaaa1111" + "0" * 24,
                    extractor="location",
                    input="graphic designer in New York " + "and more words " * 10,
                    model="openai:gpt-4o-mini",
                    output={"locations": [{"city": "New York", "country": "United States"}]},
                    created_at=T0,
                    messages=({"role": "system", "content": "Extract."}, {"role": "user", "content": "x"}),
                    raw_response='{"locations": [{"city": "New York"}]}',
                ),
                Exchange(
                    id="bbbb2222" + "0" * 24,
                    extractor="location",
                    input="nurse in Lyon",
                    model="openai:gpt-4o",
                    output={"locations": [{"city": "Lyon"}]},
                    repairs=("removed_trailing_comma",),
                    created_at=T0 + timedelta(days=1),
                ),
                Exchange(
                    id="cccc3333" + "0" * 24,
                    extractor="intent",
                    input="???",
                    model="openai:gpt-4o-mini",
                    error="InvalidOutputError: no route",
                    created_at=T0 + timedelta(days=2),
                ),
            ]
        )
    return url


def test_list_prints_a_fixed_width_table(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("records", "list", "--store", db) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "CREATED", "(UTC)", "EXTRACTOR", "MODEL", "FLAGS", "INPUT", "OUTPUT"]
    rows = out[2:5]
    assert [row[:12] for row in rows] == ["cccc33330000", "bbbb22220000", "aaaa11110000"]
    assert "error: InvalidOutputError" in rows[0] and "..E.." in rows[0]
    assert "...R." in rows[1]
    assert "…" in rows[2]  # the long input was cut to its column
    assert rows[1].index('{"locations"') == rows[2].index('{"locations"') == out[0].index("OUTPUT")
    assert "1-3 of 3" in out[-1]


def test_list_filters(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    def ids(*args: str) -> list[str]:
        assert run("records", "list", "--store", db, "--json", *args) == 0
        return [json.loads(line)["id"][:4] for line in capsys.readouterr().out.splitlines()]

    assert ids() == ["cccc", "bbbb", "aaaa"]
    assert ids("--extractor", "location") == ["bbbb", "aaaa"]
    assert ids("--model", "openai:gpt-4o") == ["bbbb"]
    assert ids("--errors") == ["cccc"]
    assert ids("--repaired") == ["bbbb"]
    assert ids("--since", "2024-05-02") == ["cccc", "bbbb"]
    assert ids("--until", "2024-05-02") == ["bbbb", "aaaa"]  # a bare date is inclusive
    assert ids("--until", "2024-05-02T00:00:00+00:00") == ["aaaa"]
    assert ids("--limit", "1", "--offset", "1") == ["bbbb"]
    assert run("records", "include", "--store", db, "aaaa") == 0
    capsys.readouterr()
    assert ids("--included") == ["aaaa"]
    assert ids("--not-included") == ["cccc", "bbbb"]
    assert ids("--unreviewed") == ["cccc", "bbbb"]


def test_search(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("records", "search", "--store", db, "LYON") == 0
    out = capsys.readouterr().out
    assert "nurse in Lyon" in out and "New York" not in out
    assert run("records", "search", "--store", db, "nowhere") == 0
    assert "no records match" in capsys.readouterr().out


def test_show(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("records", "show", "--store", db, "aaaa1111") == 0
    out = capsys.readouterr().out
    assert "extractor  location" in out
    assert "[system] Extract." in out
    assert '"city": "New York"' in out
    assert "history" in out
    assert run("records", "show", "--store", db, "aaaa", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"].startswith("aaaa1111") and data["label_history"][0]["kind"] == "model"


def test_include_exclude_correct(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("records", "include", "--store", db, "aaaa", "bbbb") == 0
    assert "included 2 record(s)" in capsys.readouterr().out
    assert run("records", "exclude", "--store", db, "bbbb") == 0
    assert "excluded 1 record(s)" in capsys.readouterr().out
    assert run("records", "correct", "--store", db, "aaaa", '{"locations": []}') == 0
    with open_store(db) as store:
        record = store.get("aaaa1111" + "0" * 24)
        assert record is not None and record.included and record.corrected_output == {"locations": []}
        assert not store.get("bbbb2222" + "0" * 24).included  # type: ignore[union-attr]
    assert run("records", "correct", "--store", db, "aaaa", "--clear") == 0
    with open_store(db) as store:
        assert store.get("aaaa1111" + "0" * 24).corrected_output is None  # type: ignore[union-attr]


def test_correct_reads_a_file(db: str, tmp_path: Path) -> None:
    path = tmp_path / "fix.json"
    path.write_text('{"locations": [{"city": "Lyon", "country": "France"}]}')
    assert run("records", "correct", "--store", db, "bbbb", "--file", str(path)) == 0
    with open_store(db) as store:
        record = store.get("bbbb2222" + "0" * 24)
        assert record is not None and record.training_output["locations"][0]["country"] == "France"


def test_errors_are_one_line_and_an_exit_code(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Every one is something the command line got wrong: a usage error, 2, one line, no traceback.
    for argv, said in (
        (("show", "ffff"), "no record with id 'ffff'"),
        (("correct", "aaaa", "{not json"), "not valid JSON"),
        (("correct", "aaaa"), "--file"),
    ):
        assert run("records", *argv[:1], "--store", db, *argv[1:]) == 2
        err = capsys.readouterr().err
        assert err.startswith("extractkit: error: ") and said in err and "Traceback" not in err
        assert err.count("\n") == 1
    assert run("records", "list", "--store", "mysql://x/y") == 2
    assert "unknown store URL scheme" in capsys.readouterr().err


def test_store_comes_from_the_environment_or_config(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EXTRACTKIT_STORE", db)
    assert run("records", "list", "--json") == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    monkeypatch.delenv("EXTRACTKIT_STORE")
    from extractkit import config

    config.set_settings(config.Settings())  # no [store] in the config either
    try:
        assert run("records", "list") == 2
    finally:
        config.set_settings(None)
    assert "--store" in capsys.readouterr().err
    config.set_settings(config.Settings(store_url=db))
    try:
        assert run("records", "list", "--json") == 0
    finally:
        config.set_settings(None)
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_export_jsonl(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("records", "include", "--store", db, "aaaa", "cccc")
    capsys.readouterr()
    out = tmp_path / "out.jsonl"
    assert run("records", "export", "--store", db, "--included", "-o", str(out)) == 0
    assert "wrote 2 record(s)" in capsys.readouterr().err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["input"] for line in lines] == [
        "???",
        "graphic designer in New York " + "and more words " * 10,
    ]
    assert lines[1]["included_at"] is not None and lines[1]["messages"][0]["role"] == "system"
    assert run("records", "export", "--store", db, "--extractor", "intent") == 0
    stdout_lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["extractor"] for line in stdout_lines] == ["intent"]


def test_export_pages_through_large_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "big.db")
    with open_store(url) as store:
        store.write_batch(
            Exchange(extractor="e", input=f"q{i}", model="m", output=i, created_at=T0 + timedelta(seconds=i))
            for i in range(2345)
        )
    assert run("records", "export", "--store", url) == 0
    outputs = [json.loads(line)["output"] for line in capsys.readouterr().out.splitlines()]
    assert outputs == list(range(2344, -1, -1))
    assert run("records", "export", "--store", url, "--limit", "1001") == 0
    assert len(capsys.readouterr().out.splitlines()) == 1001


def test_format_table_cuts_and_flattens() -> None:
    table = records.format_table(["A", "B"], [["x" * 10, "two\nlines"]], [5, 9])
    assert table.splitlines() == ["A      B", "-----  ---------", "xxxx…  two lines"]


def test_records_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("records") == 2
    assert "list" in capsys.readouterr().err


def test_stdin_correction(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"locations": [{"city": "Paris"}]}'))
    assert run("records", "correct", "--store", db, "cccc", "--file", "-") == 0
    with open_store(db) as store:
        assert store.get("cccc3333" + "0" * 24).corrected_output == {  # type: ignore[union-attr]
            "locations": [{"city": "Paris"}]
        }
