"""``extractkit records disagreements``: inputs where the live and the shadow model answered differently.

Shadow runs (:mod:`extractkit.shadow`) record a second model's answer beside the
live one. This command lists the pairs that differ, newest first, for curation:
each row names the record (for ``records show``, ``include``, ``correct``), the
two models and the two answers. ``--failed`` adds shadow calls that gave no
answer; ``--summary`` prints the agreement counts per pair of models instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any

from extractkit.cli.conventions import add_command, output_option
from extractkit.exceptions import UserError

if TYPE_CHECKING:
    from extractkit.store import Store
    from extractkit.store.shadows import ShadowPair

    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register"]

_HEADERS = ("RECORD", "CREATED (UTC)", "SHADOW MODEL", "INPUT", "LIVE", "SHADOW")
_WIDTHS = (12, 16, 22, 30, 34, 34)


def register(sub: _SubParsers, store_opt: argparse.ArgumentParser) -> None:
    """Add ``disagreements`` to the ``records`` group."""
    from extractkit.cli.records import _parse_time

    cmd = add_command(
        sub,
        "disagreements",
        help="list inputs where the shadow model's answer differs from the live one",
        description=(
            "List inputs where a shadow model (see [extractors.NAME] shadow) answered differently "
            "from the live model, newest first. Answers are compared as JSON (key order ignored). "
            "Exit status: 0 also when there are none; 2 for a usage error."
        ),
        parents=[store_opt],
        examples=(
            "extractkit records disagreements location --store sqlite:///exchanges.db",
            "extractkit records disagreements location --model openai:gpt-4o --since 2024-05-01 --limit 20",
            "extractkit records disagreements location --json -o disagreements.jsonl",
            "extractkit records disagreements location --summary  # agreement rate per pair of models",
        ),
    )
    cmd.add_argument("extractor", help="the extractor's name (its [extractors.NAME] key)")
    cmd.add_argument("--model", help="only this shadow model's answers (a provider:model reference)")
    cmd.add_argument("--since", type=_parse_time, metavar="WHEN", help="from this date/time (UTC if no zone)")
    cmd.add_argument("--failed", action="store_true", help="also list shadow calls that gave no answer")
    cmd.add_argument("--summary", action="store_true", help="print agreement counts per pair of models")
    cmd.add_argument("--limit", type=int, default=50, help="rows to show (default 50; 0 for all)")
    cmd.add_argument("--offset", type=int, default=0, help="rows to skip")
    cmd.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    output_option(cmd, "file to write (default: standard output)")
    cmd.set_defaults(func=_cmd_disagreements)


def _cmd_disagreements(args: argparse.Namespace) -> int:
    from extractkit.cli.records import _run
    from extractkit.store.sqlstore import SQLStore

    if args.limit < 0 or args.offset < 0:
        raise UserError("--limit and --offset must be >= 0")

    def action(store: Store) -> int:
        if not isinstance(store, SQLStore):  # pragma: no cover - every URL opens an SQL store today
            raise UserError(f"{type(store).__name__} does not keep shadow answers")
        if args.output is None:
            _write(store, args, sys.stdout)
        else:
            with open(args.output, "w", encoding="utf-8") as handle:
                written = _write(store, args, handle)
            print(f"wrote {written} row(s) to {args.output}", file=sys.stderr)
        return 0

    return _run(args, action, read_only=True)


def _write(store: Any, args: argparse.Namespace, out: IO[str]) -> int:
    from extractkit.cli.records import _compact, _printable, _when, format_table

    if args.summary:
        summaries = store.shadow_summary(extractor=args.extractor, model=args.model, since=args.since)
        if args.json:
            for summary in summaries:
                out.write(_compact(summary.to_dict()) + "\n")
            return len(summaries)
        if not summaries:
            out.write(f"no shadow answers recorded for {args.extractor}\n")
            return 0
        rows = []
        for s in summaries:
            rate = "-" if s.agreement_rate is None else f"{s.agreement_rate:.1%}"
            rows.append([s.live_model, s.model, str(s.agreed), str(s.disagreed), str(s.failed), rate])
        headers = ("LIVE MODEL", "SHADOW MODEL", "AGREED", "DIFFER", "FAILED", "AGREEMENT")
        out.write(format_table(headers, rows, (28, 28, 7, 7, 7, 9)) + "\n")
        return len(summaries)
    pairs: list[ShadowPair] = store.disagreements(
        extractor=args.extractor,
        model=args.model,
        since=args.since,
        failed=args.failed,
        limit=None if args.limit == 0 else args.limit,
        offset=args.offset,
    )
    if args.json:
        for pair in pairs:
            out.write(_compact(pair.to_dict()) + "\n")
        return len(pairs)
    if not pairs:
        out.write(f"no disagreements recorded for {args.extractor}\n")
        return 0
    rows = [
        [
            (pair.record_id or "-")[:12],
            _when(pair.shadow.created_at),
            pair.shadow.model,
            pair.shadow.input,
            _compact(pair.live_output),
            f"error: {pair.shadow.error}" if pair.agrees is None else _compact(pair.shadow.output),
        ]
        for pair in pairs
    ]
    out.write(_printable(format_table(_HEADERS, rows, _WIDTHS)) + "\n")
    out.write(f"\n{len(pairs)} shown; `extractkit records show RECORD` for the full record\n")
    return len(pairs)
