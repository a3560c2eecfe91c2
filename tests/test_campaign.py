"""CampaignWorkChain (bzs.campaign): settings, refusals at submission, and a real run from a given potential."""

from __future__ import annotations

import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_bzs.workflows.campaign import (
    STAGES,
    CampaignWorkChain,
    campaign_settings,
    stages_to_run,
    validate_inputs,
)
from aiida_bzs.workflows.protocols import ProtocolOverrideError

#: The smallest campaign that still runs every simulation stage with real codes (≈ 2 min on 2 cores).
TOY = {
    "skip": ["reference", "grain_boundary_dft"],
    "report": {"dataset_map": {}, "phonons": {"supercell": [1, 1, 1], "mesh": [2, 2, 2], "band_points": 5,
                                             "max_steps": 50, "fmax": 0.05}},
    "md_repeat": [1, 1, 1],
    "nanoparticle_radius": 8.0,
    "amorphous": {"runs": {"toy": {"protocol": "demo", "overrides": {"stages": [
        {"name": "heat", "temperature": [300, 2500], "duration": 0.2},
        {"name": "quench", "temperature": [2500, 300], "rate": 1.0e16},
        {"name": "minimise", "ensemble": "minimise", "box_relax": "iso", "ftol": 1.0e-2, "maxiter": 100}]}}}},
    "polycrystal": {"protocol": "fast", "overrides": {"box": [25.0, 25.0, 25.0], "grains": [2]}},
}


def test_every_preset_resolves_and_names_known_stages():
    for protocol in ("demo", "balanced", "stringent"):
        settings = campaign_settings(protocol)
        assert set(settings["skip"]) <= set(STAGES)
        assert settings["protocol"] == protocol
    assert campaign_settings("demo")["md_repeat"] == [2, 2, 2]


def test_unknown_override_and_stage_are_refused():
    with pytest.raises(ProtocolOverrideError, match="unknown campaign override"):
        campaign_settings("demo", {"md_repaet": [1, 1, 1]})
    with pytest.raises(ProtocolOverrideError, match="unknown stage"):
        campaign_settings("demo", {"skip": ["melt"]})


def test_given_inputs_replace_their_stages():
    settings = campaign_settings("balanced")
    assert stages_to_run(settings, set()) == list(STAGES)
    run = stages_to_run(settings, {"potential", "reference_crystal"})
    assert "learn" not in run and "fit" not in run and "reference" not in run and "amorphous" in run


def _inputs(**extra):
    return {"parameters": orm.Dict(campaign_settings("demo", extra.pop("overrides", None))), **extra}


def test_contradictions_are_caught_at_submission(aiida_profile, tiny_potential, stand_in_pw):
    skip_fit = _inputs(overrides={"skip": ["reference", "learn", "fit"]})
    assert "give `potential`" in validate_inputs(skip_fit)
    no_data = _inputs(overrides={"skip": ["reference", "dataset"]})
    assert "give `training_set`" in validate_inputs(no_data)
    missing_code = _inputs(potential=tiny_potential)
    message = validate_inputs(missing_code)
    assert "lammps_code" in message and "aiida-bzs setup" in message
    # A potential without an element of the crystal.
    from aiida_bzs.calculations.functions.structures import to_structure
    from aiida_bzs.structures.crystal import pnma_crystal

    atoms = pnma_crystal()
    atoms[0].symbol = "Sr"
    foreign = _inputs(potential=tiny_potential, crystal=to_structure(atoms), pw_code=stand_in_pw)
    assert "has no ['Sr']" in validate_inputs(foreign)
    # A generation-0 potential for a learn stage that does not run.
    idle = _inputs(potential=tiny_potential, initial_potential=tiny_potential)
    assert "`initial_potential` starts the `learn` stage" in validate_inputs(idle)
    # A boundary potential that is neither fitted version.
    other = _inputs(overrides={"grain_boundaries": {"protocol": "fast", "potential": "fll", "overrides": {}}})
    assert "grain_boundaries.potential 'fll'" in validate_inputs(other)


def test_new_labels_must_share_the_datasets_dft_settings(aiida_profile):
    """The demo's live generation labels on top of a shipped dataset: a different pw.x preset
    (another k spacing) would mix incomparable energies, so it is refused at submission."""
    import numpy as np
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    from aiida_bzs.data.training_set import TrainingSetData

    atoms = Atoms("BaZrS3", positions=np.eye(5, 3) * 2.5, cell=np.eye(3) * 6.0, pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=-10.0, forces=np.zeros((5, 3)))
    atoms.info["config_type"] = "crystal"
    demo = TrainingSetData.from_atoms([atoms], dft_settings={"protocol": "demo"}).store()
    ok = _inputs(training_set=demo, overrides={"skip": ["reference", "amorphous", "grain_boundaries",
                                                        "grain_boundary_dft", "polycrystal", "analysis",
                                                        "scattering", "report"]})
    assert "pw.x protocol" not in (validate_inputs(ok) or "")
    other = _inputs(training_set=demo, overrides={"learn": {"overrides": {"label_protocol": "fast"}}})
    message = validate_inputs(other)
    assert "pw.x protocol 'demo'" in message and "label_protocol" in message


def test_campaign_from_a_given_potential_runs_every_simulation_stage(aiida_profile, tiny_potential_asi, lmp_code, bzs_code,
                                                                      tmp_path):
    """Start in the middle: a potential given, so learn and fit are skipped; MD, boundaries,
    polycrystal, analysis and scattering run with the real codes and the summary holds their numbers."""
    builder = CampaignWorkChain.get_builder_from_protocol(
        "demo", TOY, potential=tiny_potential_asi,
        codes={"lammps_code": lmp_code, "job_code": bzs_code("bzs_job"), "scattering_code": bzs_code("bzs_scatter")})
    assert "pw_code" not in builder and "pacemaker_code" not in builder  # only the codes of the stages that run
    results, node = run_get_node(builder)
    labels = {link.link_label for link in node.base.links.get_outgoing().all()}
    for stage in ("melt_quench_toy", "grain_boundaries", "polycrystal", "analysis", "scattering"):
        assert stage in labels, f"no sub-workchain {stage}: {sorted(labels)}"
    summary = results["summary"].get_dict()
    assert summary["stages"] == ["amorphous", "analysis", "grain_boundaries", "polycrystal", "scattering", "report"]
    assert "phonons" in labels  # the report's ACE phonon job (no training set given: no dataset map)
    assert "dataset_map" not in labels
    assert results["potentials"]["filtered"].uuid == tiny_potential_asi.uuid
    assert "toy" in results["amorphous"]
    product = summary["amorphous"]["toy"]
    assert product["n_atoms"] == 20 and product["density"] > 0 and product["classification"]
    assert set(summary["analysis"]) == {"crystal", "amorphous_toy"}
    assert summary["analysis"]["crystal"]["Zr_cn"] == pytest.approx(6.0)  # the Pnma cell: every Zr 6-fold
    assert summary["grain_boundaries"]["rows"]
    poly = next(iter(summary["polycrystals"].values()))
    assert poly["n_atoms"] > 500 and poly["max_gamma"] is not None
    assert "nanoparticle" in summary["scherrer_size_nm"]["scattering"]
    # An amorphous product's main peak is a halo: its width is given, no crystallite size; a
    # recrystallised one (the tiny potential's 20-atom toy) is not declared amorphous. Either way the
    # 20-atom cells are smaller than any size their peaks give: no size (exceeds_particle).
    scherrer = node.base.links.get_outgoing(link_label_filter="scattering").one().node.outputs.scherrer
    toy = scherrer["amorphous_toy"]
    assert toy.get("not_crystalline", False) is (product["classification"] != "recrystallised")
    assert toy["size_nm"] is None and toy["fwhm"] > 0
    assert scherrer["crystal"].get("exceeds_particle") is True
    assert summary["scherrer_size_nm"]["scattering"]["amorphous_toy"] is None
    from aiida_bzs.calculations.functions.campaign import caveats
    from aiida_bzs.cli.campaign import summary_lines

    lines = summary_lines(summary)
    print("\n".join(lines))
    assert any(line.startswith("amorphous toy:") and "g/cm³" in line for line in lines)
    assert any(line.startswith("polycrystal ") and "max γ" in line for line in lines)
    # Failures would be recorded (and exit 410); with the tiny potential every stage finishes.
    assert node.is_finished_ok, summary.get("failed")
    # What `aiida-bzs campaign run` leaves: the HTML report and the archive of the whole graph.
    from aiida_bzs.cli.campaign import write_products

    files = write_products(node, tmp_path / "out")
    html = files["report"][0].read_text()
    assert "Phonons with the ACE potential" in html and node.uuid in html
    # the caveats (here at least the tiny potential's extrapolated polycrystal, if so) lead the overview
    import html as html_lib

    assert summary["caveats"] == caveats(summary)
    assert all(html_lib.escape(caveat) in html for caveat in summary["caveats"]), summary["caveats"]
    assert ("Read with care" in html) is bool(summary["caveats"])
    assert files["archive"][0].stat().st_size > 10_000


def test_a_stage_its_workchain_refuses_is_a_recorded_failure(aiida_profile, tiny_potential_asi, lmp_code, bzs_code):
    """Grains thinner than twice the potential's cutoff are refused by GrainBoundaryWorkChain's
    validation when the campaign submits it: the campaign records that stage as failed (exit 410,
    summary['failed']) instead of excepting, like any failed simulation stage."""
    overrides = {"skip": ["reference", "grain_boundary_dft", "amorphous", "polycrystal", "analysis", "scattering",
                          "report"],
                 "grain_boundaries": {"protocol": "fast", "overrides": {"grain_thickness": 2.0}}}
    builder = CampaignWorkChain.get_builder_from_protocol(
        "demo", overrides, potential=tiny_potential_asi, codes={"lammps_code": lmp_code, "job_code": bzs_code("bzs_job")})
    results, node = run_get_node(builder)
    assert node.exit_status == 410, node.exit_message
    failed = results["summary"].get_dict()["failed"]
    assert "grain_boundaries" in failed and "cutoff" in failed["grain_boundaries"], failed


def test_the_summary_flags_what_is_not_a_result():
    """A polycrystal or boundary with γ > 2 for more than 1 % of its atoms is flagged in the printed
    summary (the demo's polycrystal: 5.1 %), one within the limit is not; an amorphous product made
    with a smoke-test potential says so, with its density against both crystals."""
    from aiida_bzs.cli.campaign import summary_lines

    summary = {"protocol": "demo", "stages": ["amorphous", "grain_boundaries", "polycrystal"],
               "fits": {"filtered": {"rmse_energy": 35.5, "rmse_forces": 443, "n_test": 8, "verdict": "smoke_test"}},
               "amorphous": {"q": {"classification": "amorphous", "density": 4.135, "density_ratio": 0.950,
                                   "density_ratio_ace": 0.998, "zr_cn": 5.38, "ba_cn": 6.97, "n_atoms": 160}},
               "grain_boundaries": {"rows": [{"label": "sigma5", "e_gbf": 0.14, "fraction_gamma_above_2": 0.0}]},
               "polycrystals": {"poly": {"n_atoms": 1621, "grains": 4, "max_gamma": 8.5e4,
                                         "fraction_gamma_above_2": 0.051, "boundary_zr_cn": 4.64,
                                         "interior_zr_cn": 5.56}}}
    lines = summary_lines(summary)
    poly = next(line for line in lines if line.startswith("polycrystal poly"))
    boundary = next(line for line in lines if line.startswith("grain boundary sigma5"))
    assert "EXTRAPOLATED" in poly and "5.1 %" in poly
    assert "EXTRAPOLATED" not in boundary
    product = next(line for line in lines if line.startswith("amorphous q:"))
    assert "95.0 % of the reference crystal, 99.8 % of the crystal relaxed with the same potential" in product
    assert "verdict smoke_test: indicative only" in product
    # the same caveats, one line each, for the report's overview (stored in the summary as "caveats")
    from aiida_bzs.calculations.functions.campaign import caveats

    assert caveats(summary) == [
        "fit filtered: verdict smoke_test",
        "amorphous q: melt-quenched with the filtered version, verdict smoke_test: indicative only",
        "polycrystal poly: EXTRAPOLATED: γ > 2 for 5.1 % of atoms, outside the potential's training data there; "
        "add such environments to the training set (aiida-bzs learn) before trusting them"]
    summary["fits"]["filtered"]["verdict"] = "usable"
    summary["amorphous"]["q"]["classification"] = "recrystallised"
    assert "indicative" not in next(line for line in summary_lines(summary) if line.startswith("amorphous q:"))
    assert caveats(summary)[0] == "amorphous q: classified recrystallised, not an amorphous product"
