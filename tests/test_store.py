"""Store behaviour, run against SQLite and PostgreSQL alike (the ``target`` fixture).

PostgreSQL variants need ``EXTRACTKIT_TEST_POSTGRES_DSN`` (see scripts/postgres.sh);
without it they skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from extractkit.exceptions import ConfigError, StoreError, StoreUnavailableError, UserError
from extractkit.store import REDACTED, Exchange, Record, SQLiteStore, open_store, redact_secrets
from extractkit.store.sqlstore import SQLStore

PG_ENV = "EXTRACTKIT_TEST_POSTGRES_DSN"
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def postgres_dsn() -> str:
    """The test server's DSN; skip (or fail under CI) without one."""
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set; start a server with scripts/postgres.sh start DIR")
        pytest.skip(
            f"PostgreSQL tests need {PG_ENV}; run: export {PG_ENV}=$(scripts/postgres.sh start /tmp/ek-pg)"
        )
    return dsn


@dataclass
class Target:
    """One database to test against; ``open()`` gives a new store on it (as another process would)."""

    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    opened: list[SQLStore] = field(default_factory=list)

    def open(self, **options: Any) -> SQLStore:
        store = open_store(self.url, **{**self.options, **options})
        assert isinstance(store, SQLStore)
        self.opened.append(store)
        return store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "sqlite":
        t = Target("sqlite", str(tmp_path / "exchanges.db"))
        yield t
        for store in t.opened:
            store.close()
        return
    dsn = postgres_dsn()
    schema = f"ek_test_{uuid.uuid4().hex[:12]}"
    t = Target("postgres", dsn, {"schema": schema})
    yield t
    for store in t.opened:
        store.close()
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def store(target: Target) -> SQLStore:
    return target.open()


def ex(text: str, *, extractor: str = "location", at: datetime = T0, **fields: Any) -> Exchange:
    fields.setdefault("model", "openai:gpt-4o-mini")
    fields.setdefault("output", {"locations": [{"city": text}]})
    return Exchange(extractor=extractor, input=text, created_at=at, **fields)


# -- round trips ---------------------------------------------------------------


def test_exchange_round_trips_through_the_store(store: SQLStore) -> None:
    original = Exchange(
        extractor="location",
        input="graphic designer in Zürich",
        model="openai:ft:gpt-4o-mini-2024-07-18:org::abc123",
        prompt_variant="full",
        messages=(
            {"role": "system", "content": "Extract locations."},
            {"role": "user", "content": "graphic designer in Zürich"},
        ),
        raw_response='{"locations": [{"city": "Zürich"}]',
        output={"locations": [{"city": "Zürich", "country": "Switzerland"}], "n": 1.5, "ok": True},
        prompt_tokens=120,
        completion_tokens=17,
        cost=0.0000421,
        latency_s=0.532,
        attempts=2,
        repairs=("closed_truncated", "removed_trailing_comma"),
        created_at=datetime(2024, 5, 1, 14, 30, 0, 654321, tzinfo=timezone(timedelta(hours=2))),
        metadata={"request_id": "r-1", "tags": ["a", "b"]},
    )
    store.record(original)
    record = store.get(original.id)
    assert record is not None
    assert record.exchange == original
    assert record.exchange.created_at.tzinfo == UTC
    assert record.id == original.id
    assert record.first_seen_at == original.created_at
    assert (record.included_at, record.corrected_output, record.reviewed_at) == (None, None, None)
    assert [(label.kind, label.exchange_id, label.output) for label in record.label_history] == [
        ("model", original.id, original.output)
    ]


def test_failed_exchange_round_trips(store: SQLStore) -> None:
    failed = ex("???", output=None, error="UnparseableOutputError: no JSON value", raw_response="sorry")
    store.record(failed)
    record = store.find("location", "???")
    assert record is not None
    assert record.exchange == failed
    assert not record.exchange.ok


def test_exchange_and_record_json_round_trip() -> None:
    original = ex("Paris", messages=({"role": "user", "content": "Paris"},), repairs=("x",), cost=None)
    assert Exchange.from_json(original.to_json()) == original
    record = Record(
        id="r1",
        exchange=original,
        first_seen_at=T0,
        included_at=T0 + timedelta(days=1),
        corrected_output={"locations": []},
    )
    again = Record.from_dict(record.to_dict())
    assert again == record
    assert again.training_output == {"locations": []}
    with pytest.raises(UserError, match="required keys"):
        Exchange.from_dict({"input": "x"})


def test_naive_created_at_is_refused() -> None:
    with pytest.raises(UserError, match="timezone-aware"):
        Exchange(extractor="e", input="x", model="m", created_at=datetime(2024, 1, 1))


# -- uniqueness -----------------------------------------------------------------


def test_one_row_per_input_case_insensitively(store: SQLStore) -> None:
    first = ex("New York", at=T0)
    store.record(first)
    store.record(ex("new york", at=T0 + timedelta(seconds=1)))
    latest = ex("NEW YORK", at=T0 + timedelta(seconds=2), model="openai:gpt-4o")
    store.record(latest)
    store.record(ex("Straße", at=T0))
    store.record(ex("STRASSE", at=T0 + timedelta(seconds=1)))
    store.record(ex("New York", extractor="intent"))

    assert store.count() == 3
    assert store.count(extractor="location") == 2
    record = store.find("location", "nEw YoRk")
    assert record is not None
    assert record.id == first.id
    assert record.exchange == latest
    assert record.first_seen_at == first.created_at
    assert [label.model for label in record.label_history] == ["openai:gpt-4o-mini"] * 2 + ["openai:gpt-4o"]
    # Any exchange id recorded into the row finds it.
    older = record.label_history[1].exchange_id
    assert older is not None
    found = store.get(older)
    assert found is not None and found.id == first.id
    assert store.get("no-such-id") is None
    assert store.find("location", "Boston") is None


def test_an_older_exchange_arriving_late_does_not_replace_the_latest(store: SQLStore) -> None:
    newer = ex("Lyon", at=T0 + timedelta(minutes=5), output={"v": "new"})
    older = ex("lyon", at=T0, output={"v": "old"})
    store.write_batch([newer])
    store.write_batch([older])
    record = store.find("location", "LYON")
    assert record is not None
    assert record.exchange == newer
    assert [label.output for label in record.label_history] == [{"v": "old"}, {"v": "new"}]


def test_rerecording_keeps_inclusion_and_correction(store: SQLStore) -> None:
    first = ex("Berlin")
    store.record(first)
    assert store.include([first.id]) == 1
    store.correct(first.id, {"locations": [{"city": "Berlin", "country": "Germany"}]})
    before = store.get(first.id)
    assert before is not None

    # History is in time order; this answer comes after the correction.
    again = ex("BERLIN", at=datetime.now(UTC), output={"locations": []}, model="openai:gpt-4o")
    store.record(again)
    after = store.get(first.id)
    assert after is not None
    assert after.exchange == again
    assert after.included_at == before.included_at is not None
    assert after.reviewed_at == before.reviewed_at is not None
    assert after.corrected_output == {"locations": [{"city": "Berlin", "country": "Germany"}]}
    assert after.training_output == after.corrected_output
    assert [label.kind for label in after.label_history] == ["model", "correction", "model"]


def test_rewriting_the_same_exchange_is_idempotent(store: SQLStore) -> None:
    same = ex("Oslo")
    store.write_batch([same])
    store.write_batch([same, same])
    record = store.get(same.id)
    assert record is not None
    assert len(record.label_history) == 1
    assert store.count() == 1


# -- curation -------------------------------------------------------------------


def _curation_fixture(store: SQLStore) -> dict[str, Exchange]:
    rows = {
        "paris": ex("Paris", at=T0),
        "rome": ex("Rome", at=T0 + timedelta(days=1), repairs=("closed_truncated",)),
        "bad": ex("???", at=T0 + timedelta(days=2), output=None, error="InvalidOutputError: nope"),
        "tokyo": ex("Tokyo", at=T0 + timedelta(days=3), model="openai:gpt-4o"),
        "intent": ex(
            "book a flight", extractor="intent", at=T0 + timedelta(days=4), output={"route": "travel"}
        ),
    }
    store.write_batch(rows.values())
    return rows


def test_filters(store: SQLStore) -> None:
    rows = _curation_fixture(store)

    def inputs(**filters: Any) -> list[str]:
        return [r.exchange.input for r in store.list(**filters)]

    assert inputs() == ["book a flight", "Tokyo", "???", "Rome", "Paris"]  # newest first
    assert inputs(extractor="location") == ["Tokyo", "???", "Rome", "Paris"]
    assert inputs(model="openai:gpt-4o") == ["Tokyo"]
    assert inputs(since=T0 + timedelta(days=1), until=T0 + timedelta(days=3)) == ["???", "Rome"]
    assert inputs(errors_only=True) == ["???"]
    assert inputs(repaired_only=True) == ["Rome"]
    assert inputs(search="TOK") == ["Tokyo"]
    assert inputs(search="travel") == ["book a flight"]  # matches the output JSON too
    assert inputs(search="%") == []  # LIKE wildcards are literal
    assert inputs(limit=2) == ["book a flight", "Tokyo"]
    assert inputs(limit=2, offset=3) == ["Rome", "Paris"]
    assert inputs(limit=None) == inputs()
    assert store.count(extractor="location", errors_only=False) == 4
    assert store.count(search="ROME") == 1

    store.include([rows["paris"].id, rows["tokyo"].id])
    store.exclude([rows["rome"].id])
    assert inputs(included=True) == ["Tokyo", "Paris"]
    assert inputs(included=False, extractor="location") == ["???", "Rome"]
    assert inputs(unreviewed_only=True) == ["book a flight", "???"]
    with pytest.raises(UserError, match="timezone-aware"):
        store.list(since=datetime(2024, 1, 1))


def test_include_exclude_correct(store: SQLStore) -> None:
    rows = _curation_fixture(store)
    paris, rome = rows["paris"].id, rows["rome"].id

    assert store.include([paris, rome]) == 2
    assert store.include([paris]) == 0  # already included: no change of state
    assert store.exclude([rome]) == 1
    assert store.exclude([rome]) == 0
    with pytest.raises(UserError, match="no record"):
        store.include([paris, "nope"])
    record = store.get(rome)
    assert record is not None and record.included_at is None and record.reviewed_at is not None

    store.correct(rome, {"locations": [{"city": "Roma"}]})
    record = store.get(rome)
    assert (
        record is not None
        and record.corrected
        and record.training_output == {"locations": [{"city": "Roma"}]}
    )
    assert store.count(search="Roma") == 1  # corrections are searchable
    store.correct(rome, None)
    record = store.get(rome)
    assert record is not None and not record.corrected
    assert record.training_output == rows["rome"].output
    assert [label.kind for label in record.label_history] == ["model", "correction", "correction"]
    with pytest.raises(UserError, match="JSON"):
        store.correct(rome, {"x": object()})
    with pytest.raises(UserError, match="no record"):
        store.correct("nope", {})


def test_iter_included_pages_in_inclusion_order(store: SQLStore) -> None:
    exchanges = [ex(f"input {i:04d}") for i in range(1100)]
    store.write_batch(exchanges)
    store.write_batch([ex("other", extractor="intent")])
    store.include(e.id for e in exchanges[:700])
    store.include(e.id for e in exchanges[700:])
    store.include([store.find("intent", "other").id])  # type: ignore[union-attr]
    got = [r.exchange.input for r in store.iter_included("location")]
    assert len(got) == 1100
    first = sorted(e.id for e in exchanges[:700])
    assert [store.find("location", text).id for text in got[:3]] == first[:3]  # type: ignore[union-attr]
    assert set(got) == {e.input for e in exchanges}


def test_resolve_id(store: SQLStore) -> None:
    store.write_batch([ex("a", id="abcd0001"), ex("b", id="abcd0002"), ex("c", id="ff00aa")])
    assert store.resolve_id("abcd0001") == "abcd0001"
    assert store.resolve_id("ff00") == "ff00aa"
    with pytest.raises(UserError, match="ambiguous"):
        store.resolve_id("abcd")
    with pytest.raises(UserError, match="no record"):
        store.resolve_id("0000")
    with pytest.raises(UserError, match="at least 4"):
        store.resolve_id("ab")


# -- lifecycle ------------------------------------------------------------------


def test_close_flushes_and_is_idempotent(target: Target) -> None:
    store = target.open()
    for i in range(2500):
        store.record(ex(f"q{i}"))
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.record(ex("late"))
    with target.open() as again:
        assert again.count() == 2500


def test_reads_see_what_this_process_recorded(store: SQLStore) -> None:
    for i in range(50):
        store.record(ex(f"q{i}"))
    assert store.count() == 50  # no explicit flush: queries flush first


def test_flush_with_zero_timeout_raises_when_writes_are_pending(target: Target) -> None:
    import threading

    gate = threading.Event()

    def hold(exchange: Exchange) -> Exchange:
        gate.wait()  # the writer thread stops here until the test lets it go
        return exchange

    store = target.open(redact=hold)
    store.record(ex("held"))
    with pytest.raises(StoreUnavailableError, match="flush") as caught:
        store.flush(timeout=0)
    assert caught.value.pending is not None
    gate.set()
    store.flush()
    assert store.count() == 1


# -- secrets --------------------------------------------------------------------


def test_secrets_never_reach_the_store(store: SQLStore, target: Target) -> None:
    key = "sk-proj-" + "A1b2C3d4" * 5
    azure = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    leaky = ex(
        "my key is " + key,
        messages=(
            {"role": "system", "content": "Extract."},
            {"role": "user", "content": f"Authorization: Bearer tok3n.abc.def and {azure}"},
        ),
        raw_response=f'{{"note": "{key}"}}',
        output={"note": key, "password": "hunter2 is my password"},
        error=None,
        metadata={
            "headers": {"Authorization": "Bearer tok3n.abc.def", "X-Api-Key": azure, "Accept": "json"},
            "tenant": "acme",
        },
    )
    store.record(leaky)
    store.flush()
    record = store.get(leaky.id)
    assert record is not None
    stored = record.to_dict()
    for secret in (key, "tok3n.abc.def", azure):
        assert secret not in str(stored)
    assert record.exchange.metadata["headers"]["Accept"] == "json"
    assert record.exchange.metadata["tenant"] == "acme"
    assert record.exchange.input == f"my key is {REDACTED}"
    # Redaction is by value: an output field *named* password is the model's answer, kept as it is.
    assert record.exchange.output == {"note": REDACTED, "password": "hunter2 is my password"}
    # ... and the record says which fields the scrub changed, so a curator sees it.
    assert record.exchange.metadata["redacted"] == ["input", "messages", "metadata", "output", "raw_response"]
    # And not in the database file either (SQLite keeps freed pages; check the raw bytes).
    if target.kind == "sqlite":
        store.close()
        raw = b"".join(p.read_bytes() for p in Path(target.url).parent.glob("exchanges.db*"))
        assert key.encode() not in raw and azure.encode() not in raw


def test_user_redaction_hook_runs_before_the_scrub(target: Target) -> None:
    def hook(exchange: Exchange) -> Exchange:
        # Removes e-mail addresses, and (carelessly) adds a secret: the scrub still catches it.
        return exchange.replace(
            input=exchange.input.replace("ann@example.com", "<email>"),
            metadata={**exchange.metadata, "token": "gsk_" + "x1" * 20},
        )

    store = target.open(redact=hook)
    store.record(ex("write to ann@example.com"))
    record = store.find("location", "write to <email>")
    assert record is not None
    assert record.exchange.metadata == {"token": REDACTED, "redacted": ["metadata"]}


def test_a_failing_hook_fails_only_its_exchange_and_flush_reports_it(target: Target) -> None:
    def hook(exchange: Exchange) -> Exchange:
        if "poison" in exchange.input:
            raise ValueError("cannot redact this one")
        return exchange

    store = target.open(redact=hook)
    for text in ("one", "poison", "two"):
        store.record(ex(text))
    with pytest.raises(StoreError, match="1 recorded exchange") as caught:
        store.flush()
    assert [e.input for e in caught.value.exchanges] == ["poison"]
    assert (caught.value.written, caught.value.failed) == (2, 1)
    store.flush()  # reported once
    assert sorted(r.exchange.input for r in store.list()) == ["one", "two"]
    assert store.writer.failed == 1
    assert isinstance(store.writer.last_error, ValueError)


def test_redact_secrets_leaves_clean_exchanges_alone() -> None:
    clean = ex("nothing to hide", messages=({"role": "user", "content": "nothing"},))
    assert redact_secrets(clean) is clean


# -- migrations -----------------------------------------------------------------


def _open_v1(target: Target) -> tuple[Any, str]:
    """Create a version-1 schema and return a DB-API connection to it and its placeholder."""
    if target.kind == "sqlite":
        from extractkit.store.sqlite import migrate

        conn = sqlite3.connect(target.url, isolation_level=None)
        assert migrate(conn, target=1) == 1
        return conn, "?"
    import psycopg

    from extractkit.store.postgres import migrate as pg_migrate

    conn = psycopg.connect(target.url, autocommit=True)
    schema = target.options["schema"]
    assert pg_migrate(conn, target=1, schema=schema) == 1
    conn.execute(f'SET search_path TO "{schema}"')
    return conn, "%s"


def test_migrates_an_older_schema(target: Target) -> None:
    conn, p = _open_v1(target)
    when: Any = T0.isoformat(timespec="microseconds") if target.kind == "sqlite" else T0
    columns = (
        "id, extractor, input, input_key, exchange_id, model, prompt_variant, messages, output, "
        "prompt_tokens, completion_tokens, latency_s, attempts, repairs, created_at, metadata, "
        "first_seen_at, corrected_output, reviewed_at"
    )
    values = ("old1", "location", "Paris", "paris", "old1", "m", "full", "[]", '{"c":1}', 1, 2, 0.5, 1,
              "[]", when, "{}", when, '{"c":2}', when)  # fmt: skip
    conn.execute(f"INSERT INTO records ({columns}) VALUES ({', '.join([p] * len(values))})", values)
    conn.close()

    store = target.open()
    assert store.schema_version() == 4  # type: ignore[attr-defined]
    record = store.get("old1")
    assert record is not None
    assert record.exchange.output == {"c": 1}
    assert record.corrected_output == {"c": 2}
    assert [(label.kind, label.output) for label in record.label_history] == [
        ("model", {"c": 1}),
        ("correction", {"c": 2}),
    ]
    store.record(ex("PARIS", at=T0 + timedelta(days=1)))
    record = store.get("old1")
    assert record is not None and record.exchange.input == "PARIS" and record.corrected_output == {"c": 2}
    # Opening again finds nothing to do.
    assert target.open().schema_version() == 4  # type: ignore[attr-defined]


def test_refuses_a_newer_schema(target: Target) -> None:
    target.open().close()
    if target.kind == "sqlite":
        conn: Any = sqlite3.connect(target.url, isolation_level=None)
        conn.execute("INSERT INTO schema_version VALUES (99, 'future', 'x')")
    else:
        import psycopg

        conn = psycopg.connect(target.url, autocommit=True)
        conn.execute(
            f"INSERT INTO \"{target.options['schema']}\".schema_version VALUES (99, 'future', now())"
        )
    conn.close()
    with pytest.raises(UserError, match="upgrade extractkit"):
        target.open()


# -- opening ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["mysql://localhost/db", "redis://x", "sqlite://", "sqlite:///", "   ", "postgresql://"]
)
def test_bad_store_urls_raise_config_error(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_store(url)
    assert info.value.key == "store.url"
    assert "sqlite:///" in str(info.value) or "postgresql" in str(info.value)


def test_bad_url_never_echoes_a_password() -> None:
    with pytest.raises(ConfigError) as info:
        open_store("mysql://user:hunter2@db/x")
    assert "hunter2" not in str(info.value)


def test_store_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url, expected in [
        ("sqlite:///rel.db", tmp_path / "rel.db"),
        (f"sqlite:///{tmp_path}/abs.db", tmp_path / "abs.db"),
        ("bare.db", tmp_path / "bare.db"),
        (tmp_path / "sub" / "path.db", tmp_path / "sub" / "path.db"),
    ]:
        with open_store(url) as store:
            assert isinstance(store, SQLiteStore)
            store.record(ex("x"))
        assert expected.exists(), url
    with open_store("sqlite://:memory:") as memory:
        memory.record(ex("x"))
        assert memory.count() == 1


def test_importing_the_store_does_not_import_psycopg() -> None:
    code = "import sys, extractkit.store; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
