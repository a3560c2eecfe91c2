"""The PBEsol reference crystal: protocol settings, refusals, the summary, and a real vc-relax.

The real run uses the test-sized ``fast`` preset (20/160 Ry, Γ, loose thresholds) with 2 MPI
ranks: it shows the whole path (PwRelaxWorkChain vc-relax → summary → reference → a builder that
starts from it), not a PBEsol lattice (docs/structures.md has the measured reference).
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_bzs.analysis.reference_crystal import reference_summary
from aiida_bzs.structures import cubic_perovskite, make_supercell, pnma_crystal, rattle
from aiida_bzs.workflows.crystal_relax import CrystalRelaxWorkChain, relax_settings


def test_protocols_name_their_pw_settings():
    fast, moderate, balanced = (relax_settings(p) for p in ("fast", "moderate", "balanced"))
    assert fast["pw"]["ecutwfc"] == 20.0 and not fast["meta_convergence"]
    assert moderate["kpoints_mesh"] == [2, 1, 2] and moderate["pw_protocol"] == "balanced"
    # the campaign reference uses the training labels' pw.x settings
    assert balanced["pw_protocol"] == "balanced" and balanced["meta_convergence"]
    assert balanced["forc_conv_thr"] < fast["forc_conv_thr"]


def test_summary_of_the_built_crystal():
    summary = reference_summary(pnma_crystal(), energy=-100.0, forces=np.zeros((20, 3)), stress=np.eye(3))
    assert summary["problems"] == [] and summary["spacegroup"] == "Pnma"
    assert summary["lattice_deviation_percent"] == pytest.approx([0, 0, 0], abs=1e-9)
    assert summary["density"] == pytest.approx(4.355, abs=0.002)
    assert summary["wyckoff"]["S2"] == pytest.approx([0.289, 0.036, 0.711], abs=1e-4)
    assert summary["pressure"] == pytest.approx(-10.0)  # 1 GPa tensile stress = −10 kbar pressure
    assert summary["energy_per_formula_unit"] == pytest.approx(-25.0)


def test_summary_flags_a_broken_reference():
    broken = rattle(make_supercell(pnma_crystal(), [1, 1, 1]), 0.4, 3)
    problems = reference_summary(broken)["problems"]
    assert problems and any("Pnma" in p or "S at" in p for p in problems)


def test_refuses_a_start_that_is_not_pnma(aiida_profile):
    builder = CrystalRelaxWorkChain.get_builder()
    builder.structure = orm.StructureData(ase=cubic_perovskite())
    with pytest.raises(ValueError, match="not Pnma"):
        run_get_node(builder)


def test_refuses_an_unknown_protocol(aiida_profile):
    builder = CrystalRelaxWorkChain.get_builder()
    builder.protocol = "precise"
    with pytest.raises(ValueError, match="unknown crystal_relax protocol 'precise'"):
        run_get_node(builder)


def test_builder_records_the_settings_and_refuses_typos(aiida_profile):
    from aiida_bzs.workflows.protocols import ProtocolOverrideError

    builder = CrystalRelaxWorkChain.get_builder_from_protocol(protocol="fast", overrides={"press_conv_thr": 100.0})
    settings = builder.settings.get_dict()
    assert settings["press_conv_thr"] == 100.0 and "forc_conv_thr" in settings and "pw" in settings
    with pytest.raises(ProtocolOverrideError, match="press_conv"):
        CrystalRelaxWorkChain.get_builder_from_protocol(protocol="fast", overrides={"press_conv": 100.0})


@pytest.mark.slow
def test_real_vc_relax_feeds_the_builders(bzs_code, pseudo_family):
    """pw.x vc-relax (2 ranks, test-sized) → a Pnma reference → a perturbed supercell built from it."""
    from aiida_bzs.calculations.functions.generators import generate_perturbed

    builder = CrystalRelaxWorkChain.get_builder_from_protocol(bzs_code("pw"), protocol="fast",
                                                              pseudo_family=pseudo_family.label, num_mpiprocs=2)
    _, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    summary = node.outputs.summary.get_dict()
    assert summary["problems"] == [] and summary["spacegroup"] == "Pnma"
    assert summary["max_force"] < 1.3 * 3**0.5  # forc_conv_thr 0.05 Ry/bohr = 1.29 eV/Å per component
    reference = node.outputs.reference
    lattice = reference.cell_lengths
    assert lattice == pytest.approx(summary["lattice"])
    relax = next(n for n in node.called if n.process_label == "PwRelaxWorkChain")
    assert relax.inputs.base_relax.pw.parameters["CONTROL"]["calculation"] == "vc-relax"
    cells = generate_perturbed(reference, orm.Dict({"count": 2, "repeat": [1, 2, 1], "max_strain": 0.01,
                                                     "rattle_stdev": 0.02, "seed": 1}))
    first = cells["perturbed_0000"]
    assert len(first.sites) == 40
    assert first.cell_lengths[1] == pytest.approx(2 * lattice[1], rel=0.02)
