"""Test helpers, public so you can test your own extractors offline.

- :class:`FakeBackend`: a function plays the model; the fake keeps every request.
- :func:`block_real_requests`: a tripwire that makes any request to a
  non-loopback endpoint raise ``RealRequestBlockedError``.
- :mod:`extractkit.testing.server`: a real OpenAI-compatible HTTP server on
  127.0.0.1 with scripted answers and injected faults, for end-to-end tests
  through the official ``openai`` client.
- :mod:`extractkit.testing.faults`: a raw-socket server that misbehaves on
  purpose (drips, never answers, half bodies, wrong lengths, malformed 200s).

Example::

    from extractkit import LocationExtractor
    from extractkit.testing import FakeBackend

    fake = FakeBackend(lambda request: '{"locations": [{"city": "Paris", "country": "France"}]}')
    result = LocationExtractor(backend=fake).extract_sync("flats in Paris")
    assert result.locations[0].city == "Paris"
    assert fake.requests[0].messages[-1].content == "flats in Paris"
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from extractkit.backends.base import set_real_requests_blocked
from extractkit.messages import ChatDelta, ChatRequest, ChatResponse, Usage

__all__ = ["FakeBackend", "FakeReply", "block_real_requests"]

FakeReply = str | dict[str, Any] | list[Any] | ChatResponse | BaseException
"""What a handler may return: text, a JSON value (sent as its JSON text), a full
ChatResponse (to set ``finish_reason``, tool calls, usage...), or an exception to raise."""

Handler = Callable[[ChatRequest], FakeReply | Awaitable[FakeReply]]


def _approx_tokens(text: str | None) -> int:
    # A stand-in: about four characters per token. Tests that need exact counts use extractkit.tokens.
    return 0 if not text else max(1, len(text) // 4)


class FakeBackend:
    """A :class:`~extractkit.backends.ChatBackend` whose answers come from a Python function.

    Args:
        handler: Called with each :class:`ChatRequest`; may be async. Alternatively
            pass a list of replies, served in order (an error when they run out).
        supports_logit_bias: Whether extractors may use logit-bias modes with it.
        name: The provider name it reports.
        chunk_size: Characters per piece when an answer is streamed (:meth:`stream`).

    Attributes:
        requests: Every request received, in order.
    """

    def __init__(
        self,
        handler: Handler | Sequence[FakeReply],
        *,
        supports_logit_bias: bool = True,
        name: str = "fake",
        chunk_size: int = 4,
    ) -> None:
        if callable(handler):
            self._handler: Handler = handler
        else:
            script = list(handler)
            self._script = script

            def scripted(request: ChatRequest) -> FakeReply:
                if not script:
                    raise AssertionError(
                        f"FakeBackend script exhausted after {len(self.requests) - 1} replies"
                    )
                return script.pop(0)

            self._handler = scripted
        self.supports_logit_bias = supports_logit_bias
        self.name = name
        self.requests: list[ChatRequest] = []
        self.closed = False
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.chunk_size = chunk_size

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Record the request and answer with the handler's reply."""
        self.requests.append(request)
        reply = self._handler(request)
        if inspect.isawaitable(reply):
            reply = await reply
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, ChatResponse):
            return reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        prompt = sum(_approx_tokens(m.content) + 3 for m in request.messages) + 3
        return ChatResponse(text=text, usage=Usage(prompt, _approx_tokens(text)), model=request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """The handler's answer as a stream: ``chunk_size`` characters a piece, usage last.

        Text, tool-call arguments and refusals are split alike; the last piece
        carries the finish reason, then the usage follows, as the OpenAI API sends them.
        """
        answer = await self.complete(request)
        size = self.chunk_size
        model, rid = answer.model, answer.response_id
        if answer.text:
            for i in range(0, len(answer.text), size):
                yield ChatDelta(text=answer.text[i : i + size], model=model, response_id=rid)
        if answer.refusal:
            for i in range(0, len(answer.refusal), size):
                yield ChatDelta(refusal=answer.refusal[i : i + size], model=model, response_id=rid)
        for call in answer.tool_calls[:1]:
            yield ChatDelta(tool_call_id=call.id, tool_name=call.name, model=model, response_id=rid)
            for i in range(0, len(call.arguments), size):
                yield ChatDelta(tool_arguments=call.arguments[i : i + size], model=model, response_id=rid)
        yield ChatDelta(finish_reason=answer.finish_reason, model=model, response_id=rid)
        if answer.usage is not None:
            yield ChatDelta(usage=answer.usage, model=model, response_id=rid)

    async def aclose(self) -> None:
        """Mark closed (nothing to release)."""
        self.closed = True


@contextmanager
def block_real_requests() -> Iterator[None]:
    """Within the block, requests to any non-loopback endpoint raise ``RealRequestBlockedError``.

    Use it in a ``conftest.py`` autouse fixture so no test can reach a paid API by accident.
    """
    previous = set_real_requests_blocked(True)
    try:
        yield
    finally:
        set_real_requests_blocked(previous)
