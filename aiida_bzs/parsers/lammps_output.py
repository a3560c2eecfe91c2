"""Reading what LAMMPS writes: the log (thermo, errors, minimisation), dump frames, the final data file.

Pure functions on text or paths (no AiiDA), tested on stored real outputs in tests/fixtures/md/.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from ase import Atoms

#: Thermo keyword -> name of the array stored in the ``thermo`` ArrayData (units in the names'
#: docstring of :func:`parse_log`).
THERMO_NAMES = {
    "Step": "step", "Time": "time", "Temp": "temperature", "Press": "pressure", "PotEng": "potential_energy",
    "KinEng": "kinetic_energy", "TotEng": "total_energy", "Econserve": "conserved_energy", "Volume": "volume",
    "Density": "density",
    "Lx": "lx", "Ly": "ly", "Lz": "lz",
}

#: Error messages of LAMMPS (and pair_pace) mapped to the failure kinds the workchains handle.
ERROR_KINDS = (
    ("neighbour_overflow", re.compile(r"Neighbor list overflow|neigh_modify one|neigh_modify page")),
    ("lost_atoms", re.compile(r"Lost atoms|Out of range atoms")),
    ("atoms_too_close", re.compile(r"very small distance")),
)
#: Stop criteria of ``minimize`` that mean convergence.
CONVERGED_CRITERIA = ("energy tolerance", "force tolerance")
#: Stop criteria that mean the minimiser ran out of its budget (continuing may still help).
LIMIT_CRITERIA = ("max iterations", "max force evaluations")
#: What ``fix halt`` prints when its condition is met (LAMMPS 2025).
HALT_PATTERN = re.compile(r"Fix halt condition for fix-id (\S+) met on step (\d+) with value (\S+)")


@dataclass
class LogSummary:
    """What a LAMMPS log says.

    ``thermo``: arrays by name (step, time ps, temperature K, pressure bar, potential/kinetic/
    total energy eV, volume Å³, density g/cm³, lx/ly/lz Å), all runs of the log concatenated.
    ``minimisation``: the 'Minimization stats' block (None for MD). ``timeout``: the run stopped at
    the wall-time limit (``timer timeout``). ``completed``: LAMMPS reached the end of the input.
    ``halt``: ``{'fix': id, 'step': step, 'value': value}`` when a ``fix halt`` stopped the run.
    """

    thermo: dict[str, np.ndarray] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    minimisation: dict | None = None
    timeout: bool = False
    completed: bool = False
    version: str | None = None
    wall_time_s: float | None = None
    loop_time_s: float = 0.0
    n_atoms: int | None = None
    halt: dict | None = None

    @property
    def error_kind(self) -> str | None:
        """'neighbour_overflow', 'lost_atoms', 'atoms_too_close', 'other' or None without errors."""
        for message in self.errors:
            for kind, pattern in ERROR_KINDS:
                if pattern.search(message):
                    return kind
        return "other" if self.errors else None


def _wall_seconds(text: str) -> float:
    parts = [float(p) for p in text.split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def parse_log(text: str) -> LogSummary:
    """Parse a LAMMPS log (``log.lammps`` or screen output) into a :class:`LogSummary`."""
    out = LogSummary()
    lines = text.splitlines()
    columns: list[str] | None = None
    rows: list[list[float]] = []
    names: list[str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if columns is not None:
            fields = stripped.split()
            if len(fields) == len(columns):
                try:
                    rows.append([float(x) for x in fields])
                    i += 1
                    continue
                except ValueError:
                    pass
            if stripped.startswith(("Loop time of", "ERROR")):
                columns = None  # the thermo block ended (warnings may sit inside it)
        if stripped.startswith("Step ") or stripped == "Step":
            columns = stripped.split()
            current = [THERMO_NAMES.get(c, c.lower()) for c in columns]
            if names is None:
                names = current
            elif current != names:
                columns = None  # a different thermo style: not ours
        elif stripped.startswith("LAMMPS ("):
            out.version = stripped[len("LAMMPS ("):].rstrip(")")
        elif stripped.startswith("ERROR"):
            out.errors.append(stripped)
        elif stripped.startswith("WARNING"):
            out.warnings.append(stripped)
            if "Wall time limit reached" in stripped:
                out.timeout = True
        elif stripped.startswith("Loop time of"):
            out.loop_time_s += float(stripped.split()[3])
            match = re.search(r"with (\d+) atoms", stripped)
            if match:
                out.n_atoms = int(match.group(1))
        elif stripped.startswith("Fix halt condition"):
            match = HALT_PATTERN.search(stripped)
            if match:
                out.halt = {"fix": match.group(1), "step": int(match.group(2)), "value": float(match.group(3))}
        elif stripped.startswith("Total wall time:"):
            out.completed = True
            out.wall_time_s = _wall_seconds(stripped.split(":", 1)[1].strip())
        elif stripped.startswith("Minimization stats:"):
            out.minimisation = _minimisation_block(lines[i + 1:i + 10])
        i += 1
    if names and rows:
        table = np.array(rows)
        _, unique = np.unique(table[:, 0], return_index=True)  # a restarted run repeats its first step
        table = table[np.sort(unique)] if len(unique) != len(table) else table
        out.thermo = {name: table[:, k] for k, name in enumerate(names)}
    return out


def _minimisation_block(lines: list[str]) -> dict:
    stats: dict = {}
    for k, line in enumerate(lines):
        text = line.strip()
        if text.startswith("Stopping criterion"):
            stats["criterion"] = text.split("=", 1)[1].strip()
        elif text.startswith("Energy initial"):
            values = [float(x) for x in lines[k + 1].split()]
            stats["energy_initial"], stats["energy_final"] = values[0], values[-1]
        elif text.startswith("Force two-norm"):
            stats["force_norm_initial"], stats["force_norm_final"] = map(float, text.split("=")[1].split())
        elif text.startswith("Force max component"):
            stats["force_max_initial"], stats["force_max_final"] = map(float, text.split("=")[1].split())
        elif text.startswith("Iterations, force evaluations"):
            stats["iterations"], stats["force_evaluations"] = map(int, text.split("=")[1].split())
    stats["converged"] = stats.get("criterion") in CONVERGED_CRITERIA
    stats["out_of_budget"] = stats.get("criterion") in LIMIT_CRITERIA
    return stats


@dataclass
class DumpFrames:
    """Frames of a ``dump custom ... id type x y z`` file sorted by id.

    ``steps`` (n_frames,), ``cells`` (n_frames, 3, 3) Å in LAMMPS's lower-triangular frame,
    ``types`` and ``positions`` (Å) one array per frame (frames may differ in atom count when
    atoms were lost).
    """

    steps: np.ndarray
    cells: np.ndarray
    types: list[np.ndarray]
    positions: list[np.ndarray]
    #: per-atom extrapolation grade γ of each frame when the dump has an ``f_pace_gamma`` column
    gamma: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def n_atoms(self) -> np.ndarray:
        return np.array([len(p) for p in self.positions], dtype=int)


def _box_to_cell(bounds: list[list[float]]) -> np.ndarray:
    """LAMMPS dump box bounds (orthogonal or with xy xz yz tilts) → cell rows (a, b, c) in Å."""
    (xlo_b, xhi_b, *t0), (ylo_b, yhi_b, *t1), (zlo, zhi, *t2) = bounds
    xy = t0[0] if t0 else 0.0
    xz = t1[0] if t1 else 0.0
    yz = t2[0] if t2 else 0.0
    xlo = xlo_b - min(0.0, xy, xz, xy + xz)
    xhi = xhi_b - max(0.0, xy, xz, xy + xz)
    ylo = ylo_b - min(0.0, yz)
    yhi = yhi_b - max(0.0, yz)
    return np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, zhi - zlo]], dtype=float)


def read_dump(path: str | Path) -> DumpFrames:
    """Read every frame of a LAMMPS custom dump with columns ``id type x y z`` (fast, numpy), and
    ``f_pace_gamma`` (per-atom γ) when LAMMPS computed it."""
    text = Path(path).read_text()
    steps, cells, types, positions, gammas = [], [], [], [], []
    for chunk in text.split("ITEM: TIMESTEP")[1:]:
        lines = chunk.split("\n", 9)
        if len(lines) < 9:
            break  # truncated last frame (killed run)
        n_atoms = int(lines[3])
        bounds = [[float(x) for x in lines[k].split()] for k in (5, 6, 7)]
        header = lines[8].split()[2:]  # ITEM: ATOMS id type x y z [f_pace_gamma]
        n_columns = 6 if "f_pace_gamma" in header else 5
        body = lines[9] if len(lines) > 9 else ""
        if not body.strip():
            break  # truncated last frame (killed run)
        # pandas' C reader: ~3× faster than str.split for 10k-atom frames (benchmarks/md_trajectory_memory.py)
        table = pd.read_csv(io.StringIO(body), sep=r"\s+", header=None, nrows=n_atoms, usecols=range(n_columns),
                            engine="c").to_numpy(dtype=float)
        if len(table) < n_atoms or np.isnan(table).any():
            break  # truncated last frame
        table = table[np.argsort(table[:, 0], kind="stable")]
        steps.append(int(lines[1]))
        cells.append(_box_to_cell(bounds))
        types.append(table[:, 1].astype(int))
        positions.append(table[:, 2:5].copy())
        if n_columns == 6:
            gammas.append(table[:, 5].copy())
    return DumpFrames(np.array(steps, dtype=int), np.array(cells).reshape(-1, 3, 3), types, positions,
                      gammas if gammas and len(gammas) == len(steps) else None)


def read_final_data(path: str | Path, species: list[str]) -> Atoms:
    """The structure (and velocities) of ``final.data``; ``species[k]`` is the element of type k+1."""
    from ase.data import atomic_numbers
    from ase.io.lammpsdata import read_lammps_data

    z_of_type = {k + 1: atomic_numbers[el] for k, el in enumerate(species)}
    with open(path) as handle:
        atoms = read_lammps_data(handle, Z_of_type=z_of_type, sort_by_id=True, units="metal",
                                 atom_style="atomic")
    atoms.pbc = True
    return atoms
