"""extractkit: typed, reliable, cheap structured extraction with chat models.

``extractkit.extract_sync(text, OutputType)`` is the one-call front door;
``LocationExtractor().extract_sync(text)`` runs the built-in extractor (offline,
on the embedded local model, when there is no API key).

Public names are imported lazily on first use, from the module that defines
them, so ``import extractkit`` stays fast and ``from extractkit import
LocationExtractor`` loads only what that extractor needs (openai, tenacity and
entry points load on first use; see bench/import_time.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from extractkit.backends import ChatBackend, StreamingChatBackend, register_backend
    from extractkit.backends.openai import OpenAIChatBackend
    from extractkit.config import BackendConfig, ModelRef, Settings, get_settings, set_settings
    from extractkit.exceptions import (
        AuthenticationError,
        BackendConnectionError,
        BackendError,
        BackendTimeoutError,
        ConfigError,
        DatasetError,
        ExtractionError,
        ExtractKitError,
        FineTuneError,
        HTTPStatusError,
        InvalidOutputError,
        ItemError,
        MalformedResponseError,
        QuotaExceededError,
        RateLimitError,
        RealRequestBlockedError,
        RecordingError,
        RefusalError,
        RepairError,
        RequestBudgetError,
        ServerError,
        StoreError,
        StoreUnavailableError,
        TruncatedOutputError,
        UnparseableOutputError,
        UserError,
    )
    from extractkit.extractor import CallContext, Extraction, Extractor, ItemResult
    from extractkit.extractors import IntentRouter, Location, LocationExtractor, Locations
    from extractkit.frontdoor import extract, extract_sync
    from extractkit.messages import ChatRequest, ChatResponse, Message, Usage
    from extractkit.profiles import ModelProfile, OutputMode, PromptVariant, profile_for
    from extractkit.prompts import Example
    from extractkit.retries import RetryPolicy
    from extractkit.runtime import aclose
    from extractkit.shadow import Shadow
    from extractkit.streaming import StreamUpdate
    from extractkit.strict_schema import Omittable

_EXPORTS: dict[str, str] = {
    "AuthenticationError": "extractkit.exceptions",
    "BackendConfig": "extractkit.config",
    "BackendConnectionError": "extractkit.exceptions",
    "BackendError": "extractkit.exceptions",
    "BackendTimeoutError": "extractkit.exceptions",
    "CallContext": "extractkit.extractor",
    "ChatBackend": "extractkit.backends",
    "ChatRequest": "extractkit.messages",
    "ChatResponse": "extractkit.messages",
    "ConfigError": "extractkit.exceptions",
    "DatasetError": "extractkit.exceptions",
    "Example": "extractkit.prompts",
    "ExtractKitError": "extractkit.exceptions",
    "Extraction": "extractkit.extractor",
    "ExtractionError": "extractkit.exceptions",
    "Extractor": "extractkit.extractor",
    "FineTuneError": "extractkit.exceptions",
    "HTTPStatusError": "extractkit.exceptions",
    "IntentRouter": "extractkit.extractors.intent",
    "InvalidOutputError": "extractkit.exceptions",
    "ItemError": "extractkit.exceptions",
    "ItemResult": "extractkit.extractor",
    "Location": "extractkit.extractors.location_types",
    "LocationExtractor": "extractkit.extractors.location",
    "Locations": "extractkit.extractors.location_types",
    "MalformedResponseError": "extractkit.exceptions",
    "Message": "extractkit.messages",
    "ModelProfile": "extractkit.profiles",
    "ModelRef": "extractkit.config",
    "Omittable": "extractkit.strict_schema",
    "OpenAIChatBackend": "extractkit.backends.openai",
    "OutputMode": "extractkit.profiles",
    "PromptVariant": "extractkit.profiles",
    "QuotaExceededError": "extractkit.exceptions",
    "RateLimitError": "extractkit.exceptions",
    "RealRequestBlockedError": "extractkit.exceptions",
    "RecordingError": "extractkit.exceptions",
    "RefusalError": "extractkit.exceptions",
    "RepairError": "extractkit.exceptions",
    "RequestBudgetError": "extractkit.exceptions",
    "RetryPolicy": "extractkit.retries",
    "ServerError": "extractkit.exceptions",
    "Settings": "extractkit.config",
    "Shadow": "extractkit.shadow",
    "StreamUpdate": "extractkit.streaming",
    "StreamingChatBackend": "extractkit.backends",
    "StoreError": "extractkit.exceptions",
    "StoreUnavailableError": "extractkit.exceptions",
    "TruncatedOutputError": "extractkit.exceptions",
    "UnparseableOutputError": "extractkit.exceptions",
    "Usage": "extractkit.messages",
    "UserError": "extractkit.exceptions",
    "aclose": "extractkit.runtime",
    "extract": "extractkit.frontdoor",
    "extract_sync": "extractkit.frontdoor",
    "get_settings": "extractkit.config",
    "profile_for": "extractkit.profiles",
    "register_backend": "extractkit.backends",
    "set_settings": "extractkit.config",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'extractkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
