"""ACE-vs-DFT parity of grain-boundary formation energies (J/m²): DFT single points on the structures
the potential relaxed, the same E_GBf definition on both sides.

E_GBf^DFT = (E_GB^DFT − E_ref^DFT) / (2A) with E_ref^DFT from the DFT energy of the *same* bulk cell
the potential relaxed (per formula unit; chemical potentials, when an off-stoichiometric cell needs
them, are DFT values given by the user): :func:`~.gb_energy.reference_energy`. Both energies come
from single points on ACE-relaxed geometries, so the difference to the ACE E_GBf is the error of the
potential on these structures, not a relaxation difference (the study's Fig. 3 parity).

Pure rows first (:func:`parity_rows`, no AiiDA), then two light calcfunctions of
:class:`~aiida_bzs.workflows.grain_boundary_dft.GrainBoundaryDftWorkChain`: ``bzs.gb.dft_parity``
(energies → table) and ``bzs.gb.parity_plot`` (table → PNG).
"""

from __future__ import annotations

import io
import math

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from .gb_energy import (
    MissingChemicalPotential,
    _counts,
    boundary_area,
    formation_energy,
    formula_unit,
    reference_energy,
)


def ace_values(ace_table: dict | None) -> dict[str, dict]:
    """Per label, the ACE row of a ``bzs.gb.formation_energies`` table (``{}`` without a table)."""
    return {row["label"]: row for row in (ace_table or {}).get("rows", []) if row.get("label")}


def parity_rows(bulk: dict, boundaries: dict[str, dict], ace: dict[str, dict],
                chemical_potentials: dict | None = None) -> tuple[list[dict], dict]:
    """Rows of the parity table and its summary (pure).

    :param bulk: ``energy`` (eV, DFT) and ``counts`` (atoms per element) of the bulk cell.
    :param boundaries: per label ``energy`` (eV, DFT), ``counts``, ``cell`` (3×3 Å).
    :param ace: per label the ACE table row (``e_gbf`` J/m², sigma, angle, kind), may be empty.
    :param chemical_potentials: DFT μ (eV/atom) for off-stoichiometric cells.
    :returns: rows (label, sigma, angle, n_atoms, area Å², e_gbf_dft / e_gbf_ace / error J/m², flags)
        and a summary (n, MAE, RMSE, max ``|error|`` in J/m² over rows with both values).
    """
    unit = formula_unit(bulk["counts"])
    n_fu = sum(bulk["counts"].values()) / sum(unit.values())
    e_fu = bulk["energy"] / n_fu
    rows = []
    for label in sorted(boundaries):
        item = boundaries[label]
        ace_row = ace.get(label, {})
        row = {"label": label, "kind": ace_row.get("kind"), "sigma": ace_row.get("sigma"),
               "angle": ace_row.get("angle"), "n_atoms": int(sum(item["counts"].values())),
               "area": boundary_area(item["cell"]), "energy_dft": item["energy"], "e_gbf_dft": None,
               "e_gbf_ace": ace_row.get("e_gbf"), "error": None, "flags": []}
        try:
            e_ref, how = reference_energy(item["counts"], unit, e_fu, chemical_potentials)
            row.update(e_ref_dft=e_ref, reference=how,
                       e_gbf_dft=formation_energy(item["energy"], e_ref, row["area"]))
        except MissingChemicalPotential as exc:
            row["flags"].append(f"no DFT E_GBf: {exc}")
        if row["e_gbf_ace"] is None:
            row["flags"].append("no ACE E_GBf for this label")
        elif row["e_gbf_dft"] is not None:
            row["error"] = row["e_gbf_ace"] - row["e_gbf_dft"]
        if row["e_gbf_dft"] is not None and row["e_gbf_dft"] < 0:
            row["flags"].append("negative DFT E_GBf: the boundary is below the bulk at these settings "
                                "(k points or cutoffs of bulk and boundary differ in quality?)")
        rows.append(row)
    errors = np.array([r["error"] for r in rows if r["error"] is not None], dtype=float)
    summary = {"n": int(errors.size),
               "mae": float(np.abs(errors).mean()) if errors.size else None,
               "rmse": float(math.sqrt((errors ** 2).mean())) if errors.size else None,
               "max_abs_error": float(np.abs(errors).max()) if errors.size else None}
    return rows, summary


def _energy(parameters: orm.Dict) -> float:
    """Total energy (eV) of a pw.x run from aiida-quantumespresso's ``output_parameters``."""
    return float(parameters["energy"])


@calcfunction
def dft_parity(bulk_structure: orm.Data, bulk_parameters: orm.Dict, parameters: orm.Dict, **nodes) -> dict:
    """Parity table of E_GBf (J/m²), ACE vs DFT, from DFT single points.

    ``bulk_parameters``: pw.x ``output_parameters`` of ``bulk_structure``; ``parameters``:
    ``chemical_potentials`` (DFT, eV/atom) and ``ace_table`` (the ``bzs.gb.formation_energies``
    table, or ``{}``); ``nodes``: ``structure_<label>`` and ``parameters_<label>`` (pw.x
    ``output_parameters``) per boundary. Outputs ``table``, ``bulk_energy`` and ``energy_<label>`` (Float,
    eV, DFT) and ``e_gbf_<label>`` (Float, J/m², DFT).
    """
    params = parameters.get_dict()
    counts, _, _ = _counts(bulk_structure)
    bulk = {"energy": _energy(bulk_parameters), "counts": counts}
    boundaries = {}
    for key, node in nodes.items():
        kind, _, label = key.partition("_")
        if kind == "structure":
            counts, cell, _ = _counts(node)
            boundaries.setdefault(label, {}).update(counts=counts, cell=cell)
        elif kind == "parameters":
            boundaries.setdefault(label, {})["energy"] = _energy(node)
    incomplete = sorted(label for label, item in boundaries.items() if {"counts", "energy"} - set(item))
    if incomplete:
        raise ValueError(f"boundaries {incomplete} need both structure_<label> and parameters_<label>")
    mu = params.get("chemical_potentials") or {}
    rows, summary = parity_rows(bulk, boundaries, ace_values(params.get("ace_table")), mu)
    unit = formula_unit(bulk["counts"])
    n_fu = sum(bulk["counts"].values()) / sum(unit.values())
    table = {"bulk": {"energy_dft": bulk["energy"], "n_atoms": int(sum(bulk["counts"].values())),
                      "energy_per_formula_unit_dft": bulk["energy"] / n_fu, "chemical_potentials": mu},
             "rows": rows, "summary": summary,
             "units": {"e_gbf": "J/m^2", "energy": "eV", "area": "Angstrom^2", "angle": "degree"},
             "definition": "E_GBf = (E_GB - E_ref) / (2 A) on both sides; DFT single points on the structures "
                           "relaxed with the potential; error = ACE - DFT"}
    result = {"table": orm.Dict(table), "bulk_energy": orm.Float(bulk["energy"])}
    for row in rows:
        result[f"energy_{row['label']}"] = orm.Float(row["energy_dft"])
        if row["e_gbf_dft"] is not None:
            result[f"e_gbf_{row['label']}"] = orm.Float(row["e_gbf_dft"])
    return result


def parity_figure(rows: list[dict], summary: dict):
    """ACE against DFT E_GBf (J/m²), one point per boundary, the y = x line, MAE in the corner."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.8, 3.6), layout="constrained")
    ax = fig.add_subplot()
    pairs = [(r["e_gbf_dft"], r["e_gbf_ace"], r) for r in rows
             if r["e_gbf_dft"] is not None and r["e_gbf_ace"] is not None]
    if pairs:
        x, y = (np.array(v, dtype=float) for v in zip(*[(p[0], p[1]) for p in pairs]))
        low, high = min(x.min(), y.min(), 0.0), max(x.max(), y.max()) * 1.1 + 1e-3
        ax.plot([low, high], [low, high], "-", color="0.6", lw=0.8)
        ax.plot(x, y, "o", color="tab:blue")
        for dft, ace, row in pairs:
            name = f"Σ{row['sigma']}" if row.get("sigma") and row.get("kind") != "low_angle" else row["label"]
            ax.annotate(name, (dft, ace), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.text(0.04, 0.96, f"MAE {summary['mae']:.3f} J/m²\nn = {summary['n']}", transform=ax.transAxes,
                va="top", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no boundary with both values", ha="center", transform=ax.transAxes)
    ax.set_xlabel(r"DFT $E_\mathrm{GBf}$ (J/m$^2$)")
    ax.set_ylabel(r"ACE $E_\mathrm{GBf}$ (J/m$^2$)")
    return fig


@calcfunction
def parity_plot(table: orm.Dict) -> orm.SinglefileData:
    """PNG of the ACE-vs-DFT E_GBf parity from a ``bzs.gb.dft_parity`` table."""
    from aiida_bzs.analysis.plots import figure_png

    png = figure_png(parity_figure(table["rows"], table["summary"]))
    return orm.SinglefileData(io.BytesIO(png), filename="gb_parity.png")


__all__ = ["ace_values", "dft_parity", "parity_figure", "parity_plot", "parity_rows"]
