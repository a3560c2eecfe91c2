"""Random hard-sphere boxes: requested density, no pair closer than its minimum, reproducible."""

import pytest

from aiida_bzs.analysis.density import mass_density
from aiida_bzs.structures.contacts import separation_violations
from aiida_bzs.structures.errors import StructureInputError
from aiida_bzs.structures.random_start import HARD_SPHERE_SEPARATION, hard_sphere_box


def test_box_has_density_composition_and_separations():
    atoms = hard_sphere_box(formula_units=64, density=4.2, seed=7)
    assert len(atoms) == 320 and atoms.get_chemical_formula() == "Ba64S192Zr64"
    assert mass_density(atoms) == pytest.approx(4.2, rel=1e-6)
    assert atoms.cell.orthorhombic and atoms.cell.lengths()[0] == pytest.approx(atoms.cell.lengths()[2])
    assert not separation_violations(atoms, HARD_SPHERE_SEPARATION)
    assert atoms.info["config_type"] == "hard_sphere"


def test_same_seed_same_box():
    first, again = hard_sphere_box(formula_units=8, seed=3), hard_sphere_box(formula_units=8, seed=3)
    assert (first.positions == again.positions).all()
    assert not (first.positions == hard_sphere_box(formula_units=8, seed=4).positions).all()


def test_impossible_packing_is_refused():
    with pytest.raises(StructureInputError, match="lower the density"):
        hard_sphere_box(formula_units=32, density=20.0, seed=0)
    with pytest.raises(StructureInputError, match="density must be > 0"):
        hard_sphere_box(formula_units=8, density=-1.0)
