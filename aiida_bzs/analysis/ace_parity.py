"""Parity of a potential against DFT labels: predictions, RMSE and a parity plot (no AiiDA).

The definition of the package's test error (the one the CLI prints and the fit verdict judges):

- energy RMSE: root mean square, over structures, of the error of the per-atom cohesive energy
  (total energy minus the isolated-atom energies, divided by the number of atoms), meV/atom;
- force RMSE: root mean square over every Cartesian force component of every atom, meV/Å.

These are pacemaker's ``rmse_epa`` and ``rmse_f_comp``, computed here on the *saved* potential.
pacemaker's own test metric is computed during the fit, before ``repulsion: auto`` attaches its ZBL
core below the shortest training distances, and only every ``display_step`` iterations; on test
structures with shorter contacts than the training set the two differ by eV/atom.
Units: energies eV/atom in arrays, RMSE in meV/atom; forces eV/Å in arrays, RMSE in meV/Å.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms

__all__ = ("predict_parity", "parity_metrics", "parity_metrics_by_group", "parity_figure")

#: what the RMSE of :func:`parity_metrics` means, for outputs and the CLI
DEFINITION = ("energy: RMSE of the per-atom cohesive energy (meV/atom); forces: RMSE over Cartesian "
              "force components (meV/Å); on held-out structures, evaluated with the saved potential")


def _cohesive_shift(atoms: Atoms, reference_energies: Mapping[str, float] | None) -> float:
    if not reference_energies:
        return 0.0
    return float(sum(reference_energies[s] for s in atoms.get_chemical_symbols()))


def predict_parity(
    images: Sequence[Atoms],
    calculator,
    reference_energies: Mapping[str, float] | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Reference and predicted energies (eV/atom, cohesive) and force components (eV/Å).

    ``images`` carry the DFT labels in their (SinglePoint) calculator; ``calculator`` is the
    potential (e.g. pyace's PyACECalculator). The potential predicts cohesive energies, so the
    reference energies are shifted by the isolated-atom energies (eV) when given.
    Returns arrays ``energy_ref``, ``energy_pred`` (per structure), ``forces_ref``,
    ``forces_pred`` (all components, flattened), ``natoms`` and ``structure_index`` (per component).
    """
    iterator = images
    if progress:
        from tqdm import tqdm

        iterator = tqdm(images, desc="parity", unit="structure")
    e_ref, e_pred, f_ref, f_pred, natoms, owner = [], [], [], [], [], []
    for i, labelled in enumerate(iterator):
        n = len(labelled)
        e_ref.append((labelled.get_potential_energy() - _cohesive_shift(labelled, reference_energies)) / n)
        f_ref.append(np.asarray(labelled.get_forces()).reshape(-1))
        work = labelled.copy()
        work.calc = calculator
        e_pred.append(work.get_potential_energy() / n)
        f_pred.append(np.asarray(work.get_forces()).reshape(-1))
        natoms.append(n)
        owner.append(np.full(3 * n, i))
    return {
        "energy_ref": np.array(e_ref),
        "energy_pred": np.array(e_pred),
        "forces_ref": np.concatenate(f_ref) if f_ref else np.zeros(0),
        "forces_pred": np.concatenate(f_pred) if f_pred else np.zeros(0),
        "natoms": np.array(natoms),
        "structure_index": np.concatenate(owner) if owner else np.zeros(0, dtype=int),
    }


def parity_metrics(parity: Mapping[str, np.ndarray]) -> dict[str, float]:
    """RMSE and MAE of energies (meV/atom) and force components (meV/Å); max errors too."""
    de = (parity["energy_pred"] - parity["energy_ref"]) * 1000.0
    df = (parity["forces_pred"] - parity["forces_ref"]) * 1000.0
    out = {"n_structures": int(len(de)), "n_force_components": int(len(df))}
    if len(de):
        out.update(rmse_energy=float(np.sqrt(np.mean(de**2))), mae_energy=float(np.mean(np.abs(de))),
                   max_error_energy=float(np.max(np.abs(de))))
    if len(df):
        out.update(rmse_forces=float(np.sqrt(np.mean(df**2))), mae_forces=float(np.mean(np.abs(df))),
                   max_error_forces=float(np.max(np.abs(df))))
    return out


def _subset(parity: Mapping[str, np.ndarray], structures: np.ndarray) -> dict[str, np.ndarray]:
    """The parity arrays of the structures whose indices are in ``structures``."""
    keep = np.isin(np.asarray(parity["structure_index"]), structures)
    return {
        "energy_ref": np.asarray(parity["energy_ref"])[structures],
        "energy_pred": np.asarray(parity["energy_pred"])[structures],
        "forces_ref": np.asarray(parity["forces_ref"])[keep],
        "forces_pred": np.asarray(parity["forces_pred"])[keep],
    }


def parity_metrics_by_group(parity: Mapping[str, np.ndarray], groups: Sequence[str]) -> dict[str, dict]:
    """:func:`parity_metrics` per group (e.g. config_type), ``groups[i]`` naming structure ``i``.

    Forces are assigned to their structure through ``parity['structure_index']``.
    """
    groups = np.asarray([str(g) for g in groups])
    if len(groups) != len(parity["energy_ref"]):
        raise ValueError(f"{len(groups)} group labels for {len(parity['energy_ref'])} structures")
    return {name: parity_metrics(_subset(parity, np.flatnonzero(groups == name))) for name in sorted(set(groups))}


def parity_figure(parity: Mapping[str, np.ndarray], title: str = "", groups: Sequence[str] | None = None):
    """Two-panel matplotlib figure (Agg): energy (eV/atom) and force (eV/Å) parity with RMSE.

    With ``groups`` (one label per structure, e.g. config_type) points are coloured by group and
    the legend sits below the panels, outside both axes.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    metrics = parity_metrics(parity)
    fig = Figure(figsize=(9, 4.6), layout="constrained")
    names = sorted(set(str(g) for g in groups)) if groups is not None else []
    for ax, key, unit, rmse_key, rmse_unit in (
        (fig.add_subplot(1, 2, 1), "energy", "eV/atom", "rmse_energy", "meV/atom"),
        (fig.add_subplot(1, 2, 2), "forces", "eV/Å", "rmse_forces", "meV/Å"),
    ):
        ref, pred = parity[f"{key}_ref"], parity[f"{key}_pred"]
        if names:
            labels = np.asarray([str(g) for g in groups])
            owner = labels if key == "energy" else labels[np.asarray(parity["structure_index"], dtype=int)]
            for name in names:
                mask = owner == name
                ax.scatter(ref[mask], pred[mask], s=6, alpha=0.7, label=name if key == "energy" else None)
        else:
            ax.scatter(ref, pred, s=6, alpha=0.6, color="tab:blue" if key == "energy" else "tab:orange")
        if len(ref):
            lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
            pad = 0.05 * (hi - lo or 1.0)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
        ax.set_xlabel(f"DFT {key} ({unit})")
        ax.set_ylabel(f"ACE {key} ({unit})")
        ax.set_title(f"RMSE {metrics.get(rmse_key, float('nan')):.1f} {rmse_unit}")
    if title:
        fig.suptitle(title)
    if names:
        fig.legend(loc="outside lower center", ncols=min(len(names), 6), title="config_type", markerscale=2)
    return fig
