"""A raw-socket HTTP/1.1 server that misbehaves on purpose: the peer of the fault suite.

:class:`~extractkit.testing.server.ScriptedChatServer` answers like a well-behaved
API. This server writes bytes on a socket itself, so it can do what no framework
lets a server do: drip a response one byte at a time (slowloris headers or body),
read the request and never answer, announce a ``Content-Length`` and close
half-way, announce the wrong length, send a 200 whose body is not a chat
completion, or an error with any headers (``x-should-retry``)::

    from extractkit.testing.faults import Fault, FaultServer, completion

    script = [Fault.drip(completion("hi"), interval=0.5), Fault.json(completion('{"a": 1}'))]
    with FaultServer(script) as srv:
        backend = OpenAIChatBackend(base_url=srv.base_url, timeout=1.0)
        ...
        assert len(srv.requests) == 2

Each connection gets one thread and one answer, then the connection is closed
(the answer says ``Connection: close``): a fault never leaks into the next
request. A script is a list of :class:`Fault` (answered in order) or a function
of the :class:`RawRequest`. :func:`completion` builds a valid
``chat.completion`` body and :func:`with_field` breaks one field of it.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

__all__ = ["DELETE", "Fault", "FaultServer", "RawRequest", "completion", "with_field"]

DELETE: Any = object()
"""Pass to :func:`with_field` to remove the field instead of setting it."""


@dataclass(frozen=True, slots=True)
class RawRequest:
    """One request as the fault server read it off the socket.

    Attributes:
        method: Upper-case method.
        path: The request target.
        headers: Header names lower-cased.
        body: The body bytes.
        received_at: ``time.monotonic()`` when the request was read.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True, slots=True)
class Fault:
    """What the server does with one request.

    Attributes:
        status: HTTP status of the answer.
        headers: Extra headers, in order (``Content-Length`` is written by the server).
        body: The body bytes.
        content_type: The ``Content-Type`` header; ``None`` sends none.
        declared_length: The ``Content-Length`` to announce; ``None`` announces ``len(body)``,
            a negative number announces none (the body then ends when the connection closes).
        send_bytes: Body bytes to send before closing; ``None`` sends the whole body.
        interval: Seconds between single bytes (a drip); ``0`` sends at once.
        drip_from: ``"head"`` drips from the status line, ``"body"`` sends the head at once.
        delay: Seconds to wait before the first byte.
        hang: Read the request and never answer (until the client gives up or the server stops).
        close: Close the connection without answering.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str | None = "application/json"
    declared_length: int | None = None
    send_bytes: int | None = None
    interval: float = 0.0
    drip_from: str = "body"
    delay: float = 0.0
    hang: bool = False
    close: bool = False

    @classmethod
    def json(
        cls, value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None, **fields: Any
    ) -> Fault:
        """Answer ``value`` serialised as JSON."""
        body = json.dumps(value, ensure_ascii=False).encode()
        return cls(status=status, headers=tuple((headers or {}).items()), body=body, **fields)

    @classmethod
    def raw(
        cls,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str | None = "application/json",
        headers: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Fault:
        """Answer these exact body bytes (text is UTF-8 encoded)."""
        data = body.encode() if isinstance(body, str) else body
        return cls(
            status=status,
            headers=tuple((headers or {}).items()),
            body=data,
            content_type=content_type,
            **fields,
        )

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "fault error",
        *,
        type: str | None = None,  # the name OpenAI's error body uses
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """An HTTP error in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``)."""
        error = {"message": message, "type": type or "server_error", "param": None, "code": code}
        return cls.json({"error": error}, status=status, headers=headers)

    @classmethod
    def drip(cls, value: Any, *, interval: float, from_head: bool = False) -> Fault:
        """Answer ``value`` (JSON) one byte every ``interval`` seconds: a slowloris server."""
        return cls.json(value, interval=interval, drip_from="head" if from_head else "body")

    @classmethod
    def never(cls) -> Fault:
        """Read the request and never answer."""
        return cls(hang=True)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering."""
        return cls(close=True)

    @classmethod
    def half_body(cls, value: Any, *, fraction: float = 0.5) -> Fault:
        """Announce the full length of ``value`` (JSON), send ``fraction`` of it and close."""
        body = json.dumps(value).encode()
        return cls(body=body, send_bytes=int(len(body) * fraction))

    @classmethod
    def wrong_length(cls, value: Any, *, declared: int) -> Fault:
        """Send ``value`` (JSON) whole but announce ``declared`` bytes, then close."""
        return cls.json(value, declared_length=declared)

    def wire(self) -> tuple[bytes, bytes]:
        """The head and body bytes this fault writes (the body possibly cut)."""
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Fault"
        lines = [f"HTTP/1.1 {self.status} {phrase}"]
        length = len(self.body) if self.declared_length is None else self.declared_length
        if length >= 0:
            lines.append(f"Content-Length: {length}")
        if self.content_type is not None:
            lines.append(f"Content-Type: {self.content_type}")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = self.body if self.send_bytes is None else self.body[: self.send_bytes]
        return head, body


def completion(
    content: Any = '{"ok": true}',
    *,
    finish_reason: str = "stop",
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
    usage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A valid ``chat.completion`` body (per the OpenAPI spec) with this assistant ``content``."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls is not None:
        message["tool_calls"] = [dict(c) for c in tool_calls]
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": dict(usage or {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}),
    }


def with_field(body: Mapping[str, Any], path: str | Sequence[str | int], value: Any) -> dict[str, Any]:
    """A deep copy of ``body`` with the field at ``path`` set to ``value`` (or removed: DELETE).

    ``path`` is dotted, with list indexes as numbers
    (``with_field(c, "choices.0.message.content", 42)``), or a sequence of steps
    for keys that contain dots themselves (``("choices", 0, "a.b")``).
    """
    out = copy.deepcopy(dict(body))
    steps = path.split(".") if isinstance(path, str) else list(path)
    node: Any = out
    for step in steps[:-1]:
        node = node[int(step)] if isinstance(node, list) else node[step]
    last: Any = int(steps[-1]) if isinstance(node, list) else steps[-1]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return out


Script = Sequence[Fault] | Callable[[RawRequest], Fault]


class FaultServer:
    """A misbehaving HTTP server on 127.0.0.1; a context manager.

    Args:
        script: Faults answered in order (an exhausted script answers 500), or a function
            from the request to its fault.
        port: TCP port; 0 picks a free one.

    Attributes:
        requests: Every request read, in order.
        answered: For each request, ``time.monotonic()`` when the server finished with it.
        client_closed: ``time.monotonic()`` of each unanswered (:meth:`Fault.never`) request
            whose client closed the connection: how fast a caller gave up.
    """

    def __init__(self, script: Script = (), *, port: int = 0) -> None:
        self._queue: deque[Fault] = deque()
        self._handler: Callable[[RawRequest], Fault] | None = None
        if callable(script):
            self._handler = script
        else:
            self._queue.extend(script)
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self.requests: list[RawRequest] = []
        self.answered: list[float] = []
        self.client_closed: list[float] = []

    @property
    def port(self) -> int:
        """The bound port."""
        if self._sock is None:
            raise RuntimeError("FaultServer is not running; use it as a context manager")
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *faults: Fault) -> None:
        """Queue faults for the next requests (ahead of a handler)."""
        self._queue.extend(faults)

    def start(self) -> FaultServer:
        """Bind and accept connections in a daemon thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._requested_port))
        sock.listen(64)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="FaultServer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and every open connection (hanging ones included)."""
        self._stopping.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _close(conn)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._sock is not None
        listener = self._sock
        while not self._stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # stop() closed the socket
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="FaultServer-conn", daemon=True).start()

    def _next_fault(self, request: RawRequest) -> Fault:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self._handler is not None:
            return self._handler(request)
        return Fault.error(500, "FaultServer: the script ran out of faults")

    def _serve(self, conn: socket.socket) -> None:
        try:
            request = _read_request(conn)
            if request is None:
                return
            self.requests.append(request)
            fault = self._next_fault(request)
            if fault.delay and self._stopping.wait(fault.delay):
                return
            if fault.hang:
                self._wait_for_client_close(conn)
                return
            if fault.close:
                return
            head, body = fault.wire()
            if fault.interval <= 0:
                conn.sendall(head + body)
            else:
                if fault.drip_from == "body":
                    conn.sendall(head)
                    data = body
                else:
                    data = head + body
                for i in range(len(data)):
                    conn.sendall(data[i : i + 1])
                    if self._stopping.wait(fault.interval):
                        return
        except OSError:
            pass  # the client gave up (the point of most faults)
        finally:
            self.answered.append(time.monotonic())
            with self._lock:
                self._conns.discard(conn)
            _close(conn)

    def _wait_for_client_close(self, conn: socket.socket) -> None:
        """Hold a request unanswered until the client closes the connection (or the server stops)."""
        conn.settimeout(0.02)
        while not self._stopping.is_set():
            try:
                if not conn.recv(4096):
                    self.client_closed.append(time.monotonic())
                    return
            except TimeoutError:
                continue


def _close(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def _read_request(conn: socket.socket) -> RawRequest | None:
    """Read one request (head, then a Content-Length or chunked body); ``None`` if the client left."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _read_chunked(conn, rest)
    else:
        length = int(headers.get("content-length") or 0)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            rest += chunk
        body = rest[:length]
    return RawRequest(method.upper(), target, headers, body, time.monotonic())


def _read_chunked(conn: socket.socket, data: bytes) -> bytes:
    out = b""
    while True:
        while b"\r\n" not in data:
            data += conn.recv(65536)
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        while len(data) < size + 2:
            chunk = conn.recv(65536)
            if not chunk:
                return out
            data += chunk
        if size == 0:
            return out
        out += data[:size]
        data = data[size + 2 :]
