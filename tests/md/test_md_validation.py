"""Bad input is refused before anything is submitted, with a message that names the fix."""

import pytest
from aiida import orm
from aiida.engine import run

from aiida_bzs.workflows.melt_quench import MeltQuenchWorkChain
from aiida_bzs.workflows.relax import RelaxWorkChain


@pytest.fixture
def any_code(aiida_localhost):
    """A code that never runs: validation must stop every case below first."""
    return orm.InstalledCode(label="never-run", computer=aiida_localhost, filepath_executable="/bin/false",
                             default_calc_job_plugin="bzs.lammps").store()


def _melt_quench(code, potential, structure, **overrides):
    return MeltQuenchWorkChain.get_builder_from_protocol(code, potential, structure, protocol="demo",
                                                         overrides=overrides)


@pytest.mark.parametrize("overrides, message", [
    ({"stages": []}, "stage list is empty"),
    ({"stages": [{"ensemble": "npt", "temperature": [2500, 300], "rate": 1e20}]}, "zero steps"),
    ({"stages": [{"ensemble": "npt", "temperature": [-100, 300], "duration": 1.0}]}, "must be > 0 K"),
    ({"timestep": 0.0}, "timestep must be > 0"),
])
def test_bad_programme(any_code, tiny_potential, supercell, overrides, message):
    with pytest.raises(ValueError, match=message):
        run(_melt_quench(any_code, tiny_potential, supercell((1, 1, 1)), **overrides))


def test_potential_must_cover_the_structure(any_code, tiny_potential):
    from ase.build import bulk

    structure = orm.StructureData(ase=bulk("Ti", "hcp", a=2.95, c=4.68))
    with pytest.raises(ValueError, match=r"no parameters for \['Ti'\]"):
        run(_melt_quench(any_code, tiny_potential, structure))
    with pytest.raises(ValueError, match=r"no parameters for \['Ti'\]"):
        run(RelaxWorkChain.get_builder_from_protocol(any_code, structure, tiny_potential))


def test_bad_relax_type(any_code, tiny_potential, supercell):
    with pytest.raises(ValueError, match="relax_type must be one of"):
        run(RelaxWorkChain.get_builder_from_protocol(any_code, supercell((1, 1, 1)), tiny_potential,
                                                     relax_type="shape"))


def test_a_start_is_needed(any_code, tiny_potential):
    builder = MeltQuenchWorkChain.get_builder_from_protocol(any_code, tiny_potential, protocol="demo")
    with pytest.raises(ValueError, match="give a starting structure, or a hard_sphere"):
        run(builder)
