#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): the CUDA scanner against the CPU kernel, CNN and GET
# training in fp32 and bf16-mixed, ISM and DeepLIFT on the device; one JSON line, under 8 minutes
# on an H100 / H200. Installs nothing: it uses the project's .venv (make test or make demo makes
# it) or $PYTHON.
#   benchmarks/gpu_check.sh [--device cuda] [--quick]        # --device cpu checks it without a GPU
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "gpu_check: no $PY (run 'make test' first, or set PYTHON)" >&2
  exit 2
fi
exec "$PY" benchmarks/gpu_check.py "$@"
