"""Transport retries and the bounds around them: a per-call deadline and a request budget.

This is the only module that imports tenacity. Output re-asks (the model
answered, but wrongly) are a different loop in :mod:`extractkit.extractor`;
the two are kept apart so a flaky network never burns re-ask attempts and a bad
answer never waits for backoff.

Retried: errors whose ``retryable`` is true (429 without ``insufficient_quota``,
5xx, 408/409, timeouts, dropped connections, and anything the server marked
``x-should-retry: true``). Waits are exponential with full jitter and a cap; a
server's ``Retry-After`` replaces the computed wait (capped by
``max_retry_after``). A :class:`Deadline` cuts the retrying short: a wait that
would end past it is not slept, the call fails at once with the deadline's
:class:`~extractkit.exceptions.BackendTimeoutError`. A :class:`RequestBudget`
caps the requests one input may use across calls. Each retry is logged on the
``extractkit.retries`` logger (attempt, wait, cause). Tests inject ``sleep`` so
no test waits for real.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from extractkit.exceptions import BackendError, BackendTimeoutError, RateLimitError, RequestBudgetError

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["Deadline", "RequestBudget", "RetryPolicy", "call_with_retries"]

T = TypeVar("T")

log = logging.getLogger("extractkit.retries")

DEADLINE_HINT = (
    "raise it with Extractor(deadline=...), `deadline` in [extractors.NAME] or [defaults] of "
    "extractkit.toml, or EXTRACTKIT_DEADLINE"
)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded transport retries.

    Attributes:
        max_attempts: Total tries per request, the first included (1 disables retries).
        initial_wait: Base of the exponential backoff, seconds.
        max_wait: Cap on one computed wait, seconds.
        multiplier: Growth factor of the backoff.
        jitter: Full jitter (a random wait in [0, backoff]) spreads retries of many callers.
        max_retry_after: Longest server-requested wait honoured; a longer ``Retry-After``
            fails fast with the RateLimitError (its ``retry_after`` tells you when to come back).
        sleep: The async sleep to use (injected in tests).
    """

    max_attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 20.0
    multiplier: float = 2.0
    jitter: bool = True
    max_retry_after: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")

    def backoff(self, attempt: int) -> float:
        """The computed wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_wait, self.initial_wait * self.multiplier ** (attempt - 1))
        return self.rng.uniform(0, ceiling) if self.jitter else ceiling

    def wait_for(self, exc: BaseException | None, attempt: int) -> float:
        """The wait before the next try, honouring ``Retry-After`` from a 429."""
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            return max(0.0, exc.retry_after)
        return self.backoff(attempt)

    def worst_case_waits(self) -> float:
        """The longest total backoff one request can wait (jitter at its ceiling, no Retry-After)."""
        return sum(
            min(self.max_wait, self.initial_wait * self.multiplier ** (n - 1))
            for n in range(1, self.max_attempts)
        )


class Deadline:
    """The end of one call's time, on the event loop's clock.

    Args:
        seconds: The whole call's allowance.
        at: The loop time when it ends; default ``seconds`` from now (needs a running loop).
    """

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float, *, at: float | None = None) -> None:
        self.seconds = seconds
        self.at = asyncio.get_running_loop().time() + seconds if at is None else at

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - asyncio.get_running_loop().time()

    async def bound(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``, cancelled when the deadline passes (then its BackendTimeoutError)."""
        timer = asyncio.timeout_at(self.at)
        try:
            async with timer:
                return await awaitable
        except TimeoutError:
            if not timer.expired():
                raise
            raise self.exceeded("while waiting for the model's answer") from None

    def exceeded(self, during: str) -> BackendTimeoutError:
        """The error for a call that ran out of time ``during`` something."""
        return BackendTimeoutError(
            f"the call's deadline of {self.seconds:g} s passed {during}; the deadline bounds the whole "
            f"extraction, transport retries and re-asks included: {DEADLINE_HINT}",
            bound="deadline",
            seconds=self.seconds,
        )


class RequestBudget:
    """How many requests one input may still send, across calls (``dataset label``'s passes).

    Args:
        limit: Requests allowed in all, every transport retry and re-ask counted.

    Attributes:
        used: Requests sent so far.
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"RequestBudget limit must be >= 1, got {limit}")
        self.limit = limit
        self.used = 0

    @property
    def left(self) -> int:
        """Requests still allowed."""
        return self.limit - self.used

    def take(self) -> None:
        """Count one request; raise RequestBudgetError when none is left."""
        if self.used >= self.limit:
            raise RequestBudgetError(
                f"the request budget of {self.limit} request(s) for this input is spent; raise it "
                "(label_inputs(max_requests=...)) or look at why its earlier requests failed",
                limit=self.limit,
            )
        self.used += 1


def _retryable(policy: RetryPolicy) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if not isinstance(exc, BackendError) or not exc.retryable:
            return False
        # A server asking us to wait longer than we are willing to: fail now, honestly.
        return not (
            isinstance(exc, RateLimitError)
            and exc.retry_after is not None
            and exc.retry_after > policy.max_retry_after
        )

    return check


def _cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[BaseException, float], None] | None = None,
    deadline: Deadline | None = None,
    first_try_bounded: bool = False,
    budget: RequestBudget | None = None,
    what: str = "request",
) -> T:
    """Call ``fn`` until it succeeds, a non-retryable error occurs, or attempts run out.

    The last error is re-raised as it is (a :class:`BackendError`); tenacity's
    RetryError never escapes.

    Args:
        fn: One try.
        policy: Attempts and waits.
        on_retry: Called with the error and the wait before each retry.
        deadline: Every try and wait runs within it (cancelled when it passes), and a wait
            that would end past it is not slept: the deadline's BackendTimeoutError is raised
            at once instead, the error that failed last as its ``__cause__``.
        first_try_bounded: The first try is known to end before the deadline (the backend
            bounds each request by a timeout shorter than the time left), so only the
            retries need the deadline's timer: the common, successful call arms none.
        budget: Stop retrying when it has no request left (the last error is raised).
        what: Names the call in the retry log lines (``"openai:gpt-4o-mini request"``).
    """

    retryable = _retryable(policy)
    # Fast path: most calls succeed first time, and building tenacity's machinery costs
    # more than the rest of an extraction. Tenacity takes over only after a failure.
    try:
        if deadline is None or first_try_bounded:
            return await fn()
        return await deadline.bound(fn())
    except BackendError as exc:
        if policy.max_attempts <= 1 or not retryable(exc) or (budget is not None and budget.left <= 0):
            raise
        first_wait = policy.wait_for(exc, 1)
        _before_retry(exc, first_wait, 2, policy, deadline, what)
        if on_retry is not None:
            on_retry(exc, first_wait)
    if deadline is None:
        await policy.sleep(first_wait)
        return await _retrying(fn, policy, on_retry, deadline, budget, what)
    return await deadline.bound(_sleep_then_retry(first_wait, fn, policy, on_retry, deadline, budget, what))


async def _sleep_then_retry(
    wait: float,
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[BaseException, float], None] | None,
    deadline: Deadline | None,
    budget: RequestBudget | None,
    what: str,
) -> T:
    await policy.sleep(wait)
    return await _retrying(fn, policy, on_retry, deadline, budget, what)


async def _retrying(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[BaseException, float], None] | None,
    deadline: Deadline | None,
    budget: RequestBudget | None,
    what: str,
) -> T:
    """Tries 2..max_attempts through tenacity (after the first failed and its wait was slept)."""
    # Imported here, not at the top: most processes never retry, and tenacity is
    # a measurable part of `import extractkit` (bench/import_time.py).
    from tenacity import AsyncRetrying, retry_if_exception

    retryable = _retryable(policy)

    def stop(state: RetryCallState) -> bool:
        # Attempt numbers here count from the second try of the request.
        return state.attempt_number >= policy.max_attempts - 1 or (budget is not None and budget.left <= 0)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return policy.wait_for(exc, state.attempt_number + 1)

    def before_sleep(state: RetryCallState) -> None:
        if state.outcome is None or state.next_action is None:
            return
        exc = state.outcome.exception()
        if exc is not None:
            _before_retry(exc, state.next_action.sleep, state.attempt_number + 2, policy, deadline, what)
            if on_retry is not None:
                on_retry(exc, state.next_action.sleep)

    retrying = AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception(retryable),
        sleep=policy.sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    return await retrying(fn)


def _before_retry(
    exc: BaseException, wait: float, attempt: int, policy: RetryPolicy, deadline: Deadline | None, what: str
) -> None:
    """Log the coming retry, or raise the deadline's error when the wait would outlast it."""
    if deadline is not None and wait >= deadline.remaining():
        log.info(
            "%s failed (%s); not retried: the %.2f s wait would pass the %g s deadline",
            what,
            _cause(exc),
            wait,
            deadline.seconds,
        )
        raise deadline.exceeded(
            f"before transport try {attempt} of {policy.max_attempts} (the wait of {wait:.2f} s after "
            f"{_cause(exc)} would end past it)"
        ) from exc
    log.info(
        "%s: transport try %d of %d in %.2f s after %s",
        what,
        attempt,
        policy.max_attempts,
        wait,
        _cause(exc),
    )
