"""Book-keeping of one extraction: the result or the error, cost, and the recorded exchange.

Kept apart from the loop in :mod:`extractkit.extractor` so every path that ends an
extraction (online, batch) builds results, errors and exchanges the same way.

Recording never fails silently. The store is opened before the model is called,
so a store that cannot be opened fails the call before anything is paid for.
Exchanges are written off the caller's path; one that could not be written is
reported to the next extraction recording into the same store (and to
``Store.flush()``), as the store's ``on_record_error`` policy says:

* ``"raise"`` (the default): a successful extraction raises
  :class:`~extractkit.exceptions.RecordingError`, which carries the value and
  usage it paid for (``.extraction``), its own unrecorded exchange
  (``.exchange``) and the earlier exchanges that failed (``.exchanges``);
* ``"warn"``: the extraction returns its value; a ``RuntimeWarning`` is issued
  and the failure is logged on the ``extractkit.store`` logger.

A failed extraction already raises its own error; a recording failure then is
warned and logged, and the error's ``exchange_id`` is ``None``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from extractkit.config import ModelRef, Settings
from extractkit.exceptions import (
    ExtractionError,
    ExtractKitError,
    RecordingError,
    RepairError,
    StoreError,
    TruncatedOutputError,
)
from extractkit.messages import ChatRequest, Usage
from extractkit.results import CallContext, CutOffAnswer, Extraction

if TYPE_CHECKING:
    from extractkit.extractor import Extractor
    from extractkit.store import Exchange

__all__ = ["ExtractionRun", "shared_store"]

logger = logging.getLogger("extractkit.store")


class ExtractionRun:
    """Book-keeping of one extraction: builds the result or the error, and records the exchange."""

    def __init__(self, extractor: Extractor[Any], ref: ModelRef, ctx: CallContext, started: float) -> None:
        self.extractor = extractor
        self.ref = ref
        self.ctx = ctx
        self.started = started
        self.request: ChatRequest | None = None
        self.raw: str | None = None
        self.usage = Usage()
        self.attempts = 0
        self.finish_reason = "stop"
        self.recorded: Exchange | None = None
        """The exchange this call recorded, once it succeeded and the store took it."""
        self.store = self._open_store()

    def _open_store(self) -> Any:
        # Before the model call: a store that cannot be opened must not cost a paid answer.
        try:
            return self.extractor.store
        except ExtractKitError as exc:
            if self.extractor.settings.on_record_error == "raise":
                raise
            _warn(f"recording is off for this call: the store could not be opened: {exc}")
            return None

    def note(
        self, request: ChatRequest, raw: str | None, usage: Usage, attempts: int, finish_reason: str = "stop"
    ) -> None:
        self.request, self.raw, self.usage, self.attempts = request, raw, usage, attempts
        self.finish_reason = finish_reason

    def cost(self) -> float | None:
        return _price_cost(self.usage, self.ref, self.extractor.settings)

    def exchange(self, *, value: Any, error: BaseException | None, repairs: tuple[str, ...]) -> Exchange:
        """The exchange this extraction records."""
        from extractkit.store import Exchange

        output = None if error is not None else self.extractor.dump_output(value, self.ctx)
        request = self.request
        return Exchange(
            extractor=self.extractor.name,
            input=self.ctx.text,
            model=str(self.ref),
            prompt_variant=self.ctx.profile.prompt_variant.value,
            messages=tuple(m.to_dict() for m in request.messages) if request else (),
            raw_response=self.raw,
            output=output,
            error=None if error is None else f"{type(error).__name__}: {error}",
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            cost=self.cost(),
            latency_s=time.perf_counter() - self.started,
            attempts=self.attempts,
            repairs=repairs,
            metadata={"output_mode": self.ctx.profile.output_mode.value},
        )

    def _submit(self, exchange: Exchange, *, may_raise: bool) -> tuple[bool, StoreError | None]:
        """Record ``exchange``; return whether it was enqueued, and the error to raise, if any.

        An error is returned only under ``on_record_error="raise"`` and ``may_raise``; otherwise
        a failure has been warned about and logged when this returns.
        """
        store = self.store
        raising = may_raise and getattr(store, "on_record_error", "raise") == "raise"
        take = getattr(store, "take_failures", None)
        if take is not None and (raising or getattr(store, "on_record_error", "raise") == "warn"):
            # Under "raise", a failed extraction leaves earlier failures for the next success or
            # flush() to raise; everyone else hears of them now.
            earlier: StoreError | None = take()
            if earlier is not None:
                if raising:
                    return False, earlier
                _warn(str(earlier))
        try:
            store.record(exchange)
        except Exception as exc:  # a third-party Store may raise anything
            if isinstance(exc, StoreError):
                error = exc
            else:
                error = StoreError(f"the store refused the exchange: {type(exc).__name__}: {exc}")
                error.__cause__ = exc
            if raising:
                return False, error
            _warn(f"exchange {exchange.id[:12]} was not recorded: {error}")
            return False, None
        return True, None

    def record(self, *, value: Any, error: BaseException | None, repairs: tuple[str, ...]) -> str | None:
        """Record a failed extraction's exchange (if a store is configured); return its id.

        Never raises for the store: the extraction's own error is what the caller gets, and a
        recording failure is warned about and logged instead (the id is then ``None``).
        """
        if self.store is None:
            return None
        exchange = self.exchange(value=value, error=error, repairs=repairs)
        recorded, _ = self._submit(exchange, may_raise=False)
        return exchange.id if recorded else None

    async def succeed(self, value: Any, repairs: tuple[str, ...]) -> Extraction[Any]:
        profile = self.ctx.profile
        exchange = None if self.store is None else self.exchange(value=value, error=None, repairs=repairs)
        extraction = Extraction(
            value=value,
            raw=self.raw,
            usage=self.usage,
            cost=self.cost(),
            latency_s=time.perf_counter() - self.started,
            attempts=self.attempts,
            repairs=repairs,
            model=str(self.ref),
            prompt_variant=profile.prompt_variant.value,
            output_mode=profile.output_mode.value,
            exchange_id=None if exchange is None else exchange.id,
        )
        if exchange is None:
            return extraction
        recorded, problem = self._submit(exchange, may_raise=True)
        if problem is None:
            if recorded:
                self.recorded = exchange
                return extraction
            return dataclasses.replace(extraction, exchange_id=None)
        extraction = dataclasses.replace(extraction, exchange_id=None)
        earlier = len(problem.exchanges)
        what = (
            f"{earlier} earlier exchange(s) could not be written, so this one was not recorded either"
            if earlier
            else "its exchange could not be recorded"
        )
        raise RecordingError(
            f"the extraction succeeded but {what}: {problem}. The value is in this error's "
            ".extraction.value and the exchange in .exchange; set on_record_error = 'warn' under "
            "[store] to keep going without recording",
            extraction=extraction,
            exchange=exchange,
            written=problem.written,
            failed=problem.failed,
            pending=problem.pending,
            exchanges=problem.exchanges,
            location=problem.location,
        ) from problem

    def shadow(self) -> None:
        """After a success: start the extractor's shadow run for this call, if configured and sampled.

        Returns at once; the shadow runs as a task on the running loop (see :mod:`extractkit.shadow`).
        Never raises: whatever goes wrong is the shadow's, logged and counted.
        """
        try:
            policy = self.extractor.resolve_shadow()
            if policy is None:
                return
            from extractkit.shadow import start

            start(self, policy)
        except Exception:  # a shadow must never change what the caller gets
            logging.getLogger("extractkit.shadow").exception("extractkit: a shadow run could not start")

    def fail(self, kind: type[ExtractionError], message: str, *, errors: list[str]) -> ExtractionError:
        err = kind(
            message, raw=self.raw, usage=self.usage, cost=self.cost(), attempts=self.attempts, errors=errors
        )
        err.exchange_id = self.record(value=None, error=err, repairs=())
        return err

    def truncated(
        self, raw: str | None, extractor: Extractor[Any], ctx: CallContext, *, cut: CutOffAnswer | None = None
    ) -> ExtractionError:
        partial = None
        if cut is not None:
            partial = cut.partial
            where = ", ".join(".".join(map(str, p)) or "(root)" for p in cut.paths)
            message = (
                f"the answer ended inside a value (at {where}) although the model reported "
                f"finish_reason={self.finish_reason!r}; the cut-off value was not used. Check the "
                "server's stop sequences and max_tokens."
            )
        else:
            if raw:
                try:
                    partial, _ = extractor.parse(raw, ctx)
                except CutOffAnswer as exc:
                    partial = exc.partial
                except RepairError:
                    partial = None
            message = (
                f"the answer was cut off at the token limit (finish_reason='length') after "
                f"{self.usage.completion_tokens} completion tokens; raise max_tokens "
                f"(now {self.request.max_tokens if self.request else None}). Not re-asked: a re-ask "
                "would be cut off the same way."
            )
        err = TruncatedOutputError(
            message,
            partial=partial,
            raw=self.raw,
            usage=self.usage,
            cost=self.cost(),
            attempts=self.attempts,
        )
        err.exchange_id = self.record(value=None, error=err, repairs=())
        return err


def _price_cost(usage: Usage, ref: ModelRef, settings: Settings) -> float | None:
    from extractkit.prices import PriceTable, cost

    if ref.provider not in ("openai", "azure") and not settings.prices:
        return None  # compatible servers have no list price; configure one under [prices]
    table = None
    if settings.prices:
        table = _tables.get(id(settings))
        if table is None or table[0] is not settings:
            table = (settings, PriceTable(settings.prices))
            _tables[id(settings)] = table
        return cost(usage, ref.model, table=table[1])
    return cost(usage, ref.model)


_tables: dict[int, tuple[Settings, Any]] = {}


_stores: dict[tuple[str, str], Any] = {}
_stores_lock = threading.Lock()


def shared_store(url: str, on_record_error: str = "raise") -> Any:
    """One store per URL (and policy) per process: one writer thread, one connection pool.

    Raises:
        StoreError: The store cannot be opened (locked past its timeout, unreachable, ...).
    """
    with _stores_lock:
        store = _stores.get((url, on_record_error))
        if store is None:
            from extractkit.store import open_store

            store = _stores[(url, on_record_error)] = open_store(url, on_record_error=on_record_error)
        return store


def _warn(message: str) -> None:
    # Both: a warning reaches an interactive user, the log reaches an operator.
    logger.error("extractkit: %s", message)
    warnings.warn(message, RuntimeWarning, stacklevel=4)
