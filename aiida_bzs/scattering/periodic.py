"""Periodic-cell scattering without finite-box artefacts (an option beyond the study).

debyecalculator scatters a periodic box as a finite brick: a small-angle upturn at low Q, peak
broadening from the box size and a shape-function baseline −4πρ0 r γ0(r) in G(r). Here the cell
is treated as what it models, an infinite periodic system:

1. Partial pair distributions g_ab(r) from the minimum-image pair histogram up to ``rcut`` (at most
   half the smallest cell width, so every pair is counted once: no self-images), via
   :func:`aiida_bzs.analysis.rdf.radial_distribution`.
2. Continuum correction: beyond ``rcut`` the structure is taken as uniform (g = 1), so only
   g_ab − 1 is transformed: S_ab(Q) − 1 = 4πρ0 ∫₀^rcut r² [g_ab(r) − 1] sinc(Qr) W(r) dr, and the
   Faber–Ziman total S(Q) − 1 = Σ_ab c_a c_b f_a f_b (S_ab − 1) / <f>², times the Debye–Waller
   factor exp(−biso Q²/8π²) of debyecalculator. W is the shape function γ0(r) of a sphere of
   diameter rcut (``r_window='sphere'``, default) or 1 (``'none'``: truncation ripples). With γ0
   the result is exactly the mean pattern of spheres of diameter rcut cut out of the periodic
   structure **without** their small-angle (surface) scattering, and S(Q) ≥ 0.
3. I(Q) = N [<f²> + <f>² (S − 1)] for the N atoms of the cell, F = Q (S − 1), and G(r) by the same
   sine transform (Q window, Lorch, qdamp) as the finite mode, from the untapered F(Q), so that
   G(r) equals the true 4πr[ρ(r) − ρ0] seen through the Q window for r < rcut.

Accuracy: G(r) is exact up to ``rcut`` (no shape baseline); S(Q) has a resolution of about
2π/rcut and is not meaningful below it (no small-angle scattering by construction). A cutoff
below :data:`PERIODIC_MIN_RCUT` is flagged (:func:`short_cutoff_warning`): the cell is too small
for a meaningful pattern. Cost: a
neighbour histogram, O(N ρ0 rcut³), independent of the Q grid: far below the O(N²) Debye sum for
large cells (measured figures in docs/scattering.md).
"""

from __future__ import annotations

import time

import numpy as np
from ase import Atoms

from ..analysis.errors import AnalysisInputError, require_periodic_cell
from .formfactors import check_elements, form_factors
from .params import resolve_partials
from .transforms import sine_transform

#: Default cutoff (Å) unless rmax is larger or the cell smaller: G(r) to the default rmax (20 Å)
#: with margin, S(Q) resolution 2π/30 ≈ 0.2 Å⁻¹; the histogram's cost grows as rcut³.
PERIODIC_RCUT = 30.0
#: Below this cutoff (Å) the pattern is flagged as not meaningful. Its S(Q) resolution 2π/rcut
#: (0.31 Å⁻¹ at 20 Å) would exceed the spacing of BaZrS3's neighbouring pseudo-cubic reflection
#: groups in the XRD window (Q ≈ 1.26 √n Å⁻¹: 2.18, 2.52, 2.82, 3.08 …, 0.26–0.34 Å⁻¹ apart),
#: which then merge, and its G(r) would stop short of the 20 Å that the PDF comparison and plot
#: show. The 20-atom cell gives 3.5 Å; the study's 8×8×8 crystal about 28 Å.
PERIODIC_MIN_RCUT = 20.0
#: A cutoff within 2 % of the minimum passes (a 6×4×6 Pnma supercell has 19.96 Å).
MIN_RCUT_TOLERANCE = 0.98
#: Histogram bin (Å) = this / qmax, at most 0.01 Å: sinc at the bin centre is then exact to
#: (qmax·dr)²/24 ≈ 4e-4 relative.
BIN_TIMES_QMAX = 0.1


def half_width(atoms: Atoms) -> float:
    """Half the smallest perpendicular width of the cell, Å: the largest minimum-image distance."""
    cell = np.asarray(atoms.cell[:], dtype=float)
    volume = abs(np.linalg.det(cell))
    areas = [np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    return 0.5 * volume / max(areas)


def periodic_rcut(atoms: Atoms, params: dict) -> float:
    """The cutoff (Å) the periodic mode uses: ``params['rcut']`` if set, else max(30 Å, rmax)
    within :func:`half_width` (validated ``params``, Å)."""
    if params.get("rcut") is not None:
        return float(params["rcut"])
    return min(half_width(atoms), max(PERIODIC_RCUT, params["rmax"]))


def short_cutoff_warning(rcut: float, cell=None, minimum: float = PERIODIC_MIN_RCUT) -> str | None:
    """Why a periodic pattern with cutoff ``rcut`` (Å) is not meaningful, naming the fix, or None
    when ``rcut`` ≥ ``minimum`` (Å). With the ``cell`` (3×3, Å) the message gives the supercell
    repeat whose half width reaches ``minimum``."""
    if rcut >= MIN_RCUT_TOLERANCE * minimum:
        return None
    fix = f"a supercell at least {2 * minimum:g} Å wide in every direction"
    if cell is not None:
        cell = np.asarray(cell, dtype=float)
        volume = abs(np.linalg.det(cell))
        widths = [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
        repeat = [int(np.ceil(MIN_RCUT_TOLERANCE * 2 * minimum / w)) for w in widths]
        fix = f"this cell repeated {'×'.join(map(str, repeat))} (half width ≥ {minimum:g} Å)"
    return (f"periodic-mode cutoff rcut = {rcut:.1f} Å (at most half the smallest cell width) is below {minimum:g} Å: "
            f"S(Q) resolves nothing finer than 2π/rcut = {2 * np.pi / rcut:.2f} Å⁻¹ (neighbouring BaZrS3 "
            f"reflections are ~0.3 Å⁻¹ apart) and G(r) ends at {rcut:.1f} Å; use {fix}, or the finite mode")


def periodic_patterns(atoms: Atoms, params: dict) -> dict:
    """Return q, r, iq, sq, fq, gr, ``partials``, ``direct`` (exact G(r) on the histogram bins)
    and ``meta`` for a periodic cell, in the **conventional** normalisation.

    :param atoms: periodic in all three directions; the cell matters here (unlike the finite mode).
    :param params: validated parameters; uses Q/r grids, biso, qdamp, lorch, radiation, partials,
        ``rcut`` (Å; default max(30 Å, rmax) within the maximum, :func:`half_width`) and ``r_window``.

    ``meta['warnings']`` holds :func:`short_cutoff_warning` when the cell is too small.
    """
    from ..analysis.rdf import radial_distribution

    if len(atoms) == 0:
        raise AnalysisInputError("the structure is empty: no atoms to scatter from")
    volume = require_periodic_cell(atoms, "the periodic scattering mode")
    symbols = atoms.get_chemical_symbols()
    elements = check_elements(symbols, params["radiation"])
    partial_names = resolve_partials(params["partials"], elements)
    limit = half_width(atoms)
    rcut = periodic_rcut(atoms, params)
    if rcut > limit * (1 + 1e-9):
        raise AnalysisInputError(
            f"rcut = {rcut} Å exceeds half the smallest cell width ({limit:.3f} Å): pairs would meet "
            "their own periodic images; lower rcut or use a larger supercell"
        )
    start = time.perf_counter()
    dr = min(0.01, BIN_TIMES_QMAX / params["qmax"])
    rdf = radial_distribution(atoms, r_max=rcut, bin_width=dr, backend="ovito")
    histogram_time = time.perf_counter() - start

    n = len(atoms)
    rho0 = n / volume
    counts = {e: rdf.counts[e] for e in elements}
    conc = {e: counts[e] / n for e in elements}
    q = np.arange(params["qmin"], params["qmax"], params["qstep"])
    r = np.arange(params["rmin"], params["rmax"], params["rstep"])
    ff = dict(zip(elements, form_factors(elements, q, params["radiation"])))
    f_mean = sum(conc[e] * ff[e] for e in elements)
    f2_mean = sum(conc[e] * ff[e] ** 2 for e in elements)
    dw = np.exp(-(q**2) * params["biso"] / (8 * np.pi**2))

    width = rdf.bin_width
    shell = 4.0 / 3.0 * np.pi * ((rdf.r + width / 2) ** 3 - (rdf.r - width / 2) ** 3)
    taper = sphere_window(rdf.r, rcut) if params["r_window"] == "sphere" else np.ones_like(rdf.r)
    names = list(rdf.partials)
    # rows: untapered then tapered h_ab(r) = ρ0 shell (g_ab − 1)
    h = np.array([rho0 * shell * (rdf.partials[k] - 1.0) for k in names])
    sums = _sinc_sums(np.vstack([h, h * taper]), rdf.r, q)
    raw, tapered = sums[: len(names)], sums[len(names) :]

    def weight(name):
        a, b = name.split("-")
        return (1.0 if a == b else 2.0) * conc[a] * conc[b] * ff[a] * ff[b] / f_mean**2

    s_raw = sum(weight(k) * raw[i] for i, k in enumerate(names)) * dw
    s_tap = sum(weight(k) * tapered[i] for i, k in enumerate(names)) * dw
    out = {
        "q": q,
        "r": r,
        "iq": n * (f2_mean + f_mean**2 * s_tap),
        "sq": 1.0 + s_tap,
        "fq": q * s_tap,
        "partials": {},
    }
    untapered_fq = [q * s_raw]
    for name in partial_names:
        i = names.index(name)
        a, b = name.split("-")
        self_term = conc[a] * ff[a] ** 2 + (conc[b] * ff[b] ** 2 if a != b else 0.0)
        part = weight(name) * tapered[i] * dw
        out["partials"][name] = {"iq": n * (self_term + f_mean**2 * part), "sq": part, "fq": q * part}
        untapered_fq.append(q * weight(name) * raw[i] * dw)
    grs = sine_transform(q, np.array(untapered_fq), r, params["qstep"], params["qmax"], params["lorch"], params["qdamp"])
    out["gr"] = grs[0]
    for name, gr in zip(partial_names, grs[1:]):
        out["partials"][name]["gr"] = gr
    # G(r) from the histogram, weights at Q = 0 (X-ray: about Z), no Q window; pair distances
    # broadened by the Gaussian (σ² = biso/4π², Å²) that the Debye–Waller factor implies
    w0 = {k: float(np.atleast_1d(weight(k))[0]) for k in names}
    pair_density = sum(w0[k] * rdf.partials[k] for k in names) * shell
    sigma = np.sqrt(params["biso"]) / (2 * np.pi)
    pair_density = _gaussian_smooth(pair_density, sigma / width)
    gr_direct = rho0 * (pair_density / width) / rdf.r - 4 * np.pi * rho0 * rdf.r
    out["direct"] = {"r": rdf.r, "gr": gr_direct}
    out["meta"] = {
        "mode": "periodic",
        "device": "cpu",
        "device_name": "cpu",
        "n_atoms": n,
        "n_pairs": n * (n - 1) // 2,
        "rcut": rcut,
        "bin_width": width,
        "r_window": params["r_window"],
        "number_density": rho0,
        "histogram_time_s": histogram_time,
        "compute_time_s": time.perf_counter() - start,
        "peak_gpu_memory_bytes": None,
        "cell_ignored": False,
        "warnings": [w for w in [short_cutoff_warning(rcut, atoms.cell[:])] if w],
    }
    return out


def sphere_window(r, diameter: float) -> np.ndarray:
    """Shape function of a sphere of ``diameter`` (Å): γ0 = 1 − 3r/2D + r³/2D³ for r < D, else 0.

    Its 3D Fourier transform is the sphere's ``|form factor|²`` ≥ 0, so a tapered S(Q) stays ≥ 0.
    """
    x = np.clip(np.asarray(r, dtype=float) / diameter, 0.0, 1.0)
    return 1 - 1.5 * x + 0.5 * x**3


def _sinc_sums(h: np.ndarray, r: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Σ_k h[:, k] sin(Q r_k)/(Q r_k) for every Q (rows of h independent), in Q chunks."""
    out = np.empty((h.shape[0], q.size))
    chunk = max(1, 8_000_000 // max(1, r.size))
    for start in range(0, q.size, chunk):
        qs = q[start : start + chunk]
        x = np.outer(r, qs)
        with np.errstate(invalid="ignore", divide="ignore"):
            kernel = np.where(x > 0, np.sin(x) / x, 1.0)
        out[:, start : start + chunk] = h @ kernel
    return out


def _gaussian_smooth(values: np.ndarray, sigma_bins: float) -> np.ndarray:
    """Convolve a histogram with a normalised Gaussian of ``sigma_bins`` bins (no-op below 0.1)."""
    if sigma_bins < 0.1:
        return values
    half = int(np.ceil(5 * sigma_bins))
    offsets = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (offsets / sigma_bins) ** 2)
    return np.convolve(values, kernel / kernel.sum(), mode="same")
