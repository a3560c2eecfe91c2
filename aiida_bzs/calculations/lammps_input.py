"""LAMMPS input for one MD or minimisation stage with ``pair_style pace`` (pure text, no AiiDA).

The CalcJob writes three files: ``structure.data`` (atoms, masses and velocities in metal units),
``potential.yace`` and ``input.lammps``. Each stage starts either from the data file or, after a
walltime stop, from a LAMMPS restart file, and always ends with ``final.data`` (positions and
velocities) and ``final.restart``. Ramps use ``run N upto start 0 stop N`` so that a restarted
stage continues the same temperature ramp from the step where it stopped.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms, units
from ase.calculators.lammps import Prism

from aiida_bzs.md.programme import FS_PER_PS  # stages give times in fs, metal units want ps

INPUT = "input.lammps"
DATA = "structure.data"
POTENTIAL = "potential.yace"
#: The B-basis potential and its active set, for ``pair_style pace/extrapolation`` (γ in the dump).
POTENTIAL_YAML = "potential.yaml"
ACTIVE_SET = "potential.asi"
#: Per-atom γ column of the dump when γ is computed by LAMMPS (``fix pace_gamma``).
GAMMA_COLUMN = "f_pace_gamma"
LOG = "log.lammps"
DUMP = "trajectory.dump"
FINAL_DATA = "final.data"
FINAL_RESTART = "final.restart"
#: Periodic restart files (``*`` is the step); ``read_restart`` picks the latest.
PERIODIC_RESTART = "periodic.*.restart"

#: Thermodynamic columns written by every stage (LAMMPS thermo keywords, metal units);
#: ``econserve`` (total energy + energy exchanged with thermostat/barostat) is what the
#: energy-drift check of ``analysis.md_sanity`` follows.
THERMO_KEYWORDS = ("step", "time", "temp", "press", "pe", "ke", "etotal", "econserve", "vol", "density",
                   "lx", "ly", "lz")

#: Neighbour-list settings. ACE under NPT needs large per-atom lists (toolchain.md); the
#: overflow handler doubles ``one`` and ``page`` when LAMMPS asks for more.
NEIGHBOUR_DEFAULTS = {"skin": 1.0, "every": 1, "delay": 0, "one": 10000, "page": 200000}
#: LAMMPS requires ``neigh_modify page`` >= this many times ``one``.
PAGE_PER_ONE = 10
#: Steps between periodic restart files (None: only the final one); a walltime kill restarts here.
RESTART_INTERVAL = 10000
#: Steps between checks of the wall-time limit (``timer timeout``).
TIMEOUT_CHECK_EVERY = 100

#: 1 Å/ps in ASE velocity units.
ANGSTROM_PER_PS = 1.0 / (FS_PER_PS * units.fs)


def lammps_species(symbols: Sequence[str], potential_elements: Sequence[str]) -> list[str]:
    """Element of each LAMMPS atom type: those present in the structure, in the potential's order."""
    present = set(symbols)
    missing = sorted(present - set(potential_elements))
    if missing:
        raise ValueError(
            f"the potential has no parameters for {missing} (it covers {sorted(potential_elements)}); "
            "use a potential fitted for every element of the structure"
        )
    return [el for el in potential_elements if el in present]


def data_file(atoms: Atoms, species: Sequence[str], velocities: np.ndarray | None = None) -> str:
    """LAMMPS data file (atom_style atomic, metal units) of ``atoms``; ``velocities`` in Å/ps.

    Cells that are not lower-triangular are rotated into LAMMPS's frame (ASE's ``Prism``); the
    parser rotates the results back with :func:`rotate_back`.
    """
    from ase.io.lammpsdata import write_lammps_data

    work = atoms.copy()
    if velocities is not None:
        velocities = np.asarray(velocities, dtype=float)
        if velocities.shape != (len(atoms), 3):
            raise ValueError(f"velocities must have shape ({len(atoms)}, 3), got {velocities.shape}")
        work.set_velocities(velocities * ANGSTROM_PER_PS)
    buffer = io.StringIO()
    write_lammps_data(buffer, work, specorder=list(species), masses=True,
                      velocities=velocities is not None, units="metal", atom_style="atomic")
    return buffer.getvalue()


def rotate_back(atoms: Atoms, reference_cell: np.ndarray) -> Atoms:
    """Rotate ``atoms`` (positions, cell, velocities) from LAMMPS's frame into the frame of ``reference_cell``."""
    prism = Prism(np.asarray(reference_cell))
    out = atoms.copy()
    velocities = atoms.get_velocities()
    out.set_cell(prism.vector_to_ase(np.asarray(atoms.cell[:])), scale_atoms=False)
    out.positions = prism.vector_to_ase(atoms.positions)
    if velocities is not None:
        out.set_velocities(prism.vector_to_ase(velocities))
    return out


def _neighbour_lines(neighbour: Mapping) -> list[str]:
    n = {**NEIGHBOUR_DEFAULTS, **neighbour}
    one, page = int(n["one"]), int(n["page"])
    page = max(page, PAGE_PER_ONE * one)
    return [
        f"neighbor {float(n['skin'])} bin",
        f"neigh_modify every {int(n['every'])} delay {int(n['delay'])} check yes one {one} page {page}",
    ]


def _md_lines(stage: Mapping, create_velocities: bool) -> list[str]:
    t0, t1 = stage["temperature"]
    tdamp = stage["tdamp"] / FS_PER_PS
    lines = [f"timestep {stage['timestep'] / FS_PER_PS}"]
    if create_velocities:
        lines.append(f"velocity all create {t0} {stage['seed']} dist gaussian mom yes rot yes")
    if stage["ensemble"] == "nvt":
        lines.append(f"fix ensemble all nvt temp {t0} {t1} {tdamp}")
    elif stage["ensemble"] == "npt":
        p, pdamp = stage["pressure"], stage["pdamp"] / FS_PER_PS
        lines.append(f"fix ensemble all npt temp {t0} {t1} {tdamp} {stage['barostat']} {p} {p} {pdamp}")
    else:
        lines.append("fix ensemble all nve")
    return lines


def _minimise_lines(stage: Mapping) -> list[str]:
    lines = []
    if stage["box_relax"] is not None:
        p = stage["pressure"]
        lines.append(f"fix relax all box/relax {stage['box_relax']} {p} vmax {stage['vmax']}")
    lines.append("min_style cg")
    if stage.get("linesearch"):
        lines.append(f"min_modify line {stage['linesearch']}")
    lines += [f"minimize {stage['etol']} {stage['ftol']} {stage['maxiter']} {stage['maxeval']}"]
    return lines


def input_script(
    stage: Mapping,
    species: Sequence[str],
    *,
    restart_file: str | None = None,
    has_velocities: bool = False,
    neighbour: Mapping | None = None,
    restart_interval: int | None = RESTART_INTERVAL,
    timeout_s: float | None = None,
    halt: Sequence[str] = (),
    gamma: bool = False,
) -> str:
    """The LAMMPS input of one normalised stage (see ``md.programme.normalise_stage``).

    :param species: element of each atom type (type 1 first), as in the data file.
    :param restart_file: continue from this restart file (walltime restart) instead of ``structure.data``.
    :param has_velocities: the data file carries velocities (kept from the previous stage);
        otherwise an MD stage draws them at its start temperature.
    :param neighbour: overrides of :data:`NEIGHBOUR_DEFAULTS`.
    :param restart_interval: steps between periodic restart files (MD only).
    :param timeout_s: stop cleanly after this many seconds of wall time (then ``final.*`` are
        still written and the stage can be continued from ``final.restart``).
    :param halt: lines that stop the run early when it turns unphysical (``fix halt ... error
        soft``, from :func:`aiida_bzs.analysis.md_sanity.halt_commands`); ``final.*`` are still written.
    :param gamma: MD only: ``pair_style pace/extrapolation`` on ``potential.yaml`` + ``potential.asi``
        computes the per-atom extrapolation grade γ on every dumped step, written as the dump's
        ``f_pace_gamma`` column (needs the plugin built with pace/extrapolation, docs/md.md).
    """
    minimise = stage["ensemble"] == "minimise"
    lines = [f"# aiida-bzs stage {stage['name']!r} ({stage['ensemble']})",
             "units metal", "atom_style atomic", "boundary p p p", "atom_modify map array"]
    lines.append(f"read_restart {restart_file}" if restart_file else f"read_data {DATA}")
    gamma = gamma and not minimise
    if gamma:
        from aiida_bzs.analysis.extrapolation import lammps_gamma_lines

        lines += lammps_gamma_lines(POTENTIAL_YAML, ACTIVE_SET, species, every=int(stage["dump_interval"]))
    else:
        lines += ["pair_style pace", f"pair_coeff * * {POTENTIAL} {' '.join(species)}"]
    lines += _neighbour_lines(neighbour or {})
    columns = "id type x y z" + (f" {GAMMA_COLUMN}" if gamma else "")
    lines += [f"thermo_style custom {' '.join(THERMO_KEYWORDS)}",
              "thermo_modify flush yes lost error",
              f"thermo {stage['thermo_interval']}",
              f"dump trajectory all custom {stage['dump_interval']} {DUMP} {columns}",
              "dump_modify trajectory sort id format float %.10g"]
    if timeout_s is not None:
        seconds = max(int(timeout_s), 1)
        hms = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        lines.append(f"timer timeout {hms} every {TIMEOUT_CHECK_EVERY}")
    if minimise:
        lines += list(halt)
        lines += _minimise_lines(stage)
    else:
        create = not has_velocities and restart_file is None
        lines += _md_lines(stage, create)
        lines += list(halt)
        if restart_interval:
            lines.append(f"restart {int(restart_interval)} {PERIODIC_RESTART}")
        steps = stage["steps"]
        lines.append(f"run {steps} upto start 0 stop {steps}")
        if halt:
            # a halted run does not print the step it stopped at; a zero-step run does (the halt,
            # like a wall-time stop, skips later runs until the timer is reset)
            lines += ["timer timeout off", "run 0 post no"]
    lines += [f"write_restart {FINAL_RESTART}", f"write_data {FINAL_DATA}", ""]
    return "\n".join(lines)
