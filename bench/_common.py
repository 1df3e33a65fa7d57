"""Helpers shared by the benchmarks: a server in a separate process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
