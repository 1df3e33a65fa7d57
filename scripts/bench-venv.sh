#!/usr/bin/env bash
# Create .venv-bench: the peers the benchmarks compare against (instructor pins its own
# openai, so it lives apart from the project's venv). Used by bench/overhead.py and
# bench/streaming.py when present; nothing in the tests needs it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-bench
.venv-bench/bin/pip install --quiet "instructor==1.17.0"
.venv-bench/bin/python -c "import instructor, openai; print('instructor', instructor.__version__, 'openai', openai.__version__)"
