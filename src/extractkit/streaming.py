"""Streaming extraction: partial values of the output type while the model writes.

``Extractor.extract_stream(text)`` yields :class:`StreamUpdate` s. Each carries the
value so far (``data`` as JSON, ``value`` as a partial instance of the output
type with the fields not yet complete set to ``None``) and, when a string is
still being written, its path (``in_progress``). Within one stream a later update
only adds fields or items, or extends the string in progress (see
:mod:`extractkit.partials`). The last update has ``done=True`` and the
``extraction``: the value validated exactly as ``extract()`` validates it, with
usage, cost and the recorded exchange.

A re-ask (the answer did not validate) or a transport retry of a broken stream
(cut, stalled, dropped) starts a new stream: ``attempt`` goes up and the value
starts again from nothing. That is the one place where an update may drop what an
earlier one showed; check ``attempt`` if you display partials.

A backend without ``stream()`` (see :class:`~extractkit.backends.StreamingChatBackend`)
is called once with ``complete()``; the stream is then the final update alone.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from extractkit.bookkeeping import ExtractionRun
from extractkit.exceptions import BackendConnectionError, BackendError, BackendTimeoutError
from extractkit.messages import ChatDelta, ChatResponse, ToolCall, Usage
from extractkit.output import WRAPPER_KEY
from extractkit.partials import PartialView, Path, extends, typed_partial
from extractkit.results import Extraction
from extractkit.retries import Deadline, _retryable

if TYPE_CHECKING:
    from extractkit.extractor import Extractor, HistoryItem

__all__ = ["StreamUpdate", "stream_extraction"]

OutputT = TypeVar("OutputT")
T = TypeVar("T")

logger = logging.getLogger("extractkit.streaming")


class StreamUpdate(Generic[OutputT]):
    """One step of a streamed extraction.

    Attributes:
        data: The value so far as JSON (dicts, lists, scalars): only complete values,
            plus the string in progress. ``None`` until something is shown. On the
            final update, the whole answer's JSON.
        in_progress: Path in ``data`` of the string still being written (its text so
            far is shown), or ``None``.
        attempt: Which stream this update belongs to (1 = the first; a re-ask or a
            retried broken stream starts the next, from nothing).
        done: True on the last update, the one that carries ``extraction``.
        extraction: On the last update, what ``extract_detailed()`` returns.
        revised: On the last update, True when the final value does not extend the
            last partial shown (only possible when repair re-read the answer at its
            end); the final value is the right one.
    """

    __slots__ = ("_output_type", "_value", "attempt", "data", "done", "extraction", "in_progress", "revised")

    def __init__(
        self,
        data: Any,
        in_progress: Path | None,
        attempt: int,
        output_type: Any,
        *,
        extraction: Extraction[OutputT] | None = None,
        revised: bool = False,
    ) -> None:
        self.data = data
        self.in_progress = in_progress
        self.attempt = attempt
        self.done = extraction is not None
        self.extraction = extraction
        self.revised = revised
        self._output_type = output_type
        self._value: Any = _UNSET

    @property
    def value(self) -> OutputT | None:
        """The value: on the last update the validated one; before it, a partial instance.

        A partial pydantic model is built without validation (``model_construct``);
        fields not yet complete are ``None``, and the string at ``in_progress`` may
        still grow. Other output types get ``data`` as it is.
        """
        if self.extraction is not None:
            return self.extraction.value
        if self._value is _UNSET:
            self._value = typed_partial(self._output_type, self.data)
        return self._value  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        state = "done" if self.done else f"in_progress={self.in_progress!r}"
        return f"StreamUpdate(attempt={self.attempt}, {state}, data={self.data!r})"


_UNSET: Any = object()


async def stream_extraction(
    extractor: Extractor[OutputT], text: str, history: Any = None
) -> AsyncGenerator[StreamUpdate[OutputT], None]:
    """The loop behind :meth:`Extractor.extract_stream` (same rules as ``extract_detailed``)."""
    started = time.perf_counter()
    history = _history(history)
    output_type = extractor._output_type()
    backend, gate = extractor._resolve_backend(extractor.resolve_model())
    stream = getattr(backend, "stream", None)
    if stream is None:
        extraction = await extractor.extract_detailed(text, history=history)
        spec = extractor.spec
        data = _unwrap(spec.dump(extraction.value), spec.wrapped)
        yield StreamUpdate(data, None, 1, output_type, extraction=extraction)
        return
    ref, ctx = extractor._context(text, history)
    base = extractor._request(ref, ctx)
    from extractkit.extractor import _raw_answer, _reask_turns
    from extractkit.repair import StreamingParser

    cfg = extractor.settings.extractor(extractor.name)
    max_attempts = extractor._max_attempts or cfg.max_attempts or extractor.max_attempts
    seconds = extractor._deadline_seconds(cfg, base.timeout, backend)
    deadline = None if seconds == math.inf else Deadline(seconds)
    policy = extractor.retry
    retryable = _retryable(policy)
    wrapped = ctx.spec.wrapped
    run = ExtractionRun(extractor, ref, ctx, started)
    usage = Usage()
    request = base
    raw: str | None = None
    attempts = 0
    streams = 0
    failures = 0  # transport failures of the current request
    while True:
        streams += 1
        view = PartialView(wrapped=wrapped)
        parser = StreamingParser(ctx.spec.schema)
        answer = _Answer()
        try:
            if gate is not None:
                await _within(deadline, gate.acquire())
            deltas = stream(request)
            try:
                while True:
                    # The deadline bounds each wait for the next piece, never the caller's
                    # own work between updates.
                    try:
                        delta = await _within(deadline, anext(deltas))
                    except StopAsyncIteration:
                        break
                    piece = answer.add(delta)
                    if piece and view.update(parser.feed(piece)):
                        yield StreamUpdate(view.data, view.in_progress, streams, output_type)
            finally:
                try:
                    # A caller that stops early ends the HTTP stream now, not when collected.
                    close = getattr(deltas, "aclose", None)
                    if close is not None:
                        await close()
                finally:
                    if gate is not None:
                        gate.release()
            if answer.finish_reason is None:
                raise BackendConnectionError(
                    f"{backend.name}: the stream ended before the answer did (no finish_reason): "
                    "the connection was cut mid-answer"
                )
        except BackendError as exc:
            failures += 1
            past_deadline = isinstance(exc, BackendTimeoutError) and exc.bound == "deadline"
            if past_deadline or failures >= policy.max_attempts or not retryable(exc):
                run.note(request, raw, usage, attempts)
                run.record(value=None, error=exc, repairs=())
                raise
            wait = policy.wait_for(exc, failures)
            if deadline is not None and wait >= deadline.remaining():
                err = deadline.exceeded(f"before restarting stream {streams + 1} (after {exc})")
                run.note(request, raw, usage, attempts)
                run.record(value=None, error=err, repairs=())
                raise err from exc
            logger.info(
                "%s stream %d failed (%s); restarting it in %.2f s (transport try %d of %d)",
                ref,
                streams,
                exc,
                wait,
                failures + 1,
                policy.max_attempts,
            )
            await policy.sleep(wait)
            continue
        if view.broken:
            logger.debug("stream %d: the parser re-read a value already shown; partials stopped", streams)
        failures = 0
        response = answer.response()
        attempts += 1
        usage = usage + (response.usage or Usage())
        raw = _raw_answer(response)
        run.note(request, raw, usage, attempts, response.finish_reason)
        verdict = extractor._judge(response, raw, ctx, run)
        if verdict.ok:
            extraction = await run.succeed(verdict.value, verdict.repairs)
            final = _unwrap(verdict.parsed, wrapped)
            revised = not extends(view.data, final, view.in_progress)
            yield StreamUpdate(final, None, streams, output_type, extraction=extraction, revised=revised)
            return
        if attempts >= max_attempts:
            raise extractor._give_up(run, ref, verdict, attempts)
        extractor._log_reask(ref, attempts, max_attempts, verdict.errors)
        request = replace(base, messages=base.messages + _reask_turns(response, raw, verdict))


async def _within(deadline: Deadline | None, awaitable: Awaitable[T]) -> T:
    """Await within the call's deadline (its BackendTimeoutError when it passes)."""
    if deadline is None:
        return await awaitable
    return await deadline.bound(awaitable)


class _Answer:
    """The pieces of one streamed answer, gathered into the ChatResponse ``complete()`` would give."""

    __slots__ = (
        "arguments",
        "call_id",
        "finish_reason",
        "model",
        "name",
        "refusal",
        "response_id",
        "source",
        "text",
        "usage",
    )

    def __init__(self) -> None:
        self.text: list[str] = []
        self.arguments: list[str] = []
        self.refusal: list[str] = []
        self.call_id: str | None = None
        self.name: str | None = None
        self.finish_reason: Any = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.response_id: str | None = None
        self.source = ""  # "text" or "tool": which pieces the parser reads (the first to arrive)

    def add(self, delta: ChatDelta) -> str:
        """Take one delta; return the piece of JSON text it adds ('' if none)."""
        if delta.usage is not None:
            self.usage = delta.usage
        if delta.finish_reason is not None:
            self.finish_reason = delta.finish_reason
        if delta.model is not None:
            self.model, self.response_id = delta.model, delta.response_id
        if delta.refusal:
            self.refusal.append(delta.refusal)
        if delta.tool_call_id is not None:
            self.call_id, self.name = delta.tool_call_id, delta.tool_name
        piece = ""
        if delta.tool_arguments:
            self.arguments.append(delta.tool_arguments)
            if self.source != "text":
                self.source, piece = "tool", delta.tool_arguments
        if delta.text:
            self.text.append(delta.text)
            if self.source != "tool":
                self.source, piece = "text", delta.text
        return piece

    def response(self) -> ChatResponse:
        calls: tuple[ToolCall, ...] = ()
        if self.call_id is not None or self.arguments:
            calls = (ToolCall(self.call_id or "", self.name or "", "".join(self.arguments)),)
        return ChatResponse(
            text="".join(self.text) or None,
            finish_reason=self.finish_reason,
            usage=self.usage,
            tool_calls=calls,
            refusal="".join(self.refusal) or None,
            model=self.model,
            response_id=self.response_id,
        )


def _unwrap(value: Any, wrapped: bool) -> Any:
    if wrapped and isinstance(value, dict) and WRAPPER_KEY in value:
        return value[WRAPPER_KEY]
    return value


def _history(history: Any) -> list[HistoryItem] | None:
    return None if history is None else list(history)
