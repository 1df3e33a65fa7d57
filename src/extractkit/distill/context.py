"""What every step of a distillation shares: the options, the models, the run directory, progress.

:class:`DistillOptions` is what the caller asks for; :class:`RunContext` resolves
it once (settings, model references, the store URL, the extractors each role
needs) and carries the manifest and the progress stream from step to step.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from extractkit.config import ModelRef, Settings, get_settings
from extractkit.distill.gate import GatePolicy
from extractkit.distill.manifest import RunManifest, digest_value
from extractkit.exceptions import UserError
from extractkit.extractor import Extractor
from extractkit.finetune import FineTuningBackend, Hyperparameters

__all__ = ["STEPS", "DistillOptions", "ExtractorFactory", "RunContext", "student_reference"]

ExtractorFactory = Callable[..., Extractor[Any]]
"""The extractor class, or a function taking ``Extractor``'s keyword arguments (``model=``...)."""

STEPS = ("collect", "estimate", "label", "dataset", "split", "finetune", "evaluate", "gate", "report")
"""The steps, in order."""

STORE_ENV = "EXTRACTKIT_STORE"


@dataclass(frozen=True)
class DistillOptions:
    """What to distill, and how.

    Attributes:
        teacher: The teacher's model reference (``openai:gpt-4o``): labels the unlabelled inputs
            (full prompt) and is the accuracy bar.
        student: The base model to fine-tune: ``gpt-4o-mini-2024-07-18``, ``local:smollm2-135m``.
        provider: The provider that fine-tunes and serves the student (``openai``, ``local``, or a
            ``[backends.NAME]``); default: the student reference's provider.
        run_dir: The run directory (manifest, data, files, reports).
        store: The store URL; default ``$EXTRACTKIT_STORE``, else ``[store] url``.
        settings: Settings (backends, prices); default: the process's (``extractkit.toml``).
        config: The ``extractkit.toml`` to update when the gate passes; default: the discovered one.
        eval_fraction: The share of inputs held out for evaluation (never trained on).
        seed: Seed of the split, of the teacher's option shuffles and of the fine-tuning job.
        max_examples: Use at most this many inputs (reviewed ones first).
        hyperparameters: Epochs, batch size, learning-rate multiplier (default ``auto``).
        suffix: Added to the fine-tuned model's name.
        base_prompt: The prompt the base student is evaluated with (``full``: what it would run
            without fine-tuning; ``minimal``: exactly as the fine-tuned student is asked).
        teacher_eval: ``live``: the teacher answers the evaluation cases now; ``replay``: its
            answers recorded in the store are scored (no calls; every case needs one).
        scorer: ``exact``, ``normalized`` or ``fields`` (see :mod:`extractkit.evals.scorers`).
        max_tokens: Completion tokens per evaluation call, for every candidate alike: an answer
            that runs past it is cut off and counted wrong (a base model that rambles would
            otherwise hold a local server for minutes). ``None``: no bound.
        policy: The quality gate.
        update_config: Write the model into the config when the gate passes.
        concurrency: Requests in flight (labelling, evaluation).
        poll_interval: Seconds between polls of a fine-tuning job.
        drop_failed_labels: Go on without the inputs the teacher could not label (instead of stopping).
        dry_run: Stop after the estimate: no teacher call, no fine-tune.
        restart: Forget the steps done in ``run_dir`` (keeping its evaluation set and teacher labels).
    """

    teacher: str
    student: str
    provider: str | None = None
    run_dir: str | os.PathLike[str] = ".extractkit/distill"
    store: str | None = None
    settings: Settings | None = None
    config: str | os.PathLike[str] | None = None
    eval_fraction: float = 0.2
    seed: int = 0
    max_examples: int | None = None
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    suffix: str | None = None
    base_prompt: Literal["full", "minimal"] = "full"
    teacher_eval: Literal["live", "replay"] = "live"
    scorer: str = "exact"
    max_tokens: int | None = 256
    policy: GatePolicy = field(default_factory=GatePolicy)
    update_config: bool = True
    concurrency: int = 4
    poll_interval: float = 15.0
    drop_failed_labels: bool = False
    dry_run: bool = False
    restart: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.eval_fraction < 1:
            raise UserError(f"the evaluation fraction must be between 0 and 1, got {self.eval_fraction}")
        if self.max_examples is not None and self.max_examples < 2:
            raise UserError(
                f"--max-examples must be at least 2 (one to train, one to test), got {self.max_examples}"
            )
        if self.base_prompt not in ("full", "minimal"):
            raise UserError(f"base_prompt must be 'full' or 'minimal', got {self.base_prompt!r}")
        if self.teacher_eval not in ("live", "replay"):
            raise UserError(f"teacher_eval must be 'live' or 'replay', got {self.teacher_eval!r}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise UserError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.concurrency < 1:
            raise UserError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.poll_interval < 0:
            raise UserError(f"poll_interval must be >= 0 seconds, got {self.poll_interval}")


def student_reference(student: str, provider: str | None) -> ModelRef:
    """The student's base model as a reference; ``provider`` applies when ``student`` names none.

    Raises:
        UserError: ``student`` names a provider that contradicts ``provider``, or is a fine-tuned model.
    """
    text = student.strip()
    explicit = ":" in text and not text.startswith("ft:")
    ref = ModelRef.parse(text) if explicit else ModelRef(provider or "openai", text)
    if explicit and provider is not None and ref.provider != provider:
        raise UserError(
            f"--student {student!r} names provider {ref.provider!r} but --provider is {provider!r}"
        )
    if ref.is_fine_tuned:
        raise UserError(f"--student must be a base model to fine-tune, got the fine-tuned {ref.model!r}")
    return ref


class RunContext:
    """The resolved options of one run, shared by its steps.

    Args:
        factory: Builds the extractor for each role.
        options: The run's options.
        progress: Where progress lines go (``None``: nowhere).
        confirm: Asked with the estimate before anything is spent; ``None`` refuses to spend.
        finetune_backend: The fine-tuning backend to use (default: built from the provider's config).
        sleep: The async sleep between fine-tuning polls (injected in tests).
    """

    def __init__(
        self,
        factory: ExtractorFactory,
        options: DistillOptions,
        *,
        progress: TextIO | None,
        confirm: Callable[[str], bool] | None,
        finetune_backend: FineTuningBackend | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.factory = factory
        self.options = options
        self.progress = progress
        self.confirm = confirm
        self.finetune_backend = finetune_backend
        self.sleep = sleep or asyncio.sleep
        self.settings = options.settings or get_settings()
        self.teacher_ref = ModelRef.parse(options.teacher)
        self.student_ref = student_reference(options.student, options.provider)
        self.provider = self.student_ref.provider
        self.run_dir = Path(options.run_dir)
        self.manifest = RunManifest.load(self.run_dir)
        self.reference = self.build()
        self.name = self.reference.name

    # ------------------------------------------------------------------ helpers

    def say(self, line: str) -> None:
        """Write a progress line."""
        if self.progress is not None:
            print(line, file=self.progress, flush=True)

    def step_say(self, step: str, line: str) -> None:
        """A progress line for ``step``: ``[3/9] label: ...``."""
        self.say(f"[{STEPS.index(step) + 1}/{len(STEPS)}] {step}: {line}")

    def build(self, model: str | None = None, prompt_variant: str | None = None) -> Extractor[Any]:
        """The extractor for one role (never recording: distillation calls must not feed the store)."""
        kwargs: dict[str, Any] = {"store": False, "settings": self.settings, "seed": self.options.seed}
        if model is not None:
            kwargs["model"] = model
        if prompt_variant is not None:
            kwargs["prompt_variant"] = prompt_variant
        try:
            return self.factory(**kwargs)
        except TypeError as exc:
            raise UserError(f"the extractor factory rejected its arguments: {exc}") from None

    def teacher(self) -> Extractor[Any]:
        """The teacher as it labels: full prompt."""
        return self.build(str(self.teacher_ref), "full")

    def student(self) -> Extractor[Any]:
        """The student as it is trained: the base model, minimal prompt."""
        return self.build(str(self.student_ref), "minimal")

    def base(self) -> Extractor[Any]:
        """The base student as it is evaluated."""
        return self.build(str(self.student_ref), self.options.base_prompt)

    def store_url(self) -> str:
        """The store to read: the option, else ``$EXTRACTKIT_STORE``, else ``[store] url``.

        Raises:
            UserError: None is configured.
        """
        url = self.options.store or os.environ.get(STORE_ENV) or self.settings.store_url
        if not url:
            raise UserError(
                "no store to distill from: pass --store URL (e.g. sqlite:///exchanges.db), "
                f"set ${STORE_ENV}, or [store] url in extractkit.toml"
            )
        return url

    def identity(self) -> dict[str, Any]:
        """What makes the extractor what it is: its class, name and (for routers) routes."""
        extractor = self.reference
        routes = getattr(extractor, "routes", None)
        return {
            "class": f"{type(extractor).__module__}.{type(extractor).__qualname__}",
            "name": extractor.name,
            "routes": digest_value({str(k): str(v) for k, v in routes.items()})
            if isinstance(routes, Mapping)
            else None,
        }

    def file(self, name: str) -> Path:
        """A file of the run directory."""
        return self.run_dir / name

    def local(self, ref: ModelRef) -> bool:
        """Whether ``ref`` is served on this machine."""
        return self.settings.backend(ref.provider).type == "local"
