"""``extractkit extract``: run an extractor on one text, or on each line of standard input.

Output goes to standard output, one line per input and in input order, as soon
as each result (and those before it) is ready: the value as compact JSON, or
with ``--json`` an object ``{"input", "value", "error", "model", "latency_s"}``
(``error`` is ``null`` or ``{"type", "message"}``). Without ``--json`` a failed
input leaves an empty line (so line N of the output still belongs to line N of
the input) and its error goes to standard error. Exit status: 0 when every
input succeeded, 1 when any failed, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from extractkit.cli.conventions import (
    EXIT_FAILED,
    EXIT_OK,
    add_command,
    existing_file,
    json_line,
    one_stdin,
    output_option,
)
from extractkit.exceptions import ExtractKitError, ItemError, UserError

if TYPE_CHECKING:
    from extractkit.extractor import Extractor
    from extractkit.results import Extraction

    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register", "run_extract"]

DESCRIPTION = """\
Run an extractor on TEXT, or on each line of standard input ('-' or no TEXT).

One output line per input, in input order, written as soon as it (and those
before it) is ready: the value as compact JSON, or with --json an object
{"input", "value", "error", "model", "latency_s"} whose error is null or
{"type", "message"}. Without --json a failed input leaves an empty line, so
line N of the output still belongs to line N of the input, and its error goes
to standard error.

exit status: 0 every input succeeded; 1 some failed; 2 a usage or
configuration error."""

EXAMPLES = (
    'extractkit extract location "graphic designer in New York"',
    "extractkit extract location --json < ads.txt > locations.jsonl   # one text per line",
    "cat ads.txt | extractkit extract location - --model openai:gpt-4o-mini",
    'extractkit extract intent "I need a day off next week" --routes routes.json',
    'extractkit extract myapp.extractors:Skills "python and sql"   # your own Extractor class',
)


def register(subparsers: _SubParsers) -> None:
    """Add the ``extract`` command to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    cmd = add_command(
        subparsers,
        "extract",
        help="extract from a text, or from each line of standard input",
        description=DESCRIPTION,
        examples=EXAMPLES,
    )
    cmd.add_argument(
        "extractor",
        metavar="EXTRACTOR",
        help="location, intent (with --routes), or module:Class of your own extractor",
    )
    cmd.add_argument(
        "text",
        metavar="TEXT",
        nargs="?",
        default="-",
        help="the text to extract from; '-' or none: one text per line of standard input",
    )
    cmd.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per line: {"input", "value", "error", "model", "latency_s"}',
    )
    cmd.add_argument("--model", metavar="REF", help="provider:model to use instead of the configured one")
    cmd.add_argument(
        "--config", metavar="PATH", type=existing_file, help="extractkit.toml to read (default: found)"
    )
    cmd.add_argument(
        "--routes", metavar="FILE", help='the routes of a router, as JSON {"key": "description"}'
    )
    cmd.add_argument(
        "--concurrency", type=int, metavar="N", help="extractions in flight (default: settings, 8)"
    )
    cmd.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress line on standard error (default: for many texts, when it is a terminal)",
    )
    output_option(cmd, "write the results here (default: standard output)")
    cmd.set_defaults(func=_cmd_extract)


class _Progress:
    """``\\rextract: 12/100 done, 1 failed`` on a stream, redrawn at most every ``interval`` seconds."""

    def __init__(self, total: int, stream: TextIO, interval: float = 0.1) -> None:
        self.total = total
        self.stream = stream
        self.interval = interval
        self.done = 0
        self.failed = 0
        self._last = -float("inf")

    def update(self, ok: bool) -> None:
        self.done += 1
        self.failed += not ok
        now = time.monotonic()
        if self.done == self.total or now - self._last >= self.interval:
            self._last = now
            self.stream.write(f"\rextract: {self.done}/{self.total} done, {self.failed} failed")
            self.stream.flush()

    def close(self) -> None:
        if self.done:
            self.stream.write("\n")
            self.stream.flush()


def _plain(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value)


def _row(text: str, model: str, result: Extraction[Any] | ExtractKitError, elapsed: float) -> dict[str, Any]:
    if isinstance(result, ExtractKitError):
        error = {"type": type(result).__name__, "message": str(result)}
        return {"input": text, "value": None, "error": error, "model": model, "latency_s": elapsed}
    return {
        "input": text,
        "value": _plain(result.value),
        "error": None,
        "model": result.model,
        "latency_s": result.latency_s,
    }


async def run_extract(
    extractor: Extractor[Any],
    texts: list[str],
    *,
    out: TextIO,
    as_json: bool,
    concurrency: int,
    progress: _Progress | None = None,
    errors: TextIO | None = None,
) -> int:
    """Extract every text with at most ``concurrency`` in flight; write rows in input order.

    Returns the number of failed inputs. Errors of the command line or the
    configuration (:class:`UserError`) are raised, not counted: they would fail every input.
    """
    model = str(extractor.resolve_model())
    ready: dict[int, dict[str, Any]] = {}
    written = 0
    failed = 0
    cursor = iter(range(len(texts)))
    err = errors if errors is not None else sys.stderr

    def flush() -> None:
        nonlocal written
        while written in ready:
            row = ready.pop(written)
            written += 1
            if as_json:
                json_line(row, out)
            elif row["error"] is None:
                json_line(row["value"], out)
            else:
                out.write("\n")
                where = f"input {written}" if len(texts) > 1 else "the input"
                print(
                    f"extractkit: {where} failed: {row['error']['type']}: {row['error']['message']}", file=err
                )
        out.flush()

    async def worker() -> None:
        nonlocal failed
        for index in cursor:
            started = time.perf_counter()
            try:
                result: Extraction[Any] | ExtractKitError = await extractor.extract_detailed(texts[index])
            except UserError:
                raise  # a configuration problem: every input would fail the same way
            except Exception as exc:  # the model's answer, the transport, a hook's bug: this input only
                result = ItemError.wrap(exc, f"input {index + 1}")
            ok = not isinstance(result, ExtractKitError)
            failed += not ok
            ready[index] = _row(texts[index], model, result, time.perf_counter() - started)
            if progress is not None:
                progress.update(ok)
            flush()

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(texts))))))
    return failed


def _cmd_extract(args: argparse.Namespace) -> int:
    from extractkit.cli.loading import load_extractor
    from extractkit.config import Settings, get_settings
    from extractkit.datasets.inputs import read_inputs
    from extractkit.runtime import run_sync

    one_stdin(text=args.text, routes=args.routes)
    settings = Settings.load(args.config) if args.config else get_settings()
    extractor = load_extractor(args.extractor, routes=args.routes, model=args.model, settings=settings)
    if args.text == "-":
        if sys.stdin.isatty():
            print(
                "extractkit: reading texts from standard input, one per line (Ctrl-D ends)", file=sys.stderr
            )
        texts = read_inputs(sys.stdin)
        if not texts:
            raise UserError("no text to extract from: give TEXT, or lines on standard input")
    else:
        texts = [args.text]
    concurrency = args.concurrency if args.concurrency is not None else settings.max_concurrency
    if concurrency < 1:
        raise UserError(f"--concurrency must be >= 1, got {concurrency}")
    show = args.progress if args.progress is not None else len(texts) > 1 and sys.stderr.isatty()
    progress = _Progress(len(texts), sys.stderr) if show else None
    handle: TextIO = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        failed = run_sync(
            run_extract(
                extractor,
                texts,
                out=handle,
                as_json=args.json,
                concurrency=concurrency,
                progress=progress,
            )
        )
    finally:
        if progress is not None:
            progress.close()
        if handle is not sys.stdout:
            handle.close()
    if len(texts) > 1 and (failed or args.output):
        where = f"; results in {args.output}" if args.output else ""
        print(
            f"extractkit: {len(texts)} texts: {len(texts) - failed} ok, {failed} failed{where}",
            file=sys.stderr,
        )
    return EXIT_FAILED if failed else EXIT_OK
