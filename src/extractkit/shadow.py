"""Shadow runs: a sample of live extractions is also sent to a second model, in the background.

Configure it per extractor (``[extractors.NAME] shadow = "openai:ft:..."``,
``shadow_rate = 0.1``) or from the API (``LocationExtractor(shadow="...",
shadow_rate=0.1)``, or a :class:`Shadow` policy). After a live extraction
succeeded and its exchange was recorded, a sampled call starts a task on the
running event loop that asks the shadow model the same input; its answer (or
error), model, latency, tokens and cost are recorded in the store's ``shadows``
table next to the live exchange's id, with whether the two answers agree
(:meth:`~extractkit.Extractor.answers_agree`). ``extractkit records
disagreements`` lists where they differ.

The caller's answer is never delayed or changed:

* the live value is returned before the shadow request is even sent; the shadow
  only starts a task, and whatever goes wrong in it is logged on the
  ``extractkit.shadow`` logger and recorded as a failed shadow, never raised;
* shadow calls bypass the backend's concurrency gate (they never queue live
  calls) and are capped by their own: at most ``max_in_flight`` per extractor
  and shadow model at once. A sampled call past the cap is **skipped and
  counted** (:func:`stats`), never queued, so a slow shadow model cannot build
  up an unbounded backlog;
* each shadow call has a finite deadline (``shadow_deadline``, else the
  extractor's deadline, else :data:`DEFAULT_DEADLINE`).

Pending shadows at the end:

* :func:`drain` (async, the running loop) and :func:`drain_sync` (every other
  running loop, e.g. the one behind ``extract_sync``) wait for pending shadow
  calls up to a timeout, then cancel the rest; :func:`extractkit.aclose` drains
  before it closes the clients;
* at interpreter exit, pending shadow calls get :data:`EXIT_WAIT` seconds in
  all to finish; the rest are cancelled, recorded as failed shadows with a
  ``ShadowDropped`` error where their loop can still run, and counted as
  ``dropped`` either way (and logged). Then the store flushes as usual.
  ``Store.flush()`` itself writes what was recorded; a shadow still in flight is
  recorded when it finishes.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import logging
import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from extractkit.bookkeeping import ExtractionRun
from extractkit.config import ExtractorConfig, ModelRef
from extractkit.exceptions import UserError
from extractkit.store.shadows import shadow_metadata

if TYPE_CHECKING:
    from extractkit.extractor import Extractor
    from extractkit.messages import Message
    from extractkit.store import Exchange

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_RATE",
    "EXIT_WAIT",
    "Shadow",
    "ShadowStats",
    "answers_equal",
    "drain",
    "drain_sync",
    "stats",
]

log = logging.getLogger("extractkit.shadow")

DEFAULT_RATE = 0.1
"""Fraction of live extractions shadowed when ``shadow_rate`` is not set (one in ten)."""
DEFAULT_MAX_IN_FLIGHT = 4
"""Shadow calls running at once per extractor and shadow model when ``shadow_max_in_flight`` is not set."""
DEFAULT_DEADLINE = 180.0
"""Seconds a shadow call may take when neither ``shadow_deadline`` nor a finite extractor deadline is set."""
EXIT_WAIT = 5.0
"""Seconds, in all, that interpreter exit waits for pending shadow calls before dropping them."""


@dataclass(frozen=True)
class Shadow:
    """A shadow policy: which model, how often, how many at once, how long each.

    Args:
        model: The shadow model, a ``provider:model`` reference.
        rate: The fraction (0-1) of live extractions also sent to it.
        max_in_flight: Shadow calls running at once (per extractor and model); a sampled call
            past it is skipped and counted.
        deadline: Seconds one shadow call may take, retries and re-asks included (default: the
            extractor's deadline if finite, else :data:`DEFAULT_DEADLINE`).

    Raises:
        UserError: A malformed model reference, a rate outside 0-1, a cap below 1, or a deadline
            that is not a finite positive number.
    """

    model: str
    rate: float = DEFAULT_RATE
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    deadline: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", str(ModelRef.parse(self.model)))
        _check_rate(self.rate)
        if (
            isinstance(self.max_in_flight, bool)
            or not isinstance(self.max_in_flight, int)
            or self.max_in_flight < 1
        ):
            raise UserError(f"shadow max_in_flight must be an integer >= 1, got {self.max_in_flight!r}")
        if self.deadline is not None and not (0 < self.deadline < math.inf):
            raise UserError(
                f"shadow deadline must be a finite number of seconds > 0, got {self.deadline!r}: "
                "shadow calls are always bounded"
            )


@dataclass
class ShadowStats:
    """Counters of one extractor's shadow runs against one shadow model, in this process.

    Attributes:
        extractor: The extractor's name.
        model: The shadow model reference.
        started: Shadow calls started.
        skipped: Sampled calls skipped because ``max_in_flight`` shadow calls were running.
        unrecorded: Live extractions not shadowed because their exchange was not recorded
            (no store, or the store refused it): a shadow answer needs the live one beside it.
        agreed: Shadow answers equal to the live answer.
        disagreed: Shadow answers that differ.
        failed: Shadow calls that gave no answer (an error, a timeout).
        dropped: Shadow calls cancelled before they finished (at exit, by :func:`drain`).
        lost: Finished shadow answers the store did not take (logged).
    """

    extractor: str
    model: str
    started: int = 0
    skipped: int = 0
    unrecorded: int = 0
    agreed: int = 0
    disagreed: int = 0
    failed: int = 0
    dropped: int = 0
    lost: int = 0

    @property
    def in_flight(self) -> int:
        """Shadow calls started and not yet ended."""
        return self.started - self.agreed - self.disagreed - self.failed - self.dropped


_lock = threading.Lock()
_stats: dict[tuple[str, str], ShadowStats] = {}
_running: dict[tuple[str, str], int] = {}
_tasks: dict[asyncio.Task[None], tuple[asyncio.AbstractEventLoop, tuple[str, str]]] = {}
_exit_hook = False


def stats(extractor: str | None = None) -> list[ShadowStats]:
    """A snapshot of the shadow counters of this process (optionally one extractor's)."""
    with _lock:
        return [
            dataclasses.replace(s)
            for key, s in sorted(_stats.items())
            if extractor is None or key[0] == extractor
        ]


def answers_equal(live: Any, shadow: Any) -> bool:
    """Whether two JSON values are the same answer: key order ignored, ``1 == 1.0``, ``true != 1``."""
    return bool(_canonical(live) == _canonical(shadow))


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return ("const", value)
    if isinstance(value, int | float):
        return ("num", int(value) if isinstance(value, float) and value.is_integer() else value)
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, Mapping):
        return ("obj", tuple(sorted((str(k), _canonical(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("arr", tuple(_canonical(v) for v in value))
    return ("other", repr(value))


# -- configuration --------------------------------------------------------------------------


def _check_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise UserError(f"shadow_rate must be a fraction from 0 to 1 (0.05 = 5% of calls), got {rate!r}")
    return float(rate)


def check_arguments(
    shadow: str | Shadow | bool | None, rate: float | None, store: Any
) -> str | Shadow | bool | None:
    """Validate an extractor's ``shadow=``/``shadow_rate=`` arguments; the value it keeps.

    Raises:
        UserError: ``shadow=True`` (no model), a malformed model or rate, or shadows with
            ``store=False`` (a shadow answer is recorded beside the live one, or not at all).
    """
    if rate is not None:
        _check_rate(rate)
    if shadow is True:
        raise UserError("shadow=True names no model; pass shadow='provider:model' or a Shadow(...) policy")
    if isinstance(shadow, str):
        shadow = str(ModelRef.parse(shadow))
    elif isinstance(shadow, Shadow):
        if rate is not None:
            shadow = dataclasses.replace(shadow, rate=float(rate))
    elif shadow is not None and shadow is not False:
        raise UserError(f"shadow must be a 'provider:model' string, a Shadow policy or False; got {shadow!r}")
    if store is False and shadow not in (None, False):
        raise UserError(
            "shadow runs record the shadow's answer beside the live one, but store=False switches "
            "recording off; give a store or drop shadow="
        )
    return shadow


def policy_from_config(model: str, cfg: ExtractorConfig, rate: float | None) -> Shadow:
    """The shadow policy for ``model`` with the rest from ``[extractors.NAME]`` (``rate`` wins)."""
    if rate is None:
        rate = cfg.shadow_rate if cfg.shadow_rate is not None else DEFAULT_RATE
    return Shadow(
        model,
        rate=rate,
        max_in_flight=cfg.shadow_max_in_flight or DEFAULT_MAX_IN_FLIGHT,
        deadline=cfg.shadow_deadline,
    )


# -- starting -------------------------------------------------------------------------------


def _stat(key: tuple[str, str]) -> ShadowStats:
    found = _stats.get(key)
    if found is None:
        found = _stats[key] = ShadowStats(*key)
    return found


_warned_unrecorded: set[tuple[str, str]] = set()


def start(run: ExtractionRun, policy: Shadow) -> None:
    """Start the shadow call for a live extraction that succeeded, if sampled and under the cap.

    Returns at once; the call runs as a task on the running loop.
    """
    extractor = run.extractor
    key = (extractor.name, policy.model)
    live = run.recorded
    if live is None:
        with _lock:
            _stat(key).unrecorded += 1
            first = key not in _warned_unrecorded
            _warned_unrecorded.add(key)
        if first:
            log.warning(
                "extractkit: %s has shadow model %s, but its extraction was not recorded (no store, "
                "or the store refused it); shadow runs need a store ([store] url) and are skipped",
                extractor.name,
                policy.model,
            )
        return
    sampler = extractor._shadow_sampler
    if sampler is None:
        # Its own random source: sampling must not shift the live calls' seeded shuffles.
        sampler = extractor._shadow_sampler = random.Random(extractor.seed)
    if policy.rate <= 0.0 or (policy.rate < 1.0 and sampler.random() >= policy.rate):
        return
    with _lock:
        stat = _stat(key)
        if _running.get(key, 0) >= policy.max_in_flight:
            stat.skipped += 1
            skipped = stat.skipped
        else:
            _running[key] = _running.get(key, 0) + 1
            stat.started += 1
            skipped = 0
    if skipped:
        # The first skip is worth a warning; after that the count (stats()) says it.
        level = logging.WARNING if skipped == 1 else logging.DEBUG
        log.log(
            level,
            "extractkit: shadow call to %s for %s skipped: %d already in flight (skipped so far: %d); "
            "raise shadow_max_in_flight or lower shadow_rate",
            policy.model,
            extractor.name,
            policy.max_in_flight,
            skipped,
        )
        return
    loop = asyncio.get_running_loop()
    seed = sampler.random()
    try:
        task = loop.create_task(
            _shadow_call(extractor, policy, live, run.ctx.history, run.store, seed),
            name=f"extractkit-shadow-{extractor.name}",
        )
    except BaseException:
        with _lock:
            _running[key] -= 1
            stat.started -= 1
        raise
    _ensure_exit_hook()
    with _lock:
        _tasks[task] = (loop, key)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Task[None]) -> None:
    with _lock:
        _tasks.pop(task, None)


class _ShadowRun(ExtractionRun):
    """A shadow call's book-keeping: nothing is recorded through the live path."""

    def _open_store(self) -> Any:
        return None


async def _shadow_call(
    extractor: Extractor[Any],
    policy: Shadow,
    live: Exchange,
    history: tuple[Message, ...],
    store: Any,
    seed: float,
) -> None:
    key = (extractor.name, policy.model)
    started = time.perf_counter()
    run: _ShadowRun | None = None
    value: Any = None
    repairs: tuple[str, ...] = ()
    error: BaseException | None = None
    cancelled = False
    try:
        ref = ModelRef.parse(policy.model)
        _, ctx = extractor._context(live.input, history, ref=ref, rng=random.Random(seed))
        run = _ShadowRun(extractor, ref, ctx, started)
        seconds = policy.deadline
        if seconds is None:
            resolved = extractor.resolve_deadline()
            seconds = resolved if resolved < math.inf else DEFAULT_DEADLINE
        # The loop's own deadline ends the call with a typed timeout; the outer bound is a backstop
        # for a backend that ignores cancellation points between retries.
        async with asyncio.timeout(seconds + 1.0):
            extraction = await extractor._answer(run, deadline_s=seconds, gated=False)
        value, repairs = extraction.value, extraction.repairs
    except asyncio.CancelledError as exc:
        cancelled = True
        error = ShadowDropped(
            "the shadow call was cancelled before it finished (loop ended, drain timeout or exit)"
        )
        error.__cause__ = exc
    except Exception as exc:  # a shadow's failure is the shadow's: recorded, never raised
        error = exc
    finally:
        with _lock:
            _running[key] = _running.get(key, 1) - 1
    _finish(extractor, policy, live, store, run, value, repairs, error, cancelled, started)
    if cancelled:
        raise asyncio.CancelledError


class ShadowDropped(Exception):
    """A shadow call cancelled before it finished (recorded as the shadow's error)."""


def _finish(
    extractor: Extractor[Any],
    policy: Shadow,
    live: Exchange,
    store: Any,
    run: _ShadowRun | None,
    value: Any,
    repairs: tuple[str, ...],
    error: BaseException | None,
    cancelled: bool,
    started: float,
) -> None:
    """Judge the shadow's answer against the live one, count it, and record it."""
    from extractkit.store import Exchange

    key = (extractor.name, policy.model)
    agrees: bool | None = None
    try:
        if run is not None:
            exchange = run.exchange(value=value, error=error, repairs=repairs)
        else:
            exchange = Exchange(
                extractor=extractor.name,
                input=live.input,
                model=policy.model,
                prompt_variant=live.prompt_variant,
                error=f"{type(error).__name__}: {error}",
                latency_s=time.perf_counter() - started,
            )
        if error is None:
            try:
                agrees = bool(extractor.answers_agree(live.output, exchange.output))
            except Exception as exc:
                log.exception(
                    "extractkit: %s.answers_agree raised; the shadow is recorded as failed", extractor.name
                )
                exchange = dataclasses.replace(
                    exchange, error=f"answers_agree raised {type(exc).__name__}: {exc}"
                )
        exchange = dataclasses.replace(
            exchange,
            metadata=shadow_metadata(
                exchange.metadata,
                live_id=live.id,
                live_model=live.model,
                live_output=live.output,
                agrees=agrees,
            ),
        )
    except Exception:
        log.exception("extractkit: the shadow answer of %s could not be built", extractor.name)
        exchange = None
    with _lock:
        stat = _stat(key)
        if cancelled:
            stat.dropped += 1
        elif agrees is None:
            stat.failed += 1
        elif agrees:
            stat.agreed += 1
        else:
            stat.disagreed += 1
    if error is not None and not cancelled:
        log.info(
            "extractkit: shadow call to %s for %s failed: %s",
            policy.model,
            extractor.name,
            exchange and exchange.error,
        )
    if exchange is None:
        return
    try:
        store.record(exchange)
    except Exception as exc:  # the store is closed or refused it: the shadow's loss, logged
        with _lock:
            _stat(key).lost += 1
        log.error(
            "extractkit: shadow answer %s of %s was not recorded: %s", exchange.id[:12], extractor.name, exc
        )


# -- the end ---------------------------------------------------------------------------------


async def drain(within: float | None = EXIT_WAIT) -> int:
    """Wait for the shadow calls running on this event loop; cancel what is left after ``within``.

    Call it before your event loop ends (``extractkit.aclose()`` does). A cancelled shadow is
    recorded as failed (``ShadowDropped``) and counted as ``dropped``.

    Returns:
        The number of shadow calls cancelled.
    """
    loop = asyncio.get_running_loop()
    with _lock:
        pending = [t for t, (owner, _) in _tasks.items() if owner is loop and not t.done()]
    if not pending:
        return 0
    _, left = await asyncio.wait(pending, timeout=within)
    for task in left:
        task.cancel()
    if left:
        # Let the cancelled calls record themselves; bounded, as they do no more I/O.
        await asyncio.wait(left, timeout=1.0)
        log.warning(
            "extractkit: %d shadow call(s) still running after %.1f s were dropped", len(left), within or 0
        )
    return len(left)


def drain_sync(timeout: float | None = EXIT_WAIT) -> int:
    """:func:`drain` every other thread's running loop (e.g. the one behind ``extract_sync``), from sync code.

    Shadow calls on a loop that no longer runs cannot finish: they are counted as dropped.

    Returns:
        The number of shadow calls cancelled or dropped.
    """
    with _lock:
        loops = {loop for task, (loop, _) in _tasks.items() if not task.done()}
    deadline = None if timeout is None else time.monotonic() + timeout
    dropped = 0
    for loop in loops:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if loop.is_running() and not _runs_here(loop):
            future = asyncio.run_coroutine_threadsafe(drain(left), loop)
            try:
                dropped += future.result(None if left is None else left + 2.0)
                continue
            except Exception:
                log.exception("extractkit: shadow calls could not be drained")
        with _lock:
            stuck = [(t, k) for t, (owner, k) in _tasks.items() if owner is loop and not t.done()]
            for task, key in stuck:
                # Its loop no longer runs, so the call can never end or record itself.
                _tasks.pop(task, None)
                _stat(key).dropped += 1
                _running[key] = _running.get(key, 1) - 1
        if stuck:
            log.warning("extractkit: %d shadow call(s) on a stopped event loop were dropped", len(stuck))
            dropped += len(stuck)
    return dropped


def _runs_here(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _ensure_exit_hook() -> None:
    # Registered on the first shadow call, after the store writer and the sync runner registered
    # theirs: atexit runs last-in first, so shadows finish (or are dropped) before those close.
    global _exit_hook
    with _lock:
        if _exit_hook:
            return
        _exit_hook = True
    atexit.register(_at_exit)


def _at_exit() -> None:
    try:
        drain_sync(EXIT_WAIT)
    except Exception:  # nothing is left to raise to at exit
        log.exception("extractkit: shadow calls could not be drained at exit")
