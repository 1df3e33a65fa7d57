"""The ``extractkit`` command: one module per command group, each thin over the library.

Each group module exposes ``register(subparsers)``, which adds its parser and
sets ``func(args) -> int`` on every subcommand. The conventions every command
follows (exit codes, one-line errors, examples in ``--help``, ``-`` for
standard input, ``-o/--output``, ``--json``) live in
:mod:`extractkit.cli.conventions`; :func:`main` applies the exit-code policy in
one place.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

EXAMPLES = (
    'extractkit extract location "graphic designer in New York"',
    "extractkit records list --errors",
    "extractkit dataset build --labels labels.jsonl --extractor location -o train.jsonl",
    "extractkit finetune start train.jsonl --extractor location --model gpt-4o-mini-2024-07-18",
    "extractkit eval run eval.toml --threshold accuracy=0.9",
)
EPILOG = (
    "exit status: 0 ok; 1 a failure, or some items failed; 2 a usage or configuration error; "
    "130 interrupted.\n\nexamples:\n" + "\n".join(f"  {line}" for line in EXAMPLES)
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command group registered."""
    from extractkit import __version__
    from extractkit.cli import batch, dataset, distill, extract, finetune, records, serve
    from extractkit.cli import eval as eval_group

    parser = argparse.ArgumentParser(
        prog="extractkit",
        description="Structured extraction with chat models: extract, record, curate, fine-tune, evaluate.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"extractkit {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    extract.register(sub)
    records.register(sub)
    dataset.register(sub)
    finetune.register(sub)
    batch.register(sub)
    eval_group.register(sub)
    distill.register(sub)
    serve.register(sub)
    return parser


def _quiet_stdout() -> None:
    # The reader of stdout is gone: point stdout at /dev/null so the interpreter's final
    # flush does not raise BrokenPipeError again (the recipe in Python's signal docs).
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 success; 1 an operational failure or some items failed; 2 a usage or
    configuration error (argparse exits with 2 itself); 130 Ctrl-C; 141 when the
    reader of standard output went away. Expected errors print one line on
    standard error, ``extractkit: error: ...``, and no traceback.
    """
    from extractkit.cli.conventions import EXIT_USAGE, describe_error, exit_code

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2, message printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE if exc.code else 0
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code = int(func(args))
        sys.stdout.flush()  # a closed pipe shows up here for the last buffered lines
        return code
    except KeyboardInterrupt as exc:
        print("extractkit: interrupted", file=sys.stderr)
        return exit_code(exc)
    except BrokenPipeError as exc:
        _quiet_stdout()
        return exit_code(exc)
    except Exception as exc:
        message = describe_error(exc)
        if message is None:
            raise  # a bug: the traceback is what a report needs
        print(f"extractkit: error: {message}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
