"""The backend seam: one async method that turns a ChatRequest into a ChatResponse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from extractkit.messages import ChatDelta, ChatRequest, ChatResponse

__all__ = ["ChatBackend", "StreamingChatBackend", "check_destination", "set_real_requests_blocked"]


@runtime_checkable
class ChatBackend(Protocol):
    """A chat model behind one wire format.

    A backend translates the request, sends it once and maps the answer and its
    errors (to :mod:`extractkit.exceptions`). It does no retries, parsing or
    recording: those live above it, once, for every backend.

    Attributes:
        name: Provider name used in model references (``"openai"``).
        supports_logit_bias: Whether ``ChatRequest.logit_bias`` is honoured.

    Optional attributes, read with ``getattr``:
        timeout: Seconds a request may take when ``ChatRequest.timeout`` is ``None``.
        bounds_requests: ``True`` when :meth:`complete` always ends (answer or
            ``BackendTimeoutError``) within the request's timeout, connect to last byte.
            The extractor then arms no deadline timer for a first try that ends in
            time anyway; backends without it are bounded by the call's deadline timer.
    """

    name: str
    supports_logit_bias: bool

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one request and return the answer, or raise a ``BackendError``."""
        ...

    async def aclose(self) -> None:
        """Release connections. Safe to call more than once."""
        ...


@runtime_checkable
class StreamingChatBackend(ChatBackend, Protocol):
    """A :class:`ChatBackend` that can also stream an answer (an optional capability).

    ``Extractor.extract_stream`` uses :meth:`stream` when a backend has it and falls
    back to one :meth:`~ChatBackend.complete` (a single, final update) when not.
    """

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Send one request; yield the answer's pieces as they arrive, usage last.

        The last delta of a whole answer carries its ``finish_reason``; a stream that
        ends without one was cut. Errors are ``BackendError`` s, as for ``complete``.
        """
        ...


# The test tripwire. Backends that reach the network call check_destination()
# before each request; extractkit.testing.block_real_requests() switches it on.
_blocked = False


def set_real_requests_blocked(blocked: bool) -> bool:
    """Switch the tripwire; returns the previous state."""
    global _blocked
    previous, _blocked = _blocked, blocked
    return previous


def check_destination(url: str | None) -> None:
    """Raise RealRequestBlockedError when the tripwire is on and ``url`` is not on loopback.

    ``None`` means the provider's default endpoint: ``$OPENAI_BASE_URL`` when set (the
    ``openai`` client sends there), else the public one (api.openai.com).
    """
    if not _blocked:
        return
    import os
    from urllib.parse import urlsplit

    url = url or os.environ.get("OPENAI_BASE_URL") or None

    host = urlsplit(url).hostname if url else None
    if host in ("127.0.0.1", "localhost", "::1") or (host or "").startswith("127."):
        return
    from extractkit.exceptions import RealRequestBlockedError

    raise RealRequestBlockedError(
        f"blocked a request to {url or 'the provider default endpoint'}: real model requests are off in "
        "tests. Point the backend at a local server (extractkit.testing.server.ScriptedChatServer) or "
        "use extractkit.testing.FakeBackend."
    )
