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
import logging
import math
import random
import re
import time
import types
import typing
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeAlias, TypeVar

from extractkit.exceptions import (
    BackendError,
    ConfigError,
    ExtractionError,
    InvalidOutputError,
    ItemError,
    RefusalError,
    RepairError,
    UnparseableOutputError,
    UserError,
)

if TYPE_CHECKING:
    from extractkit.backends import ChatBackend
    from extractkit.bookkeeping import ExtractionRun, shared_store
    from extractkit.config import ModelRef, Settings, get_settings
    from extractkit.messages import (
        ChatRequest,
        ChatResponse,
        Message,
        ResponseFormat,
        ToolCall,
        ToolSpec,
        Usage,
    )
    from extractkit.output import OutputSpec, ValidationFailure, output_spec
    from extractkit.profiles import ModelProfile, OutputMode, profile_for
    from extractkit.prompts import Example, feedback_text, system_prompt
    from extractkit.results import CallContext, CutOffAnswer, Extraction, ItemResult, value_at
    from extractkit.retries import Deadline, RequestBudget, RetryPolicy, call_with_retries
    from extractkit.shadow import Shadow
    from extractkit.streaming import StreamUpdate

# What calls need but the class definition does not: imported on first use (the first
# Extractor() or override()), so `from extractkit import LocationExtractor` loads only
# the class (bench/import_time.py). Keep this table and the TYPE_CHECKING block above alike.
_DEFERRED: dict[str, tuple[str, ...]] = {
    "extractkit.bookkeeping": ("ExtractionRun", "shared_store"),
    "extractkit.config": ("ModelRef", "Settings", "get_settings"),
    "extractkit.messages": (
        "ChatRequest",
        "ChatResponse",
        "Message",
        "ResponseFormat",
        "ToolCall",
        "ToolSpec",
        "Usage",
    ),
    "extractkit.output": ("OutputSpec", "ValidationFailure", "output_spec"),
    "extractkit.profiles": ("ModelProfile", "OutputMode", "profile_for"),
    "extractkit.prompts": ("Example", "feedback_text", "system_prompt"),
    "extractkit.results": ("CallContext", "CutOffAnswer", "Extraction", "ItemResult", "value_at"),
    "extractkit.retries": ("Deadline", "RequestBudget", "RetryPolicy", "call_with_retries"),
}
_loaded = False


def _load() -> None:
    """Import the deferred names into this module's globals (idempotent, thread-safe)."""
    global _loaded
    import importlib

    namespace = globals()
    for module_name, names in _DEFERRED.items():
        module = importlib.import_module(module_name)
        for name in names:
            namespace[name] = getattr(module, name)
    _loaded = True


def __getattr__(name: str) -> Any:
    # `from extractkit.extractor import CallContext` before any extractor was made.
    if not _loaded and any(name in names for names in _DEFERRED.values()):
        _load()
        return globals()[name]
    raise AttributeError(f"module 'extractkit.extractor' has no attribute {name!r}")


__all__ = ["DEFAULT_DEADLINE_FACTOR", "CallContext", "CutOffAnswer", "Extraction", "Extractor", "ItemResult"]

DEFAULT_DEADLINE_FACTOR = 3
"""With no deadline configured, a call may take this many times its request timeout (3 x 60 s)."""

_DEFAULT_TIMEOUT = 60.0  # a backend that declares no timeout of its own

log = logging.getLogger("extractkit.extractor")

OutputT = TypeVar("OutputT")

HistoryItem: TypeAlias = "Message | Mapping[str, Any]"


@dataclass(frozen=True)
class _Verdict:
    """What one model answer came to: a value (``ok``), or the errors a re-ask needs."""

    ok: bool
    value: Any = None
    parsed: Any = None
    repairs: tuple[str, ...] = ()
    errors: list[str] = field(default_factory=list)
    unparseable: bool = False


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
        embedded_model: Used instead of ``default_model`` when that one needs an API key that is not
            set and the local extra is installed (the built-in LocationExtractor's offline default).
        name: Config key (``[extractors.NAME]``); derived from the class name.
        max_attempts: Model answers tried before giving up on invalid output.
        strict_output: Check each answer's keys against the strict schema the model
            was given before pydantic builds the type (default ``True``): a missing or
            unknown key is re-asked, never filled with a default. ``False`` leaves
            validation to pydantic alone (its defaults fill missing keys); to allow
            only some keys to be left out, mark those fields
            :data:`~extractkit.Omittable` instead.

    Args:
        model: A ``provider:model`` reference; beats override and config.
        backend: A backend instance to use instead of one built from config.
        settings: Settings to use instead of the process-wide ones.
        prompt_variant: Force ``"minimal"`` or ``"full"``.
        output_mode: Force an output mode (``json_schema``, ``json_object``, ``tools``,
            ``prompted``, ``bare``).
        max_attempts: Override the class's re-ask bound.
        strict_output: Override the class's ``strict_output``.
        retry: Transport retry policy (429/5xx/timeouts/connection errors).
        temperature: Sampling temperature (default 0).
        max_tokens: Completion token limit.
        timeout: Seconds per request, connect to last byte (default: the backend's, 60 s).
        deadline: Seconds for the whole call, transport retries and re-asks included
            (default: ``deadline`` in config, else 3 x the request timeout; ``math.inf`` for none).
        seed: Seed for the per-call random source (route shuffling) and the API's ``seed``.
        store: Where to record exchanges (a Store, a URL, or ``False`` to disable);
            default: ``[store]`` in config.
        shadow: A second model (a ``provider:model`` reference, or a :class:`~extractkit.shadow.Shadow`
            policy) that a sample of this extractor's recorded extractions is also sent to, in the
            background; both answers are recorded (see ``docs/shadow.md``). ``False`` switches off
            a ``shadow`` set in config. Default: ``[extractors.NAME] shadow``.
        shadow_rate: The fraction (0-1) of extractions shadowed (default: ``shadow_rate`` in
            config, else :data:`extractkit.shadow.DEFAULT_RATE`).
    """

    output_type: ClassVar[Any] = None
    instructions: ClassVar[str] = ""
    teacher_instructions: ClassVar[str | None] = None
    examples: ClassVar[Sequence[Example]] = ()
    default_model: ClassVar[str] = "openai:gpt-4o-mini"
    embedded_model: ClassVar[str | None] = None
    name: ClassVar[str] = ""
    max_attempts: ClassVar[int] = 3
    strict_output: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = _snake(cls.__name__)
        if cls.__dict__.get("output_type") is None:
            # Only the class's own bases: a subclass of LocationExtractor would otherwise read
            # its parent's ``Extractor["Locations"]`` and replace the inherited type by a name.
            for base in cls.__dict__.get("__orig_bases__", ()):
                if typing.get_origin(base) is Extractor:
                    (arg,) = typing.get_args(base)
                    if not isinstance(arg, TypeVar | str | typing.ForwardRef):
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
        strict_output: bool | None = None,
        retry: RetryPolicy | None = None,
        temperature: float | None = 0.0,
        max_tokens: int | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        store: Any = None,
        shadow: str | Shadow | bool | None = None,
        shadow_rate: float | None = None,
    ) -> None:
        if not _loaded:
            _load()
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
        if deadline is not None and not deadline > 0:
            raise UserError(f"deadline must be a number of seconds > 0 (math.inf for none), got {deadline!r}")
        if timeout is not None and not timeout > 0:
            raise UserError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self._model = str(ModelRef.parse(model)) if model is not None else None
        self._backend = backend
        self._settings = settings
        self._prompt_variant = prompt_variant
        self._output_mode = output_mode
        self._max_attempts = max_attempts
        self._strict_output = self.strict_output if strict_output is None else bool(strict_output)
        self.retry = retry or RetryPolicy()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.deadline = deadline
        self.seed = seed
        self._rng = random.Random(seed)
        self._store_arg = store
        self._store: Any = None
        self._system_cache: dict[tuple[str, str], str] = {}
        self._shadow: str | Shadow | bool | None = None
        self._shadow_rate = shadow_rate
        self._shadow_sampler: random.Random | None = None
        if shadow is not None or shadow_rate is not None:
            from extractkit.shadow import check_arguments

            self._shadow = check_arguments(shadow, shadow_rate, store)

    # ----------------------------------------------------------------- resolution

    def _output_type(self) -> Any:
        return self.output_type

    @property
    def spec(self) -> OutputSpec:
        """The output spec (schemas, both validation layers) of this extractor's output type."""
        return output_spec(self._output_type(), strict=self._strict_output)

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
        """The model this extractor would use now: argument > override() > config > class default.

        When nothing names a model and the class default needs a key that is not set, an
        extractor with an ``embedded_model`` (the built-in LocationExtractor) uses it, if the
        local extra is installed; see :mod:`extractkit.local.embedded`.
        """
        if self._model is not None:
            return ModelRef.parse(self._model)
        over = self._override()
        if over.model is not None:
            return ModelRef.parse(over.model)
        settings = self.settings
        configured = settings.extractor(self.name).model or settings.default_model
        if configured:
            return ModelRef.parse(configured)
        default = ModelRef.parse(self.default_model)
        if self.embedded_model is None or self._backend is not None or over.backend is not None:
            return default
        from extractkit.local.embedded import announce, embedded_missing, key_available

        if key_available(settings.backend(default.provider)) or embedded_missing():
            return default
        announce(self.name)
        return ModelRef.parse(self.embedded_model)

    def _check_can_run(self, ref: ModelRef) -> None:
        """Raise ConfigError naming the routes when the class default would run without its key."""
        if self._backend is not None or self._override().backend is not None:
            return
        if str(ref) != str(ModelRef.parse(self.default_model)):
            return
        from extractkit.local.embedded import key_available, no_model_message

        config = self.settings.backend(ref.provider)
        if config.type in ("openai", "azure") and not key_available(config):
            raise ConfigError(
                no_model_message(
                    type(self).__name__, self.name, ref, config, local=self.embedded_model is not None
                ),
                key=f"extractors.{self.name}.model",
            )

    def resolve_shadow(self) -> Shadow | None:
        """The shadow policy of this extractor: the ``shadow=`` argument, else config; ``None`` if off."""
        arg = self._shadow
        if arg is False or arg is True:
            return None
        if arg is None or isinstance(arg, str):
            cfg = self.settings.extractor(self.name)
            model = arg or cfg.shadow
            if model is None:
                return None
            from extractkit.shadow import policy_from_config

            return policy_from_config(model, cfg, self._shadow_rate)
        return arg

    def answers_agree(self, live: Any, shadow: Any) -> bool:
        """Whether a shadow model's answer agrees with the live one (both as recorded JSON data).

        Equal JSON by default (:func:`extractkit.shadow.answers_equal`): object key order is
        ignored and ``1 == 1.0``; list order, case and every other value count. Override it to
        compare what matters for your extractor (e.g. ignore case or list order).
        """
        from extractkit.shadow import answers_equal

        return answers_equal(live, shadow)

    def resolve_profile(self, ref: ModelRef | None = None) -> ModelProfile:
        """The model profile with config and constructor overrides applied."""
        ref = ref or self.resolve_model()
        cfg = self.settings.extractor(self.name)
        backend = self.settings.backend(ref.provider)
        return profile_for(
            ref, backend_type=backend.type, structured_outputs=backend.structured_outputs
        ).with_overrides(
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
        if not _loaded:
            _load()
        table = dict(_overrides.get())
        table[cls] = _Overrides(str(ModelRef.parse(model)) if model else None, backend)
        token = _overrides.set(table)
        try:
            yield
        finally:
            _overrides.reset(token)

    @classmethod
    def from_type(
        cls,
        output_type: Any,
        *,
        name: str | None = None,
        instructions: str | None = None,
        teacher_instructions: str | None = None,
        examples: Sequence[Example] = (),
        default_model: str | None = None,
        max_attempts: int | None = None,
    ) -> type[Extractor[Any]]:
        """A named Extractor subclass for ``output_type``, without writing the class.

        ``Extractor.from_type(Skills)`` is a class named ``SkillsExtractor`` whose
        configuration key is ``skills`` (``[extractors.skills] model = ...``), so
        configuration swaps its model like any extractor's. Classes are cached: the
        same arguments give the same class. See :mod:`extractkit.frontdoor`.

        Args:
            output_type: What to extract (a pydantic model, ``list[str]``, a ``Literal``...).
            name: The configuration key (default: from the type's name).
            instructions: The minimal system prompt (default: one made from the name).
            teacher_instructions: The rules of the full prompt (default: ``instructions``).
            examples: Few-shot examples for the full prompt.
            default_model: The class default model (default ``openai:gpt-4o-mini``).
            max_attempts: Model answers tried before giving up on invalid output.
        """
        from extractkit.frontdoor import extractor_class

        return extractor_class(
            output_type,
            base=cls,
            name=name,
            instructions=instructions,
            teacher_instructions=teacher_instructions,
            examples=tuple(examples),
            default_model=default_model,
            max_attempts=max_attempts,
        )

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
        return None if url is None else shared_store(url, self.settings.on_record_error)

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
        """Validate the parsed value (keys against the strict schema, then the type); raise ValidationFailure.

        A fix applied on the way (a bare answer wrapped as ``{"answer": ...}``) is
        added to ``ctx.actions`` and recorded with the answer's repairs.
        """
        typed, actions = ctx.spec.check(value)
        ctx.actions.extend(actions)
        return typing.cast(OutputT, typed)

    def dump_output(self, value: OutputT, ctx: CallContext) -> Any:
        """The JSON value the model emits for ``value`` (what is recorded and trained on)."""
        return ctx.spec.dump(value)

    # ----------------------------------------------------------------- requests

    def _context(
        self,
        text: str,
        history: Iterable[HistoryItem] | None,
        *,
        ref: ModelRef | None = None,
        rng: random.Random | None = None,
    ) -> tuple[ModelRef, CallContext]:
        if not isinstance(text, str):
            raise UserError(f"extract() takes the input text as a str, got {type(text).__name__}")
        ref = ref or self.resolve_model()
        profile = self.resolve_profile(ref)
        spec = self.spec
        if profile.output_mode is OutputMode.JSON_SCHEMA and spec.strict_schema is None:
            # Free-form objects can't be strict: fall back to JSON mode with the schema in the prompt.
            profile = replace(profile, output_mode=OutputMode.JSON_OBJECT)
        hist = tuple(_as_message(h) for h in history or ()) if history else ()
        return ref, CallContext(text, hist, profile, spec, rng or self._rng)

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

    def extract_detailed_sync(
        self, text: str, *, history: Iterable[HistoryItem] | None = None
    ) -> Extraction[OutputT]:
        """Blocking :meth:`extract_detailed`: the value with usage, cost, latency, attempts and repairs."""
        from extractkit.runtime import run_sync

        return run_sync(self.extract_detailed(text, history=history))

    async def extract_detailed(
        self,
        text: str,
        *,
        history: Iterable[HistoryItem] | None = None,
        budget: RequestBudget | None = None,
    ) -> Extraction[OutputT]:
        """Like :meth:`extract`, with usage, cost, latency, attempts and repairs.

        Args:
            text: The input.
            history: Earlier conversation turns.
            budget: Requests this call may still send (shared across calls for one input, as
                dataset labelling does); a spent budget ends the call with its last error.

        Raises:
            BackendTimeoutError: A request passed its timeout on every transport try, or the
                call passed its deadline (``bound == "deadline"``).
        """
        started = time.perf_counter()
        ref, ctx = self._context(text, history)
        self._check_can_run(ref)
        run = ExtractionRun(self, ref, ctx, started)
        extraction = await self._answer(run, budget=budget)
        run.shadow()  # in the background, when configured: never delays or changes this result
        return extraction

    async def _answer(
        self,
        run: ExtractionRun,
        *,
        budget: RequestBudget | None = None,
        deadline_s: float | None = None,
        gated: bool = True,
    ) -> Extraction[OutputT]:
        """The answer loop of one call: send, judge, re-ask, until a valid value or a typed error.

        ``deadline_s`` replaces the resolved deadline and ``gated=False`` bypasses the backend's
        concurrency gate (shadow calls, which have their own cap and must not queue live calls).
        """
        ref, ctx = run.ref, run.ctx
        base = self._request(ref, ctx)
        backend, gate = self._resolve_backend(ref)
        if not gated:
            gate = None
        cfg = self.settings.extractor(self.name)
        max_attempts = self._max_attempts or cfg.max_attempts or self.max_attempts
        seconds = deadline_s if deadline_s is not None else self._deadline_seconds(cfg, base.timeout, backend)
        deadline = None if seconds == math.inf else Deadline(seconds)
        usage = Usage()
        request = base
        raw: str | None = None
        attempts = 0
        while True:
            try:
                response = await self._send(backend, gate, request, deadline, budget, ref)
            except BackendError as exc:
                run.note(request, raw, usage, attempts)
                run.record(value=None, error=exc, repairs=())
                raise
            attempts += 1
            usage = usage + (response.usage or Usage())
            raw = _raw_answer(response)
            run.note(request, raw, usage, attempts, response.finish_reason)
            verdict = self._judge(response, raw, ctx, run)
            if verdict.ok:
                return await run.succeed(verdict.value, verdict.repairs)
            if attempts >= max_attempts or (budget is not None and budget.left <= 0):
                raise self._give_up(run, ref, verdict, attempts, budget)
            self._log_reask(ref, attempts, max_attempts, verdict.errors)
            request = replace(base, messages=base.messages + _reask_turns(response, raw, verdict))

    def _judge(
        self, response: ChatResponse, raw: str | None, ctx: CallContext, run: ExtractionRun
    ) -> _Verdict:
        """What one answer is worth: the value with its repairs, or the errors a re-ask needs.

        Refusals and truncated answers raise their typed errors here: a re-ask cannot help
        them. Every loop that reads answers (``extract_detailed``, streaming) calls this, so
        they judge alike.
        """
        if response.refusal is not None or response.finish_reason == "content_filter":
            reason = response.refusal or "the provider's content filter stopped the answer"
            raise run.fail(RefusalError, f"the model refused: {reason}", errors=[reason])
        if response.finish_reason == "length":
            raise run.truncated(raw, self, ctx)
        try:
            if raw is None or not raw.strip():
                raise RepairError("the answer was empty", raw=raw)
            ctx.actions.clear()
            parsed, repairs = self.parse(raw, ctx)
            value = self.postprocess(parsed, ctx)
        except CutOffAnswer as exc:
            raise run.truncated(raw, self, ctx, cut=exc) from None
        except RepairError as exc:
            return _Verdict(False, errors=[str(exc)], unparseable=True)
        except ValidationFailure as exc:
            return _Verdict(False, errors=list(exc.errors))
        return _Verdict(True, value, parsed, (*repairs, *ctx.actions))

    def _give_up(
        self,
        run: ExtractionRun,
        ref: ModelRef,
        verdict: _Verdict,
        attempts: int,
        budget: RequestBudget | None = None,
    ) -> ExtractionError:
        """The error for a call whose answers never validated (attempts or budget spent)."""
        spent = budget is not None and budget.left <= 0
        kind = UnparseableOutputError if verdict.unparseable else InvalidOutputError
        what = "no JSON could be recovered" if verdict.unparseable else "the output did not validate"
        why = f" (the input's request budget ({budget.limit}) was spent)" if spent and budget else ""
        return run.fail(
            kind,
            f"{type(self).__name__}: {what} after {attempts} attempt(s) with {ref}{why}: "
            f"{'; '.join(verdict.errors[:3])}. Raise max_attempts, use a stronger model or the full prompt.",
            errors=verdict.errors,
        )

    def _log_reask(self, ref: ModelRef, attempts: int, max_attempts: int, errors: list[str]) -> None:
        log.info(
            "%s: re-asked %s, answer attempt %d of %d, after: %s",
            type(self).__name__,
            ref,
            attempts + 1,
            max_attempts,
            "; ".join(errors[:3]),
        )

    def extract_stream(
        self, text: str, *, history: Iterable[HistoryItem] | None = None
    ) -> AsyncGenerator[StreamUpdate[OutputT], None]:
        """Stream the extraction: partial values while the model writes, then the validated one.

        Use as ``async for update in extractor.extract_stream(text)``. Each
        :class:`~extractkit.streaming.StreamUpdate` has the value so far (``value``, a
        partial instance of the output type; ``data``, its JSON), the path of a string
        still being written (``in_progress``) and ``attempt``. Within one attempt a later
        update only adds to an earlier one; a re-ask or a retried broken stream starts
        the next attempt from nothing. The last update has ``done=True`` and the
        ``extraction``, validated, recorded and priced exactly like :meth:`extract_detailed`.

        Raises:
            ExtractionError: no valid output (truncated, refused, unparseable, invalid).
            BackendError: the model could not be reached after transport retries.
        """
        from extractkit.streaming import stream_extraction

        return stream_extraction(self, text, history)

    def extract_stream_sync(
        self, text: str, *, history: Iterable[HistoryItem] | None = None
    ) -> Iterator[StreamUpdate[OutputT]]:
        """Blocking :meth:`extract_stream` (runs on extractkit's background event loop).

        Leaving the loop early (``break``) closes the stream.
        """
        from extractkit.runtime import iterate_sync

        return iterate_sync(self.extract_stream(text, history=history))

    def requests_per_call(self) -> int:
        """The most requests one call may send: transport tries x answer attempts (5 x 3 by default)."""
        cfg = self.settings.extractor(self.name)
        return self.retry.max_attempts * (self._max_attempts or cfg.max_attempts or self.max_attempts)

    def resolve_deadline(self, backend: ChatBackend | None = None) -> float:
        """Seconds one call may take (``math.inf`` for no deadline).

        The ``deadline=`` argument, else ``deadline`` in ``[extractors.NAME]``
        (``EXTRACTKIT_<NAME>_DEADLINE``), else in ``[defaults]`` (``EXTRACTKIT_DEADLINE``),
        else :data:`DEFAULT_DEADLINE_FACTOR` x the request timeout.
        """
        cfg = self.settings.extractor(self.name)
        timeout = self.timeout if self.timeout is not None else cfg.timeout
        backend = backend or self._backend or self._override().backend
        if backend is None and timeout is None:
            timeout = self.settings.backend(self.resolve_model().provider).timeout
        return self._deadline_seconds(cfg, timeout, backend)

    def _deadline_seconds(self, cfg: Any, timeout: float | None, backend: ChatBackend | None) -> float:
        if self.deadline is not None:
            return self.deadline
        if cfg.deadline is not None:
            return float(cfg.deadline)
        if self.settings.deadline is not None:
            return self.settings.deadline
        if timeout is None:
            timeout = getattr(backend, "timeout", None)
        if not isinstance(timeout, int | float) or timeout <= 0:
            timeout = _DEFAULT_TIMEOUT
        return DEFAULT_DEADLINE_FACTOR * float(timeout)

    async def _send(
        self,
        backend: ChatBackend,
        gate: asyncio.Semaphore | None,
        request: ChatRequest,
        deadline: Deadline | None = None,
        budget: RequestBudget | None = None,
        ref: ModelRef | None = None,
    ) -> ChatResponse:
        """One answer from the model, with transport retries, within the deadline and budget."""

        async def once() -> ChatResponse:
            if budget is not None:
                budget.take()
            if gate is None:
                return await backend.complete(request)
            async with gate:
                return await backend.complete(request)

        what = f"{ref or request.model} request"
        if deadline is None:
            return await call_with_retries(once, self.retry, budget=budget, what=what)
        left = deadline.remaining()
        if left <= 0:
            raise deadline.exceeded("before the next answer attempt was sent")
        # A backend that bounds each request by its timeout needs no deadline timer for a first
        # try that is sure to end in time (and does not queue at the gate): one timer a call.
        timeout = request.timeout if request.timeout is not None else getattr(backend, "timeout", None)
        bounded = (
            getattr(backend, "bounds_requests", False)
            and isinstance(timeout, int | float)
            and timeout < left
            and (gate is None or not gate.locked())
        )
        return await call_with_retries(
            once, self.retry, deadline=deadline, first_try_bounded=bounded, budget=budget, what=what
        )

    async def extract_many(
        self,
        texts: Iterable[str],
        *,
        concurrency: int | None = None,
        on_progress: Callable[[int, int, ItemResult[OutputT]], None] | None = None,
        budgets: Sequence[RequestBudget] | None = None,
    ) -> list[ItemResult[OutputT]]:
        """Extract from many inputs with bounded concurrency, keeping input order.

        Items are isolated: whatever one input raises becomes that input's
        :class:`ItemResult` error (an exception that is not an extractkit error is wrapped
        in :class:`~extractkit.exceptions.ItemError`, the original kept as its cause), and
        every other input's result comes back. Only cancellation (Ctrl-C) ends the call.
        ``on_progress(done, total, item)`` is called as each item finishes; if it raises,
        that item carries the error.

        Args:
            texts: The inputs.
            concurrency: Extractions in flight (default: the settings' ``max_concurrency``).
            on_progress: Called as each item finishes.
            budgets: One :class:`~extractkit.retries.RequestBudget` per input (requests it may send).
        """
        items = list(texts)
        limit = concurrency or self.settings.max_concurrency
        if limit < 1:
            raise UserError(f"concurrency must be >= 1, got {limit}")
        if budgets is not None and len(budgets) != len(items):
            raise UserError(f"budgets has {len(budgets)} entries for {len(items)} inputs; give one per input")
        results: list[ItemResult[OutputT] | None] = [None] * len(items)
        cursor = iter(range(len(items)))
        done = 0

        async def worker() -> None:
            nonlocal done
            for i in cursor:
                try:
                    budget = budgets[i] if budgets is not None else None
                    ex = await self.extract_detailed(items[i], budget=budget)
                    result: ItemResult[OutputT] = ItemResult(i, items[i], extraction=ex)
                except Exception as exc:  # isolation: one input's failure is that input's result
                    result = ItemResult(i, items[i], error=ItemError.wrap(exc, f"input {i}"))
                done += 1
                if on_progress is not None:
                    try:
                        on_progress(done, len(items), result)
                    except Exception as exc:
                        error = ItemError.wrap(exc, f"input {i}: on_progress")
                        result = ItemResult(i, items[i], extraction=result.extraction, error=error)
                results[i] = result

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


def _reask_turns(response: ChatResponse, raw: str | None, verdict: _Verdict) -> tuple[Message, ...]:
    feedback = feedback_text(verdict.errors, unparseable=verdict.unparseable)
    if response.tool_calls:
        call: ToolCall = response.tool_calls[0]
        return (
            Message("assistant", None, tool_calls=(call,)),
            Message("tool", feedback, tool_call_id=call.id),
        )
    return (Message("assistant", raw or ""), Message("user", feedback))
