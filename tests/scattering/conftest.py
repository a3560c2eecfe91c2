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
    from aiida_bzs.scattering.debye import finite_patterns
    from aiida_bzs.scattering.params import validate_parameters
    from aiida_bzs.scattering.transforms import to_conventional

    def compute(atoms, **params):
        full = validate_parameters(params)
        out = finite_patterns(atoms.get_chemical_symbols(), atoms.positions, full)
        if full["normalisation"] == "conventional":
            partials = {k: to_conventional(v, partial=True) for k, v in out["partials"].items()}
            out = to_conventional(out)
            out["partials"] = partials
        return out

    return compute


@pytest.fixture
def parse_retrieved(aiida_localhost):
    """Factory: ``parse_retrieved({'scattering.json': text})`` runs the parser on those retrieved
    files and returns (outputs dict, calcfunction node carrying the exit status)."""
    import io

    from aiida import orm
    from aiida.common.links import LinkType

    from aiida_bzs.parsers.scattering import ScatteringParser

    def parse(files: dict[str, str]):
        node = orm.CalcJobNode(computer=aiida_localhost, process_type="aiida.calculations:bzs.scattering")
        node.set_option("resources", {"num_machines": 1, "num_mpiprocs_per_machine": 1})
        node.set_option("parser_name", "bzs.scattering")
        node.store()
        retrieved = orm.FolderData()
        for name, text in files.items():
            retrieved.base.repository.put_object_from_filelike(io.BytesIO(text.encode()), name)
        retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label="retrieved")
        retrieved.store()
        return ScatteringParser.parse_from_node(node, store_provenance=False)

    return parse
