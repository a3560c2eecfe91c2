"""Calcfunctions of MD-based training families: frames → candidates, γ of candidates, merging.

Thin wrappers of :mod:`aiida_bzs.md.sampling`; every candidate keeps its family as
``config_type`` and its trajectory in the graph. Light glue only: slicing frames and joining
arrays of training-sized cells (≤ a few hundred atoms × ≤ 100 frames, well under a second); γ of
the candidates is a job (``bzs.job.grade``, :mod:`aiida_bzs.calculations.jobs`).
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from ...md.sampling import frame_indices, frames_to_candidates
from ...data.training_set import TrainingSetData

__all__ = ("combine_candidates", "sampling_summary", "trajectory_candidates")


@calcfunction
def trajectory_candidates(trajectory: orm.TrajectoryData, parameters: orm.Dict) -> dict:
    """Frames of an MD run as unlabelled candidates: ``config_type`` (the family), ``skip_frames``,
    ``max_frames``, ``min_distance`` (Å; closer frames are dropped). Returns ``candidates`` when
    any frame qualifies, and ``summary`` (frames dumped, kept, dropped for close contacts)."""
    p = parameters.get_dict()
    positions, cells = trajectory.get_positions(), trajectory.get_cells()
    indices = frame_indices(len(positions), int(p.get("skip_frames", 0)), p.get("max_frames"))
    images, kept = frames_to_candidates(trajectory.symbols, positions, cells, indices, p["config_type"],
                                        float(p.get("min_distance", 1.0)))
    steps = np.asarray(trajectory.get_stepids())
    summary = {"config_type": p["config_type"], "n_frames": int(len(positions)), "n_considered": int(len(indices)),
               "n_kept": len(images), "n_close_contacts": int(len(indices) - len(images)),
               "kept_steps": [int(steps[k]) for k in kept]}
    out = {"summary": orm.Dict(summary)}
    if images:
        out["candidates"] = TrainingSetData.from_atoms(images)
    return out


@calcfunction
def combine_candidates(**nodes) -> dict:
    """Concatenate ``candidates_<key>`` (TrainingSetData) with their ``gamma_<key>`` (ArrayData
    ``max_gamma``), in key order, into ``candidates`` and ``max_gamma``."""
    keys = sorted(k[len("candidates_"):] for k in nodes if k.startswith("candidates_"))
    if not keys:
        raise ValueError("no candidates to combine")
    from ...training import dataset as ds

    arrays = ds.concatenate([nodes[f"candidates_{k}"].get_arrays() for k in keys])
    gamma = np.concatenate([nodes[f"gamma_{k}"].get_array("max_gamma") for k in keys])
    out = orm.ArrayData()
    out.set_array("max_gamma", gamma)
    return {"candidates": TrainingSetData.from_arrays(arrays), "max_gamma": out}


@calcfunction
def sampling_summary(runs: orm.List) -> orm.Dict:
    """Table of an MD sampling: per run its family, process pk, exit status and frames kept,
    plus the number of candidates per family."""
    rows = runs.get_list()
    per_family: dict[str, int] = {}
    for row in rows:
        if row.get("family"):
            per_family[row["family"]] = per_family.get(row["family"], 0) + int(row.get("n_kept", 0))
    return orm.Dict({"runs": rows, "candidates_per_family": per_family})
