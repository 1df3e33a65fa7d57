"""``Extractor[OutputT]``: the extraction loop, written once for every extractor and backend.

A subclass declares what it extracts; the base class does the rest::

    class Skills(BaseModel):
        skills: list[str]

    class SkillExtractor(Extractor[Skills]):
        instructions = "List the skills in the job ad as JSON."

    SkillExtractor().extract_sync("Python and SQL, some Go")

One call: resolve the model (argument > ``override()`` > config > class
default) → its profile (output mode, prompt variant) → messages → backend with
transport retries → parse and repair → validate → on invalid output re-ask with
a compact error list (bounded attempts; the failed turn is replaced, not
accumulated) → record → the typed value. Truncated answers and refusals are
typed errors and are never re-asked.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import re
import time
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Generic, TypeVar

from extractkit.backends import ChatBackend
from extractkit.bookkeeping import ExtractionRun, shared_store
from extractkit.config import ModelRef, Settings, get_settings
from extractkit.exceptions import (
    BackendError,
    ExtractKitError,
    InvalidOutputError,
    RefusalError,
    RepairError,
    UnparseableOutputError,
    UserError,
)
from extractkit.messages import ChatRequest, ChatResponse, Message, ResponseFormat, ToolCall, ToolSpec, Usage
from extractkit.output import OutputSpec, ValidationFailure, output_spec
from extractkit.profiles import ModelProfile, OutputMode, profile_for
from extractkit.prompts import Example, feedback_text, system_prompt
from extractkit.results import CallContext, CutOffAnswer, Extraction, ItemResult, value_at
from extractkit.retries import RetryPolicy, call_with_retries

__all__ = ["CallContext", "CutOffAnswer", "Extraction", "Extractor", "ItemResult"]

OutputT = TypeVar("OutputT")

HistoryItem = Message | Mapping[str, Any]


@dataclass(frozen=True)
class _Overrides:
    model: str | None = None
    backend: ChatBackend | None = None


_overrides: contextvars.ContextVar[Mapping[type, _Overrides]] = contextvars.ContextVar(
    "extractkit_overrides", default=types.MappingProxyType({})
)


def _snake(name: str) -> str:
    for suffix in ("Extractor",):
        if name.endswith(suffix) and name != suffix:
            name = name[: -len(suffix)]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _as_message(item: HistoryItem) -> Message:
    if isinstance(item, Message):
        return item
    role = item.get("role")
    if role not in ("user", "assistant", "system"):
        raise UserError(f"history items need role 'user', 'assistant' or 'system'; got {role!r}")
    return Message(role, str(item.get("content") or ""))


class Extractor(Generic[OutputT]):
    """Base class of every extractor. Subclass it and set the class attributes.

    Class attributes:
        output_type: What to extract; inferred from ``Extractor[T]`` when not set.
        instructions: The **minimal** system prompt (what a fine-tuned model is trained with).
        teacher_instructions: The rules of the **full** prompt (defaults to ``instructions``).
        examples: Few-shot examples for the full prompt.
        default_model: Used when neither argument, override nor config names one.
        name: Config key (``[extractors.NAME]``); derived from the class name.
        max_attempts: Model answers tried before giving up on invalid output.

    Args:
        model: A ``provider:model`` reference; beats override and config.
        backend: A backend instance to use instead of one built from config.
        settings: Settings to use instead of the process-wide ones.
        prompt_variant: Force ``"minimal"`` or ``"full"``.
        output_mode: Force an output mode (``json_schema``, ``json_object``, ``tools``,
            ``prompted``, ``bare``).
        max_attempts: Override the class's re-ask bound.
        retry: Transport retry policy (429/5xx/timeouts/connection errors).
        temperature: Sampling temperature (default 0).
        max_tokens: Completion token limit.
        timeout: Seconds per request.
        seed: Seed for the per-call random source (route shuffling) and the API's ``seed``.
        store: Where to record exchanges (a Store, a URL, or ``False`` to disable);
            default: ``[store]`` in config.
    """

    output_type: ClassVar[Any] = None
    instructions: ClassVar[str] = ""
    teacher_instructions: ClassVar[str | None] = None
    examples: ClassVar[Sequence[Example]] = ()
    default_model: ClassVar[str] = "openai:gpt-4o-mini"
    name: ClassVar[str] = ""
    max_attempts: ClassVar[int] = 3

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = _snake(cls.__name__)
        if cls.__dict__.get("output_type") is None:
            for base in getattr(cls, "__orig_bases__", ()):
                if typing.get_origin(base) is Extractor:
                    (arg,) = typing.get_args(base)
                    if not isinstance(arg, TypeVar):
                        cls.output_type = arg

    def __init__(
        self,
        model: str | None = None,
        *,
        backend: ChatBackend | None = None,
        settings: Settings | None = None,
        prompt_variant: str | None = None,
        output_mode: str | None = None,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        temperature: float | None = 0.0,
        max_tokens: int | None = None,
        timeout: float | None = None,
        seed: int | None = None,
        store: Any = None,
    ) -> None:
        if self._output_type() is None:
            raise UserError(
                f"{type(self).__name__} has no output type: subclass Extractor[YourType] or set output_type"
            )
        if not self.instructions.strip():
            raise UserError(f"{type(self).__name__}.instructions is empty: give the minimal system prompt")
        if prompt_variant is not None and prompt_variant not in ("minimal", "full"):
            raise UserError(f"prompt_variant must be 'minimal' or 'full', got {prompt_variant!r}")
        if output_mode is not None and output_mode not in {m.value for m in OutputMode}:
            raise UserError(
                f"output_mode must be one of {', '.join(m.value for m in OutputMode)}; got {output_mode!r}"
            )
        if max_attempts is not None and max_attempts < 1:
            raise UserError(f"max_attempts must be >= 1, got {max_attempts}")
        self._model = str(ModelRef.parse(model)) if model is not None else None
        self._backend = backend
        self._settings = settings
        self._prompt_variant = prompt_variant
        self._output_mode = output_mode
        self._max_attempts = max_attempts
        self.retry = retry or RetryPolicy()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.seed = seed
        self._rng = random.Random(seed)
        self._store_arg = store
        self._store: Any = None
        self._system_cache: dict[tuple[str, str], str] = {}

    # ----------------------------------------------------------------- resolution

    def _output_type(self) -> Any:
        return self.output_type

    @property
    def spec(self) -> OutputSpec:
        """The output spec (schema, validator) of this extractor's output type."""
        return output_spec(self._output_type())

    @property
    def settings(self) -> Settings:
        """The settings in use (explicit, or the process-wide ones)."""
        return self._settings if self._settings is not None else get_settings()

    def _override(self) -> _Overrides:
        table = _overrides.get()
        if table:
            for klass in type(self).__mro__:
                if klass in table:
                    return table[klass]
        return _Overrides()

    def resolve_model(self) -> ModelRef:
        """The model this extractor would use now: argument > override() > config > class default."""
        if self._model is not None:
            return ModelRef.parse(self._model)
        over = self._override()
        if over.model is not None:
            return ModelRef.parse(over.model)
        settings = self.settings
        configured = settings.extractor(self.name).model or settings.default_model
        return ModelRef.parse(configured or self.default_model)

    def resolve_profile(self, ref: ModelRef | None = None) -> ModelProfile:
        """The model profile with config and constructor overrides applied."""
        ref = ref or self.resolve_model()
        cfg = self.settings.extractor(self.name)
        return profile_for(ref).with_overrides(
            output_mode=self._output_mode or cfg.output_mode,
            prompt_variant=self._prompt_variant or cfg.prompt_variant,
        )

    @classmethod
    @contextmanager
    def override(cls, *, model: str | None = None, backend: ChatBackend | None = None) -> Iterator[None]:
        """Within the block, this class (and subclasses) use ``model`` and/or ``backend``.

        Called on ``Extractor`` itself it applies to every extractor. Scoped to the
        current context (thread / asyncio task), so concurrent tests don't interfere.
        """
        table = dict(_overrides.get())
        table[cls] = _Overrides(str(ModelRef.parse(model)) if model else None, backend)
        token = _overrides.set(table)
        try:
            yield
        finally:
            _overrides.reset(token)

    @property
    def store(self) -> Any:
        """The store exchanges are recorded in, or ``None`` when recording is off.

        From the ``store=`` argument (a Store, a URL, or ``False`` to switch off),
        else ``[store] url`` / ``EXTRACTKIT_STORE``. Stores opened from a URL are
        shared by every extractor in the process.
        """
        if self._store_arg is False:
            return None
        if self._store_arg is not None and not isinstance(self._store_arg, str):
            return self._store_arg
        url = self._store_arg or self.settings.store_url
        return None if url is None else shared_store(url)

    def _resolve_backend(self, ref: ModelRef) -> tuple[ChatBackend, asyncio.Semaphore | None]:
        if self._backend is not None:
            return self._backend, None
        over = self._override()
        if over.backend is not None:
            return over.backend, None
        from extractkit.runtime import backend_for

        return backend_for(self.settings.backend(ref.provider))

    # ----------------------------------------------------------------- hooks

    def system_message(self, ctx: CallContext) -> str:
        """The system prompt for this call (cached per variant and mode)."""
        key = (ctx.profile.prompt_variant.value, ctx.profile.output_mode.value)
        text = self._system_cache.get(key)
        if text is None:
            text = system_prompt(
                ctx.profile.prompt_variant,
                ctx.profile.output_mode,
                instructions=self.instructions,
                teacher_instructions=self.teacher_instructions,
                spec=ctx.spec,
                examples=self.examples,
            )
            self._system_cache[key] = text
        return text

    def build_messages(self, ctx: CallContext) -> tuple[Message, ...]:
        """System prompt, history, then the input as the last user message."""
        return (Message("system", self.system_message(ctx)), *ctx.history, Message("user", ctx.text))

    def shape_request(self, ctx: CallContext, request: ChatRequest) -> ChatRequest:
        """Add the output-mode parts (response_format, tools) to the request."""
        spec = ctx.spec
        mode = ctx.profile.output_mode
        if mode is OutputMode.JSON_SCHEMA:
            strict = spec.strict_schema is not None
            fmt = ResponseFormat("json_schema", spec.name, spec.strict_schema or spec.schema, strict)
            return replace(request, response_format=fmt)
        if mode is OutputMode.JSON_OBJECT:
            return replace(request, response_format=ResponseFormat("json_object"))
        if mode is OutputMode.TOOLS:
            strict = spec.strict_schema is not None
            tool = ToolSpec(spec.name, spec.strict_schema or spec.schema, f"Record the {spec.name}.", strict)
            return replace(request, tools=(tool,), tool_choice=spec.name)
        return request

    def parse(self, raw: str, ctx: CallContext) -> tuple[Any, tuple[str, ...]]:
        """Turn the raw answer into a JSON value.

        Raises:
            RepairError: When repair cannot recover what the answer meant (re-asked).
            CutOffAnswer: When the answer ends inside a value, or inside an array, so that
                what was still to come is unknown (reported as truncation, not validated).
        """
        from extractkit.repair import repair_json

        result = repair_json(raw, schema=ctx.spec.schema)
        if result.truncated:
            # A value cut mid-way ("New Yo") is not data: never validate it as if it were. Nor
            # is an array cut between elements: validation cannot tell that some are missing.
            # An object cut between members is left to validation, which requires every key.
            cut = [p for p in result.cut_paths if type(value_at(result.value, p)) is not dict]
            if cut:
                raise CutOffAnswer(result.value, cut)
        return result.value, tuple(result.actions)

    def postprocess(self, value: Any, ctx: CallContext) -> OutputT:
        """Validate the parsed value against the output type; raise ValidationFailure."""
        return typing.cast(OutputT, ctx.spec.validate(value))

    def dump_output(self, value: OutputT, ctx: CallContext) -> Any:
        """The JSON value the model emits for ``value`` (what is recorded and trained on)."""
        return ctx.spec.dump(value)

    # ----------------------------------------------------------------- requests

    def _context(self, text: str, history: Iterable[HistoryItem] | None) -> tuple[ModelRef, CallContext]:
        if not isinstance(text, str):
            raise UserError(f"extract() takes the input text as a str, got {type(text).__name__}")
        ref = self.resolve_model()
        profile = self.resolve_profile(ref)
        spec = self.spec
        if profile.output_mode is OutputMode.JSON_SCHEMA and spec.strict_schema is None:
            # Free-form objects can't be strict: fall back to JSON mode with the schema in the prompt.
            profile = replace(profile, output_mode=OutputMode.JSON_OBJECT)
        hist = tuple(_as_message(h) for h in history or ()) if history else ()
        return ref, CallContext(text, hist, profile, spec, self._rng)

    def _request(self, ref: ModelRef, ctx: CallContext) -> ChatRequest:
        cfg = self.settings.extractor(self.name)
        request = ChatRequest(
            model=ref.model,
            messages=self.build_messages(ctx),
            max_tokens=self.max_tokens if self.max_tokens is not None else cfg.max_tokens,
            temperature=self.temperature if cfg.temperature is None else cfg.temperature,
            seed=self.seed,
            timeout=self.timeout if self.timeout is not None else cfg.timeout,
        )
        return self.shape_request(ctx, request)

    def prepare(
        self,
        text: str,
        *,
        history: Iterable[HistoryItem] | None = None,
        rng: random.Random | None = None,
    ) -> tuple[ModelRef, CallContext, ChatRequest]:
        """Resolve the model and build the call's context and request, without sending it.

        For callers that send requests their own way (the Batch API) and then hand each
        answer back to :meth:`parse` and :meth:`postprocess` with the same context.
        ``rng`` replaces the extractor's random source for this call (a seeded one makes
        shuffled prompts reproducible, so a resumed batch can rebuild its requests).
        """
        ref, ctx = self._context(text, history)
        if rng is not None:
            ctx.rng = rng
        return ref, ctx, self._request(ref, ctx)

    def build_request(self, text: str, *, history: Iterable[HistoryItem] | None = None) -> ChatRequest:
        """The exact request a call would send now (shuffled parts drawn afresh)."""
        return self.prepare(text, history=history)[2]

    def render(self, text: str, *, history: Iterable[HistoryItem] | None = None) -> str:
        """A readable dump of the exact messages (and output settings) a call would send."""
        ref = self.resolve_model()
        request = self.build_request(text, history=history)
        profile = self.resolve_profile(ref)
        lines = [
            f"# model: {ref}  prompt: {profile.prompt_variant.value}  output: {profile.output_mode.value}"
        ]
        if request.response_format is not None:
            fmt = request.response_format
            lines.append(f"# response_format: {fmt.type}" + (" (strict)" if fmt.strict else ""))
        if request.tools:
            lines.append(f"# tool: {request.tools[0].name} (forced)")
        if request.logit_bias:
            lines.append(f"# logit_bias on {len(request.logit_bias)} tokens, max_tokens={request.max_tokens}")
        for m in request.messages:
            lines.append(f"--- {m.role}")
            lines.append(m.content or "")
        return "\n".join(lines)

    # ----------------------------------------------------------------- the loop

    async def extract(self, text: str, *, history: Iterable[HistoryItem] | None = None) -> OutputT:
        """Extract the typed value from ``text``.

        Raises:
            ExtractionError: no valid output (truncated, refused, unparseable, invalid).
            BackendError: the model could not be reached after transport retries.
        """
        return (await self.extract_detailed(text, history=history)).value

    def extract_sync(self, text: str, *, history: Iterable[HistoryItem] | None = None) -> OutputT:
        """Blocking :meth:`extract`; runs on extractkit's background event loop."""
        from extractkit.runtime import run_sync

        return run_sync(self.extract(text, history=history))

    async def extract_detailed(
        self, text: str, *, history: Iterable[HistoryItem] | None = None
    ) -> Extraction[OutputT]:
        """Like :meth:`extract`, with usage, cost, latency, attempts and repairs."""
        started = time.perf_counter()
        ref, ctx = self._context(text, history)
        base = self._request(ref, ctx)
        backend, gate = self._resolve_backend(ref)
        max_attempts = (
            self._max_attempts or self.settings.extractor(self.name).max_attempts or self.max_attempts
        )
        usage = Usage()
        request = base
        raw: str | None = None
        errors: list[str] = []
        attempts = 0
        run = ExtractionRun(self, ref, ctx, started)
        while True:
            try:
                response = await self._send(backend, gate, request)
            except BackendError as exc:
                run.note(request, raw, usage, attempts)
                run.record(value=None, error=exc, repairs=())
                raise
            attempts += 1
            usage = usage + (response.usage or Usage())
            raw = _raw_answer(response)
            run.note(request, raw, usage, attempts, response.finish_reason)
            if response.refusal is not None or response.finish_reason == "content_filter":
                reason = response.refusal or "the provider's content filter stopped the answer"
                raise run.fail(RefusalError, f"the model refused: {reason}", errors=[reason])
            if response.finish_reason == "length":
                raise run.truncated(raw, self, ctx)
            unparseable = False
            repairs: tuple[str, ...] = ()
            try:
                if raw is None or not raw.strip():
                    raise RepairError("the answer was empty", raw=raw)
                parsed, repairs = self.parse(raw, ctx)
                value = self.postprocess(parsed, ctx)
            except CutOffAnswer as exc:
                raise run.truncated(raw, self, ctx, cut=exc) from None
            except RepairError as exc:
                unparseable, errors = True, [str(exc)]
            except ValidationFailure as exc:
                errors = exc.errors
            else:
                return await run.succeed(value, repairs)
            if attempts >= max_attempts:
                kind = UnparseableOutputError if unparseable else InvalidOutputError
                what = "no JSON could be recovered" if unparseable else "the output did not validate"
                raise run.fail(
                    kind,
                    f"{type(self).__name__}: {what} after {attempts} attempt(s) with {ref}: "
                    f"{'; '.join(errors[:3])}. Raise max_attempts, use a stronger model or the full prompt.",
                    errors=errors,
                )
            request = replace(base, messages=base.messages + _reask_turns(response, raw, errors, unparseable))

    async def _send(
        self, backend: ChatBackend, gate: asyncio.Semaphore | None, request: ChatRequest
    ) -> ChatResponse:
        async def once() -> ChatResponse:
            if gate is None:
                return await backend.complete(request)
            async with gate:
                return await backend.complete(request)

        return await call_with_retries(once, self.retry)

    async def extract_many(
        self,
        texts: Iterable[str],
        *,
        concurrency: int | None = None,
        on_progress: Callable[[int, int, ItemResult[OutputT]], None] | None = None,
    ) -> list[ItemResult[OutputT]]:
        """Extract from many inputs with bounded concurrency, keeping input order.

        Per-item failures are returned in :class:`ItemResult` (``error`` set), not raised.
        ``on_progress(done, total, item)`` is called as each item finishes.
        """
        items = list(texts)
        limit = concurrency or self.settings.max_concurrency
        if limit < 1:
            raise UserError(f"concurrency must be >= 1, got {limit}")
        results: list[ItemResult[OutputT] | None] = [None] * len(items)
        cursor = iter(range(len(items)))
        done = 0

        async def worker() -> None:
            nonlocal done
            for i in cursor:
                try:
                    ex = await self.extract_detailed(items[i])
                    result: ItemResult[OutputT] = ItemResult(i, items[i], extraction=ex)
                except ExtractKitError as exc:
                    result = ItemResult(i, items[i], error=exc)
                results[i] = result
                done += 1
                if on_progress is not None:
                    on_progress(done, len(items), result)

        await asyncio.gather(*(worker() for _ in range(min(limit, len(items)) or 1)))
        return [r for r in results if r is not None]

    async def extract_batch(self, texts: Iterable[str], **kwargs: Any) -> list[ItemResult[OutputT]]:
        """Extract through the OpenAI Batch API at batch prices (see :func:`extractkit.batch.extract_batch`).

        Results come back in input order, each a value or a typed error; resumable with ``batch_id=``.
        """
        from extractkit.batch import extract_batch

        return await extract_batch(self, list(texts), **kwargs)

    def extract_many_sync(
        self,
        texts: Iterable[str],
        *,
        concurrency: int | None = None,
        on_progress: Callable[[int, int, ItemResult[OutputT]], None] | None = None,
    ) -> list[ItemResult[OutputT]]:
        """Blocking :meth:`extract_many`."""
        from extractkit.runtime import run_sync

        return run_sync(self.extract_many(texts, concurrency=concurrency, on_progress=on_progress))


def _raw_answer(response: ChatResponse) -> str | None:
    if response.tool_calls:
        return response.tool_calls[0].arguments
    return response.text


def _reask_turns(
    response: ChatResponse, raw: str | None, errors: list[str], unparseable: bool
) -> tuple[Message, ...]:
    feedback = feedback_text(errors, unparseable=unparseable)
    if response.tool_calls:
        call: ToolCall = response.tool_calls[0]
        return (
            Message("assistant", None, tool_calls=(call,)),
            Message("tool", feedback, tool_call_id=call.id),
        )
    return (Message("assistant", raw or ""), Message("user", feedback))
