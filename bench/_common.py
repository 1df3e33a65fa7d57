"""Helpers shared by the benchmarks: a server in a separate process, the monotonic check.

Standard library only: the peer scripts run in the bench venv, without extractkit.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@contextmanager
def server_process(latency: float, reply: str, chunk: int | None = None) -> Iterator[str]:
    """Start bench/_server.py in its own process; yield its base URL.

    ``chunk``: characters per chunk when a request asks for a stream.
    """
    extra = [] if chunk is None else [str(chunk)]
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_server.py"), str(latency), reply, *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1"):
            raise RuntimeError(f"benchmark server failed to start: {url!r}")
        yield url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


def grows(before: Any, after: Any) -> bool:
    """Lenient monotonic check (any string may have grown), the same for every contender."""
    if before is None:
        return True
    if isinstance(before, str):
        return isinstance(after, str) and after.startswith(before)
    if isinstance(before, dict):
        return isinstance(after, dict) and all(grows(v, after.get(k)) for k, v in before.items())
    if isinstance(before, list):
        return isinstance(after, list) and len(after) >= len(before) and all(map(grows, before, after))
    return bool(before == after)
