"""Follow a fine-tuning job to its end, printing its progress as plain text.

Following is stateless on our side: everything needed lives with the provider
(the job, its events, the extractor it trains for in its metadata), so a
follow interrupted by Ctrl-C, a crash or a closed laptop is resumed by calling
:func:`follow_job` with the job id, from any process. The job itself never
stops because we stopped watching.

Each poll reads the job and its new events. Transient errors (429, 5xx,
timeouts, dropped connections) are retried with :mod:`extractkit.retries`;
waits (between polls and between retries) go through the injected ``sleep``,
and ``max_wait`` through the injected ``clock``, so tests never wait.
"""

from __future__ import annotations

import asyncio
import functools
import io
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TextIO, TypeVar, cast

from extractkit.exceptions import BackendError, FineTuneError, UserError
from extractkit.finetune.base import FineTuneJob, FineTuningBackend, JobEvent, JobStatus
from extractkit.retries import RetryPolicy, call_with_retries

__all__ = ["STDERR", "JobFollower", "follow_job", "format_event", "format_job", "resume_command"]

T = TypeVar("T")

_EVENT_PAGE = 100


def resume_command(job_id: str, provider: str = "openai", config: str | None = None) -> str:
    """The command line that follows the job again: ``extractkit finetune follow ID [--provider P]``.

    The provider is named unless it is the default (``openai``), so the command
    reaches the backend that runs the job (a local job is not found at OpenAI).
    """
    import shlex

    words = ["extractkit", "finetune", "follow", job_id]
    if provider != "openai":
        words += ["--provider", provider]
    if config is not None:
        words += ["--config", config]
    return shlex.join(words)


_MAX_EVENT_PAGES = 50  # 5,000 events per poll is far beyond any real job; bounds a misbehaving server

# Metric names as OpenAI reports them, and the short labels printed for them.
_METRIC_LABELS = (
    ("train_loss", "train_loss"),
    ("valid_loss", "valid_loss"),
    ("full_valid_loss", "full_valid_loss"),
    ("train_mean_token_accuracy", "train_acc"),
    ("valid_mean_token_accuracy", "valid_acc"),
    ("full_valid_mean_token_accuracy", "full_valid_acc"),
)


class _Stderr(io.TextIOBase):
    """Writes to whatever ``sys.stderr`` is at the time (a default argument would pin the one at import)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


STDERR: TextIO = cast(TextIO, _Stderr())
"""The default progress stream: the process's stderr, looked up on each write."""


def _clock_text(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def format_event(event: JobEvent) -> str:
    """One event as a line: time, then the metrics (``step 10/100  train_loss 1.2340``) or the message."""
    metrics = event.metrics
    if metrics is not None and "step" in metrics:
        step = f"step {int(metrics['step'])}"
        if "total_steps" in metrics:
            step += f"/{int(metrics['total_steps'])}"
        values = [f"{label} {metrics[key]:.4f}" for key, label in _METRIC_LABELS if key in metrics]
        text = "  ".join([step, *values])
    else:
        text = event.message
    level = "" if event.level == "info" else f"[{event.level}] "
    return f"  {_clock_text(event.created_at)}  {level}{text}"


def format_job(job: FineTuneJob) -> str:
    """The job's state as one line: id, status and what matters at that status."""
    head = f"{job.id}  {job.raw_status or job.status.value}"
    if job.status is JobStatus.SUCCEEDED:
        extra = [f"-> {job.fine_tuned_model}"]
        if job.trained_tokens is not None:
            extra.append(f"trained tokens {job.trained_tokens:,}")
        if job.finished_at and job.created_at:
            extra.append(f"took {_duration(job.finished_at - job.created_at)}")
        return f"{head}  " + "  ".join(extra)
    if job.status is JobStatus.FAILED:
        return f"{head}: {job.describe_error()}"
    if job.status is JobStatus.RUNNING and job.estimated_finish:
        return f"{head}  (estimated finish {_clock_text(job.estimated_finish)} UTC)"
    if job.status is JobStatus.VALIDATING_FILES:
        return f"{head}  ({job.model})"
    return head


class JobFollower:
    """The state of following one job: the events already shown and the last status.

    :func:`follow_job` is the usual entry point; use this class to drive polls yourself.

    Args:
        backend: The provider's fine-tuning API.
        job_id: The job to follow.
        out: Where progress lines go; ``None`` for silence.
        retry: Transport retries for each request.
        on_event: Called with each new event, oldest first.
    """

    def __init__(
        self,
        backend: FineTuningBackend,
        job_id: str,
        *,
        out: TextIO | None = None,
        retry: RetryPolicy | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
    ) -> None:
        self.backend = backend
        self.job_id = job_id
        self.out = out
        self.retry = retry or RetryPolicy()
        self.on_event = on_event
        self.seen: set[str] = set()
        self.last_status: str | None = None
        self.latest_metrics: dict[str, float] = {}

    def _print(self, line: str) -> None:
        if self.out is not None:
            print(line, file=self.out, flush=True)

    async def _retried(self, fn: Callable[[], Awaitable[T]]) -> T:
        def note(exc: BaseException, wait: float) -> None:
            self._print(f"  (retrying in {wait:.1f}s after: {exc})")

        async def once() -> T:  # tenacity wants a coroutine function, not a lambda returning a coroutine
            return await fn()

        return await call_with_retries(once, self.retry, on_retry=note)

    async def new_events(self) -> list[JobEvent]:
        """Events not seen before, oldest first (pages back until a seen one)."""
        fresh: list[JobEvent] = []
        after: str | None = None
        for _ in range(_MAX_EVENT_PAGES):
            page = await self._retried(
                functools.partial(self.backend.list_events, self.job_id, limit=_EVENT_PAGE, after=after)
            )
            reached_seen = False
            for event in page:  # newest first
                if event.id in self.seen:
                    reached_seen = True
                    break
                fresh.append(event)
            if reached_seen or len(page) < _EVENT_PAGE:
                break
            after = page[-1].id
        fresh.reverse()
        return fresh

    async def poll(self) -> FineTuneJob:
        """Read the job and its new events once, print what changed, and return the job."""
        job = await self._retried(lambda: self.backend.get_job(self.job_id))
        for event in await self.new_events():
            self.seen.add(event.id)
            if event.metrics:
                self.latest_metrics.update(event.metrics)
            self._print(format_event(event))
            if self.on_event is not None:
                self.on_event(event)
        status = job.raw_status or job.status.value
        if status != self.last_status:
            self.last_status = status
            self._print(format_job(job))
        return job


async def follow_job(
    backend: FineTuningBackend,
    job_id: str,
    *,
    out: TextIO | None = STDERR,
    poll_interval: float = 15.0,
    max_wait: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    retry: RetryPolicy | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    raise_on_failure: bool = True,
) -> FineTuneJob:
    """Poll a job until it ends, printing status changes and events (metrics included).

    Safe to call again after an interruption: it picks the job up where it is
    (the events so far are shown again, then the new ones).

    Args:
        backend: The provider's fine-tuning API.
        job_id: The job to follow.
        out: Where progress lines go (default stderr); ``None`` for silence.
        poll_interval: Seconds between polls.
        max_wait: Stop following (and return the job as it is) after this many seconds.
        sleep: The async sleep used between polls and retries (injected in tests).
        clock: Monotonic seconds, for ``max_wait`` (injected in tests).
        retry: Transport retries per request; default: 5 attempts with backoff, waiting through ``sleep``.
        on_event: Called with each new event, oldest first.
        raise_on_failure: Raise FineTuneError when the job failed or was cancelled.

    Returns:
        The job as last read: final, or still running when ``max_wait`` passed.

    Raises:
        FineTuneError: The job failed or was cancelled (with the provider's message).
        BackendError: The provider stayed unreachable through all retries (the job keeps running).
    """
    if poll_interval < 0:
        raise UserError(f"poll_interval must be >= 0 seconds, got {poll_interval}")
    policy = retry or RetryPolicy(sleep=sleep)
    follower = JobFollower(backend, job_id, out=out, retry=policy, on_event=on_event)
    started = clock()
    resume_hint = f"resume with: {resume_command(job_id, getattr(backend, 'name', 'openai'))}"
    try:
        while True:
            job = await follower.poll()
            if job.status.is_final:
                break
            if max_wait is not None and clock() - started >= max_wait:
                follower._print(f"{job_id} still {job.raw_status} after {_duration(max_wait)}; {resume_hint}")
                return job
            await sleep(poll_interval)
    except (KeyboardInterrupt, asyncio.CancelledError):
        follower._print(f"stopped following {job_id}; the job goes on at the provider. {resume_hint}")
        raise
    except BackendError as exc:
        follower._print(f"lost contact with the provider ({exc}); the job goes on. {resume_hint}")
        raise
    if raise_on_failure and job.status is JobStatus.FAILED:
        raise FineTuneError(
            f"fine-tuning job {job.id} failed: {job.describe_error()}",
            job_id=job.id,
            provider_message=job.error_message,
        )
    if raise_on_failure and job.status is JobStatus.CANCELLED:
        raise FineTuneError(f"fine-tuning job {job.id} was cancelled", job_id=job.id)
    return job
