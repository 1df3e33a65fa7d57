"""Run a ScriptedChatServer in its own process for benchmarks (no GIL shared with the client).

Usage: python bench/_server.py LATENCY_SECONDS REPLY_JSON [STREAM_CHUNK_CHARS]
Prints the base URL on stdout, then serves until stdin closes. Streamed answers
(requests with stream=true) are sent STREAM_CHUNK_CHARS characters a chunk (default 4).
"""

from __future__ import annotations

import sys

from extractkit.messages import Usage
from extractkit.testing.server import Reply, ScriptedChatServer, Streamed


def main() -> None:
    latency = float(sys.argv[1])
    chunk = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    reply = Reply.text(sys.argv[2], usage=Usage(300, 20), streaming=Streamed(chunk_size=chunk))
    with ScriptedChatServer(lambda request: reply, latency=latency) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin


if __name__ == "__main__":
    main()
