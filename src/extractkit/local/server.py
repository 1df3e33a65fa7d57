"""``LocalModelServer``: a local OpenAI-compatible chat server for a GGUF model.

llama.cpp's HTTP server, embedded through the ``xllamacpp`` binding (a
prebuilt wheel: nothing compiles, nothing downloads), listens on 127.0.0.1 on
a free port for as long as the context manager is open::

    with LocalModelServer("smollm2-135m") as server:
        loc = LocationExtractor(model="local:smollm2-135m", settings=server.settings())
        loc.extract_sync("nurse jobs in Lyon")

The ordinary OpenAI backend talks to it; to point configuration at a server
started elsewhere (``extractkit serve``), write::

    [backends.local]
    type = "openai"
    base_url = "http://127.0.0.1:8080/v1"

A fine-tuned model (``ft-...``) is served as its base GGUF with its LoRA
adapter applied, so the same server class serves both.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from extractkit.config import Settings
from extractkit.exceptions import BackendConnectionError, UserError
from extractkit.local.models import (
    SHIPPED_MODEL,
    LocalModel,
    optional_module,
    require_extras,
    resolve_local_model,
)

__all__ = ["LocalModelServer", "free_cores"]

_READY_TIMEOUT_S = 60.0


def free_cores() -> int:
    """The cores other processes leave free now: cores minus the 1-minute load average (floored), >= 1.

    llama.cpp's threads meet at a barrier after every operation of every token, so a
    thread that another process has taken the core from stalls all the others: on 2
    cores with one other busy process, 2 threads decoded the embedded model at 115-200 ms
    a token and 1 thread at 17-26 ms (on 2 idle cores, 2 threads: about 10 ms).
    """
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # no load average on this platform
        return cores
    return max(1, min(cores, cores - int(busy)))  # a core busy part of the time is mostly free


class LocalModelServer:
    """Serve one local model over the OpenAI chat-completions protocol on 127.0.0.1.

    Args:
        model: A model name (``smollm2-135m``, ``ft-...``), a ``.gguf`` path, a fine-tuned
            model folder, or a resolved :class:`~extractkit.local.models.LocalModel`.
        adapter: A LoRA adapter ``.gguf`` to apply on top of ``model``.
        port: The port; 0 (default) picks a free one.
        host: The address to listen on; loopback by default, and anything else must be asked for.
        context: Context window in tokens, shared by the parallel slots.
        parallel: Requests decoded at once (continuous batching).
        threads: CPU threads (default: :func:`free_cores` when the server starts).
        models_dir: Where ``ft-...`` names are looked up.
        name: The model name the server reports (default: the model's name).
        verbose: Let llama.cpp log to stderr (it is quiet by default).

    Raises:
        UserError: the local extra is not installed (the message names the command).
        ConfigError: the model cannot be resolved.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | LocalModel = SHIPPED_MODEL,
        *,
        adapter: str | os.PathLike[str] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        context: int = 2048,
        parallel: int = 1,
        threads: int | None = None,
        models_dir: str | os.PathLike[str] | None = None,
        name: str | None = None,
        verbose: bool = False,
    ) -> None:
        require_extras(serve=True, model=False)
        if isinstance(model, LocalModel):
            resolved = model
        else:
            resolved = resolve_local_model(model, models_dir=Path(models_dir) if models_dir else None)
        if adapter is not None:
            if resolved.adapter_path is not None:
                raise UserError(f"{resolved.name!r} already has an adapter; give a base model with adapter=")
            adapter_path = Path(adapter)
            if not adapter_path.is_file():
                raise UserError(f"adapter file {str(adapter_path)!r} does not exist")
            resolved = LocalModel(name or adapter_path.stem, resolved.base_path, adapter_path)
        if not 0 <= port <= 65535:
            raise UserError(f"port must be 0 (any free port) or 1..65535, got {port}")
        if parallel < 1 or context < 64:
            raise UserError("parallel must be >= 1 and context >= 64")
        self.model = resolved
        self.name = name or resolved.name
        self.host = host
        self.port = port
        self.context = context
        self.parallel = parallel
        self.threads = threads or free_cores()
        self.verbose = verbose
        self._server: Any = None
        self._address: str | None = None
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> LocalModelServer:
        """Load the model and start listening; returns once the server answers. Idempotent."""
        with self._lock:
            if self._server is not None:
                return self
            xllamacpp = optional_module("xllamacpp")

            params = xllamacpp.CommonParams()
            params.model.path = str(self.model.base_path)
            if self.model.adapter_path is not None:
                params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(self.model.adapter_path), 1.0)]
            params.hostnames = [self.host]
            params.port = self.port
            params.n_ctx = self.context * self.parallel  # llama.cpp splits n_ctx across the slots
            params.n_parallel = self.parallel
            params.cpuparams.n_threads = self.threads
            params.cpuparams_batch.n_threads = self.threads
            params.model_alias = {self.name}
            params.offline = True  # never fetch anything: the model is a local file
            params.verbosity = 3 if self.verbose else -1
            if not self.verbose:
                params.log_json = False
            try:
                server = xllamacpp.Server(params)
            except Exception as exc:
                raise UserError(
                    f"could not start the local server for {self.name!r} ({self.model.base_path}): {exc}"
                ) from exc
            address = str(server.listening_address)
            self._server = server
            self._address = address.rstrip("/")
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self._address}/health", timeout=5) as resp:
                    if json.loads(resp.read()).get("status") == "ok":
                        return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = exc
            time.sleep(0.05)
        raise BackendConnectionError(
            f"the local server for {self.name!r} did not become ready in {_READY_TIMEOUT_S:.0f}s: {last}"
        )

    def stop(self) -> None:
        """Stop the server and free the model. Safe to call more than once."""
        with self._lock:
            server, self._server = self._server, None
            self._address = None
        # The binding stops llama.cpp's loop and joins its threads when the object is freed.
        del server

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._server is not None

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.base_url if self.running else "stopped"
        return f"LocalModelServer(model={self.name!r}, {state})"

    # ----------------------------------------------------------------- where to reach it

    @property
    def address(self) -> str:
        """``http://127.0.0.1:PORT`` (raises UserError when not running)."""
        if self._address is None:
            raise UserError("the local server is not running: use it as a context manager or call start()")
        return self._address

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible endpoint, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.address}/v1"

    @property
    def model_ref(self) -> str:
        """The model reference for extractors: ``local:<name>``."""
        return f"local:{self.name}"

    def backend_table(self, provider: str = "local") -> dict[str, Any]:
        """The ``[backends.<provider>]`` table that points the OpenAI backend here."""
        return {
            "type": "openai",
            "base_url": self.base_url,
            "structured_outputs": True,  # llama.cpp turns a JSON schema into a grammar
            "timeout": 120.0,
            "max_concurrency": self.parallel,
        }

    def settings(
        self,
        *,
        provider: str = "local",
        extractors: Mapping[str, Mapping[str, Any]] | None = None,
        base: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Settings whose ``[backends.<provider>]`` is this server.

        Args:
            provider: The provider name in model references (``local:...``).
            extractors: ``[extractors.NAME]`` tables to include.
            base: Other settings (a parsed ``extractkit.toml`` mapping) to extend.
        """
        data: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in (base or {}).items()}
        data.setdefault("backends", {})[provider] = self.backend_table(provider)
        if extractors:
            data.setdefault("extractors", {}).update({k: dict(v) for k, v in extractors.items()})
        return Settings.from_mapping(data)

    def toml(self, provider: str = "local") -> str:
        """A config snippet for ``extractkit.toml`` pointing at this server."""
        return (
            f'[backends.{provider}]\ntype = "openai"\nbase_url = "{self.base_url}"\n'
            "structured_outputs = true\n\n"
            f'[defaults]\nmodel = "{provider}:{self.name}"\n'
        )
