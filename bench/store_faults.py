"""Store chaos: every fault scenario of docs/reliability.md, with its loss count.

Run:  .venv/bin/python bench/store_faults.py [--n 20000] [--postgres DSN]

For each scenario it records exchanges into a real database while the fault
happens and counts where every one of them ended up:

* written: in the database afterwards;
* handed back: in a ``StoreError``/``RecordingError`` the caller received;
* lost: neither (the figure that must be 0).

Scenarios: a full disk (a 512 KiB tmpfs when this process may mount one, and
SQLite's ``max_page_count``), text a database cannot hold (lone surrogates, NUL;
SQLite and, with ``--postgres``, PostgreSQL), SIGTERM / SIGHUP / SIGINT of a
recording process, kill -9 of one (whole batches only: the lost tail is the
figure printed, and no half batch), and ``records export`` while two writers run
(duplicates and missed rows of the rows that existed before it started).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from extractkit.exceptions import StoreError
from extractkit.store import Exchange, SQLiteStore, open_store

T0 = datetime(2024, 5, 1, tzinfo=UTC)
LATER = datetime(2030, 1, 1, tzinfo=UTC)


def exchange(text: str, at: datetime = T0, **fields: Any) -> Exchange:
    fields.setdefault("output", {"text": text})
    return Exchange(extractor="location", input=text, model="m", created_at=at, **fields)


def row(
    name: str, recorded: int, written: int, handed_back: int, note: str = "", *, catchable: bool = True
) -> None:
    lost = f"{recorded - written - handed_back:,}" if catchable else "n/a"
    print(f"{name:<44} {recorded:>9,} {written:>9,} {handed_back:>11,} {lost:>6}  {note}")


def full_disk(directory: Path, n: int, *, tmpfs: bool) -> None:
    options: dict[str, Any] = {}
    mount = directory / "tmpfs"
    if tmpfs:
        mount.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
        )
        if done.returncode != 0:
            print(f"{'full disk: 512 KiB tmpfs':<44} skipped: cannot mount a tmpfs here")
            return
        path = mount / "x.db"
    else:
        path = directory / "paged.db"
        options["on_connect"] = lambda conn: conn.execute("PRAGMA max_page_count = 64")
    try:
        store = SQLiteStore(path, **options)
        recorded = [exchange(f"input {i} " + "x" * 200) for i in range(n)]
        for item in recorded:
            store.record(item)
        handed: set[str] = set()
        try:
            store.flush()
        except StoreError as exc:
            handed = {e.id for e in exc.exchanges}
        written = {r.exchange.id for r in store.export()}
        store.close()
        assert not written & handed
        name = "full disk: 512 KiB tmpfs" if tmpfs else "full disk: SQLite max_page_count = 64"
        row(name, n, len(written & {e.id for e in recorded}), len(handed), "flush() raised StoreError")
    finally:
        if tmpfs:
            subprocess.run(["umount", "-l", str(mount)], check=False)


AWKWARD = ["lone \ud800 surrogate", "low \udfff", "NUL \x00 byte", "\ufdd0mark", "back\\slash \\u0041"]


def unstorable(url: str, name: str, **options: Any) -> None:
    store = open_store(url, **options)
    items = [exchange(text, raw_response=text, output={"t": text, text: 1}) for text in AWKWARD]
    for item in items:
        store.record(item)
    store.flush()
    exact = 0
    for item in items:
        found = store.find("location", item.input)
        if found is not None and (found.exchange.input, found.exchange.output) == (item.input, item.output):
            exact += 1
    store.close()
    row(name, len(items), exact, 0, "read back exactly")


_RECORDER = """
import sys, time
from extractkit.store import Exchange, open_store
store = open_store(sys.argv[1])
for i in range(int(sys.argv[2])):
    store.record(Exchange(extractor="location", input=f"tail-{i}", model="m", output={"i": i}))
print("recorded", flush=True)
time.sleep(120)
"""


def signalled(directory: Path, n: int, signum: int) -> None:
    path = directory / f"signal-{signum}.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _RECORDER, str(path), str(n)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "recorded"
    started = time.monotonic()
    proc.send_signal(signum)
    status = proc.wait(timeout=120)
    with SQLiteStore(path, read_only=True) as store:
        written = store.count()
    note = f"exit status {status}, {time.monotonic() - started:.1f} s to flush and exit"
    row(f"{signal.Signals(signum).name} while {n:,} are queued", n, written, 0, note)


def killed(directory: Path, n: int) -> None:
    path = directory / "killed.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _RECORDER, str(path), str(n)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "recorded"
    proc.kill()
    proc.wait(timeout=60)
    with SQLiteStore(path) as store:
        written = store.count()
    # kill -9 cannot be caught: the queued tail is lost by definition; what matters is that the
    # database is consistent (whole batches only) and opens again.
    row(
        "kill -9 (SIGKILL) while queued",
        n,
        written,
        0,
        "uncatchable: the queued tail is lost",
        catchable=False,
    )


def export_while_writing(url: str, name: str, n: int, **options: Any) -> None:
    store = open_store(url, **options)
    store.write_batch([exchange(f"existing-{i}") for i in range(n)])
    stop = threading.Event()

    def writer(k: int) -> None:
        other = open_store(url, **options)
        i = 0
        while not stop.is_set():
            other.write_batch([exchange(f"new-{k}-{i}-{j}", at=LATER) for j in range(20)])
            i += 1
        other.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    seen: list[str] = []
    for record in store.export():  # what `extractkit records export` reads
        seen.append(record.exchange.input)
        if len(seen) % 500 == 0:
            time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join()
    existing = [s for s in seen if s.startswith("existing-")]
    duplicates = len(existing) - len(set(existing))
    store.close()
    row(name, n, len(set(existing)), 0, f"{duplicates} duplicates, {n - len(set(existing))} missed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="exchanges per full-disk / signal scenario")
    parser.add_argument("--postgres", metavar="DSN", help="also run the PostgreSQL scenarios on this server")
    args = parser.parse_args()
    print(f"{'scenario':<44} {'recorded':>9} {'written':>9} {'handed back':>11} {'lost':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        full_disk(directory, args.n, tmpfs=True)
        full_disk(directory, args.n, tmpfs=False)
        unstorable(str(directory / "text.db"), "unstorable text: SQLite")
        if args.postgres:
            schema = f"ek_faults_{os.getpid()}"
            unstorable(args.postgres, "unstorable text: PostgreSQL", schema=schema)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signalled(directory, args.n // 2, signum)
        killed(directory, args.n // 2)
        export_while_writing(str(directory / "export.db"), "records export, 2 writers: SQLite", 5_000)
        if args.postgres:
            schema = f"ek_export_{os.getpid()}"
            export_while_writing(args.postgres, "records export, 2 writers: PostgreSQL", 5_000, schema=schema)
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as conn:
                for name in (f"ek_faults_{os.getpid()}", schema):
                    conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    return 0


if __name__ == "__main__":
    sys.exit(main())
