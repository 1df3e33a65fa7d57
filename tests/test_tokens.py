"""Tests for extractkit.tokens: offline counting, the price table, cost."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import importlib.util
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken.load
from hypothesis import given, settings
from hypothesis import strategies as st

from extractkit.exceptions import UserError
from extractkit.messages import ChatRequest, Message, ResponseFormat, ToolCall, ToolSpec, Usage
from extractkit.prices import PRICES, Price, PriceTable, cost, cost_per_10k, training_cost
from extractkit.tokens import (
    DATA_DIR,
    count_message_tokens,
    count_request_tokens,
    count_tokens,
    encoding_for,
    load_encoding,
    resolve_encoding,
    single_token_ids,
)

ROOT = Path(__file__).resolve().parents[1]
# The hashes tiktoken pins in tiktoken_ext/openai_public.py, restated here as facts to check against.
SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
URLS = {name: f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken" for name in SHA256}


def data_dir() -> Path:
    return DATA_DIR


def rank_bytes(name: str) -> bytes:
    return gzip.decompress((data_dir() / f"{name}.tiktoken.gz").read_bytes())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tiktoken.Encoding]:
    """Encodings built by tiktoken's own loader and constructors from the same (verified) files."""
    folder = tmp_path_factory.mktemp("ranks")
    openai_public = importlib.import_module("tiktoken_ext.openai_public")

    def from_local_file(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        name = url.rsplit("/", 1)[1].removesuffix(".tiktoken")
        data = rank_bytes(name)
        assert hashlib.sha256(data).hexdigest() == SHA256[name] == expected_hash
        path = folder / f"{name}.tiktoken"
        path.write_bytes(data)
        return tiktoken.load.load_tiktoken_bpe(str(path), expected_hash)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken reads the local path and caches nothing
        mp.setattr(openai_public, "load_tiktoken_bpe", from_local_file)
        return {name: tiktoken.Encoding(**openai_public.ENCODING_CONSTRUCTORS[name]()) for name in SHA256}


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tiktoken's cache at an empty folder, so only the data dir can serve the files."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    return cache


# --------------------------------------------------------------------------- data and loading


def test_shipped_data_matches_the_hashes_tiktoken_pins() -> None:
    source = (Path(tiktoken.__file__).parents[1] / "tiktoken_ext" / "openai_public.py").read_text()
    for name, sha in SHA256.items():
        assert sha in source
        assert hashlib.sha256(rank_bytes(name)).hexdigest() == sha


def test_encodings_equal_tiktokens_own(reference: dict[str, tiktoken.Encoding]) -> None:
    for model, name in [("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")]:
        ours, ref = encoding_for(model), reference[name]
        assert ours.name == name
        assert ours._pat_str == ref._pat_str
        assert ours._special_tokens == ref._special_tokens
        assert ours._mergeable_ranks == ref._mergeable_ranks
        assert ours.n_vocab == ref.n_vocab


def test_encoding_is_loaded_once_and_shared() -> None:
    assert encoding_for("gpt-4o") is encoding_for("gpt-4.1-mini") is encoding_for("local:llama3")
    assert encoding_for("gpt-4") is encoding_for("gpt-3.5-turbo")


def test_user_cache_is_used_when_the_data_package_is_missing(empty_cache: Path, tmp_path: Path) -> None:
    key = hashlib.sha1(URLS["cl100k_base"].encode()).hexdigest()
    (empty_cache / key).write_bytes(rank_bytes("cl100k_base"))
    encoding = load_encoding("cl100k_base", data_dir=tmp_path / "nothing-here")
    assert encoding.encode("hello world") == encoding_for("gpt-4").encode("hello world")


def test_corrupt_cache_falls_back_to_data_and_is_left_alone(empty_cache: Path) -> None:
    cached = empty_cache / hashlib.sha1(URLS["cl100k_base"].encode()).hexdigest()
    cached.write_bytes(b"not the ranks")
    encoding = load_encoding("cl100k_base")
    assert len(encoding.encode_ordinary("hello world")) == 2
    assert cached.read_bytes() == b"not the ranks"


def test_hash_mismatch_is_a_user_error_naming_the_fix(empty_cache: Path, tmp_path: Path) -> None:
    data = rank_bytes("o200k_base").replace(b" 0\n", b" 1\n", 1)  # one rank changed
    (tmp_path / "o200k_base.tiktoken.gz").write_bytes(gzip.compress(data, compresslevel=1))
    with pytest.raises(UserError) as info:
        load_encoding("o200k_base", data_dir=tmp_path)
    message = str(info.value)
    assert "SHA-256" in message and "Reinstall extractkit" in message and "TIKTOKEN_CACHE_DIR" in message


def test_missing_and_unreadable_data_are_user_errors(empty_cache: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_encoding("o200k_base", data_dir=tmp_path)
    (tmp_path / "o200k_base.tiktoken.gz").write_bytes(b"plain text, not gzip")
    with pytest.raises(UserError, match="not a readable gzip"):
        load_encoding("o200k_base", data_dir=tmp_path)
    with pytest.raises(UserError, match="Unsupported encoding"):
        load_encoding("p50k_base")


OFFLINE_SCRIPT = textwrap.dedent(
    """
    import os, socket, sys
    import requests

    class Blocked(RuntimeError):
        pass

    def refuse(*args, **kwargs):
        raise Blocked("network use in an offline test")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    requests.Session.request = refuse
    requests.get = refuse
    env_before = dict(os.environ)

    from extractkit.tokens import count_message_tokens, count_tokens, encoding_for

    assert count_tokens("hello world", "gpt-4o") == 2
    assert count_tokens("hello world", "gpt-3.5-turbo") == 2
    assert count_message_tokens([{"role": "user", "content": "hi"}], "ft:gpt-4o-mini:org::x") > 0
    assert dict(os.environ) == env_before
    assert os.listdir(os.environ["TIKTOKEN_CACHE_DIR"]) == []

    # The tripwire is real: plain tiktoken, cold, tries the network and is stopped.
    import tiktoken
    try:
        tiktoken.get_encoding("r50k_base")
    except Blocked:
        print("OFFLINE-OK")
    """
)


def test_counting_works_offline_from_a_cold_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OFFLINE-OK"


THREADS_SCRIPT = textwrap.dedent(
    """
    import threading
    from extractkit.tokens import encoding_for

    barrier = threading.Barrier(8)
    seen = []

    def work():
        barrier.wait()
        seen.append(id(encoding_for("gpt-4o-mini")))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(len(seen), len(set(seen)))
    """
)


def test_concurrent_first_use_builds_one_encoding() -> None:
    result = subprocess.run(
        [sys.executable, "-c", THREADS_SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["8", "1"]


# --------------------------------------------------------------------------- model → encoding


@pytest.mark.parametrize(
    ("model", "encoding", "exact"),
    [
        ("gpt-4o", "o200k_base", True),
        ("gpt-4o-mini-2024-07-18", "o200k_base", True),
        ("gpt-4.1-nano", "o200k_base", True),
        ("gpt-5-mini", "o200k_base", True),
        ("o1", "o200k_base", True),
        ("o3-mini-2025-01-31", "o200k_base", True),
        ("o4-mini", "o200k_base", True),
        ("ft:gpt-4o-mini-2024-07-18:my-org::abc123", "o200k_base", True),
        ("openai:ft:gpt-4.1-mini-2025-04-14:org:custom:x1", "o200k_base", True),
        ("openai:gpt-4o", "o200k_base", True),
        ("gpt-4", "cl100k_base", True),
        ("gpt-4-turbo-2024-04-09", "cl100k_base", True),
        ("gpt-3.5-turbo-0125", "cl100k_base", True),
        ("azure:gpt-35-turbo", "cl100k_base", True),
        ("ft:gpt-3.5-turbo-0125:org::x", "cl100k_base", True),
        ("llama3.1:8b", "o200k_base", False),
        ("local:smollm2-135m", "o200k_base", False),
        ("o1x", "o200k_base", False),
        ("gpt-4.9-future", "o200k_base", False),
    ],
)
def test_model_to_encoding(model: str, encoding: str, exact: bool) -> None:
    choice = resolve_encoding(model)
    assert (choice.encoding, choice.is_exact) == (encoding, exact)


def test_ft_ids_resolve_to_their_base_model() -> None:
    assert resolve_encoding("ft:gpt-4o-mini-2024-07-18:org::abc").base_model == "gpt-4o-mini-2024-07-18"


# --------------------------------------------------------------------------- counting

SAMPLES = [
    "",
    "hello world",
    "Hello, World!",
    "  leading and trailing  \n\n",
    "graphic designer in New York",
    "Ingeniero de datos en São Paulo, Brasil — remoto",
    "東京でデザイナーを募集しています",
    "Привет, мир! 12345 67890",
    "emoji 👩🏽‍💻🚀 and CJK 漢字",
    'def f(x):\n\treturn {"a": [1, 2.5e-3, null]}\n',
    "<|endoftext|> and <|endofprompt|> as plain text",
    "word " * 400,  # long enough for the cached path
    "x" * 20_000,  # past the cache bound
]


@pytest.mark.parametrize("text", SAMPLES)
def test_counts_equal_tiktoken(text: str, reference: dict[str, tiktoken.Encoding]) -> None:
    for model, name in [("gpt-4o-mini", "o200k_base"), ("gpt-3.5-turbo", "cl100k_base")]:
        expected = len(reference[name].encode_ordinary(text))
        assert count_tokens(text, model) == expected
        assert count_tokens(text, model) == expected  # a second time, from the cache


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_counts_equal_tiktoken_on_any_text(text: str) -> None:
    # Fixtures do not mix with @given; the shared encoding is checked against tiktoken above.
    assert count_tokens(text, "gpt-4o") == len(encoding_for("gpt-4o").encode_ordinary(text))
    assert count_tokens(text, "gpt-4") == len(encoding_for("gpt-4").encode_ordinary(text))


def test_known_counts() -> None:
    assert count_tokens("hello world", "gpt-4o") == 2
    assert count_tokens("hello world", "gpt-4") == 2
    assert count_tokens("<|endoftext|>", "gpt-4o") > 1  # text, not the special token


# The cookbook's example, whose counts it checked against the API's prompt_tokens.
COOKBOOK_MESSAGES: list[dict[str, str]] = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
COOKBOOK_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
WEATHER_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("model", "expected"), [("gpt-4o", 124), ("gpt-4o-mini", 124), ("gpt-4", 129), ("gpt-3.5-turbo", 129)]
)
def test_message_counts_match_api_prompt_tokens(model: str, expected: int) -> None:
    assert count_message_tokens(COOKBOOK_MESSAGES, model) == expected


@pytest.mark.parametrize(("model", "expected"), [("gpt-4o", 101), ("gpt-4", 105)])
def test_tool_counts_match_api_prompt_tokens(model: str, expected: int) -> None:
    assert count_message_tokens(WEATHER_MESSAGES, model, tools=COOKBOOK_TOOLS) == expected
    spec = COOKBOOK_TOOLS[0]["function"]
    as_spec = ToolSpec(name=spec["name"], parameters=spec["parameters"], description=spec["description"])
    assert count_message_tokens(WEATHER_MESSAGES, model, tools=[as_spec]) == expected


def test_message_objects_count_like_their_dicts() -> None:
    messages = [
        Message("system", "Extract locations as JSON."),
        Message("user", "designer in Paris"),
        Message("assistant", None, tool_calls=(ToolCall("c1", "emit", '{"city": "Paris"}'),)),
        Message("tool", "ok", tool_call_id="c1"),
    ]
    as_dicts = [m.to_dict() for m in messages]
    assert count_message_tokens(messages, "gpt-4o") == count_message_tokens(as_dicts, "gpt-4o")
    without_call = count_message_tokens(messages[:2], "gpt-4o")
    assert count_message_tokens(messages[:3], "gpt-4o") > without_call + 3  # the call's arguments count


def test_text_parts_count_like_plain_content() -> None:
    parts = [{"type": "text", "text": "designer in "}, {"type": "text", "text": "Paris"}]
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    plain = count_message_tokens([{"role": "user", "content": "designer in Paris"}], "gpt-4o")
    counted = count_message_tokens([{"role": "user", "content": [*parts, image]}], "gpt-4o")
    # Split text encodes to at least as many tokens; the image part adds nothing.
    assert plain <= counted <= plain + 1


def test_response_format_schema_adds_tokens() -> None:
    messages = [{"role": "user", "content": "designer in Paris"}]
    base = count_message_tokens(messages, "gpt-4o")
    small = ResponseFormat("json_schema", name="loc", schema={"type": "object"})
    big = ResponseFormat(
        "json_schema",
        name="loc",
        schema={"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}}},
    )
    with_small = count_message_tokens(messages, "gpt-4o", response_format=small)
    assert base < with_small < count_message_tokens(messages, "gpt-4o", response_format=big)
    wire = {"type": "json_schema", "json_schema": {"name": "loc", "schema": {"type": "object"}}}
    assert count_message_tokens(messages, "gpt-4o", response_format=wire) == with_small
    as_object = ResponseFormat("json_object")
    assert count_message_tokens(messages, "gpt-4o", response_format=as_object) == base


def test_request_count_matches_message_count() -> None:
    tool = ToolSpec("emit", {"type": "object", "properties": {"city": {"type": "string"}}}, "Emit it.")
    request = ChatRequest("gpt-4o-mini", (Message("user", "designer in Paris"),), tools=(tool,))
    expected = count_message_tokens(request.messages, "gpt-4o-mini", tools=[tool])
    assert count_request_tokens(request) == expected


def test_message_without_role_is_a_user_error() -> None:
    with pytest.raises(UserError, match="role"):
        count_message_tokens([{"content": "hi"}], "gpt-4o")


def test_single_token_ids(reference: dict[str, tiktoken.Encoding]) -> None:
    labels = [str(i) for i in range(1, 13)]
    ids = single_token_ids(labels, "gpt-4o-mini")
    assert ids == {label: reference["o200k_base"].encode_ordinary(label)[0] for label in labels}
    assert single_token_ids(["1"], "gpt-3.5-turbo")["1"] == reference["cl100k_base"].encode_ordinary("1")[0]
    with pytest.raises(UserError, match="not one"):
        single_token_ids(["1", "extraordinarily long label"], "gpt-4o")
    with pytest.raises(UserError, match="unknown"):
        single_token_ids(["1"], "local:smollm2")


# --------------------------------------------------------------------------- prices


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("openai:gpt-4.1-nano", "gpt-4.1-nano"),
        ("ft:gpt-4o-mini-2024-07-18:my-org::abc123", "ft:gpt-4o-mini"),
        ("ft:gpt-4o-2024-08-06:my-org:run-2:xyz", "ft:gpt-4o"),
        ("ft:gpt-4.1-mini-2025-04-14:org::x", "ft:gpt-4.1-mini"),
        ("openai:ft:gpt-3.5-turbo-0125:org::x", "ft:gpt-3.5-turbo"),
    ],
)
def test_price_lookup(model: str, key: str) -> None:
    assert PriceTable().get(model) is PRICES[key]


@pytest.mark.parametrize(
    "model",
    ["local:smollm2-135m", "smollm2", "llama3.1:8b", "gpt-4.5-preview", "ft:davinci-002:org::x", "gpt"],
)
def test_unknown_and_local_models_have_no_price(model: str) -> None:
    assert PriceTable().get(model) is None
    assert cost(Usage(100, 10), model) is None


def test_required_models_are_priced_and_fine_tuned_costs_more() -> None:
    for model in ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-3.5-turbo"]:
        assert model in PRICES
    for ft_key in ["ft:gpt-4o-mini", "ft:gpt-4o", "ft:gpt-4.1-mini", "ft:gpt-3.5-turbo"]:
        ft, base = PRICES[ft_key], PRICES[ft_key.removeprefix("ft:")]
        assert ft.input > base.input and ft.output > base.output
        assert ft.training is not None and ft.training > 0


def test_overrides_are_per_table() -> None:
    table = PriceTable()
    table.set("gpt-4o-mini", Price(input=1.0, output=2.0))
    table.set("ft:gpt-4o-mini-2024-07-18:org::special", {"input": 9.0, "output": 9.0})
    table.set("local:llama3", {"input": 0.0, "output": 0.01})
    assert table.get("gpt-4o-mini-2024-07-18") == Price(1.0, 2.0)
    assert table.get("ft:gpt-4o-mini-2024-07-18:org::special") == Price(9.0, 9.0)
    assert table.get("ft:gpt-4o-mini-2024-07-18:org::other") is PRICES["ft:gpt-4o-mini"]
    assert cost(Usage(0, 1_000_000), "local:llama3", table=table) == pytest.approx(0.01)
    assert PriceTable().get("gpt-4o-mini") is PRICES["gpt-4o-mini"]
    assert PriceTable(defaults=False).get("gpt-4o-mini") is None


def test_overrides_from_config_mapping() -> None:
    table = PriceTable({"gpt-4o-mini": {"input": 0.2, "output": 0.8, "cached_input": 0.1}})
    assert table.get("gpt-4o-mini") == Price(0.2, 0.8, cached_input=0.1)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"input": 0.1, "ouput": 0.2}, "unknown key"),
        ({"input": 0.1}, "missing"),
        ({"input": -1, "output": 0.2}, "non-negative"),
        ({"input": "cheap", "output": 0.2}, "non-negative"),
        ({"input": True, "output": 0.2}, "non-negative"),
        ({"input": math.nan, "output": 0.2}, "non-negative"),
        ({"input": 0.1, "output": 0.2, "batch_discount": 2}, "fraction"),
        ("0.15", "mapping"),
    ],
)
def test_bad_price_config_is_a_user_error(raw: Any, match: str) -> None:
    table = PriceTable()
    with pytest.raises(UserError, match=match) as info:
        table.update({"gpt-4o": {"input": 1.0, "output": 1.0}, "gpt-4o-mini": raw})
    assert "gpt-4o-mini" in str(info.value)
    assert table.get("gpt-4o") is PRICES["gpt-4o"]  # nothing applied


# --------------------------------------------------------------------------- cost


@pytest.fixture
def table() -> PriceTable:
    return PriceTable(
        {
            "m": Price(input=2.0, output=8.0, cached_input=0.5),
            "plain": Price(input=1.0, output=3.0),
            "ft:m": Price(input=4.0, output=16.0, training=25.0),
        },
        defaults=False,
    )


def test_cost_math(table: PriceTable) -> None:
    assert cost(Usage(1_000_000, 500_000), "m", table=table) == pytest.approx(2.0 + 4.0)
    # 400 of the 1,000 prompt tokens were cached: 600 * 2 + 400 * 0.5 + 100 * 8 per 1M.
    assert cost(Usage(1_000, 100, 400), "m", table=table) == pytest.approx(2_200 / 1e6)
    assert cost(Usage(1_000, 100, 400), "plain", table=table) == pytest.approx(1_300 / 1e6)
    assert cost(Usage(1_000, 100, 400), "m", batch=True, table=table) == pytest.approx(1_100 / 1e6)
    assert cost(Usage(1_000, 100), "ft:m-2025:org::x", table=table) == pytest.approx(5_600 / 1e6)
    assert cost(Usage(1_000, 100), "nope", table=table) is None


def test_default_table_cost() -> None:
    assert cost(Usage(1_000_000, 1_000_000), "gpt-4o-mini-2024-07-18") == pytest.approx(
        PRICES["gpt-4o-mini"].input + PRICES["gpt-4o-mini"].output
    )


def test_cost_per_10k(table: PriceTable) -> None:
    assert cost_per_10k(Usage(100, 10), "m", table=table) == pytest.approx(10_000 * 280 / 1e6)
    mean = cost_per_10k([Usage(100, 10), Usage(300, 30)], "m", table=table)
    assert mean == pytest.approx(10_000 * 560 / 1e6)
    assert cost_per_10k(Usage(100, 10), "nope", table=table) is None
    with pytest.raises(UserError):
        cost_per_10k([], "m", table=table)


def test_training_cost(table: PriceTable) -> None:
    assert training_cost(1_000_000, "m", 3, table=table) == pytest.approx(75.0)
    assert training_cost(200_000, "ft:m-2025:org::x", 2, table=table) == pytest.approx(10.0)
    assert training_cost(1_000, "plain", 1, table=table) is None
    assert training_cost(1_000_000, "gpt-4o-mini-2024-07-18", 1) == pytest.approx(
        PRICES["ft:gpt-4o-mini"].training
    )
    with pytest.raises(UserError, match="epochs"):
        training_cost(1_000, "m", 0, table=table)
    with pytest.raises(UserError, match="tokens"):
        training_cost(-5, "m", 1, table=table)


# --------------------------------------------------------------------------- docs


def code_blocks(markdown: str) -> Iterator[str]:
    parts = markdown.split("```python\n")
    for part in parts[1:]:
        yield part.split("```", 1)[0]


def test_docs_example_runs_and_is_the_one_on_the_page() -> None:
    example = ROOT / "docs" / "examples" / "tokens_and_cost.py"
    page = (ROOT / "docs" / "tokens.md").read_text()
    assert example.read_text() in list(code_blocks(page))
    result = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=60, check=True
    )
    assert "prompt tokens" in result.stdout


def test_the_rank_files_ship_with_extractkit_under_their_licence() -> None:
    # No data package to install: the files are extractkit's own package data, the pinned bytes.
    assert DATA_DIR.parent.parent == Path(__import__("extractkit").__file__).resolve().parent
    for name, sha256 in SHA256.items():
        assert (
            hashlib.sha256(gzip.decompress((DATA_DIR / f"{name}.tiktoken.gz").read_bytes())).hexdigest()
            == sha256
        )
    licence = (DATA_DIR / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "OpenAI" in licence
