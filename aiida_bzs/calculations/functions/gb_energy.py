"""Grain-boundary formation energies (J/m²) of relaxed bicrystals, their table and the E_GBf-vs-angle plot.

Pure numbers first (:func:`reference_energy`, :func:`formation_energy`, :func:`lowest_translation`:
no AiiDA), then two light calcfunctions of :class:`~aiida_bzs.workflows.grain_boundary.GrainBoundaryWorkChain`:
``bzs.gb.formation_energies`` (relaxed energies → table) and ``bzs.gb.plot`` (table → PNG).

E_GBf = (E_GB − E_ref) / (2A): E_GB the relaxed bicrystal's energy (eV), A the area of one boundary
(Å², the cell's in-plane cross-section), 2 boundaries per periodic cell; 1 eV/Å² = 16.0218 J/m².

E_ref, the reference energy of the cell's atoms (see docs/grain_boundaries.md "Off-stoichiometry"):

- stoichiometric cell (counts in the bulk's ratio, Ba:Zr:S = 1:1:3): E_ref = N_fu × E_bulk(fu),
  E_bulk(fu) the energy per formula unit of the bulk relaxed with the same potential;
- off-stoichiometric cell: chemical potentials μ_i (eV/atom) constrained by the bulk,
  Σ_i ν_i μ_i = E_bulk(fu) (ν = 1, 1, 3). The user gives μ for the species whose excess is not in
  the bulk ratio (e.g. μ_S for a cell that lost S atoms); the bulk fixes the rest:
  E_ref = (N_r/ν_r) E_bulk(fu) + Σ_{i given} (N_i − ν_i N_r/ν_r) μ_i, r a species without a given μ.
  Without the μ it needs, a cell gets no E_GBf (:class:`MissingChemicalPotential` names them).
"""

from __future__ import annotations

import io
import math
from collections import Counter
from functools import reduce

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

#: 1 eV/Å² in J/m² (1.602176634e-19 J / 1e-20 m²).
EV_PER_A2_IN_J_PER_M2 = 16.02176634


class MissingChemicalPotential(ValueError):
    """An off-stoichiometric cell needs chemical potentials that were not given."""

    def __init__(self, message: str, species: list[str]):
        super().__init__(message)
        self.species = species


def formula_unit(counts: dict[str, int]) -> dict[str, int]:
    """The bulk's formula unit: ``{'Ba': 4, 'Zr': 4, 'S': 12}`` → ``{'Ba': 1, 'Zr': 1, 'S': 3}``."""
    divisor = reduce(math.gcd, (int(n) for n in counts.values()))
    return {element: int(n) // divisor for element, n in counts.items()}


def off_stoichiometry(counts: dict[str, int], unit: dict[str, int]) -> dict[str, float]:
    """Excess of each species (atoms) over the nearest stoichiometric cell: N_fu the rounded median
    of N_i/ν_i (40 Ba, 40 Zr, 118 S → S −2; 39 Ba, 40 Zr, 119 S → Ba −1, S −1); 0 everywhere for a
    stoichiometric cell."""
    n_fu = round(float(np.median([counts.get(el, 0) / nu for el, nu in unit.items()])))
    return {el: float(counts.get(el, 0) - nu * n_fu) for el, nu in unit.items()}


def reference_energy(counts: dict[str, int], unit: dict[str, int], e_fu: float,
                     chemical_potentials: dict[str, float] | None = None) -> tuple[float, str]:
    """E_ref (eV) of a cell with ``counts`` atoms per element, and how it was obtained.

    :param unit: the bulk's formula unit (``formula_unit``); ``e_fu`` its energy (eV).
    :param chemical_potentials: μ_i (eV/atom) of some species, used only for an off-stoichiometric
        cell; the bulk fixes the μ of the rest (Σ ν_i μ_i = e_fu).
    :raises MissingChemicalPotential: an off-stoichiometric cell whose excess needs μ not given.
    :raises ValueError: elements not in the bulk, or μ given for every species (the bulk must fix one).
    """
    extra = sorted(set(counts) - set(unit))
    if extra:
        raise ValueError(f"the cell has {extra}, which the bulk ({sorted(unit)}) does not contain")
    ratios = {el: counts.get(el, 0) / nu for el, nu in unit.items()}
    if max(ratios.values()) - min(ratios.values()) < 1e-9:
        n_fu = next(iter(ratios.values()))
        return n_fu * e_fu, f"stoichiometric: {n_fu:g} × E_bulk(fu)"
    mu = {el: float(v) for el, v in (chemical_potentials or {}).items() if el in unit}
    free = [el for el in unit if el not in mu]
    if not free:
        raise ValueError(f"chemical potentials given for every species {sorted(unit)}; leave one out "
                         "(the bulk fixes it: Σ ν_i μ_i = E_bulk(fu))")
    # the species without μ must be in the bulk ratio to one another: they form whole formula units
    reference = free[0]
    n_fu = ratios[reference]
    unbalanced = [el for el in free if abs(ratios[el] - n_fu) > 1e-9]
    if unbalanced:
        excess = off_stoichiometry(counts, unit)
        need = sorted(el for el in unit if abs(excess[el]) > 1e-9)
        raise MissingChemicalPotential(
            f"off-stoichiometric cell (excess {', '.join(f'{el} {excess[el]:+g}' for el in sorted(excess))}): "
            f"E_GBf needs chemical potentials for all but one of {need} (given: {sorted(mu) or 'none'}); "
            "set chemical_potentials (eV/atom, same potential) or choose a stoichiometric cell", unbalanced)
    energy = n_fu * e_fu + sum((counts.get(el, 0) - unit[el] * n_fu) * value for el, value in mu.items())
    terms = ", ".join(f"μ_{el} = {value:.4f} eV" for el, value in sorted(mu.items()))
    return energy, f"off-stoichiometric: {n_fu:g} × E_bulk(fu) + excess × μ ({terms})"


def formation_energy(e_gb: float, e_ref: float, area: float, n_boundaries: int = 2) -> float:
    """E_GBf in J/m² from the bicrystal energy and the reference (eV) and one boundary's area (Å²)."""
    if area <= 0:
        raise ValueError(f"boundary area must be > 0 Å², got {area}")
    return (e_gb - e_ref) / (n_boundaries * area) * EV_PER_A2_IN_J_PER_M2


def boundary_area(cell) -> float:
    """Area (Å²) of the boundary plane of an orthogonal bicrystal whose boundary normal is z: ``|a × b|``."""
    cell = np.asarray(cell, dtype=float)
    return float(np.linalg.norm(np.cross(cell[0], cell[1])))


def lowest_translation(values: dict[int, float | None]) -> int | None:
    """Index of the smallest value, ignoring None (no E_GBf); None when none has one."""
    usable = {k: v for k, v in values.items() if v is not None and np.isfinite(v)}
    return min(usable, key=usable.get) if usable else None


def _counts(structure) -> tuple[dict[str, int], np.ndarray, int]:
    from aiida_bzs.common.structure_nodes import atoms_from_structure

    atoms = atoms_from_structure(structure)
    return dict(Counter(atoms.get_chemical_symbols())), np.asarray(atoms.cell[:]), len(atoms)


def formation_energy_rows(bulk: dict, boundaries: list[dict], energies: dict, structures: dict,
                          bicrystals: dict, gammas: dict, chemical_potentials: dict | None = None,
                          in_plane_tolerance: float = 1e-6) -> list[dict]:
    """Rows of the table (pure: numbers and ASE-readable structures in, dictionaries out).

    ``energies[(b, t)]`` (eV), ``structures[(b, t)]`` the relaxed and ``bicrystals[(b, t)]`` the
    built cell of boundary ``b`` at translation ``t`` (``(counts, cell, n_atoms)`` tuples);
    ``gammas[b]`` ``(max γ, fraction above 2)`` of the chosen cell, or missing.
    """
    rows = []
    unit, e_fu = bulk["formula_unit"], bulk["energy_per_formula_unit"]
    for b, boundary in enumerate(boundaries):
        flags = list(boundary.get("flags", []))
        per_translation = []
        for t, translation in enumerate(boundary["translations"]):
            entry = {"translation": translation, "energy": None, "e_gbf": None, "flags": []}
            if (b, t) in energies:
                counts, cell, n_atoms = structures[(b, t)]
                built_counts, built_cell, built_n = bicrystals[(b, t)]
                area = boundary_area(cell)
                entry.update(energy=energies[(b, t)], n_atoms=n_atoms, area=area,
                             off_stoichiometry=off_stoichiometry(counts, unit))
                if n_atoms != built_n or counts != built_counts:
                    entry["flags"].append(f"atoms changed in the relaxation ({built_n} → {n_atoms})")
                if not np.allclose(cell[:2, :2], built_cell[:2, :2], atol=in_plane_tolerance * np.abs(built_cell).max()):
                    entry["flags"].append("in-plane cell changed in the relaxation")
                try:
                    e_ref, how = reference_energy(counts, unit, e_fu, chemical_potentials)
                    entry.update(e_ref=e_ref, reference=how,
                                 e_gbf=formation_energy(energies[(b, t)], e_ref, area))
                except MissingChemicalPotential as exc:
                    entry["flags"].append(str(exc))
            else:
                entry["flags"].append(boundary.get("skipped", {}).get(str(t), "not relaxed"))
            per_translation.append(entry)
        best = lowest_translation({t: e["e_gbf"] for t, e in enumerate(per_translation)})
        row = {key: boundary.get(key) for key in ("label", "kind", "sigma", "angle", "target_angle", "plane",
                                                   "strain", "exact")}
        row["translations"] = per_translation
        if best is None:
            row.update(e_gbf=None, translation=None, n_atoms=None, area=None)
            flags.append("no translation gave an E_GBf")
        else:
            chosen = per_translation[best]
            row.update(e_gbf=chosen["e_gbf"], translation=chosen["translation"], translation_index=best,
                       n_atoms=chosen["n_atoms"], area=chosen["area"], energy=chosen["energy"],
                       e_ref=chosen["e_ref"], reference=chosen["reference"],
                       off_stoichiometry=chosen["off_stoichiometry"])
            flags.extend(chosen["flags"])
            if chosen["e_gbf"] < 0:
                flags.append("negative E_GBf: the bicrystal is below the bulk (a better bulk phase, or a broken potential)")
        gamma = gammas.get(b)
        row["max_gamma"], row["fraction_gamma_above_2"] = (gamma if gamma is not None else (None, None))
        if gamma is not None and gamma[0] > 2:
            flags.append(f"max γ {gamma[0]:.3g} > 2: the potential extrapolates at this boundary")
        row["flags"] = flags
        rows.append(row)
    return rows


@calcfunction
def formation_energies(bulk_energy: orm.Float, bulk_structure: orm.Data, parameters: orm.Dict, **nodes) -> dict:
    """Table of grain-boundary formation energies (J/m²) from relaxed bicrystals.

    ``bulk_energy`` (eV) of ``bulk_structure`` (the bulk relaxed with the same potential);
    ``parameters``: ``boundaries`` (one dict per boundary: label, kind, sigma, angle, plane, strain,
    exact, translations [[fx, fy], ...], flags, skipped) and ``chemical_potentials`` (eV/atom).
    ``nodes``: ``energy_<b>_<t>`` (Float, eV), ``structure_<b>_<t>`` (relaxed) and
    ``bicrystal_<b>_<t>`` (as built) of boundary b at translation t; ``gamma_<b>`` (ArrayData of
    ``bzs.job.grade``) of the chosen cell. Outputs ``table`` and ``e_gbf_<b>`` (Float, J/m²).
    """
    params = parameters.get_dict()
    counts, _, n_bulk = _counts(bulk_structure)
    unit = formula_unit(counts)
    n_fu = n_bulk / sum(unit.values())
    bulk = {"energy": bulk_energy.value, "n_atoms": n_bulk, "formula_unit": unit,
            "energy_per_formula_unit": bulk_energy.value / n_fu, "energy_per_atom": bulk_energy.value / n_bulk}
    energies, structures, bicrystals, gammas = {}, {}, {}, {}
    for key, node in nodes.items():
        kind, *index = key.rsplit("_", 2) if not key.startswith("gamma_") else key.split("_", 1)
        if kind == "energy":
            energies[(int(index[0]), int(index[1]))] = node.value
        elif kind == "structure":
            structures[(int(index[0]), int(index[1]))] = _counts(node)
        elif kind == "bicrystal":
            bicrystals[(int(index[0]), int(index[1]))] = _counts(node)
        elif kind == "gamma":
            gammas[int(index[0])] = (float(node.get_array("max_gamma").max()),
                                     float(node.get_array("fraction_above_2")[0]))
    mu = params.get("chemical_potentials") or {}
    rows = formation_energy_rows(bulk, params["boundaries"], energies, structures, bicrystals, gammas, mu)
    table = {"bulk": {**bulk, "chemical_potentials": mu}, "rows": rows,
             "units": {"e_gbf": "J/m^2", "energy": "eV", "area": "Angstrom^2", "angle": "degree",
                       "translation": "fractions of the boundary period (x) and the axis period (y)"},
             "definition": "E_GBf = (E_GB - E_ref) / (2 A); E_ref = N_fu E_bulk(fu) for a stoichiometric cell, "
                           "with chemical potentials for the excess otherwise (docs/grain_boundaries.md)"}
    result = {"table": orm.Dict(table)}
    for b, row in enumerate(rows):
        if row["e_gbf"] is not None:
            result[f"e_gbf_{b}"] = orm.Float(row["e_gbf"])
    return result


def table_figure(rows: list[dict]):
    """E_GBf (J/m²) against misorientation angle (°): low-angle series joined, CSL boundaries labelled Σ.

    The layout of the study's Fig. 3a: one panel, angle on x, formation energy on y.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 3.4), layout="constrained")
    ax = fig.add_subplot()
    low = sorted((r["angle"], r["e_gbf"]) for r in rows if r["e_gbf"] is not None and r.get("kind") == "low_angle")
    csl = [r for r in rows if r["e_gbf"] is not None and r.get("kind") != "low_angle"]
    if low:
        ax.plot(*zip(*low), "o-", color="tab:blue", label="low-angle")
    if csl:
        ax.plot([r["angle"] for r in csl], [r["e_gbf"] for r in csl], "s", color="tab:red", label="CSL")
        for r in csl:
            ax.annotate(f"Σ{r['sigma']}", (r["angle"], r["e_gbf"]), textcoords="offset points", xytext=(4, 4),
                        fontsize=8)
    ax.set_xlabel("misorientation angle (°)")
    ax.set_ylabel(r"$E_\mathrm{GBf}$ (J/m$^2$)")
    ax.set_ylim(bottom=0)
    if low or csl:
        ax.legend(frameon=False, fontsize=8)
    else:
        ax.text(0.5, 0.5, "no formation energy", ha="center", transform=ax.transAxes)
    return fig


@calcfunction
def plot_formation_energies(table: orm.Dict) -> orm.SinglefileData:
    """PNG of E_GBf against angle from a ``bzs.gb.formation_energies`` table."""
    from aiida_bzs.analysis.plots import figure_png

    png = figure_png(table_figure(table["rows"]))
    return orm.SinglefileData(io.BytesIO(png), filename="gb_formation_energies.png")
