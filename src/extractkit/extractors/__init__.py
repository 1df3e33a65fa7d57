"""Ready-made extractors (each loaded on first use: importing one does not import the others)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extractkit.extractors.intent import IntentRouter
    from extractkit.extractors.location import LocationExtractor
    from extractkit.extractors.location_types import Location, Locations

__all__ = ["IntentRouter", "Location", "LocationExtractor", "Locations"]

_EXPORTS = {
    "IntentRouter": "extractkit.extractors.intent",
    "Location": "extractkit.extractors.location_types",
    "LocationExtractor": "extractkit.extractors.location",
    "Locations": "extractkit.extractors.location_types",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'extractkit.extractors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
