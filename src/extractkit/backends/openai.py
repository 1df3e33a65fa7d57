"""The OpenAI chat-completions backend: OpenAI, Azure OpenAI and any compatible server.

Compatible servers (vLLM, Ollama, llama.cpp's server, Groq, ...) are reached by
``base_url``. The official ``openai`` client is built with ``max_retries=0``:
its own retries would multiply ours (:mod:`extractkit.retries` retries above
the backend). Vendor exceptions are mapped to :mod:`extractkit.exceptions`
here and never escape. The API key is read from the environment variable the
config names and is never logged or stored.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from extractkit.backends.base import check_destination
from extractkit.backends.reader import delta_from_json, response_from_json
from extractkit.config import BackendConfig
from extractkit.exceptions import (
    AuthenticationError,
    BackendConnectionError,
    BackendError,
    BackendTimeoutError,
    ConfigError,
    HTTPStatusError,
    MalformedResponseError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
)
from extractkit.messages import ChatDelta, ChatRequest, ChatResponse

if TYPE_CHECKING:
    import openai

__all__ = [
    "OpenAIChatBackend",
    "delta_from_json",
    "map_error",
    "provider_message",
    "read_json",
    "response_from_json",
    "timeout_error",
]

# Asks the SDK for the response object (headers and bytes) instead of parsing it.
_RAW_RESPONSE = {"X-Stainless-Raw-Response": "true"}

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
    bounds_requests = True  # complete() ends within the request's timeout (see ChatBackend)

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
        # A key given here, or the variable named for it, is a secret wherever it shows up
        # (messages, the store, exports, reports): redaction works by value.
        from extractkit.redaction import register_key_env, register_secret

        if api_key:
            register_secret(api_key)
        if api_key_env:
            register_key_env(api_key_env)
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
        """Send one chat completion; map the answer and errors.

        ``request.timeout`` (else the backend's ``timeout``) bounds the whole request, from
        connect to the last byte of the answer: the HTTP client's own timeout applies per
        read, so a server dripping a byte at a time would never trip it.
        """
        check_destination(self.azure_endpoint or self.base_url or self._env_url)
        client = self.client()
        params = self.build_params(request)
        timeout = self.timeout if request.timeout is None else request.timeout
        bound = asyncio.timeout(timeout)
        try:
            async with bound:
                # The SDK's generic POST: its auth, base URL (Azure deployment routing too),
                # headers and error mapping, without re-walking the body through the typed
                # params transform (slow for a large JSON schema) or building its pydantic
                # ChatCompletion. The body is already in wire format (build_params), and the
                # tests check every body against the official OpenAPI spec. The raw-response
                # header makes it hand back the response itself, so its Content-Type is checked.
                raw: Any = await client.post(
                    "/chat/completions",
                    body=params,
                    cast_to=bytes,
                    options=cast(Any, {"timeout": timeout, "headers": _RAW_RESPONSE}),
                )
        except Exception as exc:
            if isinstance(exc, TimeoutError) and bound.expired():
                raise timeout_error(self.name, timeout) from None
            mapped = map_error(exc, self.name)
            if mapped is exc:
                raise
            raise mapped from exc
        data = read_json(raw.content, raw.headers.get("content-type"), self.name)
        return response_from_json(data, self.name)

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
            mapped = map_error(exc, self.name)
            if mapped is exc:
                raise
            raise mapped from exc
        try:
            async for data in events:
                delta = delta_from_json(data, self.name)
                if delta is not None:
                    yield delta
        except BackendError:
            raise
        except ValueError as exc:
            raise MalformedResponseError(
                f"{self.name}: a streamed chunk is not JSON ({exc}); check base_url and the server's logs",
                field="chunk",
            ) from None
        except Exception as exc:
            mapped = map_error(exc, self.name)
            if mapped is exc:
                raise
            raise mapped from exc
        finally:
            await events.close()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def timeout_error(provider: str, seconds: float | None) -> BackendTimeoutError:
    """The error for one request that passed its timeout (connect to last byte)."""
    within = f" within the timeout of {seconds:g} s" if seconds is not None else ""
    return BackendTimeoutError(
        f"{provider}: no complete answer{within} (the timeout bounds one request, connect to last "
        f"byte); raise backends.{provider}.timeout or the extractor's timeout, or check the server's load",
        bound="timeout",
        seconds=seconds,
    )


def read_json(content: bytes, content_type: str | None, provider: str = "openai") -> Any:
    """Parse a 200 answer's body as JSON, or raise MalformedResponseError naming what is wrong."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    preview = content[:80].decode("utf-8", "replace")
    if media and not media.endswith("json"):
        raise MalformedResponseError(
            f"{provider}: the server answered 200 with Content-Type {media!r}, not JSON (it begins "
            f"{preview!r}); check base_url: a proxy, a login page or a streaming endpoint answered",
            field="content-type",
        )
    try:
        return json.loads(content)
    except ValueError as exc:
        raise MalformedResponseError(
            f"{provider}: the server's 200 answer is not JSON ({exc}; {len(content)} bytes beginning "
            f"{preview!r}); check base_url and the server's logs",
            field="body",
        ) from None


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
    """Map an ``openai``/``httpx`` exception to the extractkit error tree (others pass through).

    A 429 whose error code is ``insufficient_quota`` is a :class:`QuotaExceededError` (never
    retried: waiting does not add credit). A server's ``x-should-retry: true|false`` header
    overrides whether the error is retried, as OpenAI's own client honours it.
    """
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return timeout_error(provider, None)
    if isinstance(exc, openai.APIConnectionError):
        return BackendConnectionError(
            f"{provider}: connection failed or was dropped ({exc.__cause__ or exc}); check base_url "
            "and that the server is up"
        )
    if isinstance(exc, openai.APIStatusError):
        err = _status_error(exc, provider)
        should_retry = exc.response.headers.get("x-should-retry")
        if should_retry in ("true", "false"):
            err.retryable = should_retry == "true"
        return err
    if isinstance(exc, openai.OpenAIError):
        return BackendError(f"{provider}: {exc}")
    return exc


def _error_code(exc: Any) -> str | None:
    """The error body's ``code`` (or ``type``, where older gateways put the quota marker)."""
    body = getattr(exc, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None
    if "insufficient_quota" in (err.get("code"), err.get("type")):
        return "insufficient_quota"
    code = err.get("code")
    return code if isinstance(code, str) else None


def _status_error(exc: Any, provider: str) -> BackendError:
    status: int = exc.status_code
    text = provider_message(exc)
    detail = f": {text}" if text else ""
    if status == 429:
        if _error_code(exc) == "insufficient_quota":
            return QuotaExceededError(
                f"{provider}: HTTP 429 insufficient_quota{detail}. The account is out of credit or "
                "over its spending limit: check the plan and billing. Not retried (waiting does not "
                "add credit).",
                status_code=429,
                provider_message=text,
            )
        return RateLimitError(
            f"{provider}: rate limited (HTTP 429){detail}",
            retry_after=_retry_after(exc.response.headers),
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
