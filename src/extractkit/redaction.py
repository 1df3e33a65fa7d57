"""Keep secrets out of everything extractkit writes or raises: one redaction function, by value.

:func:`redact` replaces, wherever it appears in a text:

* text shaped like a credential: OpenAI keys (``sk-...``, ``sk-proj-...``),
  Anthropic keys (``sk-ant-...``), Groq keys (``gsk_...``), Azure OpenAI keys
  (32 hexadecimal digits standing alone), bearer tokens (``Authorization:
  Bearer ...``), and GitHub, Slack, Google and AWS key shapes;
* the value of every environment variable that holds an API key: the ones
  extractkit's backends read by default (``OPENAI_API_KEY``,
  ``AZURE_OPENAI_API_KEY``, ``GROQ_API_KEY``, ``ANTHROPIC_API_KEY``) and every
  ``api_key_env`` a configuration names (:func:`register_key_env`), read from
  the environment at the time of the call, whatever its shape.

It is applied to exception messages (the root ``ExtractKitError``), to every
text field of a recorded exchange, to exports and to eval reports. Redaction
is by value only: a model's output field that happens to be *named* ``token``
or ``password`` is data, kept as it is; a value that *is* a key is replaced.

The Azure rule replaces any run of exactly 32 hex digits standing alone, so an
MD5 digest or a uuid written as 32 hex digits in free text is replaced too: a
secret kept by mistake costs more than an identifier lost from a log line.
extractkit's own ids are 32 hex digits as well, so its messages name a record
by the 12-character prefix its tables show (``records show`` accepts it), and
structured id fields (``id``, ``exchange_id`` of records and exports) are never
passed through the redaction.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

__all__ = [
    "DEFAULT_KEY_ENVS",
    "REDACTED",
    "looks_like_key",
    "redact",
    "redact_value",
    "register_key_env",
    "register_secret",
    "secret_values",
]

REDACTED = "[REDACTED]"
"""What a secret is replaced with."""

DEFAULT_KEY_ENVS = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "GROQ_API_KEY", "ANTHROPIC_API_KEY")
"""Environment variables whose values are always treated as secrets."""

# Prefixed shapes; searched only when a cheap substring test finds a prefix (a regex scan of every
# text costs far more than a few ``in`` tests, and most texts hold no key).
_PREFIXED = re.compile(
    r"""
      \bsk-[A-Za-z0-9_\-]{16,}                           # OpenAI (sk-, sk-proj-) and Anthropic (sk-ant-)
    | \bgsk_[A-Za-z0-9]{20,}                             # Groq
    | (?<=[Bb]earer\ )(?=[A-Za-z0-9_\-.=+/~]*\d)[A-Za-z0-9_\-.=+/~]{8,}  # bearer tokens (with a digit)
    | \bgh[pousr]_[A-Za-z0-9]{30,}                       # GitHub
    | \bxox[abposr]-[A-Za-z0-9\-]{10,}                   # Slack
    | \bAIza[0-9A-Za-z_\-]{35}                           # Google
    | \b(?:AKIA|ASIA)[0-9A-Z]{16}\b                      # AWS access key ids
    """,
    re.VERBOSE,
)
# Azure OpenAI keys: 32 hex digits standing alone (not part of a longer word or hex run).
_AZURE = re.compile(r"(?<![0-9A-Za-z_\-])[0-9a-fA-F]{32}(?![0-9A-Za-z_\-])")

# A value that is plainly a key, pasted where the *name* of an environment variable belongs.
_KEY_PREFIX = re.compile(r"(?:sk-|gsk_|gh[pousr]_|xox[abposr]-|AIza|AKIA|ASIA)[A-Za-z0-9_\-]{8,}")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_MIN_SECRET = 8  # shorter env values would redact ordinary words; no real key is this short

_lock = threading.Lock()
_key_envs: dict[str, None] = dict.fromkeys(DEFAULT_KEY_ENVS)
_literals: dict[str, None] = {}


def register_key_env(name: str) -> None:
    """Treat the value of environment variable ``name`` as a secret from now on (idempotent)."""
    if name and name not in _key_envs:
        with _lock:
            _key_envs[name] = None
            _clear_caches()


def register_secret(value: str) -> None:
    """Treat ``value`` (a key given in code rather than through the environment) as a secret."""
    if len(value) >= _MIN_SECRET and value not in _literals:
        with _lock:
            _literals[value] = None
            _clear_caches()


def secret_values() -> tuple[str, ...]:
    """The secret values to replace now: key environment variables' values and registered keys.

    Read at each call, so a key set after import, or rotated, is still caught. Pass the result to
    :func:`redact` / :func:`redact_value` to redact many texts against one reading.
    """
    values = {v for name in tuple(_key_envs) if len(v := os.environ.get(name, "").strip()) >= _MIN_SECRET}
    values.update(_literals)
    # Longest first, so a key that contains another one is replaced whole.
    return tuple(sorted(values, key=len, reverse=True))


_LONG = 256
_long_cache: dict[tuple[str, tuple[str, ...]], str] = {}


def _clear_caches() -> None:
    _long_cache.clear()


def redact(text: str, values: tuple[str, ...] | None = None) -> str:
    """Return ``text`` with every secret in it (see the module docs) replaced by :data:`REDACTED`.

    Args:
        text: Any text.
        values: The secret values to replace (default: :func:`secret_values` now).

    Returns:
        ``text`` itself when there is nothing to replace.
    """
    if len(text) < _MIN_SECRET:  # too short to hold any secret: most dict keys, roles, flags
        return text
    if values is None:
        values = secret_values()
    if len(text) < _LONG:
        return _redact(text, values)
    # Long texts are mostly the same system prompt on every exchange: remember the answer
    # (a str caches its hash, so the lookup is cheap) instead of rescanning it each time.
    key = (text, values)
    hit = _long_cache.get(key)
    if hit is None:
        hit = _redact(text, values)
        if len(_long_cache) >= 512:
            _long_cache.clear()
        _long_cache[key] = hit
    return hit


def _redact(text: str, values: tuple[str, ...]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    if len(text) >= 32 and _AZURE.search(text) is not None:
        text = _AZURE.sub(REDACTED, text)
    # Spelled out rather than looped over _PREFIXES: this runs on every text written.
    if (
        "sk-" in text
        or "_" in text
        or "earer " in text
        or "xox" in text
        or "AIza" in text
        or "AKIA" in text
        or "ASIA" in text
    ):
        return _PREFIXED.sub(REDACTED, text)
    return text


def redact_value(value: Any, values: tuple[str, ...] | None = None) -> Any:
    """Return ``value`` (JSON-like data) with :func:`redact` applied to every string in it.

    Dict keys are redacted like values (a key can be pasted anywhere); key *names* never cause
    a value to be replaced. Unchanged containers are returned as they are (no copy).
    """
    if values is None:
        values = secret_values()
    if isinstance(value, str):
        return redact(value, values)
    return _redact_item(value, values)


_WALKED = (str, dict, list, tuple)  # tuples of types: isinstance is slower with X | Y unions


def _redact_item(item: Any, values: tuple[str, ...]) -> Any:
    # Written for speed: every recorded exchange passes through here on the writer thread, and
    # it is mostly short strings (too short to hold a key) and numbers.
    if type(item) is str:
        return item if len(item) < _MIN_SECRET else redact(item, values)
    if isinstance(item, dict):
        out: dict[Any, Any] | None = None  # copied only once something changes
        for key, sub in item.items():
            new_key = key if type(key) is not str or len(key) < _MIN_SECRET else redact(key, values)
            new = _redact_item(sub, values) if isinstance(sub, _WALKED) else sub
            if out is None:
                if new is sub and new_key is key:
                    continue
                out = {}
                for k, v in item.items():
                    if k is key:
                        break
                    out[k] = v
            out[new_key] = new
        return item if out is None else out
    if isinstance(item, list | tuple):
        items = [_redact_item(sub, values) if isinstance(sub, _WALKED) else sub for sub in item]
        for new, old in zip(items, item, strict=True):
            if new is not old:
                return type(item)(items) if isinstance(item, tuple) else items
        return item
    if isinstance(item, str):  # a str subclass
        return redact(item, values)
    return item


def looks_like_key(value: str) -> bool:
    """Whether ``value`` looks like an API key (or anything but a variable name) rather than a name.

    Environment variable names are letters, digits and underscores, not starting with a digit
    (``OPENAI_API_KEY``); keys have a known prefix, are 32 hex digits, or mix cases and digits.
    """
    text = value.strip()
    if _KEY_PREFIX.match(text) or _HEX32.fullmatch(text) or not _ENV_NAME.fullmatch(text):
        return True
    mixed = (
        any(c.islower() for c in text) and any(c.isupper() for c in text) and any(c.isdigit() for c in text)
    )
    return mixed and len(text) >= 24
