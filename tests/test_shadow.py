"""Shadow runs end to end: official ``openai`` client → real HTTP server, real SQLite and PostgreSQL.

The live model (``gpt-4o-mini``) and the shadow model (``gpt-4o``) are served by
one :class:`ScriptedChatServer`; the shadow's answers can be held back on a
``threading.Event`` so a test can prove that the caller got its value while the
shadow request was still pending, without timing anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from extractkit import ConfigError, LocationExtractor, Settings, UserError
from extractkit.retries import RetryPolicy
from extractkit.shadow import Shadow, answers_equal, drain, drain_sync, stats
from extractkit.store import open_store
from extractkit.store.sqlstore import SQLStore
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer

PG_ENV = "EXTRACTKIT_TEST_POSTGRES_DSN"
KEY = "sk-test-0123456789abcdef"
LIVE = "openai:gpt-4o-mini"
SHADOW = "openai:gpt-4o"


def city(name: str) -> dict[str, Any]:
    return {"locations": [{"city": name, "country": None}]}


class Models:
    """The scripted server's brain: live answers the city in the input; the shadow as a test says."""

    def __init__(self) -> None:
        self.shadow_answer: Callable[[str], Reply] = lambda text: Reply.json(city(text.split()[-1]))
        self.hold = threading.Event()
        self.hold.set()  # not held unless a test clears it
        self.shadow_arrived = threading.Event()
        self.shadow_requests = 0
        self.shadow_answered = 0

    async def __call__(self, req: RecordedRequest) -> Reply:
        text = req.last_user_text
        if req.body["model"] == "gpt-4o-mini":
            return Reply.json(city(text.split()[-1]))
        self.shadow_requests += 1
        self.shadow_arrived.set()
        if not self.hold.is_set():
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 30)
        self.shadow_answered += 1
        return self.shadow_answer(text)


@pytest.fixture
def models() -> Models:
    return Models()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, models: Models) -> Iterator[ScriptedChatServer]:
    monkeypatch.setenv("EXTRACTKIT_TEST_KEY", KEY)
    with ScriptedChatServer(models, validate=spec_validator, api_key=KEY) as srv:
        yield srv
        models.hold.set()
    assert srv.spec_errors == [], srv.spec_errors


def postgres_dsn() -> str:
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set; start a server with scripts/postgres.sh start DIR")
        pytest.skip(
            f"PostgreSQL tests need {PG_ENV}; run: export {PG_ENV}=$(scripts/postgres.sh start /tmp/ek-pg)"
        )
    return dsn


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL: a SQLite file, or a private schema on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'exchanges.db'}"
        return
    dsn = postgres_dsn()
    schema = f"ek_shadow_{uuid.uuid4().hex[:12]}"
    _schemas[dsn + "#" + schema] = schema
    yield dsn + "#" + schema
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


_schemas: dict[str, str] = {}


def settings(srv: ScriptedChatServer, **extractor: Any) -> Settings:
    return Settings.from_mapping(
        {
            "backends": {"openai": {"base_url": srv.base_url, "api_key_env": "EXTRACTKIT_TEST_KEY"}},
            "extractors": {"location": {"model": LIVE, "shadow": SHADOW, "shadow_rate": 1.0, **extractor}},
        }
    )


def opened(url: str) -> SQLStore:
    if url in _schemas:
        store = open_store(url.split("#")[0], schema=_schemas[url])
    else:
        store = open_store(url)
    assert isinstance(store, SQLStore)
    return store


def extractor(cfg: Settings, store: SQLStore, **kwargs: Any) -> LocationExtractor:
    return LocationExtractor(settings=cfg, store=store, retry=RetryPolicy(max_attempts=1), **kwargs)


async def test_both_answers_are_recorded_and_linked(
    server: ScriptedChatServer, models: Models, store_url: str
) -> None:
    models.shadow_answer = lambda text: Reply.json(city("Paris" if "Lyon" in text else text.split()[-1]))
    store = opened(store_url)
    ex = extractor(settings(server), store)
    agreed = await ex.extract_detailed("nurse in Berlin")
    differed = await ex.extract_detailed("welder in Lyon")
    assert differed.value.locations[0].city == "Lyon"  # the caller's answer is the live model's
    assert await drain() == 0
    store.flush()

    pairs = {p.shadow.input: p for p in store.shadow_pairs(extractor="location")}
    assert set(pairs) == {"nurse in Berlin", "welder in Lyon"}
    same, other = pairs["nurse in Berlin"], pairs["welder in Lyon"]
    assert same.live_exchange_id == agreed.exchange_id and other.live_exchange_id == differed.exchange_id
    assert (same.status, other.status) == ("agree", "disagree")
    assert other.live_model == LIVE and other.shadow.model == SHADOW
    assert other.live_output == city("Lyon") and other.shadow.output == city("Paris")
    assert other.shadow.prompt_tokens > 0 and other.shadow.completion_tokens > 0
    assert other.shadow.cost is not None and other.shadow.cost > 0 and other.shadow.latency_s > 0
    assert other.shadow.error is None and other.shadow.messages[-1]["content"] == "welder in Lyon"
    assert other.record_id is not None and store.get(other.record_id) is not None
    # The shadow never became the record's answer nor entered its label history.
    record = store.find("location", "welder in Lyon")
    assert record is not None and record.exchange.model == LIVE
    assert [label.model for label in record.label_history] == [LIVE]
    assert store.count(extractor="location") == 2
    assert [p.shadow.input for p in store.disagreements(extractor="location")] == ["welder in Lyon"]
    (summary,) = store.shadow_summary(extractor="location")
    assert (summary.agreed, summary.disagreed, summary.failed, summary.agreement_rate) == (1, 1, 0, 0.5)
    store.close()


async def test_the_caller_gets_its_answer_while_the_shadow_is_still_pending(
    server: ScriptedChatServer, models: Models, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = opened(url)
    ex = extractor(settings(server), store)
    models.hold.clear()
    value = await ex.extract("teacher in Oslo")
    assert value.locations[0].city == "Oslo"
    # The value came back; the shadow's request is on the server, unanswered.
    await asyncio.get_running_loop().run_in_executor(None, models.shadow_arrived.wait, 10)
    assert models.shadow_requests == 1 and models.shadow_answered == 0
    (live,) = [s for s in stats("location") if s.model == SHADOW]
    assert live.in_flight == 1
    store.flush()
    assert store.shadow_pairs() == []
    models.hold.set()
    assert await drain() == 0
    store.flush()
    (pair,) = store.shadow_pairs()
    assert pair.status == "agree" and models.shadow_answered == 1
    store.close()


def test_sync_callers_return_before_the_shadow_and_drain_sync_finishes_it(
    server: ScriptedChatServer, models: Models, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = opened(url)
    ex = extractor(settings(server), store)
    models.hold.clear()
    assert ex.extract_sync("chef in Rome").locations[0].city == "Rome"
    assert models.shadow_arrived.wait(10) and models.shadow_answered == 0
    models.hold.set()
    assert drain_sync(10) == 0
    store.flush()
    (pair,) = store.shadow_pairs()
    assert pair.status == "agree"
    store.close()


async def test_a_slow_shadow_past_the_drain_bound_is_dropped_and_recorded_as_failed(
    server: ScriptedChatServer, models: Models, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = opened(url)
    ex = extractor(settings(server), store)
    models.hold.clear()
    await ex.extract("pilot in Madrid")
    await asyncio.get_running_loop().run_in_executor(None, models.shadow_arrived.wait, 10)
    assert await drain(0.05) == 1
    store.flush()
    (pair,) = store.shadow_pairs()
    assert pair.status == "failed" and (pair.shadow.error or "").startswith("ShadowDropped")
    (counted,) = [s for s in stats("location") if s.model == SHADOW]
    assert counted.dropped >= 1 and counted.in_flight == 0
    store.close()


async def test_shadow_concurrency_is_capped_and_the_excess_is_skipped_and_counted(
    server: ScriptedChatServer, models: Models, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = opened(url)
    ex = extractor(settings(server, shadow_max_in_flight=2), store)
    ex.name  # noqa: B018 - the stats key
    before = {s.model: s for s in stats("location")}.get(SHADOW)
    models.hold.clear()
    results = await ex.extract_many([f"job {i} in Town{i}" for i in range(6)], concurrency=1)
    assert all(r.ok for r in results)
    (now,) = [s for s in stats("location") if s.model == SHADOW]
    started = now.started - (before.started if before else 0)
    skipped = now.skipped - (before.skipped if before else 0)
    assert (started, skipped) == (2, 4)
    models.hold.set()
    assert await drain() == 0
    store.flush()
    assert len(store.shadow_pairs()) == 2 and models.shadow_requests == 2
    store.close()


async def test_a_failing_shadow_never_reaches_the_caller(
    server: ScriptedChatServer, models: Models, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    models.shadow_answer = lambda text: (
        Reply.error(500, "shadow down") if "Vienna" in text else Reply.text("sorry, no idea")
    )
    store = opened(store_url)
    ex = extractor(settings(server), store, max_attempts=1)
    with caplog.at_level(logging.INFO, logger="extractkit.shadow"):
        first = await ex.extract("driver in Vienna")
        second = await ex.extract("baker in Porto")
        await drain()
    assert (first.locations[0].city, second.locations[0].city) == ("Vienna", "Porto")
    store.flush()
    pairs = {p.shadow.input: p for p in store.shadow_pairs()}
    assert {p.status for p in pairs.values()} == {"failed"}
    assert (pairs["driver in Vienna"].shadow.error or "").startswith("ServerError")
    assert (pairs["baker in Porto"].shadow.error or "").startswith(
        ("UnparseableOutputError", "InvalidOutputError")
    )
    assert pairs["baker in Porto"].shadow.raw_response == "sorry, no idea"
    assert "metadata" not in pairs["baker in Porto"].shadow.metadata.get(
        "redacted", ()
    )  # our ids are no secret
    assert store.disagreements() == []
    assert len(store.disagreements(failed=True)) == 2
    assert "shadow call to openai:gpt-4o for location failed" in caplog.text
    # The live records are untouched by the shadow's failures.
    assert all(r.exchange.error is None and r.exchange.model == LIVE for r in store.list())
    store.close()


async def test_rate_zero_and_shadow_false_send_nothing(
    server: ScriptedChatServer, models: Models, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = opened(url)
    await extractor(settings(server, shadow_rate=0.0), store).extract("x in Oslo")
    await extractor(settings(server), store, shadow=False).extract("y in Oslo")
    await drain()
    assert models.shadow_requests == 0
    # From the API: a model and a rate beat config.
    await extractor(settings(server, shadow_rate=0.0), store, shadow=SHADOW, shadow_rate=1.0).extract(
        "z in Oslo"
    )
    await drain()
    assert models.shadow_requests == 1
    store.close()


async def test_sampling_follows_the_rate_and_the_seed(
    server: ScriptedChatServer, models: Models, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = opened(url)
    counts = []
    for _ in range(2):
        ex = extractor(settings(server, shadow_rate=0.25), store, seed=7)
        before = models.shadow_requests
        await ex.extract_many([f"job in City{i}" for i in range(40)], concurrency=1)
        await drain()
        counts.append(models.shadow_requests - before)
    assert counts[0] == counts[1]  # the same seed samples the same calls
    assert 2 <= counts[0] <= 20  # about a quarter of 40, never all or none
    store.close()


def test_without_a_store_shadows_are_skipped_with_a_warning(
    server: ScriptedChatServer, models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = Settings.from_mapping(
        {
            "backends": {"openai": {"base_url": server.base_url, "api_key_env": "EXTRACTKIT_TEST_KEY"}},
            "extractors": {"location": {"model": LIVE, "shadow": SHADOW, "shadow_rate": 1.0}},
        }
    )
    with caplog.at_level(logging.WARNING, logger="extractkit.shadow"):
        assert LocationExtractor(settings=cfg).extract_sync("x in Oslo").locations[0].city == "Oslo"
    assert models.shadow_requests == 0 and "shadow runs need a store" in caplog.text


# -- configuration ----------------------------------------------------------------------------


def test_config_keys_are_read_and_validated(tmp_path: Path) -> None:
    cfg = Settings.from_mapping(
        {
            "extractors": {
                "location": {"shadow": "openai:gpt-4o", "shadow_rate": 0.2, "shadow_max_in_flight": 3}
            }
        }
    )
    policy = LocationExtractor(settings=cfg).resolve_shadow()
    assert policy == Shadow("openai:gpt-4o", rate=0.2, max_in_flight=3)
    assert LocationExtractor(settings=Settings.from_mapping({})).resolve_shadow() is None
    for bad, key in (
        ({"shadow_rate": 1.5}, "shadow_rate"),
        ({"shadow_rate": -0.1}, "shadow_rate"),
        ({"shadow_rate": float("nan")}, "shadow_rate"),
        ({"shadow_max_in_flight": 0}, "shadow_max_in_flight"),
        ({"shadow_deadline": float("inf")}, "shadow_deadline"),
        ({"shadow": 5}, "shadow"),
        ({"shadow_turbo": 1}, "shadow_turbo"),
    ):
        with pytest.raises(ConfigError) as info:
            Settings.from_mapping({"extractors": {"location": bad}})
        assert info.value.key == f"extractors.location.{key}"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXTRACTKIT_LOCATION_SHADOW", "openai:gpt-4o")
    monkeypatch.setenv("EXTRACTKIT_LOCATION_SHADOW_RATE", "0.5")
    cfg = Settings.load()
    assert cfg.extractor("location").shadow == "openai:gpt-4o"
    assert cfg.extractor("location").shadow_rate == 0.5
    monkeypatch.setenv("EXTRACTKIT_LOCATION_SHADOW_RATE", "half")
    with pytest.raises(ConfigError, match="fraction from 0 to 1"):
        Settings.load()


def test_api_arguments_are_validated() -> None:
    with pytest.raises(UserError, match="names no model"):
        LocationExtractor(shadow=True)
    with pytest.raises(UserError, match="fraction from 0 to 1"):
        LocationExtractor(shadow=SHADOW, shadow_rate=2)
    with pytest.raises(UserError, match="store=False"):
        LocationExtractor(shadow=SHADOW, store=False)
    with pytest.raises(UserError, match="max_in_flight"):
        Shadow(SHADOW, max_in_flight=0)
    with pytest.raises(UserError, match="finite"):
        Shadow(SHADOW, deadline=float("inf"))
    ex = LocationExtractor(shadow=Shadow(SHADOW, rate=0.3), shadow_rate=0.6)
    assert ex.resolve_shadow() == Shadow(SHADOW, rate=0.6)


def test_answers_are_compared_as_json() -> None:
    assert answers_equal({"a": 1, "b": [1, 2]}, {"b": [1, 2.0], "a": 1})
    assert not answers_equal({"a": [1, 2]}, {"a": [2, 1]})
    assert not answers_equal({"a": True}, {"a": 1})
    assert not answers_equal({"a": None}, {})
    assert not answers_equal("Paris", "paris")


# -- the store's schema -------------------------------------------------------------------------


def test_a_version_3_store_is_migrated_and_keeps_its_records(store_url: str) -> None:
    from extractkit.store import Exchange

    if store_url in _schemas:
        import psycopg

        from extractkit.store.postgres import migrate as pg_migrate

        with psycopg.connect(store_url.split("#")[0], autocommit=True) as conn:
            assert pg_migrate(conn, target=3, schema=_schemas[store_url]) == 3
    else:
        import sqlite3

        from extractkit.store.sqlite import migrate

        conn = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
        assert migrate(conn, target=3) == 3
        conn.close()
    store = opened(store_url)
    assert store.schema_version() == 4  # type: ignore[attr-defined]
    live = Exchange(extractor="location", input="in Kyiv", model=LIVE, output=city("Kyiv"))
    from extractkit.store.shadows import shadow_metadata

    shadow = Exchange(
        extractor="location",
        input="in Kyiv",
        model=SHADOW,
        output=city("Kiev"),
        metadata=shadow_metadata({}, live_id=live.id, live_model=LIVE, live_output=live.output, agrees=False),
    )
    store.write_batch([live, shadow])
    (pair,) = store.disagreements()
    assert pair.live_exchange_id == live.id and pair.shadow.output == city("Kiev")
    assert pair.record_id == live.id and store.count() == 1
    store.close()


# -- the command ---------------------------------------------------------------------------------


async def test_records_disagreements_lists_differing_pairs(
    server: ScriptedChatServer, models: Models, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from extractkit.cli import main

    models.shadow_answer = lambda text: (
        Reply.json(city("Paris")) if "Lyon" in text else Reply.error(400, "bad") if "Bonn" in text else
        Reply.json(city(text.split()[-1]))
    )  # fmt: skip
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = opened(url)
    ex = extractor(settings(server), store)
    for text in ("nurse in Berlin", "welder in Lyon", "cook in Bonn"):
        await ex.extract(text)
    await drain()
    store.close()

    assert main(["records", "disagreements", "location", "--store", url]) == 0
    out = capsys.readouterr().out
    assert "welder in Lyon" in out and "Paris" in out and "Berlin" not in out and "Bonn" not in out
    assert main(["records", "disagreements", "location", "--store", url, "--json", "--failed"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted((d["input"], d["status"]) for d in lines) == [
        ("cook in Bonn", "failed"),
        ("welder in Lyon", "disagree"),
    ]
    lyon = next(d for d in lines if d["status"] == "disagree")
    assert lyon["live"]["model"] == LIVE and lyon["shadow"]["model"] == SHADOW
    assert lyon["live"]["output"] == city("Lyon") and lyon["shadow"]["output"] == city("Paris")
    assert lyon["record_id"] is not None
    out_file = tmp_path / "d.jsonl"
    assert (
        main(
            [
                "records",
                "disagreements",
                "location",
                "--store",
                url,
                "--json",
                "--failed",
                "--limit",
                "1",
                "-o",
                str(out_file),
            ]
        )
        == 0
    )
    assert len(out_file.read_text().splitlines()) == 1
    assert main(["records", "disagreements", "location", "--store", url, "--summary", "--json"]) == 0
    (summary,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (summary["agreed"], summary["disagreed"], summary["failed"]) == (1, 1, 1)
    assert main(["records", "disagreements", "intent", "--store", url]) == 0
    assert "no disagreements recorded for intent" in capsys.readouterr().out
    assert main(["records", "disagreements", "location", "--store", url, "--limit", "-1"]) == 2


# -- interpreter exit ----------------------------------------------------------------------------

EXIT_SCRIPT = """
import sys
from extractkit import LocationExtractor, Settings
import extractkit.shadow
from extractkit.retries import RetryPolicy
from extractkit.testing.server import Reply, ScriptedChatServer

def answer(req):
    city = {"locations": [{"city": "Oslo", "country": None}]}
    if req.body["model"] == "gpt-4o-mini":
        return Reply.json(city)
    return Reply.slow(60, Reply.json(city))  # the shadow would answer long after exit

srv = ScriptedChatServer(answer).start()
cfg = Settings.from_mapping({
    "backends": {"openai": {"base_url": srv.base_url, "api_key_env": "EXTRACTKIT_TEST_KEY"}},
    "store": {"url": sys.argv[1]},
    "extractors": {"location": {"model": "openai:gpt-4o-mini", "shadow": "openai:gpt-4o", "shadow_rate": 1.0}},
})
ex = LocationExtractor(settings=cfg, retry=RetryPolicy(max_attempts=1))
print(ex.extract_sync("teacher in Oslo").locations[0].city)
extractkit.shadow.EXIT_WAIT = 0.5
"""


def test_at_exit_a_pending_shadow_is_dropped_within_the_bound_and_recorded(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    url = f"sqlite:///{tmp_path / 'x.db'}"
    script = tmp_path / "app.py"
    script.write_text(EXIT_SCRIPT)
    env = {**os.environ, "EXTRACTKIT_TEST_KEY": KEY}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(script), url], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "Oslo"
    assert took < 30  # bounded by EXIT_WAIT, not by the shadow's 60 s answer
    assert "were dropped" in proc.stderr
    with open_store(url) as store:
        assert isinstance(store, SQLStore)
        (pair,) = store.shadow_pairs()
        assert pair.status == "failed" and (pair.shadow.error or "").startswith("ShadowDropped")
        assert store.count() == 1
