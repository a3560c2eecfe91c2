"""Atomic form factors f(Q) and neutron lengths b, read from debyecalculator's own table.

Using debyecalculator's table (Waasmaier & Kirfel 1995 X-ray coefficients; coherent neutron
lengths in fm) keeps the periodic mode and the checks here consistent with its finite-particle
results. The table is located without importing debyecalculator (that pulls in torch).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from ..analysis.errors import AnalysisInputError

RADIATIONS = ("xray", "neutron")


def _table_path() -> Path:
    spec = importlib.util.find_spec("debyecalculator")
    if spec is None or not spec.submodule_search_locations:
        raise AnalysisInputError("debyecalculator is not installed; it provides the form-factor table")
    return Path(list(spec.submodule_search_locations)[0]) / "utility" / "elements_info.yaml"


@lru_cache(maxsize=1)
def form_factor_table() -> dict[str, tuple]:
    """Element → (a1..a5, c, b1..b5, b_coh in fm, Z, radius) as in debyecalculator 1.1."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 0.3 s → 0.03 s per runner start
    with open(_table_path(), encoding="utf-8") as handle:
        raw = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    return {str(key): tuple(value) for key, value in raw.items()}


def normalise_radiation(radiation: str) -> str:
    """'xray'/'x' → 'xray', 'neutron'/'n' → 'neutron'; anything else raises."""
    value = str(radiation).strip().lower()
    if value in ("xray", "x", "x-ray"):
        return "xray"
    if value in ("neutron", "n"):
        return "neutron"
    raise AnalysisInputError(f"unknown radiation {radiation!r}; use 'xray' or 'neutron'")


def check_elements(symbols: Iterable[str], radiation: str = "xray") -> list[str]:
    """Return the sorted distinct elements, or raise naming those without a form factor / length."""
    radiation = normalise_radiation(radiation)
    table = form_factor_table()
    elements = sorted(set(symbols))
    if not elements:
        raise AnalysisInputError("the structure is empty: no atoms to scatter from")
    unknown = [e for e in elements if e not in table]
    if radiation == "neutron":
        unknown += [e for e in elements if e in table and not table[e][11]]
    if unknown:
        what = "X-ray form factor" if radiation == "xray" else "coherent neutron scattering length"
        raise AnalysisInputError(
            f"no {what} for element(s) {sorted(set(unknown))} in debyecalculator's table; "
            "use element symbols such as 'Ba', 'Zr', 'S'"
        )
    return elements


def form_factors(elements: Iterable[str], q, radiation: str = "xray") -> np.ndarray:
    """Return f_e(Q) for each element (rows) on ``q`` (Å⁻¹): electrons (X-ray) or fm (neutron)."""
    radiation = normalise_radiation(radiation)
    elements = list(elements)
    check_elements(elements, radiation)
    q = np.asarray(q, dtype=float)
    table = form_factor_table()
    rows = []
    for element in elements:
        p = np.array([np.nan if v is None else v for v in table[element]], dtype=float)
        if radiation == "neutron":
            rows.append(np.full_like(q, p[11]))
        else:
            k2 = (q / (4 * np.pi)) ** 2
            rows.append(p[5] + np.sum(p[:5, None] * np.exp(-p[6:11, None] * k2[None, :]), axis=0))
    return np.array(rows)
