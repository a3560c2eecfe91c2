"""ActiveLearningWorkChain at toy scale: 2 generations with real codes throughout.

Generation 0 is the tiny, MD-stable toy potential of the MD tests (tests/fixtures/md, with its
active set of crystal cells): the stored real fit of the fixture dataset is too poor to keep a
melt physical, and exploration needs frames that are not collapsed. A test set is fixed from the initial dataset; generation 1 explores
with the potential (RSS relaxations with pyace, and the three MD families — NVT melt,
melt–quench, high-temperature crystal and amorphous — in the real LAMMPS with pair_style pace),
selects the most extrapolative structure (at most one per family), labels it with the real pw.x
(the fixture dataset's settings: 25/200 Ry, Γ only), merges and refits with the real pacemaker
against the same fixed test set — a fresh fit of the `fast` basis, since the toy potential's
basis is not one to continue from. The refit uses pacemaker's pyace backend (same fit pipeline, no
TensorFlow graph: ~30 s instead of ~3 min); this is the second and last real pacemaker fit of
the ACE tests.
"""

from __future__ import annotations

import pytest

from aiida_bzs.analysis.ace_selection import select_by_gamma

pytestmark = pytest.mark.slow


def test_select_by_gamma_ranks_and_caps():
    gamma = [0.5, 3.0, 1.2, 8.0, float("nan"), 2.5]
    assert select_by_gamma(gamma, 2.0).tolist() == [3, 1, 5]
    assert select_by_gamma(gamma, 2.0, max_selected=2).tolist() == [3, 1]
    assert select_by_gamma(gamma, 2.0, gamma_ceiling=5.0).tolist() == [1, 5]
    assert select_by_gamma(gamma, 10.0).tolist() == []


@pytest.fixture(scope="module")
def tiny_md_potential(aiida_profile):
    """The MD tests' stable toy potential with its active set (crystal cells)."""
    from pathlib import Path

    from aiida_bzs.data.ace_potential import AcePotentialData

    md = Path(__file__).resolve().parent.parent / "fixtures" / "md"
    return AcePotentialData.get_or_create(md / "tiny.yaml", yace=md / "tiny.yace", asi=md / "tiny.asi")


@pytest.fixture(scope="module")
def learning_node(ace_training_set, tiny_md_potential, bzs_code, pseudo_family):
    from aiida.engine import run_get_node

    from aiida_bzs.common.codes import pace_plugin_dir
    from aiida_bzs.workflows.active_learning import ActiveLearningWorkChain

    if not (pace_plugin_dir() / "paceplugin.so").is_file():
        pytest.skip("pair_style pace plugin not built; run ./setup.sh")

    overrides = {"max_generations": 2, "gamma_threshold": 1.0, "max_selected": 1, "per_family": 1,
                 "continue_from_previous": False,
                 "fit_parameters": {"backend": {"evaluator": "pyace", "parallel_mode": "serial"}, "max_iterations": 5}}
    builder = ActiveLearningWorkChain.get_builder_from_protocol(
        ace_training_set, bzs_code("pacemaker"), bzs_code("pw"), protocol="fast", overrides=overrides,
        lammps_code=bzs_code("lmp", with_mpi=False), pseudo_family=pseudo_family.label,
        initial_potential=tiny_md_potential, activeset_code=bzs_code("pace_activeset"))
    builder.label_overrides = {"kpoints_distance": 50.0}  # Γ only, as the fixture dataset
    _, node = run_get_node(builder)
    return node


def test_builder_records_every_number_and_refuses_typos(ace_training_set, bzs_code):
    from aiida_bzs.workflows.active_learning import ActiveLearningWorkChain
    from aiida_bzs.workflows.protocols import ProtocolOverrideError

    builder = ActiveLearningWorkChain.get_builder_from_protocol(
        ace_training_set, bzs_code("pacemaker"), bzs_code("pw"), protocol="fast",
        overrides={"max_selected": 7, "explore": {"rss": {"count": 1}}})
    settings = builder.settings.get_dict()
    assert settings["max_selected"] == 7 and settings["explore"]["rss"]["count"] == 1
    assert settings["md_families"]["nvt_melt"]["temperatures"] == [4000.0]  # the preset's, recorded
    for typo in ({"max_selectd": 7}, {"explore": {"rss": {"counts": 1}}}):
        with pytest.raises(ProtocolOverrideError):
            ActiveLearningWorkChain.get_builder_from_protocol(ace_training_set, bzs_code("pacemaker"),
                                                             bzs_code("pw"), protocol="fast", overrides=typo)


def test_two_generations_history(learning_node, ace_training_set, tiny_md_potential):
    assert learning_node.is_finished_ok, learning_node.exit_message
    summary = learning_node.outputs.summary.get_dict()
    assert summary["n_generations"] == 2
    assert summary["stop_reason"].startswith("generation limit")
    gens = learning_node.outputs.generations
    # generation 0: the given potential, now with its active set, on the initial dataset less the test set
    assert gens.gen_0_potential.md5 == tiny_md_potential.md5 and gens.gen_0_potential.has_active_set
    test_set = learning_node.outputs.test_set
    assert len(test_set) == 3  # test_fraction 0.2 of 15
    assert len(gens.gen_0_training_set) == len(ace_training_set) - len(test_set)
    # generation 1: candidates with γ, ≤ 2 selected, labelled by pw.x, merged, refitted
    gamma = gens.gen_1_max_gamma.get_array("max_gamma")
    assert len(gamma) == len(gens.gen_1_candidates) > 0
    selection = gens.gen_1_selection.get_dict()
    assert len(selection["selected_indices"]) == 1
    assert min(selection["selected_gamma"]) > 1.0
    labelled = gens.gen_1_labelled
    assert labelled.labelled and len(labelled) == len(gens.gen_1_selected)
    assert len(gens.gen_1_training_set) == len(gens.gen_0_training_set) + len(labelled)
    assert gens.gen_1_potential.md5 != tiny_md_potential.md5 and gens.gen_1_potential.has_active_set
    assert learning_node.outputs.potential.uuid == gens.gen_1_potential.uuid
    assert summary["generations"][1]["test_rmse_energy"] > 0


def test_md_families_come_from_lammps(learning_node):
    """The three MD families are explored in LAMMPS and carry their config_type."""
    from aiida.orm import WorkflowNode

    gens = learning_node.outputs.generations
    families = gens.gen_1_candidates.config_types
    assert {"nvt_melt", "melt_quench", "high_temperature", "rss"} <= set(families)
    sampling = [n for n in learning_node.called if isinstance(n, WorkflowNode) and n.process_label == "MdSamplingWorkChain"]
    assert len(sampling) == 1 and sampling[0].is_finished_ok
    runs = {c.process_label for c in sampling[0].called_descendants}
    assert "LammpsCalculation" in runs
    selected = gens.gen_1_selection.get_dict()["selected_config_types"]
    assert len(selected) == len(set(selected))  # at most one per family


def test_fixed_test_set_is_never_trained_on(learning_node):
    """One test set for every generation, disjoint from every training set, and a learning curve."""
    from aiida_bzs.analysis.learning_curve import overlap

    test_set = learning_node.outputs.test_set
    gens = learning_node.outputs.generations
    for g in (0, 1):
        assert not overlap(gens[f"gen_{g}_training_set"].get_arrays(), test_set.get_arrays())
    fits = [n for n in learning_node.called if n.process_label == "FitAceWorkChain"]
    assert fits and all(f.inputs.test_set.uuid == test_set.uuid for f in fits)
    curve = learning_node.outputs.learning_curve.curve
    assert curve.get_array("generation").tolist() == [0, 1]
    assert (curve.get_array("rmse_energy") > 0).all()
    table = learning_node.outputs.learning_curve.table.get_dict()
    assert set(table["generations"][0]["per_family"]) == set(test_set.config_types)


def test_overlapping_test_set_is_refused(ace_training_set, fitted_potential, bzs_code):
    """A test set that shares structures with the training set stops the launch, naming the fix."""
    from aiida.engine import run_get_node

    from aiida_bzs.workflows.active_learning import ActiveLearningWorkChain

    builder = ActiveLearningWorkChain.get_builder()
    builder.training_set = ace_training_set
    builder.test_set = ace_training_set.subset([0, 1, 2]).store()
    builder.initial_potential = fitted_potential
    builder.pacemaker_code = bzs_code("pacemaker")
    builder.pw_code = bzs_code("pw")
    with pytest.raises(ValueError, match="shares 3 of its 3 structures"):
        run_get_node(builder)


def test_unknown_md_family_is_refused(ace_training_set, fitted_potential, bzs_code):
    from aiida.engine import run_get_node

    from aiida_bzs.workflows.active_learning import ActiveLearningWorkChain

    builder = ActiveLearningWorkChain.get_builder()
    builder.training_set = ace_training_set
    builder.initial_potential = fitted_potential
    builder.pacemaker_code = bzs_code("pacemaker")
    builder.pw_code = bzs_code("pw")
    builder.md_families = {"nvt_melting": {}}
    with pytest.raises(ValueError, match="unknown MD training families"):
        run_get_node(builder)


def test_history_is_queryable(learning_node):
    """Every potential of the loop is reachable from the workchain in the provenance graph."""
    from aiida import orm

    from aiida_bzs.data.ace_potential import AcePotentialData

    query = orm.QueryBuilder()
    query.append(orm.WorkflowNode, filters={"id": learning_node.pk}, tag="al")
    query.append(AcePotentialData, with_incoming="al", edge_filters={"label": {"like": "generations__%"}},
                 project=["uuid"])
    assert len(query.all()) == 2


def test_selection_stops_when_nothing_extrapolates(ace_training_set):
    """No candidate above the γ threshold: no `selected` output, so the loop stops there."""
    import numpy as np
    from aiida import orm

    from aiida_bzs.calculations.functions.active_learning import select_candidates

    gamma = orm.ArrayData()
    gamma.set_array("max_gamma", np.linspace(0.2, 0.9, len(ace_training_set)))
    result = select_candidates(ace_training_set, gamma, orm.Dict({"gamma_threshold": 1.0, "max_selected": 3}))
    assert "selected" not in result
    assert result["summary"]["n_above_threshold"] == 0
    result = select_candidates(ace_training_set, gamma, orm.Dict({"gamma_threshold": 0.5, "max_selected": 3}))
    assert len(result["selected"]) == 3 and result["summary"]["selected_gamma"][0] == pytest.approx(0.9)


def test_cli_learn_refuses_zero_generations(ace_training_set, bzs_code):
    from click.testing import CliRunner

    from aiida_bzs.cli import cmd_root

    codes = ["--pacemaker-code", str(bzs_code("pacemaker").pk), "--pw-code", str(bzs_code("pw").pk)]
    result = CliRunner().invoke(cmd_root, ["learn", str(ace_training_set.pk), "--generations", "0", "--no-md", *codes])
    assert result.exit_code != 0
    assert "max_generations must be >= 1" in str(result.exception) + result.output
