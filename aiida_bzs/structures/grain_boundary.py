"""Symmetric tilt grain boundaries of Pnma BaZrS3 about the long axis b (pure: numpy/ASE in and out).

Geometry
--------
The tilt axis is the long Pnma axis **b** (≈ 9.98 Å); the rotation acts in the nearly square
**a–c** plane, a 2-D *rectangular* lattice with vectors (a, 0) and (0, c). A symmetric tilt
boundary is named by a primitive lattice direction [m 0 n] of grain 1 (m, n ≥ 1, coprime) that
lies in the boundary: grain 1 is the crystal rotated by −φ and grain 2 by +φ about b, with
φ = atan(n·c / (m·a)), so that [m 0 n] of grain 1 and its mirror image [m 0 n̄] of grain 2 both
lie along the boundary (lab x). The misorientation is 2φ; because the rectangular lattice has
2mm symmetry, 2φ and 180° − 2φ are the same misorientation, and ``angle_deg`` reports the one in
[0°, 90°]. The boundary plane of grain 1 is (h 0 l) = (n 0 m) up to the mmm signs (it contains
[m 0 n̄]; with the signs, (n̄ 0 m) contains [m 0 n]). Unlike the square lattice, θ and 90° − θ are
*different* boundaries here (a ≠ c, and the atoms tell a from c even when the lengths agree).

Σ
-
Σ is the ratio of the area of the coincidence-site-lattice (CSL) cell to the area of the lattice
cell (a·c) in the tilt plane: the inverse density of sites common to both grains. A 2-D CSL exists
only when (a/c)² is rational, (a/c)² = μ/ν (coprime). Then the lattice direction perpendicular to
[m 0 n] is w = (−nν, mμ)/g with g = gcd(nν, mμ), the CSL is spanned by u = (m, n) and w — centred
when (m − nν/g) and (n + mμ/g) are both even — and

    Σ = (m²μ + n²ν) / g          (÷ 2 when centred).

For μ = ν = 1 this is the square-lattice result (Σ = m² + n², halved when m, n are both odd):
Σ5 36.87°/53.13°, Σ13 22.62°/67.38°, Σ17 28.07°/61.93°, Σ25 16.26°/73.74°, Σ29 43.60°/46.40°.
The values agree with pymatgen's ``GrainBoundaryGenerator.enum_sigma_ort`` (tested).

The real ratio (7.06/7.03)² = 1.00855 is not a small-number rational, so the real crystal has no
exact CSL with small Σ. :func:`csl_tilt_boundaries` then lists **near-coincidence** boundaries:
exact CSLs of a strained lattice a' = a·s, c' = c/s (area of the a–c face, hence density, kept)
with (a'/c')² = μ/ν, for every approximant μ/ν whose strain ``max(|s − 1|, |1/s − 1|)`` is within
``max_strain``. :func:`build_bicrystal` applies that strain, so the built cell *is* the Σ CSL.

The study's Σ25, Σ31, Σ35
-------------------------
Σ31 and Σ35 are not square-lattice values (31 and 35 are not sums of two squares); in a
rectangular lattice they need (a/c)² ≠ 1. For the campaign's a = 7.06, c = 7.03 Å and a strain
bound of 2 % the enumeration finds:

* **Σ25** from μ/ν = 1 (a' = c', strain 0.21 %): 16.26° on (1 0 7) and 73.74° on (3 0 4) — the
  square-lattice Σ25 — plus a near-90° Σ25 (87.71°, (1 0 1), μ/ν = 13/12, strain 1.80 %).
* **Σ31**: 52.20° on (1 0 2) (μ/ν = 25/24, 0.81 %), 69.22° on (3 0 2) (15/14, 1.52 %) and 88.15° on
  (1 0 1) (16/15, 1.41 %).
* **Σ35**: 68.20° on (3 0 2) (33/32, 0.56 %), 44.42° on (5 0 2) (25/24, 0.81 %) and 88.36° on (1 0 1)
  (18/17, 1.22 %).

(Each also with the reciprocal ratio at a larger strain, and on the other symmetric plane.) The (1 0 1)
Σ31 and Σ35 are the same plane — the boundary that swaps a and c (unstrained 2·atan(c/a) = 89.76°) —
strained to different ratios. This is the orthorhombic CSL of King & Singh (rational squared axis
ratios); campaign.md does not say which ratio the study used, so all are listed.

Low-angle boundaries
--------------------
A periodic symmetric tilt boundary needs a lattice direction along the boundary: θ = 2·atan(n·c/(m·a))
with period ``P = |m·a, n·c|``. Small angles need n = 1 and large m, P ≈ 2a/θ: 9.5° needs P ≈ 85 Å,
1.5° P ≈ 540 Å (≥ 400 Å for ±0.5°). :func:`low_angle_boundaries` returns the nearest such rotation
under ``max_length`` and refuses when none is within ``max_deviation_deg``.

Bicrystal
---------
:func:`build_bicrystal`: grain 1 is j lattice layers (spacing d = a'c'/P) of the rotated crystal,
periodic along x with P, cut in the widest gap of the atoms' heights; grain 2 is its mirror image
through the boundary plane (for Pnma the mirror of the crystal normal to c is an a-glide, so grain 2
*is* the crystal rotated by +φ, translated). The two boundaries (z = 0 and z = t) are then mirror
images of each other for any rigid-body translation, hence equivalent. Atoms of grain 2 closer than
``min_distance`` to grain 1 are removed (at both boundaries alike).

Libraries
---------
pymatgen's ``GrainBoundaryGenerator`` (in the venv through the ``tests`` extra) enumerates Σ and
angles for an orthorhombic lattice only when given the integer ratio μ:λ:ν; it does not search the
approximants of a real ratio, report strain, periods or atom counts, and its builder joins grains
along a non-orthogonal c. aimsgb (not installed) works from cubic CSL relations given Σ, axis and
plane. Both fit for the exact-ratio case only, so the short exact 2-D formula above is used, and
pymatgen serves as an independent check in the tests.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np
from ase import Atoms

from .errors import StructureInputError

#: Relative tolerance on (a/c)² below which a ratio counts as exactly rational (an exact CSL).
EXACT_RATIO_TOLERANCE = 1e-6
#: Elements and stoichiometry of BaZrS3 (formula unit).
FORMULA_UNIT = {"Ba": 1, "Zr": 1, "S": 3}

KINDS = ("csl", "near_csl", "low_angle")


@dataclass(frozen=True)
class TiltBoundary:
    """A symmetric tilt boundary about b.

    :ivar sigma: Σ of the (strained) rectangular lattice, see the module docstring.
    :ivar angle_deg: misorientation in [0°, 90°] (of the strained lattice).
    :ivar plane: boundary plane of grain 1 (h, 0, l), signs dropped (mmm).
    :ivar strain: largest axial strain applied to a and c to make the CSL exact (0 when exact).
    :ivar period_along_boundary: CSL period along the boundary (Å, strained lattice).
    :ivar exact: the unstrained lattice already has this CSL.
    :ivar kind: 'csl', 'near_csl' or 'low_angle'.
    :ivar direction: (m, n), the direction [m 0 n] of grain 1 along the boundary.
    :ivar ratio: (μ, ν), (a'/c')² = μ/ν of the strained lattice.
    """

    sigma: int
    angle_deg: float
    plane: tuple[int, int, int]
    strain: float
    period_along_boundary: float
    exact: bool
    kind: str
    direction: tuple[int, int] = (1, 0)
    ratio: tuple[int, int] = (1, 1)

    def as_dict(self) -> dict:
        """JSON-safe dict (tuples as lists); :meth:`from_dict` inverts it."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, record: dict) -> "TiltBoundary":
        """From :meth:`as_dict` or ``dataclasses.asdict`` (lists or tuples); unknown keys ignored."""
        fields = cls.__dataclass_fields__
        values = {k: (tuple(int(x) for x in v) if k in ("plane", "direction", "ratio") else v)
                  for k, v in record.items() if k in fields}
        if values.get("kind") not in KINDS:
            raise StructureInputError(f"boundary kind must be one of {KINDS}, got {values.get('kind')!r}")
        return cls(**values)


# --------------------------------------------------------------------------------------- Σ arithmetic


def strained_lengths(a: float, c: float, ratio: tuple[int, int]) -> tuple[float, float, float]:
    """(a', c', strain): a'·c' = a·c and (a'/c')² = μ/ν; strain = ``max(|a'/a − 1|, |c'/c − 1|)``."""
    mu, nu = ratio
    s = ((mu / nu) / (a / c) ** 2) ** 0.25
    return a * s, c / s, max(abs(s - 1.0), abs(1.0 / s - 1.0))


def sigma_of(m: np.ndarray, n: np.ndarray, mu: int, nu: int) -> np.ndarray:
    """Σ of the symmetric tilt [m 0 n] in the rectangular lattice with (a/c)² = μ/ν (vectorised)."""
    m, n = np.asarray(m, dtype=np.int64), np.asarray(n, dtype=np.int64)
    g = np.gcd(n * nu, m * mu)
    total = (m * m * mu + n * n * nu) // g
    centred = ((m - n * nu // g) % 2 == 0) & ((n + m * mu // g) % 2 == 0)
    return np.where(centred, total // 2, total)


def _half_angle(m, n, a, c):
    return np.arctan2(np.asarray(n) * c, np.asarray(m) * a)


def _fold(two_phi_deg: np.ndarray) -> np.ndarray:
    return np.where(two_phi_deg > 90.0, 180.0 - two_phi_deg, two_phi_deg)


def _plane(m: int, n: int) -> tuple[int, int, int]:
    return (int(n), 0, int(m))


def _ratio_approximants(a: float, c: float, max_sigma: int, max_strain: float) -> list[tuple[int, int, float]]:
    """Coprime (μ, ν) with strain ≤ max_strain and √(μν) ≤ max_sigma (Σ ≥ √(μν) always)."""
    rho = (a / c) ** 2
    exact = Fraction(rho).limit_denominator(max_sigma + 1)
    if abs(float(exact) / rho - 1.0) < EXACT_RATIO_TOLERANCE:
        return [(exact.numerator, exact.denominator, 0.0)]
    lo, hi = rho * (1 - max_strain) ** 4, rho * (1 + max_strain) ** 4
    found = []
    for nu in range(1, int(max_sigma / math.sqrt(lo)) + 2):
        for mu in range(max(1, math.ceil(lo * nu)), math.floor(hi * nu) + 1):
            if math.gcd(mu, nu) != 1 or mu * nu > max_sigma ** 2:
                continue
            strain = strained_lengths(a, c, (mu, nu))[2]
            if strain <= max_strain:
                found.append((mu, nu, strain))
    return found


def _boundaries_for_ratio(a, c, mu, nu, strain, max_sigma, kind, exact) -> list[TiltBoundary]:
    a2, c2, _ = strained_lengths(a, c, (mu, nu)) if strain else (a, c, 0.0)
    limit = 2 * max_sigma  # Σ ≥ m/2 and ≥ n/2 (module docstring: Σ ≥ (m²μ + n²ν)/(2·gcd(m,ν)·gcd(n,μ)))
    m, n = np.meshgrid(np.arange(1, limit + 1), np.arange(1, limit + 1), indexing="ij")
    m, n = m.ravel(), n.ravel()
    keep = np.gcd(m, n) == 1
    m, n = m[keep], n[keep]
    sig = sigma_of(m, n, mu, nu)
    keep = (sig <= max_sigma) & (sig > 1)  # Σ1: a lattice symmetry (the 90° a↔c twin of a square net)
    m, n, sig = m[keep], n[keep], sig[keep]
    angles = _fold(np.degrees(2 * _half_angle(m, n, a2, c2)))
    periods = np.hypot(m * a2, n * c2)
    return [TiltBoundary(int(s), round(float(t), 9), _plane(int(i), int(j)), float(strain), float(p), exact, kind,
                         (int(i), int(j)), (int(mu), int(nu)))
            for s, t, i, j, p in zip(sig, angles, m, n, periods)]


def csl_tilt_boundaries(a: float, c: float, max_sigma: int, max_strain: float = 0.02) -> list[TiltBoundary]:
    """CSL tilt boundaries about b of the rectangular a×c lattice, Σ ≤ ``max_sigma``.

    Σ = area of the CSL cell / area of the lattice cell (a·c) in the tilt plane (module docstring).
    When (a/c)² is rational within :data:`EXACT_RATIO_TOLERANCE` (e.g. a = c) the exact CSLs of that
    lattice are returned (strain 0, ``exact``, kind 'csl'). Otherwise the near-coincidence boundaries:
    the exact CSLs of every strained lattice (a'/c')² = μ/ν with strain ≤ ``max_strain`` (kind
    'near_csl', ``strain`` the one :func:`build_bicrystal` applies). Sorted by Σ, then angle, then
    strain. Each misorientation has two symmetric planes; both are listed.

    :param a, c: the two short Pnma axes (Å).
    """
    if a <= 0 or c <= 0:
        raise StructureInputError(f"a and c must be positive lengths in Å, got {a}, {c}")
    if max_sigma < 1 or max_strain < 0:
        raise StructureInputError(f"max_sigma must be ≥ 1 and max_strain ≥ 0, got {max_sigma}, {max_strain}")
    found = []
    for mu, nu, strain in _ratio_approximants(a, c, int(max_sigma), max_strain):
        exact = strain == 0.0
        found += _boundaries_for_ratio(a, c, mu, nu, strain, int(max_sigma), "csl" if exact else "near_csl", exact)
    return sorted(found, key=lambda b: (b.sigma, b.angle_deg, b.strain, b.plane))


def low_angle_boundaries(angles_deg, a: float, c: float, max_length: float, *,
                         max_deviation_deg: float = 0.5, max_strain: float = 0.02) -> list[TiltBoundary]:
    """The nearest commensurate symmetric tilt rotation to each requested angle (kind 'low_angle').

    θ = 2·atan(n·c'/(m·a')) for coprime (m, n) with period ``|m·a', n·c'|`` ≤ ``max_length`` Å, in the
    least-strained lattice (a'/c')² = μ/ν within ``max_strain`` (for BaZrS3: μ/ν = 1, 0.21 %; an
    exactly rational a/c is used as it is). ``angle_deg`` is the achieved angle.

    :raises StructureInputError: when the nearest rotation under ``max_length`` is more than
        ``max_deviation_deg`` off, naming the period that angle needs.
    """
    approximants = _ratio_approximants(a, c, 1, max_strain) or _ratio_approximants(a, c, 200, max_strain)
    if not approximants:
        raise StructureInputError(f"no rational (a/c)² within strain {max_strain} for a = {a}, c = {c}")
    mu, nu, strain = min(approximants, key=lambda r: (r[2], r[0] + r[1]))
    a2, c2, _ = strained_lengths(a, c, (mu, nu)) if strain else (a, c, 0.0)
    m_max = int(max_length / a2) + 1
    n_max = int(max_length / c2) + 1
    m, n = np.meshgrid(np.arange(1, m_max + 1), np.arange(1, n_max + 1), indexing="ij")
    m, n = m.ravel(), n.ravel()
    periods = np.hypot(m * a2, n * c2)
    keep = (np.gcd(m, n) == 1) & (periods <= max_length)
    m, n, periods = m[keep], n[keep], periods[keep]
    two_phi = np.degrees(2 * _half_angle(m, n, a2, c2))
    out = []
    for target in np.atleast_1d(np.asarray(angles_deg, dtype=float)):
        if not 0 < target <= 90:
            raise StructureInputError(f"tilt angle must be in (0°, 90°], got {target}°")
        # θ itself, or 180° − θ (the same misorientation) — whichever the (m, n) gives
        deviation = np.minimum(np.abs(two_phi - target), np.abs(180.0 - two_phi - target))
        if not len(deviation) or deviation.min() > max_deviation_deg:
            need = c2 / math.tan(math.radians(min(target + max_deviation_deg, 90.0) / 2))
            best = "none" if not len(deviation) else f"{_fold(two_phi[np.argmin(deviation)])[()]:.2f}°"
            raise StructureInputError(
                f"no commensurate {target}° tilt within ±{max_deviation_deg}° with a period ≤ max_length = "
                f"{max_length} Å (nearest: {best}); it needs a period of about {need:.0f} Å")
        order = np.lexsort((periods, deviation))
        i = order[0]
        out.append(TiltBoundary(int(sigma_of(m[i], n[i], mu, nu)), float(_fold(two_phi[i])[()]),
                                _plane(int(m[i]), int(n[i])), float(strain), float(periods[i]), strain == 0.0,
                                "low_angle", (int(m[i]), int(n[i])), (int(mu), int(nu))))
    return out


# ------------------------------------------------------------------------------------------ bicrystal


def _orthorhombic_lengths(crystal: Atoms) -> tuple[float, float, float]:
    cell = np.asarray(crystal.cell[:])
    if not np.allclose(cell - np.diag(np.diag(cell)), 0.0, atol=1e-6) or np.any(np.diag(cell) <= 0):
        raise StructureInputError("the crystal must have an orthorhombic cell along x, y, z (Pnma: a, b, c)")
    return tuple(float(x) for x in np.diag(cell))


def _bezout(m: int, n: int) -> tuple[int, int]:
    """(p, q) with m·q − n·p = 1."""
    def egcd(x, y):
        if y == 0:
            return x, 1, 0
        g, s, t = egcd(y, x % y)
        return g, t, s - (x // y) * t
    g, s, t = egcd(m, n)  # s·m + t·n = 1
    if g != 1:
        raise StructureInputError(f"direction [{m} 0 {n}] is not primitive")
    return -t, s


def composition_report(symbols) -> dict:
    """Counts, per-atom fractions, formula units f = min(N_Ba, N_Zr, ⌊N_S/3⌋) and the excess
    Δ = N − f·(1, 1, 3) (all ≥ 0; zero when stoichiometric BaZrS3)."""
    counts = Counter(symbols)
    total = sum(counts.values())
    f = min(counts.get("Ba", 0), counts.get("Zr", 0), counts.get("S", 0) // 3)
    excess = {el: counts.get(el, 0) - f * k for el, k in FORMULA_UNIT.items()}
    return {"counts": {el: counts.get(el, 0) for el in FORMULA_UNIT},
            "composition": {el: counts.get(el, 0) / total for el in FORMULA_UNIT} if total else {},
            "formula_units": f, "excess": excess, "stoichiometric": all(v == 0 for v in excess.values())}


def build_bicrystal(crystal: Atoms, boundary: TiltBoundary, grain_thickness: float, repeats_along_axis: int = 1,
                    translation: tuple[float, float] = (0.0, 0.0), min_distance: float = 1.5, *,
                    apply_strain: bool = True) -> tuple[Atoms, dict]:
    """Periodic orthogonal bicrystal with two equivalent symmetric tilt boundaries.

    Lab frame: x along the boundary (period P), y the tilt axis b (``repeats_along_axis`` × b),
    z normal; grain 1 (crystal rotated −φ) fills 0 ≤ z < t, grain 2 (its mirror image, = the crystal
    rotated +φ) t < z ≤ 2t; boundaries at z = 0 ≡ 2t and z = t. t = j·d, j = round(grain_thickness/d)
    lattice layers of spacing d = a'c'/P. The crystal (orthorhombic cell a, b, c along x, y, z, e.g. the
    DFT- or ACE-relaxed reference) is strained to the boundary's ratio μ/ν first (a'·c' kept; skipped
    with ``apply_strain=False``: still periodic, angle then 2·atan(n·c/(m·a))).

    :param translation: rigid-body shift of grain 2 (Å) along x (boundary period) and y (tilt axis).
    :param min_distance: grain-2 atoms closer than this to a grain-1 atom are removed (0: none).
    :returns: (atoms with ``arrays['grain']`` ∈ {1, 2}, report dict: n_atoms, area (Å², one boundary),
        cell, angle_deg, strain, sigma, removed (count, by element), composition, formula_units,
        excess (Δ Ba, Zr, S), grain_thickness, layers, …).
    """
    a, b, c = _orthorhombic_lengths(crystal)
    if grain_thickness <= 0:
        raise StructureInputError(f"grain_thickness must be positive (Å), got {grain_thickness}")
    if int(repeats_along_axis) < 1:
        raise StructureInputError(f"repeats_along_axis must be ≥ 1, got {repeats_along_axis}")
    if min_distance < 0:
        raise StructureInputError(f"min_distance must be ≥ 0 Å, got {min_distance}")
    m, n = (int(x) for x in boundary.direction)
    if m < 1 or n < 0:
        raise StructureInputError(f"boundary direction must be [m 0 n] with m ≥ 1, n ≥ 0, got {boundary.direction}")
    reps = int(repeats_along_axis)
    if apply_strain:
        a2, c2, strain = strained_lengths(a, c, boundary.ratio)
    else:
        a2, c2, strain = a, c, 0.0
    base = crystal.copy()
    base.set_cell(np.diag([a2, b, c2]), scale_atoms=True)
    base.wrap()

    period = math.hypot(m * a2, n * c2)
    cos_phi, sin_phi = m * a2 / period, n * c2 / period
    spacing = a2 * c2 / period
    layers = max(1, int(round(grain_thickness / spacing)))
    thickness = layers * spacing
    p, q = _bezout(m, n)
    k = round((p * m * a2 * a2 + q * n * c2 * c2) / period ** 2)  # make v nearly normal to u
    p, q = p - k * m, q - k * n

    # lattice translations α·u + β·v (u along x, v one layer up) of the unit cells that reach the box
    # 0 ≤ x < P (one period), cut ≤ z < cut + t: β layers with a margin of one cell size
    frac = base.get_scaled_positions()
    reach = a2 + c2
    vx = (p * m * a2 * a2 + q * n * c2 * c2) / period  # x-offset of v
    margin = int(math.ceil(reach / spacing)) + 1
    beta = np.arange(-margin, layers + 2 * margin + 1)
    a_lo = np.floor((-reach - beta * vx) / period).astype(int)
    a_hi = np.ceil((period + reach - beta * vx) / period).astype(int)
    count = a_hi - a_lo + 1
    beta = np.repeat(beta, count)
    alpha = np.repeat(a_lo, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    shifts = np.stack([alpha * m + beta * p, alpha * n + beta * q], axis=1)
    fx = (frac[None, :, 0] + shifts[:, None, 0]).ravel()
    fz = (frac[None, :, 2] + shifts[:, None, 1]).ravel()
    fy = np.tile(frac[:, 1], len(shifts))
    symbols = np.tile(np.array(base.get_chemical_symbols()), len(shifts))
    x0, z0 = fx * a2, fz * c2
    x = cos_phi * x0 + sin_phi * z0  # rotation by −φ: [m 0 n] → +x
    z = -sin_phi * x0 + cos_phi * z0
    # cut in the widest gap of the heights (periodic with d)
    h = np.sort(np.mod(z, spacing))
    gaps = np.diff(np.concatenate([h, [h[0] + spacing]]))
    cut = (h[np.argmax(gaps)] + gaps.max() / 2) % spacing
    z = z - cut
    inside = (z >= 0) & (z < thickness)
    # along x: keep one period (the lattice is periodic with P along x)
    x, z, fy, symbols = x[inside], z[inside], fy[inside], symbols[inside]
    x = np.mod(x, period)
    key = np.round(np.stack([x, fy, z], axis=1) * 1e4).astype(np.int64)
    key[:, 0] = np.mod(key[:, 0], int(round(period * 1e4)))
    _, first = np.unique(key, axis=0, return_index=True)
    first = np.sort(first)
    x, z, fy, symbols = x[first], z[first], fy[first], symbols[first]
    expected = len(base) * layers
    if len(x) != expected:
        raise RuntimeError(f"grain has {len(x)} atoms, expected {expected} ({layers} layers of {len(base)})")
    if reps > 1:
        fy = np.concatenate([fy + r for r in range(reps)])
        x, z, symbols = np.tile(x, reps), np.tile(z, reps), np.tile(symbols, reps)
    y = fy * b
    length_y = b * reps

    tx, ty = (float(v) for v in translation)
    grain1 = np.stack([x, y, z], axis=1)
    grain2 = np.stack([np.mod(x + tx, period), np.mod(y + ty, length_y), 2 * thickness - z], axis=1)
    positions = np.concatenate([grain1, grain2])
    all_symbols = np.concatenate([symbols, symbols])
    grain = np.concatenate([np.ones(len(x), int), np.full(len(x), 2, int)])
    atoms = Atoms(symbols=list(all_symbols), positions=positions, cell=np.diag([period, length_y, 2 * thickness]),
                  pbc=True)
    atoms.wrap()
    atoms.arrays["grain"] = grain
    before = len(atoms)

    removed = np.zeros(len(atoms), bool)
    if min_distance > 0:
        from ase.neighborlist import neighbor_list

        i, j, d = neighbor_list("ijd", atoms, min_distance)
        cross = (grain[i] == 1) & (grain[j] == 2)
        i, j, d = i[cross], j[cross], d[cross]
        for k in np.argsort(d, kind="stable"):
            if not removed[i[k]] and not removed[j[k]]:
                removed[j[k]] = True
    removed_symbols = Counter(atoms.get_chemical_symbols()[k] for k in np.flatnonzero(removed))
    atoms = atoms[~removed]
    atoms.info["config_type"] = "grain_boundary"

    report = {
        "kind": boundary.kind, "sigma": int(boundary.sigma), "angle_deg": float(_fold(np.degrees(2 * math.atan2(
            n * c2, m * a2)))), "plane": list(boundary.plane), "direction": [m, 0, n], "ratio": list(boundary.ratio),
        "strain": float(strain), "strained_lattice": [a2, b, c2], "exact": bool(boundary.exact and strain == 0.0),
        "n_atoms": len(atoms), "n_atoms_before_removal": before, "area": float(period * length_y),
        "cell": [float(period), float(length_y), float(2 * thickness)], "period_along_boundary": float(period),
        "grain_thickness": float(thickness), "layers": layers, "layer_spacing": float(spacing),
        "repeats_along_axis": reps, "translation": [tx, ty], "boundary_z": [0.0, float(thickness)],
        "min_distance": float(min_distance),
        "removed": {"count": int(removed.sum()), "by_element": {el: int(removed_symbols.get(el, 0))
                                                               for el in FORMULA_UNIT}},
        **composition_report(atoms.get_chemical_symbols()),
    }
    return atoms, report


__all__ = ["TiltBoundary", "csl_tilt_boundaries", "low_angle_boundaries", "build_bicrystal", "sigma_of",
           "strained_lengths", "composition_report", "EXACT_RATIO_TOLERANCE"]
