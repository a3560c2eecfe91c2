"""Total and partial radial distribution functions g(r) of periodic cells.

Normalisation (the usual one for periodic models): for species a and b,

    g_ab(r) = V · n_ab(r) / (N_a · N_b · 4π/3 · (r_hi³ − r_lo³)),

with n_ab(r) the number of (a, b) pairs, counted from each a atom, whose distance falls in
the bin [r_lo, r_hi), V the cell volume (Å³) and N_a, N_b the numbers of atoms. It is
independent of supercell size and tends to 1 at large r. The total g(r) is the same with all
atoms, i.e. g(r) = Σ_ab x_a x_b g_ab(r) over ordered pairs (x the atomic fractions).

Two independent ways to count, which agree to 1e-12 (``tests/analysis/test_rdf.py``):

* ``ovito`` (default): OVITO's ``CoordinationAnalysisModifier``; histograms inside OVITO, no
  pair list in memory: 5.5 s and 0.2 GB for 310k atoms to 10 Å on 2 cores.
* ``matscipy``: one pair list to ``r_max``, histogrammed with numpy: 12 s and 1.5 GB there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from .errors import AnalysisInputError, require_periodic_cell, require_positive

#: Outer radius of the RDF, Å (the study's medium-range window).
RDF_R_MAX = 10.0
#: Bin width, Å: resolves the Zr–S peak (2.5 Å) and its neighbour shells.
RDF_BIN_WIDTH = 0.02
RDF_BACKENDS = ("ovito", "matscipy")


def species_order(symbols) -> list[str]:
    """Elements present, heaviest first (Ba, Zr, S): the order used for pair names."""
    return sorted(set(symbols), key=lambda s: -atomic_numbers[s])


def pair_name(a: str, b: str) -> str:
    """Canonical name of the (a, b) partial, heavier element first, e.g. ``"Zr-S"``."""
    first, second = sorted((a, b), key=lambda s: -atomic_numbers[s])
    return f"{first}-{second}"


@dataclass(frozen=True)
class RadialDistribution:
    """g(r) on bin centres ``r`` (Å): ``total`` and ``partials[pair_name(a, b)]`` (dimensionless).

    ``counts`` holds the number of atoms of each species, needed to weight partials.
    """

    r: np.ndarray
    total: np.ndarray
    partials: dict[str, np.ndarray]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def bin_width(self) -> float:
        """Bin width in Å."""
        return float(self.r[1] - self.r[0]) if len(self.r) > 1 else 2 * float(self.r[0])

    def partial(self, a: str, b: str) -> np.ndarray:
        """g_ab(r) for elements ``a`` and ``b`` in either order."""
        try:
            return self.partials[pair_name(a, b)]
        except KeyError:
            raise AnalysisInputError(
                f"no {a}–{b} partial; the structure holds {sorted(self.counts)}"
            ) from None

    def running_coordination(self, a: str, b: str, volume: float) -> np.ndarray:
        """Mean number of ``b`` atoms within r of an ``a`` atom: 4π ρ_b ∫ g_ab r² dr (``volume`` Å³)."""
        dr = self.bin_width
        shell = 4.0 / 3.0 * np.pi * ((self.r + dr / 2) ** 3 - (self.r - dr / 2) ** 3)
        return np.cumsum(self.partial(a, b) * shell) * self.counts[b] / volume

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for storage: ``r``, ``total`` and ``g_<A>_<B>`` per partial."""
        arrays = {"r": self.r, "total": self.total}
        arrays.update({"g_" + name.replace("-", "_"): g for name, g in self.partials.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays, counts: dict[str, int]) -> RadialDistribution:
        """Rebuild from :meth:`to_arrays` output and the species counts."""
        partials = {
            key[2:].replace("_", "-"): np.asarray(arrays[key]) for key in arrays if key.startswith("g_")
        }
        return cls(np.asarray(arrays["r"]), np.asarray(arrays["total"]), partials, dict(counts))


def radial_distribution(
    atoms: Atoms,
    r_max: float = RDF_R_MAX,
    bin_width: float = RDF_BIN_WIDTH,
    backend: str = "ovito",
) -> RadialDistribution:
    """Return total and all partial g(r) from 0 to ``r_max`` (Å) in bins of ``bin_width`` (Å).

    ``r_max`` may exceed half the cell: all periodic images are counted.
    """
    r_max = require_positive(r_max, "r_max (Å)")
    bin_width = require_positive(bin_width, "bin_width (Å)")
    volume = require_periodic_cell(atoms, "a radial distribution function")
    bins = max(1, int(round(r_max / bin_width)))
    edges = np.linspace(0.0, r_max, bins + 1)
    symbols = np.array(atoms.get_chemical_symbols())
    order = species_order(symbols)
    counts = {s: int((symbols == s).sum()) for s in order}
    if backend == "ovito":
        partials = _ovito_partials(atoms, r_max, bins)
    elif backend == "matscipy":
        partials = _matscipy_partials(atoms, order, edges, volume, counts)
    else:
        raise AnalysisInputError(f"unknown RDF backend {backend!r}; use one of {RDF_BACKENDS}")
    n = len(atoms)
    total = np.zeros(bins)
    for a_index, a in enumerate(order):
        for b in order[a_index:]:
            weight = (1 if a == b else 2) * counts[a] * counts[b] / n**2
            total += weight * partials[pair_name(a, b)]
    return RadialDistribution(0.5 * (edges[1:] + edges[:-1]), total, partials, counts)


def _ovito_partials(atoms: Atoms, r_max: float, bins: int) -> dict[str, np.ndarray]:
    from ovito.modifiers import CoordinationAnalysisModifier
    from ovito.pipeline import Pipeline, StaticSource

    from .neighbours import to_ovito

    pipeline = Pipeline(source=StaticSource(data=to_ovito(atoms)))
    pipeline.modifiers.append(
        CoordinationAnalysisModifier(cutoff=r_max, number_of_bins=bins, partial=True)
    )
    table = pipeline.compute().tables["coordination-rdf"]
    y = np.asarray(table.y[...], dtype=float).reshape(bins, -1)
    names = table.y.component_names or [f"{atoms[0].symbol}-{atoms[0].symbol}"]
    return {pair_name(*name.split("-")): y[:, k].copy() for k, name in enumerate(names)}


def _matscipy_partials(atoms, order, edges, volume, counts) -> dict[str, np.ndarray]:
    from matscipy.neighbours import neighbour_list

    bins = len(edges) - 1
    i, j, d = neighbour_list("ijd", atoms, float(edges[-1]))
    index = {s: k for k, s in enumerate(order)}
    species = np.array([index[s] for s in atoms.get_chemical_symbols()], dtype=np.int64)
    n_species = len(order)
    # one bincount over (pair type, bin): a single pass over the pair list
    slot = (species[i] * n_species + species[j]) * bins + np.minimum(
        (d / (edges[1] - edges[0])).astype(np.int64), bins - 1
    )
    histogram = np.bincount(slot, minlength=n_species * n_species * bins).reshape(
        n_species, n_species, bins
    )
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    partials = {}
    for a_index, a in enumerate(order):
        for b_index in range(a_index, n_species):
            b = order[b_index]
            pairs = histogram[a_index, b_index]
            partials[pair_name(a, b)] = pairs * volume / (counts[a] * counts[b] * shell)
    return partials
