"""GrainBoundaryWorkChain (bzs.grain_boundary): builder, refusals, the E_GBf arithmetic, one real small run."""

from __future__ import annotations


import numpy as np
import pytest

from aiida_bzs.calculations.functions.gb_energy import (EV_PER_A2_IN_J_PER_M2, MissingChemicalPotential,
                                                        formation_energy, formation_energy_rows, lowest_translation,
                                                        off_stoichiometry, reference_energy)
from aiida_bzs.workflows.grain_boundary import (BoundaryInputError, normalise_boundaries, translation_grid,
                                                validate_parameters)

UNIT = {"Ba": 1, "Zr": 1, "S": 3}


# -- numbers only ---------------------------------------------------------------------------------
def test_formation_energy_on_numbers():
    # 40 formula units, 0.5 eV above the bulk in total over two boundaries of 100 Å²
    e_ref, how = reference_energy({"Ba": 40, "Zr": 40, "S": 120}, UNIT, -30.0)
    assert e_ref == pytest.approx(-1200.0) and how.startswith("stoichiometric: 40")
    assert formation_energy(-1199.5, e_ref, 100.0) == pytest.approx(0.5 / 200 * 16.02176634)
    assert EV_PER_A2_IN_J_PER_M2 == pytest.approx(16.0218, abs=1e-4)
    assert formation_energy(e_ref, e_ref, 100.0) == 0.0  # a zero-angle "boundary"
    with pytest.raises(ValueError, match="area"):
        formation_energy(0.0, 0.0, 0.0)


def test_off_stoichiometric_reference_needs_chemical_potentials():
    counts = {"Ba": 40, "Zr": 40, "S": 118}  # two S removed at the boundaries
    assert off_stoichiometry(counts, UNIT) == {"Ba": 0.0, "Zr": 0.0, "S": -2.0}
    with pytest.raises(MissingChemicalPotential, match="S -2") as info:
        reference_energy(counts, UNIT, -30.0)
    assert info.value.species
    # μ_S given: the bulk fixes the rest; E_ref = 40 E_fu − 2 μ_S
    e_ref, how = reference_energy(counts, UNIT, -30.0, {"S": -4.0})
    assert e_ref == pytest.approx(-1200.0 + 8.0) and "μ_S" in how
    # a BaS unit missing needs μ for Ba and S (Zr alone is then the bulk's)
    with pytest.raises(MissingChemicalPotential):
        reference_energy({"Ba": 39, "Zr": 40, "S": 119}, UNIT, -30.0, {"S": -4.0})
    e_ref, _ = reference_energy({"Ba": 39, "Zr": 40, "S": 119}, UNIT, -30.0, {"S": -4.0, "Ba": -5.0})
    assert e_ref == pytest.approx(-1200.0 + 5.0 + 4.0)
    with pytest.raises(ValueError, match="leave one out"):
        reference_energy({"Ba": 39, "Zr": 40, "S": 119}, UNIT, -30.0, {"S": -4.0, "Ba": -5.0, "Zr": -8.0})


def test_rows_choose_the_lowest_formation_energy_and_flag():
    cell = np.diag([10.0, 10.0, 40.0])
    bulk = {"formula_unit": UNIT, "energy_per_formula_unit": -30.0}
    counts = {"Ba": 40, "Zr": 40, "S": 120}
    boundaries = [{"label": "sigma5", "kind": "csl", "sigma": 5, "angle": 36.9,
                   "translations": [[0, 0], [0.5, 0]], "flags": [], "skipped": {}}]
    energies = {(0, 0): -1198.0, (0, 1): -1199.0}
    structures = {(0, 0): (counts, cell, 200), (0, 1): (counts, cell * [[1.001], [1], [1]], 200)}
    built = {(0, 0): (counts, cell, 200), (0, 1): (counts, cell, 200)}
    rows = formation_energy_rows(bulk, boundaries, energies, structures, built, {0: (3.5, 0.02)})
    row = rows[0]
    assert row["translation"] == [0.5, 0] and row["e_gbf"] == pytest.approx(1.0 / 200 * EV_PER_A2_IN_J_PER_M2, rel=2e-3)
    assert any("in-plane cell changed" in f for f in row["flags"]) and any("γ 3.5" in f for f in row["flags"])
    assert row["max_gamma"] == 3.5 and row["fraction_gamma_above_2"] == 0.02
    assert lowest_translation({0: None, 1: 2.0, 2: 1.0}) == 2 and lowest_translation({0: None}) is None


def test_boundary_specs_and_parameters():
    specs = normalise_boundaries([25, "sigma31", 4.5, {"angle": 1.5, "label": "tiny angle"}])
    assert [s["label"] for s in specs] == ["sigma25", "sigma31", "low_angle_4p5", "tiny_angle"]
    assert specs[0]["sigma"] == 25 and specs[2]["angle"] == 4.5
    for bad, message in (([{"sigma": 0}], "positive"), ([{"kind": "csl"}], "sigma"), ([{"sigma": 5, "tilt": 1}], "unknown"),
                         ([5, "sigma5"], "twice"), ([], "no boundary")):
        with pytest.raises(BoundaryInputError, match=message):
            normalise_boundaries(bad)
    assert translation_grid([2, 1]) == [[0.0, 0.0], [0.5, 0.0]]
    assert "unknown grain-boundary parameters" in validate_parameters({"grain_thicknes": 10})
    assert "translations" in validate_parameters({"translations": [0, 1]})
    assert "leave one out" in validate_parameters({"chemical_potentials": {"Ba": 1, "Zr": 1, "S": 1}},
                                                  ["Ba", "S", "Zr"])
    assert validate_parameters({"grain_thickness": 12.0, "translations": [2, 2]}) is None


def test_plot_from_table():
    from aiida_bzs.calculations.functions.gb_energy import table_figure

    rows = [{"kind": "csl", "sigma": 25, "angle": 16.3, "e_gbf": 0.8},
            {"kind": "low_angle", "sigma": None, "angle": 2.5, "e_gbf": 0.3},
            {"kind": "low_angle", "sigma": None, "angle": 1.5, "e_gbf": 0.2},
            {"kind": "csl", "sigma": 31, "angle": 20.0, "e_gbf": None}]
    fig = table_figure(rows)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("misorientation") and len(ax.lines) == 2
    assert list(ax.lines[0].get_xdata()) == [1.5, 2.5]


def test_cli_helpers():
    from aiida_bzs.cli.gb_energy import format_table, parse_angle_range, parse_chemical_potentials

    assert parse_angle_range("1.5:9.5:1") == [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5]
    assert parse_angle_range("4.5") == [4.5]
    assert parse_chemical_potentials(["S=-4.1"]) == {"S": -4.1}
    table = {"bulk": {"energy_per_formula_unit": -9.2, "n_atoms": 20},
             "rows": [{"label": "sigma5", "sigma": 5, "angle": 36.87, "n_atoms": 80, "area": 69.7,
                       "translation": [0.0, 0.5], "e_gbf": 0.73, "max_gamma": 1.5, "fraction_gamma_above_2": 0.0,
                       "flags": []},
                      {"label": "low_angle_4p5", "sigma": None, "angle": 4.5, "n_atoms": None, "area": None,
                       "translation": None, "e_gbf": None, "max_gamma": None, "fraction_gamma_above_2": None,
                       "flags": ["no translation gave an E_GBf"]}]}
    text = format_table(table)
    assert "0.7300" in text and "(0.00, 0.50)" in text and "! no translation gave an E_GBf" in text


# -- builder and launch refusals (a profile, no run) ----------------------------------------------




def test_builder_records_the_protocol(lmp_code, tiny_potential_asi):
    from aiida_bzs.workflows.grain_boundary import GrainBoundaryWorkChain
    from aiida_bzs.workflows.protocols import get_protocol

    builder = GrainBoundaryWorkChain.get_builder_from_protocol(
        lmp_code, tiny_potential_asi, protocol="fast", overrides={"translations": [2, 1]},
        job_options={"max_wallclock_seconds": 600})
    preset = get_protocol("grain_boundary", "fast")
    parameters = builder.parameters.get_dict()
    assert parameters["grain_thickness"] == preset["grain_thickness"] and parameters["translations"] == [2, 1]
    assert parameters["min_distance"] == preset["min_distance"] and parameters["gamma"] is True
    assert builder.boundaries.get_list() == [{"sigma": 5, "plane": [3, 0, 1], "label": "sigma5"}]
    relax = get_protocol("relax", preset["relax_protocol"])
    assert builder.relax.parameters["ftol"] == relax["ftol"]
    assert builder.relax.parameters["maxiter"] == preset["relax_overrides"]["maxiter"]
    assert builder.relax.max_meta_iterations.value == preset["relax_overrides"]["max_meta_iterations"]
    assert builder.relax.md.lammps.code.uuid == lmp_code.uuid
    assert builder.job_options.get_dict()["max_wallclock_seconds"] == 600
    assert "crystal" not in builder  # the experimental Pnma cell is made when the chain runs
    other = GrainBoundaryWorkChain.get_builder_from_protocol(lmp_code, tiny_potential_asi, protocol="balanced",
                                                             boundaries=[25, 4.5])
    assert [b["label"] for b in other.boundaries.get_list()] == ["sigma25", "low_angle_4p5"]


def test_unknown_override_refused(lmp_code, tiny_potential_asi):
    from aiida_bzs.workflows.grain_boundary import GrainBoundaryWorkChain
    from aiida_bzs.workflows.protocols import ProtocolOverrideError

    with pytest.raises(ProtocolOverrideError, match="grain_thicknes"):
        GrainBoundaryWorkChain.get_builder_from_protocol(lmp_code, tiny_potential_asi, protocol="fast",
                                                         overrides={"grain_thicknes": 12})
    with pytest.raises(ProtocolOverrideError, match="maxiterations"):  # relax.yaml's keys are checked too
        GrainBoundaryWorkChain.get_builder_from_protocol(lmp_code, tiny_potential_asi, protocol="fast",
                                                         overrides={"relax_overrides": {"maxiterations": 5}})


# -- one real small run ---------------------------------------------------------------------------
@pytest.mark.slow
def test_real_small_run(lmp_code, tiny_potential_asi):
    """Σ5 (3 0 1) (the smallest boundary), the thinnest grains the cutoff allows, four translations
    along x of which only the stoichiometric are relaxed, loose minimisation, the tiny potential (a toy: its numbers are no property of BaZrS3)."""
    pytest.importorskip("aiida_bzs.structures.grain_boundary")
    pytest.importorskip("aiida_bzs.calculations.functions.grain_boundary")
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_bzs.common.structure_nodes import atoms_from_structure
    from aiida_bzs.workflows.grain_boundary import GrainBoundaryWorkChain

    builder = GrainBoundaryWorkChain.get_builder_from_protocol(lmp_code, tiny_potential_asi, protocol="fast")
    results, node = run_get_node(builder)
    assert node.is_finished_ok, f"[{node.exit_status}] {node.exit_message}"
    table = results["table"].get_dict()
    row = table["rows"][0]
    assert row["label"] == "sigma5" and row["sigma"] == 5
    assert np.isfinite(row["e_gbf"]) and row["e_gbf"] > 0
    assert results["formation_energies"]["sigma5"].value == pytest.approx(row["e_gbf"])
    built = atoms_from_structure(results["bicrystals"]["sigma5"])
    relaxed = atoms_from_structure(results["structures"]["sigma5"])
    assert len(relaxed) == len(built) == row["n_atoms"]
    # 'normal': the in-plane cell is the bicrystal's (the bulk's, strained to commensurate), z relaxed
    np.testing.assert_allclose(relaxed.cell[:2], built.cell[:2], atol=1e-6)
    assert row["area"] == pytest.approx(np.linalg.norm(np.cross(built.cell[0], built.cell[1])), rel=1e-9)
    assert not any("changed" in flag for flag in row["flags"])
    # E_GBf from the outputs by hand: N_fu × E_bulk(fu)
    bulk_fu = results["bulk_energy"].value / (len(atoms_from_structure(results["bulk_structure"])) / 5)
    n_fu = len(relaxed) / 5 if "stoichiometric" in row["reference"] else None
    if n_fu is not None:
        by_hand = (results["energies"]["sigma5"].value - n_fu * bulk_fu) / (2 * row["area"]) * 16.02176634
        assert row["e_gbf"] == pytest.approx(by_hand, rel=1e-9)
    # γ of the relaxed boundary (the tiny potential has an active set)
    assert row["max_gamma"] is not None and 0 <= row["fraction_gamma_above_2"] <= 1
    assert results["plot"].filename.endswith(".png")
    relax = [n for n in node.called if n.process_label == "RelaxWorkChain"]
    relaxed = [e for e in row["translations"] if e["energy"] is not None]
    assert sorted(n.inputs.relax_type.value for n in relax) == ["cell"] + ["normal"] * len(relaxed)
    # off-stoichiometric translations are not relaxed without chemical potentials, and say why
    assert all("off-stoichiometric" in e["flags"][0] for e in row["translations"] if e["energy"] is None)
    print(f"\nE_GBf(Σ5, tiny potential) = {row['e_gbf']:.4f} J/m², {row['n_atoms']} atoms, "
          f"area {row['area']:.2f} Å², max γ {row['max_gamma']:.3f}")
    assert isinstance(results["table"], orm.Dict)


def test_refused_at_launch(lmp_code, tiny_potential_asi):
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_bzs.workflows.grain_boundary import GrainBoundaryWorkChain

    def launch(**changes):
        builder = GrainBoundaryWorkChain.get_builder_from_protocol(lmp_code, tiny_potential_asi, protocol="fast")
        for name, value in changes.items():
            setattr(builder, name, value)
        with pytest.raises(ValueError) as info:
            run_get_node(builder)
        return str(info.value)

    parameters = GrainBoundaryWorkChain.get_builder_from_protocol(lmp_code, tiny_potential_asi,
                                                                  protocol="fast").parameters.get_dict()
    assert "below 2 × the potential's cutoff" in launch(parameters=orm.Dict({**parameters, "grain_thickness": 6.0}))
    assert "unknown grain-boundary parameters" in launch(parameters=orm.Dict({**parameters, "gap": 1.0}))
    pytest.importorskip("aiida_bzs.structures.grain_boundary")
    assert "no Σ7 tilt boundary" in launch(boundaries=orm.List([{"sigma": 7, "label": "sigma7"}]))
    assert "no commensurate 0.2° tilt" in launch(boundaries=orm.List([{"angle": 0.2, "label": "a"}]))
