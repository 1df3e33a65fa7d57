"""Streamed answers for :class:`~extractkit.testing.server.ScriptedChatServer`, faults included.

A chat request with ``"stream": true`` is answered with server-sent events, one
``chat.completion.chunk`` per event, built from the same :class:`Reply` a plain
request gets: the role, the content (or tool-call arguments, or refusal) in
pieces, the finish reason, the usage when ``stream_options.include_usage`` asks
for it, then ``data: [DONE]``. :class:`Streamed` on the reply says how to split
it and which fault to inject::

    Reply.json(value, streaming=Streamed(chunk_size=1))                 # one character a chunk
    Reply.json(value, streaming=Streamed(cut_after=5))                  # cut mid-value, no [DONE]
    Reply.json(value, streaming=Streamed(stall_after=2, stall=30))      # stalls past the client's timeout
    Reply.json(value, streaming=Streamed(split_inside=True))            # bytes split inside UTF-8 characters
    Reply.text('{"city": "Caf\\\\u00e9"}', streaming=Streamed(chunks=['{"city": "Caf\\\\', 'u00e9"}']))
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Streamed", "chunk_events"]


@dataclass(frozen=True, slots=True)
class Streamed:
    """How a reply is streamed (used only when the request asks for ``stream=true``).

    Args:
        chunks: The exact pieces of the content (or tool arguments, or refusal) to
            send, e.g. split inside a JSON escape; they must join to the whole text.
        chunk_size: Characters per piece when ``chunks`` is not given.
        cut_after: End the response after this many pieces, with no finish reason,
            usage or ``[DONE]``: a stream cut mid-value.
        abort: With ``cut_after``: reset the connection instead of ending the response.
        stall_after: After this many pieces, send nothing for ``stall`` seconds (or
            until the server stops): a stream that stalls past the client's timeout.
        stall: Seconds of the stall.
        write_size: Write the event bytes in pieces of this many bytes, each flushed
            on its own.
        split_inside: Write each event in pieces cut inside every multi-byte UTF-8
            character and right after every backslash, each flushed on its own, so the
            client reads the bytes split inside characters and inside escapes.
    """

    chunks: Sequence[str] | None = None
    chunk_size: int = 4
    cut_after: int | None = None
    abort: bool = False
    stall_after: int | None = None
    stall: float = 0.0
    write_size: int | None = None
    split_inside: bool = False

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"Streamed.chunk_size must be >= 1, got {self.chunk_size}")
        if self.write_size is not None and self.write_size < 1:
            raise ValueError(f"Streamed.write_size must be >= 1, got {self.write_size}")

    def writes(self, data: bytes) -> list[bytes]:
        """The pieces one event's bytes are written in."""
        if self.split_inside:
            cuts = [i for i in range(1, len(data)) if 0x80 <= data[i] < 0xC0 or data[i - 1] == 0x5C]
            bounds = [0, *cuts, len(data)]
            return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]
        size = self.write_size or len(data)
        return [data[i : i + size] for i in range(0, len(data), size)]

    def split(self, text: str) -> list[str]:
        """The pieces ``text`` is sent in."""
        if self.chunks is not None:
            if "".join(self.chunks) != text:
                raise ValueError("Streamed.chunks do not join to the reply's text")
            return list(self.chunks)
        size = self.chunk_size
        return [text[i : i + size] for i in range(0, len(text), size)]


def chunk_events(
    completion: Mapping[str, Any], streamed: Streamed, *, include_usage: bool
) -> Iterator[tuple[bytes, bool]]:
    """The SSE events for a ``chat.completion`` body, each with whether it carries a piece.

    Made one at a time, as they are sent, so the first goes out before the rest are
    built. The last two events are the usage chunk (when asked for) and ``[DONE]``.
    """
    base = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
        "system_fingerprint": completion.get("system_fingerprint"),
        "service_tier": completion.get("service_tier"),
    }
    choice = completion["choices"][0]
    message = choice["message"]

    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            chunk["usage"] = None
        return _sse(chunk)

    yield event({"role": "assistant", "content": "", "refusal": None}), False
    if message.get("content"):
        for piece in streamed.split(message["content"]):
            yield event({"content": piece}), True
    if message.get("refusal"):
        for piece in streamed.split(message["refusal"]):
            yield event({"refusal": piece}), True
    for index, call in enumerate(message.get("tool_calls") or ()):
        opening = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        yield event({"tool_calls": [opening]}), False
        for piece in streamed.split(call["function"]["arguments"]):
            yield event({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}), True
    yield event({}, choice["finish_reason"]), False
    if include_usage:
        yield _sse({**base, "choices": [], "usage": completion["usage"]}), False
    yield b"data: [DONE]\n\n", False


def _sse(data: Any) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
