"""``extractkit dataset``: build, label, validate and split fine-tuning files.

A thin layer over :mod:`extractkit.datasets`. ``--extractor`` is read as by
every command (:mod:`extractkit.cli.loading`): a built-in name (``location``,
``intent``) or ``module:Class``; routers take their routes from ``--routes
routes.json``. Files may be ``-`` for standard input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from extractkit.cli.conventions import (
    EXIT_FAILED,
    EXIT_OK,
    add_command,
    add_group,
    existing_file,
    one_stdin,
    output_option,
    read_text_arg,
    stdin_as_file,
)
from extractkit.exceptions import UserError

if TYPE_CHECKING:
    from extractkit.extractor import Extractor

    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register"]

STORE_ENV = "EXTRACTKIT_STORE"


def register(subparsers: _SubParsers) -> None:
    """Add the ``dataset`` command group to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument(
        "--extractor", metavar="NAME", help="location, intent, or module:Class of your own extractor"
    )
    which.add_argument(
        "--routes", metavar="FILE", help='the routes of a router, as JSON {"key": "description"}'
    )
    guard = argparse.ArgumentParser(add_help=False)
    guard.add_argument(
        "--eval", metavar="FILE", type=existing_file, help="evaluation inputs that must not be in training"
    )

    sub = add_group(
        subparsers,
        "dataset",
        help="build, label, validate and split fine-tuning files",
        description="Build chat fine-tuning files with the short prompt, check them, split them.",
    )

    cmd = add_command(
        sub,
        "build",
        help="write a training file from included records or teacher labels",
        parents=[which, guard],
        examples=(
            "extractkit dataset build --store sqlite:///exchanges.db --extractor location -o train.jsonl",
            "extractkit dataset build --labels labels.jsonl --extractor location -o train.jsonl",
        ),
    )
    source = cmd.add_mutually_exclusive_group()
    source.add_argument("--store", metavar="URL", help=f"store URL (default: ${STORE_ENV} or [store] url)")
    source.add_argument(
        "--labels",
        metavar="FILE",
        type=existing_file,
        help="teacher labels from `extractkit dataset label` ('-': standard input)",
    )
    output_option(cmd, "the training JSONL to write", required=True)
    cmd.add_argument("--model", metavar="REF", help="the student's model reference (decides tools mode)")
    cmd.add_argument("--output-mode", help="the student's output mode, e.g. tools")
    cmd.add_argument("--seed", type=int, help="seed of per-example shuffles (default: 0)")
    cmd.add_argument("--skip-invalid", action="store_true", help="leave invalid rows out instead of failing")
    cmd.add_argument("--base-model", default="gpt-4o-mini", help="model to fine-tune, for the figures")
    cmd.set_defaults(func=_cmd_build)

    cmd = add_command(
        sub,
        "label",
        help="label inputs with a teacher model (resumable)",
        parents=[which],
        examples=(
            "extractkit dataset label inputs.txt --teacher-model openai:gpt-4o --extractor location "
            "-o labels.jsonl",
            "extractkit dataset label - --extractor location -o labels.jsonl < inputs.txt",
        ),
    )
    cmd.add_argument(
        "inputs",
        type=existing_file,
        help="inputs: one per line, or .jsonl (strings, {input: ...}, {text: ...} or chat examples); "
        "'-': standard input",
    )
    output_option(cmd, "labels JSONL; rerun the command to resume", required=True)
    cmd.add_argument("--teacher-model", metavar="REF", help="e.g. openai:gpt-4o (default: configured model)")
    cmd.add_argument("--teacher-prompt", choices=("full", "minimal"), default="full", help="default: full")
    cmd.add_argument("--concurrency", type=int, help="requests in flight (default: settings)")
    cmd.add_argument("--retry-failed", type=int, default=1, help="extra passes over failures (default 1)")
    cmd.add_argument("--quiet", action="store_true", help="no progress line")
    cmd.set_defaults(func=_cmd_label)

    cmd = add_command(
        sub,
        "validate",
        help="check a chat JSONL file, line by line",
        parents=[which, guard],
        description="Check a chat fine-tuning JSONL file line by line: the format, the answers "
        "(parsed as JSON when the file's answers are JSON, or with --json-answers; checked against "
        "the schema with --extractor), the teacher prompt, duplicates, evaluation leaks and tokens. "
        "Exit 1 when there are errors.",
        examples=(
            "extractkit dataset validate train.jsonl",
            "extractkit dataset validate train.jsonl --extractor location --model gpt-4o-mini",
            "extractkit dataset validate train.jsonl --json-answers --json",
        ),
    )
    cmd.add_argument("file", type=existing_file, help="the JSONL file ('-': standard input)")
    cmd.add_argument("--model", default="gpt-4o-mini", help="model to fine-tune (default: gpt-4o-mini)")
    cmd.add_argument(
        "--json-answers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="parse every assistant answer as JSON (default: when most answers are JSON)",
    )
    cmd.add_argument(
        "--teacher-prompt-file",
        metavar="FILE",
        type=existing_file,
        help="a teacher prompt that must not appear",
    )
    cmd.add_argument("--token-limit", type=int, help="override the per-example token limit")
    cmd.add_argument("--max-issues", type=int, default=50, help="issues shown per kind (default 50)")
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.set_defaults(func=_cmd_validate)

    cmd = add_command(
        sub,
        "split",
        help="seeded train/validation split, stratified by route for routers",
        description="Validate a chat JSONL file, then split it into a training and a validation file "
        "(same seed, same split). A file with invalid lines is refused (exit 1), naming them.",
        examples=(
            "extractkit dataset split train.jsonl --fraction 0.2 --seed 0",
            "extractkit dataset split - --train t.jsonl --validation v.jsonl < all.jsonl",
        ),
    )
    cmd.add_argument("file", type=existing_file, help="the JSONL file ('-': standard input)")
    cmd.add_argument("--train", metavar="FILE", help="default: <name>_train.jsonl")
    cmd.add_argument("--validation", metavar="FILE", help="default: <name>_validation.jsonl")
    cmd.add_argument("--fraction", type=float, default=0.2, help="validation fraction (default 0.2)")
    cmd.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    cmd.add_argument("--stratify", choices=("auto", "route", "none"), default="auto", help="default: auto")
    cmd.add_argument(
        "--json-answers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check every assistant answer as JSON (default: when most answers are JSON)",
    )
    cmd.set_defaults(func=_cmd_split)


# -- helpers ------------------------------------------------------------------


def _extractor_arg(args: argparse.Namespace, **kwargs: Any) -> Extractor[Any]:
    from extractkit.cli.loading import load_extractor

    if not args.extractor:
        raise UserError("--extractor is required (location, intent, or module:Class)")
    return load_extractor(args.extractor, routes=args.routes, store=False, **kwargs)


def _eval_inputs(args: argparse.Namespace) -> list[str] | None:
    from extractkit.datasets import read_inputs

    path = getattr(args, "eval", None)
    if not path:
        return None
    return read_inputs(sys.stdin if path == "-" else path)


def _prices() -> Any:
    from extractkit.config import get_settings
    from extractkit.prices import PriceTable

    prices = get_settings().prices
    return PriceTable(prices) if prices else None


# -- commands -----------------------------------------------------------------


def _cmd_build(args: argparse.Namespace) -> int:
    from extractkit.datasets import build_from_labels, build_from_store, validate_dataset

    one_stdin(labels=args.labels, eval=args.eval, routes=args.routes)
    student = _extractor_arg(args, model=args.model, output_mode=args.output_mode)
    on_invalid = "skip" if args.skip_invalid else "error"
    common: dict[str, Any] = {
        "eval_inputs": _eval_inputs(args),
        "on_invalid": on_invalid,
        "seed": args.seed,
    }
    if args.labels:
        with stdin_as_file(args.labels, suffix=".jsonl") as labels:
            dataset = build_from_labels(student, labels, path=args.output, **common)
        origin = f"labels in {args.labels}"
    else:
        url = _store_url(args)
        if url is None:
            raise UserError(
                f"no source given; pass --labels FILE or --store URL "
                f"(or set {STORE_ENV}, or [store] url in extractkit.toml)"
            )
        from extractkit.store import open_store

        with open_store(url, read_only=True) as store:
            dataset = build_from_store(store, student, path=args.output, **common)
        origin = f"included records of {student.name!r}"
    for warning in dataset.warnings:
        print(f"warning: {warning.message} [{warning.code}]", file=sys.stderr)
    print(f"wrote {len(dataset)} example(s) to {args.output} from the {origin}, with the minimal prompt")
    report = validate_dataset(dataset, model=args.base_model, extractor=student, prices=_prices())
    for issue in report.errors + report.warnings:
        print(f"{issue.severity}: {issue}", file=sys.stderr)
    print("\n".join(report.figures()))
    return EXIT_OK if report.ok else EXIT_FAILED


def _store_url(args: argparse.Namespace) -> str | None:
    if args.store:
        return str(args.store)
    url = os.environ.get(STORE_ENV)
    if url:
        return url
    from extractkit.config import get_settings

    return get_settings().store_url


def _cmd_label(args: argparse.Namespace) -> int:
    from extractkit.datasets import label_inputs, read_inputs

    one_stdin(inputs=args.inputs, routes=args.routes)
    teacher = _extractor_arg(args, model=args.teacher_model, prompt_variant=args.teacher_prompt)
    inputs = read_inputs(sys.stdin if args.inputs == "-" else args.inputs)
    run = asyncio.run(
        label_inputs(
            teacher,
            inputs,
            checkpoint=args.output,
            concurrency=args.concurrency,
            retry_failed=args.retry_failed,
            progress=None if args.quiet else sys.stderr,
        )
    )
    for text, error in run.failed[:20]:
        print(f"failed: {text!r}: {type(error).__name__}: {error}", file=sys.stderr)
    if len(run.failed) > 20:
        print(f"... and {len(run.failed) - 20} more failures", file=sys.stderr)
    cost = "unknown" if run.cost is None else f"${run.cost:.4f}"
    print(
        f"{len(run.labels)} of {len(run.labels) + len(run.failed)} input(s) labelled in {args.output} "
        f"({run.labelled} new, {run.resumed} from earlier runs, cost of new labels {cost}); "
        f"{len(run.failed)} failed"
        + (f"; {run.skipped_duplicates} duplicate input(s) skipped" if run.skipped_duplicates else "")
    )
    if run.failed:
        print("run the same command again to retry the failed inputs", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from extractkit.datasets import validate_file, validate_lines

    one_stdin(
        file=args.file, eval=args.eval, routes=args.routes, teacher_prompt_file=args.teacher_prompt_file
    )
    extractor = _extractor_arg(args) if args.extractor else None
    teacher = []
    if args.teacher_prompt_file:
        teacher.append(read_text_arg(args.teacher_prompt_file, what="the teacher prompt file"))
    options: dict[str, Any] = {
        "model": args.model,
        "extractor": extractor,
        "teacher_prompts": teacher,
        "eval_inputs": _eval_inputs(args),
        "token_limit": args.token_limit,
        "prices": _prices(),
        "json_answers": args.json_answers,
    }
    if args.file == "-":
        report = validate_lines(sys.stdin, path="<stdin>", **options)
    else:
        report = validate_file(args.file, **options)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.format(max_issues=args.max_issues))
    return EXIT_OK if report.ok else EXIT_FAILED


def _cmd_split(args: argparse.Namespace) -> int:
    from extractkit.datasets import split_file

    if args.file == "-" and not (args.train and args.validation):
        raise UserError("splitting standard input needs --train FILE and --validation FILE")
    with stdin_as_file(args.file, suffix=".jsonl") as source:
        result = split_file(
            source,
            train_path=args.train,
            validation_path=args.validation,
            validation=args.fraction,
            seed=args.seed,
            stratify=args.stratify,
            json_answers=args.json_answers,
            shown_as=args.file if args.file == "-" else None,
        )
    warnings = result.report.warnings if result.report is not None else []
    for issue in warnings[:20]:
        print(f"warning: {issue}", file=sys.stderr)
    print(f"train: {result.train} example(s) -> {result.train_path}")
    print(f"validation: {result.validation} example(s) -> {result.validation_path}")
    for route, (train, valid) in result.routes.items():
        print(f"  {route}: {train} train, {valid} validation")
    return EXIT_OK
