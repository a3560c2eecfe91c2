"""What a melt–quench product is: amorphous, recrystallised or a gas, compared with the crystal.

Three looks at the product and the Pnma crystal (campaign.md sections 4–5, the study's cut-offs):

- **density** ρ / ρ_crystal (g/cm³): the study's amorphous phase is about 92.5 % of the crystal;
- **cation coordination** by S: Zr–S within 3.1 Å (crystal: all 6; amorphous: near 6 with a
  spread, mostly 5- and 6-fold) and Ba–S within 3.8 Å (crystal: 8; amorphous: lower and broader);
- **long-range order** of the total g(r): the RMS of g(r) − 1 between 8 and 12 Å, both g(r)
  smoothed by a Gaussian of ``smoothing`` Å (so a 0 K crystal and a thermal one compare), as a
  fraction of the crystal's. An amorphous solid has lost its oscillations there (ratio ≲ 0.2);
  a crystal, even a defective or polycrystalline one, keeps a good part of them.

:func:`classify_product` turns the numbers into one ``classification``:

- ``gas_like``: ρ below ``gas_density_ratio`` × crystal, or Zr with fewer than
  ``gas_zr_cn`` S on average (the atoms have left each other);
- ``collapsed``: ρ above ``collapsed_density_ratio`` × crystal;
- ``recrystallised``: long-range order ratio ≥ ``recrystallised_lro``;
- ``amorphous``: none of these, and density and CN within the study's amorphous range
  (``amorphous_density_ratio``, ``amorphous_zr_cn``, Ba CN not above the crystal's);
- ``amorphous_atypical``: no long-range order, but density or CN outside that range (e.g. Ba
  over-coordinated in a denser phase) — a glass, but not the study's.

Pure numerics (ASE in, dict out). Neighbour lists and g(r) scale linearly with atoms; for cells
above ``LARGE_STRUCTURE_ATOMS`` (``aiida_bzs.common.structure_nodes``, 20k) run it as a job
(``aiida-pythonjob``), not inside the daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np
from ase import Atoms

from .coordination import coordination
from .density import mass_density
from .rdf import radial_distribution

#: Thresholds of :func:`classify_product` (the melt-quench protocols hold the same keys).
DEFAULT_CHECK = {
    "lro_window": [8.0, 12.0],             # Å, where long-range order of g(r) is measured
    "smoothing": 0.15,                     # Å, Gaussian σ applied to both g(r)
    "bin_width": 0.02,                     # Å
    "recrystallised_lro": 0.35,            # × the crystal's g(r) oscillation amplitude
    "gas_density_ratio": 0.5,              # × crystal density
    "gas_zr_cn": 3.0,                      # mean Zr–S CN below this: isolated atoms
    "collapsed_density_ratio": 1.3,        # × crystal density
    "amorphous_density_ratio": [0.85, 1.0],  # the study: 0.925
    "amorphous_zr_cn": [5.0, 6.5],         # mean Zr–S CN (the study: near 6, mostly 5–6)
    "amorphous_ba_cn_max": 8.0,            # mean Ba–S CN not above the crystal's 8
}
CLASSIFICATIONS = ("amorphous", "amorphous_atypical", "recrystallised", "gas_like", "collapsed")


def _smooth(r: np.ndarray, g: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of g(r) with σ in Å (reflecting edges)."""
    dr = float(r[1] - r[0])
    half = int(np.ceil(4 * sigma / dr))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * dr / sigma) ** 2)
    kernel /= kernel.sum()
    return np.convolve(np.pad(g, half, mode="reflect"), kernel, mode="valid")


def lro_amplitude(atoms: Atoms, window=(8.0, 12.0), smoothing: float = 0.15, bin_width: float = 0.02) -> float:
    """RMS of g(r) − 1 over ``window`` (Å) of the total g(r), smoothed by σ = ``smoothing`` Å."""
    lo, hi = map(float, window)
    rdf = radial_distribution(atoms, r_max=hi + 4 * smoothing + bin_width, bin_width=bin_width)
    g = _smooth(rdf.r, rdf.total, smoothing)
    inside = (rdf.r >= lo) & (rdf.r <= hi)
    return float(np.sqrt(np.mean((g[inside] - 1.0) ** 2)))


def _cn_summary(atoms: Atoms, centre: str) -> dict:
    """Mean, spread and histogram {CN: fraction} of ``centre``–S coordination (study cut-offs)."""
    if centre not in atoms.get_chemical_symbols() or "S" not in atoms.get_chemical_symbols():
        return {"mean": None, "std": None, "histogram": {}}
    cn = coordination(atoms, centre, "S").cn
    cn = cn[cn >= 0]
    values, counts = np.unique(cn, return_counts=True)
    return {"mean": float(cn.mean()), "std": float(cn.std()),
            "histogram": {str(int(v)): float(c / len(cn)) for v, c in zip(values, counts)}}


def product_numbers(atoms: Atoms, settings: Mapping | None = None) -> dict:
    """Density (g/cm³), Zr–S and Ba–S CN summaries and the g(r) long-range amplitude of ``atoms``."""
    s = {**DEFAULT_CHECK, **(settings or {})}
    return {
        "n_atoms": len(atoms),
        "density": mass_density(atoms),
        "zr_cn": _cn_summary(atoms, "Zr"),
        "ba_cn": _cn_summary(atoms, "Ba"),
        "lro_amplitude": lro_amplitude(atoms, s["lro_window"], s["smoothing"], s["bin_width"]),
    }


@lru_cache(maxsize=4)
def _crystal_numbers(key: tuple) -> dict:
    from aiida_bzs.structures.crystal import pnma_crystal

    return product_numbers(pnma_crystal(), dict(key))


def crystal_numbers(settings: Mapping | None = None, crystal: Atoms | None = None) -> dict:
    """:func:`product_numbers` of ``crystal`` (default: the experimental Pnma cell, 4.35 g/cm³)."""
    s = {**DEFAULT_CHECK, **(settings or {})}
    if crystal is not None:
        return product_numbers(crystal, s)
    key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(s.items()))
    return _crystal_numbers(key)


def classify_product(product: Mapping, crystal: Mapping, settings: Mapping | None = None) -> dict:
    """Classification of a product from its numbers and the crystal's (both :func:`product_numbers`).

    :returns: ``classification`` (one of :data:`CLASSIFICATIONS`), ``reasons`` (sentences),
        ``density_ratio``, ``lro_ratio``, the product's and the crystal's numbers, the thresholds.
    """
    s = {**DEFAULT_CHECK, **(settings or {})}
    density_ratio = product["density"] / crystal["density"]
    lro_ratio = product["lro_amplitude"] / crystal["lro_amplitude"]
    zr, ba = product["zr_cn"]["mean"], product["ba_cn"]["mean"]
    reasons: list[str] = []
    if density_ratio < s["gas_density_ratio"] or (zr is not None and zr < s["gas_zr_cn"]):
        kind = "gas_like"
        reasons.append(f"density {product['density']:.3g} g/cm³ is {density_ratio:.0%} of the crystal's and Zr has "
                       f"{zr if zr is not None else float('nan'):.1f} S neighbours on average: the atoms have "
                       "left each other")
    elif density_ratio > s["collapsed_density_ratio"]:
        kind = "collapsed"
        reasons.append(f"density {density_ratio:.0%} of the crystal's: the cell collapsed")
    elif lro_ratio >= s["recrystallised_lro"]:
        kind = "recrystallised"
        reasons.append(f"g(r) keeps {lro_ratio:.0%} of the crystal's oscillations at "
                       f"{s['lro_window'][0]:g}–{s['lro_window'][1]:g} Å (≥ {s['recrystallised_lro']:.0%}): "
                       "long-range order, not a glass")
    else:
        lo, hi = s["amorphous_density_ratio"]
        if not lo <= density_ratio <= hi:
            reasons.append(f"density {density_ratio:.1%} of the crystal's, outside the study's amorphous "
                           f"{lo:.0%}–{hi:.0%} (92.5 % in the study)")
        zlo, zhi = s["amorphous_zr_cn"]
        if zr is not None and not zlo <= zr <= zhi:
            reasons.append(f"mean Zr–S CN {zr:.2f} outside {zlo:g}–{zhi:g} (near 6 in the study)")
        if ba is not None and ba > s["amorphous_ba_cn_max"]:
            reasons.append(f"mean Ba–S CN {ba:.2f} above the crystal's {s['amorphous_ba_cn_max']:g}: over-coordinated")
        kind = "amorphous_atypical" if reasons else "amorphous"
        reasons.insert(0, f"no long-range order: g(r) keeps {lro_ratio:.0%} of the crystal's oscillations at "
                          f"{s['lro_window'][0]:g}–{s['lro_window'][1]:g} Å")
    return {
        "classification": kind,
        "reasons": reasons,
        "density_ratio": float(density_ratio),
        "lro_ratio": float(lro_ratio),
        "product": dict(product),
        "crystal": dict(crystal),
        "thresholds": s,
    }


def check_product(atoms: Atoms, settings: Mapping | None = None, crystal: Atoms | None = None) -> dict:
    """:func:`classify_product` of ``atoms`` against the Pnma crystal (or ``crystal``)."""
    return classify_product(product_numbers(atoms, settings), crystal_numbers(settings, crystal), settings)
