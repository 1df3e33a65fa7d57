"""``extractkit eval``: run base vs fine-tuned vs teacher side by side, and gate CI on the result.

``extractkit eval run eval.toml`` runs every candidate in the config over its
cases and prints the side-by-side table. ``--format markdown|json|html`` picks
another rendering and ``-o/--output`` writes it to a file (the table still goes
to the terminal). ``--threshold accuracy=0.8`` (repeatable, added to the
config's ``thresholds``) makes the exit status 1 when a candidate misses a
bound, so a CI job fails on a regression. Progress goes to standard error.

``extractkit eval cases`` writes the records chosen for training in a store as
a case file, to review and keep under version control.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractkit.cli.conventions import (
    EXIT_FAILED,
    EXIT_OK,
    add_command,
    add_group,
    existing_file,
    output_option,
    stdin_as_file,
)
from extractkit.exceptions import UserError

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register"]

RUN_DESCRIPTION = """\
Run every candidate of an eval config over its cases and print the side-by-side
table: accuracy, valid outputs, re-asks, p50/p95 latency, tokens and cost.

--format markdown|json|html picks another rendering; -o/--output writes it to a
file (the table still goes to the terminal). --threshold accuracy=0.8
(repeatable, added to the config's thresholds) makes the exit status 1 when a
candidate misses a bound, so a CI job fails on a regression. Candidates served
by a local model ([backends.NAME] type = "local") run one at a time, one case
at a time, so their latency is not inflated by competing for the CPU.
Progress goes to standard error. CONFIG may be '-' (standard input; its
relative paths are then relative to the current folder)."""


def register(subparsers: _SubParsers) -> None:
    """Add the ``eval`` command group to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    sub = add_group(
        subparsers,
        "eval",
        help="compare models side by side on accuracy, latency and cost",
        description="Evaluate candidates (teacher, base, fine-tuned...) on the same cases.",
    )

    cmd = add_command(
        sub,
        "run",
        help="run an eval config and report",
        description=RUN_DESCRIPTION,
        examples=(
            "extractkit eval run eval.toml",
            "extractkit eval run eval.toml --format html -o eval.html",
            "extractkit eval run eval.toml --threshold finetuned/accuracy=0.9 --threshold latency_p95_s<=2",
            "extractkit eval run eval.toml --candidates teacher,finetuned --no-cache",
        ),
    )
    cmd.add_argument("config", type=existing_file, help="eval config file (.toml or .json; '-': stdin)")
    cmd.add_argument(
        "--format",
        choices=("table", "markdown", "json", "html"),
        default="table",
        help="report format (default: table)",
    )
    output_option(cmd, "write the report here instead of standard output")
    cmd.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="[CANDIDATE/]METRIC=VALUE",
        help="fail (exit 1) when a candidate misses it, e.g. accuracy=0.8 or finetuned/latency_p95_s<=2",
    )
    cmd.add_argument(
        "--baseline", help="candidate that savings are relative to (default: config, then first)"
    )
    cmd.add_argument("--candidates", metavar="A,B", help="run only these candidates (comma-separated)")
    cmd.add_argument(
        "--concurrency", type=int, help="extractions in flight per remote candidate (local ones: 1)"
    )
    cmd.add_argument("--no-cache", action="store_true", help="ignore and do not fill the answer cache")
    cmd.add_argument("--quiet", action="store_true", help="no progress on standard error")
    cmd.set_defaults(func=_cmd_run)

    cmd = add_command(
        sub,
        "cases",
        help="write a store's records chosen for training as a case file",
        examples=(
            "extractkit eval cases --store sqlite:///exchanges.db --extractor location -o cases.jsonl",
        ),
    )
    cmd.add_argument("--store", required=True, metavar="URL", help="store URL, e.g. sqlite:///exchanges.db")
    cmd.add_argument("--extractor", required=True, help="extractor name, e.g. location")
    output_option(cmd, "case file to write (.jsonl)", required=True)
    cmd.set_defaults(func=_cmd_cases)


def _load_config(path: str) -> Any:
    from extractkit.evals.config import load_eval_config

    if path != "-":
        return load_eval_config(path)
    text = sys.stdin.read()
    suffix = ".json" if text.lstrip().startswith("{") else ".toml"
    # Written beside the current folder's files: the config's relative paths resolve from here.
    with stdin_as_file("-", suffix=suffix, stdin=io.StringIO(text), folder=Path.cwd()) as file:
        return load_eval_config(file)


def _cmd_run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from extractkit.evals.thresholds import parse_threshold
    from extractkit.runtime import run_sync

    thresholds = [parse_threshold(t) for t in args.threshold]
    config = _load_config(args.config)
    try:
        if args.candidates:
            wanted = [n.strip() for n in args.candidates.split(",") if n.strip()]
            known = {c.name for c in config.candidates}
            missing = [n for n in wanted if n not in known]
            if missing:
                have = ", ".join(sorted(known))
                raise UserError(f"no candidate {', '.join(missing)}; have {have}")
            config.candidates = [c for c in config.candidates if c.name in wanted]
        if args.baseline:
            config.baseline = args.baseline
        elif config.baseline not in {c.name for c in config.candidates}:
            config.baseline = None
        if args.concurrency is not None:
            config = replace(config, concurrency=args.concurrency)
        progress = None if args.quiet else True
        report = run_sync(config.run(progress=progress, use_cache=not args.no_cache))
        failures = report.check([*config.thresholds, *thresholds])
        text = report.render(args.format, failures=failures)
        if args.output:
            try:
                from extractkit.private_files import open_private

                with open_private(args.output) as fh:  # 0600: a report holds inputs and answers
                    fh.write(text)
            except OSError as exc:
                # The answers are in the cache: fixing the path and re-running costs nothing.
                print(f"extractkit: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
                return EXIT_FAILED
            sys.stdout.write(report.to_table())
            print(f"report written to {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    finally:
        config.close()
    for failure in failures:
        print(f"extractkit eval: below threshold: {failure}", file=sys.stderr)
    return EXIT_FAILED if failures else EXIT_OK


def _cmd_cases(args: argparse.Namespace) -> int:
    from extractkit.evals.cases import cases_from_store, dump_cases
    from extractkit.exceptions import DatasetError
    from extractkit.store import open_store

    with open_store(args.store, read_only=True) as store:
        cases = cases_from_store(store, args.extractor)
    if not cases:
        raise DatasetError(f"no included records for extractor {args.extractor!r} in {args.store}")
    count = dump_cases(cases, args.output)
    print(f"wrote {count} case(s) to {args.output}", file=sys.stderr)
    return EXIT_OK
