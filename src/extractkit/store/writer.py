"""The background writer: takes exchanges off the caller's path and writes them in batches.

``submit()`` is one ``SimpleQueue.put`` (a C call that never blocks), so
recording costs the extraction path about a microsecond. A daemon thread
drains the queue into batches and hands each batch to the store's ``sink``,
which writes it in one transaction.

Nothing acknowledged is lost silently:

* a batch that fails for a transient reason (database locked, connection lost)
  is retried with capped exponential backoff for up to ``retry_for`` seconds;
* a batch that fails because of one exchange is written one exchange at a
  time, so one exchange the database refuses cannot take its batch with it (a
  failure of the store itself, such as a full disk, fails the batch at once);
* an exchange that still could not be written is kept, counted and logged,
  and :meth:`BatchWriter.flush` (and ``close``) raise
  :class:`~extractkit.exceptions.StoreError` with the counts and those
  exchanges. The extractor asks :meth:`BatchWriter.take_failures` before it
  records, so the next extraction reports them too (``on_record_error``).

``flush()`` puts a marker in the queue and waits for the thread to reach it:
the queue is FIFO, so everything submitted before the marker has been handled.
Open writers are flushed at interpreter exit (``atexit``) and, when the
process did not install its own handlers, on SIGTERM and SIGHUP before the
process ends as the signal asks (SIGINT already exits through ``atexit``).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import signal
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from types import FrameType

from extractkit.exceptions import StoreError, StoreUnavailableError
from extractkit.store.exchange import Exchange

__all__ = ["BatchWriter", "install_signal_flush"]

logger = logging.getLogger("extractkit.store")

Sink = Callable[[Sequence[Exchange]], object]


class _Marker:
    """A flush request: set once every item queued before it is handled."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Stop(_Marker):
    """Close request: write what is queued before it, then end the thread."""

    __slots__ = ()


_OPEN: weakref.WeakSet[BatchWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The writer thread and the store's connections belong to the parent: the child must neither
    # use nor close them (closing a PostgreSQL connection would end the parent's session too).
    for writer in list(_OPEN):
        writer._forked()
    _OPEN.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _close_open_writers() -> None:
    # Daemon threads die with the interpreter; closing here is what makes shutdown flush.
    for writer in list(_OPEN):
        try:
            writer.close()
        except StoreError as exc:  # nobody is left to raise to: say it loudly on the log
            logger.error("extractkit store lost exchanges at exit: %s", exc)
        except Exception:  # pragma: no cover - nothing left to report to at exit
            logger.exception("extractkit store writer failed to flush at exit")


# -- termination signals ----------------------------------------------------------------

SIGNAL_FLUSH_TIMEOUT = 20.0
"""Seconds a termination signal waits for the queued tail (supervisors usually allow 30)."""

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_installed: set[int] = set()
_install_lock = threading.Lock()


def _flush_and_die(signum: int, frame: FrameType | None) -> None:
    # Runs in the main thread between bytecodes. The writer threads do the writing; waits are
    # bounded because the main thread may hold a store lock that a writer needs.
    deadline = time.monotonic() + SIGNAL_FLUSH_TIMEOUT
    for writer in list(_OPEN):
        try:
            writer.wait(max(0.0, deadline - time.monotonic()))
        except Exception:
            logger.exception("extractkit store could not flush before signal %d", signum)
        failures, _ = writer.take_failures()
        if failures:
            logger.error("extractkit store lost %d exchanges before signal %d", len(failures), signum)
    # Then end the process the way the signal asked, with the status a supervisor expects.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_signal_flush() -> bool:
    """Flush open stores on SIGTERM and SIGHUP, then let the signal end the process.

    Called when a store opens. Only a signal whose handler is still the default is taken over
    (an application's own handler wins; it should close its stores), and only from the main
    thread (Python allows handlers nowhere else).

    Returns:
        Whether a handler is in place for every termination signal.
    """
    if threading.current_thread() is not threading.main_thread():
        return all(sig in _installed for sig in _SIGNALS)
    with _install_lock:
        for sig in _SIGNALS:
            if sig in _installed:
                continue
            try:
                if signal.getsignal(sig) is signal.SIG_DFL:
                    signal.signal(sig, _flush_and_die)
                    _installed.add(sig)
            except (OSError, ValueError):  # pragma: no cover - embedded interpreters
                pass
    return all(sig in _installed for sig in _SIGNALS)


class BatchWriter:
    """Queue plus writer thread in front of a store's batch sink.

    Args:
        sink: Writes one batch in one transaction; raises on failure.
        is_transient: Whether an exception from ``sink`` may succeed on retry.
        is_store_failure: Whether an exception is the store's (disk full, read-only file), so
            every exchange of the batch would fail alike and trying them one by one is futile.
        describe: Turns a write failure into a one-line reason for :class:`StoreError`.
        batch_size: Most exchanges per transaction.
        name: Thread name, for debugging.
        close_timeout: Seconds ``close()`` keeps retrying failing writes before giving up.
        retry_for: Seconds a batch that fails transiently is retried before it counts as failed.
        backoff: First retry delay in seconds; doubles up to ``max_backoff``.
        max_backoff: Longest retry delay in seconds.
        sleep: How the thread waits between retries; injectable so tests do not sleep.
        clock: Monotonic seconds, for the retry window; injectable with ``sleep``.
        linger: Seconds to gather more exchanges into a batch after the first arrives.
        location: The database, for messages (a path, or the server without credentials).
    """

    def __init__(
        self,
        sink: Sink,
        *,
        is_transient: Callable[[BaseException], bool],
        is_store_failure: Callable[[BaseException], bool] | None = None,
        describe: Callable[[BaseException], str] | None = None,
        batch_size: int = 1000,
        name: str = "extractkit-store-writer",
        close_timeout: float = 30.0,
        retry_for: float = 30.0,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        linger: float = 0.05,
        location: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._sink = sink
        self._is_transient = is_transient
        self._is_store_failure = is_store_failure or (lambda exc: False)
        self._describe = describe or (lambda exc: f"{type(exc).__name__}: {exc}")
        self._batch_size = batch_size
        self._close_timeout = close_timeout
        self._retry_for = retry_for
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._clock = clock
        self._location = location
        self._queue: queue.SimpleQueue[Exchange | _Marker] = queue.SimpleQueue()
        # After the first exchange of a batch arrives the thread waits this long for more,
        # so a busy application gets few large transactions instead of many tiny ones (each
        # taking the GIL from the caller's event loop); flush() and close() cut it short.
        self._linger = linger
        self._wake = threading.Event()
        self._waiters = 0  # flush markers queued and not yet reached: no lingering meanwhile
        self._waiters_lock = threading.Lock()
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._close_lock = threading.Lock()
        self._closed = False
        self._is_fork_copy = False
        # One attribute for submit() to test: None while accepting, else why not.
        self._refusal: str | None = None
        # Failed exchanges not yet handed to a caller, and the error that failed the last of them.
        self._failures: list[Exchange] = []
        self._failure_error: BaseException | None = None
        self._failures_lock = threading.Lock()
        self.written = 0
        """Exchanges written so far."""
        self.failed = 0
        """Exchanges that could not be written so far (each also reaches a caller as a StoreError)."""
        self.last_error: BaseException | None = None
        """The most recent write failure, transient ones included, kept for diagnostics."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _OPEN.add(self)
        install_signal_flush()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    @property
    def is_fork_copy(self) -> bool:
        """Whether this object was inherited by a forked child (where it cannot write)."""
        return self._is_fork_copy

    @property
    def pending(self) -> int:
        """Exchanges queued and not yet handled (approximate while others record)."""
        return self._queue.qsize()

    def _forked(self) -> None:
        self._is_fork_copy = True
        self._closed = True
        self._refusal = (
            "this store was opened before the process forked and cannot write from the child; "
            "open the store in each process after forking (e.g. in a post-fork hook)"
        )

    def submit(self, exchange: Exchange) -> None:
        """Enqueue one exchange; never blocks.

        Raises:
            StoreError: The writer is closed (or inherited through ``fork``).
        """
        if self._refusal is not None:
            raise StoreError(self._refusal, location=self._location)
        self._queue.put(exchange)

    def take_failures(self) -> tuple[list[Exchange], BaseException | None]:
        """Return, and forget, the exchanges that failed since the last call, with the last error."""
        if not self._failures:  # the common case, without the lock
            return [], None
        with self._failures_lock:
            failures, error = self._failures, self._failure_error
            self._failures, self._failure_error = [], None
        return failures, error

    def failure_error(self, failures: Sequence[Exchange], error: BaseException | None) -> StoreError:
        """A :class:`StoreError` that hands ``failures`` (from :meth:`take_failures`) to the caller."""
        where = f" to {self._location}" if self._location else ""
        reason = self._describe(error) if error is not None else "unknown error"
        return StoreError(
            f"{len(failures)} recorded exchange(s) could not be written{where}: {reason} "
            f"(written {self.written}, failed {self.failed}, pending {self.pending}); "
            "they are in this error's .exchanges",
            written=self.written,
            failed=self.failed,
            pending=self.pending,
            exchanges=failures,
            location=self._location,
        )

    def _raise_failures(self) -> None:
        failures, error = self.take_failures()
        if failures:
            raise self.failure_error(failures, error) from error

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted before this call is handled; return whether it was."""
        if self._closed or threading.current_thread() is self._thread:
            return True
        marker = _Marker()
        with self._waiters_lock:
            self._waiters += 1
        self._queue.put(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything submitted before this call is written.

        Raises:
            StoreError: Exchanges recorded before could not be written (counts and the
                exchanges are on the error); each failure is reported once.
            StoreUnavailableError: It was not all handled within ``timeout`` seconds.
        """
        if not self.wait(timeout):
            detail = f"; last write error: {self._describe(self.last_error)}" if self.last_error else ""
            raise StoreUnavailableError(
                f"store flush did not finish within {timeout} s ({self.pending} exchange(s) pending){detail}",
                written=self.written,
                failed=self.failed,
                pending=self.pending,
                location=self._location,
            )
        self._raise_failures()

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, then stop the thread. Idempotent.

        Args:
            timeout: Seconds to keep retrying failing writes (default: ``close_timeout``).

        Raises:
            StoreError: Exchanges could not be written (they are on the error).
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._refusal = "the store is closed; open a new one to record more exchanges"
        _OPEN.discard(self)
        limit = self._close_timeout if timeout is None else timeout
        self._deadline = self._clock() + limit
        self._closing.set()
        self._queue.put(_Stop())
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self._raise_failures()

    def _run(self) -> None:
        while True:
            batch: list[Exchange] = []
            markers: list[_Marker] = []
            item = self._queue.get()
            # Linger only while a batch is still filling and nobody waits: with a full batch
            # already queued, or a flush or close queued behind a backlog, it would only add
            # the linger before every batch (it halved bench/store.py's rate).
            if (
                not isinstance(item, _Marker)
                and self._linger > 0
                and not self._waiters
                and not self._closing.is_set()
                and self._queue.qsize() < self._batch_size - 1
            ):
                self._wake.wait(self._linger)
            self._wake.clear()
            while True:
                if isinstance(item, _Marker):
                    markers.append(item)
                    # Write now: a flush or close is waiting on everything before it.
                    break
                batch.append(item)
                if len(batch) >= self._batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self._write(batch)
                except BaseException as exc:  # pragma: no cover - a bug; never let the thread die silently
                    self._fail(batch, exc)
            for marker in markers:
                if not isinstance(marker, _Stop):
                    with self._waiters_lock:
                        self._waiters -= 1
                marker.done.set()
            if any(isinstance(m, _Stop) for m in markers):
                return

    def _fail(self, exchanges: Sequence[Exchange], exc: BaseException) -> None:
        with self._failures_lock:
            self._failures.extend(exchanges)
            self._failure_error = exc
            self.failed += len(exchanges)
        self.last_error = exc

    def _write(self, batch: list[Exchange]) -> None:
        delay = self._backoff
        give_up = self._clock() + self._retry_for
        while True:
            try:
                self._sink(batch)
            except Exception as exc:
                self.last_error = exc
                if self._is_store_failure(exc):
                    self._fail(batch, exc)
                    logger.error(
                        "extractkit store could not write %d exchanges: %s", len(batch), self._describe(exc)
                    )
                    return
                if not self._is_transient(exc):
                    self._write_one_by_one(batch)
                    return
                # Bounded: past the retry window (or close's deadline) the batch fails and the
                # caller hears of it, instead of the queue growing behind a lock forever.
                end = min(give_up, self._deadline) if self._closing.is_set() else give_up
                remaining = end - self._clock()
                if remaining <= 0:
                    self._fail(batch, exc)
                    logger.error(
                        "extractkit store could not write %d exchanges: %s", len(batch), self._describe(exc)
                    )
                    return
                delay = min(delay, remaining)
                logger.warning(
                    "extractkit store write failed (%s); retrying in %.2f s", self._describe(exc), delay
                )
                self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
            else:
                self.written += len(batch)
                return

    def _write_one_by_one(self, batch: list[Exchange]) -> None:
        failed = 0
        error: BaseException | None = None
        for exchange in batch:
            try:
                self._sink([exchange])
            except Exception as exc:
                self._fail([exchange], exc)
                failed, error = failed + 1, exc
            else:
                self.written += 1
        if error is not None:
            logger.error(
                "extractkit store could not write %d of %d exchanges: %s",
                failed,
                len(batch),
                self._describe(error),
            )
