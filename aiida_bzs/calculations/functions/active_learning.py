"""Calcfunctions of the active-learning loop: explore with a potential, select by γ.

Exploration and selection are nodes, so every generation's candidates, their γ and the
structures chosen for DFT are in the provenance graph. Numerics live in
:mod:`aiida_bzs.structures.explore` and :mod:`aiida_bzs.analysis.ace_selection`.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from ...analysis.ace_selection import select_by_gamma_per_family
from ...analysis.learning_curve import learning_curve_figure, per_family_rmse
from ...analysis.extrapolation import per_atom_gamma
from ...data.ace_potential import AcePotentialData, AcePotentialError
from ...data.training_set import TrainingSetData
from ...structures.explore import explore
from ...structures.rss import random_structures

__all__ = ("EXPLORE_DEFAULTS", "explore_with_potential", "learning_curve", "learning_summary", "select_candidates")

#: Exploration defaults (toy scale); protocols/active_learning.yaml overrides them.
EXPLORE_DEFAULTS = {
    "rss": {"count": 4, "composition": "BaZrS3", "formula_units": [1], "volume_per_atom": [22.0, 34.0]},
    "relax": {"fmax": 0.1, "steps": 20, "relax_cell": True},
    "md": {"seed_count": 1, "seed_max_atoms": None, "temperatures": [1000.0], "steps": 20, "timestep": 1.0,
           "interval": 10},
    "seed": 0,
}


def _merged(parameters: dict) -> dict:
    unknown = sorted(set(parameters) - set(EXPLORE_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown exploration keys {unknown}; allowed {sorted(EXPLORE_DEFAULTS)}")
    out = {}
    for key, default in EXPLORE_DEFAULTS.items():
        value = parameters.get(key, default)
        out[key] = {**default, **value} if isinstance(default, dict) else value
    return out


@calcfunction
def explore_with_potential(potential: AcePotentialData, seeds: TrainingSetData, parameters: orm.Dict,
                           generation: orm.Int) -> dict:
    """Explore with ``potential``: relax random cells (RSS) and run short MD from seed structures.

    ``parameters``: ``rss`` (count, composition, formula_units, volume_per_atom Å³/atom),
    ``relax`` (fmax eV/Å, steps, relax_cell), ``md`` (seed_count structures of ``seeds`` with at
    most seed_max_atoms atoms, temperatures K, steps, timestep fs, interval), ``seed``. The random seed is shifted by
    ``generation`` so generations explore differently but reproducibly.
    Returns ``candidates`` (unlabelled TrainingSetData) and ``max_gamma`` (ArrayData: largest
    per-atom γ of each candidate).
    """
    if not potential.has_active_set:
        raise AcePotentialError(f"potential pk {potential.pk} has no active set: γ cannot be computed")
    p = _merged(parameters.get_dict())
    seed = int(p["seed"]) + 1000 * int(generation.value)
    rss = p["rss"]
    cells = random_structures(int(rss["count"]), rss["composition"], rss["formula_units"], seed=seed,
                              volume_per_atom=tuple(rss["volume_per_atom"])) if rss["count"] else []
    limit = p["md"]["seed_max_atoms"]
    pool = [a for a in seeds.to_atoms() if limit is None or len(a) <= int(limit)]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pool), size=min(int(p["md"]["seed_count"]), len(pool)), replace=False)
    md_seeds = [pool[i] for i in sorted(picks)]
    for atoms in md_seeds:
        atoms.calc = None
    md = {k: v for k, v in p["md"].items() if k not in ("seed_count", "seed_max_atoms")}
    calc = potential.get_calculator(active_set=True)
    candidates = explore(md_seeds, cells, calc, relax=p["relax"], md=md, seed=seed)
    if not candidates:
        raise ValueError("exploration produced no candidate structure (every run failed at once)")
    gamma = np.array([per_atom_gamma(atoms, calc).max() for atoms in candidates])
    for atoms in candidates:
        atoms.info.pop("explore_steps", None)
    array = orm.ArrayData()
    array.set_array("max_gamma", gamma)
    return {"candidates": TrainingSetData.from_atoms(candidates), "max_gamma": array}


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

    ``parities`` are keyed ``gen_<g>`` (parity ArrayData of ``bzs.ace.evaluate_potential`` on
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
