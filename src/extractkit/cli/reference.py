"""The CLI reference page (``docs/cli.md``), generated from the argument parsers.

The page is written from the parsers themselves (their descriptions, arguments,
defaults and examples), not from argparse's help text, so it does not change
with the terminal width or the Python version. A test checks that the page in
the repository is what the parsers give; after changing a command, regenerate it::

    python -m extractkit.cli.reference docs/cli.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["render_reference"]

INTRO = """\
# Command line reference

This page is generated from the command's own parsers
(`python -m extractkit.cli.reference docs/cli.md`); `extractkit COMMAND --help`
shows the same.

Every command follows the same conventions:

- **Exit status**: `0` success; `1` an operational failure, or some items of a
  run failed (`extract`, `batch run`, `dataset label`, a dataset with errors, an
  eval below its thresholds); `2` a usage or configuration error (an unknown
  option, a bad value, a missing file argument, a bad `extractkit.toml`);
  `130` interrupted (Ctrl-C); `141` the reader of standard output went away
  (`extractkit records list --json | head`), quietly.
- **Errors** are one line on standard error, `extractkit: error: ...`, never a
  traceback, for everything expected: library errors, files, an unreachable
  database.
- **`-`** reads standard input wherever a file argument is read.
- **`-o/--output PATH`** is the one output flag; without it results go to
  standard output.
- **`--json`** on every command that lists or shows things: one JSON object per
  line for lists.
- **EXTRACTOR** (or `--extractor`) is `location`, `intent` (with `--routes
  routes.json`, a JSON object `{"key": "description"}`), or `module:Class` /
  `path/to/file.py:Class` for your own extractor.
- **Input files** hold one text per line, or for `*.jsonl` one JSON string, or
  object with an `"input"` or `"text"` key, or chat example per line.
"""


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, bool]]:
    """``(path, parser, is_group)`` for every command, depth first, in registration order."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    yield path, parser, bool(subs)
    for action in subs:
        for name, child in action.choices.items():
            yield from _commands(child, (*path, name))


def _cell(text: str) -> str:
    # A Markdown table cell: one line, pipes escaped, angle brackets not taken for HTML.
    flat = " ".join(text.split())
    return flat.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _argument(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest.upper()}`"
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return f"`{names}`"
    metavar = action.metavar or (action.dest.upper() if action.choices is None else None)
    if metavar is None:
        metavar = "{" + ",".join(str(c) for c in action.choices or ()) + "}"
    return f"`{names} {metavar}`"


def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%(" in text:
        text = text % {"default": action.default, "prog": prog}
    notes = []
    if action.required and action.option_strings:
        notes.append("required")
    if action.nargs in ("+", "*") and not action.option_strings:
        notes.append("one or more" if action.nargs == "+" else "any number")
    if isinstance(action, argparse._AppendAction):
        notes.append("repeatable")
    return _cell(text + (f" ({', '.join(notes)})" if notes else ""))


def _usage(path: Sequence[str], parser: argparse.ArgumentParser) -> str:
    words = ["extractkit", *path]
    if any(a.option_strings and a.dest != "help" for a in parser._actions):
        words.append("[options]")
    for action in parser._actions:
        if action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        name = str(action.metavar or action.dest).upper()
        words.append(
            {"?": f"[{name}]", "+": f"{name} [{name} ...]", "*": f"[{name} ...]"}.get(str(action.nargs), name)
        )
    return " ".join(words)


def _section(path: tuple[str, ...], parser: argparse.ArgumentParser, is_group: bool) -> list[str]:
    level = "#" * min(len(path) + 1, 4)
    out = [f"{level} extractkit {' '.join(path)}", ""]
    if parser.description:
        out += [parser.description.strip(), ""]
    if is_group:
        subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        helps = {a.dest: a.help for a in subs._choices_actions}
        out += ["| command | what it does |", "|---|---|"]
        out += [f"| `{name}` | {_cell(helps.get(name) or '')} |" for name in subs.choices]
        return [*out, ""]
    out += ["```text", _usage(path, parser), "```", ""]
    rows = [a for a in parser._actions if a.dest != "help"]
    if rows:
        out += ["| argument | description |", "|---|---|"]
        out += [f"| {_argument(a)} | {_help(a, parser.prog)} |" for a in rows]
        out.append("")
    if parser.epilog:
        lines = parser.epilog.strip().splitlines()
        title, examples = lines[0].rstrip(":"), [line.strip() for line in lines[1:] if line.strip()]
        out += [f"{title.capitalize()}:", "", "```console"]
        out += [f"$ {line}" if line.startswith(("extractkit", "cat ")) else line for line in examples]
        out += ["```", ""]
    return out


def render_reference(parser: argparse.ArgumentParser) -> str:
    """The Markdown reference page for ``parser`` (the ``extractkit`` command) and its commands."""
    out = [INTRO]
    for path, sub, is_group in _commands(parser):
        if not path:
            continue  # the top level is the introduction above
        out += _section(path, sub, is_group)
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the page to the path given (default: standard output)."""
    from extractkit.cli import build_parser

    args = list(sys.argv[1:] if argv is None else argv)
    text = render_reference(build_parser())
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
