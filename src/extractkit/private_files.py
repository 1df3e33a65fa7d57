"""Files and folders only their owner can read: what extractkit writes holds prompts, outputs and data.

Stores, exports, eval reports and run folders hold user inputs and model
outputs, and may hold a secret that slipped past redaction. They are created
0600 (files) and 0700 (folders) whatever the process umask, as ``ssh`` does
for its keys. A file that already exists is narrowed to 0600 when extractkit
rewrites it; a folder that already exists is left as it is (it may be shared
on purpose, e.g. a project directory).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

__all__ = ["FILE_MODE", "FOLDER_MODE", "make_private_dirs", "open_private", "write_private_text"]

FILE_MODE = 0o600
"""Mode of every file extractkit creates."""

FOLDER_MODE = 0o700
"""Mode of every folder extractkit creates."""


def make_private_dirs(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and its missing parents with mode 0700; return it. Existing ones are kept."""
    folder = Path(path)
    missing = []
    current = folder.absolute()
    while not current.exists():
        missing.append(current)
        current = current.parent
    for item in reversed(missing):
        try:
            item.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue
        os.chmod(item, FOLDER_MODE)  # mkdir's mode is filtered by the umask; this is not
    return folder


def open_private(
    path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = "utf-8", **kwargs: Any
) -> IO[Any]:
    """Open ``path`` for writing (``"w"``, ``"a"``, ``"x"``, and their binary forms) as a 0600 file.

    Like :func:`open`, a missing parent folder is an error (``FileNotFoundError``): a mistyped
    folder should not quietly become a new one.
    """
    if mode not in ("w", "a", "wb", "ab", "x", "xb"):
        raise ValueError(f"open_private is for writing; got mode {mode!r}")
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT
    if mode.startswith("w"):
        flags |= os.O_TRUNC
    elif mode.startswith("a"):
        flags |= os.O_APPEND
    else:
        flags |= os.O_EXCL
    fd = os.open(target, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through os.open: narrow it
    except OSError:  # pragma: no cover - not ours to change (another owner); still written
        pass
    py_mode = mode.replace("x", "w")
    if "b" in py_mode:
        return os.fdopen(fd, py_mode, **kwargs)
    return os.fdopen(fd, py_mode, encoding=encoding, **kwargs)


def write_private_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` as a 0600 file (created or replaced)."""
    with open_private(path, "w", encoding=encoding) as handle:
        handle.write(text)
