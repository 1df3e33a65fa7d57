"""Input texts from a file or a stream: the one reader behind every command that takes inputs.

Two formats, chosen by the file name (or by ``jsonl=``):

- **Text** (any name but ``*.jsonl``, and standard input): one input per line;
  blank lines are skipped.
- **JSONL** (``*.jsonl``): one input per line, as a JSON string (``"nurse in
  Paris"``), an object with an ``"input"`` key, or with a ``"text"`` key (the
  first one present wins), or a chat example (``{"messages": [...]}``, whose
  last user message is the input). So an eval case file, a training file or an
  ``extractkit records export`` file can be fed back as inputs. Any other line is
  an error naming its line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO

from extractkit.exceptions import DatasetError

__all__ = ["INPUT_KEYS", "read_inputs"]

INPUT_KEYS = ("input", "text")
"""Keys of a JSONL object that hold the input text, in the order they are looked for."""


def read_inputs(source: str | os.PathLike[str] | TextIO, *, jsonl: bool | None = None) -> list[str]:
    """Read input texts: one per line of a text file, or one per line of a JSONL file.

    Args:
        source: A file path, or an open text stream (e.g. ``sys.stdin``).
        jsonl: Read JSON lines (``True``) or plain lines (``False``); default: JSONL
            for a path ending in ``.jsonl``, plain text otherwise (streams included).

    Raises:
        DatasetError: The file is missing or not UTF-8, or a JSONL line holds no input
            (the error names the line).
    """
    from extractkit.datasets.example import user_input

    if isinstance(source, str | os.PathLike):
        file = Path(source)
        label = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DatasetError(f"{file} does not exist", path=label) from None
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{file} is not UTF-8 text ({exc})", path=label) from None
        as_jsonl = file.suffix.lower() == ".jsonl" if jsonl is None else jsonl
    else:
        label = getattr(source, "name", None) or "<stdin>"
        text = source.read()
        as_jsonl = bool(jsonl)
    lines = text.splitlines()
    if not as_jsonl:
        return [line for line in lines if line.strip()]
    out: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"{label}:{number}: not valid JSON ({exc})", path=label, line=number) from None
        found: str | None = obj if isinstance(obj, str) else None
        if isinstance(obj, dict):
            found = next((obj[k] for k in INPUT_KEYS if isinstance(obj.get(k), str)), None)
            if found is None and "messages" in obj:
                found = user_input(obj.get("messages") or ())
        if found is None:
            raise DatasetError(
                f'{label}:{number}: no input found; use a JSON string, {{"input": "..."}}, '
                '{"text": "..."} or a chat example {"messages": [...]}',
                path=label,
                line=number,
            )
        out.append(found)
    return out
