"""``extractkit eval``: run base vs fine-tuned vs teacher side by side, and gate CI on the result.

``extractkit eval run eval.toml`` runs every candidate in the config over its
cases and prints the side-by-side table. ``--format markdown|json|html`` picks
another rendering and ``--out`` writes it to a file (the table still goes to
the terminal). ``--threshold accuracy=0.8`` (repeatable, added to the config's
``thresholds``) makes the exit status 1 when a candidate misses a bound, so a
CI job fails on a regression. Progress goes to standard error.

``extractkit eval cases`` writes the records chosen for training in a store as
a case file, to review and keep under version control.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from extractkit.exceptions import ExtractKitError

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register"]


def register(subparsers: _SubParsers) -> None:
    """Add the ``eval`` command group to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    group = subparsers.add_parser(
        "eval",
        help="compare models side by side on accuracy, latency and cost",
        description="Evaluate candidates (teacher, base, fine-tuned...) on the same cases.",
    )
    group.set_defaults(func=lambda args: _usage(group))
    sub = group.add_subparsers(metavar="COMMAND")

    cmd = sub.add_parser("run", help="run an eval config and report", description=__doc__)
    cmd.add_argument("config", help="eval config file (.toml or .json)")
    cmd.add_argument(
        "--format",
        choices=("table", "markdown", "json", "html"),
        default="table",
        help="report format (default: table)",
    )
    cmd.add_argument("--out", metavar="PATH", help="write the report here instead of standard output")
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
    cmd.add_argument("--concurrency", type=int, help="extractions in flight per candidate")
    cmd.add_argument("--no-cache", action="store_true", help="ignore and do not fill the answer cache")
    cmd.add_argument("--quiet", action="store_true", help="no progress on standard error")
    cmd.set_defaults(func=_cmd_run)

    cmd = sub.add_parser("cases", help="write a store's records chosen for training as a case file")
    cmd.add_argument("--store", required=True, metavar="URL", help="store URL, e.g. sqlite:///exchanges.db")
    cmd.add_argument("--extractor", required=True, help="extractor name, e.g. location")
    cmd.add_argument("-o", "--output", required=True, metavar="PATH", help="case file to write (.jsonl)")
    cmd.set_defaults(func=_cmd_cases)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _cmd_run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from extractkit.evals.config import load_eval_config
    from extractkit.evals.thresholds import parse_threshold
    from extractkit.runtime import run_sync

    try:
        thresholds = [parse_threshold(t) for t in args.threshold]
        config = load_eval_config(args.config)
    except ExtractKitError as exc:
        print(f"extractkit eval: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.candidates:
            wanted = [n.strip() for n in args.candidates.split(",") if n.strip()]
            known = {c.name for c in config.candidates}
            missing = [n for n in wanted if n not in known]
            if missing:
                have = ", ".join(sorted(known))
                print(
                    f"extractkit eval: error: no candidate {', '.join(missing)}; have {have}", file=sys.stderr
                )
                return 2
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
        if args.out:
            try:
                from extractkit.private_files import open_private

                with open_private(args.out) as fh:  # 0600: a report holds inputs and answers
                    fh.write(text)
            except OSError as exc:
                # The answers are in the cache: fixing the path and re-running costs nothing.
                print(f"extractkit eval: error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
                return 2
            sys.stdout.write(report.to_table())
            print(f"report written to {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    except ExtractKitError as exc:
        print(f"extractkit eval: error: {exc}", file=sys.stderr)
        return 2
    finally:
        config.close()
    for failure in failures:
        print(f"extractkit eval: below threshold: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _cmd_cases(args: argparse.Namespace) -> int:
    from extractkit.evals.cases import cases_from_store, dump_cases
    from extractkit.store import open_store

    try:
        with open_store(args.store, read_only=True) as store:
            cases = cases_from_store(store, args.extractor)
        if not cases:
            what = f"no included records for extractor {args.extractor!r} in {args.store}"
            print(f"extractkit eval: error: {what}", file=sys.stderr)
            return 1
        count = dump_cases(cases, args.output)
    except ExtractKitError as exc:
        print(f"extractkit eval: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {count} case(s) to {args.output}", file=sys.stderr)
    return 0
