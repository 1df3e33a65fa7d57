"""``extractkit finetune``: start, follow, inspect, cancel and list fine-tuning jobs.

A thin layer over :mod:`extractkit.finetune`. ``start`` shows what the job will
cost (training tokens counted offline) and asks before spending money;
``--yes`` skips the question, and without a terminal to ask on it refuses
rather than assume. The provider's endpoint and key come from
``[backends.NAME]`` in ``extractkit.toml`` (default ``openai``, key in
``$OPENAI_API_KEY``). A follow that is interrupted is resumed with
the printed ``extractkit finetune follow JOB_ID`` command
(``--provider`` included when it is not openai); on success the fine-tuned model is
written into ``extractkit.toml`` for the extractor the job was started for.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from extractkit.cli.conventions import (
    EXIT_FAILED,
    EXIT_OK,
    add_command,
    add_group,
    existing_file,
    json_line,
    one_stdin,
    stdin_as_file,
)
from extractkit.config import ModelRef, Settings, get_settings
from extractkit.exceptions import UserError
from extractkit.finetune import (
    FineTuneJob,
    FineTuningBackend,
    Hyperparameters,
    OpenAIFineTuningBackend,
    estimate_training,
    format_job,
    resume_command,
    resume_fine_tune,
    start_job,
)

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register"]

START_DESCRIPTION = """\
Upload the training (and validation) file and start a fine-tuning job for an
extractor. The cost is estimated first (training tokens counted offline) and
you are asked before money is spent; --yes skips the question, and without a
terminal to ask on the command refuses rather than assume. The job is then
followed to its end (--no-follow returns at once); on success the fine-tuned
model is written into extractkit.toml for the extractor. An interrupted follow
is resumed with the command printed when the job starts."""

T = TypeVar("T")


def register(subparsers: _SubParsers) -> None:
    """Add the ``finetune`` command group to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--provider", default="openai", help="[backends.NAME] to use: openai (default), local, ..."
    )
    common.add_argument(
        "--config", metavar="PATH", help="extractkit.toml to read and update (default: found)"
    )
    following = argparse.ArgumentParser(add_help=False)
    following.add_argument(
        "--poll-interval",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="seconds between polls (default 15)",
    )
    following.add_argument(
        "--no-config-update", action="store_true", help="do not write the fine-tuned model into the config"
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON (one object per job)")

    sub = add_group(
        subparsers,
        "finetune",
        help="fine-tune a model for an extractor and switch to it",
        description="Fine-tuning jobs: start (with a cost estimate), follow, status, cancel, list.",
    )

    cmd = add_command(
        sub,
        "start",
        help="upload the files and start a job",
        description=START_DESCRIPTION,
        parents=[common, following],
        examples=(
            "extractkit finetune start train.jsonl --extractor location --model gpt-4o-mini-2024-07-18",
            "extractkit finetune start train.jsonl --validation-file valid.jsonl --extractor location \\\n"
            "      --model gpt-4o-mini-2024-07-18 --epochs 3 --suffix loc --yes",
            "extractkit finetune start train.jsonl --provider local --extractor location "
            "--model smollm2-135m --yes",
        ),
    )
    cmd.add_argument(
        "training_file", type=existing_file, help="training JSONL (chat format, minimal prompt; '-': stdin)"
    )
    cmd.add_argument("--extractor", required=True, help="the extractor's config name, e.g. location")
    cmd.add_argument("--model", required=True, help="base model, e.g. gpt-4o-mini-2024-07-18")
    cmd.add_argument(
        "--validation-file", metavar="PATH", type=existing_file, help="validation JSONL ('-': stdin)"
    )
    cmd.add_argument("--suffix", help="up to 64 characters added to the model name")
    cmd.add_argument("--seed", type=int, help="for a reproducible job")
    cmd.add_argument("--epochs", type=_auto_int, default="auto", help="passes over the file (default auto)")
    cmd.add_argument("--batch-size", type=_auto_int, default="auto", help="default auto")
    cmd.add_argument(
        "--lr-multiplier", type=_auto_float, default="auto", help="learning-rate multiplier (default auto)"
    )
    cmd.add_argument("-y", "--yes", action="store_true", help="start without asking for confirmation")
    cmd.add_argument("--no-follow", action="store_true", help="return once the job is created")
    cmd.set_defaults(func=_cmd_start)

    cmd = add_command(
        sub,
        "follow",
        help="follow a job to its end (resumable)",
        parents=[common, following],
        examples=(
            "extractkit finetune follow ftjob-abc123",
            "extractkit finetune follow ftjob-abc123 --no-config-update",
        ),
    )
    cmd.add_argument("job_id", metavar="JOB_ID", help="the job id (ftjob-...)")
    cmd.add_argument("--extractor", help="the extractor to switch (default: the one the job was started for)")
    cmd.set_defaults(func=_cmd_follow)

    cmd = add_command(
        sub,
        "status",
        help="show a job",
        parents=[common, as_json],
        examples=(
            "extractkit finetune status ftjob-abc123",
            "extractkit finetune status ftjob-abc123 --json",
        ),
    )
    cmd.add_argument("job_id", metavar="JOB_ID", help="the job id (ftjob-...)")
    cmd.set_defaults(func=_cmd_status)

    cmd = add_command(
        sub,
        "cancel",
        help="cancel a job",
        parents=[common, as_json],
        examples=("extractkit finetune cancel ftjob-abc123",),
    )
    cmd.add_argument("job_id", metavar="JOB_ID", help="the job id (ftjob-...)")
    cmd.set_defaults(func=_cmd_cancel)

    cmd = add_command(
        sub,
        "list",
        help="list jobs, newest first",
        parents=[common, as_json],
        examples=("extractkit finetune list --limit 5", "extractkit finetune list --provider local --json"),
    )
    cmd.add_argument("--limit", type=int, default=20, help="jobs to show (default 20)")
    cmd.set_defaults(func=_cmd_list)


def _auto_int(text: str) -> int | str:
    return text if text == "auto" else int(text)


def _auto_float(text: str) -> float | str:
    return text if text == "auto" else float(text)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(args.config) if args.config else get_settings()


def _backend(args: argparse.Namespace) -> FineTuningBackend:
    config = _settings(args).backend(args.provider)
    if config.type == "local":  # LoRA on this machine (the [local] extra); trains in this process
        from extractkit.local import LocalFineTuningBackend

        models_dir = config.options.get("models_dir")  # the folder the local chat backend serves from
        return LocalFineTuningBackend(models_dir=str(models_dir) if models_dir else None)
    return OpenAIFineTuningBackend.from_config(config)


def _run(args: argparse.Namespace, work: Callable[[FineTuningBackend], Awaitable[T]]) -> T:
    async def main() -> T:
        backend = _backend(args)
        try:
            return await work(backend)
        finally:
            await backend.aclose()

    return asyncio.run(main())


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UserError(
            "not starting a paid fine-tuning job without confirmation: stdin is not a terminal. "
            "Pass --yes to start it."
        )
    print(f"{question} [y/N] ", end="", flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _cmd_start(args: argparse.Namespace) -> int:
    one_stdin(training_file=args.training_file, validation_file=args.validation_file)
    with (
        stdin_as_file(args.training_file, suffix=".jsonl") as training,
        stdin_as_file(args.validation_file or "", suffix=".jsonl") as validation,
    ):
        return _start(args, training, validation if args.validation_file else None)


def _start(args: argparse.Namespace, training: Path, validation: Path | None) -> int:
    if args.no_follow and _settings(args).backend(args.provider).type == "local":
        raise UserError(
            "a local job trains inside this process, so it cannot go on without it: drop --no-follow "
            "(Ctrl-C stops the job)"
        )
    base = ModelRef.parse(args.model).model  # "openai:gpt-4o-mini-..." and "gpt-4o-mini-..." alike
    hyper = Hyperparameters(args.epochs, args.batch_size, args.lr_multiplier)
    estimate = estimate_training(training, base, epochs=hyper.n_epochs)
    print(estimate.describe())
    if not args.yes and not _confirm("Start the job?"):
        print("not started")
        return EXIT_FAILED

    async def work(backend: FineTuningBackend) -> int:
        job = await start_job(
            backend,
            training,
            model=base,
            extractor=args.extractor,
            validation_file=validation,
            suffix=args.suffix,
            seed=args.seed,
            hyperparameters=hyper,
        )
        hint = resume_command(job.id, args.provider, args.config)
        print(f"started {job.id}; follow (or resume) with: {hint}", flush=True)
        if args.no_follow:
            return EXIT_OK
        return await _follow(args, backend, job.id)

    return _run(args, work)


async def _follow(args: argparse.Namespace, backend: FineTuningBackend, job_id: str) -> int:
    await resume_fine_tune(
        backend,
        job_id,
        extractor=getattr(args, "extractor", None),
        config=args.config,
        update_config=not args.no_config_update,
        out=sys.stdout,
        poll_interval=args.poll_interval,
    )
    return EXIT_OK


def _cmd_follow(args: argparse.Namespace) -> int:
    return _run(args, lambda backend: _follow(args, backend, args.job_id))


def _when(ts: int | None) -> str:
    return "-" if not ts else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _job_json(job: FineTuneJob) -> dict[str, Any]:
    from pydantic_core import to_jsonable_python

    data: dict[str, Any] = to_jsonable_python(job)
    data["extractor"] = job.extractor
    return data


def _cmd_status(args: argparse.Namespace) -> int:
    job = _run(args, lambda backend: backend.get_job(args.job_id))
    if args.json:
        json_line(_job_json(job))
        return EXIT_OK
    hyper = job.hyperparameters
    print(format_job(job))
    rows: list[tuple[str, Any]] = [
        ("base model", job.model),
        ("fine-tuned model", job.fine_tuned_model or "-"),
        ("extractor", job.extractor or "-"),
        ("created", _when(job.created_at)),
        ("finished", _when(job.finished_at)),
        ("training file", job.training_file),
        ("validation file", job.validation_file or "-"),
        ("epochs / batch / lr", f"{hyper.n_epochs} / {hyper.batch_size} / {hyper.learning_rate_multiplier}"),
        ("trained tokens", f"{job.trained_tokens:,}" if job.trained_tokens is not None else "-"),
    ]
    for label, value in rows:
        print(f"  {label:<20} {value}")
    return EXIT_OK


def _cmd_cancel(args: argparse.Namespace) -> int:
    job = _run(args, lambda backend: backend.cancel_job(args.job_id))
    if args.json:
        json_line(_job_json(job))
    else:
        print(format_job(job))
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    jobs = _run(args, lambda backend: backend.list_jobs(limit=args.limit))
    if args.json:
        for job in jobs:
            json_line(_job_json(job))
        return EXIT_OK
    if not jobs:
        print("no fine-tuning jobs")
        return EXIT_OK
    print(f"{'JOB':<28} {'STATUS':<17} {'CREATED':<21} {'EXTRACTOR':<14} MODEL")
    for job in jobs:
        model = job.fine_tuned_model or job.model
        extractor = job.extractor or "-"
        print(f"{job.id:<28} {job.raw_status:<17} {_when(job.created_at):<21} {extractor:<14} {model}")
    return EXIT_OK
