"""Backends: the :class:`ChatBackend` Protocol and a registry of implementations.

A backend *type* (``openai``) is registered with a factory taking a
:class:`~extractkit.config.BackendConfig`. Third-party packages add types via
the ``extractkit.backends`` entry-point group (the entry point names a factory
or a class accepting a ``BackendConfig``), or at run time with
:func:`register_backend`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from extractkit.backends.base import ChatBackend, StreamingChatBackend
from extractkit.config import BackendConfig
from extractkit.exceptions import ConfigError

__all__ = [
    "BackendFactory",
    "ChatBackend",
    "StreamingChatBackend",
    "available_backends",
    "create_backend",
    "register_backend",
]

BackendFactory = Callable[[BackendConfig], ChatBackend]


def _openai_factory(config: BackendConfig) -> ChatBackend:
    from extractkit.backends.openai import OpenAIChatBackend

    return OpenAIChatBackend.from_config(config)


_registry: dict[str, BackendFactory] = {"openai": _openai_factory, "azure": _openai_factory}
_entry_points_loaded = False


def register_backend(type_name: str, factory: BackendFactory) -> None:
    """Register (or replace) the factory for backend type ``type_name``."""
    _registry[type_name] = factory


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    # importlib.metadata costs more to import than the rest of extractkit's hot path, and
    # the built-in types need no entry points: it loads only for an unknown type name.
    from importlib import metadata

    for ep in metadata.entry_points(group="extractkit.backends"):
        if ep.name in _registry:
            continue

        def lazy(config: BackendConfig, _ep: Any = ep) -> ChatBackend:
            target = _ep.load()
            made = target.from_config(config) if hasattr(target, "from_config") else target(config)
            return made  # type: ignore[no-any-return]

        _registry[ep.name] = lazy


def available_backends() -> list[str]:
    """Names of the registered backend types, entry points included."""
    _load_entry_points()
    return sorted(_registry)


def create_backend(config: BackendConfig) -> ChatBackend:
    """Build the backend that ``config.type`` names.

    Raises:
        ConfigError: the type is unknown (the message lists the known ones).
    """
    factory = _registry.get(config.type)
    if factory is None:
        _load_entry_points()
        factory = _registry.get(config.type)
    if factory is None:
        raise ConfigError(
            f"unknown backend type {config.type!r} for provider {config.provider!r}; known: "
            f"{', '.join(available_backends())}. For an OpenAI-compatible server set "
            f'[backends.{config.provider}] type = "openai" and base_url = "http://...".',
            key=f"backends.{config.provider}.type",
        )
    return factory(config)
