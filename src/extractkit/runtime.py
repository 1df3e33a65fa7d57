"""Where extractions run: backends cached per event loop, and the loop behind ``extract_sync``.

An ``AsyncOpenAI`` client (its httpx pool) belongs to the event loop that first
used it, so backends built from configuration are cached per loop. Synchronous
calls run on one private background loop, which keeps its clients warm between
calls and works even where a loop is already running (Jupyter).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

from extractkit.backends import ChatBackend, create_backend
from extractkit.config import BackendConfig

__all__ = ["aclose", "backend_for", "iterate_sync", "run_sync"]

T = TypeVar("T")

_Key = tuple[BackendConfig, tuple[str | None, ...]]
_Entry = tuple[ChatBackend, asyncio.Semaphore]
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_Key, _Entry]]
_per_loop = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _environment(config: BackendConfig) -> tuple[str | None, ...]:
    """The environment a backend built from ``config`` reads when its client is made.

    Part of the cache key, so a changed API key or ``OPENAI_BASE_URL`` (a test pointing
    at a new local server) gets a new client instead of silently reusing the old one.
    """
    environ = os.environ
    key = environ.get(config.api_key_env) if config.api_key_env else None
    if config.base_url is None and config.azure_endpoint is None and config.type == "openai":
        return (key, environ.get("OPENAI_BASE_URL"))
    return (key,)


def backend_for(config: BackendConfig) -> tuple[ChatBackend, asyncio.Semaphore]:
    """The backend (and its concurrency limit) for ``config`` on the running loop.

    One backend per event loop and configuration *value* (plus the environment it
    reads): equal configs share one HTTP client, its connection pool and its limit.
    """
    loop = asyncio.get_running_loop()
    key = (config, _environment(config))
    cache = _per_loop.get(loop)
    hit = cache.get(key) if cache is not None else None
    if hit is None:
        with _lock:
            cache = _per_loop.setdefault(loop, {})
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = (create_backend(config), asyncio.Semaphore(config.max_concurrency))
    return hit


async def aclose() -> None:
    """Close the backends (HTTP clients) extractkit built from configuration for the running loop.

    Call it before your event loop ends (e.g. at the end of ``asyncio.run``'s main
    coroutine) to release connections promptly; the next extraction builds them anew.
    Shadow calls running on this loop are drained first (see :func:`extractkit.shadow.drain`).
    """
    loop = asyncio.get_running_loop()
    shadow = sys.modules.get("extractkit.shadow")
    if shadow is not None:
        # Shadow calls still running use these clients: let them finish (bounded) first.
        await shadow.drain()
    with _lock:
        entries = _per_loop.pop(loop, {})
    for backend, _ in entries.values():
        await backend.aclose()


class _SyncRunner:
    """A daemon thread running one event loop for all synchronous calls."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name="extractkit-sync", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._ensure()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("extract_sync() called from inside extractkit's own loop; use await extract()")
        ended = threading.Event()

        async def guarded() -> T:
            try:
                return await coro
            finally:
                ended.set()

        future = asyncio.run_coroutine_threadsafe(guarded(), loop)
        try:
            return future.result()
        except BaseException:
            # Ctrl-C (KeyboardInterrupt) or SystemExit arrived in the caller's thread while the call
            # ran on the background loop: cancel the call there too (its HTTP request is closed,
            # nothing keeps running or billing), and give it a moment to unwind before re-raising.
            if not future.done():
                future.cancel()
                ended.wait(_CANCEL_GRACE_S)
            raise

    def shutdown(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return

        async def close_backends() -> None:
            for backend, _ in list(_per_loop.get(loop, {}).values()):
                try:
                    await backend.aclose()
                except Exception:  # closing at exit must not raise
                    pass

        try:
            asyncio.run_coroutine_threadsafe(close_backends(), loop).result(timeout=5)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()


_CANCEL_GRACE_S = 2.0  # how long Ctrl-C waits for the cancelled call to close its connection

_runner = _SyncRunner()
atexit.register(_runner.shutdown)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on extractkit's background loop and wait for its result."""
    return _runner.run(coro)


_END: Any = object()


def iterate_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from synchronous code, on extractkit's background loop.

    Each item is awaited on that loop; leaving early (``break``, an exception in the
    caller, Ctrl-C) closes the async iterator there, which ends its stream.
    """
    loop = _runner._ensure()
    if threading.current_thread() is _runner._thread:
        raise RuntimeError("a *_sync() iterator was used inside extractkit's own loop; use the async one")

    async def step() -> Any:
        try:
            return await agen.__anext__()
        except StopAsyncIteration:
            return _END

    async def close() -> None:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            await aclose()

    finished = False
    try:
        while True:
            future = asyncio.run_coroutine_threadsafe(step(), loop)
            try:
                item = future.result()
            except BaseException:
                future.cancel()  # Ctrl-C while waiting: stop the step on the loop too
                raise
            if item is _END:
                finished = True
                return
            yield item
    finally:
        if not finished:
            try:
                asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=5)
            except Exception:  # already closed by the error that ended it, or still running
                pass
