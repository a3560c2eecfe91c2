#!/bin/bash
# The scattering capability end to end, as a user runs it (docs/scattering.md, "One command"):
# the Pnma cell, a melt–quench of a 3×3×3 block with the MD capability, spheres of 2–20 nm cut
# from the crystal, XRD + PDF of all six through AiiDA, fitted to measured curves, one figure.
#
#   bash examples/scattering_cli.sh [OUTDIR]        # ≈ 5 min on 2 cores (the 20 nm sphere: 169k atoms)
#
# The potential is the toy test potential and the MD preset the 'demo' one (a few ps): the
# pipeline, not the study's amorphous model. The "measured" curves are synthetic (a computed
# 3 nm sphere with noise); use your own files with --compare / --compare-pdf.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-scattering_cli_out}
mkdir -p "$OUT" && cd "$OUT"
export PATH="$ROOT/.venv/bin:$PATH"
pk() { grep -o "$1[0-9]*" | head -1 | grep -o '[0-9]*$'; }

cell=$(aiida-bzs structure crystal | pk 'pk=')
block=$(aiida-bzs structure crystal --repeat 3 3 3 | pk 'pk=')
potential=$(aiida-bzs potential import "$ROOT/tests/fixtures/md/tiny.yaml" --yace "$ROOT/tests/fixtures/md/tiny.yace" | pk 'pk ')
aiida-bzs md melt-quench "$block" "$potential" --protocol demo --plot melt_quench.png | tee melt_quench.log
quenched=$(grep 'final density' melt_quench.log | pk 'structure pk ')
aiida-bzs scatter "$cell" "$quenched" -n 2 -n 5 -n 10 -n 20 \
    --compare "$ROOT/tests/fixtures/scattering/synthetic_xrd.xy" \
    --compare-pdf "$ROOT/tests/fixtures/scattering/synthetic_pdf.gr" \
    --wavelength 1.5406 --plot fig4.png
