"""One HTTP client per (event loop, backend configuration value), on the zero-config path too.

The README's path has no config file: only ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``.
These tests count the real ``openai.AsyncOpenAI`` constructions (the vendor class,
wrapped to count; our code runs unchanged) against a real local server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import openai
import pytest

from extractkit import LocationExtractor, RealRequestBlockedError, Settings
from extractkit.config import BackendConfig, get_settings
from extractkit.runtime import aclose, backend_for
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import Reply, ScriptedChatServer

NY = {"locations": [{"city": "New York", "country": "United States"}]}


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every AsyncOpenAI the process constructs while the test runs."""
    made: list[object] = []
    real = openai.AsyncOpenAI

    class Counting(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(openai, "AsyncOpenAI", Counting)
    return made


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer(lambda request: Reply.json(NY), validate=spec_validator) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        # A key of its own: a client cached on the shared sync loop by an earlier test
        # (whose server may have had this port) can never match.
        monkeypatch.setenv("OPENAI_API_KEY", f"sk-test-{uuid.uuid4().hex}")
        yield srv
    assert srv.spec_errors == []


def test_settings_backend_is_the_same_value_each_call() -> None:
    settings = get_settings()
    assert settings.source is None  # no config file in the test's directory
    first, second = settings.backend("openai"), settings.backend("openai")
    assert first is second
    assert hash(first) == hash(Settings().backend("openai"))


def test_backend_configs_hash_by_value_options_included() -> None:
    a = BackendConfig("local", "openai", base_url="http://127.0.0.1:1/v1", options={"max_tokens_param": "x"})
    b = BackendConfig("local", "openai", base_url="http://127.0.0.1:1/v1", options={"max_tokens_param": "x"})
    c = BackendConfig("local", "openai", base_url="http://127.0.0.1:1/v1", options={"max_tokens_param": "y"})
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert a.options == {"max_tokens_param": "x"}
    with pytest.raises(TypeError):
        a.options["max_tokens_param"] = "z"  # type: ignore[index]
    nested = BackendConfig("p", "openai", options={"headers": {"x": [1, 2]}})
    assert hash(nested) == hash(BackendConfig("p", "openai", options={"headers": {"x": [1, 2]}}))


def test_a_hundred_zero_config_extractions_build_one_client(
    server: ScriptedChatServer, built: list[object]
) -> None:
    async def main() -> None:
        extractor = LocationExtractor(model="openai:gpt-4o-mini")
        for _ in range(100):
            assert (await extractor.extract("graphic designer in New York")).locations[0].city == "New York"
        await aclose()

    asyncio.run(main())
    assert len(server.requests) == 100
    assert len(built) == 1


def test_zero_config_sync_calls_share_one_client(server: ScriptedChatServer, built: list[object]) -> None:
    for _ in range(20):
        LocationExtractor(model="openai:gpt-4o-mini").extract_sync("graphic designer in New York")
    assert len(server.requests) == 20
    assert len(built) == 1


def test_equal_configs_built_apart_share_one_backend_and_limit(server: ScriptedChatServer) -> None:
    def settings() -> Settings:
        return Settings.from_mapping({"backends": {"openai": {"base_url": server.base_url}}})

    async def main() -> None:
        one = backend_for(settings().backend("openai"))
        two = backend_for(settings().backend("openai"))
        assert one[0] is two[0] and one[1] is two[1]
        other = backend_for(
            Settings.from_mapping(
                {"backends": {"openai": {"base_url": server.base_url, "timeout": 5}}}
            ).backend("openai")
        )
        assert other[0] is not one[0]
        await aclose()

    asyncio.run(main())


def test_a_changed_environment_gets_a_new_client(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedChatServer, built: list[object]
) -> None:
    extractor = LocationExtractor(model="openai:gpt-4o-mini")
    extractor.extract_sync("graphic designer in New York")
    with ScriptedChatServer(lambda request: Reply.json(NY), validate=spec_validator) as second:
        monkeypatch.setenv("OPENAI_BASE_URL", second.base_url)
        extractor.extract_sync("graphic designer in New York")
        assert len(second.requests) == 1  # not sent to the first server through a stale client
    assert len(server.requests) == 1
    assert len(built) == 2


def test_the_tripwire_sees_the_environment_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(RealRequestBlockedError):
        LocationExtractor(model="openai:gpt-4o-mini").extract_sync("jobs in Paris")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.example.com/v1")
    with pytest.raises(RealRequestBlockedError):
        LocationExtractor(model="openai:gpt-4o-mini").extract_sync("jobs in Paris")
