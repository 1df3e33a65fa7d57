"""Store durability under faults: nothing acknowledged is lost without an error reaching the caller.

Each test reproduces one observation of issue 11 against a real database:

* a full disk (a 512 KiB tmpfs when this process may mount one, and always SQLite's
  ``max_page_count``): ``flush()`` raises StoreError with the counts and the exchanges;
  ``extract()`` raises RecordingError carrying its value, or warns, as the policy says;
* text a database cannot hold (lone surrogates, NUL) round-trips exactly, on both databases;
* SIGTERM and SIGHUP flush the queued tail like SIGINT;
* ``records export`` reads one snapshot while writers run.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import test_store
from extractkit import LocationExtractor
from extractkit.cli import main as cli_main
from extractkit.exceptions import RecordingError, StoreError
from extractkit.store import Exchange, Record, SQLiteStore
from extractkit.testing import FakeBackend
from test_store import Target, ex

target = test_store.target  # the SQLite/PostgreSQL fixture

NY = {"locations": [{"city": "New York", "country": "United States"}]}

# -- a full disk ---------------------------------------------------------------------------


@pytest.fixture(params=["tmpfs", "max_page_count"])
def full_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A store path on a disk that fills up: a real 512 KiB tmpfs, or a page-count limit."""
    if request.param == "max_page_count":
        yield tmp_path / "tiny.db", {"on_connect": lambda conn: conn.execute("PRAGMA max_page_count = 64")}
        return
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip()}); the max_page_count variant covers it"
        )
    try:
        yield mount / "tiny.db", {}
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _big(i: int) -> Exchange:
    return Exchange(extractor="location", input=f"input {i} " + "x" * 200, model="m", output={"i": i})


def test_a_full_disk_reaches_flush_with_counts_and_loses_nothing(
    full_disk: tuple[Path, dict[str, Any]],
) -> None:
    path, options = full_disk
    store = SQLiteStore(path, **options)
    recorded = [_big(i) for i in range(20_000)]
    for exchange in recorded:
        store.record(exchange)
    with pytest.raises(StoreError, match="could not be written") as caught:
        store.flush()
    err = caught.value
    assert err.failed is not None and err.failed > 0 and err.pending == 0
    assert err.written is not None and err.written + err.failed == len(recorded)
    assert "full" in str(err)
    written = {record.exchange.id for record in store.export()}
    handed_back = {exchange.id for exchange in err.exchanges}
    # The loss count: every recorded exchange is either in the database or in the caller's hands.
    assert len(written) == err.written and not written & handed_back
    assert written | handed_back == {exchange.id for exchange in recorded}
    store.flush()  # each failure is reported once
    store.close()


def _filled(path: Path, options: dict[str, Any], policy: str) -> SQLiteStore:
    store = SQLiteStore(path, on_record_error=policy, **options)  # type: ignore[arg-type]
    for i in range(3_000):
        store.record(_big(i))
    store.writer.wait()  # written or failed, without taking the failures
    assert store.writer.failed > 0
    return store


async def test_raise_policy_hands_the_paid_value_to_the_caller(
    full_disk: tuple[Path, dict[str, Any]],
) -> None:
    path, options = full_disk
    store = _filled(path, options, "raise")
    backend = FakeBackend(lambda r: NY)
    extractor = LocationExtractor(backend=backend, store=store)
    with pytest.raises(RecordingError) as caught:
        await extractor.extract("designer in New York")
    err = caught.value
    assert len(backend.requests) == 1  # it was paid for ...
    assert err.value is not None and err.value.locations[0].city == "New York"  # ... and nothing is lost
    assert err.extraction is not None and err.extraction.exchange_id is None
    assert err.exchange is not None and err.exchange.input == "designer in New York"
    assert len(err.exchanges) == store.writer.failed  # the earlier failures come with it
    store.close()  # ... and are reported once: handed over, close has nothing left to raise


async def test_warn_policy_returns_the_value_with_a_warning_and_a_log(
    full_disk: tuple[Path, dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    path, options = full_disk
    store = _filled(path, options, "warn")
    extractor = LocationExtractor(backend=FakeBackend(lambda r: NY), store=store)
    with caplog.at_level(logging.ERROR, logger="extractkit"), pytest.warns(RuntimeWarning, match="full"):
        value = await extractor.extract("designer in New York")
    assert value.locations[0].city == "New York"
    assert any("could not be written" in r.getMessage() for r in caplog.records)
    store.close()


async def test_the_policy_comes_from_config_for_stores_opened_by_url(tmp_path: Path) -> None:
    from extractkit import Settings

    settings = Settings.from_mapping(
        {"store": {"url": f"sqlite:///{tmp_path}/x.db", "on_record_error": "warn"}}
    )
    extractor = LocationExtractor(backend=FakeBackend(lambda r: NY), settings=settings)
    await extractor.extract("designer in New York")
    assert extractor.store.on_record_error == "warn"
    extractor.store.close()


async def test_a_store_that_cannot_be_opened_fails_before_the_model_is_paid(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    backend = FakeBackend(lambda r: NY)
    extractor = LocationExtractor(backend=backend, store=f"sqlite:///{blocker}/x.db")
    with pytest.raises(StoreError, match="cannot create"):
        await extractor.extract("designer in New York")
    assert backend.requests == []


# -- text a database cannot hold -------------------------------------------------------------

AWKWARD = [
    "lone high \ud800 surrogate",
    "lone low \udfff at the end \udc80",
    "NUL \x00 in the middle",
    "\ufdd0starts with the escape mark",
    "back\\slash \\u0041 and \\\\ escapes \ud83d",
    "\ud83d\ude00",  # two lone surrogates that would pair up in JSON escapes
    "plain ascii",
]


def test_unstorable_text_round_trips_exactly(target: Target) -> None:
    store = target.open()
    exchanges = [
        ex(
            text,
            raw_response=text,
            error=f"E: {text}",
            messages=({"role": "user", "content": text},),
            output={"text": text, text: [text]},
            metadata={"note": text},
        )
        for text in AWKWARD
    ]
    for exchange in exchanges:
        store.record(exchange)
    store.flush()  # raises if any of them could not be written
    assert store.count() == len(AWKWARD)
    for exchange in exchanges:
        found = store.find("location", exchange.input)
        assert found is not None
        got = found.exchange
        assert (got.input, got.raw_response, got.error) == (
            exchange.input,
            exchange.raw_response,
            exchange.error,
        )
        assert got.messages == exchange.messages and got.output == exchange.output
        assert got.metadata == exchange.metadata
        assert found.label_history[0].output == exchange.output
    # Corrections and search go through the same escaping.
    record = store.find("location", AWKWARD[2])
    assert record is not None
    store.correct(record.id, {"text": AWKWARD[2]})
    again = store.get(record.id)
    assert again is not None and again.corrected_output == {"text": AWKWARD[2]}
    assert [r.exchange.input for r in store.list(search="NUL \x00")] == [AWKWARD[2]]


def test_unstorable_text_round_trips_through_export(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if target.kind == "postgres":
        pytest.skip("the CLI takes a URL, not a schema; the export shape is covered on SQLite")
    store = target.open()
    for text in AWKWARD:
        store.record(ex(text, output={"text": text}))
    store.close()
    out = tmp_path / "export.jsonl"
    args = ["records", "export", "--store", target.url, "-o", str(out)]
    assert cli_main(args) == 0
    rows = [Record.from_dict(json.loads(line)) for line in out.read_text(encoding="utf-8").splitlines()]
    by_input = {r.exchange.input: r.exchange.output for r in rows}
    # JSON has no way to keep two lone surrogates that form a pair apart from the character they
    # pair into; every other text comes back exactly.
    for text in AWKWARD[:-2] + AWKWARD[-1:]:
        assert by_input[text] == {"text": text}
    assert "\U0001f600" in by_input or AWKWARD[-2] in by_input
    # The terminal commands print them (escaped where UTF-8 cannot carry them) instead of failing.
    assert cli_main(["records", "list", "--store", target.url]) == 0
    assert cli_main(["records", "show", rows[0].id[:12], "--store", target.url]) == 0
    assert "\\ud800" in capsys.readouterr().out


# -- signals --------------------------------------------------------------------------------

_RECORDER = """
import sys, time
from extractkit.store import Exchange, open_store
store = open_store(sys.argv[1])
for i in range(int(sys.argv[2])):
    store.record(Exchange(extractor="location", input=f"tail-{i}", model="m", output={"i": i}))
print("recorded", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_termination_signals_flush_the_queued_tail(tmp_path: Path, signum: int) -> None:
    path = tmp_path / "signals.db"
    count = 10_000
    proc = subprocess.Popen(
        [sys.executable, "-c", _RECORDER, str(path), str(count)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "recorded"
    proc.send_signal(signum)
    status = proc.wait(timeout=120)
    # The process still ends as the signal asks (a supervisor sees the signal).
    assert status == -signum
    with SQLiteStore(path, read_only=True) as store:
        assert store.count() == count


def test_an_application_handler_is_left_alone(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import signal, sys
        signal.signal(signal.SIGTERM, lambda *a: print("mine", flush=True))
        from extractkit.store import open_store
        store = open_store(sys.argv[1])
        print(signal.getsignal(signal.SIGTERM).__name__)
        store.close()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "x.db")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "<lambda>"


# -- export while writers run ---------------------------------------------------------------


def test_export_reads_one_snapshot_while_writers_run(target: Target) -> None:
    store = target.open()
    store.write_batch([ex(f"existing-{i}", at=test_store.T0) for i in range(5_000)])
    stop = threading.Event()

    def writer(n: int) -> None:
        other = target.open(batch_size=50)
        i = 0
        while not stop.is_set():
            # Newer rows land at the top of the export's order and would shift every page.
            other.write_batch(
                [ex(f"new-{n}-{i}-{k}", at=test_store.T0.replace(year=2030)) for k in range(20)]
            )
            i += 1
        other.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.2)
        exported = []
        for record in store.export():
            exported.append(record.exchange.input)
            if len(exported) % 500 == 0:
                time.sleep(0.01)  # let the writers commit between pages
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    existing = [text for text in exported if text.startswith("existing-")]
    assert len(existing) == len(set(existing)) == 5_000  # no duplicate, none missed
    assert len(exported) == len(set(exported))


def test_cli_export_is_a_snapshot_with_private_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with SQLiteStore(path) as store:
        store.write_batch([ex(f"row-{i}") for i in range(5_000)])
    stop = threading.Event()

    def writer() -> None:
        with SQLiteStore(path) as other:
            i = 0
            while not stop.is_set():
                other.write_batch(
                    [ex(f"new-{i}-{k}", at=test_store.T0.replace(year=2030)) for k in range(20)]
                )
                i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    out = tmp_path / "out.jsonl"
    try:
        time.sleep(0.1)
        assert cli_main(["records", "export", "--store", str(path), "-o", str(out)]) == 0
    finally:
        stop.set()
        thread.join()
    inputs = [json.loads(line)["input"] for line in out.read_text(encoding="utf-8").splitlines()]
    existing = [text for text in inputs if text.startswith("row-")]
    assert len(existing) == len(set(existing)) == 5_000 and len(inputs) == len(set(inputs))
    assert os.stat(out).st_mode & 0o777 == 0o600
