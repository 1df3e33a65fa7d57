"""The conventions every ``extractkit`` command follows, written once.

- **Exit codes**: ``0`` success; ``1`` an operational failure, or some items of
  a run failed; ``2`` a usage or configuration error (argparse's own errors, and
  :class:`~extractkit.exceptions.UserError` with its subclass ``ConfigError``);
  ``130`` interrupted (Ctrl-C); ``141`` the reader of standard output went away
  (``extractkit records list --json | head``), quietly. :func:`exit_code` maps an
  error to its code; :func:`extractkit.cli.main` is the one place that applies it.
- **Expected errors are one line** on standard error, ``extractkit: error: ...``,
  never a traceback: library errors, files that cannot be read or written, a
  database that cannot be reached.
- **Help has examples**: every command is made with :func:`add_command`, which
  puts an ``examples:`` block in its ``--help`` (and in ``docs/cli.md``).
- **``-`` is standard input** wherever a file is read (:func:`stdin_as_file` for
  library calls that need a path), and ``-o/--output`` is the one output flag.
- **``--json``** on every command that lists or shows things: one JSON object
  per line for lists, one object for a single thing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from extractkit.exceptions import ExtractKitError, UserError

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE_CLOSED",
    "EXIT_USAGE",
    "add_command",
    "add_group",
    "describe_error",
    "existing_file",
    "exit_code",
    "json_line",
    "one_stdin",
    "output_option",
    "read_text_arg",
    "stdin_as_file",
    "usage",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left


def add_group(subparsers: _SubParsers, name: str, *, help: str, description: str) -> _SubParsers:
    """Add a command group (``extractkit NAME COMMAND``); without a command it prints its help, exit 2."""
    group = subparsers.add_parser(
        name, help=help, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group.set_defaults(func=lambda args: usage(group))
    return group.add_subparsers(title="commands", metavar="COMMAND")


def add_command(
    subparsers: _SubParsers,
    name: str,
    *,
    help: str,
    examples: Sequence[str],
    description: str | None = None,
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """Add one command whose ``--help`` ends with its examples.

    Args:
        subparsers: From ``add_subparsers`` (or :func:`add_group`).
        name: The command's name.
        help: One line for the parent's command list.
        examples: Command lines, each optionally followed by ``  # what it does``.
        description: Paragraphs shown above the options (default: ``help``).
        parents: Parsers whose options the command shares.
    """
    if not examples:
        raise ValueError(f"command {name!r} needs at least one example")  # a programming error
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    return subparsers.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog=epilog,
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def output_option(parser: argparse.ArgumentParser, what: str, *, required: bool = False) -> None:
    """The one output flag: ``-o/--output PATH``."""
    parser.add_argument("-o", "--output", metavar="PATH", required=required, help=what)


def usage(parser: argparse.ArgumentParser) -> int:
    """Print ``parser``'s help on standard error; the exit code of a usage error."""
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def json_line(value: Any, out: TextIO | None = None) -> None:
    """Write ``value`` as one compact JSON line (non-ASCII kept) to ``out`` (default stdout)."""
    stream = out if out is not None else sys.stdout
    stream.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")


def exit_code(exc: BaseException) -> int:
    """The exit code for an error that ended a command (see the module docstring)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return EXIT_PIPE_CLOSED
    if isinstance(exc, UserError):
        return EXIT_USAGE
    return EXIT_FAILED


def _is_database_error(exc: BaseException) -> bool:
    # The store's drivers, caught at the edge without importing them: psycopg is an optional extra.
    return isinstance(exc, sqlite3.Error) or type(exc).__module__.split(".")[0] == "psycopg"


def describe_error(exc: BaseException) -> str | None:
    """One line (or a short message) for an expected error; ``None`` for a bug (show the traceback)."""
    if isinstance(exc, ExtractKitError):
        return str(exc)
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        return f"{exc.filename}: {what}" if exc.filename else what
    if _is_database_error(exc):
        first = str(exc).strip().splitlines()
        return f"the store's database failed: {first[0] if first else type(exc).__name__}"
    return None


@contextlib.contextmanager
def stdin_as_file(
    path: str, *, suffix: str = "", stdin: TextIO | None = None, folder: str | os.PathLike[str] | None = None
) -> Iterator[Path]:
    """``path`` as a file path; for ``-``, standard input copied into a temporary file first.

    For library calls that take a path (uploads, files whose relative paths are
    resolved against their folder: pass ``folder``). The temporary file is removed afterwards.
    """
    if path != "-":
        yield Path(path)
        return
    source = stdin if stdin is not None else sys.stdin
    fd, name = tempfile.mkstemp(prefix=".extractkit-stdin-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for chunk in iter(lambda: source.read(1 << 16), ""):
                handle.write(chunk)
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def existing_file(path: str) -> str:
    """An argparse ``type=``: a file that exists, or ``-`` (standard input); otherwise a usage error."""
    if path != "-" and not Path(path).is_file():
        why = "is a folder, not a file" if Path(path).is_dir() else "does not exist"
        raise argparse.ArgumentTypeError(f"{path} {why}")
    return path


def one_stdin(**arguments: str | None) -> None:
    """Refuse a command line that gives ``-`` (standard input) to more than one argument.

    Raises:
        UserError: Naming the arguments that asked for standard input.
    """
    dashes = [name.replace("_", "-") for name, value in arguments.items() if value == "-"]
    if len(dashes) > 1:
        raise UserError(f"only one argument can read standard input ('-'); got it for {', '.join(dashes)}")


def read_text_arg(path: str, *, what: str, stdin: TextIO | None = None) -> str:
    """The text of the file ``path`` names (``-``: standard input).

    Raises:
        UserError: The file does not exist (the message names ``what`` it should hold).
    """
    if path == "-":
        return (stdin if stdin is not None else sys.stdin).read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
