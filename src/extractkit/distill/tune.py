"""The model steps of a distillation: fine-tune, evaluate, and the gate that switches the config.

- :func:`finetune_step` starts one job and records its id in the manifest the moment it
  exists, so a run stopped while the job trains follows the same job when resumed and
  never pays for a second one.
- :func:`evaluate_step` runs teacher, base student and fine-tuned student on the held-out
  set with :func:`extractkit.evals.run_eval`; answers go to an answer cache in the run
  directory as they arrive, so a resumed evaluation asks only what it has not got.
- :func:`gate_step` holds the student to the :class:`~extractkit.distill.gate.GatePolicy`
  and, only when it passes, writes the model into ``extractkit.toml`` with the careful
  config editor of :mod:`extractkit.finetune`. The gate is decided again on every run
  (it spends nothing), so ``--min-accuracy`` can be changed on a finished run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from extractkit import exceptions
from extractkit.datasets import write_lines_atomic
from extractkit.distill.context import RunContext
from extractkit.distill.estimate import price_table
from extractkit.distill.gate import GateDecision, decide
from extractkit.distill.manifest import digest_file, digest_value
from extractkit.distill.prepare import EVAL_FILE, TRAIN_FILE
from extractkit.evals import Candidate, EvalReport, ProgressPrinter, Replay, run_eval
from extractkit.exceptions import BackendError, DatasetError, FineTuneError, UserError
from extractkit.finetune import (
    FineTuningBackend,
    JobStatus,
    OpenAIFineTuningBackend,
    follow_job,
    start_job,
    update_extractor_model,
)
from extractkit.prices import training_cost

__all__ = ["EVAL_HTML", "EVAL_JSON", "evaluate_step", "finetune_step", "gate_step"]

EVAL_JSON = "eval.json"
EVAL_HTML = "eval.html"
CACHE_FILE = "eval-cache.sqlite"


def _backend(ctx: RunContext) -> FineTuningBackend:
    config = ctx.settings.backend(ctx.provider)
    if config.type == "local":
        from extractkit.local import LocalFineTuningBackend

        return LocalFineTuningBackend(models_dir=config.options.get("models_dir"))
    return OpenAIFineTuningBackend.from_config(config)


def _poll_sleep(ctx: RunContext) -> Callable[[float], Awaitable[None]]:
    if ctx.sleep is asyncio.sleep and ctx.local(ctx.student_ref):
        # A local job trains in this process and its state is a file: polling every second is cheap
        # and ends the wait within a second of the job.
        return lambda seconds: asyncio.sleep(min(seconds, 1.0))
    return ctx.sleep


async def finetune_step(ctx: RunContext) -> dict[str, Any]:
    """Fine-tune the student on ``train.jsonl`` (one job per run) and follow it to its end.

    Raises:
        FineTuneError: The provider refused the file or the job, or the job failed.
    """
    opts = ctx.options
    hyper = opts.hyperparameters
    inputs = {
        "train": digest_file(ctx.file(TRAIN_FILE)),
        "student": str(ctx.student_ref),
        "hyperparameters": asdict(hyper),
        "seed": opts.seed,
        "suffix": opts.suffix,
    }
    done = ctx.manifest.done("finetune", inputs)
    if done is not None:
        ctx.step_say("finetune", f"done earlier: {done.outputs['model']}")
        return done.outputs
    record = ctx.manifest.begin("finetune", inputs, keep_outputs=True)
    backend = ctx.finetune_backend or _backend(ctx)
    local = ctx.local(ctx.student_ref)
    try:
        job = None
        job_id = record.outputs.get("job_id")
        if isinstance(job_id, str):
            job = await backend.get_job(job_id)
            if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                if not local:
                    raise FineTuneError(
                        f"the fine-tuning job {job_id} this run started ended {job.status.value}: "
                        f"{job.describe_error()}. Start over with --restart to pay for a new job "
                        "(the evaluation set and the teacher labels are kept)",
                        job_id=job_id,
                    )
                ctx.step_say(
                    "finetune", f"the earlier local job {job_id} ended {job.status.value}; training again"
                )
                job = None
            else:
                ctx.step_say("finetune", f"following {job_id}, started by an earlier attempt")
        if job is None:
            job = await start_job(
                backend,
                ctx.file(TRAIN_FILE),
                model=ctx.student_ref.model,
                extractor=ctx.name,
                suffix=opts.suffix,
                seed=opts.seed,
                hyperparameters=hyper,
            )
            ctx.manifest.note("finetune", job_id=job.id)
            ctx.step_say("finetune", f"started {job.id} on {ctx.student_ref}")
        try:
            job = await follow_job(
                backend, job.id, out=ctx.progress, poll_interval=opts.poll_interval, sleep=_poll_sleep(ctx)
            )
        except (KeyboardInterrupt, asyncio.CancelledError):
            if local:
                # A local job trains in this process, which cannot exit while it does: stop it (at its
                # next step). Training again costs nothing, so the resumed run simply starts anew.
                ctx.step_say("finetune", f"stopping the local job {job.id} at its next training step")
                await _cancel_quietly(backend, job.id)
            raise
    finally:
        if ctx.finetune_backend is None:
            await backend.aclose()
    assert job.fine_tuned_model is not None
    model = f"{ctx.provider}:{job.fine_tuned_model}"
    if local:
        cost: float | None = 0.0
    elif job.trained_tokens is None:
        cost = None
    else:  # trained_tokens counts every epoch already
        cost = training_cost(job.trained_tokens, ctx.student_ref.model, 1, table=price_table(ctx.settings))
    outputs = {
        "job_id": job.id,
        "model": model,
        "trained_tokens": job.trained_tokens,
        "epochs": job.hyperparameters.n_epochs,
        "cost": cost,
    }
    ctx.step_say("finetune", f"{model} is ready")
    return ctx.manifest.finish("finetune", outputs).outputs


async def _cancel_quietly(backend: FineTuningBackend, job_id: str) -> None:
    try:
        await backend.cancel_job(job_id)
    except Exception:  # an interrupted run stops; a job that cannot be cancelled ends on its own
        pass


def _transport_failures(report: EvalReport) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for name, results in report.results.items():
        for result in results:
            kind = result.error_type
            if kind is None:
                continue
            cls = getattr(exceptions, kind, None)
            if isinstance(cls, type) and issubclass(cls, exceptions.ExtractionError):
                continue  # the model answered, badly: a score, not a failure of the evaluation
            found.setdefault(name, {})[kind] = found.setdefault(name, {}).get(kind, 0) + 1
    return found


def _spent(report: EvalReport, live: set[str], local: set[str]) -> float | None:
    total = 0.0
    for name in live - local:
        for result in report.results[name]:
            if result.attempts > 0:
                if result.cost is None:
                    return None
                total += result.cost
    return total


def _eval_concurrency(ctx: RunContext) -> int:
    if not ctx.local(ctx.student_ref):
        return ctx.options.concurrency
    # A local server decodes `parallel` requests at once (default 1); more in flight would only queue
    # there, add the wait to the measured latency, and run into the request timeout.
    parallel = ctx.settings.backend(ctx.provider).options.get("parallel", 1)
    return max(1, min(ctx.options.concurrency, int(parallel)))


async def evaluate_step(ctx: RunContext, model: str) -> dict[str, Any]:
    """Evaluate teacher, base student and fine-tuned ``model`` on the held-out set.

    Raises:
        BackendError: Calls did not reach a model (rerun: answers obtained are cached).
        UserError: ``teacher_eval="replay"`` and the store lacks the teacher's answer to a case.
    """
    opts = ctx.options
    inputs = {
        "eval": digest_file(ctx.file(EVAL_FILE)),
        "train": digest_file(ctx.file(TRAIN_FILE)),
        "teacher": str(ctx.teacher_ref),
        "teacher_eval": opts.teacher_eval,
        "student": str(ctx.student_ref),
        "base_prompt": opts.base_prompt,
        "model": model,
        "scorer": opts.scorer,
        "max_tokens": opts.max_tokens,
    }
    changed = ctx.manifest.changed("evaluate", inputs)
    if changed:
        ctx.step_say(
            "evaluate", f"{', '.join(changed)} changed: evaluating again (cached answers are reused)"
        )
    done = ctx.manifest.done("evaluate", inputs, redo=True)
    if done is not None:
        ctx.step_say("evaluate", "done earlier")
        return done.outputs
    ctx.manifest.begin("evaluate", inputs)
    replay = Replay(ctx.store_url(), model=str(ctx.teacher_ref)) if opts.teacher_eval == "replay" else None
    options: dict[str, Any] = {"seed": opts.seed, "max_tokens": opts.max_tokens}
    teacher = (
        Candidate(
            "teacher",
            replay=replay,
            description="answers replayed from the store: cost and latency as recorded",
        )
        if replay is not None
        else Candidate("teacher", model=str(ctx.teacher_ref), prompt_variant="full", options=options)
    )
    candidates = [
        teacher,
        Candidate("base", model=str(ctx.student_ref), prompt_variant=opts.base_prompt, options=options),
        Candidate("finetuned", model=model, options=options),
    ]
    ctx.step_say("evaluate", f"teacher, base and fine-tuned student on {ctx.file(EVAL_FILE)}")
    printer = ProgressPrinter(ctx.progress) if ctx.progress is not None else None
    try:
        report = await run_eval(
            ctx.factory,
            ctx.file(EVAL_FILE),
            candidates,
            scorer=opts.scorer,
            baseline="teacher",
            concurrency=_eval_concurrency(ctx),
            settings=ctx.settings,
            cache=ctx.file(CACHE_FILE),
            progress=printer,
            training_file=ctx.file(TRAIN_FILE),
        )
    finally:
        if printer is not None:
            printer.close()
        if replay is not None:
            replay.close()
    failures = _transport_failures(report)
    missing = failures.get("teacher", {}).pop("MissingAnswer", 0) if replay is not None else 0
    if missing:
        raise UserError(
            f"the store has no answer recorded from {ctx.teacher_ref} for {missing} evaluation case(s); "
            "evaluate the teacher live instead (--teacher-eval live)"
        )
    failures = {k: v for k, v in failures.items() if v}
    if failures:
        shown = "; ".join(
            f"{n}: " + ", ".join(f"{k} x{c}" for k, c in v.items()) for n, v in failures.items()
        )
        raise BackendError(
            f"some evaluation calls did not reach the model ({shown}). Run the same command again to retry "
            f"them: the answers obtained are kept in {ctx.file(CACHE_FILE)}"
        )
    if report.overlap:
        raise DatasetError(f"{len(report.overlap)} evaluation case(s) are in the training file")
    write_lines_atomic(ctx.file(EVAL_JSON), [report.to_json()])
    write_lines_atomic(ctx.file(EVAL_HTML), [report.to_html()])
    live = {"base", "finetuned"} | (set() if replay is not None else {"teacher"})
    local = {
        name
        for name, ref in (
            ("teacher", ctx.teacher_ref),
            ("base", ctx.student_ref),
            ("finetuned", ctx.student_ref),
        )
        if ctx.local(ref)
    }
    outputs = {
        "cases": len(report.cases),
        "candidates": report.candidates,
        "metrics": {name: report.metrics[name].to_dict() for name in report.names},
        "notes": report.notes(),
        "cost": _spent(report, live, local),
        "duration_s": round(report.duration_s, 1),
    }
    for name in report.names:
        m = report.metrics[name]
        low, high = m.accuracy.interval
        ctx.say(f"  {name}: accuracy {m.accuracy.hits}/{m.n} (95% CI {low:.0%}-{high:.0%})")
    return ctx.manifest.finish("evaluate", outputs, files=(EVAL_JSON,)).outputs


def gate_step(
    ctx: RunContext, evaluation: dict[str, Any], model: str
) -> tuple[GateDecision, dict[str, Any] | None]:
    """Decide whether ``model`` replaces the teacher; on a pass, switch the extractor to it in the config.

    Returns:
        The decision, and what was written to the config (``None`` when nothing was).
    """
    opts = ctx.options
    teacher_local = opts.teacher_eval == "live" and ctx.local(ctx.teacher_ref)
    decision = decide(
        evaluation["metrics"],
        opts.policy,
        teacher_local=teacher_local,
        student_local=ctx.local(ctx.student_ref),
    )
    inputs = {
        "eval": digest_file(ctx.file(EVAL_JSON)),
        "policy": opts.policy.to_dict(),
        "model": model,
        "update_config": opts.update_config,
        "config": str(opts.config) if opts.config is not None else None,
    }
    previous = ctx.manifest.steps.get("gate")
    applied = (
        previous.outputs.get("config")
        if previous is not None and previous.status == "done" and previous.digest == digest_value(inputs)
        else None
    )
    ctx.manifest.begin("gate", inputs)
    ctx.step_say("gate", decision.summary())
    config: dict[str, Any] | None = None
    if decision.passed and opts.update_config:
        if applied:
            config = applied
            ctx.say(f"  {config['path']} already names {model} (written earlier)")
        else:
            update = update_extractor_model(
                ctx.name, model, path=opts.config, reason=f"extractkit distill ({ctx.run_dir})"
            )
            config = {
                "path": str(update.path),
                "model": update.model,
                "previous": update.previous_model,
                "notes": list(update.notes),
            }
            ctx.say(f"  {update.path}: [extractors.{update.extractor}] model = {update.model!r}")
            for note in update.notes:
                ctx.say(f"  note: {note}")
    elif not decision.passed:
        ctx.say("  the config was left as it is")
    ctx.manifest.finish("gate", {"decision": decision.to_dict(), "config": config})
    return decision, config
