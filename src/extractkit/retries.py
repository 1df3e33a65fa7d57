"""Transport retries: 429 (honouring ``Retry-After``), 5xx, timeouts, dropped connections.

This is the only module that imports tenacity. Output re-asks (the model
answered, but wrongly) are a different loop in :mod:`extractkit.extractor`;
the two are kept apart so a flaky network never burns re-ask attempts and a bad
answer never waits for backoff.

Waits are exponential with full jitter and a cap; a server's ``Retry-After``
replaces the computed wait (capped by ``max_retry_after``). Tests inject
``sleep`` so no test waits for real.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from extractkit.exceptions import BackendError, RateLimitError

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["RetryPolicy", "call_with_retries"]

T = TypeVar("T")


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


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, a non-retryable error occurs, or attempts run out.

    The last error is re-raised as it is (a :class:`BackendError`); tenacity's
    RetryError never escapes.
    """

    retryable = _retryable(policy)
    # Fast path: most calls succeed first time, and building tenacity's machinery costs
    # more than the rest of an extraction. Tenacity takes over only after a failure.
    try:
        return await fn()
    except BackendError as exc:
        if policy.max_attempts <= 1 or not retryable(exc):
            raise
        first_wait = policy.wait_for(exc, 1)
        if on_retry is not None:
            on_retry(exc, first_wait)
    await policy.sleep(first_wait)
    # Imported here, not at the top: most processes never retry, and tenacity is
    # a measurable part of `import extractkit` (bench/import_time.py).
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return policy.wait_for(exc, state.attempt_number + 1)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None and state.next_action is not None:
            exc = state.outcome.exception()
            if exc is not None:
                on_retry(exc, state.next_action.sleep)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts - 1),
        wait=wait,
        retry=retry_if_exception(retryable),
        sleep=policy.sleep,
        reraise=True,
        before_sleep=before_sleep,
    )
    return await retrying(fn)
