"""``LocalChatBackend``: a chat backend that serves the model each request names, on demand.

With it, a local model is selected by configuration alone, exactly like an
``ft:`` OpenAI model, and no server has to be started by hand::

    [backends.local]
    type = "local"            # models_dir = "...", context = 2048, parallel = 1 (optional)

    [extractors.location]
    model = "local:ft-smollm2-135m-cities-1a2b3c"

The first request for a model starts a :class:`~extractkit.local.server.LocalModelServer`
for it (about a second for the shipped model); later requests reuse it; requests
go through the ordinary OpenAI backend. :meth:`aclose` stops the servers (they
also stop when the process exits). A llama.cpp server answers with the model it
serves whatever name a request gives, which is why one server per name is kept
here rather than one shared server.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from pathlib import Path
from typing import Any

from extractkit.backends.openai import OpenAIChatBackend
from extractkit.config import BackendConfig
from extractkit.exceptions import ConfigError
from extractkit.local.server import LocalModelServer
from extractkit.messages import ChatRequest, ChatResponse

__all__ = ["LocalChatBackend", "stop_all_servers"]

_OPTIONS = ("models_dir", "context", "parallel", "threads")
# Backends are cached for the life of the process (extractkit.runtime), so nobody calls
# aclose() on them; the servers they started are stopped at exit, or by stop_all_servers().
_live: weakref.WeakSet[LocalChatBackend] = weakref.WeakSet()


def stop_all_servers() -> None:
    """Stop every server started by any :class:`LocalChatBackend` in this process."""
    for backend in list(_live):
        backend.stop_servers()


atexit.register(stop_all_servers)


class LocalChatBackend:
    """Serve each requested local model on demand and talk to it over the OpenAI protocol.

    Args:
        provider: The provider name in model references (``local``).
        models_dir: Where ``ft-...`` models are looked up.
        context: Context window per request.
        parallel: Requests decoded at once per model.
        threads: CPU threads per server.
        timeout: Seconds per request.
    """

    supports_logit_bias = False
    runs_locally = True  # the model decodes on this machine (evals run such candidates alone)

    def __init__(
        self,
        *,
        provider: str = "local",
        models_dir: str | Path | None = None,
        context: int = 2048,
        parallel: int = 1,
        threads: int | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.name = provider
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self.context = context
        self.parallel = parallel
        self.threads = threads
        self.timeout = timeout
        self._servers: dict[str, tuple[LocalModelServer, OpenAIChatBackend]] = {}
        self._lock = threading.Lock()
        _live.add(self)

    @classmethod
    def from_config(cls, config: BackendConfig) -> LocalChatBackend:
        """Build from ``[backends.NAME] type = "local"`` (options: models_dir, context, parallel, threads)."""
        options = dict(config.options)
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown or config.base_url:
            bad = unknown[0] if unknown else "base_url"
            raise ConfigError(
                f"backends.{config.provider}: the local backend takes {', '.join(_OPTIONS)}, not {bad} "
                '(for a server started elsewhere use type = "openai" with its base_url)',
                key=f"backends.{config.provider}.{bad}",
            )
        for key in ("context", "parallel", "threads"):
            value = options.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(
                    f"backends.{config.provider}.{key} must be a positive integer, got {value!r}",
                    key=f"backends.{config.provider}.{key}",
                )
        return cls(
            provider=config.provider,
            models_dir=options.get("models_dir"),
            context=options.get("context", 2048),
            parallel=options.get("parallel", 1),
            threads=options.get("threads"),
            timeout=config.timeout,
        )

    def _client_for(self, model: str) -> OpenAIChatBackend:
        with self._lock:
            entry = self._servers.get(model)
            if entry is None:
                server = LocalModelServer(
                    model,
                    models_dir=self.models_dir,
                    context=self.context,
                    parallel=self.parallel,
                    threads=self.threads,
                ).start()
                client = OpenAIChatBackend(base_url=server.base_url, provider=self.name, timeout=self.timeout)
                entry = self._servers[model] = (server, client)
            return entry[1]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Start the named model's server if needed (off the event loop), then send the request."""
        client = self._servers[request.model][1] if request.model in self._servers else None
        if client is None:
            client = await asyncio.to_thread(self._client_for, request.model)
        return await client.complete(request)

    @property
    def servers(self) -> dict[str, Any]:
        """The running servers by model name."""
        return {name: server for name, (server, _) in self._servers.items()}

    def stop_servers(self) -> None:
        """Stop the servers this backend started (a later request starts them again)."""
        with self._lock:
            entries, self._servers = list(self._servers.values()), {}
        for server, _client in entries:
            server.stop()

    async def aclose(self) -> None:
        """Close the clients and stop the servers. Safe to call more than once."""
        clients = [client for _, client in self._servers.values()]
        self.stop_servers()
        for client in clients:
            await client.aclose()
