"""``extractkit records``: list, inspect, search, review and export recorded exchanges.

A thin layer over :mod:`extractkit.store`: every subcommand opens the store
named by ``--store`` (default: the ``EXTRACTKIT_STORE`` environment variable),
does one thing and closes it. Tables are plain fixed-width text with long cells
cut, so they read well in any terminal and in logs. Ids may be given as record
ids, exchange ids or unique prefixes of a record id (the 12 characters the
tables show).

``list``, ``search``, ``show`` and ``export`` open the store read-only: they
never create, migrate or lock it, and a mistyped path is an error naming it.
``export`` reads one consistent snapshot, redacts secrets by value (rows
written before a key was known to be one included) and writes its file
readable by its owner only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, TextIO

from extractkit.cli.conventions import add_command, add_group, existing_file, output_option
from extractkit.exceptions import UserError
from extractkit.store import Record, Store, open_store
from extractkit.store.sqlstore import SQLStore

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["format_table", "register"]

STORE_ENV = "EXTRACTKIT_STORE"
_ID_WIDTH = 12


def register(subparsers: _SubParsers) -> None:
    """Add the ``records`` command group to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    store_opt = argparse.ArgumentParser(add_help=False)
    store_opt.add_argument(
        "--store",
        metavar="URL",
        help=f"store URL or SQLite path (default: ${STORE_ENV}), e.g. sqlite:///exchanges.db",
    )
    filters = argparse.ArgumentParser(add_help=False)
    group = filters.add_argument_group("filters")
    group.add_argument("--extractor", help="only this extractor's records")
    group.add_argument("--model", help="only records whose latest exchange used this model ref")
    group.add_argument(
        "--since", type=_parse_time, metavar="WHEN", help="from this date/time (UTC if no zone)"
    )
    group.add_argument(
        "--until", type=_parse_until, metavar="WHEN", help="up to this date (inclusive) or before this time"
    )
    group.add_argument("--errors", action="store_true", help="only failed extractions")
    group.add_argument("--repaired", action="store_true", help="only outputs that needed JSON repair")
    group.add_argument("--unreviewed", action="store_true", help="only records no one has reviewed yet")
    inclusion = group.add_mutually_exclusive_group()
    inclusion.add_argument(
        "--included", dest="included", action="store_const", const=True, default=None,
        help="only records chosen for training",
    )  # fmt: skip
    inclusion.add_argument(
        "--not-included", dest="included", action="store_const", const=False,
        help="only records not chosen for training",
    )  # fmt: skip
    paging = argparse.ArgumentParser(add_help=False)
    paging.add_argument("--limit", type=int, default=50, help="rows to show (default 50; 0 for all)")
    paging.add_argument("--offset", type=int, default=0, help="rows to skip")
    paging.add_argument("--json", action="store_true", help="print JSON lines instead of a table")

    sub = add_group(
        subparsers,
        "records",
        help="list, review and export recorded exchanges",
        description="Review recorded exchanges and choose the ones to train on.",
    )
    cmd = add_command(
        sub,
        "list",
        help="list records, newest first",
        parents=[store_opt, filters, paging],
        examples=(
            "extractkit records list --store sqlite:///exchanges.db",
            "extractkit records list --errors --since 2024-05-01",
            "extractkit records list --extractor location --not-included --json | head",
        ),
    )
    cmd.set_defaults(func=_cmd_list)
    cmd = add_command(
        sub,
        "search",
        help="find records by text",
        parents=[store_opt, filters, paging],
        examples=('extractkit records search "new york"', "extractkit records search paris --json"),
    )
    cmd.add_argument("text", help="case-insensitive text to find in inputs and outputs")
    cmd.set_defaults(func=_cmd_list)
    cmd = add_command(
        sub,
        "show",
        help="show one record in full",
        parents=[store_opt],
        examples=("extractkit records show 3f2a9c1b7d4e", "extractkit records show 3f2a9c1b7d4e --json"),
    )
    cmd.add_argument("id", help="record id, exchange id or unique prefix")
    cmd.add_argument("--json", action="store_true", help="print the record as JSON")
    cmd.set_defaults(func=_cmd_show)
    cmd = add_command(
        sub,
        "include",
        help="mark records for training",
        parents=[store_opt],
        examples=("extractkit records include 3f2a9c1b7d4e 9b8c7d6e5f4a",),
    )
    cmd.add_argument("ids", nargs="+", metavar="ID", help="record ids, exchange ids or unique prefixes")
    cmd.set_defaults(func=_cmd_include)
    cmd = add_command(
        sub,
        "exclude",
        help="unmark records (reviewed, not for training)",
        parents=[store_opt],
        examples=("extractkit records exclude 3f2a9c1b7d4e",),
    )
    cmd.add_argument("ids", nargs="+", metavar="ID", help="record ids, exchange ids or unique prefixes")
    cmd.set_defaults(func=_cmd_exclude)
    cmd = add_command(
        sub,
        "correct",
        help="replace a record's output for training",
        parents=[store_opt],
        examples=(
            """extractkit records correct 3f2a9c1b7d4e '{"locations": [{"city": "Lyon"}]}'""",
            "extractkit records correct 3f2a9c1b7d4e --file - < fixed.json",
            "extractkit records correct 3f2a9c1b7d4e --clear",
        ),
    )
    cmd.add_argument("id", help="record id, exchange id or unique prefix")
    cmd.add_argument("output", nargs="?", help="the corrected output as JSON (or use --file)")
    cmd.add_argument(
        "--file", metavar="PATH", type=existing_file, help="read the JSON from PATH ('-' for stdin)"
    )
    cmd.add_argument("--clear", action="store_true", help="remove the correction instead")
    cmd.set_defaults(func=_cmd_correct)
    cmd = add_command(
        sub,
        "export",
        help="write records as JSON lines",
        parents=[store_opt, filters],
        examples=(
            "extractkit records export --included -o chosen.jsonl",
            "extractkit records export --extractor location --since 2024-05-01 > may.jsonl",
        ),
    )
    output_option(cmd, "file to write (default: standard output)")
    cmd.add_argument("--limit", type=int, default=0, help="most records to export (default: all)")
    cmd.set_defaults(func=_cmd_export)
    from extractkit.cli import disagreements

    disagreements.register(sub, store_opt)


# -- argument parsing ---------------------------------------------------------


def _parse_time(text: str) -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date or ISO time: {text!r} (e.g. 2024-05-31)") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _parse_until(text: str) -> datetime:
    # A bare date means "through the end of that day": people say "until May 31" inclusively.
    value = _parse_time(text)
    return value + timedelta(days=1) if len(text) == 10 else value


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "extractor": args.extractor,
        "model": args.model,
        "since": args.since,
        "until": args.until,
        "errors_only": args.errors,
        "repaired_only": args.repaired,
        "unreviewed_only": args.unreviewed,
        "included": args.included,
        "search": getattr(args, "text", None),
    }


def _configured_url() -> str | None:
    # Imported here: the config module is only needed when neither --store nor the env var is set.
    from extractkit.config import get_settings

    return get_settings().store_url


def _run(args: argparse.Namespace, action: Callable[[Store], int], *, read_only: bool = False) -> int:
    # Errors go up to extractkit.cli.main, which prints one line and picks the exit code.
    url = args.store or os.environ.get(STORE_ENV) or _configured_url()
    if not url:
        raise UserError(
            f"no store given; pass --store URL, set {STORE_ENV} "
            "(e.g. sqlite:///exchanges.db) or add [store] url = ... to extractkit.toml"
        )
    with open_store(url, read_only=True) if read_only else open_store(url) as store:
        return action(store)


# -- rendering ----------------------------------------------------------------


def _cell(value: str, width: int) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    """Return a fixed-width text table; cells are flattened to one line and cut to their column's width."""
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(_cell(c, w).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _compact(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not _encodable(text):
        # A lone surrogate cannot be written as UTF-8: JSON's \u escapes carry it instead.
        text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text


def _printable(text: str) -> str:
    # A lone surrogate cannot be printed as UTF-8; show it as its escape instead of failing.
    return text if _encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _flags(record: Record) -> str:
    ex = record.exchange
    return "".join(
        flag if on else "."
        for flag, on in (
            ("I", record.included),
            ("C", record.corrected),
            ("E", ex.error is not None),
            ("R", bool(ex.repairs)),
            ("V", record.reviewed_at is not None),
        )
    )


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _record_row(record: Record) -> list[str]:
    ex = record.exchange
    shown = (
        f"error: {ex.error}"
        if ex.error is not None and not record.corrected
        else _compact(record.training_output)
    )
    return [
        record.id[:_ID_WIDTH],
        _when(ex.created_at),
        ex.extractor,
        ex.model,
        _flags(record),
        ex.input,
        shown,
    ]


_HEADERS = ("ID", "CREATED (UTC)", "EXTRACTOR", "MODEL", "FLAGS", "INPUT", "OUTPUT")
_WIDTHS = (_ID_WIDTH, 16, 12, 22, 5, 34, 40)


def _cmd_list(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        filters = _filters(args)
        limit = None if args.limit <= 0 else args.limit
        rows = store.list(**filters, limit=limit, offset=args.offset)
        if args.json:
            for record in rows:
                print(_compact(record.to_dict()))
            return 0
        total = store.count(**filters)
        if not rows:
            print(f"no records match ({total} in range)" if args.offset else "no records match")
            return 0
        print(_printable(format_table(_HEADERS, [_record_row(r) for r in rows], _WIDTHS)))
        first = args.offset + 1
        legend = "flags: I included, C corrected, E error, R repaired, V reviewed"
        print(f"\n{first}-{args.offset + len(rows)} of {total}   {legend}")
        return 0

    return _run(args, action, read_only=True)


def _cmd_show(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        record = store.get(store.resolve_id(args.id))
        if record is None:  # pragma: no cover - resolve_id found it a moment ago
            raise UserError(f"no record with id {args.id!r}")
        if args.json:
            text = json.dumps(record.to_dict(), ensure_ascii=False, indent=2)
            print(text if _encodable(text) else json.dumps(record.to_dict(), indent=2))
        else:
            print(_printable(_describe(record)))
        return 0

    return _run(args, action, read_only=True)


def _describe(record: Record) -> str:
    ex = record.exchange
    cost = "unknown" if ex.cost is None else f"${ex.cost:.6f}"
    usage = (
        f"{ex.prompt_tokens} prompt + {ex.completion_tokens} completion tokens, cost {cost}, "
        f"{ex.latency_s:.3f} s, {ex.attempts} attempt(s)"
    )
    fields = [
        ("id", record.id),
        ("exchange", ex.id),
        ("extractor", ex.extractor),
        ("model", f"{ex.model} ({ex.prompt_variant} prompt)"),
        ("created", f"{_when(ex.created_at)}   first seen {_when(record.first_seen_at)}"),
        ("included", "no" if record.included_at is None else f"yes, {_when(record.included_at)}"),
        ("reviewed", _when(record.reviewed_at)),
        ("usage", usage),
        ("repairs", ", ".join(ex.repairs) or "none"),
        ("input", ex.input),
    ]
    if ex.error is not None:
        fields.append(("error", ex.error))
    fields.append(("output", json.dumps(ex.output, ensure_ascii=False, indent=2)))
    if record.corrected:
        fields.append(("corrected", json.dumps(record.corrected_output, ensure_ascii=False, indent=2)))
    if ex.metadata:
        fields.append(("metadata", _compact(dict(ex.metadata))))
    lines = [f"{name:<11}{_indent(value, 11)}" for name, value in fields]
    lines.append("messages")
    for message in ex.messages:
        lines.append(f"  [{message.get('role', '?')}] {_indent(str(message.get('content')), 4)}")
    lines.append("raw response")
    lines.append("  -" if ex.raw_response is None else f"  {_indent(ex.raw_response, 2)}")
    if record.label_history:
        lines.append("history")
        for label in record.label_history:
            what = f"error: {label.error}" if label.error else _compact(label.output)
            source = label.model if label.kind == "model" else "correction"
            lines.append(f"  {_when(label.created_at)}  {source:<24} {_cell(what, 60)}")
    return "\n".join(lines)


def _indent(text: str, width: int) -> str:
    return text.replace("\n", "\n" + " " * width)


def _cmd_include(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        ids = [store.resolve_id(i) for i in args.ids]
        changed = store.include(ids)
        print(f"included {changed} record(s); {len(ids) - changed} already included")
        return 0

    return _run(args, action)


def _cmd_exclude(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        ids = [store.resolve_id(i) for i in args.ids]
        changed = store.exclude(ids)
        print(f"excluded {changed} record(s); {len(ids) - changed} were not included")
        return 0

    return _run(args, action)


def _read_output(args: argparse.Namespace, stdin: TextIO) -> Any:
    if args.clear:
        if args.output is not None or args.file is not None:
            raise UserError("--clear takes no output; give either --clear or the corrected JSON")
        return None
    if (args.output is None) == (args.file is None):
        raise UserError("give the corrected output as JSON, or --file PATH ('-' for stdin), or --clear")
    if args.file == "-":
        text = stdin.read()
    elif args.file is not None:
        with open(args.file, encoding="utf-8") as handle:
            text = handle.read()
    else:
        text = args.output
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"the corrected output is not valid JSON: {exc}") from exc


def _cmd_correct(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        output = _read_output(args, sys.stdin)
        record_id = store.resolve_id(args.id)
        store.correct(record_id, output)
        print(f"{'cleared the correction of' if output is None else 'corrected'} {record_id}")
        return 0

    return _run(args, action)


def _cmd_export(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        if args.output is None:
            _export(store, args, sys.stdout)
        else:
            from extractkit.private_files import open_private

            with open_private(args.output) as handle:
                written = _export(store, args, handle)
            print(f"wrote {written} record(s) to {args.output}", file=sys.stderr)
        return 0

    return _run(args, action, read_only=True)


def _export(store: Store, args: argparse.Namespace, out: IO[str]) -> int:
    from extractkit.redaction import redact_value, secret_values

    filters = _filters(args)
    limit = args.limit if args.limit > 0 else None
    if isinstance(store, SQLStore):
        # One snapshot: rows written meanwhile can neither repeat nor push others out of a page.
        records: Iterable[Record] = store.export(**filters, limit=limit)
    else:  # another Store implementation: the best it offers
        records = store.list(**filters, limit=limit)
    values = secret_values()
    written = 0
    for record in records:
        data = record.to_dict()
        for key, value in data.items():
            if key not in ("id", "exchange_id", "label_history"):  # ids are ours, never secrets
                data[key] = redact_value(value, values)
        for label in data["label_history"]:
            label["output"] = redact_value(label["output"], values)
            label["error"] = redact_value(label["error"], values)
        out.write(_compact(data) + "\n")
        written += 1
    return written
