"""Writing a fine-tuned model into extractkit.toml: only the model line changes, the rest is kept."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from extractkit import ConfigError, LocationExtractor, Settings
from extractkit.config import get_settings, set_settings
from extractkit.finetune import update_extractor_model

FT = "openai:ft:gpt-4o-mini-2024-07-18:acme:loc:abc123"

CONFIG = """\
# Production settings -- reviewed by ops.
[defaults]
max_concurrency = 4   # keep below the rate limit

[extractors.location]
model = "openai:gpt-4o-mini"  # the base model for now
prompt_variant = "full"
max_attempts = 2

[extractors.intent]
model = "openai:gpt-4o"

[store]
url = "sqlite:///exchanges.db"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_only_the_model_and_prompt_lines_change(tmp_path: Path) -> None:
    path = write(tmp_path / "extractkit.toml", CONFIG)
    update = update_extractor_model("location", FT, path=path, reason="fine-tuning job ftjob-1")
    text = path.read_text()
    assert update.previous_model == "openai:gpt-4o-mini"
    assert update.model == FT
    assert f'model = "{FT}"  # the base model for now' in text  # the line's own comment stays
    assert 'prompt_variant = "minimal"' in text
    assert '# extractkit finetune: was "openai:gpt-4o-mini" before fine-tuning job ftjob-1' in text
    # Everything else is byte for byte what it was.
    before = [line for line in CONFIG.splitlines() if "model =" not in line and "prompt_variant" not in line]
    after = [line for line in text.splitlines() if "model =" not in line and "prompt_variant" not in line]
    assert [line for line in after if not line.startswith("# extractkit finetune:")] == before
    assert 'model = "openai:gpt-4o"' in text  # another extractor's model is untouched
    data = tomllib.loads(text)
    assert data["extractors"]["location"] == {"model": FT, "prompt_variant": "minimal", "max_attempts": 2}
    assert data["defaults"] == {"max_concurrency": 4}


def test_a_second_update_replaces_the_note_instead_of_piling_up(tmp_path: Path) -> None:
    path = write(tmp_path / "extractkit.toml", CONFIG)
    update_extractor_model("location", FT, path=path)
    newer = FT.replace("abc123", "def456")
    update = update_extractor_model("location", newer, path=path)
    text = path.read_text()
    assert update.previous_model == FT
    assert text.count("# extractkit finetune:") == 1
    assert f'was "{FT}"' in text
    assert tomllib.loads(text)["extractors"]["location"]["model"] == newer


def test_missing_table_is_appended_and_missing_file_created(tmp_path: Path) -> None:
    path = write(tmp_path / "extractkit.toml", '[store]\nurl = "sqlite:///x.db"\n')
    update_extractor_model("location", FT, path=path)
    data = tomllib.loads(path.read_text())
    assert data == {"store": {"url": "sqlite:///x.db"}, "extractors": {"location": {"model": FT}}}

    fresh = tmp_path / "sub" / "extractkit.toml"
    update = update_extractor_model("location", FT, path=fresh)
    assert update.previous_model is None
    assert tomllib.loads(fresh.read_text()) == {"extractors": {"location": {"model": FT}}}


def test_model_key_is_inserted_into_an_existing_table_without_one(tmp_path: Path) -> None:
    path = write(
        tmp_path / "extractkit.toml", "[extractors.location]\nmax_attempts = 3\n\n[store]\nurl = 'x'\n"
    )
    update_extractor_model("location", FT, path=path)
    data = tomllib.loads(path.read_text())
    assert data["extractors"]["location"] == {"model": FT, "max_attempts": 3}
    assert data["store"] == {"url": "x"}


@pytest.mark.parametrize(
    "header",
    ['[extractors."location"]', "[ extractors . location ]", "[extractors.'location']  # ours"],
)
def test_header_spellings(tmp_path: Path, header: str) -> None:
    path = write(tmp_path / "extractkit.toml", f"{header}\nmodel = 'openai:gpt-4o-mini'\n")
    update_extractor_model("location", FT, path=path)
    assert tomllib.loads(path.read_text())["extractors"]["location"]["model"] == FT


def test_lookalike_headers_inside_strings_and_arrays_are_not_tables(tmp_path: Path) -> None:
    text = (
        "[backends.local]\n"
        'type = "openai"\n'
        'base_url = "http://127.0.0.1:8080/v1"\n'
        "stop = [\n"
        '  ["a"],\n'
        "]\n"
        'note = """\n'
        "[extractors.location]\n"
        'model = "openai:not-this"\n'
        '"""\n'
        "\n"
        "[extractors.location]\n"
        'model = "openai:gpt-4o-mini"\n'
    )
    path = write(tmp_path / "extractkit.toml", text)
    update_extractor_model("location", FT, path=path)
    data = tomllib.loads(path.read_text())
    assert data["extractors"]["location"]["model"] == FT
    assert data["backends"]["local"]["note"] == '[extractors.location]\nmodel = "openai:not-this"\n'
    assert data["backends"]["local"]["stop"] == [["a"]]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            '[extractors]  # ours\nlocation = { model = "openai:gpt-4o-mini", max_attempts = 2 }\n',
            "[extractors]  # ours\nlocation = {",
        ),
        (
            '[extractors]\nlocation.model = "openai:gpt-4o-mini"  # dotted\nlocation.max_attempts = 2\n',
            "location.max_attempts = 2\n",
        ),
        ('extractors.location.model = "openai:gpt-4o-mini"  # at the root\n', "  # at the root"),
        (
            '# head\n[extractors]\n[extractors.location]  # mine\nprompt_variant = "full"\n\n'
            "[store]\nurl = 'x'\n",
            "[extractors.location]  # mine\n",
        ),
    ],
)
def test_inline_tables_and_dotted_keys_are_edited_keeping_comments(
    tmp_path: Path, text: str, kept: str
) -> None:
    # The line editor once refused these layouts; tomlkit edits them in place.
    path = write(tmp_path / "extractkit.toml", text)
    update = update_extractor_model("location", FT, path=path)
    new = path.read_text()
    assert kept in new
    before = tomllib.loads(text)
    after = tomllib.loads(new)
    assert after["extractors"]["location"]["model"] == FT
    before["extractors"]["location"]["model"] = FT
    if "prompt_variant" in before["extractors"]["location"]:
        before["extractors"]["location"]["prompt_variant"] = "minimal"
    assert after == before  # nothing else changed
    assert update.previous_model == tomllib.loads(text)["extractors"]["location"].get("model")


def test_a_note_on_an_inline_table_is_replaced_not_piled_up(tmp_path: Path) -> None:
    path = write(tmp_path / "extractkit.toml", '[extractors]\nlocation = { model = "openai:gpt-4o-mini" }\n')
    update_extractor_model("location", FT, path=path)
    update_extractor_model("location", FT.replace("abc123", "def456"), path=path)
    text = path.read_text()
    assert text.count("extractkit finetune:") == 1 and f'was "{FT}"' in text


def test_extractors_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "extractkit.toml", "extractors = 3\n")
    with pytest.raises(ConfigError, match="'extractors' must be a table"):
        update_extractor_model("location", FT, path=path)
    assert path.read_text() == "extractors = 3\n"


def test_invalid_toml_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = write(tmp_path / "extractkit.toml", "[extractors.location\nmodel = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        update_extractor_model("location", FT, path=path)
    assert path.read_text() == "[extractors.location\nmodel = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["extractkit.toml"]  # no temporary file left behind


def test_crlf_line_endings_and_file_mode_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "extractkit.toml"
    path.write_bytes(b'[extractors.location]\r\nmodel = "openai:gpt-4o-mini"\r\n')
    os.chmod(path, 0o600)
    update_extractor_model("location", FT, path=path)
    raw = path.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_environment_override_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "extractkit.toml", CONFIG)
    monkeypatch.setenv("EXTRACTKIT_LOCATION_MODEL", "openai:gpt-4o")
    update = update_extractor_model("location", FT, path=path)
    assert any("EXTRACTKIT_LOCATION_MODEL" in note for note in update.notes)


def test_the_application_switches_without_a_code_change(tmp_path: Path) -> None:
    path = write(tmp_path / "extractkit.toml", CONFIG)
    set_settings(path)
    assert str(LocationExtractor().resolve_model()) == "openai:gpt-4o-mini"
    update_extractor_model("location", FT, path=path)
    # The process-wide settings came from this file, so they are re-read on next use.
    assert get_settings().extractor("location").model == FT
    extractor = LocationExtractor()
    assert str(extractor.resolve_model()) == FT
    assert extractor.resolve_profile().prompt_variant.value == "minimal"
    assert Settings.load(path).extractor("intent").model == "openai:gpt-4o"


def test_the_discovered_config_file_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "extractkit.toml", CONFIG)
    (tmp_path / "app").mkdir()
    monkeypatch.chdir(tmp_path / "app")
    update = update_extractor_model("location", FT)
    assert update.path == tmp_path / "extractkit.toml"
    assert not (tmp_path / "app" / "extractkit.toml").exists()


def test_a_model_that_is_not_a_reference_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "extractkit.toml", CONFIG)
    with pytest.raises(ConfigError):
        update_extractor_model("location", "  ", path=path)
    assert path.read_text() == CONFIG
