"""``extractkit distill``: from an extractor's recorded traffic to a cheaper fine-tuned model, gated.

A thin layer over :func:`extractkit.distill.distill`. Progress goes to standard
error; the outcome (or, with ``--json``, a JSON summary) to standard output. Exit
status: 0 when the student passed the gate (or on ``--dry-run``), 1 when the gate
refused, the estimate was declined or a step failed (data, fine-tuning, model
calls: run the same command again to resume), 2 for bad options or configuration,
130 when interrupted (resumable too).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
from typing import TYPE_CHECKING, Any

from extractkit.cli.conventions import add_command
from extractkit.exceptions import ExtractKitError, UserError

if TYPE_CHECKING:
    from extractkit.distill import DistillResult

    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register"]

_EXAMPLES = (
    "extractkit distill location --teacher openai:gpt-4o --student gpt-4o-mini-2024-07-18 "
    "--store sqlite:///exchanges.db --dry-run  # the data and the cost estimate; nothing is spent",
    "extractkit distill location --teacher openai:gpt-4o --student gpt-4o-mini-2024-07-18 -y"
    "  # the whole way on OpenAI, without the question (resume with the same command)",
    "extractkit distill location --teacher openai:gpt-4o --student smollm2-135m --provider local "
    "--teacher-eval replay --epochs 2 -y  # a local LoRA student; the teacher's answers replayed",
    "extractkit distill location --teacher openai:gpt-4o --student smollm2-135m --provider local "
    "--teacher-eval replay --epochs 2 --min-accuracy 0.8 -y  # decide the gate again with an absolute bar",
)

_DESCRIPTION = """\
Label, build, split, fine-tune, evaluate and gate, resumably, in one command.

The gate passes when the upper end of the fine-tuned student's 95% Wilson interval
reaches the teacher's measured accuracy (--min-accuracy X: when its accuracy is at
least X) and, with --max-cost-ratio R, when its $ per call is at most R times the
teacher's. Only then is the model written into extractkit.toml."""


def register(subparsers: _SubParsers) -> None:
    """Add the ``distill`` command to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    cmd = add_command(
        subparsers,
        "distill",
        help="distill a teacher into a fine-tuned student from recorded traffic, with a quality gate",
        description=_DESCRIPTION,
        examples=_EXAMPLES,
    )
    cmd.add_argument("extractor", help="location, intent, or module:Class of your own extractor")
    cmd.add_argument("--teacher", required=True, metavar="MODEL", help="teacher model, e.g. openai:gpt-4o")
    cmd.add_argument(
        "--student",
        required=True,
        metavar="BASE_MODEL",
        help="model to fine-tune, e.g. gpt-4o-mini-2024-07-18",
    )
    cmd.add_argument(
        "--provider", help="where the student is fine-tuned and served: openai, local or a [backends.NAME]"
    )
    cmd.add_argument("--routes", metavar="FILE", help='routes of a router, as JSON {"key": "description"}')
    cmd.add_argument("--store", metavar="URL", help="store URL (default: $EXTRACTKIT_STORE or [store] url)")
    cmd.add_argument("--config", metavar="PATH", help="extractkit.toml to read and update (default: found)")
    cmd.add_argument("--run-dir", metavar="DIR", help="run directory (default: .extractkit/distill/NAME)")
    cmd.add_argument(
        "--restart", action="store_true", help="start over, keeping the evaluation set and labels"
    )
    data = cmd.add_argument_group("data")
    data.add_argument("--eval-fraction", type=float, default=0.2, help="share held out (default 0.2)")
    data.add_argument("--seed", type=int, default=0, help="seed of the split, shuffles and job (default 0)")
    data.add_argument("--max-examples", type=int, metavar="N", help="use at most N inputs, reviewed first")
    data.add_argument(
        "--drop-failed-labels", action="store_true", help="go on without inputs the teacher could not label"
    )
    tune = cmd.add_argument_group("fine-tuning")
    tune.add_argument("--epochs", type=_auto_int, default="auto", help="passes over the data (default auto)")
    tune.add_argument("--batch-size", type=_auto_int, default="auto", help="default auto")
    tune.add_argument("--lr-multiplier", type=_auto_float, default="auto", help="default auto")
    tune.add_argument("--suffix", help="added to the fine-tuned model's name")
    tune.add_argument("--poll-interval", type=float, default=15.0, metavar="SECONDS", help="default 15")
    ev = cmd.add_argument_group("evaluation and gate")
    ev.add_argument(
        "--base-prompt",
        choices=("full", "minimal"),
        default="full",
        help="base student's prompt (default full)",
    )
    ev.add_argument(
        "--teacher-eval",
        choices=("live", "replay"),
        default="live",
        help="call the teacher, or score its answers recorded in the store (default live)",
    )
    ev.add_argument(
        "--scorer", choices=("exact", "normalized", "fields"), default="exact", help="default exact"
    )
    ev.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    ev.add_argument(
        "--max-tokens", type=int, default=256, help="completion tokens per evaluation call (default 256)"
    )
    ev.add_argument(
        "--min-accuracy", type=float, metavar="X", help="absolute accuracy bar (0-1) for the student"
    )
    ev.add_argument(
        "--max-cost-ratio", type=float, metavar="R", help="student $/call at most R x the teacher's"
    )
    ev.add_argument("--no-config-update", action="store_true", help="never write the model into the config")
    out = cmd.add_argument_group("output")
    out.add_argument("-y", "--yes", action="store_true", help="spend without asking (after the estimate)")
    out.add_argument("--dry-run", action="store_true", help="stop after the estimate: nothing is spent")
    out.add_argument("--json", action="store_true", help="print a JSON summary on standard output")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress on standard error")
    cmd.set_defaults(func=_cmd_distill)


def _auto_int(text: str) -> int | str:
    return text if text == "auto" else int(text)


def _auto_float(text: str) -> float | str:
    return text if text == "auto" else float(text)


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UserError(
            "not spending without confirmation: standard input is not a terminal. Pass -y/--yes to go on, "
            "or --dry-run to see the estimate only"
        )
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _options(args: argparse.Namespace, name: str) -> Any:
    from extractkit.config import Settings, get_settings
    from extractkit.distill import DistillOptions, GatePolicy
    from extractkit.finetune import Hyperparameters

    return DistillOptions(
        teacher=args.teacher,
        student=args.student,
        provider=args.provider,
        run_dir=args.run_dir or f".extractkit/distill/{name}",
        store=args.store,
        settings=Settings.load(args.config) if args.config else get_settings(),
        config=args.config,
        eval_fraction=args.eval_fraction,
        seed=args.seed,
        max_examples=args.max_examples,
        hyperparameters=Hyperparameters(args.epochs, args.batch_size, args.lr_multiplier),
        suffix=args.suffix,
        base_prompt=args.base_prompt,
        teacher_eval=args.teacher_eval,
        scorer=args.scorer,
        policy=GatePolicy(min_accuracy=args.min_accuracy, max_cost_ratio=args.max_cost_ratio),
        update_config=not args.no_config_update,
        concurrency=args.concurrency,
        max_tokens=args.max_tokens,
        poll_interval=args.poll_interval,
        drop_failed_labels=args.drop_failed_labels,
        dry_run=args.dry_run,
        restart=args.restart,
    )


def _summary(result: DistillResult) -> str:
    lines = [result.decision.summary() if result.decision is not None else result.status]
    if result.status == "dry-run" and result.estimate is not None:
        lines.append(result.estimate.describe())
        lines.append("nothing was spent; run without --dry-run to go on")
    if result.model:
        lines.append(f"model: {result.model}")
    if result.config:
        lines.append(f"config: {result.config['path']}: model = {result.config['model']!r}")
    elif result.decision is not None and not result.decision.passed:
        lines.append("config: unchanged")
    if result.report is not None:
        lines.append(f"report: {result.report}")
    return "\n".join(lines)


def _fail(args: argparse.Namespace, exc: BaseException, code: int, run_dir: str | None) -> int:
    text = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{exc}"
    hint = f"; run the same command again to resume from {run_dir}" if run_dir and code != 2 else ""
    print(f"extractkit distill: {'error: ' if code != 130 else ''}{text}{hint}", file=sys.stderr)
    if args.json:
        error = None if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        print(json.dumps({"status": "error", "exit_code": code, "error": error, "run_dir": run_dir}))
    return code


def _cmd_distill(args: argparse.Namespace) -> int:
    from extractkit.cli.loading import load_extractor
    from extractkit.distill import distill

    run_dir: str | None = None
    try:
        factory = functools.partial(load_extractor, args.extractor, routes=args.routes)
        name = factory(store=False).name
        options = _options(args, name)
        run_dir = str(options.run_dir)
        result = asyncio.run(
            distill(
                factory,
                options,
                confirm=(lambda question: True) if args.yes else _confirm,
                progress=None if args.quiet else sys.stderr,
            )
        )
    except KeyboardInterrupt as exc:
        return _fail(args, exc, 130, run_dir)
    except UserError as exc:
        return _fail(args, exc, 2, run_dir)
    except ExtractKitError as exc:
        return _fail(args, exc, 1, run_dir)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        print(_summary(result))
    return result.exit_code
