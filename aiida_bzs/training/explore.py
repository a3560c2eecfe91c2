"""Exploration with the current potential (active learning): RSS relaxations and short MD.

Pure ASE: any ASE calculator drives the dynamics (in practice pyace's PyACECalculator with the
active set loaded, so every step also yields the extrapolation grade γ). Trajectories that go
unphysical — atoms closer than :data:`MIN_DISTANCE` Å, the study's failure criterion — stop
there; their last sane frame is kept, since those are exactly the configurations the
potential must learn. Units: Å, eV, K, fs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms, units

from ..structures.contacts import shortest_distance
from ..structures.errors import StructureInputError

__all__ = ("MIN_DISTANCE", "relax_candidate", "md_candidates", "explore")

#: Atoms closer than this (Å) mean the simulation failed (campaign.md, section 3).
MIN_DISTANCE = 1.0
#: A relaxation whose cell swells beyond this volume per atom (Å³/atom) has blown apart.
MAX_VOLUME_PER_ATOM = 200.0


def _sane(atoms: Atoms) -> bool:
    return shortest_distance(atoms, MIN_DISTANCE) >= MIN_DISTANCE and np.isfinite(atoms.positions).all()


def relax_candidate(atoms: Atoms, calculator, fmax: float = 0.1, steps: int = 30,
                    relax_cell: bool = True) -> Atoms:
    """Relax ``atoms`` (positions and, with ``relax_cell``, the cell) with ``calculator``.

    :param fmax: force threshold, eV/Å.
    :param steps: maximum optimizer steps.

    Returns the last sane frame, with ``info['explore'] = 'rss_relax'`` and the step count.
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    work = atoms.copy()
    work.calc = calculator
    target = FrechetCellFilter(work) if relax_cell else work
    last = work.copy()
    optimizer = FIRE(target, logfile=None)
    n = 0
    try:
        for n, _ in enumerate(optimizer.irun(fmax=fmax, steps=steps)):
            if not _sane(work) or work.get_volume() / len(work) > MAX_VOLUME_PER_ATOM:
                break
            last = work.copy()
    except (ValueError, RuntimeError, FloatingPointError):  # pyace stops at tiny distances
        pass
    last.calc = None
    last.info.update(atoms.info)
    last.info.update({"explore": "rss_relax", "explore_steps": int(n)})
    return last


def md_candidates(atoms: Atoms, calculator, temperature: float, steps: int = 50, timestep: float = 1.0,
                  interval: int = 10, seed: int = 0) -> list[Atoms]:
    """Snapshots of a short Langevin NVT run at ``temperature`` K (``timestep`` fs).

    One frame every ``interval`` steps; the run stops at the first unphysical frame.
    """
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    if temperature <= 0 or steps < 1 or interval < 1:
        raise StructureInputError(f"MD needs temperature > 0 K, steps >= 1, interval >= 1; got "
                                  f"{temperature}, {steps}, {interval}")
    work = atoms.copy()
    work.calc = calculator
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(work, temperature_K=temperature, rng=rng)
    dyn = Langevin(work, timestep * units.fs, temperature_K=temperature, friction=0.02, rng=rng)
    frames = []
    try:
        for block in range(steps // interval):
            dyn.run(interval)
            if not _sane(work):
                break
            frame = work.copy()
            frame.calc = None
            frame.info.update(atoms.info)
            frame.info.update({"explore": "md", "md_temperature": float(temperature),
                               "md_step": int((block + 1) * interval)})
            frames.append(frame)
    except (ValueError, RuntimeError, FloatingPointError):
        pass
    return frames


def explore(seeds: Sequence[Atoms], random_cells: Sequence[Atoms], calculator, relax: dict | None = None,
            md: dict | None = None, seed: int = 0, progress: bool = False) -> list[Atoms]:
    """Candidates for labelling: relaxed ``random_cells`` plus MD snapshots from ``seeds``.

    :param relax: keyword arguments of :func:`relax_candidate` (``fmax`` eV/Å, ``steps``).
    :param md: ``temperatures`` (K, list), ``steps``, ``timestep`` (fs), ``interval``.

    Every candidate has ``info['config_type']`` ('rss' or 'md') for the training set.
    """
    relax = dict(relax or {})
    md = dict(md or {})
    temperatures = list(md.pop("temperatures", []))
    jobs = [("rss", cell, None) for cell in random_cells]
    jobs += [("md", s, t) for s in seeds for t in temperatures]
    iterator = jobs
    if progress:
        from tqdm import tqdm

        iterator = tqdm(jobs, desc="explore", unit="run")
    out = []
    for k, (kind, atoms, temperature) in enumerate(iterator):
        if kind == "rss":
            cand = relax_candidate(atoms, calculator, **relax)
            cand.info["config_type"] = "rss"
            out.append(cand)
        else:
            for frame in md_candidates(atoms, calculator, temperature, seed=seed + k, **md):
                frame.info["config_type"] = "md"
                out.append(frame)
    return out
