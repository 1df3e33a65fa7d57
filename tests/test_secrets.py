"""Secrets stay secret, both directions: keys are redacted by value everywhere; data is never
redacted by its field name; what extractkit writes is readable by its owner only.

The canary test plants keys in an environment variable named by ``api_key_env``, in user
inputs, and in a server that echoes them back (in answers and in error messages), then runs
extractions, an export and an eval report, and checks that no file, no log record and no
exception message holds any of them.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from extractkit import Extractor, LocationExtractor, Settings
from extractkit.cli import main as cli_main
from extractkit.config import set_settings
from extractkit.evals import Candidate, run_eval_sync
from extractkit.evals.cache import AnswerCache
from extractkit.evals.cases import EvalCase, dump_cases
from extractkit.exceptions import BackendError, ConfigError, ExtractKitError, HTTPStatusError
from extractkit.redaction import REDACTED, looks_like_key, redact, redact_value
from extractkit.retries import RetryPolicy
from extractkit.store import SQLiteStore
from extractkit.testing import FakeBackend
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer

# -- the one redaction function ----------------------------------------------------------------

KEYS = {
    "openai": "sk-" + "A1b2C3d4E5f6G7h8" * 3,
    "openai project": "sk-proj-" + "Zx9_Yw8-Vu7" * 4,
    "anthropic": "sk-ant-api03-" + "q1W2e3R4t5Y6" * 4,
    "groq": "gsk_" + "a1B2c3D4e5F6g7H8" * 3,
    "azure": "4f2a9c3e8b1d7f6a0c5e9b2d8a4f1c7e",
    "azure upper": "4F2A9C3E8B1D7F6A0C5E9B2D8A4F1C7E",
    "github": "ghp_" + "a1B2c3D4e5" * 4,
    "aws": "AKIA" + "ABCDEFGHIJKLMNOP",
}


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_each_key_shape_is_redacted_wherever_it_appears(key: str) -> None:
    for text in (key, f"my key is {key}.", f'{{"api_key": "{key}"}}', f"x-api-key:{key}\n"):
        out = redact(text)
        assert key not in out and REDACTED in out


def test_bearer_tokens_are_redacted() -> None:
    assert (
        redact("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc123") == f"Authorization: Bearer {REDACTED}"
    )
    assert (
        redact("headers={'authorization': 'bearer tok_9x8y7z6w'}")
        == f"headers={{'authorization': 'bearer {REDACTED}'}}"
    )


@pytest.mark.parametrize(
    "text",
    [
        "graphic designer in New York",
        "sk-short",
        "bearer bonds and bearer shares",
        "deadbeef is not a key, neither is cafe1234",
        "sha256 " + "0123456789abcdef" * 4,  # 64 hex: a digest, not a 32-hex key
        "batch_" + "0123456789abcdef" * 2,  # a provider's id with its prefix
        "an output field named token, password or secret",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) is text


def test_values_of_configured_key_variables_are_redacted_whatever_their_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = "plain-looking-" + secrets.token_hex(4)
    monkeypatch.setenv("ACME_LLM_CREDENTIAL", value)
    assert redact(f"echo {value}") == f"echo {value}"  # not yet known to be a key
    Settings.from_mapping(
        {"backends": {"acme": {"base_url": "http://x", "api_key_env": "ACME_LLM_CREDENTIAL"}}}
    )
    assert redact(f"echo {value}") == f"echo {REDACTED}"
    monkeypatch.setenv("OPENAI_API_KEY", "rotated-" + secrets.token_hex(6))  # a default, read at each call
    assert os.environ["OPENAI_API_KEY"] not in redact("key " + os.environ["OPENAI_API_KEY"])


def test_redaction_is_by_value_never_by_field_name() -> None:
    data = {"token": "abc", "password": "hunter2", "secret": ["open sesame"], "note": KEYS["groq"]}
    assert redact_value(data) == {
        "token": "abc",
        "password": "hunter2",
        "secret": ["open sesame"],
        "note": REDACTED,
    }
    assert redact_value({"ok": [1, "two"]}) == {"ok": [1, "two"]}


class Login(BaseModel):
    token: str
    password: str
    secret: str


class LoginExtractor(Extractor[Login]):
    instructions = "Extract the login fields."


async def test_output_fields_named_like_secrets_are_recorded_and_trained_as_they_are(tmp_path: Path) -> None:
    answer = {"token": "blue-42", "password": "correct horse", "secret": "the cake"}
    store = SQLiteStore(tmp_path / "x.db")
    extractor = LoginExtractor(backend=FakeBackend(lambda r: answer), store=store)
    value = await extractor.extract("token blue-42, password correct horse, secret the cake")
    assert value == Login(**answer)
    store.flush()
    record = store.find(LoginExtractor.name, "token blue-42, password correct horse, secret the cake")
    assert record is not None and record.exchange.output == answer and record.training_output == answer
    assert "redacted" not in record.exchange.metadata
    store.close()


# -- exception messages ---------------------------------------------------------------------


def test_error_messages_never_show_a_key() -> None:
    key = KEYS["openai project"]
    err = HTTPStatusError(f"401: Incorrect API key provided: {key}", status_code=401, provider_message=key)
    for shown in (str(err), repr(err), "".join(traceback.format_exception(err)), err.provider_message or ""):
        assert key not in shown
    assert "Incorrect API key provided" in str(err)
    plain = ExtractKitError("no key here")
    assert str(plain) == "no key here"


@pytest.mark.parametrize("pasted", [KEYS["openai"], KEYS["azure"], KEYS["groq"], "my-key-" + "x" * 30])
def test_a_key_pasted_into_api_key_env_is_refused_without_echoing_it(pasted: str, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="api_key_env must name an environment variable, not hold the key"
    ) as caught:
        Settings.from_mapping({"backends": {"openai": {"api_key_env": pasted}}})
    assert pasted not in str(caught.value) and pasted not in repr(caught.value)
    config = tmp_path / "extractkit.toml"
    config.write_text(f'[backends.openai]\napi_key_env = "{pasted}"\n')
    with pytest.raises(ConfigError) as from_file:
        Settings.load(config)
    assert pasted not in str(from_file.value) and from_file.value.key == "backends.openai.api_key_env"


@pytest.mark.parametrize(
    "name", ["OPENAI_API_KEY", "AZURE_OPENAI_KEY", "groq_key", "MY_COMPANY_LLM_API_KEY_V2"]
)
def test_real_variable_names_are_accepted(name: str) -> None:
    assert not looks_like_key(name)
    settings = Settings.from_mapping({"backends": {"openai": {"api_key_env": name}}})
    assert settings.backend("openai").api_key_env == name


# -- file modes -------------------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the common default: files 0644 unless the library says otherwise
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_files_and_folders_extractkit_creates_are_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "deeper" / "exchanges.db"
    store = SQLiteStore(db)
    store.record(_exchange("graphic designer in Paris"))
    store.flush()
    assert _mode(db.parent) == _mode(db.parent.parent) == 0o700
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert _mode(path) == 0o600, path
    store.close()

    export = tmp_path / "records.jsonl"
    export.write_text("an older export, readable by all\n")
    export.chmod(0o644)
    assert cli_main(["records", "export", "--store", str(db), "-o", str(export)]) == 0
    assert _mode(export) == 0o600 and "older" not in export.read_text()

    cases = tmp_path / "cases.jsonl"
    dump_cases([EvalCase("designer in Paris", {"locations": []}, "c1")], cases)
    assert _mode(cases) == 0o600
    cache = AnswerCache(tmp_path / "cache" / "answers.db")
    assert _mode(tmp_path / "cache") == 0o700 and _mode(tmp_path / "cache" / "answers.db") == 0o600
    cache.close()

    report = run_eval_sync(
        LocationExtractor,
        [{"input": "designer in Paris", "expected": {"locations": []}}],
        [Candidate("fake", backend=FakeBackend(lambda r: {"locations": []}))],
    )
    for name in ("eval.json", "eval.html", "eval.md"):
        report.write(tmp_path / name)
        assert _mode(tmp_path / name) == 0o600


def _exchange(text: str) -> Any:
    from extractkit.store import Exchange

    return Exchange(extractor="location", input=text, model="m", output={"locations": []})


# -- the canary -------------------------------------------------------------------------------


def _canaries() -> dict[str, str]:
    return {
        # Not key-shaped: caught only because api_key_env names the variable holding it.
        "env": "canary-" + secrets.token_urlsafe(18),
        "azure": secrets.token_hex(16),
        "groq": "gsk_" + secrets.token_hex(20),
        "anthropic": "sk-ant-api03-" + secrets.token_urlsafe(24),
        "openai": "sk-proj-" + secrets.token_urlsafe(24),
    }


def _all_files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file():
            yield path


def test_canary_keys_reach_no_file_no_log_and_no_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    canary = _canaries()
    monkeypatch.setenv("CANARY_PROVIDER_KEY", canary["env"])
    planted = (
        f"designer in Paris, keys {canary['azure']} {canary['groq']} {canary['anthropic']} {canary['openai']}"
    )

    def handler(request: RecordedRequest) -> Reply:
        text = request.last_user_text
        auth = request.headers.get("authorization", "")
        if "fail" in text:  # a server that echoes the key it was sent in its error message
            return Reply.error(400, f"Invalid request from {auth}: quota for key {auth[7:]} exceeded")
        if "refuse" in text:
            return Reply.error(401, f"Incorrect API key provided: {auth[7:]}")
        # ... and one that echoes the user's text (keys included) into its answer.
        return Reply.json({"locations": [{"city": text, "country": auth}]})

    messages: list[str] = []
    with ScriptedChatServer(handler, api_key=canary["env"]) as server:
        settings = Settings.from_mapping(
            {
                "backends": {"openai": {"base_url": server.base_url, "api_key_env": "CANARY_PROVIDER_KEY"}},
                "store": {"url": f"sqlite:///{tmp_path}/store/exchanges.db"},
            }
        )
        set_settings(settings)
        extractor = LocationExtractor(settings=settings, retry=RetryPolicy(max_attempts=1))
        with caplog.at_level(logging.DEBUG):
            value = extractor.extract_sync(planted)
            # The caller gets what the model answered, unaltered; the store gets it redacted.
            assert value.locations[0].city == planted
            for text in ("please fail", "please refuse"):
                with pytest.raises(BackendError) as caught:
                    extractor.extract_sync(text)
                err = caught.value
                messages += [
                    str(err),
                    repr(err),
                    err.provider_message or "",
                    "".join(traceback.format_exception(err)),
                ]
            store = extractor.store
            store.flush()
            records = store.list()
            assert len(records) == 3
            messages += [json.dumps(r.to_dict(), default=str) for r in records]
            assert (
                cli_main(["records", "export", "--store", store.path, "-o", str(tmp_path / "export.jsonl")])
                == 0
            )
            assert cli_main(["records", "list", "--store", store.path]) == 0
            report = run_eval_sync(
                LocationExtractor,
                [
                    {"input": planted, "expected": {"locations": []}},
                    {"input": "please fail", "expected": {"locations": []}},
                ],
                [Candidate("echo", settings=settings)],
                retry=RetryPolicy(max_attempts=1),
            )
            (tmp_path / "reports").mkdir()
            for name in ("eval.json", "eval.html", "eval.md"):
                report.write(tmp_path / "reports" / name)
            messages += [report.to_table(), report.to_markdown()]
            store.close()
    set_settings(None)
    assert any(canary["env"] in r.headers.get("authorization", "") for r in server.requests)  # it was used

    logged = [r.getMessage() for r in caplog.records]
    logged += ["".join(traceback.format_exception(*r.exc_info)) for r in caplog.records if r.exc_info]
    files = {path: path.read_bytes() for path in _all_files(tmp_path)}
    assert (
        any(path.name == "exchanges.db" for path in files) and (tmp_path / "reports" / "eval.html") in files
    )
    for name, key in canary.items():
        for path, data in files.items():
            assert key.encode() not in data, f"{name} canary in {path}"
        for text in logged:
            assert key not in text, f"{name} canary in a log record: {text[:200]}"
        for text in messages:
            assert key not in text, f"{name} canary in a message: {text[:200]}"


def test_a_key_given_to_the_backend_in_code_is_redacted_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    from extractkit.backends.openai import OpenAIChatBackend
    from extractkit.redaction import redact

    monkeypatch.setenv("MY_TEAM_KEY_VAR", "team-secret-value-123456")
    in_code = "literal-key-given-in-code-987654"
    OpenAIChatBackend(api_key=in_code, api_key_env="MY_TEAM_KEY_VAR", base_url="http://127.0.0.1:9")
    text = f"server said: bad key {in_code}; env one team-secret-value-123456"
    assert in_code not in redact(text)
    assert "team-secret-value-123456" not in redact(text)
