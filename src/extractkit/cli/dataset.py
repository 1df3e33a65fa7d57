"""``extractkit dataset``: build, label, validate and split fine-tuning files.

A thin layer over :mod:`extractkit.datasets`::

    extractkit dataset build --store sqlite:///exchanges.db --extractor location --out train.jsonl
    extractkit dataset label inputs.txt --teacher-model openai:gpt-4o --extractor location --out labels.jsonl
    extractkit dataset build --labels labels.jsonl --extractor location --out train.jsonl
    extractkit dataset validate train.jsonl --model gpt-4o-mini --extractor location
    extractkit dataset split train.jsonl --fraction 0.2 --seed 0

``--extractor`` names a built-in extractor (``location``, ``intent``) or a
user class as ``module:Class`` (imported from the current directory too);
routers take their routes from ``--routes routes.json`` (``{"key": "description"}``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractkit.exceptions import ExtractKitError, UserError

if TYPE_CHECKING:
    from extractkit.extractor import Extractor

    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["BUILTIN_EXTRACTORS", "load_extractor", "register"]

STORE_ENV = "EXTRACTKIT_STORE"
BUILTIN_EXTRACTORS = {
    "location": "extractkit.extractors.location:LocationExtractor",
    "intent": "extractkit.extractors.intent:IntentRouter",
}
"""Names ``--extractor`` accepts besides ``module:Class``."""


def register(subparsers: _SubParsers) -> None:
    """Add the ``dataset`` command group to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument(
        "--extractor", metavar="NAME", help="location, intent, or module:Class of your own extractor"
    )
    which.add_argument("--routes", metavar="FILE", help='routes of a router, as JSON {"key": "description"}')
    guard = argparse.ArgumentParser(add_help=False)
    guard.add_argument("--eval", metavar="FILE", help="evaluation inputs that must not be in training")

    dataset = subparsers.add_parser(
        "dataset",
        help="build, label, validate and split fine-tuning files",
        description="Build chat fine-tuning files with the short prompt, check them, split them.",
    )
    dataset.set_defaults(func=lambda args: _usage(dataset))
    sub = dataset.add_subparsers(metavar="COMMAND")

    cmd = sub.add_parser(
        "build", parents=[which, guard], help="write a training file from included records or teacher labels"
    )
    source = cmd.add_mutually_exclusive_group()
    source.add_argument("--store", metavar="URL", help=f"store URL (default: ${STORE_ENV} or [store] url)")
    source.add_argument("--labels", metavar="FILE", help="teacher labels from `extractkit dataset label`")
    cmd.add_argument("--out", "-o", required=True, metavar="FILE", help="the training JSONL to write")
    cmd.add_argument("--model", metavar="REF", help="the student's model reference (decides tools mode)")
    cmd.add_argument("--output-mode", help="the student's output mode, e.g. tools")
    cmd.add_argument("--seed", type=int, help="seed of per-example shuffles (default: 0)")
    cmd.add_argument("--skip-invalid", action="store_true", help="leave invalid rows out instead of failing")
    cmd.add_argument("--base-model", default="gpt-4o-mini", help="model to fine-tune, for the figures")
    cmd.set_defaults(func=_cmd_build)

    cmd = sub.add_parser("label", parents=[which], help="label inputs with a teacher model (resumable)")
    cmd.add_argument("inputs", help="inputs: one per line, or JSONL (strings, {input: ...} or chat examples)")
    cmd.add_argument("--out", "-o", required=True, metavar="FILE", help="labels JSONL; rerun to resume")
    cmd.add_argument("--teacher-model", metavar="REF", help="e.g. openai:gpt-4o (default: configured model)")
    cmd.add_argument("--teacher-prompt", choices=("full", "minimal"), default="full", help="default: full")
    cmd.add_argument("--concurrency", type=int, help="requests in flight (default: settings)")
    cmd.add_argument("--retry-failed", type=int, default=1, help="extra passes over failures (default 1)")
    cmd.add_argument("--quiet", action="store_true", help="no progress line")
    cmd.set_defaults(func=_cmd_label)

    cmd = sub.add_parser("validate", parents=[which, guard], help="check a chat JSONL file, line by line")
    cmd.add_argument("file", help="the JSONL file")
    cmd.add_argument("--model", default="gpt-4o-mini", help="model to fine-tune (default: gpt-4o-mini)")
    cmd.add_argument("--teacher-prompt-file", metavar="FILE", help="a teacher prompt that must not appear")
    cmd.add_argument("--token-limit", type=int, help="override the per-example token limit")
    cmd.add_argument("--max-issues", type=int, default=50, help="issues shown per kind (default 50)")
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.set_defaults(func=_cmd_validate)

    cmd = sub.add_parser("split", help="seeded train/validation split, stratified by route for routers")
    cmd.add_argument("file", help="the JSONL file")
    cmd.add_argument("--train", metavar="FILE", help="default: <name>_train.jsonl")
    cmd.add_argument("--validation", metavar="FILE", help="default: <name>_validation.jsonl")
    cmd.add_argument("--fraction", type=float, default=0.2, help="validation fraction (default 0.2)")
    cmd.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    cmd.add_argument("--stratify", choices=("auto", "route", "none"), default="auto", help="default: auto")
    cmd.set_defaults(func=_cmd_split)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _fail(exc: ExtractKitError) -> int:
    print(f"extractkit dataset: error: {exc}", file=sys.stderr)
    return 1


# -- extractors ---------------------------------------------------------------


def _read_routes(path: str) -> dict[str, str]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"the routes file {path} does not exist") from None
    except ValueError as exc:
        raise UserError(f"the routes file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise UserError(f'the routes file {path} must hold a JSON object {{"key": "description", ...}}')
    return {str(k): v for k, v in data.items()}


def load_extractor(name: str, *, routes: str | None = None, **kwargs: Any) -> Extractor[Any]:
    """Instantiate the extractor ``--extractor NAME`` names.

    Args:
        name: ``location``, ``intent``, or ``module:Class`` (``module:outer.Class`` works too);
            the current directory is importable.
        routes: Path of a JSON ``{"key": "description"}`` file; required for routers, refused otherwise.
        **kwargs: Passed to the constructor (``model=``, ``prompt_variant=``, ``store=``...).

    Raises:
        UserError: Unknown name, import failure, not an Extractor class, or routes missing/misplaced.
    """
    from extractkit.extractor import Extractor
    from extractkit.extractors import IntentRouter

    target = BUILTIN_EXTRACTORS.get(name, name)
    module_name, colon, attr = target.partition(":")
    if not colon or not module_name or not attr:
        known = ", ".join(BUILTIN_EXTRACTORS)
        raise UserError(f"unknown extractor {name!r}: use one of {known}, or module:Class for your own")
    cwd = os.getcwd()
    if cwd not in sys.path:
        # A console script does not put the working directory on the path, but users expect
        # `--extractor myapp.extractors:Skills` to find ./myapp like `python -m` would.
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"cannot import {module_name!r} for --extractor {name!r}: {exc}") from None
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise UserError(f"{module_name!r} has no {attr!r} (from --extractor {name!r})")
    if not (isinstance(obj, type) and issubclass(obj, Extractor)):
        raise UserError(f"--extractor {name!r} names {obj!r}, which is not an Extractor subclass")
    if issubclass(obj, IntentRouter):
        if routes is None:
            raise UserError(f"{obj.__name__} is a router: give its routes with --routes routes.json")
        router: Extractor[Any] = obj(_read_routes(routes), **kwargs)
        return router
    if routes is not None:
        raise UserError(f"--routes is only for routers; {obj.__name__} is not one")
    extractor: Extractor[Any] = obj(**kwargs)
    return extractor


def _extractor_arg(args: argparse.Namespace, **kwargs: Any) -> Extractor[Any]:
    if not args.extractor:
        raise UserError("--extractor is required (location, intent, or module:Class)")
    return load_extractor(args.extractor, routes=args.routes, store=False, **kwargs)


def _eval_inputs(args: argparse.Namespace) -> list[str] | None:
    from extractkit.datasets import read_inputs

    return read_inputs(args.eval) if getattr(args, "eval", None) else None


def _prices() -> Any:
    from extractkit.config import get_settings
    from extractkit.prices import PriceTable

    prices = get_settings().prices
    return PriceTable(prices) if prices else None


# -- commands -----------------------------------------------------------------


def _cmd_build(args: argparse.Namespace) -> int:
    from extractkit.datasets import build_from_labels, build_from_store, validate_dataset

    try:
        student = _extractor_arg(args, model=args.model, output_mode=args.output_mode)
        on_invalid = "skip" if args.skip_invalid else "error"
        common: dict[str, Any] = {
            "eval_inputs": _eval_inputs(args),
            "on_invalid": on_invalid,
            "seed": args.seed,
        }
        if args.labels:
            dataset = build_from_labels(student, args.labels, path=args.out, **common)
            origin = f"labels in {args.labels}"
        else:
            url = _store_url(args)
            if url is None:
                print(
                    f"extractkit dataset: error: no source given; pass --labels FILE or --store URL "
                    f"(or set {STORE_ENV}, or [store] url in extractkit.toml)",
                    file=sys.stderr,
                )
                return 2
            from extractkit.store import open_store

            with open_store(url, read_only=True) as store:
                dataset = build_from_store(store, student, path=args.out, **common)
            origin = f"included records of {student.name!r}"
        for warning in dataset.warnings:
            print(f"warning: {warning.message} [{warning.code}]", file=sys.stderr)
        print(f"wrote {len(dataset)} example(s) to {args.out} from the {origin}, with the minimal prompt")
        report = validate_dataset(dataset, model=args.base_model, extractor=student, prices=_prices())
        for issue in report.errors + report.warnings:
            print(f"{issue.severity}: {issue}", file=sys.stderr)
        print("\n".join(report.figures()))
        return 0 if report.ok else 1
    except ExtractKitError as exc:
        return _fail(exc)


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

    try:
        teacher = _extractor_arg(args, model=args.teacher_model, prompt_variant=args.teacher_prompt)
        inputs = read_inputs(args.inputs)
        run = asyncio.run(
            label_inputs(
                teacher,
                inputs,
                checkpoint=args.out,
                concurrency=args.concurrency,
                retry_failed=args.retry_failed,
                progress=None if args.quiet else sys.stderr,
            )
        )
    except ExtractKitError as exc:
        return _fail(exc)
    for text, error in run.failed[:20]:
        print(f"failed: {text!r}: {type(error).__name__}: {error}", file=sys.stderr)
    if len(run.failed) > 20:
        print(f"... and {len(run.failed) - 20} more failures", file=sys.stderr)
    cost = "unknown" if run.cost is None else f"${run.cost:.4f}"
    print(
        f"{len(run.labels)} of {len(run.labels) + len(run.failed)} input(s) labelled in {args.out} "
        f"({run.labelled} new, {run.resumed} from earlier runs, cost of new labels {cost}); "
        f"{len(run.failed)} failed"
        + (f"; {run.skipped_duplicates} duplicate input(s) skipped" if run.skipped_duplicates else "")
    )
    if run.failed:
        print("run the same command again to retry the failed inputs", file=sys.stderr)
        return 1
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from extractkit.datasets import validate_file

    try:
        extractor = _extractor_arg(args) if args.extractor else None
        teacher = []
        if args.teacher_prompt_file:
            teacher.append(Path(args.teacher_prompt_file).read_text(encoding="utf-8"))
        report = validate_file(
            args.file,
            model=args.model,
            extractor=extractor,
            teacher_prompts=teacher,
            eval_inputs=_eval_inputs(args),
            token_limit=args.token_limit,
            prices=_prices(),
        )
    except FileNotFoundError as exc:
        return _fail(UserError(f"{exc.filename} does not exist"))
    except ExtractKitError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.format(max_issues=args.max_issues))
    return 0 if report.ok else 1


def _cmd_split(args: argparse.Namespace) -> int:
    from extractkit.datasets import split_file

    try:
        result = split_file(
            args.file,
            train_path=args.train,
            validation_path=args.validation,
            validation=args.fraction,
            seed=args.seed,
            stratify=args.stratify,
        )
    except ExtractKitError as exc:
        return _fail(exc)
    print(f"train: {result.train} example(s) -> {result.train_path}")
    print(f"validation: {result.validation} example(s) -> {result.validation_path}")
    for route, (train, valid) in result.routes.items():
        print(f"  {route}: {train} train, {valid} validation")
    return 0
