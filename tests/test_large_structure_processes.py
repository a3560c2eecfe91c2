"""Processes on the polycrystal path take a ``LargeStructureData`` as they take a ``StructureData``.

Small cells (≤ 160 atoms) stand in for the 10⁵–10⁶-atom structures: what is tested is the node
type each process accepts and hands back, and that both types give the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase import Atoms

from aiida_bzs.common.structure_nodes import (
    LARGE_STRUCTURE_ATOMS,
    STRUCTURE_TYPES,
    structure_from_atoms,
    structure_n_atoms,
)
from aiida_bzs.data.large_structure import LargeStructureData
from aiida_bzs.structures.crystal import pnma_crystal
from aiida_bzs.structures.distort import make_supercell







@pytest.fixture
def supercell_atoms() -> Atoms:
    """The Pnma crystal repeated 2×2×2 (160 atoms), slightly rattled so a relaxation has work to do."""
    atoms = make_supercell(pnma_crystal(), [2, 2, 2])
    atoms.rattle(0.02, seed=3)
    return atoms


def test_one_threshold(aiida_profile):
    """One named threshold; the melt-quench's product check uses it (no second constant)."""
    import aiida_bzs.analysis.product_check as product_check
    import aiida_bzs.workflows.melt_quench as melt_quench

    assert LARGE_STRUCTURE_ATOMS == 20_000
    assert not hasattr(product_check, "LARGE_STRUCTURE")
    assert melt_quench.LARGE_STRUCTURE_ATOMS is LARGE_STRUCTURE_ATOMS


def test_ports_take_both_types(aiida_profile):
    """Every structure port on the polycrystal path is typed ``STRUCTURE_TYPES``."""
    from aiida_bzs.calculations.lammps import LammpsCalculation
    from aiida_bzs.calculations.scattering import ScatteringCalculation
    from aiida_bzs.workflows.analysis import StructureAnalysisWorkChain
    from aiida_bzs.workflows.lammps_base import LammpsBaseWorkChain
    from aiida_bzs.workflows.melt_quench import MeltQuenchWorkChain
    from aiida_bzs.workflows.relax import RelaxWorkChain
    from aiida_bzs.workflows.scattering import ScatteringWorkChain

    ports = [
        LammpsCalculation.spec().inputs["structure"], LammpsCalculation.spec().outputs["structure"],
        LammpsBaseWorkChain.spec().inputs["lammps"]["structure"], LammpsBaseWorkChain.spec().outputs["structure"],
        RelaxWorkChain.spec().inputs["structure"], RelaxWorkChain.spec().outputs["structure"],
        ScatteringCalculation.spec().inputs["structure"],
        StructureAnalysisWorkChain.spec().inputs["structures"], ScatteringWorkChain.spec().inputs["structures"],
    ]
    ports += [MeltQuenchWorkChain.spec().inputs[k] for k in ("structure", "reference_crystal")]
    ports += [MeltQuenchWorkChain.spec().outputs[k]
              for k in ("structure", "quenched_structure", "ace_crystal", "stage_structures")]
    for port in ports:
        types = tuple(t for t in port.valid_type if t is not type(None))  # optional ports add NoneType
        assert types == STRUCTURE_TYPES, port.name


def test_parser_choice_of_output_type(aiida_profile, supercell_atoms):
    """The final structure is a LargeStructureData when the input was one or above the threshold."""
    from aiida_bzs.parsers.lammps import final_structure

    final = supercell_atoms.copy()
    final.set_velocities(np.ones((len(final), 3)))  # LAMMPS's final.data has velocities: not structure
    small, large = structure_from_atoms(supercell_atoms), LargeStructureData.from_ase(supercell_atoms)

    assert type(final_structure(final, small)) is orm.StructureData
    assert type(final_structure(final, large)) is LargeStructureData
    above = final_structure(final, small, threshold=len(final) - 1)
    assert type(above) is LargeStructureData
    assert type(final_structure(final, small, threshold=len(final))) is orm.StructureData  # not above
    assert above.n_atoms == len(final)
    assert above.per_atom_arrays == []  # velocities are the separate ``velocities`` output
    np.testing.assert_array_equal(above.get_array("positions"), final.positions)
    np.testing.assert_array_equal(above.get_array("numbers"), final.numbers)


@pytest.mark.slow
def test_relax_large_structure_returns_large_structure(lmp_code, tiny_potential, supercell_atoms):
    from aiida_bzs.workflows.relax import RelaxWorkChain

    structure = LargeStructureData.from_ase(supercell_atoms).store()
    builder = RelaxWorkChain.get_builder_from_protocol(lmp_code, structure, tiny_potential,
                                                       relax_type="positions", protocol="fast")
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    relaxed = results["structure"]
    assert isinstance(relaxed, LargeStructureData)
    assert relaxed.n_atoms == structure.n_atoms == 160
    assert relaxed.composition == structure.composition
    np.testing.assert_allclose(relaxed.cell, structure.cell)  # positions only
    assert not np.allclose(relaxed.get_array("positions"), structure.get_array("positions"))
    calc = next(n for n in node.called_descendants if n.process_label == "LammpsCalculation")
    assert isinstance(calc.inputs.structure, LargeStructureData)
    assert results["results"]["volumes"][0] == pytest.approx(structure.cell_volume)


def test_analysis_same_cn_for_both_types(aiida_profile, supercell_atoms):
    from aiida_bzs.workflows.analysis import StructureAnalysisWorkChain

    small = structure_from_atoms(supercell_atoms).store()
    large = LargeStructureData.from_ase(supercell_atoms).store()
    results, node = run_get_node(StructureAnalysisWorkChain, structures={"small": small, "large": large},
                                 plot=orm.Bool(False))
    assert node.is_finished_ok, node.exit_message
    for name in ("coordination_Zr_S", "coordination_Ba_S"):
        a, b = (results["results"][key][name] for key in ("small", "large"))
        assert a.base.attributes.get("mean_cn") == b.base.attributes.get("mean_cn")
        np.testing.assert_array_equal(a.get_array("cn"), b.get_array("cn"))
    assert results["results"]["large"]["coordination_Zr_S"].base.attributes.get("mean_cn") == pytest.approx(6.0)
    density = [results["results"][key]["density"].get_dict() for key in ("small", "large")]
    assert density[0]["counts"] == density[1]["counts"]
    assert density[0]["density"] == pytest.approx(density[1]["density"])


def test_structure_to_xyz_same_file_for_both_types(aiida_profile, supercell_atoms):
    from aiida_bzs.calculations.functions.scattering import structure_to_xyz

    small = structure_from_atoms(supercell_atoms).store()
    large = LargeStructureData.from_ase(supercell_atoms).store()
    files = [structure_to_xyz(node) for node in (small, large)]
    assert files[0].get_content() == files[1].get_content()
    for key in ("n_atoms", "elements", "pbc"):
        assert files[0].base.attributes.get(key) == files[1].base.attributes.get(key)
    assert structure_n_atoms(large) == structure_n_atoms(small) == 160


def test_nanoparticle_and_density_take_large(aiida_profile, supercell_atoms):
    """Light calcfunctions that take a structure accept a LargeStructureData too."""
    from aiida_bzs.calculations.functions.md import structure_density
    from aiida_bzs.calculations.functions.nanoparticle import cut_nanoparticle

    small = structure_from_atoms(supercell_atoms).store()
    large = LargeStructureData.from_ase(supercell_atoms).store()
    assert structure_density(large).value == pytest.approx(structure_density(small).value)
    particles = [cut_nanoparticle(node, orm.Float(5.0)) for node in (small, large)]
    assert len(particles[0].sites) == len(particles[1].sites) > 0
