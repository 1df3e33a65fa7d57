"""Concurrent writers lose nothing; a killed writer leaves a consistent store; exit flushes.

Runs against SQLite and PostgreSQL (the ``target`` fixture from test_store.py).
Other processes are started with ``subprocess`` running small scripts, so they
do not depend on how pytest imports this file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

import test_store
from extractkit.exceptions import StoreError
from extractkit.store import Exchange
from extractkit.store.writer import BatchWriter
from test_store import Target, ex

target = test_store.target  # the SQLite/PostgreSQL fixture, shared with test_store.py

_PRELUDE = """
import json, os, sys, threading
from extractkit.store import Exchange, open_store
url, options = sys.argv[1], json.loads(sys.argv[2])
def ex(text):
    return Exchange(extractor="location", input=text, model="m", output={"text": text})
"""


def _script(body: str) -> str:
    return _PRELUDE + textwrap.dedent(body)


def _spawn(target: Target, body: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _script(body), target.url, json.dumps(target.options), *args],
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def _labels(target: Target) -> int:
    store = target.open()
    store.flush()
    with store._reading() as cur:
        cur.execute("SELECT COUNT(*) FROM labels")
        return int(cur.fetchone()[0])


def test_eight_threads_lose_nothing(target: Target) -> None:
    store = target.open(batch_size=64)
    start = threading.Barrier(8)

    def work(n: int) -> None:
        start.wait()
        for i in range(300):
            store.record(ex(f"t{n}-{i}"))
            # Every thread also records the same shared inputs in its own casing.
            if i % 10 == 0:
                text = f"shared-{i}"
                store.record(ex(text.upper() if n % 2 else text))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.flush()
    assert store.count() == 8 * 300 + 30
    assert _labels(target) == 8 * 300 + 8 * 30
    assert store.writer.failed == 0


async def test_asyncio_tasks_lose_nothing(target: Target) -> None:
    store = target.open(batch_size=50)

    async def work(n: int) -> None:
        for i in range(40):
            store.record(ex(f"a{n}-{i}"))
            await asyncio.sleep(0)  # yield to the other tasks between records

    await asyncio.gather(*(work(n) for n in range(50)))
    store.close()
    assert target.open().count() == 2000


def test_three_processes_lose_nothing(target: Target) -> None:
    target.open().close()  # create the schema once, as a deployment would
    body = """
        tag, n = sys.argv[3], int(sys.argv[4])
        with open_store(url, batch_size=37, **options) as store:
            for i in range(n):
                store.record(ex(f"{tag}-{i}"))
                if i % 5 == 0:
                    store.record(ex(f"SHARED-{i}" if tag == "p1" else f"shared-{i}"))
    """
    procs = [_spawn(target, body, f"p{k}", "600") for k in range(3)]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0]
    store = target.open()
    assert store.count() == 3 * 600 + 120
    assert _labels(target) == 3 * 600 + 3 * 120
    shared = store.find("location", "Shared-0")
    assert shared is not None and len(shared.label_history) == 3


def test_interpreter_exit_flushes_without_close(target: Target) -> None:
    body = """
        store = open_store(url, **options)
        for i in range(1500):
            store.record(ex(f"x{i}"))
        # No flush, no close: the atexit hook must write all of it.
    """
    assert _spawn(target, body).wait(timeout=120) == 0
    assert target.open().count() == 1500


def test_killed_writer_leaves_whole_batches(target: Target) -> None:
    target.open().close()
    body = """
        with open_store(url, **options) as store:
            store.write_batch([ex(f"warm-{i}") for i in range(200)])
            print("writing", flush=True)
            for b in range(10_000):
                store.write_batch([ex(f"b{b}-{i}") for i in range(200)])
    """
    proc = _spawn(target, body, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    store = target.open()
    count = store.count()
    assert count >= 200 and count % 200 == 0, count  # every batch all or nothing
    assert _labels(target) == count
    store.record(ex("after the crash"))
    assert store.count() == count + 1


def test_sqlite_killed_mid_transaction_is_consistent(tmp_path: Path) -> None:
    # Deterministic variant: the child blocks inside its second batch's transaction, after
    # 50 of its 100 inserts, and is killed there.
    path = tmp_path / "killed.db"
    body = """
        inserts = 0
        def trace(statement):
            global inserts
            if statement.lstrip().startswith("INSERT INTO records"):
                inserts += 1
                if inserts == 150:
                    print("blocked", flush=True)
                    threading.Event().wait()
        store = open_store(url, on_connect=lambda conn: conn.set_trace_callback(trace))
        store.write_batch([ex(f"first-{i}") for i in range(100)])
        store.write_batch([ex(f"second-{i}") for i in range(100)])
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", _script(body), str(path), "{}"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "blocked"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    inputs = sorted(row[0] for row in conn.execute("SELECT input FROM records"))
    assert inputs == sorted(f"first-{i}" for i in range(100))
    assert conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 100
    conn.close()
    with Target("sqlite", str(path)).open() as store:
        store.record(ex("second-0"))
        assert store.count() == 101


# -- the writer on its own ------------------------------------------------------------


class Flaky(Exception):
    """Stands in for "database is locked"."""


def test_writer_retries_transient_failures_with_backoff() -> None:
    written: list[str] = []
    failures = [Flaky("locked"), Flaky("locked"), Flaky("locked")]
    delays: list[float] = []

    def sink(batch: Sequence[Exchange]) -> None:
        if failures:
            raise failures.pop()
        written.extend(e.input for e in batch)

    writer = BatchWriter(
        sink, is_transient=lambda e: isinstance(e, Flaky), backoff=0.1, max_backoff=0.25, sleep=delays.append
    )
    for i in range(10):
        writer.submit(ex(f"w{i}"))
    writer.flush()
    assert sorted(written) == sorted(f"w{i}" for i in range(10))
    assert delays == [0.1, 0.2, 0.25]
    assert (writer.written, writer.failed) == (10, 0)
    writer.close()


def test_writer_does_not_linger_between_batches_of_a_backlog() -> None:
    # The linger gathers a batch while traffic trickles in; with full batches already queued it
    # used to be paid again before every batch (50 ms x 50 batches halved bench/store.py).
    batches: list[int] = []
    writer = BatchWriter(
        lambda batch: batches.append(len(batch)), is_transient=lambda e: False, batch_size=10, linger=60.0
    )
    for i in range(35):
        writer.submit(ex(f"b{i}"))
    assert writer.wait(timeout=20)  # one linger per batch would be minutes
    assert sum(batches) == 35 and max(batches) <= 10
    writer.close()


def test_writer_fails_only_the_bad_exchange_on_a_permanent_failure() -> None:
    written: list[str] = []

    def sink(batch: Sequence[Exchange]) -> None:
        if any(e.input == "bad" for e in batch):
            raise ValueError("cannot store this")
        written.extend(e.input for e in batch)

    writer = BatchWriter(sink, is_transient=lambda e: False, sleep=lambda s: None)
    for text in ("first", "a", "bad", "b"):
        writer.submit(ex(text))
    with pytest.raises(StoreError, match="cannot store this") as caught:
        writer.close()
    assert [e.input for e in caught.value.exchanges] == ["bad"]
    assert sorted(written) == ["a", "b", "first"]
    assert writer.failed == 1
    assert isinstance(writer.last_error, ValueError)


def test_writer_gives_up_at_close_after_its_deadline() -> None:
    def sink(batch: Sequence[Exchange]) -> None:
        raise Flaky("server gone")

    writer = BatchWriter(sink, is_transient=lambda e: True, sleep=lambda s: None)
    writer.submit(ex("lost"))
    with pytest.raises(StoreError, match="server gone") as caught:
        writer.close(timeout=0)
    assert [e.input for e in caught.value.exchanges] == ["lost"]
    assert writer.failed == 1
    assert writer.closed
    with pytest.raises(StoreError, match="closed"):
        writer.submit(ex("late"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_cannot_use_or_break_the_parents_store(target: Target) -> None:
    store = target.open()
    store.record(ex("before fork"))
    store.flush()
    pid = os.fork()
    if pid == 0:  # the child: must refuse to record, and closing must not touch the parent's connections
        code = 1
        try:
            try:
                store.record(ex("from the child"))
            except StoreError as exc:
                code = 0 if "after forking" in str(exc) else 2
            store.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.record(ex("after fork"))
    assert store.count() == 2  # the parent's connections still work
