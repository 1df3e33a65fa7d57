"""One call from recorded traffic to a cheaper model in use: :func:`distill`.

::

    from extractkit import LocationExtractor
    from extractkit.distill import DistillOptions, distill_sync

    result = distill_sync(
        LocationExtractor,
        DistillOptions(teacher="openai:gpt-4o", student="gpt-4o-mini-2024-07-18", store="sqlite:///ex.db"),
        confirm=lambda question: True,
    )
    print(result.status, result.model)   # "passed" "openai:ft:gpt-4o-mini-2024-07-18:acme::abc"

The steps run in order (collect, estimate, label, dataset, split, finetune,
evaluate, gate, report), each recorded in the run directory's manifest and skipped
by a later run when it is done with the same inputs. Errors are typed
(:class:`~extractkit.exceptions.DatasetError` for bad data,
:class:`~extractkit.exceptions.FineTuneError`, :class:`~extractkit.exceptions.BackendError`,
:class:`~extractkit.exceptions.UserError` for options); the step that raised is
marked failed in the manifest and the report is written all the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from extractkit.datasets import write_lines_atomic
from extractkit.distill.context import STEPS, DistillOptions, ExtractorFactory, RunContext
from extractkit.distill.estimate import CostEstimate
from extractkit.distill.gate import GateDecision
from extractkit.distill.manifest import RunManifest
from extractkit.distill.prepare import (
    collect_step,
    dataset_step,
    estimate_step,
    fixed_eval_digest,
    label_step,
    split_step,
)
from extractkit.distill.report import REPORT_FILE, render_report
from extractkit.distill.tune import evaluate_step, finetune_step, gate_step
from extractkit.finetune import FineTuningBackend

__all__ = ["DistillResult", "RunStatus", "distill", "distill_sync"]

RunStatus = Literal["passed", "refused", "dry-run", "declined"]


@dataclass
class DistillResult:
    """How a distillation ended.

    Attributes:
        status: ``passed`` (the student replaces the teacher), ``refused`` (the gate said no),
            ``dry-run`` (stopped after the estimate) or ``declined`` (the estimate was not confirmed).
        run_dir: The run directory.
        estimate: The cost estimate.
        model: The fine-tuned model reference, once trained.
        decision: The gate's decision.
        config: What was written to ``extractkit.toml`` (``path``, ``model``, ``previous``), if anything.
        report: The HTML report, once written.
        steps: Per step: status, seconds and outputs (the manifest's view).
    """

    status: RunStatus
    run_dir: Path
    estimate: CostEstimate | None = None
    model: str | None = None
    decision: GateDecision | None = None
    config: dict[str, Any] | None = None
    report: Path | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when it passed or was a dry run; 1 when the gate refused or the estimate was declined."""
        return 0 if self.status in ("passed", "dry-run") else 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the ``--json`` output)."""
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "run_dir": str(self.run_dir),
            "estimate": self.estimate.to_dict() if self.estimate is not None else None,
            "model": self.model,
            "gate": self.decision.to_dict() if self.decision is not None else None,
            "config": self.config,
            "report": str(self.report) if self.report is not None else None,
            "steps": self.steps,
        }


def _restart(ctx: RunContext) -> None:
    """Forget the steps done; keep the evaluation set fixed (and the teacher labels, by their file)."""
    fixed = fixed_eval_digest(ctx.run_dir)
    ctx.manifest.data["fixed_eval"] = fixed
    ctx.manifest.forget(*STEPS)
    ctx.say(
        f"restarting {ctx.run_dir}: "
        + ("the evaluation set stays as it was; " if fixed else "")
        + "teacher labels already paid for are reused"
    )


def _write_report(ctx: RunContext) -> Path:
    path = ctx.file(REPORT_FILE)
    write_lines_atomic(path, [render_report(ctx.manifest).rstrip("\n")])
    return path


def _steps(manifest: RunManifest) -> dict[str, dict[str, Any]]:
    return {
        name: {"status": r.status, "seconds": r.seconds, "outputs": r.outputs, "error": r.error}
        for name, r in manifest.steps.items()
    }


async def distill(
    extractor: ExtractorFactory,
    options: DistillOptions,
    *,
    confirm: Callable[[str], bool] | None = None,
    progress: TextIO | None = None,
    finetune_backend: FineTuningBackend | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> DistillResult:
    """Distill the teacher into a fine-tuned student for ``extractor``, step by resumable step.

    Args:
        extractor: The extractor class, or a factory taking ``Extractor``'s keyword arguments.
        options: What to distill and how (see :class:`~extractkit.distill.DistillOptions`).
        confirm: Called with a question once the estimate is shown (on the ``progress``
            stream), before anything is spent; ``True`` goes on. ``None`` refuses to spend
            (a dry run needs none).
        progress: Where progress lines go (the CLI passes standard error); ``None``: nowhere.
        finetune_backend: The fine-tuning backend (default: built from the provider's config).
        sleep: The async sleep between polls of the fine-tuning job (injected in tests).

    Returns:
        The result; its :attr:`~DistillResult.exit_code` is what the CLI exits with.

    Raises:
        DatasetError: The data cannot be trained on (every problem named, with its line).
        FineTuneError: The provider refused or failed the job.
        BackendError: Model calls failed after retries (rerun to retry; nothing paid is lost).
        UserError: Bad options, a run directory done with other inputs, or no confirmation.
    """
    ctx = RunContext(
        extractor, options, progress=progress, confirm=confirm, finetune_backend=finetune_backend, sleep=sleep
    )
    if options.restart:
        _restart(ctx)
    # Kept from the run's start: a later command refused for other inputs must not relabel the run.
    if not ctx.manifest.steps or "run" not in ctx.manifest.data:
        ctx.manifest.data["run"] = {
            "extractor": ctx.name,
            "teacher": str(ctx.teacher_ref),
            "student": str(ctx.student_ref),
            "provider": ctx.provider,
        }
    result = DistillResult(status="declined", run_dir=ctx.run_dir)
    current = "collect"
    try:
        collect_step(ctx)
        current = "estimate"
        result.estimate, confirmed = estimate_step(ctx)
        if not confirmed:
            result.status = "dry-run" if options.dry_run else "declined"
            return result
        current = "label"
        labels = await label_step(ctx)
        current = "dataset"
        dataset_step(ctx, labels)
        current = "split"
        split_step(ctx)
        current = "finetune"
        result.model = (await finetune_step(ctx))["model"]
        current = "evaluate"
        evaluation = await evaluate_step(ctx, result.model)
        current = "gate"
        result.decision, result.config = gate_step(ctx, evaluation, result.model)
        result.status = "passed" if result.decision.passed else "refused"
        current = "report"
        return result
    except (Exception, KeyboardInterrupt, asyncio.CancelledError) as exc:
        record = ctx.manifest.steps.get(current)
        if record is not None and record.status == "running":
            ctx.manifest.fail(current, "interrupted" if not isinstance(exc, Exception) else exc)
        raise
    finally:
        if ctx.manifest.steps or ctx.run_dir.exists():
            ctx.manifest.save()
            result.report = _write_report(ctx)
            if current == "report":
                ctx.step_say("report", str(result.report))
        result.steps = _steps(ctx.manifest)
        await _close_backends()


async def _close_backends() -> None:
    # Local model servers started for the evaluation must not outlive the run.
    from extractkit.runtime import aclose

    try:
        await aclose()
    except Exception:  # closing connections never hides the run's own outcome
        pass


def distill_sync(extractor: ExtractorFactory, options: DistillOptions, **kwargs: Any) -> DistillResult:
    """Blocking :func:`distill` (runs on extractkit's background event loop)."""
    from extractkit.runtime import run_sync

    return run_sync(distill(extractor, options, **kwargs))
