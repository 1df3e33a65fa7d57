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
│   │   ├── QuotaExceededError      429 insufficient_quota: check billing (never retried)
│   │   └── ServerError             5xx after all transport retries
│   ├── RateLimitError              429 after all transport retries (retry_after)
│   ├── BackendTimeoutError         a request passed its timeout, or the call its deadline
│   ├── BackendConnectionError      the connection failed or dropped
│   ├── MalformedResponseError      a 200 whose body is not a chat completion (names the field)
│   ├── RequestBudgetError          an input's request budget is spent (dataset label)
│   └── RealRequestBlockedError     a test tried to reach a real model (tripwire)
├── ExtractionError                 the model gave no valid output
│   ├── TruncatedOutputError        finish_reason="length": raise max_tokens
│   ├── RefusalError                the model refused to answer
│   ├── UnparseableOutputError      no JSON value could be recovered
│   │   └── RepairError             raised by extractkit.repair on its own
│   └── InvalidOutputError          JSON parsed but failed validation on every attempt
├── ItemError                       an unexpected exception in one item of a many-input call
├── StoreError                      the exchange store could not read or write (counts on flush)
│   ├── StoreUnavailableError       locked past its timeout, or the server unreachable after retries
│   └── RecordingError              an extraction's exchange was not recorded; carries the paid value
├── DatasetError                    training data problems (line numbers)
└── FineTuneError                   fine-tuning job failed, was cancelled or rejected
```

Errors about one extraction carry what is known of it: the raw text, the
usage and cost summed over all attempts, the attempt count and the exchange id
when the exchange was recorded.

No message carries a secret: ``str()`` and ``repr()`` of every error pass
through :func:`extractkit.redaction.redact`, so an API key a server echoes
back never reaches a log or a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extractkit.messages import Usage
    from extractkit.results import Extraction
    from extractkit.store.exchange import Exchange

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
    "ItemError",
    "MalformedResponseError",
    "QuotaExceededError",
    "RateLimitError",
    "RealRequestBlockedError",
    "RecordingError",
    "RefusalError",
    "RepairError",
    "RequestBudgetError",
    "ServerError",
    "StoreError",
    "StoreUnavailableError",
    "TruncatedOutputError",
    "UnparseableOutputError",
    "UserError",
]


class ExtractKitError(Exception):
    """Root of every error extractkit raises. Its text never holds a secret (see the module docs)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Raised while handling a vendor error (``raise ... from exc``), that error becomes this
        # one's cause and is printed in every traceback: scrub the key a server echoed out of it.
        _scrub_handled_error()

    def __str__(self) -> str:
        from extractkit.redaction import redact

        return redact(super().__str__())

    def __repr__(self) -> str:
        from extractkit.redaction import redact

        return redact(super().__repr__())


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
        # The provider's text is where an echoed key shows up; keep it out of the attribute too.
        self.provider_message = provider_message if provider_message is None else _redact(provider_message)


class HTTPStatusError(BackendError):
    """The server answered with an HTTP error status that a retry will not fix."""


class AuthenticationError(HTTPStatusError):
    """The server rejected the credentials (401/403)."""


class QuotaExceededError(HTTPStatusError):
    """HTTP 429 with ``insufficient_quota``: the account is out of credit. Waiting will not fix it.

    Never retried (a retry is another refused request); check the plan and billing.
    """


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
    """A request did not complete within its timeout, or the call ran past its deadline.

    Attributes:
        bound: ``"timeout"`` (one request, connect to last byte; retried) or ``"deadline"``
            (the whole call, retries and re-asks included; never retried).
        seconds: The bound that was exceeded, when known.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        bound: str = "timeout",
        seconds: float | None = None,
        status_code: int | None = None,
        provider_message: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, provider_message=provider_message)
        self.bound = bound
        self.seconds = seconds
        if bound == "deadline":
            self.retryable = False


class BackendConnectionError(BackendError):
    """The connection could not be made or was dropped mid-request."""

    retryable = True


class MalformedResponseError(BackendError):
    """The server answered 200, but the body is not a chat completion extractkit can read.

    Not retried: a server that sends a malformed body usually sends it every time.

    Attributes:
        field: The JSON path of the field at fault (``choices[0].message.content``), or
            ``"body"`` / ``"content-type"`` for the body as a whole.
    """

    def __init__(self, message: str, *, field: str, status_code: int | None = 200) -> None:
        super().__init__(message, status_code=status_code)
        self.field = field


class RequestBudgetError(BackendError):
    """The request budget of one input is spent (``dataset label``'s per-input budget).

    The error that used the last request is the ``__cause__``.

    Attributes:
        limit: The budget, in requests.
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


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


class ItemError(ExtractKitError):
    """An exception that is not an extractkit error, raised while one input of a many-input call ran.

    ``extract_many``, ``extract_batch``, dataset labelling and eval runs return it as that
    input's error (the other inputs' results are kept) instead of losing the whole call.
    Usually a bug in an overridden hook (``parse``, ``postprocess``, a scorer).

    Attributes:
        cause: The original exception (also the ``__cause__``).
    """

    def __init__(self, message: str, *, cause: BaseException) -> None:
        super().__init__(message)
        self.cause = cause
        self.__cause__ = cause

    @classmethod
    def wrap(cls, exc: BaseException, where: str) -> ExtractKitError:
        """``exc`` itself when it is an extractkit error, else an ItemError naming ``where``."""
        if isinstance(exc, ExtractKitError):
            return exc
        return cls(f"{where}: unexpected {type(exc).__name__}: {exc}", cause=exc)


class StoreError(ExtractKitError):
    """The exchange store could not read or write.

    Raised by ``Store.flush()`` and ``Store.close()`` when exchanges recorded before could not be
    written: nothing the store acknowledged is lost without this error reaching the caller, and
    the exchanges that failed come with it, so they can be written elsewhere.

    Attributes:
        written: Exchanges the store's writer has written so far.
        failed: Exchanges it could not write so far (these and earlier failures).
        pending: Exchanges still queued when the error was raised.
        exchanges: The exchanges that failed since the last report, to keep or re-record.
        location: The database (a path, or the server without credentials), when known.
    """

    def __init__(
        self,
        message: str,
        *,
        written: int | None = None,
        failed: int | None = None,
        pending: int | None = None,
        exchanges: Sequence[Exchange] = (),
        location: str | None = None,
    ) -> None:
        super().__init__(message)
        self.written = written
        self.failed = failed
        self.pending = pending
        self.exchanges = tuple(exchanges)
        self.location = location


class StoreUnavailableError(StoreError):
    """The store stayed locked past its timeout, or its server could not be reached after retries.

    A later call may succeed: another connection held the lock, or the server was restarting.
    """


class RecordingError(StoreError):
    """An extraction succeeded but its exchange could not be recorded (``on_record_error="raise"``).

    Nothing paid for is lost: the value is here, and so is the exchange, to record again later.

    Attributes:
        extraction: The finished extraction (value, usage, cost) that could not be recorded.
        exchange: The exchange that was not recorded.
    """

    def __init__(
        self,
        message: str,
        *,
        extraction: Extraction[Any] | None = None,
        exchange: Exchange | None = None,
        **counts: Any,
    ) -> None:
        super().__init__(message, **counts)
        self.extraction = extraction
        self.exchange = exchange

    @property
    def value(self) -> Any:
        """The extracted value (``extraction.value``), or ``None`` if the extraction is not known."""
        return None if self.extraction is None else self.extraction.value


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


def _redact(text: str) -> str:
    from extractkit.redaction import redact

    return redact(text)


def _scrub_handled_error() -> None:
    import sys

    handled = sys.exc_info()[1]
    if handled is None or isinstance(handled, ExtractKitError):
        return
    from extractkit.redaction import redact, secret_values

    values = secret_values()
    seen: set[int] = set()
    stack: list[BaseException | None] = [handled]
    while stack and len(seen) < 32:
        exc = stack.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        if not isinstance(exc, ExtractKitError):
            scrubbed = tuple(redact(a, values) if isinstance(a, str) else a for a in exc.args)
            if any(new is not old for new, old in zip(scrubbed, exc.args, strict=True)):
                exc.args = scrubbed
            message = getattr(exc, "message", None)  # openai's errors print this attribute too
            if isinstance(message, str) and (clean := redact(message, values)) is not message:
                try:
                    exc.message = clean  # type: ignore[attr-defined]
                except AttributeError:  # pragma: no cover - a read-only attribute
                    pass
        stack += [exc.__cause__, exc.__context__]
