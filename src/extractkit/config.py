"""Configuration: model references and settings from ``extractkit.toml`` / ``EXTRACTKIT_*``.

Swapping a base model for a fine-tuned one is a one-line change here, never a
code change::

    # extractkit.toml
    [extractors.location]
    model = "openai:ft:gpt-4o-mini-2024-07-18:acme::abc123"

Model resolution, highest first: the ``model=`` argument, ``Extractor.override()``,
this configuration (``EXTRACTKIT_<NAME>_MODEL`` beats the file), the class default.
Bad configuration raises :class:`~extractkit.exceptions.ConfigError` naming the key.
API keys are never read from the file: a backend names the environment variable
that holds its key (``api_key_env``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from extractkit.exceptions import ConfigError

__all__ = [
    "CONFIG_FILENAME",
    "BackendConfig",
    "ExtractorConfig",
    "FrozenOptions",
    "ModelRef",
    "Settings",
    "get_settings",
    "set_settings",
]

CONFIG_FILENAME = "extractkit.toml"

OutputModeName = Literal["json_schema", "json_object", "tools", "prompted", "bare"]
PromptVariantName = Literal["minimal", "full"]

_OUTPUT_MODES = ("json_schema", "json_object", "tools", "prompted", "bare")
_PROMPT_VARIANTS = ("minimal", "full")


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A ``provider:model`` reference, split on the first colon only.

    ``openai:ft:gpt-4o-mini-2024-07-18:org::abc123`` is provider ``openai`` and
    model ``ft:gpt-4o-mini-2024-07-18:org::abc123``. A reference without a
    provider (``gpt-4o-mini``, or a bare ``ft:...`` id) means ``openai``.
    """

    provider: str
    model: str

    @classmethod
    def parse(cls, ref: str | ModelRef) -> ModelRef:
        """Parse ``"provider:model"``; raise ConfigError on an empty part."""
        if isinstance(ref, ModelRef):
            return ref
        return _parse_ref(ref) if isinstance(ref, str) else cls._parse(ref)

    @classmethod
    def _parse(cls, ref: Any) -> ModelRef:
        if not isinstance(ref, str) or not ref.strip():
            raise ConfigError(f"model reference must be a non-empty 'provider:model' string, got {ref!r}")
        ref = ref.strip()
        provider, sep, model = ref.partition(":")
        if not sep or provider == "ft":
            return cls("openai", ref)
        if not provider or not model:
            raise ConfigError(
                f"model reference {ref!r} is malformed: write 'provider:model', e.g. 'openai:gpt-4o-mini'"
            )
        return cls(provider, model)

    @property
    def is_fine_tuned(self) -> bool:
        """True for OpenAI-style fine-tuned ids (``ft:...``) and local fine-tunes (``ft-`` prefix)."""
        return self.model.startswith(("ft:", "ft-"))

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


@lru_cache(maxsize=1024)
def _parse_ref(ref: str) -> ModelRef:
    return ModelRef._parse(ref)


@lru_cache(maxsize=64)
def _default_backend(provider: str) -> BackendConfig:
    env_key = "OPENAI_API_KEY" if provider == "openai" else None
    return BackendConfig(provider=provider, type=provider, api_key_env=env_key)


class FrozenOptions(Mapping[str, Any]):
    """A read-only, hashable mapping of a backend's extra options.

    A :class:`BackendConfig` is a cache key (one HTTP client per event loop and
    configuration value), so every part of it must hash by value. TOML values are
    strings, numbers, booleans, dates, arrays and tables; arrays and tables hash
    through a frozen copy.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(data or {})
        self._hash = hash(frozenset((k, _frozen(v)) for k, v in self._data.items()))

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenOptions):
            return self._hash == other._hash and self._data == other._data
        return isinstance(other, Mapping) and self._data == dict(other.items())

    def __repr__(self) -> str:
        return repr(self._data)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return frozenset((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


_NO_OPTIONS = FrozenOptions()


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """How to reach one provider.

    Frozen and hashable by value: the runtime keeps one backend (one HTTP client and
    its connection pool) per event loop and configuration value, so two equal configs
    share a client however they were built.

    Attributes:
        provider: The name used in model references (the TOML table name).
        type: Backend implementation in the registry (default: the provider name;
            ``openai`` serves OpenAI, Azure and any compatible ``base_url``).
        base_url: Endpoint for compatible servers (vLLM, Ollama, llama.cpp, Groq).
        api_key_env: Name of the environment variable holding the API key.
        timeout: Seconds per request.
        max_concurrency: Requests in flight at once through this backend.
        azure_endpoint: Azure OpenAI resource endpoint (``type = "azure"``).
        api_version: Azure OpenAI API version.
        structured_outputs: The server accepts ``response_format`` with a JSON
            schema and constrains decoding to it (llama.cpp's server, vLLM, recent
            Ollama). Models on it then get the ``json_schema`` output mode instead of
            ``prompted``. ``None`` leaves it to the backend type: ``type = "local"``
            (the managed llama.cpp server) does, a compatible server is not assumed to.
        options: Other keys, passed to the backend factory (kept as a read-only
            :class:`FrozenOptions`).
    """

    provider: str
    type: str
    base_url: str | None = None
    api_key_env: str | None = None
    timeout: float = 60.0
    max_concurrency: int = 16
    azure_endpoint: str | None = None
    api_version: str | None = None
    structured_outputs: bool | None = None
    options: Mapping[str, Any] = _NO_OPTIONS

    def __post_init__(self) -> None:
        if not isinstance(self.options, FrozenOptions):
            object.__setattr__(self, "options", FrozenOptions(self.options) if self.options else _NO_OPTIONS)
        if self.api_key_env is not None:
            from extractkit.redaction import looks_like_key, register_key_env

            if looks_like_key(self.api_key_env):
                raise ConfigError(
                    f"backends.{self.provider}.api_key_env must name an environment variable, not hold "
                    "the key (if you pasted a key there, treat it as exposed and rotate it)",
                    key=f"backends.{self.provider}.api_key_env",
                )
            register_key_env(self.api_key_env)  # its value is a secret wherever it shows up


@dataclass(frozen=True, slots=True)
class ExtractorConfig:
    """Per-extractor settings (``[extractors.NAME]``); ``None`` means "not set here"."""

    model: str | None = None
    prompt_variant: PromptVariantName | None = None
    output_mode: OutputModeName | None = None
    max_attempts: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float | None = None
    deadline: float | None = None
    shadow: str | None = None
    """A second model that a sample of live extractions is also sent to (see ``docs/shadow.md``)."""
    shadow_rate: float | None = None
    """The fraction (0-1) of live extractions shadowed (default ``extractkit.shadow.DEFAULT_RATE``)."""
    shadow_max_in_flight: int | None = None
    """Shadow calls running at once for this extractor; a sample past it is skipped and counted."""
    shadow_deadline: float | None = None
    """Seconds one shadow call may take (default: the extractor's deadline, always finite)."""


@dataclass(frozen=True)
class Settings:
    """Everything read from ``extractkit.toml`` and the environment.

    Build with :meth:`load` (file discovery + env) or :meth:`from_mapping`.
    """

    default_model: str | None = None
    backends: Mapping[str, BackendConfig] = field(default_factory=dict)
    extractors: Mapping[str, ExtractorConfig] = field(default_factory=dict)
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    store_url: str | None = None
    max_concurrency: int = 8
    source: str | None = None
    deadline: float | None = None
    on_record_error: Literal["raise", "warn"] = "raise"
    """What an extraction does when its exchange cannot be recorded (``[store] on_record_error``)."""

    def backend(self, provider: str) -> BackendConfig:
        """The backend config for ``provider``; a default one when not configured.

        The default for a provider is the same object on every call (no config file is
        the common case, and the runtime caches one client per configuration).
        """
        cfg = self.backends.get(provider)
        if cfg is not None:
            return cfg
        return _default_backend(provider)

    def extractor(self, name: str) -> ExtractorConfig:
        """The ``[extractors.NAME]`` table, empty when absent."""
        return self.extractors.get(name, ExtractorConfig())

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Read the config file and overlay ``EXTRACTKIT_*`` environment variables.

        The file is ``path``, else ``$EXTRACTKIT_CONFIG``, else the first
        ``extractkit.toml`` in the current directory or its parents; no file is fine.
        """
        env = os.environ if env is None else env
        file = Path(path) if path is not None else _discover(env)
        data: dict[str, Any] = {}
        if file is not None:
            import tomllib  # only with a config file: most zero-config processes never parse TOML

            try:
                with open(file, "rb") as fh:
                    data = tomllib.load(fh)
            except FileNotFoundError:
                raise ConfigError(f"config file {str(file)!r} does not exist", source=str(file)) from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(
                    f"config file {str(file)!r} is not valid TOML: {exc}", source=str(file)
                ) from None
        return cls.from_mapping(data, env=env, source=str(file) if file else None)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, env: Mapping[str, str] | None = None, source: str | None = None
    ) -> Settings:
        """Validate a parsed TOML mapping (plus optional env overlay) into Settings."""
        p = _Parser(source)
        p.check_keys(data, "", {"defaults", "backends", "extractors", "prices", "store"})
        defaults = p.table(data, "defaults")
        p.check_keys(defaults, "defaults", {"model", "max_concurrency", "deadline"})
        default_model = p.model_ref(defaults, "defaults.model")
        max_conc = p.integer(defaults, "defaults.max_concurrency", minimum=1, default=8)
        deadline = p.number(defaults, "defaults.deadline", minimum=_MIN_SECONDS)

        backends: dict[str, BackendConfig] = {}
        for name, raw in p.table(data, "backends").items():
            backends[name] = p.backend(name, raw)

        extractors: dict[str, ExtractorConfig] = {}
        for name, raw in p.table(data, "extractors").items():
            extractors[name] = p.extractor(name, raw)

        prices: dict[str, dict[str, float]] = {}
        for model, raw in p.table(data, "prices").items():
            key = f"prices.{model}"
            if not isinstance(raw, Mapping):
                raise p.error(key, "must be a table like {input = 0.15, output = 0.6} (USD per 1M tokens)")
            p.check_keys(raw, key, {"input", "output", "cached_input", "training", "batch_discount"})
            prices[model] = {k: p.number(raw, f"{key}.{k}", minimum=0.0) for k in raw}  # type: ignore[misc]

        store = p.table(data, "store")
        p.check_keys(store, "store", {"url", "on_record_error"})
        store_url = p.string(store, "store.url")
        on_record_error: Literal["raise", "warn"] = (
            p.choice(store, "store.on_record_error", ("raise", "warn")) or "raise"
        )

        settings = cls(
            default_model=default_model,
            backends=backends,
            extractors=extractors,
            prices=prices,
            store_url=store_url,
            max_concurrency=max_conc,
            source=source,
            deadline=deadline,
            on_record_error=on_record_error,
        )
        return settings._with_env(env) if env is not None else settings

    def _with_env(self, env: Mapping[str, str]) -> Settings:
        extractors = dict(self.extractors)
        default_model = self.default_model
        store_url = self.store_url
        deadline = self.deadline
        on_record_error: Literal["raise", "warn"] = self.on_record_error
        for key, value in env.items():
            if not key.startswith("EXTRACTKIT_"):
                continue
            rest = key[len("EXTRACTKIT_") :]
            if rest == "MODEL":
                default_model = str(ModelRef.parse(_env_value(key, value)))
            elif rest == "STORE":
                store_url = value or None
            elif rest == "DEADLINE":
                deadline = _env_seconds(key, value)
            elif rest.endswith("_DEADLINE"):
                name = rest[: -len("_DEADLINE")].lower()
                current = extractors.get(name, ExtractorConfig())
                extractors[name] = dataclasses.replace(current, deadline=_env_seconds(key, value))
            elif rest == "ON_RECORD_ERROR":
                if value not in ("raise", "warn"):
                    raise ConfigError(
                        f"environment variable {key} must be 'raise' or 'warn', got {value!r}", source=key
                    )
                on_record_error = "raise" if value == "raise" else "warn"
            elif rest.endswith("_SHADOW_RATE"):
                name = rest[: -len("_SHADOW_RATE")].lower()
                current = extractors.get(name, ExtractorConfig())
                extractors[name] = dataclasses.replace(current, shadow_rate=_env_fraction(key, value))
            elif rest.endswith("_SHADOW"):
                name = rest[: -len("_SHADOW")].lower()
                ref = str(ModelRef.parse(_env_value(key, value)))
                current = extractors.get(name, ExtractorConfig())
                extractors[name] = dataclasses.replace(current, shadow=ref)
            elif rest.endswith("_MODEL"):
                name = rest[: -len("_MODEL")].lower()
                ref = str(ModelRef.parse(_env_value(key, value)))
                current = extractors.get(name, ExtractorConfig())
                extractors[name] = dataclasses.replace(current, model=ref)
        return Settings(
            default_model=default_model,
            backends=self.backends,
            extractors=extractors,
            prices=self.prices,
            store_url=store_url,
            max_concurrency=self.max_concurrency,
            source=self.source,
            deadline=deadline,
            on_record_error=on_record_error,
        )


_MIN_SECONDS = 0.001


def _env_seconds(key: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds >= _MIN_SECONDS:
        raise ConfigError(
            f"environment variable {key} must be a number of seconds >= {_MIN_SECONDS} ('inf' for no "
            f"deadline), got {value!r}",
            key=key,
            source=key,
        )
    return seconds


def _env_fraction(key: str, value: str) -> float:
    try:
        fraction = float(value)
    except ValueError:
        fraction = float("nan")
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(
            f"environment variable {key} must be a fraction from 0 to 1 (0.05 = 5% of calls), got {value!r}",
            key=key,
            source=key,
        )
    return fraction


def _env_value(key: str, value: str) -> str:
    if not value.strip():
        raise ConfigError(f"environment variable {key} is set but empty; unset it or give 'provider:model'")
    return value


def _discover(env: Mapping[str, str]) -> Path | None:
    explicit = env.get("EXTRACTKIT_CONFIG")
    if explicit:
        return Path(explicit)
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    return None


class _Parser:
    """Typed reads from an untyped mapping, with errors that name the dotted key and the file."""

    def __init__(self, source: str | None) -> None:
        self.source = source

    def error(self, key: str, problem: str) -> ConfigError:
        where = f" in {self.source}" if self.source else ""
        return ConfigError(f"config key '{key}'{where} {problem}", key=key, source=self.source)

    def check_keys(self, table: Mapping[str, Any], prefix: str, allowed: set[str]) -> None:
        for k in table:
            if k not in allowed:
                key = f"{prefix}.{k}" if prefix else k
                raise self.error(
                    key, f"is not a known setting; expected one of: {', '.join(sorted(allowed))}"
                )

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a table, got {type(value).__name__}")
        return value

    def _get(self, table: Mapping[str, Any], key: str) -> Any:
        return table.get(key.rsplit(".", 1)[-1])

    def string(self, table: Mapping[str, Any], key: str) -> str | None:
        value = self._get(table, key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(key, f"must be a non-empty string, got {value!r}")
        return value

    def boolean(self, table: Mapping[str, Any], key: str) -> bool | None:
        value = self._get(table, key)
        if value is not None and not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def integer(self, table: Mapping[str, Any], key: str, *, minimum: int, default: int) -> int:
        value = self._get(table, key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(key, f"must be an integer >= {minimum}, got {value!r}")
        return value

    def opt_integer(self, table: Mapping[str, Any], key: str, *, minimum: int) -> int | None:
        if self._get(table, key) is None:
            return None
        return self.integer(table, key, minimum=minimum, default=minimum)

    def number(self, table: Mapping[str, Any], key: str, *, minimum: float) -> float | None:
        value = self._get(table, key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise self.error(key, f"must be a number >= {minimum}, got {value!r}")
        return float(value)

    def choice(self, table: Mapping[str, Any], key: str, options: tuple[str, ...]) -> Any:
        value = self._get(table, key)
        if value is None:
            return None
        if value not in options:
            raise self.error(key, f"must be one of {', '.join(options)}; got {value!r}")
        return value

    def model_ref(self, table: Mapping[str, Any], key: str) -> str | None:
        value = self.string(table, key)
        if value is None:
            return None
        try:
            return str(ModelRef.parse(value))
        except ConfigError as exc:
            raise self.error(key, str(exc)) from None

    def backend(self, name: str, raw: Any) -> BackendConfig:
        key = f"backends.{name}"
        if not isinstance(raw, Mapping):
            raise self.error(key, "must be a table")
        known = {
            "type",
            "base_url",
            "api_key_env",
            "timeout",
            "max_concurrency",
            "azure_endpoint",
            "api_version",
            "structured_outputs",
        }
        if "api_key" in raw:
            raise self.error(
                f"{key}.api_key",
                "is not allowed: never put API keys in config files. "
                "Set api_key_env to the name of an environment variable that holds the key.",
            )
        options = {k: v for k, v in raw.items() if k not in known}
        return BackendConfig(
            provider=name,
            type=self.string(raw, f"{key}.type") or ("openai" if name in ("azure",) else name),
            base_url=self.string(raw, f"{key}.base_url"),
            api_key_env=self.api_key_env(raw, f"{key}.api_key_env")
            or ("OPENAI_API_KEY" if name == "openai" else None),
            timeout=self.number(raw, f"{key}.timeout", minimum=0.001) or 60.0,
            max_concurrency=self.integer(raw, f"{key}.max_concurrency", minimum=1, default=16),
            azure_endpoint=self.string(raw, f"{key}.azure_endpoint"),
            api_version=self.string(raw, f"{key}.api_version"),
            structured_outputs=self.boolean(raw, f"{key}.structured_outputs"),
            options=options,
        )

    def api_key_env(self, table: Mapping[str, Any], key: str) -> str | None:
        """The name of the environment variable holding a key; refuse a key pasted in its place.

        The value is never echoed: if it is a key, the message would leak it.
        """
        value = self._get(table, key)
        if value is None:
            return None
        from extractkit.redaction import looks_like_key, register_key_env

        if not isinstance(value, str) or not value or looks_like_key(value):
            raise self.error(
                key,
                "is refused: api_key_env must name an environment variable, not hold the key; write "
                'e.g. api_key_env = "OPENAI_API_KEY" and put the key in that variable (if you '
                "pasted a key here, treat it as exposed and rotate it)",
            )
        register_key_env(value)  # its value is a secret wherever it shows up
        return value

    def extractor(self, name: str, raw: Any) -> ExtractorConfig:
        key = f"extractors.{name}"
        if not isinstance(raw, Mapping):
            raise self.error(key, "must be a table like {model = 'openai:gpt-4o-mini'}")
        self.check_keys(
            raw,
            key,
            {
                "model",
                "prompt_variant",
                "output_mode",
                "max_attempts",
                "temperature",
                "max_tokens",
                "timeout",
                "deadline",
                "shadow",
                "shadow_rate",
                "shadow_max_in_flight",
                "shadow_deadline",
            },
        )
        shadow_rate = self.number(raw, f"{key}.shadow_rate", minimum=0.0)
        if shadow_rate is not None and not shadow_rate <= 1.0:  # NaN too
            raise self.error(
                f"{key}.shadow_rate",
                f"must be a fraction from 0 to 1 (0.05 = 5% of calls), got {shadow_rate!r}",
            )
        shadow_deadline = self.number(raw, f"{key}.shadow_deadline", minimum=_MIN_SECONDS)
        if shadow_deadline is not None and not shadow_deadline < float("inf"):  # NaN too
            raise self.error(
                f"{key}.shadow_deadline",
                "must be a finite number of seconds: shadow calls are always bounded",
            )
        return ExtractorConfig(
            model=self.model_ref(raw, f"{key}.model"),
            prompt_variant=self.choice(raw, f"{key}.prompt_variant", _PROMPT_VARIANTS),
            output_mode=self.choice(raw, f"{key}.output_mode", _OUTPUT_MODES),
            max_attempts=self.opt_integer(raw, f"{key}.max_attempts", minimum=1),
            temperature=self.number(raw, f"{key}.temperature", minimum=0.0),
            max_tokens=self.opt_integer(raw, f"{key}.max_tokens", minimum=1),
            timeout=self.number(raw, f"{key}.timeout", minimum=_MIN_SECONDS),
            deadline=self.number(raw, f"{key}.deadline", minimum=_MIN_SECONDS),
            shadow=self.model_ref(raw, f"{key}.shadow"),
            shadow_rate=shadow_rate,
            shadow_max_in_flight=self.opt_integer(raw, f"{key}.shadow_max_in_flight", minimum=1),
            shadow_deadline=shadow_deadline,
        )


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, loaded on first use (see :meth:`Settings.load`)."""
    global _settings
    if _settings is None:
        _settings = Settings.load()
    return _settings


def set_settings(settings: Settings | str | os.PathLike[str] | None) -> None:
    """Replace the process-wide settings (a Settings, a file path, or ``None`` to reload lazily)."""
    global _settings
    if settings is None or isinstance(settings, Settings):
        _settings = settings
    else:
        _settings = Settings.load(settings)
