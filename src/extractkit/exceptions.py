"""The whole error tree of extractkit.

Every error the library raises derives from :class:`ExtractKitError`; vendor
exceptions (``openai``, ``httpx``) and tenacity's ``RetryError`` never escape.
Messages name the value, the cause and the next step.

```
ExtractKitError
├── UserError                       misuse: wrong arguments, bad extractor definition
│   └── ConfigError                 bad extractkit.toml / EXTRACTKIT_* value (names the key)
├── BackendError                    talking to the model failed
│   ├── HTTPStatusError             non-retryable HTTP status (400, 401, 404, ...)
│   │   ├── AuthenticationError     401/403: the API key is missing or wrong
│   │   └── ServerError             5xx after all transport retries
│   ├── RateLimitError              429 after all transport retries (retry_after)
│   ├── BackendTimeoutError         the request took longer than the timeout
│   ├── BackendConnectionError      the connection failed or dropped
│   └── RealRequestBlockedError     a test tried to reach a real model (tripwire)
├── ExtractionError                 the model gave no valid output
│   ├── TruncatedOutputError        finish_reason="length": raise max_tokens
│   ├── RefusalError                the model refused to answer
│   ├── UnparseableOutputError      no JSON value could be recovered
│   │   └── RepairError             raised by extractkit.repair on its own
│   └── InvalidOutputError          JSON parsed but failed validation on every attempt
├── DatasetError                    training data problems (line numbers)
└── FineTuneError                   fine-tuning job failed, was cancelled or rejected
```

Errors about one extraction carry what is known of it: the raw text, the
usage and cost summed over all attempts, the attempt count and the exchange id
when the exchange was recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extractkit.messages import Usage

__all__ = [
    "AuthenticationError",
    "BackendConnectionError",
    "BackendError",
    "BackendTimeoutError",
    "ConfigError",
    "DatasetError",
    "ExtractKitError",
    "ExtractionError",
    "FineTuneError",
    "HTTPStatusError",
    "InvalidOutputError",
    "RateLimitError",
    "RealRequestBlockedError",
    "RefusalError",
    "RepairError",
    "ServerError",
    "TruncatedOutputError",
    "UnparseableOutputError",
    "UserError",
]


class ExtractKitError(Exception):
    """Root of every error extractkit raises."""


class UserError(ExtractKitError, ValueError):
    """The library was called in a way it cannot serve; the message names the fix."""


class ConfigError(UserError):
    """A configuration value is missing or malformed.

    Attributes:
        key: The dotted configuration key at fault (e.g. ``extractors.location.model``).
        source: Where the value came from (a file path or an environment variable).
    """

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.source = source


class BackendError(ExtractKitError):
    """Talking to the model failed.

    Attributes:
        status_code: HTTP status when there was one.
        provider_message: The provider's own error text, when it sent one.
        retryable: Whether a transport retry may succeed.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        provider_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.provider_message = provider_message


class HTTPStatusError(BackendError):
    """The server answered with an HTTP error status that a retry will not fix."""


class AuthenticationError(HTTPStatusError):
    """The server rejected the credentials (401/403)."""


class ServerError(HTTPStatusError):
    """The server failed (5xx). Retried by the transport policy before it reaches you."""

    retryable = True


class RateLimitError(BackendError):
    """The server answered 429. ``retry_after`` holds its ``Retry-After`` in seconds, if any."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = 429,
        provider_message: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, provider_message=provider_message)
        self.retry_after = retry_after


class BackendTimeoutError(BackendError):
    """The request did not complete within its timeout."""

    retryable = True


class BackendConnectionError(BackendError):
    """The connection could not be made or was dropped mid-request."""

    retryable = True


class RealRequestBlockedError(BackendError):
    """A test tried to send a request to a real model; see ``extractkit.testing.block_real_requests``."""


class ExtractionError(ExtractKitError):
    """The model gave no valid output.

    Attributes:
        raw: The last raw text the model returned (``None`` if it returned none).
        usage: Token usage summed over all attempts.
        cost: Cost in USD summed over all attempts (``None`` when the price is unknown).
        attempts: How many model calls were made.
        exchange_id: The recorded exchange's id, when a store is configured.
        errors: Validation or parse errors of the last attempt, compact and human-readable.
    """

    def __init__(
        self,
        message: str,
        *,
        raw: str | None = None,
        usage: Usage | None = None,
        cost: float | None = None,
        attempts: int = 0,
        exchange_id: str | None = None,
        errors: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.raw = raw
        self.usage = usage
        self.cost = cost
        self.attempts = attempts
        self.exchange_id = exchange_id
        self.errors = list(errors or [])


class TruncatedOutputError(ExtractionError):
    """The answer was cut off (``finish_reason="length"``). Raise ``max_tokens``; a re-ask will not help.

    Attributes:
        partial: The best value recovered from the partial answer, if any.
    """

    def __init__(self, message: str, *, partial: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.partial = partial


class RefusalError(ExtractionError):
    """The model refused to answer (OpenAI ``refusal`` or ``finish_reason="content_filter"``)."""


class UnparseableOutputError(ExtractionError):
    """No JSON value could be recovered from the model's text."""


class RepairError(UnparseableOutputError):
    """``extractkit.repair`` found nothing it could honestly recover.

    Attributes:
        position: Character offset where recovery failed, when known.
        reason: Why, as a stable snake_case code (``no_json``, ``unplaceable_token``,
            ``several_values``, ... listed in ``extractkit.repair.REASONS``), when known.
    """

    def __init__(
        self, message: str, *, position: int | None = None, raw: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, raw=raw)
        self.position = position
        self.reason = reason


class InvalidOutputError(ExtractionError):
    """The output parsed but did not validate against the output type on any attempt."""


class DatasetError(ExtractKitError):
    """A training or evaluation dataset is malformed.

    Attributes:
        path: The file at fault, when there is one.
        line: The 1-based line number at fault, when there is one.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class FineTuneError(ExtractKitError):
    """A fine-tuning job failed, was cancelled or was rejected by the provider.

    Attributes:
        job_id: The provider's job id, when a job was created.
        provider_message: The provider's own error text.
    """

    def __init__(
        self, message: str, *, job_id: str | None = None, provider_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.provider_message = provider_message
