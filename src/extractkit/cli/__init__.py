"""The ``extractkit`` command: one module per command group, each thin over the library.

Each group module exposes ``register(subparsers)``, which adds its parser and
sets ``func(args) -> int`` on every subcommand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from extractkit.exceptions import ExtractKitError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command group registered."""
    from extractkit import __version__
    from extractkit.cli import batch, dataset, distill, finetune, records, serve
    from extractkit.cli import eval as eval_group

    parser = argparse.ArgumentParser(
        prog="extractkit", description="Structured extraction with chat models: record, curate, evaluate."
    )
    parser.add_argument("--version", action="version", version=f"extractkit {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    records.register(sub)
    dataset.register(sub)
    finetune.register(sub)
    batch.register(sub)
    eval_group.register(sub)
    distill.register(sub)
    serve.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for usage and library errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except ExtractKitError as exc:
        print(f"extractkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("extractkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
