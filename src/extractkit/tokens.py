"""Token counting that works offline.

Counting
    ``tiktoken`` downloads its BPE files on first use, which fails in air-gapped
    deployments and in tests. extractkit never lets it fetch: the rank files come
    from extractkit's own package data (``extractkit/data/tiktoken``: the two
    files, gzip-compressed, 2.4 MB, under tiktoken's MIT licence) or from a file
    tiktoken itself cached earlier (``TIKTOKEN_CACHE_DIR`` /
    ``DATA_GYM_CACHE_DIR`` / the default ``data-gym-cache``). Either source is
    accepted only when its SHA-256 equals the hash tiktoken pins for that file.
    The pattern and special tokens still come from tiktoken's own registered
    constructor, run with a private copy of its globals whose loader is ours, so
    no environment variable or module attribute is touched. Each encoding is
    built once per process, lazily, under a lock.

Prices live in :mod:`extractkit.prices`.
"""

from __future__ import annotations

import binascii
import functools
import gzip
import hashlib
import importlib
import json
import os
import re
import threading
import types
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractkit.exceptions import UserError
from extractkit.messages import ChatRequest, Message, ResponseFormat, ToolSpec
from extractkit.prices import _ft_base, _split_provider

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "EncodingChoice",
    "count_message_tokens",
    "count_request_tokens",
    "count_tokens",
    "encoding_for",
    "load_encoding",
    "resolve_encoding",
    "single_token_ids",
]

# --------------------------------------------------------------------------- offline encodings

# The hashes tiktoken pins in tiktoken_ext/openai_public.py. Used when tiktoken passes none.
_PINNED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
# Names through which a constructor could reach the network; a constructor that uses one is refused.
_FETCHING_NAMES = frozenset(
    {"read_file", "read_file_cached", "data_gym_to_mergeable_bpe_ranks", "requests", "blobfile"}
)
_FIX = (
    "Reinstall extractkit (its package data holds the files), "
    "or set TIKTOKEN_CACHE_DIR to a folder holding tiktoken's cached {name} file."
)

_encodings: dict[str, tiktoken.Encoding] = {}
_encodings_lock = threading.Lock()


DATA_DIR = Path(__file__).resolve().parent / "data" / "tiktoken"
"""The rank files shipped with extractkit (``<name>.tiktoken.gz``)."""


def _tiktoken_cache_dir() -> Path | None:
    # Mirrors tiktoken.load.read_file_cached so files it cached are found; "" disables the cache.
    env = os.environ
    if "TIKTOKEN_CACHE_DIR" in env:
        folder = env["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in env:
        folder = env["DATA_GYM_CACHE_DIR"]
    else:
        import tempfile  # only here: keeps `import extractkit` lean

        folder = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return Path(folder) if folder else None


def _read_verified(name: str, blobpath: str, sha256: str, data_dir: Path) -> bytes:
    problems: list[str] = []
    cache_dir = _tiktoken_cache_dir()
    if cache_dir is not None:
        cached = cache_dir / hashlib.sha1(blobpath.encode()).hexdigest()
        try:
            data = cached.read_bytes()
        except OSError:
            pass  # not cached: the usual case
        else:
            if hashlib.sha256(data).hexdigest() == sha256:
                return data
            # Left in place: the file is the user's; tiktoken replaces it on its next online fetch.
            problems.append(f"cached file {cached} has the wrong SHA-256")
    path = data_dir / f"{name}.tiktoken.gz"
    try:
        data = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        problems.append(f"{path} does not exist")
    except (OSError, EOFError, zlib.error) as exc:
        problems.append(f"{path} is not a readable gzip file ({exc})")
    else:
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
        problems.append(f"{path} has the wrong SHA-256 (expected {sha256})")
    raise UserError(
        f"Cannot load the {name} token encoding offline: {'; '.join(problems)}. {_FIX.format(name=name)}"
    )


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    # The bytes are hash-verified, so they are exactly "<base64 token> <rank>" pairs. Splitting the
    # whole file once and a2b_base64 (b64decode without its per-call checks) cut parsing by ~40%.
    fields = data.split()
    return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))


def load_encoding(name: str, *, data_dir: str | os.PathLike[str] | None = None) -> tiktoken.Encoding:
    """Build a tiktoken encoding without any network access (uncached; most code wants :func:`encoding_for`).

    Args:
        name: ``"o200k_base"`` or ``"cl100k_base"``.
        data_dir: Folder holding ``<name>.tiktoken.gz``; defaults to :data:`DATA_DIR`, extractkit's own.

    Raises:
        UserError: Unsupported name, or no verified rank file was found (the message names the fix).
    """
    if name not in _PINNED_SHA256:
        raise UserError(f"Unsupported encoding {name!r}; extractkit ships {sorted(_PINNED_SHA256)}.")
    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    import tiktoken

    openai_public = importlib.import_module("tiktoken_ext.openai_public")
    constructor = getattr(openai_public, "ENCODING_CONSTRUCTORS", {}).get(name)
    names = set(constructor.__code__.co_names) if isinstance(constructor, types.FunctionType) else set()
    if "load_tiktoken_bpe" not in names or names & _FETCHING_NAMES:
        raise UserError(
            f"This tiktoken version ({tiktoken.__version__}) builds {name} in a way extractkit cannot keep "
            "offline; install a tiktoken release supported by extractkit (see its pyproject.toml)."
        )
    assert isinstance(constructor, types.FunctionType)
    used: list[str] = []

    def load_ranks(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        used.append(blobpath)
        return _parse_ranks(_read_verified(name, blobpath, expected_hash or _PINNED_SHA256[name], folder))

    # Run tiktoken's own constructor (for its pattern and special tokens) against a private copy of its
    # module globals in which the loader is ours: nothing global is patched, so this is thread-safe.
    scoped = dict(constructor.__globals__, load_tiktoken_bpe=load_ranks)
    offline = types.FunctionType(
        constructor.__code__, scoped, constructor.__name__, constructor.__defaults__, constructor.__closure__
    )
    spec: dict[str, Any] = offline()
    if not used:  # defensive: the constructor must have read its ranks through us
        raise UserError(f"tiktoken's {name} constructor did not load its ranks through extractkit.")
    return tiktoken.Encoding(**spec)


def _get_encoding(name: str) -> tiktoken.Encoding:
    encoding = _encodings.get(name)
    if encoding is None:
        with _encodings_lock:
            encoding = _encodings.get(name)
            if encoding is None:
                encoding = _encodings[name] = load_encoding(name)
    return encoding


# --------------------------------------------------------------------------- model → encoding

_O200K_MODELS = re.compile(r"(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o1|o3|o4)(?:$|[-.:])")
_CL100K_MODELS = re.compile(
    r"(?:gpt-4|gpt-3\.5-turbo|gpt-35-turbo|text-embedding-3|text-embedding-ada-002|davinci-002|babbage-002)"
    r"(?:$|[-:])"
)


@dataclass(frozen=True, slots=True)
class EncodingChoice:
    """Which encoding counts a model's tokens.

    Attributes:
        encoding: The tiktoken encoding name.
        is_exact: ``False`` when the model is not a known OpenAI model and ``o200k_base`` stands in
            for its real tokenizer (llama, smollm, ...): counts are then estimates.
        base_model: The model name the choice was made on (provider prefix and ``ft:`` suffix removed).
    """

    encoding: str
    is_exact: bool
    base_model: str


@functools.lru_cache(maxsize=256)
def resolve_encoding(model: str) -> EncodingChoice:
    """Choose the encoding for a model id, a ``provider:model`` reference or an ``ft:`` id."""
    base = _ft_base(_split_provider(model.strip())[1]).lower()
    if _O200K_MODELS.match(base):
        return EncodingChoice("o200k_base", True, base)
    if _CL100K_MODELS.match(base):
        return EncodingChoice("cl100k_base", True, base)
    return EncodingChoice("o200k_base", False, base)


def encoding_for(model: str) -> tiktoken.Encoding:
    """Return the (process-wide, lazily built) tiktoken encoding for ``model``; never downloads."""
    return _get_encoding(resolve_encoding(model).encoding)


# --------------------------------------------------------------------------- counting


@functools.lru_cache(maxsize=512)
def _count_long(encoding: str, text: str) -> int:
    # Long texts repeat on the hot path (the same full system prompt every call); BPE dominates hashing.
    return len(_get_encoding(encoding).encode_ordinary(text))


def _counter(encoding: str) -> Callable[[str], int]:
    encode = _get_encoding(encoding).encode_ordinary

    def count(text: str) -> int:
        # Short texts encode faster than a cache lookup; huge ones would pin memory in the cache.
        if 256 < len(text) <= 16_384:
            return _count_long(encoding, text)
        return len(encode(text))

    return count


def count_tokens(text: str, model: str) -> int:
    """Count the tokens of ``text`` as ``model`` sees it.

    Special-token text such as ``<|endoftext|>`` counts as ordinary text, as the API treats user content.
    """
    return _counter(resolve_encoding(model).encoding)(text)


# Per the OpenAI cookbook ("How to count tokens with tiktoken"), matched there against API prompt_tokens.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3  # <|start|>assistant<|message|>


@dataclass(frozen=True, slots=True)
class _ToolOverhead:
    function: int
    properties: int
    property: int
    enum: int
    enum_item: int
    end: int


# Per-element overheads the cookbook measured for function definitions (gpt-4o family vs gpt-4/3.5).
_TOOL_OVERHEAD = {
    "o200k_base": _ToolOverhead(function=7, properties=3, property=3, enum=-3, enum_item=3, end=12),
    "cl100k_base": _ToolOverhead(function=10, properties=3, property=3, enum=-3, enum_item=3, end=12),
}


def _text_of(content: Any) -> Iterable[str]:
    if isinstance(content, str):
        yield content
    elif isinstance(content, Sequence):
        # Content parts: only text parts are counted (images and audio are priced differently).
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                yield part["text"]


def _message_tokens(count: Callable[[str], int], message: Message | Mapping[str, Any], index: int) -> int:
    # A Message counts exactly like its OpenAI dict, the form it is sent (and trained) in.
    data = message.to_dict() if isinstance(message, Message) else message
    if not isinstance(data, Mapping) or not isinstance(data.get("role"), str):
        raise UserError(f"Message {index} ({data!r:.80}) needs a role; pass Message objects or OpenAI dicts.")
    total = (
        TOKENS_PER_MESSAGE + count(data["role"]) + sum(count(text) for text in _text_of(data.get("content")))
    )
    name = data.get("name")
    if isinstance(name, str):
        total += count(name) + TOKENS_PER_NAME
    # Approximate: how assistant tool calls are rendered is not published; name plus arguments.
    for call in data.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            total += count(str(function.get("name", ""))) + count(str(function.get("arguments", "")))
    return total


def _tool_fields(tool: ToolSpec | Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any]]:
    if isinstance(tool, ToolSpec):
        return tool.name, tool.description or "", tool.parameters
    function = tool.get("function", tool)
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise UserError(f"Tool {tool!r} has no function name; pass ToolSpec objects or OpenAI tool dicts.")
    parameters = function.get("parameters")
    return (
        function["name"],
        function.get("description") or "",
        parameters if isinstance(parameters, Mapping) else {},
    )


def _properties_tokens(count: Callable[[str], int], cost: _ToolOverhead, schema: Mapping[str, Any]) -> int:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return 0
    total = cost.properties
    for key, prop in properties.items():
        prop = prop if isinstance(prop, Mapping) else {}
        kind = prop.get("type", "any")
        kind = " | ".join(map(str, kind)) if isinstance(kind, list) else str(kind)
        total += cost.property + count(f"{key}:{kind}:{str(prop.get('description', '')).removesuffix('.')}")
        enum = prop.get("enum")
        if isinstance(enum, list):
            total += cost.enum + sum(cost.enum_item + count(str(item)) for item in enum)
        # Nested objects are counted like top-level ones: the cookbook only measured flat schemas.
        total += _properties_tokens(count, cost, prop)
        items = prop.get("items")
        if isinstance(items, Mapping):
            total += _properties_tokens(count, cost, items)
    return total


def _tools_tokens(
    count: Callable[[str], int], encoding: str, tools: Sequence[ToolSpec | Mapping[str, Any]]
) -> int:
    if not tools:
        return 0
    cost = _TOOL_OVERHEAD.get(encoding, _TOOL_OVERHEAD["o200k_base"])
    total = cost.end
    for tool in tools:
        name, description, parameters = _tool_fields(tool)
        total += cost.function + count(f"{name}:{description.removesuffix('.')}")
        total += _properties_tokens(count, cost, parameters)
    return total


def _response_format_tokens(
    count: Callable[[str], int], response_format: ResponseFormat | Mapping[str, Any]
) -> int:
    # Approximate: how a json_schema is rendered into the prompt is not published; the compact schema
    # text plus its name is a close stand-in. json_object and text add nothing measurable.
    if isinstance(response_format, ResponseFormat):
        name, schema = response_format.name, response_format.schema
    else:
        inner = response_format.get("json_schema")
        inner = inner if isinstance(inner, Mapping) else {}
        name, schema = inner.get("name"), inner.get("schema")
    total = count(name) if isinstance(name, str) else 0
    if schema is not None:
        total += count(json.dumps(schema, separators=(",", ":"), ensure_ascii=False))
    return total


def count_message_tokens(
    messages: Sequence[Message | Mapping[str, Any]],
    model: str,
    *,
    tools: Sequence[ToolSpec | Mapping[str, Any]] | None = None,
    response_format: ResponseFormat | Mapping[str, Any] | None = None,
) -> int:
    """Count the prompt tokens a chat request uses, as the API reports them in ``prompt_tokens``.

    Messages follow the cookbook rule: 3 tokens per message, the role and text content, 1 extra per
    ``name``, and 3 to prime the reply. Exact for plain text messages on OpenAI models. Approximate:
    tool definitions (the cookbook's per-element overheads, extended to nested schemas), assistant tool
    calls (name plus arguments), a ``json_schema`` response format (the compact schema text), and every
    count for non-OpenAI models (see :func:`resolve_encoding`). Image and audio parts are not counted.

    Args:
        messages: ``Message`` objects or OpenAI-format dicts.
        model: Model id, ``provider:model`` reference or ``ft:`` id.
        tools: Function tools offered to the model.
        response_format: The requested response format.
    """
    encoding = resolve_encoding(model).encoding
    count = _counter(encoding)
    total = REPLY_PRIMING + sum(_message_tokens(count, m, i) for i, m in enumerate(messages))
    total += _tools_tokens(count, encoding, tools or ())
    if response_format is not None:
        total += _response_format_tokens(count, response_format)
    return total


def count_request_tokens(request: ChatRequest) -> int:
    """Count the prompt tokens of a ``ChatRequest`` (see :func:`count_message_tokens`)."""
    return count_message_tokens(
        request.messages, request.model, tools=request.tools, response_format=request.response_format
    )


def single_token_ids(strings: Iterable[str], model: str) -> dict[str, int]:
    """Return the token id of each string, for ``logit_bias``; each string must be exactly one token.

    Raises:
        UserError: A string is not a single token, or the model's tokenizer is unknown (ids from a
            stand-in encoding would bias the wrong tokens).
    """
    choice = resolve_encoding(model)
    if not choice.is_exact:
        raise UserError(
            f"Token ids for {model!r} are unknown: extractkit only has OpenAI tokenizers. "
            "Do not use logit_bias with this model."
        )
    encode = _get_encoding(choice.encoding).encode_ordinary
    ids: dict[str, int] = {}
    for text in strings:
        tokens = encode(text)
        if len(tokens) != 1:
            raise UserError(
                f"{text!r} is {len(tokens)} tokens for {model} ({choice.encoding}), not one; "
                "logit_bias needs single-token labels such as '1'..'9'."
            )
        ids[text] = tokens[0]
    return ids
