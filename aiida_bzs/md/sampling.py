"""The study's MD training families as LAMMPS stage lists, and frames picked from their dumps (no AiiDA).

Three of the six training families of the study (campaign.md §1) come from MD with the current
potential: ``nvt_melt`` (liquid snapshots at 3500–4500 K at 1.05–1.20 × the crystal volume),
``melt_quench`` (snapshots along NPT quenches) and ``high_temperature`` (snapshots of crystal and
amorphous cells held hot). Here each family becomes plain stage dictionaries for the ``bzs.lammps``
programme format (ensemble, temperature K, steps, dump_interval in steps, timestep fs), and dumped
frames become candidate structures with their ``config_type``.
Units: temperature K, time ps, rate K/s, timestep fs, distances Å.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms

__all__ = (
    "FAMILIES",
    "FAMILY_DEFAULTS",
    "SamplingInputError",
    "family_runs",
    "frame_indices",
    "frames_to_candidates",
    "normalise_families",
)

#: The MD families, as their ``config_type`` in datasets.
FAMILIES = ("nvt_melt", "melt_quench", "high_temperature")

#: Defaults of each family (a tiny, test-sized run); protocols/active_learning.yaml sets real ones.
#: ``interval`` (ps) between kept frames; ``skip`` (ps) of equilibration before the first kept frame.
FAMILY_DEFAULTS: dict[str, dict] = {
    "nvt_melt": {"temperatures": [3500.0, 4500.0], "volume_scales": [1.05, 1.20], "duration": 1.0,
                 "interval": 0.25, "skip": 0.25, "tdamp": 100.0},
    "melt_quench": {"melt_temperature": 3000.0, "melt_duration": 1.0, "volume_scale": 1.10,
                    "final_temperature": 300.0, "rate": 1.0e15, "interval": 0.5, "tdamp": 100.0,
                    "pdamp": 1000.0},
    "high_temperature": {"temperatures": [1000.0, 2000.0], "duration": 1.0, "interval": 0.25, "skip": 0.25,
                         "cells": ["crystal", "amorphous"], "tdamp": 100.0, "pdamp": 1000.0},
}


class SamplingInputError(ValueError):
    """An MD family specification that cannot be run (unknown family or key, bad number)."""


def normalise_families(spec: Mapping) -> dict[str, dict]:
    """Validate ``{family: settings}`` and fill the defaults; unknown names are refused.

    A family set to ``None``/``False`` is skipped; ``timestep`` (fs) at the top level applies to all.
    """
    if not isinstance(spec, Mapping):
        raise SamplingInputError(f"MD families must be a mapping of family → settings, got {spec!r}")
    unknown = sorted(set(spec) - set(FAMILIES) - {"timestep", "repeat", "max_frames"})
    if unknown:
        raise SamplingInputError(
            f"unknown MD training families {unknown}; known: {list(FAMILIES)} (plus timestep, repeat, max_frames)")
    out: dict[str, dict] = {}
    for family in FAMILIES:
        value = spec.get(family)
        if value in (None, False):
            continue
        if value is True:
            value = {}
        if not isinstance(value, Mapping):
            raise SamplingInputError(f"{family}: settings must be a mapping, got {value!r}")
        bad = sorted(set(value) - set(FAMILY_DEFAULTS[family]))
        if bad:
            raise SamplingInputError(f"{family}: unknown keys {bad}; allowed {sorted(FAMILY_DEFAULTS[family])}")
        merged = {**FAMILY_DEFAULTS[family], **value}
        for key, number in merged.items():
            if key != "cells":
                try:  # YAML 1.1 reads 1.0e16 (no exponent sign) as a string
                    number = [float(x) for x in number] if isinstance(number, list) else float(number)
                except (TypeError, ValueError):
                    raise SamplingInputError(f"{family}: {key} must be numbers, got {number!r}") from None
                merged[key] = number
            numbers = number if isinstance(number, list) else [number]
            if key == "cells":
                if not set(numbers) <= {"crystal", "amorphous"} or not numbers:
                    raise SamplingInputError(f"{family}: cells must be a subset of ['crystal', 'amorphous']")
                continue
            if not numbers or any(not isinstance(x, (int, float)) or not np.isfinite(x) or x < 0 for x in numbers):
                raise SamplingInputError(f"{family}: {key} must be non-negative numbers, got {number!r}")
        if merged.get("interval", 1.0) <= 0:
            raise SamplingInputError(f"{family}: interval must be > 0 ps")
        out[family] = merged
    timestep = float(spec.get("timestep", 1.0))
    if not timestep > 0:
        raise SamplingInputError(f"timestep must be > 0 fs, got {timestep}")
    out["_timestep"] = {"value": timestep}
    return out


def _steps(duration_ps: float, timestep_fs: float) -> int:
    return max(1, int(round(duration_ps * 1000.0 / timestep_fs)))


def family_runs(families: Mapping[str, dict]) -> list[dict]:
    """The LAMMPS runs of normalised ``families``: one dict per run.

    Each run: ``family``, ``name``, ``start`` ('crystal', 'amorphous' or 'melt' — the melt of the
    melt_quench family), ``volume_scale`` (applied to the start cell before MD; 1 = as is),
    ``stage`` (a bzs.lammps stage with steps and dump_interval), ``skip_frames``.
    """
    timestep = families["_timestep"]["value"]
    runs = []
    if "nvt_melt" in families:
        f = families["nvt_melt"]
        for temperature, scale in itertools.product(f["temperatures"], f["volume_scales"]):
            runs.append({
                "family": "nvt_melt", "name": f"nvt_melt_{int(temperature)}K_{int(round(scale * 100))}pcV", "start": "crystal",
                "volume_scale": float(scale),
                "stage": {"name": "nvt_melt", "ensemble": "nvt", "temperature": float(temperature),
                          "steps": _steps(f["duration"], timestep), "timestep": timestep, "tdamp": f["tdamp"],
                          "dump_interval": _steps(f["interval"], timestep)},
                "skip_frames": int(np.ceil(f["skip"] / f["interval"] - 1e-9)),
            })
    if "melt_quench" in families:
        f = families["melt_quench"]
        runs.append({
            "family": None, "name": "melt_quench_melt", "start": "crystal", "volume_scale": float(f["volume_scale"]),
            "stage": {"name": "melt", "ensemble": "nvt", "temperature": float(f["melt_temperature"]),
                      "steps": _steps(f["melt_duration"], timestep), "timestep": timestep, "tdamp": f["tdamp"],
                      "dump_interval": _steps(f["melt_duration"], timestep)},
            "skip_frames": 0,
        })
        quench_ps = abs(f["melt_temperature"] - f["final_temperature"]) / f["rate"] * 1e12
        runs.append({
            "family": "melt_quench", "name": "melt_quench_quench", "start": "melt", "volume_scale": 1.0,
            "stage": {"name": "quench", "ensemble": "npt", "temperature": [float(f["melt_temperature"]),
                                                                            float(f["final_temperature"])],
                      "pressure": 0.0, "barostat": "iso", "steps": _steps(quench_ps, timestep), "timestep": timestep,
                      "tdamp": f["tdamp"], "pdamp": f["pdamp"], "dump_interval": _steps(f["interval"], timestep)},
            "skip_frames": 0,
        })
    if "high_temperature" in families:
        f = families["high_temperature"]
        for cell, temperature in itertools.product(f["cells"], f["temperatures"]):
            runs.append({
                "family": "high_temperature", "name": f"high_temperature_{cell}_{int(temperature)}K", "start": cell,
                "volume_scale": 1.0,
                "stage": {"name": "high_temperature", "ensemble": "npt", "temperature": float(temperature),
                          "pressure": 0.0, "barostat": "iso", "steps": _steps(f["duration"], timestep),
                          "timestep": timestep, "tdamp": f["tdamp"], "pdamp": f["pdamp"],
                          "dump_interval": _steps(f["interval"], timestep)},
                "skip_frames": int(np.ceil(f["skip"] / f["interval"] - 1e-9)),
            })
    return runs


def frame_indices(n_frames: int, skip_frames: int = 0, max_frames: int | None = None) -> np.ndarray:
    """Indices of the frames to keep: after ``skip_frames`` (the first frame, step 0, is the start
    structure and always skipped), evenly spread, at most ``max_frames``."""
    start = max(1, int(skip_frames))
    kept = np.arange(start, n_frames)
    if max_frames is not None and len(kept) > max_frames:
        kept = kept[np.unique(np.linspace(0, len(kept) - 1, int(max_frames)).round().astype(int))]
    return kept


def frames_to_candidates(
    symbols: Sequence[str],
    positions: np.ndarray,
    cells: np.ndarray,
    indices: Sequence[int],
    config_type: str,
    min_distance: float = 1.0,
) -> tuple[list[Atoms], list[int]]:
    """Candidate structures (unlabelled ``Atoms`` with ``config_type``) from dumped frames.

    Frames with any pair closer than ``min_distance`` (Å; the study's failure criterion) are
    dropped: they are the potential's failure, not a structure worth a DFT label.
    :returns: the candidates and the frame indices they came from.
    """
    from ase.neighborlist import neighbor_list

    out, kept = [], []
    for k in indices:
        atoms = Atoms(list(symbols), positions=positions[k], cell=cells[k], pbc=True)
        if len(neighbor_list("i", atoms, float(min_distance))):
            continue
        atoms.info["config_type"] = config_type
        out.append(atoms)
        kept.append(int(k))
    return out, kept
