#!/bin/bash
# Fetch the wheels the GPU benchmark needs on a machine with no package index.
#
#   bash benchmarks/gpu_wheels.sh [DEST] [PYTHON_VERSION]        # default .whl/ and 3.12
#
# For a GPU machine that already has torch (CUDA), numpy, scipy, matplotlib, pyyaml, tqdm and
# pygments but cannot download anything (such as the lent device machine of this workplace).
# The list is what `benchmarks/scattering_gpu.py` imports beyond those: ASE, spglib,
# debyecalculator and what debyecalculator imports at module level (ipywidgets and IPython,
# for its notebook GUI). Versions are those this project's setup installs (decorator, which
# IPython needs, is not installed here). On the GPU machine:
#
#   python3 -m pip install -q --no-deps --no-index --target /tmp/bzs-lib .whl/*.whl
#   PYTHONPATH=/tmp/bzs-lib:$PWD python3 benchmarks/scattering_gpu.py --device cuda \
#       --sizes 10000 80000 310000 600000
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=${1:-$ROOT/.whl}
PYVER=${2:-3.12}
PIP=("$ROOT/.venv/bin/python" -m pip)
[[ -x "$ROOT/.venv/bin/python" ]] || PIP=(python3 -m pip)
WHEELS=(
    ase==3.29.0 spglib==2.8.0 debyecalculator==1.1.1 prettytable==3.18.0 wcwidth==0.9.4
    ipywidgets==8.1.9 comm==0.2.3 jupyterlab_widgets==3.0.17 widgetsnbextension==4.0.16 traitlets==5.16.1
    ipython==9.18.1 ipython_pygments_lexers==1.1.1 jedi==0.18.2 parso==0.8.7 matplotlib-inline==0.2.2
    pexpect==4.9.0 ptyprocess==0.7.0 prompt_toolkit==3.0.53 stack-data==0.6.3 asttokens==3.0.2
    executing==2.3.0 pure_eval==0.2.4 decorator==5.2.1
)
mkdir -p "$DEST"
"${PIP[@]}" download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version "$PYVER" \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any \
    -d "$DEST" "${WHEELS[@]}"
echo "$(ls "$DEST"/*.whl | wc -l) wheels, $(du -sh "$DEST" | cut -f1), in $DEST"
