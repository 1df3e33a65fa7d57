"""Locks and outages: typed errors within a bound, read-only opening, reconnecting after a restart.

Real databases throughout: a second sqlite3 connection holds the write lock; a second
PostgreSQL session holds a table lock; a private PostgreSQL server is stopped and started
again with scripts/postgres.sh while a store is open on it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import test_store
from extractkit import LocationExtractor
from extractkit.cli import main as cli_main
from extractkit.exceptions import StoreError, StoreUnavailableError
from extractkit.store import SQLiteStore, open_store
from extractkit.store.sqlite import migrate
from extractkit.testing import FakeBackend
from test_store import ex

NY = {"locations": [{"city": "New York", "country": "United States"}]}
ROOT = Path(__file__).resolve().parent.parent

# -- read-only opening -----------------------------------------------------------------------

READ_COMMANDS = [
    ["records", "list"],
    ["records", "search", "york"],
    ["records", "show", "abcd1234"],
    ["records", "export"],
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_commands_never_create_a_store(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "exchanges.db"
    code = cli_main([*command, "--store", str(missing)])
    assert code != 0
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    assert not missing.parent.exists()


def test_open_store_read_only_names_a_mistyped_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no store at .*nope\.db"):
        open_store(tmp_path / "nope.db", read_only=True)
    not_a_store = tmp_path / "notes.db"
    sqlite3.connect(not_a_store).execute("CREATE TABLE notes (x)").connection.close()
    with pytest.raises(StoreError, match="not an extractkit store"):
        open_store(str(not_a_store), read_only=True)


def test_read_only_never_migrates_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.close()
    with pytest.raises(StoreError, match="schema version 1, older"):
        open_store(str(path), read_only=True)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 1
    conn.close()
    with SQLiteStore(path) as writer:  # a writer upgrades it ...
        writer.record(ex("one"))
    with SQLiteStore(path, read_only=True) as reader:  # ... then it reads
        assert reader.count() == 1
        with pytest.raises(StoreError, match="read-only"):
            reader.record(ex("two"))
        with pytest.raises(StoreError, match="read-only"):
            reader.include([reader.list()[0].id])


# -- SQLite: another connection holds the write lock -------------------------------------------


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A store with two rows whose write lock another connection holds until the test ends."""
    path = tmp_path / "locked.db"
    with SQLiteStore(path) as store:
        store.write_batch([ex("new york"), ex("paris")])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE records SET model = model")
    yield path
    holder.execute("ROLLBACK")
    holder.close()


def test_reads_and_opening_do_not_wait_for_a_write_lock(
    locked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert cli_main(["records", "list", "--store", str(locked)]) == 0
    assert "paris" in capsys.readouterr().out
    with open_store(str(locked), busy_timeout=5.0) as store:  # a writer: no migration, no lock
        assert store.count() == 2
        assert store.find("location", "PARIS") is not None
        store.record(ex("queued"))  # queued; written once the lock is free
        assert time.monotonic() - started < 3.0
        store.writer._close_timeout = 0.0  # do not retry behind the held lock at close
        with pytest.raises(StoreError, match="locked"):
            store.close()


def test_a_held_write_lock_is_a_typed_error_after_the_busy_timeout(locked: Path) -> None:
    with SQLiteStore(locked, busy_timeout=0.3) as store:
        record_id = store.list()[0].id
        started = time.monotonic()
        with pytest.raises(
            StoreUnavailableError, match="locked: another connection held its write lock"
        ) as caught:
            store.include([record_id])
        assert time.monotonic() - started < 3.0
        assert caught.value.location == str(locked)
        with pytest.raises(StoreUnavailableError, match="locked"):
            store.write_batch([ex("more")])


def test_a_migration_behind_a_held_lock_fails_before_the_model_is_paid(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a brand-new file: the store must create its tables
    try:
        backend = FakeBackend(lambda r: NY)
        store_error = None
        try:
            SQLiteStore(path, busy_timeout=0.3)
        except StoreUnavailableError as exc:
            store_error = exc
        assert store_error is not None and "locked" in str(store_error)
        extractor = LocationExtractor(backend=backend, store=f"sqlite:///{path}")
        with pytest.raises(StoreUnavailableError):
            extractor.extract_sync("designer in New York")
        assert backend.requests == []  # nothing was paid for
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_the_first_recorded_extract_sync_survives_a_held_lock(locked: Path) -> None:
    backend = FakeBackend(lambda r: NY)
    extractor = LocationExtractor(backend=backend, store=f"sqlite:///{locked}")
    value = extractor.extract_sync("designer in New York")  # the store opens under the lock
    assert value.locations[0].city == "New York"
    assert len(backend.requests) == 1


# -- PostgreSQL: lock_timeout ---------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_lock_timeout_bounds_reads_and_writes(capsys: pytest.CaptureFixture[str]) -> None:
    import uuid

    import psycopg

    dsn = test_store.postgres_dsn()
    schema = f"ek_lock_{uuid.uuid4().hex[:12]}"
    store = open_store(dsn, schema=schema, lock_timeout=0.3)
    try:
        store.write_batch([ex("new york")])
        record_id = store.list()[0].id
        with psycopg.connect(dsn) as holder:  # not autocommit: the lock lasts until rollback
            holder.execute(f'LOCK TABLE "{schema}".records IN ACCESS EXCLUSIVE MODE')
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError, match="lock_timeout"):
                store.list()
            with pytest.raises(StoreUnavailableError, match="lock_timeout"):
                store.include([record_id])
            assert time.monotonic() - started < 10.0
            holder.rollback()
        assert store.include([record_id]) == 1
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
def test_postgres_read_only_creates_nothing() -> None:
    pytest.importorskip("psycopg")
    import uuid

    import psycopg

    dsn = test_store.postgres_dsn()
    schema = f"ek_ro_{uuid.uuid4().hex[:12]}"
    with pytest.raises(StoreError, match="no extractkit store in schema"):
        open_store(dsn, schema=schema, read_only=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    assert found is None


# -- PostgreSQL: a server restart -----------------------------------------------------------------


@pytest.fixture
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A PostgreSQL server of this test's own, which the test may stop and start."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but PostgreSQL is not installed; run scripts/postgres.sh install")
        pytest.skip("PostgreSQL is not installed (scripts/postgres.sh install)")
    directory = Path(f"/tmp/ek-restart-{os.getpid()}-{time.monotonic_ns()}")
    started = subprocess.run(
        ["bash", str(ROOT / "scripts/postgres.sh"), "start", str(directory)], capture_output=True, text=True
    )
    if started.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"could not start a private PostgreSQL server: {started.stderr}")
        pytest.skip(f"could not start a private PostgreSQL server: {started.stderr.strip()[-200:]}")
    try:
        yield started.stdout.strip(), directory
    finally:
        subprocess.run(
            ["bash", str(ROOT / "scripts/postgres.sh"), "stop", str(directory)], capture_output=True
        )
        subprocess.run(["rm", "-rf", str(directory)], check=False)


@pytest.mark.postgres
def test_postgres_store_reconnects_after_a_server_restart(private_server: tuple[str, Path]) -> None:
    pytest.importorskip("psycopg")
    dsn, directory = private_server
    script = ["bash", str(ROOT / "scripts/postgres.sh")]
    store = open_store(dsn, connect_timeout=2, retry_for=60)
    try:
        store.record(ex("before"))
        store.flush()
        subprocess.run([*script, "stop", str(directory)], check=True, capture_output=True)
        # Down: a read fails with a typed error after a bounded retry, not a raw psycopg error.
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="could not be reached"):
            store.count()
        assert time.monotonic() - started < 30
        store.record(ex("while down"))  # queued; the writer retries its batch
        restarted = subprocess.run([*script, "start", str(directory)], capture_output=True, text=True)
        assert restarted.stdout.strip() == dsn, restarted.stderr  # same port
        # Up again: the next read reconnects, and the queued exchange is written.
        store.flush()
        assert store.count() == 2
        assert store.find("location", "while down") is not None
    finally:
        store.close()
