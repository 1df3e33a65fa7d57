"""Batch extraction through OpenAI's Batch API: the same answers, at half the price, within 24 hours.

::

    results = await extract_batch(LocationExtractor(), texts)
    for item in results:                      # input order, one per input
        print(item.input, item.value if item.ok else item.error)

Each input becomes the exact request an online call would send
(``Extractor.build_request``), written to a JSONL file, uploaded, and run as a
batch; the answers go through the extractor's own ``parse`` (JSON repair) and
``postprocess`` (validation), and each comes back as an
:class:`~extractkit.extractor.ItemResult`: an extraction with its usage and
cost at batch prices, or a typed error (an answer that does not validate is an
``ExtractionError``; there is no re-ask within a batch). Exchanges are
recorded like online ones when a store is configured.

Large inputs are split into several batches within the API's limits (50,000
requests and 200 MB a file). Every batch carries in its metadata what it
holds (extractor, model, which inputs, the seed of the per-input random
choices, a digest of its request lines), so results are fetched again with
``batch_id=`` from any process: the requests are rebuilt, checked against the
digest, and the answers matched to them; inputs no batch covers are submitted.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, runtime_checkable

from extractkit.backends.base import check_destination
from extractkit.backends.openai import OpenAIChatBackend, map_error, response_from_json
from extractkit.bookkeeping import ExtractionRun
from extractkit.config import BackendConfig
from extractkit.exceptions import (
    AuthenticationError,
    BackendError,
    ExtractKitError,
    HTTPStatusError,
    InvalidOutputError,
    ItemError,
    MalformedResponseError,
    RateLimitError,
    RefusalError,
    RepairError,
    ServerError,
    UnparseableOutputError,
    UserError,
)
from extractkit.extractor import CallContext, CutOffAnswer, Extractor, ItemResult
from extractkit.messages import ChatRequest, ChatResponse, Usage
from extractkit.output import ValidationFailure
from extractkit.retries import RetryPolicy, call_with_retries

if TYPE_CHECKING:
    import openai

__all__ = [
    "BATCH_ENDPOINT",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_REQUESTS",
    "BatchBackend",
    "BatchJob",
    "BatchStatus",
    "OpenAIBatchBackend",
    "extract_batch",
    "extract_batch_sync",
]

T = TypeVar("T")
OutputT = TypeVar("OutputT")

BATCH_ENDPOINT: Final = "/v1/chat/completions"
MAX_BATCH_REQUESTS = 50_000
"""Requests one batch may hold."""
MAX_BATCH_BYTES = 200_000_000
"""Size one batch input file may have (200 MB, counted in decimal so either reading of "MB" holds)."""

_ID_PREFIX = "ek-"
_META_TAG = "extractkit-batch/1"


class BatchStatus(StrEnum):
    """Where a batch stands; see :attr:`is_final`."""

    VALIDATING = "validating"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str | None) -> BatchStatus:
        """The member for a provider's status string; :attr:`UNKNOWN` for one not listed."""
        try:
            return cls(value or "")
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_final(self) -> bool:
        """True once the batch ends: completed, failed, expired or cancelled."""
        return self in (BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A batch as the provider last reported it.

    Attributes:
        id: The provider's batch id.
        status: Where it stands.
        input_file_id: The uploaded request file.
        output_file_id: The answers (HTTP 200), once there are any.
        error_file_id: The failed and unrun requests, once there are any.
        total: Requests in the batch.
        completed: Requests answered.
        failed: Requests that failed.
        metadata: What extractkit stored with it (extractor, model, inputs covered).
        errors: Why the batch failed validation, one line each.
        raw_status: The status string as the provider sent it.
    """

    id: str
    status: BatchStatus
    input_file_id: str = ""
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    raw_status: str = ""

    @property
    def inputs(self) -> range:
        """The indexes of the inputs this batch holds (from its metadata; empty if not extractkit's)."""
        try:
            first, count = int(self.metadata["first"]), int(self.metadata["count"])
        except (KeyError, ValueError):
            return range(0)
        return range(first, first + count)

    def describe(self) -> str:
        """One line: id, status, counts, and the inputs it holds."""
        span = self.inputs
        held = f"  inputs {span.start}..{span.stop - 1}" if span else ""
        counts = f"  {self.completed}/{self.total} done, {self.failed} failed" if self.total else ""
        why = f"  ({'; '.join(self.errors)})" if self.errors else ""
        return f"{self.id}  {self.raw_status or self.status.value}{counts}{held}{why}"


@runtime_checkable
class BatchBackend(Protocol):
    """A provider's batch API: files in and out, batches created and read.

    Methods raise :class:`~extractkit.exceptions.BackendError` (retryable ones
    are retried by :func:`extract_batch` while it follows the batches).
    """

    name: str

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The wire body of one chat request (the same as an online call sends)."""
        ...

    async def upload(self, data: bytes, filename: str) -> str:
        """Upload a batch input file; returns its id."""
        ...

    async def create(self, input_file_id: str, metadata: Mapping[str, str]) -> BatchJob:
        """Create a chat-completions batch with a 24 h window."""
        ...

    async def get(self, batch_id: str) -> BatchJob:
        """The batch's current state."""
        ...

    async def download(self, file_id: str) -> bytes:
        """A file's content (output and error files)."""
        ...

    async def cancel(self, batch_id: str) -> BatchJob:
        """Cancel a batch that has not ended."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class OpenAIBatchBackend:
    """:class:`BatchBackend` for OpenAI through the official client (``max_retries=0``).

    Args:
        connection: The chat backend (or its ``[backends.NAME]`` config) whose endpoint,
            key and request format to use. Default: OpenAI with ``$OPENAI_API_KEY``.
        base_url: An OpenAI-compatible endpoint, when no ``connection`` is given.
        api_key_env: Environment variable holding the key.
    """

    def __init__(
        self,
        connection: OpenAIChatBackend | BackendConfig | None = None,
        *,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
    ) -> None:
        from extractkit.finetune.openai import openai_connection

        self._conn = openai_connection(connection, base_url=base_url, api_key_env=api_key_env)
        self.name = self._conn.name

    def __repr__(self) -> str:
        return f"OpenAIBatchBackend({self._conn!r})"

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The body an online call would send, built by the chat backend itself."""
        return self._conn.build_params(request)

    async def _call(self, fn: Callable[[openai.AsyncOpenAI], Awaitable[T]]) -> T:
        check_destination(self._conn.azure_endpoint or self._conn.base_url)
        client = self._conn.client()
        try:
            return await fn(client)
        except Exception as exc:
            raise map_error(exc, self.name) from exc

    async def upload(self, data: bytes, filename: str) -> str:
        """Upload with purpose ``batch``."""
        made = await self._call(lambda c: c.files.create(file=(filename, data), purpose="batch"))
        return str(made.id)

    async def create(self, input_file_id: str, metadata: Mapping[str, str]) -> BatchJob:
        """Create the batch on ``/v1/chat/completions`` with the 24 h window."""
        made = await self._call(
            lambda c: c.batches.create(
                input_file_id=input_file_id,
                endpoint=BATCH_ENDPOINT,
                completion_window="24h",
                metadata=dict(metadata),
            )
        )
        return _to_batch(made)

    async def get(self, batch_id: str) -> BatchJob:
        """Read the batch."""
        return _to_batch(await self._call(lambda c: c.batches.retrieve(batch_id)))

    async def download(self, file_id: str) -> bytes:
        """Read a file's content."""
        response = await self._call(lambda c: c.files.content(file_id))
        return bytes(response.content)

    async def cancel(self, batch_id: str) -> BatchJob:
        """Ask the provider to cancel; answers already made stay in the output file."""
        return _to_batch(await self._call(lambda c: c.batches.cancel(batch_id)))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._conn.aclose()


def _to_batch(batch: Any) -> BatchJob:
    counts = getattr(batch, "request_counts", None)
    errors = getattr(getattr(batch, "errors", None), "data", None) or ()
    lines = tuple(
        f"{getattr(e, 'code', None) or 'error'}: {getattr(e, 'message', '')}"
        + (f" (line {e.line})" if getattr(e, "line", None) else "")
        for e in errors
    )
    raw_status = str(getattr(batch, "status", "") or "")
    return BatchJob(
        id=batch.id,
        status=BatchStatus.parse(raw_status),
        input_file_id=getattr(batch, "input_file_id", "") or "",
        output_file_id=getattr(batch, "output_file_id", None),
        error_file_id=getattr(batch, "error_file_id", None),
        total=getattr(counts, "total", 0) or 0,
        completed=getattr(counts, "completed", 0) or 0,
        failed=getattr(counts, "failed", 0) or 0,
        metadata=dict(getattr(batch, "metadata", None) or {}),
        errors=lines,
        raw_status=raw_status,
    )


# --------------------------------------------------------------------------- requests


@dataclass
class _Item:
    index: int
    text: str
    ctx: CallContext | None = None
    request: ChatRequest | None = None
    line: bytes = b""
    error: ExtractKitError | None = None


class _Plan:
    """The extractor, model and limits one ``extract_batch`` call works with."""

    def __init__(
        self, extractor: Extractor[Any], backend: BatchBackend, max_requests: int, max_bytes: int
    ) -> None:
        self.extractor = extractor
        self.backend = backend
        self.ref = extractor.resolve_model()
        self.max_requests = max_requests
        self.max_bytes = max_bytes

    def build(self, index: int, text: str, seed: str) -> _Item:
        """The request an online call would send for ``text``, with seeded per-input choices."""
        item = _Item(index, text)
        if not isinstance(text, str):
            item.error = UserError(f"input {index} is a {type(text).__name__}, not a str")
            return item
        # The hooks (IntentRouter's option shuffle) draw from ctx.rng; seeding it per input lets a
        # resumed run rebuild the very requests the batch holds, and so parse their answers.
        try:
            _, item.ctx, item.request = self.extractor.prepare(text, rng=random.Random(f"{seed}:{index}"))
        except Exception as exc:  # isolation: a hook failing on one input fails that input only
            item.error = ItemError.wrap(exc, f"input {index}: building its request")
            return item
        envelope = {
            "custom_id": f"{_ID_PREFIX}{index}",
            "method": "POST",
            "url": BATCH_ENDPOINT,
            "body": self.backend.request_body(item.request),
        }
        item.line = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        if len(item.line) > self.max_bytes:
            item.error = UserError(
                f"input {index}: its request is {len(item.line):,} bytes, over the batch file limit "
                f"of {self.max_bytes:,}; extract it online"
            )
        return item

    def metadata(self, items: Sequence[_Item], seed: str) -> dict[str, str]:
        return {
            "extractkit": _META_TAG,
            "extractor": self.extractor.name,
            "model": str(self.ref),
            "seed": seed,
            "first": str(items[0].index),
            "count": str(items[-1].index - items[0].index + 1),
            "digest": _digest(items),
        }

    def split(self, items: list[_Item]) -> list[list[_Item]]:
        """Consecutive runs of items, each within the request and byte limits."""
        chunks: list[list[_Item]] = []
        current: list[_Item] = []
        size = count = 0
        for item in items:
            if (
                item.error is None
                and current
                and (count + 1 > self.max_requests or size + len(item.line) > self.max_bytes)
            ):
                chunks.append(current)
                current, size, count = [], 0, 0
            current.append(item)
            if item.error is None:
                size += len(item.line)
                count += 1
        if current:
            chunks.append(current)
        return [c for c in chunks if any(i.error is None for i in c)]


def _digest(items: Iterable[_Item]) -> str:
    """Fingerprint of the request lines a batch file holds (inputs that failed to build hold none)."""
    h = hashlib.sha256()
    for item in items:
        if item.error is None:
            h.update(item.line)
    return h.hexdigest()[:40]


# --------------------------------------------------------------------------- answers


class _BatchRun(ExtractionRun):
    """The online book-keeping (result, errors, recording), with batch prices."""

    def __init__(self, *args: Any, table: Any) -> None:
        super().__init__(*args)
        self.table = table

    def cost(self) -> float | None:
        from extractkit.prices import cost

        if self.ref.provider not in ("openai", "azure") and self.table is None:
            return None  # compatible servers have no list price; configure one under [prices]
        return cost(self.usage, self.ref.model, batch=True, table=self.table)


async def _answer(plan: _Plan, item: _Item, body: Any, started: float, table: Any) -> ItemResult[Any]:
    """Run one answer through the extractor's parse and validation, as an online call would."""
    assert item.ctx is not None and item.request is not None
    ex = plan.extractor
    run = _BatchRun(ex, plan.ref, item.ctx, started, table=table)
    try:
        response: ChatResponse = response_from_json(body, plan.backend.name)
    except MalformedResponseError as exc:
        error = MalformedResponseError(f"batch answer for input {item.index}: {exc}", field=exc.field)
        run.note(item.request, None, Usage(), 0)
        run.record(value=None, error=error, repairs=())
        return ItemResult(item.index, item.text, error=error)
    raw = response.tool_calls[0].arguments if response.tool_calls else response.text
    run.note(item.request, raw, response.usage or Usage(), 1, response.finish_reason)
    try:
        if response.refusal is not None or response.finish_reason == "content_filter":
            reason = response.refusal or "the provider's content filter stopped the answer"
            raise run.fail(RefusalError, f"the model refused: {reason}", errors=[reason])
        if response.finish_reason == "length":
            raise run.truncated(raw, ex, item.ctx)
        try:
            if raw is None or not raw.strip():
                raise RepairError("the answer was empty", raw=raw)
            item.ctx.actions.clear()
            parsed, repairs = ex.parse(raw, item.ctx)
            value = ex.postprocess(parsed, item.ctx)
        except CutOffAnswer as exc:
            raise run.truncated(raw, ex, item.ctx, cut=exc) from None
        except RepairError as exc:
            raise run.fail(
                UnparseableOutputError,
                f"{type(ex).__name__}: no JSON could be recovered from the batch answer with {plan.ref}: "
                f"{exc}. Extract it online (re-asks) or use a stronger model.",
                errors=[str(exc)],
            ) from None
        except ValidationFailure as exc:
            raise run.fail(
                InvalidOutputError,
                f"{type(ex).__name__}: the batch answer did not validate with {plan.ref}: "
                f"{'; '.join(exc.errors[:3])}. Extract it online (re-asks) or use a stronger model.",
                errors=exc.errors,
            ) from None
    except ExtractKitError as exc:
        return ItemResult(item.index, item.text, error=exc)
    extraction = await run.succeed(value, (*repairs, *item.ctx.actions))
    return ItemResult(item.index, item.text, extraction=extraction)


def _line_error(record: Mapping[str, Any], batch: BatchJob) -> BackendError:
    """A failed request of the error file, as the online call's error would be."""
    response = record.get("response") or {}
    status = response.get("status_code") if isinstance(response, dict) else None
    if isinstance(status, int) and status != 200:
        body = response.get("body") or {}
        err = body.get("error") if isinstance(body, dict) else None
        text = err.get("message") if isinstance(err, dict) else None
        message = f"batch {batch.id}: HTTP {status}" + (f": {text}" if text else "")
        if status == 429:
            return RateLimitError(message, provider_message=text)
        if status in (401, 403):
            return AuthenticationError(message, status_code=status, provider_message=text)
        if status >= 500:
            return ServerError(message, status_code=status, provider_message=text)
        return HTTPStatusError(message, status_code=status, provider_message=text)
    error = record.get("error") or {}
    code = error.get("code") if isinstance(error, dict) else None
    text = error.get("message") if isinstance(error, dict) else None
    return BackendError(
        f"batch {batch.id}: the request was not run ({code or 'error'}): {text or 'no reason given'}",
        provider_message=text,
    )


def _parse_lines(data: bytes) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for text in data.decode("utf-8").splitlines():
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError:
            continue  # a torn line cannot be matched to an input; that input reports "no answer"
        custom_id = record.get("custom_id") if isinstance(record, dict) else None
        if isinstance(custom_id, str) and custom_id.startswith(_ID_PREFIX) and custom_id[3:].isdigit():
            out.setdefault(int(custom_id[3:]), record)
    return out


# --------------------------------------------------------------------------- the run


def _default_backend(extractor: Extractor[Any]) -> tuple[BatchBackend, bool]:
    """The extractor's own OpenAI backend (borrowed), else one built from its config (owned)."""
    own = extractor._backend
    if isinstance(own, OpenAIChatBackend):
        return OpenAIBatchBackend(own), False
    ref = extractor.resolve_model()
    return OpenAIBatchBackend(extractor.settings.backend(ref.provider)), True


def _resumed(plan: _Plan, job: BatchJob, texts: Sequence[Any]) -> list[_Item]:
    """Rebuild the items a batch holds, checking the batch is this extractor's, over these inputs."""
    meta = job.metadata
    if meta.get("extractkit") != _META_TAG or not job.inputs:
        raise UserError(f"batch {job.id} was not created by extractkit's extract_batch; cannot resume it")
    if meta.get("extractor") != plan.extractor.name:
        raise UserError(
            f"batch {job.id} holds extractor {meta.get('extractor')!r}, not {plan.extractor.name!r}"
        )
    if meta.get("model") != str(plan.ref):
        raise UserError(
            f"batch {job.id} ran on {meta.get('model')}, but the extractor now resolves to {plan.ref}; "
            f"build it with model={meta.get('model')!r} to fetch these results"
        )
    if job.inputs.stop > len(texts):
        raise UserError(f"batch {job.id} holds inputs {job.inputs.start}..{job.inputs.stop - 1}, but only "
                        f"{len(texts)} inputs were given")  # fmt: skip
    seed = meta.get("seed", "")
    items = [plan.build(i, texts[i], seed) for i in job.inputs]
    if _digest(items) != meta.get("digest"):
        raise UserError(
            f"batch {job.id}: the inputs, the extractor or its configuration differ from those the batch "
            "was created with (its requests cannot be rebuilt); pass the same inputs and settings"
        )
    return items


async def extract_batch(
    extractor: Extractor[OutputT],
    inputs: Iterable[str],
    *,
    backend: BatchBackend | OpenAIChatBackend | None = None,
    batch_id: str | Sequence[str] | None = None,
    poll_interval: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_wait: float | None = None,
    retry: RetryPolicy | None = None,
    max_requests: int = MAX_BATCH_REQUESTS,
    max_bytes: int = MAX_BATCH_BYTES,
    on_update: Callable[[BatchJob], None] | None = None,
) -> list[ItemResult[OutputT]]:
    """Extract from every input through the Batch API; results in input order.

    Args:
        extractor: The extractor whose requests, parsing and validation to use.
        inputs: The texts.
        backend: The batch API, or the OpenAI chat backend whose endpoint and key to use; default:
            the extractor's own ``OpenAIChatBackend`` if it was given one, else its backend config.
        batch_id: Resume: the id(s) of batches created earlier for these same inputs
            (every id :func:`extract_batch` reported through ``on_update``). Inputs none
            of them holds are submitted now.
        poll_interval: Seconds between polls.
        sleep: Async sleep for polls and retries (injected in tests).
        clock: Monotonic clock for ``max_wait`` (injected in tests).
        max_wait: Give up waiting after this many seconds (TimeoutError naming the batches).
        retry: Transport retries per request; default 5 attempts, waiting through ``sleep``.
        max_requests: Requests per batch (the API allows 50,000).
        max_bytes: Bytes per batch input file (the API allows 200 MB).
        on_update: Called with each batch when it is created and when its state changes.

    Returns:
        One :class:`ItemResult` per input: an extraction (usage, cost at batch prices) or an error.

    Raises:
        UserError: Bad arguments, or ``batch_id`` does not match these inputs and extractor.
        BackendError: Submitting failed, or the provider stayed unreachable (batches keep running;
            resume with their ids).
        TimeoutError: ``max_wait`` passed (resume with the ids).
    """
    texts = list(inputs)
    if max_requests < 1 or max_bytes < 1 or poll_interval < 0:
        raise UserError("max_requests and max_bytes must be >= 1 and poll_interval >= 0")
    owned = False
    if backend is None:
        chosen, owned = _default_backend(extractor)
    else:
        chosen = OpenAIBatchBackend(backend) if isinstance(backend, OpenAIChatBackend) else backend
    session = _Session(_Plan(extractor, chosen, max_requests, max_bytes), retry or RetryPolicy(sleep=sleep))
    session.on_update = on_update
    deadline = None if max_wait is None else clock() + max_wait
    try:
        ids = [batch_id] if isinstance(batch_id, str) else list(batch_id or ())
        for bid in ids:
            await session.resume(bid, texts)
        await session.submit(texts)
        while not session.done():
            if deadline is not None and clock() >= deadline:
                raise TimeoutError(
                    f"batches still running after {max_wait:.0f}s: {', '.join(session.running())}; "
                    "resume with their ids (batch_id=)"
                )
            await sleep(poll_interval)
            await session.poll()
        answers = await session.download()
    finally:
        if owned:  # a borrowed connection may be serving online calls; it stays open
            await chosen.aclose()
    return [await session.isolated_result(i, answers.get(i), texts) for i in range(len(texts))]


class _Session:
    """One ``extract_batch`` call: its items (by input index) and its batches."""

    def __init__(self, plan: _Plan, policy: RetryPolicy) -> None:
        self.plan = plan
        self.backend = plan.backend
        self.policy = policy
        self.items: dict[int, _Item] = {}
        self.jobs: dict[str, BatchJob] = {}
        self.on_update: Callable[[BatchJob], None] | None = None
        self.started = time.perf_counter()
        self.table = _price_table(plan.extractor)

    async def _retried(self, fn: Callable[[], Awaitable[T]]) -> T:
        async def once() -> T:  # tenacity wants a coroutine function
            return await fn()

        return await call_with_retries(once, self.policy)

    def _report(self, job: BatchJob) -> None:
        self.jobs[job.id] = job
        if self.on_update is not None:
            self.on_update(job)

    async def resume(self, batch_id: str, texts: Sequence[Any]) -> None:
        job = await self._retried(functools.partial(self.backend.get, batch_id))
        rebuilt = _resumed(self.plan, job, texts)
        if any(i.index in self.items for i in rebuilt):
            raise UserError(f"batch {batch_id} holds inputs another given batch holds too")
        self.items.update((i.index, i) for i in rebuilt)
        self._report(job)

    async def submit(self, texts: Sequence[Any]) -> None:
        """Build the requests no resumed batch holds and submit them in batches within the limits."""
        seed = secrets.token_hex(8)
        fresh = [self.plan.build(i, text, seed) for i, text in enumerate(texts) if i not in self.items]
        self.items.update((i.index, i) for i in fresh)
        for chunk in self.plan.split(fresh):
            body = b"".join(i.line for i in chunk if i.error is None)
            name = f"extractkit-{self.plan.extractor.name}-{chunk[0].index}.jsonl"
            file_id = await self._retried(functools.partial(self.backend.upload, body, name))
            # Not retried: after a dropped connection the batch may exist; a retry would run it twice.
            self._report(await self.backend.create(file_id, self.plan.metadata(chunk, seed)))

    def done(self) -> bool:
        return all(j.status.is_final for j in self.jobs.values())

    def running(self) -> list[str]:
        return [j.id for j in self.jobs.values() if not j.status.is_final]

    async def poll(self) -> None:
        for bid in self.running():
            old = self.jobs[bid]
            new = await self._retried(functools.partial(self.backend.get, bid))
            if (new.status, new.completed, new.failed) != (old.status, old.completed, old.failed):
                self._report(new)
            self.jobs[bid] = new

    async def download(self) -> dict[int, tuple[BatchJob, dict[str, Any]]]:
        """Each input's line from the output or error file, with its batch."""
        answers: dict[int, tuple[BatchJob, dict[str, Any]]] = {}
        for job in self.jobs.values():
            for file_id in (job.error_file_id, job.output_file_id):  # an answer beats an error
                if file_id:
                    data = await self._retried(functools.partial(self.backend.download, file_id))
                    answers.update((i, (job, r)) for i, r in _parse_lines(data).items() if i in job.inputs)
        return answers

    async def isolated_result(
        self, index: int, found: tuple[BatchJob, dict[str, Any]] | None, texts: Sequence[Any]
    ) -> ItemResult[Any]:
        """:meth:`result`, with whatever it raises (a hook, the store) as this input's error."""
        try:
            return await self.result(index, found, texts)
        except Exception as exc:
            return ItemResult(index, texts[index], error=ItemError.wrap(exc, f"input {index}"))

    async def result(
        self, index: int, found: tuple[BatchJob, dict[str, Any]] | None, texts: Sequence[Any]
    ) -> ItemResult[Any]:
        item = self.items[index]
        if item.error is not None:
            return ItemResult(index, texts[index], error=item.error)
        if found is not None and _status(found[1]) == 200:
            return await _answer(self.plan, item, found[1]["response"]["body"], self.started, self.table)
        owner = found[0] if found else next(j for j in self.jobs.values() if index in j.inputs)
        error = _line_error(found[1], owner) if found else _missing(owner, index)
        assert item.ctx is not None and item.request is not None
        run = _BatchRun(self.plan.extractor, self.plan.ref, item.ctx, self.started, table=self.table)
        run.note(item.request, None, Usage(), 0)
        run.record(value=None, error=error, repairs=())
        return ItemResult(index, texts[index], error=error)


def _status(record: Mapping[str, Any]) -> int | None:
    response = record.get("response")
    return response.get("status_code") if isinstance(response, dict) else None


def _missing(job: BatchJob, index: int) -> BackendError:
    why = f" ({'; '.join(job.errors)})" if job.errors else ""
    return BackendError(f"batch {job.id} ended {job.raw_status} with no answer for input {index}{why}")


def _price_table(extractor: Extractor[Any]) -> Any:
    prices = extractor.settings.prices
    if not prices:
        return None
    from extractkit.prices import PriceTable

    return PriceTable(prices)


def extract_batch_sync(
    extractor: Extractor[OutputT], inputs: Iterable[str], **kwargs: Any
) -> list[ItemResult[OutputT]]:
    """Blocking :func:`extract_batch` (same arguments); runs on extractkit's background loop."""
    from extractkit.runtime import run_sync

    return run_sync(extract_batch(extractor, inputs, **kwargs))
