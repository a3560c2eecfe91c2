#!/bin/bash
# The GPU scattering benchmark as one command on a GPU machine without a package index.
#
# Here (with network):   bash benchmarks/gpu_wheels.sh            # .whl/, 23 wheels, ≈ 11 MB
# There (from the repository root, .whl/ carried along):
#   bash benchmarks/scattering_gpu_device.sh [OUTDIR] [--sizes ... --cap ...]
# It installs the wheels into a temporary folder (--no-index: nothing is downloaded), prints
# nvidia-smi and the benchmark table, and writes OUTDIR/scattering_gpu.json (default: $OUT or .).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTDIR=${1:-${OUT:-.}}
shift || true
[[ $# -gt 0 ]] || set -- --sizes 10000 80000 310000 600000
PY=${PYTHON:-python3}
LIB=$(mktemp -d)
ls "$ROOT"/.whl/*.whl >/dev/null 2>&1 || { echo "no wheels in $ROOT/.whl: run benchmarks/gpu_wheels.sh first" >&2; exit 2; }
"$PY" -m pip install -q --no-deps --no-index --target "$LIB" "$ROOT"/.whl/*.whl
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
PYTHONPATH="$LIB:$ROOT" "$PY" "$ROOT/benchmarks/scattering_gpu.py" --device cuda \
    --json "$OUTDIR/scattering_gpu.json" "$@"
