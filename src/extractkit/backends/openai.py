"""The OpenAI chat-completions backend: OpenAI, Azure OpenAI and any compatible server.

Compatible servers (vLLM, Ollama, llama.cpp's server, Groq, ...) are reached by
``base_url``. The official ``openai`` client is built with ``max_retries=0``:
its own retries would multiply ours (:mod:`extractkit.retries` retries above
the backend). Vendor exceptions are mapped to :mod:`extractkit.exceptions`
here and never escape. The API key is read from the environment variable the
config names and is never logged or stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from extractkit.backends.base import check_destination
from extractkit.config import BackendConfig
from extractkit.exceptions import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    BackendTimeoutError,
    ConfigError,
    HTTPStatusError,
    RateLimitError,
    ServerError,
)
from extractkit.messages import ChatDelta, ChatRequest, ChatResponse, FinishReason, ToolCall, Usage

if TYPE_CHECKING:
    import openai

__all__ = [
    "OpenAIChatBackend",
    "delta_from_json",
    "map_error",
    "provider_message",
    "response_from_json",
    "to_response",
]

_FINISH: dict[str | None, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "function_call",
}

_PLACEHOLDER_KEY = "not-needed"  # compatible local servers ignore the key, the client insists on one


class OpenAIChatBackend:
    """Chat completions over HTTP with the official ``openai`` client.

    Args:
        base_url: A compatible server's endpoint (``http://127.0.0.1:8080/v1``);
            ``None`` means OpenAI itself.
        api_key: The key; prefer ``api_key_env`` so keys stay out of code.
        api_key_env: Environment variable holding the key (default ``OPENAI_API_KEY``).
        timeout: Default seconds per request.
        azure_endpoint: Azure OpenAI resource endpoint; switches to the Azure client.
        api_version: Azure API version (required with ``azure_endpoint``).
        max_tokens_param: ``"max_completion_tokens"`` (OpenAI's current name) or
            ``"max_tokens"`` (what most compatible servers read). Default: the former
            for OpenAI and Azure, the latter for a custom ``base_url``.
        provider: The provider name this backend serves (for messages).
    """

    supports_logit_bias = True

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 60.0,
        azure_endpoint: str | None = None,
        api_version: str | None = None,
        max_tokens_param: str | None = None,
        provider: str = "openai",
    ) -> None:
        self.name = provider
        self.base_url = base_url
        self.azure_endpoint = azure_endpoint
        self.api_version = api_version
        self.timeout = timeout
        self._api_key = api_key
        self._api_key_env = api_key_env
        if max_tokens_param is None:
            max_tokens_param = "max_tokens" if base_url else "max_completion_tokens"
        if max_tokens_param not in ("max_tokens", "max_completion_tokens"):
            raise ConfigError(
                f"max_tokens_param must be 'max_tokens' or 'max_completion_tokens', got {max_tokens_param!r}"
            )
        self._max_tokens_param = max_tokens_param
        if azure_endpoint and not api_version:
            raise ConfigError(
                f"backends.{provider}.api_version is required with azure_endpoint (e.g. '2024-10-21')",
                key=f"backends.{provider}.api_version",
            )
        self._client: openai.AsyncOpenAI | None = None
        # With no base_url the SDK reads OPENAI_BASE_URL; the tripwire must see where
        # requests really go (a local test server), not "the provider default".
        self._env_url = None if base_url or azure_endpoint else os.environ.get("OPENAI_BASE_URL") or None

    @classmethod
    def from_config(cls, config: BackendConfig) -> OpenAIChatBackend:
        """Build from a ``[backends.NAME]`` table."""
        options = dict(config.options)
        max_tokens_param = options.pop("max_tokens_param", None)
        if options:
            raise ConfigError(
                f"backends.{config.provider} has unknown keys for the openai backend: "
                f"{', '.join(sorted(options))}",
                key=f"backends.{config.provider}.{sorted(options)[0]}",
            )
        return cls(
            base_url=config.base_url,
            api_key_env=config.api_key_env,
            timeout=config.timeout,
            azure_endpoint=config.azure_endpoint,
            api_version=config.api_version,
            max_tokens_param=max_tokens_param,
            provider=config.provider,
        )

    def __repr__(self) -> str:  # never show the key
        where = self.azure_endpoint or self.base_url or "api.openai.com"
        return f"OpenAIChatBackend(provider={self.name!r}, endpoint={where!r})"

    def _resolve_key(self) -> str:
        if self._api_key:
            return self._api_key
        if self._api_key_env:
            value = os.environ.get(self._api_key_env)
            if value:
                return value
        if self.base_url:
            return _PLACEHOLDER_KEY
        env = self._api_key_env or "OPENAI_API_KEY"
        raise ConfigError(
            f"no API key for provider {self.name!r}: set the environment variable {env}, or set "
            f"api_key_env in [backends.{self.name}] to the variable that holds it.",
            key=f"backends.{self.name}.api_key_env",
        )

    def client(self) -> openai.AsyncOpenAI:
        """The ``openai`` client (built on first use; shared by files, batches and fine-tuning)."""
        if self._client is None:
            import openai

            key = self._resolve_key()
            if self.azure_endpoint:
                self._client = openai.AsyncAzureOpenAI(
                    api_key=key,
                    azure_endpoint=self.azure_endpoint,
                    api_version=self.api_version,
                    timeout=self.timeout,
                    max_retries=0,
                )
            else:
                self._client = openai.AsyncOpenAI(
                    api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=0
                )
        return self._client

    def build_params(self, request: ChatRequest) -> dict[str, Any]:
        """The keyword arguments for ``chat.completions.create`` (the request body)."""
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [m.to_dict() for m in request.messages],
        }
        fmt = request.response_format
        if fmt is not None and fmt.type != "text":
            if fmt.type == "json_schema":
                params["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": fmt.name or "output", "schema": fmt.schema, "strict": fmt.strict},
                }
            else:
                params["response_format"] = {"type": fmt.type}
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        **({"description": t.description} if t.description else {}),
                        "parameters": t.parameters,
                        "strict": t.strict,
                    },
                }
                for t in request.tools
            ]
            if request.tool_choice:
                params["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice}}
        if request.max_tokens is not None:
            params[self._max_tokens_param] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.logit_bias:
            params["logit_bias"] = {str(k): v for k, v in request.logit_bias.items()}
        if request.seed is not None:
            params["seed"] = request.seed
        params.update(request.extra)
        return params

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one chat completion; map the answer and errors."""
        check_destination(self.azure_endpoint or self.base_url or self._env_url)
        client = self.client()
        params = self.build_params(request)
        options: dict[str, Any] = {} if request.timeout is None else {"timeout": request.timeout}
        try:
            # The SDK's generic POST: its auth, base URL (Azure deployment routing too),
            # headers and error mapping, without re-walking the body through the typed
            # params transform (slow for a large JSON schema) or building its pydantic
            # ChatCompletion. The body is already in wire format (build_params), and the
            # tests check every body against the official OpenAPI spec.
            body = await client.post(
                "/chat/completions", body=params, cast_to=bytes, options=cast(Any, options)
            )
            data = json.loads(body)
        except ValueError as exc:
            raise BackendError(f"{self.name}: the server's answer is not JSON: {exc}") from None
        except Exception as exc:
            raise map_error(exc, self.name) from exc
        return response_from_json(data)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Stream one chat completion (server-sent events); yield its pieces, usage last.

        The body is :meth:`build_params`' with ``stream=true`` and
        ``stream_options.include_usage`` (the usage arrives in a last chunk with no
        choices). ``request.timeout`` bounds each wait for the next bytes, so a stream
        that stalls raises BackendTimeoutError. Errors map as for :meth:`complete`.
        """
        import openai

        check_destination(self.azure_endpoint or self.base_url or self._env_url)
        client = self.client()
        params = self.build_params(request)
        params["stream"] = True
        params["stream_options"] = {"include_usage": True}
        options: dict[str, Any] = {} if request.timeout is None else {"timeout": request.timeout}
        try:
            # The SDK's generic POST again (see complete()): its SSE decoding and error
            # mapping, each event handed over as the parsed JSON dict (cast_to=object),
            # not built into a pydantic ChatCompletionChunk.
            events = await client.post(
                "/chat/completions",
                body=params,
                cast_to=object,
                options=cast(Any, options),
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
        except Exception as exc:
            raise map_error(exc, self.name) from exc
        try:
            async for data in events:
                delta = delta_from_json(data)
                if delta is not None:
                    yield delta
        except BackendError:
            raise
        except ValueError as exc:
            raise BackendError(f"{self.name}: a streamed chunk is not JSON: {exc}") from None
        except Exception as exc:
            raise map_error(exc, self.name) from exc
        finally:
            await events.close()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def response_from_json(data: Any) -> ChatResponse:
    """Reduce a chat.completion JSON body to a :class:`ChatResponse`."""
    try:
        choice = data["choices"][0]
        msg = choice.get("message") or {}
        raw_usage = data.get("usage")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise BackendError(
            "the server answered with no choices; check the model name and server logs"
        ) from None
    usage = None
    if isinstance(raw_usage, dict):
        details = raw_usage.get("prompt_tokens_details") or {}
        usage = Usage(
            raw_usage.get("prompt_tokens") or 0,
            raw_usage.get("completion_tokens") or 0,
            (details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
        )
    calls = tuple(
        ToolCall(c.get("id", ""), c["function"].get("name", ""), c["function"].get("arguments", ""))
        for c in (msg.get("tool_calls") or ())
        if isinstance(c, dict) and isinstance(c.get("function"), dict)
    )
    return ChatResponse(
        text=msg.get("content"),
        finish_reason=_FINISH.get(choice.get("finish_reason"), "other"),
        usage=usage,
        tool_calls=calls,
        refusal=msg.get("refusal"),
        model=data.get("model"),
        response_id=data.get("id"),
    )


def delta_from_json(data: Any) -> ChatDelta | None:
    """Reduce one ``chat.completion.chunk`` JSON object to a :class:`ChatDelta` (``None``: nothing in it)."""
    if not isinstance(data, dict):
        raise BackendError(f"a streamed chunk is not a JSON object: {data!r:.200}")
    raw_usage = data.get("usage")
    usage = None
    if isinstance(raw_usage, dict):
        details = raw_usage.get("prompt_tokens_details")
        usage = Usage(
            raw_usage.get("prompt_tokens") or 0,
            raw_usage.get("completion_tokens") or 0,
            (details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
        )
    choices = data.get("choices")
    if not choices:
        if usage is None:
            return None
        return ChatDelta(usage=usage, model=data.get("model"), response_id=data.get("id"))
    choice = choices[0]
    if not isinstance(choice, dict):
        raise BackendError(f"a streamed chunk has a malformed choice: {choice!r:.200}")
    delta = choice.get("delta") or {}
    arguments, call_id, name = "", None, None
    calls = delta.get("tool_calls")
    if calls:
        for call in calls:
            # The extractor forces one tool: the first call (index 0) is the answer.
            if isinstance(call, dict) and (call.get("index") or 0) == 0:
                function = call.get("function") or {}
                arguments = function.get("arguments") or ""
                call_id, name = call.get("id"), function.get("name")
                break
    finish = choice.get("finish_reason")
    return ChatDelta(
        delta.get("content") or "",
        arguments,
        call_id,
        name,
        delta.get("refusal") or "",
        None if finish is None else _FINISH.get(finish, "other"),
        usage,
        data.get("model"),
        data.get("id"),
    )


def to_response(completion: Any) -> ChatResponse:
    """Reduce an ``openai`` ChatCompletion to a :class:`ChatResponse`."""
    if not completion.choices:
        raise BackendError("the server answered with no choices; check the model name and server logs")
    choice = completion.choices[0]
    msg = choice.message
    usage = None
    if completion.usage is not None:
        details = getattr(completion.usage, "prompt_tokens_details", None)
        cached = getattr(details, "cached_tokens", None) or 0
        usage = Usage(completion.usage.prompt_tokens or 0, completion.usage.completion_tokens or 0, cached)
    calls = tuple(
        ToolCall(c.id, c.function.name, c.function.arguments)
        for c in (msg.tool_calls or ())
        if getattr(c, "function", None) is not None
    )
    return ChatResponse(
        text=msg.content,
        finish_reason=_FINISH.get(choice.finish_reason, "other"),
        usage=usage,
        tool_calls=calls,
        refusal=getattr(msg, "refusal", None),
        model=completion.model,
        response_id=completion.id,
    )


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        import datetime as dt

        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def provider_message(exc: Any) -> str | None:
    """The provider's own error text from an ``openai`` exception, if it sent one."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return getattr(exc, "message", None)


def map_error(exc: Exception, provider: str) -> BackendError | Exception:
    """Map an ``openai``/``httpx`` exception to the extractkit error tree (others pass through)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return BackendTimeoutError(
            f"{provider}: the request timed out; raise the timeout (backends.{provider}.timeout) "
            "or check the server's load"
        )
    if isinstance(exc, openai.APIConnectionError):
        return BackendConnectionError(
            f"{provider}: connection failed or was dropped ({exc.__cause__ or exc}); check base_url "
            "and that the server is up"
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        text = provider_message(exc)
        detail = f": {text}" if text else ""
        if status == 429:
            retry_after = _retry_after(exc.response.headers)
            return RateLimitError(
                f"{provider}: rate limited (HTTP 429){detail}",
                retry_after=retry_after,
                provider_message=text,
            )
        if status in (401, 403):
            return AuthenticationError(
                f"{provider}: HTTP {status}{detail}. Check the API key in the environment variable "
                "your config names (api_key_env).",
                status_code=status,
                provider_message=text,
            )
        if status >= 500:
            return ServerError(
                f"{provider}: server error HTTP {status}{detail}", status_code=status, provider_message=text
            )
        err = HTTPStatusError(f"{provider}: HTTP {status}{detail}", status_code=status, provider_message=text)
        # 408 (request timeout) and 409 (lock conflict) are transient by OpenAI's own account.
        err.retryable = status in (408, 409)
        return err
    if isinstance(exc, openai.OpenAIError):
        return BackendError(f"{provider}: {exc}")
    return exc
