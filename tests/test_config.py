"""Configuration: model refs, extractkit.toml, EXTRACTKIT_* env, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractkit import ConfigError, LocationExtractor, ModelRef, Settings, profile_for
from extractkit.config import get_settings, set_settings
from extractkit.profiles import OutputMode, PromptVariant


@pytest.mark.parametrize(
    ("ref", "provider", "model"),
    [
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("openai:ft:gpt-4o-mini-2024-07-18:org::abc123", "openai", "ft:gpt-4o-mini-2024-07-18:org::abc123"),
        ("ft:gpt-4o-mini-2024-07-18:org::abc123", "openai", "ft:gpt-4o-mini-2024-07-18:org::abc123"),
        ("local:smollm2:135m", "local", "smollm2:135m"),
    ],
)
def test_model_ref_splits_on_the_first_colon(ref: str, provider: str, model: str) -> None:
    parsed = ModelRef.parse(ref)
    assert (parsed.provider, parsed.model) == (provider, model)
    assert ModelRef.parse(str(parsed)) == parsed


@pytest.mark.parametrize("bad", ["", "  ", ":gpt", "openai:"])
def test_malformed_model_refs(bad: str) -> None:
    with pytest.raises(ConfigError):
        ModelRef.parse(bad)


def test_profiles_branch_on_model_names() -> None:
    ft = profile_for("openai:ft:gpt-4o-mini-2024-07-18:org::abc")
    assert (ft.output_mode, ft.prompt_variant) == (OutputMode.BARE, PromptVariant.MINIMAL)
    assert profile_for("openai:gpt-4o-mini").output_mode is OutputMode.JSON_SCHEMA
    assert profile_for("openai:gpt-3.5-turbo").output_mode is OutputMode.JSON_OBJECT
    local = profile_for("vllm:qwen2.5-7b")
    assert (local.output_mode, local.prompt_variant) == (OutputMode.PROMPTED, PromptVariant.FULL)
    assert not profile_for("openai:o3-mini").supports_logit_bias


def test_local_profiles_follow_the_backend_type() -> None:
    # llama.cpp's own server constrains decoding to the schema, fine-tunes included.
    base, tuned = profile_for("local:smollm2-135m"), profile_for("local:ft-smollm2-135m-x")
    assert (base.output_mode, base.prompt_variant) == (OutputMode.JSON_SCHEMA, PromptVariant.FULL)
    assert (tuned.output_mode, tuned.prompt_variant) == (OutputMode.JSON_SCHEMA, PromptVariant.MINIMAL)
    # "local" pointed at some OpenAI-compatible server: nothing says it takes a schema.
    compat = profile_for("local:smollm2-135m", backend_type="openai")
    assert compat.output_mode is OutputMode.PROMPTED
    settings = Settings.from_mapping(
        {"backends": {"local": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}}}
    )
    profile = LocationExtractor(model="local:smollm2-135m", settings=settings).resolve_profile()
    assert profile.output_mode is OutputMode.PROMPTED
    # ...unless its table says it constrains decoding (what `extractkit serve` prints).
    table = {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "structured_outputs": True}
    served = Settings.from_mapping({"backends": {"local": table, "vllm": table}})
    for ref in ("local:ft-smollm2-135m-x", "vllm:ft-qwen-x"):
        profile = LocationExtractor(model=ref, settings=served).resolve_profile()
        assert (profile.output_mode, profile.prompt_variant) == (
            OutputMode.JSON_SCHEMA,
            PromptVariant.MINIMAL,
        )
    with pytest.raises(ConfigError, match=r"backends\.vllm\.structured_outputs.*true or false"):
        Settings.from_mapping({"backends": {"vllm": {**table, "structured_outputs": "yes"}}})


TOML = """
[defaults]
model = "openai:gpt-4o-mini"
max_concurrency = 4

[backends.local]
type = "openai"
base_url = "http://127.0.0.1:8080/v1"
timeout = 5

[extractors.location]
model = "openai:ft:gpt-4o-mini-2024-07-18:acme::loc1"
max_attempts = 2

[prices."ft:gpt-4o-mini-2024-07-18:acme::loc1"]
input = 0.3
output = 1.2

[store]
url = "sqlite:///exchanges.db"
"""


def test_load_a_full_file_and_swap_models_by_config(tmp_path: Path) -> None:
    path = tmp_path / "extractkit.toml"
    path.write_text(TOML)
    s = Settings.load(path, env={})
    assert s.default_model == "openai:gpt-4o-mini" and s.max_concurrency == 4
    assert s.backend("local").base_url == "http://127.0.0.1:8080/v1" and s.backend("local").timeout == 5
    assert s.backend("openai").api_key_env == "OPENAI_API_KEY"
    assert s.extractor("location").max_attempts == 2
    assert s.store_url == "sqlite:///exchanges.db"
    ex = LocationExtractor(settings=s)
    assert ex.resolve_model().model == "ft:gpt-4o-mini-2024-07-18:acme::loc1"
    assert ex.resolve_profile().prompt_variant is PromptVariant.MINIMAL


def test_discovery_from_cwd_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "extractkit.toml").write_text('[defaults]\nmodel = "openai:gpt-4.1-mini"\n')
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    set_settings(None)
    assert get_settings().default_model == "openai:gpt-4.1-mini"
    monkeypatch.setenv("EXTRACTKIT_MODEL", "openai:gpt-4o")
    monkeypatch.setenv("EXTRACTKIT_STORE", "sqlite:///x.db")
    set_settings(None)
    assert get_settings().default_model == "openai:gpt-4o"
    assert get_settings().store_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("toml", "key", "fragment"),
    [
        ("[extractors.location]\nmodell = 'x'\n", "extractors.location.modell", "not a known setting"),
        ("[extractors.location]\nmax_attempts = 'three'\n", "extractors.location.max_attempts", "integer"),
        ("[extractors.location]\noutput_mode = 'xml'\n", "extractors.location.output_mode", "one of"),
        ("[backends.openai]\napi_key = 'sk-123'\n", "backends.openai.api_key", "api_key_env"),
        ("[defaults]\nmodel = 'openai:'\n", "defaults.model", "malformed"),
        ("[prices.gpt-x]\ninput = -1\n", "prices.gpt-x.input", ">= 0"),
        ("[colour]\nx = 1\n", "colour", "not a known setting"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, toml: str, key: str, fragment: str) -> None:
    path = tmp_path / "extractkit.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        Settings.load(path, env={})
    assert info.value.key == key
    assert key in str(info.value) and fragment in str(info.value) and str(path) in str(info.value)
    assert "sk-123" not in str(info.value)


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "extractkit.toml"
    path.write_text("[defaults\nmodel=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(path, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="EXTRACTKIT_LOCATION_MODEL"):
        Settings.from_mapping({}, env={"EXTRACTKIT_LOCATION_MODEL": " "})
