"""Leak-free active learning: overlap of train and test sets, per-family errors, learning curves (no AiiDA).

A test set fixed at generation 0 and never trained on makes each generation's errors comparable;
these helpers check that it stays disjoint from the training data and tabulate errors per
generation and per ``config_type`` (training family).
Units: energy RMSE meV/atom (cohesive energy per atom), force RMSE meV/Å (per Cartesian component).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ("structure_fingerprints", "overlap", "per_family_rmse", "learning_curve_figure")

#: Positions and cell lengths are rounded to this many decimals (Å) before hashing: labels
#: written and read back through text files stay equal, distinct MD frames stay distinct.
FINGERPRINT_DECIMALS = 4


def structure_fingerprints(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """One hash per structure of a packed training set (numbers, positions, cell)."""
    out = []
    offsets = np.concatenate([[0], np.cumsum(arrays["natoms"])])
    for k in range(len(arrays["natoms"])):
        block = slice(offsets[k], offsets[k + 1])
        digest = hashlib.sha1()
        digest.update(np.asarray(arrays["numbers"][block], dtype=np.int64).tobytes())
        digest.update(np.round(np.asarray(arrays["positions"][block], dtype=float), FINGERPRINT_DECIMALS).tobytes())
        digest.update(np.round(np.asarray(arrays["cells"][k], dtype=float), FINGERPRINT_DECIMALS).tobytes())
        out.append(digest.hexdigest())
    return out


def overlap(train: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray]) -> list[int]:
    """Indices of test structures that also occur in the training set (should be empty)."""
    seen = set(structure_fingerprints(train))
    return [k for k, fp in enumerate(structure_fingerprints(test)) if fp in seen]


def per_family_rmse(parity: Mapping[str, np.ndarray], config_types: Sequence[str]) -> dict[str, dict]:
    """Energy (meV/atom) and force (meV/Å) RMSE per config_type from a parity table.

    ``parity``: ``energy_ref``/``energy_pred`` per structure (eV/atom), ``forces_ref``/``forces_pred``
    per component (eV/Å) with ``structure_index``; ``config_types``: one per structure.
    """
    types = np.asarray(config_types)
    de = (np.asarray(parity["energy_pred"]) - np.asarray(parity["energy_ref"])) * 1000.0
    df = (np.asarray(parity["forces_pred"]) - np.asarray(parity["forces_ref"])) * 1000.0
    owner = np.asarray(parity["structure_index"], dtype=int)
    out = {}
    for family in sorted(set(types.tolist())):
        mask = types == family
        fmask = mask[owner] if len(owner) else np.zeros(0, dtype=bool)
        out[str(family)] = {
            "n_structures": int(mask.sum()),
            "rmse_energy": float(np.sqrt(np.mean(de[mask] ** 2))) if mask.any() else None,
            "rmse_forces": float(np.sqrt(np.mean(df[fmask] ** 2))) if fmask.any() else None,
        }
    return out


def learning_curve_figure(generations: Sequence[int], rows: Sequence[Mapping], title: str = ""):
    """Two panels (Agg): test energy and force RMSE per generation, total and per family (log y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    families = sorted({f for row in rows for f in (row.get("per_family") or {})})
    for ax, key, unit in ((axes[0], "rmse_energy", "meV/atom"), (axes[1], "rmse_forces", "meV/Å")):
        ax.plot(generations, [row.get(key) for row in rows], "k-o", label="all test structures")
        for family in families:
            values = [(row.get("per_family") or {}).get(family, {}).get(key) for row in rows]
            ax.plot(generations, [np.nan if v is None else v for v in values], "--.", label=family)
        ax.set_xlabel("generation")
        ax.set_ylabel(f"test RMSE ({unit})")
        ax.set_yscale("log")
        ax.set_xticks(list(generations))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
