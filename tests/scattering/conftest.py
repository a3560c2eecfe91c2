"""Fixtures of the scattering tests: BaZrS3 spheres, a computed-pattern helper, stored outputs."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from aiida_bzs.structures import pnma_crystal
from aiida_bzs.structures.nanoparticle import cut_sphere

SCATTERING_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "scattering"


@lru_cache(maxsize=None)
def _sphere(radius: float):
    return cut_sphere(pnma_crystal(), radius)


@pytest.fixture(scope="session")
def scattering_fixtures() -> Path:
    """tests/fixtures/scattering: stored runner outputs and synthetic 'measured' files."""
    return SCATTERING_FIXTURES


@pytest.fixture(scope="session")
def sphere():
    """Factory: ``sphere(radius_Å)`` → BaZrS3 sphere cut from the Pnma crystal (cached, do not modify)."""
    return _sphere


@pytest.fixture(scope="session")
def patterns():
    """Factory: ``patterns(atoms, **params)`` → debyecalculator curves in the conventional normalisation
    (``normalisation='debyecalculator'`` keeps its own), computed in-process on CPU."""
    from aiida_bzs.analysis.scattering_debye import finite_patterns
    from aiida_bzs.analysis.scattering_params import validate_parameters
    from aiida_bzs.analysis.scattering_transforms import to_conventional

    def compute(atoms, **params):
        full = validate_parameters(params)
        out = finite_patterns(atoms.get_chemical_symbols(), atoms.positions, full)
        if full["normalisation"] == "conventional":
            partials = {k: to_conventional(v, partial=True) for k, v in out["partials"].items()}
            out = to_conventional(out)
            out["partials"] = partials
        return out

    return compute
