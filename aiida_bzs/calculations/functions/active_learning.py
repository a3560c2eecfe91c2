"""Calcfunctions of the active-learning loop: select by γ, subsets, the learning curve and summary.

Light glue over packed arrays; the exploration itself (RSS relaxations, short MD, γ) is a job
(``bzs.job.explore``). Selection is a node, so every generation's candidates, their γ and the
structures chosen for DFT are in the provenance graph. Numerics live in
:mod:`aiida_bzs.training.explore` and :mod:`aiida_bzs.analysis.ace_selection`.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from ...analysis.ace_selection import select_by_gamma_per_family
from ...analysis.learning_curve import learning_curve_figure, per_family_rmse
from ...data.training_set import TrainingSetData

__all__ = ("EXPLORE_DEFAULTS", "learning_curve", "learning_summary", "select_candidates")

#: Exploration defaults (toy scale); protocols/active_learning.yaml overrides them.
EXPLORE_DEFAULTS = {
    "rss": {"count": 4, "composition": "BaZrS3", "formula_units": [1], "volume_per_atom": [22.0, 34.0]},
    "relax": {"fmax": 0.1, "steps": 20, "relax_cell": True},
    "md": {"seed_count": 1, "seed_max_atoms": None, "temperatures": [1000.0], "steps": 20, "timestep": 1.0,
           "interval": 10},
    "seed": 0,
}


@calcfunction
def select_candidates(candidates: TrainingSetData, max_gamma: orm.ArrayData, parameters: orm.Dict) -> dict:
    """Candidates with γ above ``gamma_threshold``, most extrapolative first, at most ``max_selected``
    (and, with ``per_family``, at most that many of each config_type first).

    Returns ``summary`` (Dict: counts, threshold, selected indices and γ) and, when any
    candidate qualifies, ``selected`` (unlabelled TrainingSetData to label with DFT).
    """
    p = parameters.get_dict()
    gamma = max_gamma.get_array("max_gamma")
    threshold = float(p.get("gamma_threshold", 2.0))
    types = candidates.get_arrays()["config_type"].tolist()
    chosen = select_by_gamma_per_family(gamma, types, threshold, p.get("per_family"), p.get("max_selected"),
                                        p.get("gamma_ceiling"))
    summary = {
        "n_candidates": int(len(gamma)),
        "n_above_threshold": int(np.sum(gamma > threshold)),
        "gamma_threshold": threshold,
        "max_gamma": float(np.max(gamma)) if len(gamma) else None,
        "selected_indices": [int(i) for i in chosen],
        "selected_gamma": [float(gamma[i]) for i in chosen],
        "selected_config_types": [str(types[i]) for i in chosen],
        "candidates_per_family": {t: types.count(t) for t in sorted(set(types))},
    }
    out = {"summary": orm.Dict(summary)}
    if len(chosen):
        out["selected"] = candidates.subset(chosen)
    return out


@calcfunction
def candidates_file(candidates: TrainingSetData) -> orm.SinglefileData:
    """Candidates as the gzip-pickled DataFrame (``ase_atoms``, index = position) pace_select reads."""
    import tempfile
    from pathlib import Path

    from ..pace_tools import write_candidates

    images = candidates.to_atoms()
    for atoms in images:
        atoms.calc = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "candidates.pckl.gzip"
        write_candidates(images, path)
        return orm.SinglefileData(path, filename="candidates.pckl.gzip")


@calcfunction
def take_indices(candidates: TrainingSetData, indices: orm.List) -> TrainingSetData:
    """The candidates at ``indices`` (e.g. pace_select's D-optimal choice), in that order."""
    chosen = [int(i) for i in indices.get_list()]
    if not chosen:
        raise ValueError("no index given")
    return candidates.subset(chosen)


@calcfunction
def learning_summary(stop_reason: orm.Str, **nodes) -> orm.Dict:
    """Per-generation table of an active-learning run, from its nodes.

    ``nodes`` keys are ``gen_<g>_training_set`` (size), ``gen_<g>_potential`` (functions),
    ``gen_<g>_test_metrics`` (RMSE on the fixed test set, meV/atom and meV/Å),
    ``gen_<g>_holdout_metrics`` (RMSE on the held-out new labels so far) and ``gen_<g>_selection``
    (candidates explored with generation g-1's potential, γ, number selected).
    """
    table: dict[int, dict] = {}
    for key, node in nodes.items():
        _, g, kind = key.split("_", 2)
        row = table.setdefault(int(g), {"generation": int(g)})
        if kind == "training_set":
            row["n_structures"] = len(node)
        elif kind == "potential":
            row["potential_uuid"] = node.uuid
            row["n_functions"] = int(sum(node.n_functions.values()))
        elif kind == "test_metrics":
            row["test_rmse_energy"] = node.get("rmse_energy")
            row["test_rmse_forces"] = node.get("rmse_forces")
        elif kind == "holdout_metrics":
            row["holdout_rmse_energy"] = node.get("rmse_energy")
            row["holdout_rmse_forces"] = node.get("rmse_forces")
            row["n_holdout"] = node.get("n_structures")
        elif kind == "selection":
            row.update(explored_candidates=node["n_candidates"], explored_max_gamma=node["max_gamma"],
                       n_above_threshold=node["n_above_threshold"], n_selected=len(node["selected_indices"]),
                       candidates_per_family=node.get("candidates_per_family"),
                       selected_config_types=node.get("selected_config_types"))
    rows = [table[g] for g in sorted(table)]
    return orm.Dict({"generations": rows, "n_generations": sum(1 for r in rows if "potential_uuid" in r),
                     "stop_reason": stop_reason.value})


@calcfunction
def learning_curve(test_set: TrainingSetData, **parities: orm.ArrayData) -> dict:
    """Errors of every generation's potential on the one fixed test set, in total and per family.

    ``parities`` are keyed ``gen_<g>`` (parity ArrayData of a ``bzs.job.parity`` job on
    ``test_set``). Returns ``curve`` (ArrayData: generation, rmse_energy meV/atom, rmse_forces
    meV/Å, and ``rmse_energy__<family>``/``rmse_forces__<family>``), ``table`` (Dict rows with
    ``per_family``) and ``plot`` (PNG).
    """
    from .ace import figure_to_singlefile

    types = test_set.get_arrays()["config_type"].tolist()
    generations = sorted(int(key.split("_")[1]) for key in parities)
    rows = []
    for g in generations:
        parity = {name: parities[f"gen_{g}"].get_array(name) for name in parities[f"gen_{g}"].get_arraynames()}
        if len(parity["energy_ref"]) != len(types):
            raise ValueError(f"gen_{g}: parity has {len(parity['energy_ref'])} structures, the test set {len(types)}")
        de = (parity["energy_pred"] - parity["energy_ref"]) * 1000.0
        df = (parity["forces_pred"] - parity["forces_ref"]) * 1000.0
        rows.append({"generation": g, "n_test": len(types),
                     "rmse_energy": float(np.sqrt(np.mean(de**2))), "rmse_forces": float(np.sqrt(np.mean(df**2))),
                     "per_family": per_family_rmse(parity, types)})
    curve = orm.ArrayData()
    curve.set_array("generation", np.array(generations, dtype=int))
    for key in ("rmse_energy", "rmse_forces"):
        curve.set_array(key, np.array([row[key] for row in rows]))
        for family in sorted(set(types)):
            values = [row["per_family"][family][key] for row in rows]
            curve.set_array(f"{key}__{family}", np.array([np.nan if v is None else v for v in values]))
    curve.base.attributes.set("units", {"rmse_energy": "meV/atom", "rmse_forces": "meV/Å"})
    fig = learning_curve_figure(generations, rows, title=f"fixed test set: {len(types)} structures")
    table = {"generations": rows, "test_set_uuid": test_set.uuid,
             "definition": "RMSE of cohesive energy per atom (meV/atom) and of force components (meV/Å) on "
                           "the fixed test set, which no generation trained on"}
    return {"curve": curve, "table": orm.Dict(table), "plot": figure_to_singlefile(fig, "learning_curve.png")}
