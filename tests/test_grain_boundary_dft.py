"""ACE-vs-DFT parity of grain-boundary energies (bzs.grain_boundary.dft): numbers, builder, refusals,
and a real pw.x run on the smallest cells 2 cores afford."""

from __future__ import annotations

import pytest
from aiida import orm
from ase.build import make_supercell

from aiida_bzs.calculations.functions.gb_energy import EV_PER_A2_IN_J_PER_M2
from aiida_bzs.calculations.functions.gb_parity import parity_rows
from aiida_bzs.calculations.functions.structures import to_structure
from aiida_bzs.structures.crystal import cubic_perovskite, pnma_crystal
from aiida_bzs.workflows.grain_boundary_dft import GrainBoundaryDftWorkChain
from aiida_bzs.workflows.protocols import ProtocolOverrideError, get_protocol

BULK = {"energy": -100.0, "counts": {"Ba": 4, "Zr": 4, "S": 12}}  # −25 eV per formula unit
CELL = [[10.0, 0, 0], [0, 10.0, 0], [0, 0, 40.0]]  # one boundary: 100 Å²


def test_parity_rows_on_numbers():
    """1 eV above the bulk over two 100 Å² boundaries is 0.080 J/m²; error = ACE − DFT; MAE, RMSE."""
    boundaries = {"sigma5": {"energy": -399.0, "counts": {"Ba": 16, "Zr": 16, "S": 48}, "cell": CELL},
                  "flat": {"energy": -400.0, "counts": {"Ba": 16, "Zr": 16, "S": 48}, "cell": CELL}}
    ace = {"sigma5": {"label": "sigma5", "e_gbf": 0.1, "sigma": 5, "kind": "csl", "angle": 36.9},
           "flat": {"label": "flat", "e_gbf": 0.0}}
    rows, summary = parity_rows(BULK, boundaries, ace)
    by = {r["label"]: r for r in rows}
    assert by["sigma5"]["e_gbf_dft"] == pytest.approx(EV_PER_A2_IN_J_PER_M2 / 200)
    assert by["sigma5"]["error"] == pytest.approx(0.1 - EV_PER_A2_IN_J_PER_M2 / 200)
    assert by["flat"]["e_gbf_dft"] == pytest.approx(0.0) and by["flat"]["error"] == pytest.approx(0.0)
    assert summary["n"] == 2 and summary["mae"] == pytest.approx(abs(by["sigma5"]["error"]) / 2)
    assert summary["max_abs_error"] == pytest.approx(abs(by["sigma5"]["error"]))


def test_parity_rows_off_stoichiometry_and_missing_values():
    """A cell short of 2 S needs μ_S; without it (and without an ACE row) it is flagged, not guessed."""
    short = {"energy": -392.0, "counts": {"Ba": 16, "Zr": 16, "S": 46}, "cell": CELL}
    rows, summary = parity_rows(BULK, {"gb": short}, {})
    assert rows[0]["e_gbf_dft"] is None and summary["n"] == 0
    assert any("chemical potentials" in flag for flag in rows[0]["flags"])
    assert any("no ACE" in flag for flag in rows[0]["flags"])
    rows, _ = parity_rows(BULK, {"gb": short}, {}, {"S": -4.0})  # E_ref = 16 × (−25) − 2 × (−4) = −392
    assert rows[0]["e_gbf_dft"] == pytest.approx(0.0)




def _cells():
    bulk = pnma_crystal()
    doubled = make_supercell(bulk, [[1, 0, 0], [0, 1, 0], [0, 0, 2]])
    return to_structure(bulk), to_structure(doubled)


def test_builder_uses_the_preset_and_refuses_unknown_keys(aiida_profile, stand_in_pw, pseudo_family):
    """balanced: the cluster resources and local-TF mixing of the YAML reach every pw.x job's inputs."""
    bulk, doubled = _cells()
    builder = GrainBoundaryDftWorkChain.get_builder_from_protocol(
        stand_in_pw, bulk_structure=bulk, structures={"flat": doubled}, protocol="balanced",
        pseudo_family=pseudo_family.label)
    preset = get_protocol("grain_boundary_dft", "balanced")
    pw = builder.dft.parameters.get_dict()["pw"]
    assert pw["pw"]["metadata"]["options"]["resources"] == preset["options"]["resources"]
    assert pw["pw"]["metadata"]["options"]["max_wallclock_seconds"] == preset["options"]["max_wallclock_seconds"]
    assert pw["pw"]["parameters"]["ELECTRONS"]["mixing_mode"] == "local-TF"
    assert builder.max_atoms.value == preset["max_atoms"] and builder.dft.num_mpiprocs.value == 512
    with pytest.raises(ProtocolOverrideError, match="max_atom"):
        GrainBoundaryDftWorkChain.get_builder_from_protocol(
            stand_in_pw, bulk_structure=bulk, structures={"flat": doubled}, protocol="fast",
            overrides={"max_atom": 10}, pseudo_family=pseudo_family.label)
    with pytest.raises(ProtocolOverrideError, match="sigma5"):
        GrainBoundaryDftWorkChain.get_builder_from_protocol(
            stand_in_pw, bulk_structure=bulk, structures={"flat": doubled}, labels=["sigma5"], protocol="fast",
            pseudo_family=pseudo_family.label)


def test_refused_at_launch(aiida_profile, stand_in_pw, pseudo_family):
    """A cell above max_atoms, or an ACE table without the boundary's row: refused before any pw.x."""
    from aiida.engine import run_get_node

    bulk, doubled = _cells()
    builder = GrainBoundaryDftWorkChain.get_builder_from_protocol(
        stand_in_pw, bulk_structure=bulk, structures={"flat": doubled}, protocol="fast",
        overrides={"max_atoms": 30}, pseudo_family=pseudo_family.label)
    with pytest.raises(ValueError, match="flat has 40 atoms, above max_atoms = 30"):
        run_get_node(builder)
    builder.max_atoms = orm.Int(100)
    builder.ace_table = orm.Dict({"rows": [{"label": "sigma5", "e_gbf": 0.5}]})
    with pytest.raises(ValueError, match=r"ace_table has no rows for \['flat'\]"):
        run_get_node(builder)


@pytest.mark.slow
def test_real_dft_parity_of_a_boundary_free_cell(aiida_profile, bzs_code, pseudo_family):
    """The bulk doubled along the normal is a "boundary" without a boundary: its DFT E_GBf is 0.

    Real pw.x (PBEsol, 20 Ry) on the smallest BaZrS3 cell, the 5-atom cubic perovskite (the Pnma
    pair takes tens of minutes on 2 cores): bulk on a 2×2×2 mesh, the 10-atom cell on 2×2×1 (k
    spacing 0.7 Å⁻¹) — the same k points of the crystal, so E(10) = 2 E(5) to SCF precision; a wrong
    reference, count or area would not give 0. The ACE value of the table passes through with its
    error.
    """
    from aiida.engine import run_get_node

    cubic = cubic_perovskite()
    bulk, doubled = to_structure(cubic), to_structure(make_supercell(cubic, [[1, 0, 0], [0, 1, 0], [0, 0, 2]]))
    overrides = {"label_overrides": {"max_concurrent": 2, "pw": {
        "kpoints_distance": 0.7, "meta_parameters": {"conv_thr_per_atom": 1e-9},
        "pw": {"parameters": {"SYSTEM": {"ecutwfc": 20.0, "ecutrho": 160.0}}}}}}
    builder = GrainBoundaryDftWorkChain.get_builder_from_protocol(
        bzs_code("pw"), bulk_structure=bulk, structures={"flat": doubled}, protocol="fast", overrides=overrides,
        pseudo_family=pseudo_family.label)
    builder.ace_table = orm.Dict({"rows": [{"label": "flat", "e_gbf": 0.01, "kind": "csl", "sigma": 1}]})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    table = results["table"].get_dict()
    row = table["rows"][0]
    a = cubic.cell.lengths()[0]
    assert row["n_atoms"] == 10 and row["area"] == pytest.approx(a * a)
    assert abs(results["formation_energies"]["flat"].value) < 2e-3  # J/m²
    assert results["energies"]["flat"].value == pytest.approx(2 * results["bulk_energy"].value, abs=2e-3)
    assert row["error"] == pytest.approx(0.01 - row["e_gbf_dft"])
    assert table["summary"]["n"] == 1
    assert results["plot"].get_content(mode="rb")[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_parity_table_and_refusal(aiida_profile):
    """`gb dft` prints ACE, DFT and their difference; a node that is not a GrainBoundaryWorkChain is refused."""
    from click.testing import CliRunner

    from aiida_bzs.cli import cmd_root
    from aiida_bzs.cli.gb_dft import format_parity

    boundaries = {"sigma5": {"energy": -399.0, "counts": {"Ba": 16, "Zr": 16, "S": 48}, "cell": CELL}}
    rows, summary = parity_rows(BULK, boundaries, {"sigma5": {"label": "sigma5", "e_gbf": 0.1, "sigma": 5}})
    text = format_parity({"bulk": {"energy_per_formula_unit_dft": -25.0, "n_atoms": 20}, "rows": rows,
                          "summary": summary})
    assert "0.1000" in text and "0.0801" in text and "+0.0199" in text and "MAE 0.0199 J/m²" in text
    node = orm.Dict({"a": 1}).store()
    result = CliRunner().invoke(cmd_root, ["gb", "dft", str(node.pk), "--code", "stand-in-pw@localhost"])
    assert result.exit_code != 0 and "is a Dict, not a GrainBoundaryWorkChain" in result.output
