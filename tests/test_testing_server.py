"""ScriptedChatServer driven over real HTTP by the official openai client."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import openai
import pytest

from extractkit.messages import Usage
from extractkit.testing.openapi import spec_validator
from extractkit.testing.server import RecordedRequest, Reply, ScriptedChatServer, Streamed

USER = [{"role": "user", "content": "graphic designer in New York"}]


def sync_client(srv: ScriptedChatServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0, **kwargs)


def async_client(srv: ScriptedChatServer, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=srv.base_url, api_key="test", max_retries=0, **kwargs)


async def test_json_reply_reaches_the_async_client_and_the_request_is_recorded() -> None:
    def handler(req: RecordedRequest) -> Reply:
        return Reply.json({"city": req.last_user_text.split(" in ")[-1]})

    async with ScriptedChatServer(handler) as srv, async_client(srv) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, response_format={"type": "json_object"}
        )
    choice = completion.choices[0]
    assert json.loads(choice.message.content or "") == {"city": "New York"}
    assert choice.finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion._request_id is not None and completion._request_id.startswith("req_")
    (req,) = srv.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.headers["authorization"] == "Bearer test"
    assert req.body["response_format"] == {"type": "json_object"}
    assert json.loads(req.raw) == req.body


def test_sync_client_and_a_handler_returning_text() -> None:
    with ScriptedChatServer(lambda req: f"echo: {req.last_user_text}") as srv, sync_client(srv) as client:
        completion = client.chat.completions.create(model="gpt-4o", messages=USER)
    assert completion.choices[0].message.content == "echo: graphic designer in New York"
    assert completion.model == "gpt-4o"


def test_length_truncation_is_reported() -> None:
    script = [Reply.text('{"city": "New', finish_reason="length")]
    with ScriptedChatServer(script) as srv, sync_client(srv) as client:
        choice = client.chat.completions.create(model="m", messages=USER).choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content == '{"city": "New'


async def test_tool_calls_carry_names_and_json_arguments() -> None:
    reply = Reply(
        tool_calls=[("extract", {"city": "Paris"}), ("log", '{"n": 1}')], finish_reason="tool_calls"
    )
    async with ScriptedChatServer([reply]) as srv, async_client(srv) as client:
        choice = (await client.chat.completions.create(model="m", messages=USER)).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("extract", {"city": "Paris"}),
        ("log", {"n": 1}),
    ]
    assert len({c.id for c in calls}) == 2


async def test_refusal_is_reported_without_content() -> None:
    async with ScriptedChatServer([Reply(refusal="I can't help with that.")]) as srv, async_client(srv) as c:
        message = (await c.chat.completions.create(model="m", messages=USER)).choices[0].message
    assert message.refusal == "I can't help with that."
    assert message.content is None


def test_explicit_usage_and_model_are_reported() -> None:
    reply = Reply.text(
        "ok", usage=Usage(prompt_tokens=120, completion_tokens=7, cached_prompt_tokens=64), model="x-1"
    )
    with ScriptedChatServer([reply]) as srv, sync_client(srv) as client:
        completion = client.chat.completions.create(model="m", messages=USER)
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (120, 7, 127)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 64
    assert completion.model == "x-1"


def test_rough_usage_grows_with_the_prompt_and_the_answer() -> None:
    with ScriptedChatServer(lambda req: "x" * len(req.last_user_text)) as srv, sync_client(srv) as client:
        short = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        long = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi " * 200}])
    assert short.usage is not None and long.usage is not None
    assert long.usage.prompt_tokens > short.usage.prompt_tokens + 100
    assert long.usage.completion_tokens > short.usage.completion_tokens + 100


async def test_rate_limit_error_carries_retry_after() -> None:
    script = [Reply.error(429, "Rate limit reached", retry_after=2)]
    async with ScriptedChatServer(script) as srv, async_client(srv) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model="m", messages=USER)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "2"
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == "Rate limit reached"


def test_server_error_and_fractional_retry_after() -> None:
    script = [Reply.error(500, "boom", retry_after=0.5, code="internal")]
    with (
        ScriptedChatServer(script) as srv,
        sync_client(srv) as client,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        client.chat.completions.create(model="m", messages=USER)
    assert caught.value.response.headers["retry-after"] == "0.5"
    assert caught.value.code == "internal"
    assert caught.value.type == "server_error"


def test_api_key_is_checked_when_set() -> None:
    with ScriptedChatServer(lambda req: "ok", api_key="sk-right") as srv:
        with sync_client(srv) as wrong, pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model="m", messages=USER)
        with openai.OpenAI(base_url=srv.base_url, api_key="sk-right", max_retries=0) as right:
            assert right.chat.completions.create(model="m", messages=USER).choices[0].message.content == "ok"


async def test_delay_past_the_client_timeout_ends_fast_and_does_not_block_shutdown() -> None:
    srv = ScriptedChatServer([Reply.slow(30, "too late")])
    started = time.perf_counter()
    async with srv, async_client(srv, timeout=0.2) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=USER)
    # The reply was still sleeping when the server stopped; stopping woke it.
    assert time.perf_counter() - started < 3


def test_dropped_connection_is_a_connection_error() -> None:
    with ScriptedChatServer([Reply.drop(), "recovered"]) as srv, sync_client(srv) as client:
        with pytest.raises(openai.APIConnectionError) as caught:
            client.chat.completions.create(model="m", messages=USER)
        assert not isinstance(caught.value, openai.APITimeoutError)
        assert (
            client.chat.completions.create(model="m", messages=USER).choices[0].message.content == "recovered"
        )


async def test_concurrent_slow_requests_are_not_serialised() -> None:
    latency = 0.2
    async with ScriptedChatServer(lambda req: "ok", latency=latency) as srv, async_client(srv) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(client.chat.completions.create(model="m", messages=USER) for _ in range(50))
        )
        elapsed = time.perf_counter() - started
    assert all(r.choices[0].message.content == "ok" for r in results)
    assert latency <= elapsed < 6 * latency, f"50 requests took {elapsed:.2f}s; serialised would be 10s"


def test_a_script_answers_in_order_then_fails_loudly() -> None:
    with ScriptedChatServer(["first", Reply.json([1, 2])]) as srv, sync_client(srv) as client:
        answers = [client.chat.completions.create(model="m", messages=USER).choices[0].message.content]
        answers.append(client.chat.completions.create(model="m", messages=USER).choices[0].message.content)
        assert srv.pending == 0
        with pytest.raises(openai.InternalServerError, match="ran out after 2 replies"):
            client.chat.completions.create(model="m", messages=USER)
    assert answers == ["first", "[1,2]"]
    assert len(srv.handler_errors) == 1


def test_a_handler_returning_a_list_scripts_the_following_calls() -> None:
    calls: list[str] = []

    def handler(req: RecordedRequest) -> list[Reply | str]:
        calls.append(req.last_user_text)
        return [Reply.error(429, "slow down"), "second"]

    with ScriptedChatServer(handler) as srv, sync_client(srv) as client:
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=USER)
        assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content == "second"
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=USER)
    assert len(calls) == 2


def test_handler_exceptions_answer_500_and_are_kept() -> None:
    def handler(req: RecordedRequest) -> str:
        raise KeyError("no such fixture")

    with (
        ScriptedChatServer(handler) as srv,
        sync_client(srv) as client,
        pytest.raises(openai.InternalServerError, match="KeyError"),
    ):
        client.chat.completions.create(model="m", messages=USER)
    assert [type(e) for e in srv.handler_errors] == [KeyError]


async def test_async_handlers_are_awaited() -> None:
    async def handler(req: RecordedRequest) -> str:
        await asyncio.sleep(0)
        return "from a coroutine"

    async with ScriptedChatServer(handler) as srv, async_client(srv) as client:
        completion = await client.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "from a coroutine"


def test_models_are_listed_and_unknown_routes_are_404() -> None:
    with ScriptedChatServer(models=["gpt-4o-mini", "ft:gpt-4o-mini:org::abc"]) as srv, sync_client(srv) as c:
        assert [m.id for m in c.models.list().data] == ["gpt-4o-mini", "ft:gpt-4o-mini:org::abc"]
        with pytest.raises(openai.NotFoundError, match="Invalid URL"):
            c.completions.create(model="m", prompt="legacy endpoint")


def test_streams_server_sent_events_the_official_client_reads() -> None:
    reply = Reply.json({"city": "Zürich ☃"}, usage=Usage(11, 7), streaming=Streamed(chunk_size=3))
    with ScriptedChatServer([reply], validate=spec_validator) as srv, sync_client(srv) as client:
        chunks = list(
            client.chat.completions.create(
                model="m", messages=USER, stream=True, stream_options={"include_usage": True}
            )
        )
        assert srv.spec_errors == []  # the stream=true body matched the OpenAPI spec
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"city": "Zürich ☃"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (11, 7)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == -(-len(text) // 3)


def test_streamed_tool_calls_and_no_usage_unless_asked() -> None:
    reply = Reply(tool_calls=[("record", {"a": 1})], finish_reason="tool_calls")
    with ScriptedChatServer([reply]) as srv, sync_client(srv) as client:
        chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
    calls = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert calls[0].function is not None and calls[0].function.name == "record" and calls[0].id
    assert json.loads("".join((c.function.arguments or "") if c.function else "" for c in calls)) == {"a": 1}
    assert all(c.usage is None for c in chunks)


def test_stream_faults_cut_abort_and_split_bytes() -> None:
    cut = Reply.text("abcdefghij", streaming=Streamed(chunk_size=2, cut_after=2))
    abort = Reply.text("abcdefghij", streaming=Streamed(chunk_size=2, cut_after=2, abort=True))
    split = Reply.text('"é☃\\u00e9"', streaming=Streamed(chunks=['"é', "☃\\", 'u00e9"'], split_inside=True))
    with ScriptedChatServer([cut, abort, split]) as srv, sync_client(srv) as client:
        pieces = [c.choices[0] for c in client.chat.completions.create(model="m", messages=USER, stream=True)]
        assert "".join(p.delta.content or "" for p in pieces) == "abcd"  # cut: no finish reason, no [DONE]
        assert all(p.finish_reason is None for p in pieces)
        with pytest.raises(openai.APIConnectionError):
            list(client.chat.completions.create(model="m", messages=USER, stream=True))
        chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == '"é☃\\u00e9"'
    assert Streamed(split_inside=True).writes("é\\n".encode()) == [b"\xc3", b"\xa9\\", b"n"]


def test_spec_validation_hook_answers_400_and_records_errors() -> None:
    with ScriptedChatServer(lambda req: "ok", validate=spec_validator) as srv, sync_client(srv) as client:
        assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content == "ok"
        assert srv.spec_errors == []
        with pytest.raises(openai.BadRequestError, match="response_format"):
            client.chat.completions.create(
                model="m",
                messages=USER,
                response_format={"type": "xml"},  # type: ignore[arg-type, misc]
            )
    assert len(srv.spec_errors) == 1
    assert srv.spec_errors[0].startswith("POST /v1/chat/completions: $.response_format")


def test_raw_http_chunked_body_query_and_connection_close() -> None:
    with ScriptedChatServer(["chunked ok"]) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        try:
            body = json.dumps({"model": "m", "messages": USER}).encode()
            conn.request(
                "POST",
                "/v1/chat/completions?trace=1&flag",
                body=iter([body[:10], body[10:]]),
                headers={"Content-Type": "application/json", "Connection": "close"},
                encode_chunked=True,
            )
            response = conn.getresponse()
            payload = json.loads(response.read())
            assert response.status == 200
            assert response.getheader("connection") == "close"
            conn.request("POST", "/v1/chat/completions", body=b"{not json", headers={"Connection": "close"})
            bad = conn.getresponse()
            assert bad.status == 400
            assert "not valid JSON" in json.loads(bad.read())["error"]["message"]
        finally:
            conn.close()
    assert payload["choices"][0]["message"]["content"] == "chunked ok"
    assert srv.requests[0].query == {"trace": "1", "flag": ""}
    assert srv.requests[0].headers["transfer-encoding"] == "chunked"


def test_binds_loopback_only_and_leaves_no_thread_or_listener() -> None:
    before = {t.ident for t in threading.enumerate()}
    with ScriptedChatServer(["ok"]) as srv, sync_client(srv) as client:
        port = srv.port
        assert srv.base_url == f"http://127.0.0.1:{port}/v1"
        client.chat.completions.create(model="m", messages=USER)  # leaves a keep-alive connection open
        assert {t.ident for t in threading.enumerate()} - before
    assert {t.ident for t in threading.enumerate()} - before == set()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(RuntimeError, match="not running"):
        _ = srv.base_url


def test_a_busy_port_fails_start_in_the_callers_thread() -> None:
    with ScriptedChatServer() as first, pytest.raises(OSError):
        ScriptedChatServer(port=first.port).start()


def test_importing_the_server_does_not_import_openai_or_jsonschema() -> None:
    code = (
        "import sys, extractkit.testing.server\n"
        "heavy = {'openai', 'jsonschema', 'httpx'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
