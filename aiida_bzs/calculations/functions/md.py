"""Calcfunctions of the MD workflows: random start, γ on frames, stage history and its plot, densities.

Each wraps pure code of :mod:`aiida_bzs.structures` or :mod:`aiida_bzs.analysis`, so every number a
melt–quench reports is a node with its inputs in the graph.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction


from aiida_bzs.analysis import md_history
from aiida_bzs.analysis.density import mass_density
from aiida_bzs.md.programme import build_programme
from aiida_bzs.common.structure_nodes import atoms_from_structure, summarise_structure
from aiida_bzs.data.large_structure import LargeStructureData
from aiida_bzs.structures.random_start import hard_sphere_box

from .structures import to_structure


def _arrays(node: orm.ArrayData) -> dict[str, np.ndarray]:
    return {name: node.get_array(name) for name in node.get_arraynames()}


@calcfunction
def stage_programme(stages: orm.List, timestep: orm.Float) -> orm.List:
    """Protocol stages (durations in ps, quench rates in K/s) → validated stages with step counts.

    ``timestep`` in fs; see :func:`aiida_bzs.md.programme.build_programme`.
    """
    return orm.List(build_programme(stages.get_list(), timestep.value))


@calcfunction
def hard_sphere_start(parameters: orm.Dict) -> orm.StructureData:
    """Random hard-sphere box (cubic, Å) of ``composition`` × ``formula_units`` at ``density`` g/cm³.

    Optional ``min_separation`` as ``{'Ba-S': 2.1, ...}`` (Å) and ``seed``.
    """
    params = dict(parameters.get_dict())
    if "min_separation" in params:
        params["min_separation"] = {tuple(k.split("-")): v for k, v in params["min_separation"].items()}
    return to_structure(hard_sphere_box(**params))


@calcfunction
def structure_density(structure: orm.StructureData | LargeStructureData) -> orm.Float:
    """Mass density of a periodic structure in g/cm³."""
    return orm.Float(mass_density(atoms_from_structure(structure)))


@calcfunction
def stage_history(programme: orm.List, **thermo: orm.ArrayData) -> dict:
    """History of a stage programme (``thermo`` keyed ``stage_<index>``) and its PNG figure.

    ``history`` arrays: time (ps), stage, step, temperature and target_temperature (K),
    pressure (bar), potential_energy (eV), volume (Å³), density (g/cm³).
    """
    from aiida_bzs.analysis.plots import figure_png

    stages = programme.get_list()
    tables = [(_arrays(thermo[f"stage_{k}"]) if f"stage_{k}" in thermo else None) for k in range(len(stages))]
    history = md_history.combine_stages(stages, tables)
    node = orm.ArrayData()
    for name in md_history.HISTORY_FIELDS:
        node.set_array(name, history[name])
    node.base.attributes.set("stage_names", [s["name"] for s in stages])
    png = figure_png(md_history.history_figure(history, [s["name"] for s in stages]))
    import io

    plot = orm.SinglefileData(io.BytesIO(png), filename="md_history.png")
    return {"history": node, "plot": plot}


@calcfunction
def merge_segments(**segments) -> dict:
    """Join the thermo (``thermo_<k>``) and trajectories (``trajectory_<k>``) of a restarted stage."""
    order = sorted({int(key.rsplit("_", 1)[1]) for key in segments})
    result = {}
    thermo = md_history.concatenate_thermo([_arrays(segments[f"thermo_{k}"]) for k in order if f"thermo_{k}" in segments])
    if thermo:
        node = orm.ArrayData()
        for name, values in thermo.items():
            node.set_array(name, values)
        result["thermo"] = node
    trajectories = [segments[f"trajectory_{k}"] for k in order if f"trajectory_{k}" in segments]
    if trajectories:
        steps = np.concatenate([t.get_stepids() for t in trajectories])
        _, first = np.unique(steps, return_index=True)
        keep = np.sort(first)
        positions = np.concatenate([t.get_positions() for t in trajectories])[keep]
        cells = np.concatenate([t.get_cells() for t in trajectories])[keep]
        times = [t.get_times() for t in trajectories]
        merged = orm.TrajectoryData()
        merged.set_trajectory(
            symbols=trajectories[0].symbols, positions=positions, stepids=steps[keep], cells=cells,
            times=np.concatenate(times)[keep] if all(x is not None for x in times) else None,
            pbc=[True, True, True],
        )
        result["trajectory"] = merged
    return result


@calcfunction
def relax_summary(results: orm.Dict, **structures: orm.StructureData | LargeStructureData) -> dict:
    """Energy (eV) and summary of a relaxation from its last minimisation's results.

    ``structures`` keyed ``structure_<k>`` (k = 0 the input) give the volume (Å³) after each cycle.
    """
    data = results.get_dict()
    minimisation = data.get("minimisation", {})
    order = sorted(structures, key=lambda key: int(key.rsplit("_", 1)[1]))
    summary = {
        "volumes": [summarise_structure(structures[key]).volume for key in order],
        "energy": data["potential_energy"],
        "pressure": data.get("pressure"),
        "force_norm": minimisation.get("force_norm_final"),
        "force_max": minimisation.get("force_max_final"),
        "criterion": minimisation.get("criterion"),
        "min_distance": (data.get("failure") or {}).get("min_distance"),
    }
    return {"energy": orm.Float(data["potential_energy"]), "results": orm.Dict(summary)}


@calcfunction
def product_check(structure: orm.StructureData | LargeStructureData, parameters: orm.Dict,
                  crystal: orm.StructureData | LargeStructureData | None = None,
                  ace_crystal: orm.StructureData | LargeStructureData | None = None) -> orm.Dict:
    """Is a melt–quench product amorphous, recrystallised or gas-like? (vs the crystal).

    Light glue around :func:`aiida_bzs.analysis.product_check.check_product` (density g/cm³,
    Zr–S/Ba–S CN, g(r) long-range order); ``parameters`` are its thresholds. ``crystal``: the
    reference compared with (e.g. the PBEsol-relaxed one; default the experimental Pnma cell);
    ``ace_crystal``: the reference relaxed with the product's own potential, for the
    same-potential density ratio ``density_ratio_ace``. Meant for test- and study-sized cells;
    above ``LARGE_STRUCTURE_ATOMS`` atoms the work chain skips it (a job's work).
    """
    from aiida_bzs.analysis.density import mass_density
    from aiida_bzs.analysis.product_check import check_product

    reference = atoms_from_structure(crystal) if crystal is not None else None
    result = check_product(atoms_from_structure(structure), parameters.get_dict(), crystal=reference)
    result["reference"] = f"{type(crystal).__name__} {crystal.uuid}" if crystal is not None else "experimental Pnma cell"
    if ace_crystal is not None:
        density = mass_density(atoms_from_structure(ace_crystal))
        result["ace_crystal_density"] = float(density)
        result["density_ratio_ace"] = float(result["product"]["density"] / density)
    return orm.Dict(result)
