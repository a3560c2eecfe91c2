"""Parameters of one scattering calculation: their defaults, meaning and validation.

The defaults are debyecalculator 1.1's own (the study used them for the PDF), so that a bare
``DebyeCalculator()`` and this package agree unless told otherwise. Protocols
(``workflows/protocols/scattering.yaml``) override them, e.g. a finer ``qstep`` for XRD.

Units: Q in Å⁻¹, r in Å, ``biso`` in Å², ``qdamp`` in Å⁻¹.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ..analysis.errors import AnalysisInputError
from .formfactors import normalise_radiation

#: Defaults of a calculation (debyecalculator 1.1's, with ``qstep=None`` = π/(rmax + rstep)).
DEFAULTS: dict = {
    "qmin": 1.0,  # Å⁻¹
    "qmax": 30.0,  # Å⁻¹
    "qstep": None,  # Å⁻¹; None: π / (rmax + rstep), debyecalculator's Nyquist step
    "qdamp": 0.04,  # Å⁻¹, Gaussian envelope exp(-(r qdamp)²/2) on G(r)
    "rmin": 0.0,  # Å
    "rmax": 20.0,  # Å
    "rstep": 0.01,  # Å
    "biso": 0.3,  # Å², isotropic displacement (Debye–Waller) on the pair terms
    "lorch": False,  # Lorch modification of F(Q) before the sine transform
    "radiation": "xray",  # 'xray' (form factors, electrons) or 'neutron' (lengths, fm)
    "device": "cpu",  # 'cpu' or 'cuda'
    "dtype": "float32",  # 'float32' or 'float64'
    "partials": [],  # element pairs 'A-B', or 'all'
    "normalisation": "conventional",  # 'conventional' (Faber–Ziman) or 'debyecalculator' (half)
    "mode": "finite",  # 'finite' (Debye sum, cell ignored) or 'periodic' (see scattering.periodic)
    "rcut": None,  # Å, periodic mode only; None: max(30 Å, rmax), at most half the smallest cell width
    "r_window": "sphere",  # periodic mode: taper of g(r)-1 before S(Q): 'sphere' or 'none'
    "batch_size": None,  # atom pairs per batch (memory bound); None: debyecalculator's choice
    "num_threads": None,  # CPU threads for the pair sum; None: torch's default
    "max_memory_gb": None,  # GiB for the finite mode's Q-sized work; None: a fraction of free memory (debye.py)
}

CHOICES = {
    "device": ("cpu", "cuda"),
    "dtype": ("float32", "float64"),
    "normalisation": ("conventional", "debyecalculator"),
    "mode": ("finite", "periodic"),
    "r_window": ("sphere", "none"),
}

_PAIR = re.compile(r"^([A-Z][a-z]?)-([A-Z][a-z]?)$")


def _number(params: dict, key: str, minimum: float | None = 0.0, allow_none: bool = False):
    value = params[key]
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        raise AnalysisInputError(f"parameter {key!r} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnalysisInputError(f"parameter {key!r} must be a number, got {value!r}") from None
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        raise AnalysisInputError(f"parameter {key!r} must be a finite number >= {minimum}, got {value!r}")
    return number


def validate_parameters(params: Mapping | None) -> dict:
    """Return the complete parameter set (defaults filled in), or raise naming the bad entry.

    Checks unknown keys, types, reversed or empty Q and r ranges, choices, and partial-pair syntax.
    """
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise AnalysisInputError(f"unknown scattering parameter(s) {unknown}; allowed: {sorted(DEFAULTS)}")
    full = {**DEFAULTS, **params}
    for key in ("qmin", "qmax", "qdamp", "rmin", "rmax", "biso"):
        full[key] = _number(full, key)
    for key in ("qstep", "rstep"):
        full[key] = _number(full, key, allow_none=(key == "qstep"))
        if full[key] is not None and full[key] <= 0:
            raise AnalysisInputError(f"parameter {key!r} must be > 0, got {full[key]}")
    if full["qmin"] >= full["qmax"]:
        raise AnalysisInputError(
            f"Q range reversed or empty: qmin = {full['qmin']} Å⁻¹ must be below qmax = {full['qmax']} Å⁻¹"
        )
    if full["rmin"] >= full["rmax"]:
        raise AnalysisInputError(
            f"r range reversed or empty: rmin = {full['rmin']} Å must be below rmax = {full['rmax']} Å"
        )
    if full["qstep"] is None:
        full["qstep"] = math.pi / (full["rmax"] + full["rstep"])
    if (full["qmax"] - full["qmin"]) / full["qstep"] > 2_000_000:
        raise AnalysisInputError("qstep is so small that the Q grid would exceed 2,000,000 points")
    if (full["rmax"] - full["rmin"]) / full["rstep"] > 2_000_000:
        raise AnalysisInputError("rstep is so small that the r grid would exceed 2,000,000 points")
    if not isinstance(full["lorch"], bool):
        raise AnalysisInputError(f"parameter 'lorch' must be true or false, got {full['lorch']!r}")
    full["radiation"] = normalise_radiation(full["radiation"])
    for key, choices in CHOICES.items():
        if full[key] not in choices:
            raise AnalysisInputError(f"parameter {key!r} must be one of {list(choices)}, got {full[key]!r}")
    full["rcut"] = _number(full, "rcut", allow_none=True)
    if full["rcut"] is not None and full["rcut"] <= 0:
        raise AnalysisInputError(f"parameter 'rcut' must be > 0 Å, got {full['rcut']}")
    for key in ("batch_size", "num_threads"):
        value = full[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise AnalysisInputError(f"parameter {key!r} must be a positive integer or null, got {value!r}")
    value = full["max_memory_gb"]
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise AnalysisInputError(
                f"parameter 'max_memory_gb' must be a positive number of GiB or null (chosen from free memory), got {value!r}"
            )
        full["max_memory_gb"] = float(value)
    full["partials"] = _partials(full["partials"])
    return full


def _partials(value) -> list[str] | str:
    if value in ("all", ["all"]):
        return "all"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise AnalysisInputError(f"parameter 'partials' must be 'all' or a list like ['Zr-S'], got {value!r}")
    pairs = []
    for item in value:
        if not isinstance(item, str) or not _PAIR.match(item.strip()):
            raise AnalysisInputError(f"partial {item!r} must look like 'Zr-S' (two element symbols)")
        pairs.append(item.strip())
    return pairs


def resolve_partials(partials, elements) -> list[str]:
    """Expand 'all' to every element pair (heavier first) and check the pairs exist in the structure."""
    from ase.data import atomic_numbers

    order = sorted(set(elements), key=lambda s: -atomic_numbers.get(s, 0))
    if partials == "all":
        return [f"{a}-{b}" for i, a in enumerate(order) for b in order[i:]]
    names = []
    for pair in partials:
        a, b = pair.split("-")
        missing = sorted({a, b} - set(order))
        if missing:
            raise AnalysisInputError(
                f"partial {pair!r} names element(s) {missing} absent from the structure (it holds {order})"
            )
        first, second = sorted((a, b), key=lambda s: -atomic_numbers.get(s, 0))
        name = f"{first}-{second}"
        if name not in names:
            names.append(name)
    return names


def n_pairs(n_atoms: int) -> int:
    """Number of distinct atom pairs N(N−1)/2: the work of one Debye sum."""
    return n_atoms * (n_atoms - 1) // 2
