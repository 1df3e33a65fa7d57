"""``extractkit batch``: run an extractor over an inputs file through the Batch API.

``run`` submits (split across batches within the API's limits), waits, and
writes one JSON line per input, in input order: the value, or the error, with
usage and cost at batch prices. Batch ids are printed as soon as each batch
exists, so an interrupted run (or ``--no-wait``) is finished later with
``fetch``, from any process, given the same extractor and inputs.

EXTRACTOR is read as by every command (:mod:`extractkit.cli.loading`); INPUTS
as by :func:`extractkit.datasets.read_inputs` (text lines, or JSONL for
``*.jsonl``; ``-`` reads standard input). ``run`` and ``fetch`` exit 1 when
any input failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from extractkit.batch import BatchJob, OpenAIBatchBackend, extract_batch
from extractkit.cli.conventions import (
    EXIT_FAILED,
    EXIT_OK,
    add_command,
    add_group,
    existing_file,
    json_line,
    one_stdin,
    output_option,
)
from extractkit.config import Settings, get_settings
from extractkit.exceptions import UserError

if TYPE_CHECKING:
    from extractkit.extractor import Extractor, ItemResult

    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register"]


def register(subparsers: _SubParsers) -> None:
    """Add the ``batch`` command group to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="PATH", type=existing_file, help="extractkit.toml to read (default: found)"
    )
    work = argparse.ArgumentParser(add_help=False)
    work.add_argument(
        "extractor", metavar="EXTRACTOR", help="location, intent (with --routes), or module:Class"
    )
    work.add_argument(
        "inputs",
        metavar="INPUTS",
        type=existing_file,
        help="inputs: one text per line, or .jsonl ('-': standard input)",
    )
    work.add_argument("--model", metavar="REF", help="provider:model to use instead of the configured one")
    work.add_argument(
        "--routes", metavar="FILE", help='the routes of a router, as JSON {"key": "description"}'
    )
    output_option(work, "write the results here (JSONL; default: standard output)")
    work.add_argument(
        "--poll-interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds between polls (default 30)",
    )
    work.add_argument("--no-wait", action="store_true", help="return once submitted; finish with 'fetch'")

    sub = add_group(
        subparsers,
        "batch",
        help="extract over a file through the Batch API (half price)",
        description="Batch extraction at batch prices: run, status, fetch.",
    )
    cmd = add_command(
        sub,
        "run",
        help="submit the inputs, wait, write the results",
        parents=[common, work],
        examples=(
            "extractkit batch run location ads.txt -o locations.jsonl",
            "extractkit batch run location ads.txt --no-wait   # prints the fetch command",
            "extractkit batch run intent messages.jsonl --routes routes.json",
        ),
    )
    cmd.add_argument(
        "--max-requests", type=int, default=50_000, help="requests per batch (default: the API's 50,000)"
    )
    cmd.set_defaults(func=_cmd_run)

    cmd = add_command(
        sub,
        "fetch",
        help="finish a run from its batch ids",
        parents=[common, work],
        examples=("extractkit batch fetch location ads.txt batch_abc123 -o locations.jsonl",),
    )
    cmd.add_argument("batch_ids", nargs="+", metavar="BATCH_ID", help="batch ids, as run printed them")
    cmd.set_defaults(func=_cmd_fetch)

    cmd = add_command(
        sub,
        "status",
        help="show batches",
        parents=[common],
        examples=("extractkit batch status batch_abc123", "extractkit batch status batch_abc123 --json"),
    )
    cmd.add_argument("batch_ids", nargs="+", metavar="BATCH_ID", help="batch ids, as run printed them")
    cmd.add_argument("--provider", default="openai", help="[backends.NAME] to use (default: openai)")
    cmd.add_argument("--json", action="store_true", help="one JSON object per batch")
    cmd.set_defaults(func=_cmd_status)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(args.config) if args.config else get_settings()


def _plain(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value)


def _result_row(item: ItemResult[Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"index": item.index, "input": item.input, "ok": item.ok}
    if item.extraction is not None:
        ex = item.extraction
        row["value"] = _plain(ex.value)
        row["usage"] = {
            "prompt_tokens": ex.usage.prompt_tokens,
            "completion_tokens": ex.usage.completion_tokens,
        }
        row["cost"] = ex.cost
        row["repairs"] = list(ex.repairs)
    else:
        error = item.error
        row["error"] = {"type": type(error).__name__, "message": str(error)}
    return row


def _write(results: list[ItemResult[Any]], out: TextIO) -> None:
    for item in results:
        json_line(_result_row(item), out)


def _extractor(args: argparse.Namespace) -> Extractor[Any]:
    from extractkit.cli.loading import load_extractor

    return load_extractor(args.extractor, routes=args.routes, model=args.model, settings=_settings(args))


def _execute(args: argparse.Namespace, batch_ids: Sequence[str] | None, max_requests: int) -> int:
    from extractkit.datasets.inputs import read_inputs

    one_stdin(inputs=args.inputs, routes=args.routes)
    extractor = _extractor(args)
    inputs = read_inputs(sys.stdin if args.inputs == "-" else args.inputs)
    known: dict[str, BatchJob] = {}

    def update(job: BatchJob) -> None:
        if job.id not in known:
            print(f"batch {job.describe()}", file=sys.stderr, flush=True)
        known[job.id] = job

    try:
        results = asyncio.run(
            extract_batch(
                extractor,
                inputs,
                batch_id=list(batch_ids) if batch_ids else None,
                poll_interval=args.poll_interval,
                max_wait=0.0 if args.no_wait else None,
                max_requests=max_requests,
                on_update=update,
            )
        )
    except TimeoutError:
        print(f"submitted; get the results with:\n  {_fetch_hint(args, known)}", file=sys.stderr)
        return EXIT_OK
    except BaseException:
        if known:  # interrupted or failed while waiting: the batches run on at the provider
            print(f"the batches go on; get the results with:\n  {_fetch_hint(args, known)}", file=sys.stderr)
        raise
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            _write(results, fh)
    else:
        _write(results, sys.stdout)
    ok = [r.extraction for r in results if r.extraction is not None]
    costs = [e.cost for e in ok if e.cost is not None]
    cost = f"${sum(costs):.4f} at batch prices" if costs else "cost unknown"
    failed = len(results) - len(ok)
    print(
        f"{len(results)} inputs: {len(ok)} ok, {failed} failed; {cost}"
        + (f"; results in {args.output}" if args.output else ""),
        file=sys.stderr,
    )
    return EXIT_FAILED if failed else EXIT_OK


def _fetch_hint(args: argparse.Namespace, known: dict[str, BatchJob]) -> str:
    import shlex

    words = ["extractkit", "batch", "fetch", args.extractor, args.inputs, *known]
    for flag, value in (("--model", args.model), ("--routes", args.routes), ("--config", args.config)):
        if value:
            words += [flag, value]
    hint = shlex.join(words)
    return hint + " < INPUTS" if args.inputs == "-" else hint


def _cmd_run(args: argparse.Namespace) -> int:
    if args.max_requests < 1:
        raise UserError(f"--max-requests must be >= 1, got {args.max_requests}")
    return _execute(args, None, args.max_requests)


def _cmd_fetch(args: argparse.Namespace) -> int:
    return _execute(args, args.batch_ids, 50_000)


def _cmd_status(args: argparse.Namespace) -> int:
    async def read() -> list[BatchJob]:
        backend = OpenAIBatchBackend(_settings(args).backend(args.provider))
        try:
            return [await backend.get(bid) for bid in args.batch_ids]
        finally:
            await backend.aclose()

    for job in asyncio.run(read()):
        if args.json:
            json_line(_plain(job))
        else:
            print(job.describe())
    return EXIT_OK
