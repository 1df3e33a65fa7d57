"""A real OpenAI-compatible HTTP server on 127.0.0.1, scripted by a function.

Tests (and users testing their own code) point the official ``openai`` client,
or anything else that speaks the chat-completions protocol, at it::

    import openai
    from extractkit.testing.server import Reply, ScriptedChatServer

    def handler(req):
        return Reply.json({"city": "Paris"}) if "Paris" in req.last_user_text else "no idea"

    with ScriptedChatServer(handler) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
        ...
        assert srv.requests[0].body["model"] == "gpt-4o-mini"

A handler gets each chat-completion request (a :class:`RecordedRequest`) and
returns a :class:`Reply`, a string (the assistant's text) or a list of replies
(this call's answer followed by the answers to the next calls). A plain list
instead of a handler scripts the calls in order. Replies can also be errors
with headers (``Retry-After``), slow answers and dropped connections. A request
with ``"stream": true`` is answered with server-sent events, split and faulted
as the reply's :class:`~extractkit.testing.sse.Streamed` says.

The server is an asyncio loop in its own daemon thread: slow replies wait
without holding a thread each, so hundreds of concurrent requests with injected
latency finish in about one latency. Handlers run on that loop: keep them fast
(use ``Reply.delay`` for slowness) or make them ``async``. Routes live in a
table (:meth:`ScriptedChatServer.add_route`) so more endpoints can be served.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any, TypeAlias
from urllib.parse import parse_qsl

from extractkit.messages import Usage
from extractkit.testing.sse import Streamed, chunk_events

__all__ = ["RecordedRequest", "Reply", "RouteHandler", "ScriptedChatServer", "Streamed", "Validator"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request as the server received it.

    Args:
        method: Upper-case HTTP method.
        path: The path without the query string, e.g. ``/v1/chat/completions``.
        headers: Header names lower-cased; repeated headers joined with ``", "``.
        body: The parsed JSON body, or ``None`` (no body, or not JSON).
        raw: The body bytes as sent.
        query: Query-string parameters (last value wins).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    query: dict[str, str] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the body (empty when there are none)."""
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return messages if isinstance(messages, list) else []

    @property
    def last_user_text(self) -> str:
        """Text of the last ``user`` message (text parts joined), or ``""``."""
        for message in reversed(self.messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of(message.get("content"))
        return ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error"}
_ERROR_TYPES |= {404: "invalid_request_error", 409: "conflict_error", 422: "invalid_request_error"}
_ERROR_TYPES |= {429: "requests"}


@dataclass(frozen=True)  # no slots: ``Reply.drop()`` lives beside the ``drop`` field (end of module)
class Reply:
    """What the server answers to one request.

    By default a ``chat.completion`` built from ``content``, ``finish_reason``,
    ``tool_calls``, ``refusal``, ``usage`` and ``model``. ``status >= 400``
    answers an OpenAI-shaped error instead; ``body`` answers that JSON verbatim
    (for other endpoints or deliberately odd completions); ``drop`` closes the
    connection without answering.

    Args:
        content: The assistant's text (``None`` for tool calls or refusals).
        finish_reason: ``stop``, ``length``, ``tool_calls``, ``content_filter``...
        tool_calls: ``(name, arguments)`` pairs; arguments as JSON text, or a
            mapping that is serialised for you.
        refusal: The refusal text (structured outputs).
        usage: Token counts to report; ``None`` reports a rough count.
        model: The model name to report; ``None`` echoes the request's.
        status: HTTP status.
        error_message: The error message when ``status >= 400``.
        error_type: The error ``type``; ``None`` picks one from the status.
        error_code: The error ``code``.
        headers: Extra response headers, e.g. ``{"Retry-After": "2"}``.
        delay: Seconds to wait before answering; ``None`` uses the server's latency.
        drop: Close the connection without any response.
        body: A JSON value sent as the response body, verbatim.
        streaming: How to stream the answer when the request asks for ``stream=true``
            (pieces and faults, see :class:`~extractkit.testing.sse.Streamed`);
            ``None`` sends four characters a chunk.
    """

    content: str | None = None
    finish_reason: str = "stop"
    tool_calls: Sequence[tuple[str, str | Mapping[str, Any]]] = ()
    refusal: str | None = None
    usage: Usage | None = None
    model: str | None = None
    status: int = 200
    error_message: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float | None = None
    drop: bool = False
    body: Any = None
    streaming: Streamed | None = None

    @classmethod
    def text(cls, content: str, **fields: Any) -> Reply:
        """A completion whose assistant content is ``content``."""
        return cls(content=content, **fields)

    @classmethod
    def json(cls, value: Any, **fields: Any) -> Reply:
        """A completion whose assistant content is ``value`` serialised as JSON."""
        return cls(content=_dumps(value), **fields)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "scripted error",
        retry_after: float | None = None,
        *,
        type: str | None = None,  # the name OpenAI's error body uses
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        delay: float | None = None,
    ) -> Reply:
        """An HTTP error in OpenAI's shape; ``retry_after`` seconds set ``Retry-After``."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = (
                str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
            )
        return cls(
            status=status, error_message=message, error_type=type, error_code=code, headers=extra, delay=delay
        )

    @classmethod
    def drop_connection(cls, delay: float | None = None) -> Reply:
        """Close the connection without answering (the client sees a connection error).

        ``Reply.drop()`` is the same constructor.
        """
        return cls(drop=True, delay=delay)

    @classmethod
    def slow(cls, seconds: float, reply: Reply | str = "") -> Reply:
        """``reply`` (a Reply or assistant text) answered after ``seconds``."""
        base = reply if isinstance(reply, Reply) else cls(content=reply)
        return replace(base, delay=seconds)

    @classmethod
    def raw(cls, body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        """Answer ``body`` (any JSON value) verbatim with ``status``."""
        return cls(body=body, status=status, headers=dict(headers or {}))


ReplyLike: TypeAlias = "Reply | str | Sequence[Reply | str]"
Handler: TypeAlias = "Callable[[RecordedRequest], ReplyLike | Awaitable[ReplyLike]]"
Validator: TypeAlias = "Callable[[str, str, Any], list[str]]"
RouteHandler: TypeAlias = "Callable[[RecordedRequest, dict[str, str]], Reply | Awaitable[Reply]]"


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: RouteHandler


class ScriptedChatServer:
    """An OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

    Use as a (sync or async) context manager, or call :meth:`start` and
    :meth:`stop`. Serves ``POST /v1/chat/completions`` and ``GET /v1/models``.

    Args:
        handler: A function from :class:`RecordedRequest` to a reply (see the
            module docstring), or a list of replies answered in order.
        latency: Seconds every reply waits unless it sets its own ``delay``.
        api_key: When set, requests without ``Authorization: Bearer <api_key>`` get 401.
        validate: Called as ``validate(method, path, body)`` for every routed
            request; errors it returns are kept in :attr:`spec_errors` and
            answered with 400 (``extractkit.testing.openapi.spec_validator`` fits).
        models: Model ids that ``GET /v1/models`` lists.
        port: TCP port; 0 picks a free one.

    Attributes:
        requests: Every request received, in arrival order.
        spec_errors: ``"METHOD /path: error"`` for each validation failure.
        handler_errors: Exceptions the handler raised (each answered with 500),
            and a ``RuntimeError`` when a script ran out of replies.
    """

    def __init__(
        self,
        handler: Handler | Sequence[Reply | str] | None = None,
        *,
        latency: float = 0.0,
        api_key: str | None = None,
        validate: Validator | None = None,
        models: Sequence[str] = ("gpt-4o-mini",),
        port: int = 0,
    ) -> None:
        self._handler: Handler | None = None
        self._queue: deque[Reply] = deque()
        if callable(handler):
            self._handler = handler
        elif handler is not None:
            self.enqueue(*handler)
        self.latency = latency
        self.api_key = api_key
        self.validate = validate
        self.models = tuple(models)
        self.requests: list[RecordedRequest] = []
        self.spec_errors: list[str] = []
        self.handler_errors: list[BaseException] = []
        self._requested_port = port
        self._port: int | None = None
        self._routes: list[_Route] = []
        self._ids = itertools.count(1)
        self._scripted = 0  # replies given by the script or handler, for error messages
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.add_route("POST", "/v1/chat/completions", self._chat_completions)
        self.add_route("GET", "/v1/models", self._list_models)

    # -- public surface ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError(
                "ScriptedChatServer is not running; use it as a context manager or call start()"
            )
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, the value for the client's ``base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pending(self) -> int:
        """Scripted replies not answered yet."""
        return len(self._queue)

    def enqueue(self, *replies: Reply | str) -> None:
        """Queue replies for the next chat requests, ahead of the handler."""
        self._queue.extend(_as_reply(r) for r in replies)

    def add_route(self, method: str, template: str, handler: RouteHandler) -> None:
        """Serve ``method template`` with ``handler(request, path_params)``.

        ``template`` is a path such as ``/v1/batches/{batch_id}``; each ``{name}``
        matches one path segment and reaches the handler in ``path_params``.
        The handler returns a :class:`Reply` (usually ``Reply.raw(...)``), or
        an awaitable of one. Later routes for the same path take precedence.
        """
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        self._routes.insert(0, _Route(method.upper(), re.compile(pattern), handler))

    def start(self) -> ScriptedChatServer:
        """Bind the port and serve in a background thread; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("ScriptedChatServer is already started")
        self._thread = threading.Thread(target=self._run, name="ScriptedChatServer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection (slow replies included) and join the thread."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            # The loop may finish between the check and the call; then there is nothing to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"ScriptedChatServer thread did not stop within {timeout} s")
        self._thread = None
        self._port = None

    def __enter__(self) -> ScriptedChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ScriptedChatServer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    async def next_reply(self, request: RecordedRequest) -> Reply:
        """The reply to ``request``: the queue first, then the handler."""
        if not self._queue:
            if self._handler is None:
                error = RuntimeError(f"ScriptedChatServer: the script ran out after {self._scripted} replies")
                self.handler_errors.append(error)
                return Reply.error(500, str(error), type="server_error")
            result = self._handler(request)
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, Reply | str):
                self._scripted += 1
                return _as_reply(result)
            if not result:
                raise ValueError("the handler returned an empty list of replies")
            self.enqueue(*result)
        self._scripted += 1
        return self._queue.popleft()

    # -- routes -----------------------------------------------------------------------

    async def _chat_completions(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        return await self.next_reply(request)

    def _list_models(self, request: RecordedRequest, params: dict[str, str]) -> Reply:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "extractkit-testing"} for m in self.models
        ]
        return Reply.raw({"object": "list", "data": data})

    # -- serving ----------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            server = await asyncio.start_server(
                self._serve_connection, "127.0.0.1", self._requested_port, backlog=1024
            )
        except BaseException as exc:  # handed to start(), which re-raises it in the caller's thread
            self._startup_error = exc
            self._ready.set()
            return
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            # Closing the sockets ends idle keep-alive reads; slow replies wake on
            # ``_stopping``. Only a handler stuck in its own await needs cancelling.
            for writer in self._connections.values():
                writer.transport.abort()
            if self._connections:
                _, stuck = await asyncio.wait(set(self._connections), timeout=1.0)
                for task in stuck:
                    task.cancel()
                if stuck:
                    await asyncio.wait(stuck)
            await server.wait_closed()
            self._ready.clear()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request or mid-answer
        except asyncio.CancelledError:
            # Only stop() cancels; ending quietly keeps Python 3.11's stream
            # callback from logging the cancellation as an error.
            if self._stopping is None or not self._stopping.is_set():
                raise
        finally:
            del self._connections[task]
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read and answer one request; return whether the connection stays open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # the client closed an idle keep-alive connection
        except asyncio.LimitOverrunError:
            writer.write(_http(431, {}, b""))
            return False
        lines = head[:-4].decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            writer.write(_http(400, {}, b""))
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raw = await _read_chunked(reader)
        else:
            length = int(headers.get("content-length") or 0)
            raw = await reader.readexactly(length) if length else b""
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)

        reply = await self._dispatch(method.upper(), target, headers, raw)
        if reply is None:
            writer.transport.abort()
            return False
        if isinstance(reply, _StreamedAnswer):
            return await self._write_stream(writer, reply, keep_alive)
        status, extra, body = reply
        if not keep_alive:
            extra["Connection"] = "close"
        writer.write(_http(status, extra, body))
        await writer.drain()
        return keep_alive

    async def _dispatch(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes] | _StreamedAnswer | None:
        """Answer one request as (status, headers, body), a stream, or ``None`` to drop it."""
        path, _, query_string = target.partition("?")
        body, bad_json = _parse_body(headers, raw)
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        request = RecordedRequest(method, path, headers, body, raw, query)
        self.requests.append(request)

        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return self._render(
                request, Reply.error(401, "Incorrect API key provided.", code="invalid_api_key")
            )
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is not None and route.method == method:
                break
        else:
            return self._render(request, Reply.error(404, f"Invalid URL ({method} {path})"))
        if bad_json:
            return self._render(request, Reply.error(400, "The request body is not valid JSON."))
        if self.validate is not None:
            errors = self.validate(method, path, body)
            if errors:
                self.spec_errors.extend(f"{method} {path}: {e}" for e in errors)
                message = "The request does not match the OpenAPI spec: " + "; ".join(errors)
                return self._render(request, Reply.error(400, message, code="spec_violation"))
        try:
            result = route.handler(request, match.groupdict())
            reply = await result if inspect.isawaitable(result) else result
        except Exception as exc:  # a test's handler failing must answer 500, not kill the server
            self.handler_errors.append(exc)
            reply = Reply.error(500, f"handler raised {type(exc).__name__}: {exc}", type="server_error")
        delay = self.latency if reply.delay is None else reply.delay
        if delay > 0 and self._stopping is not None:
            # An Event wait, not a sleep: stop() wakes it, so a slow reply never holds up shutdown.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return None
        if reply.drop:
            return None
        wants_stream = isinstance(request.body, dict) and request.body.get("stream") is True
        if wants_stream and reply.status < 400 and reply.body is None:
            return self._streamed(request, reply)
        return self._render(request, reply)

    def _streamed(self, request: RecordedRequest, reply: Reply) -> _StreamedAnswer:
        n = next(self._ids)
        options = request.body.get("stream_options") if isinstance(request.body, dict) else None
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        streamed = reply.streaming or Streamed()
        events = chunk_events(self._completion(request, reply, n), streamed, include_usage=include_usage)
        return _StreamedAnswer({"x-request-id": f"req_scripted_{n}", **reply.headers}, events, streamed)

    async def _write_stream(
        self, writer: asyncio.StreamWriter, answer: _StreamedAnswer, keep_alive: bool
    ) -> bool:
        """Send a streamed answer as server-sent events over chunked transfer encoding."""
        plan = answer.streamed
        head = {"content-type": "text/event-stream; charset=utf-8", "transfer-encoding": "chunked"}
        head |= answer.headers
        if not keep_alive:
            head["Connection"] = "close"
        lines = ["HTTP/1.1 200 OK", *(f"{name}: {value}" for name, value in head.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        pieces = 0
        for data, is_piece in answer.events:
            if is_piece and pieces == plan.stall_after and plan.stall > 0 and self._stopping is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), plan.stall)
                if self._stopping.is_set():
                    writer.transport.abort()
                    return False
            if is_piece and pieces == plan.cut_after:
                if plan.abort:
                    writer.transport.abort()
                    return False
                break  # end the response here: no finish reason, no usage, no [DONE]
            parts = plan.writes(data)
            for part in parts:
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
                if len(parts) > 1:
                    await asyncio.sleep(0.001)  # let each piece reach the client on its own
            pieces += is_piece
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep_alive

    def _render(self, request: RecordedRequest, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        n = next(self._ids)
        headers = {"x-request-id": f"req_scripted_{n}", **reply.headers}
        if reply.body is not None:
            return reply.status, headers, _dumps(reply.body).encode()
        if reply.status >= 400:
            error = {
                "message": reply.error_message or HTTPStatus(reply.status).phrase,
                "type": reply.error_type or _ERROR_TYPES.get(reply.status, "server_error"),
                "param": None,
                "code": reply.error_code,
            }
            return reply.status, headers, _dumps({"error": error}).encode()
        return reply.status, headers, _dumps(self._completion(request, reply, n)).encode()

    def _completion(self, request: RecordedRequest, reply: Reply, n: int) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.content,
            "refusal": reply.refusal,
            "annotations": [],
        }
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_scripted_{n}_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": args if isinstance(args, str) else _dumps(args)},
                }
                for i, (name, args) in enumerate(reply.tool_calls)
            ]
        usage = reply.usage or Usage(_rough_prompt_tokens(request), _rough_tokens(_completion_text(message)))
        body = request.body if isinstance(request.body, dict) else {}
        model = reply.model or body.get("model") or "scripted"
        return {
            "id": f"chatcmpl-scripted{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
                "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_scripted",
        }


@dataclass(frozen=True, slots=True)
class _StreamedAnswer:
    headers: dict[str, str]
    events: Iterator[tuple[bytes, bool]]
    streamed: Streamed


def _as_reply(value: Reply | str) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply(content=value)
    raise TypeError(f"expected a Reply or a str, got {type(value).__name__}: {value!r}")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _parse_body(headers: Mapping[str, str], raw: bytes) -> tuple[Any, bool]:
    """Return (parsed body, whether it claimed to be JSON but was not)."""
    if not raw:
        return None, False
    content_type = headers.get("content-type", "application/json")
    if "json" not in content_type:
        return None, False
    try:
        return json.loads(raw), False
    except ValueError:
        return None, True


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            # Trailers (rare) end with an empty line like the chunk list does.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _http(status: int, headers: Mapping[str, str], body: bytes) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Scripted"
    lines = [f"HTTP/1.1 {status} {phrase}", f"content-length: {len(body)}"]
    if body:
        lines.append("content-type: application/json")
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _rough_tokens(text: str) -> int:
    # About four characters a token for English; enough for usage arithmetic in tests.
    return (len(text) + 3) // 4


def _rough_prompt_tokens(request: RecordedRequest) -> int:
    texts = [_text_of(m.get("content")) for m in request.messages if isinstance(m, dict)]
    return 3 + sum(4 + _rough_tokens(text) for text in texts)


def _completion_text(message: Mapping[str, Any]) -> str:
    calls = message.get("tool_calls") or []
    parts = [message.get("content") or "", message.get("refusal") or ""]
    parts += [c["function"]["name"] + c["function"]["arguments"] for c in calls]
    return "".join(parts)


# ``Reply.drop()`` beside the ``drop`` field, as scripts naturally write it: a
# classmethod is a non-data descriptor, so on instances the field value (kept
# in the instance dict) wins and ``reply.drop`` stays a bool. Typed code can
# call ``Reply.drop_connection()``, the same constructor.
setattr(Reply, "drop", Reply.__dict__["drop_connection"])  # noqa: B010 - mypy must not see the field replaced
