"""A real model, served locally: SmolLM2-135M-Instruct through llama.cpp and extractkit's public API."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractkit import LocationExtractor
from extractkit.exceptions import ConfigError, ExtractionError, UserError
from extractkit.local.models import missing_extras

ROOT = Path(__file__).resolve().parents[1]
QUERIES = (
    "nurse jobs in Lyon",
    "python developer Berlin",
    "accountant in Madrid, Spain",
    "remote data analyst",
)


def _need_extra() -> None:
    missing = missing_extras(serve=True)
    if missing:
        reason = f"the local extra is not installed ({', '.join(missing)}): bash scripts/install-local.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must install the local extra: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server() -> Iterator[object]:
    _need_extra()
    from extractkit.local import LocalModelServer

    with LocalModelServer() as running:
        yield running


def _port_open(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname or "", parts.port or 0)) == 0


@pytest.mark.realmodel
def test_serves_the_shipped_model_on_loopback(server: object) -> None:
    import openai

    from extractkit.local import LocalModelServer

    assert isinstance(server, LocalModelServer)
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list().data] == ["smollm2-135m"]
    reply = client.chat.completions.create(
        model="smollm2-135m",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        temperature=0,
    )
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.prompt_tokens > 0


@pytest.mark.realmodel
def test_extracts_schema_valid_output_through_the_public_api(server: object) -> None:
    from extractkit.backends.openai import OpenAIChatBackend
    from extractkit.local import LocalModelServer
    from extractkit.testing.openapi import validate_request

    assert isinstance(server, LocalModelServer)
    # The base model with the full prompt and constrained decoding: every answer must validate.
    loc = LocationExtractor(
        model=server.model_ref,
        settings=server.settings(),
        output_mode="json_schema",
        max_tokens=120,
        store=False,
    )
    body = OpenAIChatBackend(base_url=server.base_url).build_params(loc.build_request(QUERIES[0]))
    assert validate_request("POST", "/v1/chat/completions", body) == []
    results = loc.extract_many_sync(QUERIES, concurrency=1)
    # Constrained decoding makes the JSON valid; a 135M model can still loop until max_tokens.
    assert sum(r.ok for r in results) >= len(QUERIES) - 1, [str(r.error) for r in results]
    for result in results:
        if result.extraction is None:
            continue
        assert result.extraction.model == "local:smollm2-135m"
        assert result.extraction.prompt_variant == "full"
        assert (
            result.extraction.usage.prompt_tokens > 100
        )  # the full prompt, counted by the model's tokenizer
        assert loc.spec.validate(loc.spec.dump(result.value)) == result.value


@pytest.mark.realmodel
def test_config_file_selects_a_server_started_elsewhere(server: object, tmp_path: Path) -> None:
    from extractkit.config import Settings
    from extractkit.local import LocalModelServer

    assert isinstance(server, LocalModelServer)
    config = tmp_path / "extractkit.toml"
    config.write_text(server.toml(), encoding="utf-8")
    settings = Settings.load(config)
    loc = LocationExtractor(settings=settings, max_tokens=120, store=False)
    assert str(loc.resolve_model()) == "local:smollm2-135m"
    assert loc.resolve_profile().output_mode == "json_schema"  # the snippet says the server takes a schema
    assert loc.extract_sync("barista in Rome").locations is not None


@pytest.mark.realmodel
def test_context_manager_stops_the_server() -> None:
    _need_extra()
    from extractkit.local import LocalModelServer

    first, second = LocalModelServer(), LocalModelServer()
    with first, second:  # two at once, each on its own free port
        urls = (first.base_url, second.base_url)
        assert urls[0] != urls[1] and all(_port_open(u) for u in urls)
    assert not first.running and not second.running
    assert not any(_port_open(u) for u in urls)
    with pytest.raises(UserError, match="not running"):
        _ = first.base_url
    first.stop()  # idempotent


def test_bad_arguments_fail_before_anything_loads(tmp_path: Path) -> None:
    _need_extra()
    from extractkit.local import LocalModelServer

    with pytest.raises(ConfigError, match="no local model 'ft-nope'"):
        LocalModelServer("ft-nope", models_dir=tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        LocalModelServer(adapter=tmp_path / "missing.gguf")
    with pytest.raises(UserError, match="port must be"):
        LocalModelServer(port=70000)


def test_serve_command_is_registered_with_its_options() -> None:
    from extractkit.cli.serve import register, serve

    parser = argparse.ArgumentParser(prog="extractkit")
    register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--model", "ft-x", "--port", "8123", "--parallel", "2"])
    assert (args.model, args.port, args.parallel, args.host, args.func) == (
        "ft-x",
        8123,
        2,
        "127.0.0.1",
        serve,
    )


_CLI = textwrap.dedent(
    """
    import argparse, sys
    from extractkit.cli import main as _unused  # the package's entry point imports cleanly
    from extractkit.cli.serve import register
    parser = argparse.ArgumentParser(prog="extractkit")
    register(parser.add_subparsers())
    args = parser.parse_args(sys.argv[1:])
    sys.exit(args.func(args))
    """
)


@pytest.mark.realmodel
def test_serve_command_serves_until_interrupted(tmp_path: Path) -> None:
    _need_extra()
    import openai

    proc = subprocess.Popen(
        [sys.executable, "-c", _CLI, "serve", "--context", "1024"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("serving smollm2-135m at http://127.0.0.1:"), first + (
            proc.stderr.read() if proc.stderr else ""
        )
        base_url = first.rsplit(" ", 1)[1].strip()
        lines = [proc.stdout.readline() for _ in range(7)]
        assert f'base_url = "{base_url}"\n' in lines
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        assert client.models.list().data[0].id == "smollm2-135m"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "stopped" in out
    assert not _port_open(base_url)  # the process is gone, and its socket with it


@pytest.mark.realmodel
def test_backend_type_local_serves_the_configured_model_on_demand() -> None:
    _need_extra()
    from extractkit.backends import register_backend
    from extractkit.config import Settings
    from extractkit.local.backend import LocalChatBackend, stop_all_servers

    # What the [project.entry-points."extractkit.backends"] entry does for an installed package.
    register_backend("local", LocalChatBackend.from_config)
    settings = Settings.from_mapping(
        {
            "backends": {"local": {"type": "local", "context": 1024}},
            "extractors": {"location": {"model": "local:smollm2-135m", "output_mode": "json_schema"}},
        }
    )
    try:
        loc = LocationExtractor(settings=settings, max_tokens=200, store=False)
        try:
            answer = loc.extract_sync("nurse jobs in Lyon").model_dump_json()
        except ExtractionError as exc:  # a wrong answer still proves the model was served and asked
            answer = exc.raw or ""
        assert answer.startswith("{")  # constrained decoding: JSON from the first token
    finally:
        stop_all_servers()


def test_backend_type_local_rejects_unknown_options() -> None:
    from extractkit.config import Settings
    from extractkit.local.backend import LocalChatBackend

    settings = Settings.from_mapping(
        {"backends": {"local": {"type": "local", "base_url": "http://127.0.0.1:1/v1"}}}
    )
    with pytest.raises(ConfigError, match='use type = "openai"'):
        LocalChatBackend.from_config(settings.backend("local"))
    settings = Settings.from_mapping({"backends": {"local": {"type": "local", "context": 0}}})
    with pytest.raises(ConfigError, match="positive integer"):
        LocalChatBackend.from_config(settings.backend("local"))


def test_a_server_uses_the_cores_other_processes_leave_free(monkeypatch: pytest.MonkeyPatch) -> None:
    # llama.cpp's threads wait for each other after every operation: a thread without a core of its
    # own stalls the rest, so the default is the free cores when the server starts, at least one.
    from extractkit.local import server

    monkeypatch.setattr(server.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(server.os, "getloadavg", lambda: (0.8, 0.5, 1.0))
    assert server.free_cores() == 2  # a core busy part of the time is mostly free
    monkeypatch.setattr(server.os, "getloadavg", lambda: (1.3, 0.5, 1.0))
    assert server.free_cores() == 1
    monkeypatch.setattr(server.os, "getloadavg", lambda: (7.0, 5.0, 1.0))
    assert server.free_cores() == 1

    def no_load_average() -> tuple[float, float, float]:
        raise OSError("not on this platform")

    monkeypatch.setattr(server.os, "getloadavg", no_load_average)
    assert server.free_cores() == 2
