"""Fitting parameters and the checks that refuse a fit before pacemaker starts."""

from __future__ import annotations

import pytest

from aiida_bzs.common.pacemaker_input import (
    DEFAULT_FIT_PARAMETERS,
    FitParameterError,
    build_input_yaml,
    validate_fit_parameters,
)


def test_defaults_fill_and_input_yaml_layout():
    params = validate_fit_parameters({"cutoff": 6, "max_iterations": 7, "ladder": {"step": 0.2}})
    assert params["cutoff"] == 6.0
    fresh = build_input_yaml(params, ["Zr", "Ba", "S"], "train.pckl.gzip")
    assert fresh["potential"]["elements"] == ["Ba", "S", "Zr"]
    assert fresh["potential"]["bonds"]["ALL"]["rcut"] == 6.0
    content = build_input_yaml(params, ["Zr", "Ba", "S"], "train.pckl.gzip", "test.pckl.gzip", "init.yaml")
    assert content["potential"] == {"filename": "init.yaml"}  # default: refit the initial potential
    extend = build_input_yaml({**params, "initial_potential_mode": "extend"}, ["Ba"], "t", None, "init.yaml")
    assert extend["potential"]["initial_potential"] == "init.yaml"
    assert extend["potential"]["functions"]["ALL"]["nradmax_by_orders"] == params["functions"]["nradmax_by_orders"]
    assert content["data"] == {"filename": "train.pckl.gzip", "test_filename": "test.pckl.gzip"}
    assert "test_filename" not in extend["data"]
    assert content["fit"]["maxiter"] == 7
    assert content["fit"]["ladder_step"] == 0.2 and content["fit"]["ladder_type"] == "power_order"
    assert content["backend"]["evaluator"] == DEFAULT_FIT_PARAMETERS["backend"]["evaluator"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cutof": 5.0}, "unknown fitting parameter 'cutof'"),
        ({"cutoff": -1}, "'cutoff' must be a positive number"),
        ({"loss": {"kappa": 1.5}}, "'loss.kappa'"),
        ({"embedding": {"ndensity": 2, "fs_parameters": [1, 1]}}, "2 numbers per density"),
        ({"functions": {"nradmax_by_orders": [5, 2], "lmax_by_orders": [0]}}, "same length"),
        ({"functions": {"lmax_by_orders": [1, 2, 1]}}, "must start with 0"),
        ({"optimizer": "Adam"}, "'optimizer' must be one of"),
        ({"max_iterations": 0}, "'max_iterations'"),
        ({"ladder": {"step": 1.5}}, "'ladder.step'"),
        ({"backend": {"evaluator": "gpu"}}, "'backend.evaluator'"),
        ({"elements": "BaZrS"}, "'elements' must be a list"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(FitParameterError, match=message.replace("(", r"\(").replace(".", r"\.")):
        validate_fit_parameters(params)


def test_protocols_are_valid():
    from aiida_bzs.workflows.protocols import get_protocol, list_protocols

    for name in list_protocols("fit"):
        params = validate_fit_parameters(get_protocol("fit", name)["parameters"])
        assert params["cutoff"] > 0
    stringent = validate_fit_parameters(get_protocol("fit", "stringent")["parameters"])
    assert stringent["cutoff"] == pytest.approx(7.2)
    assert stringent["embedding"]["ndensity"] == 6
    assert stringent["radial_basis"]["radbase"] == "SBessel"
    assert len(stringent["functions"]["nradmax_by_orders"]) == 5  # ranks 1..5 = up to 6-body


# -- checks against the dataset (need a profile for TrainingSetData) ---------------------------
def test_dataset_missing_declared_element(ace_training_set):
    from aiida_bzs.data.training_set import TrainingSetData
    from aiida_bzs.common.fit_checks import FitInputError, check_fit_inputs

    no_zr = [a for a in ace_training_set.to_atoms() if "Zr" not in a.get_chemical_symbols()]
    assert not no_zr  # every fixture structure has Zr: build a Ba–S only set instead
    images = ace_training_set.to_atoms()
    ba_s = []
    for atoms in images[:3]:
        keep = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s != "Zr"]
        sub = atoms[keep]
        from ase.calculators.singlepoint import SinglePointCalculator

        sub.calc = SinglePointCalculator(sub, energy=-1.0 * len(sub), forces=atoms.get_forces()[keep])
        ba_s.append(sub)
    subset = TrainingSetData.from_atoms(ba_s, reference_energies=ace_training_set.reference_energies)
    with pytest.raises(FitInputError, match=r"has no \['Zr'\], an element the potential declares"):
        check_fit_inputs(subset, {"elements": ["Ba", "S", "Zr"]})


def test_cutoff_below_shortest_distance(ace_training_set):
    from aiida_bzs.common.fit_checks import FitInputError, check_fit_inputs

    with pytest.raises(FitInputError, match="smaller than the shortest interatomic distance"):
        check_fit_inputs(ace_training_set, {"cutoff": 1.5, "radial_basis": {"dcut": 0.01}})
    assert check_fit_inputs(ace_training_set, {"cutoff": 5.0})["cutoff"] == 5.0


def test_empty_basis_refused(ace_training_set):
    """pacemaker would build 0 functions (2 per element over 3 elements' blocks) and crash."""
    from aiida_bzs.common.fit_checks import FitInputError, check_fit_inputs

    with pytest.raises(FitInputError, match="the basis has no function"):
        check_fit_inputs(ace_training_set, {"functions": {"number_of_functions_per_element": 2}})


def test_missing_reference_energies(ace_training_set):
    from aiida_bzs.common.fit_checks import FitInputError, check_fit_inputs
    from aiida_bzs.data.training_set import TrainingSetData

    bare = TrainingSetData.from_atoms(ace_training_set.to_atoms()[:4])
    with pytest.raises(FitInputError, match="no isolated-atom reference energy"):
        check_fit_inputs(bare, {})


def test_calcjob_refuses_before_submission(ace_training_set, bzs_code):
    """The CalcJob's input validator stops an element mismatch before anything runs."""
    from aiida.engine import run_get_node

    from aiida_bzs.calculations.pacemaker import PacemakerCalculation

    builder = PacemakerCalculation.get_builder()
    builder.code = bzs_code("pacemaker")
    builder.training_set = ace_training_set
    builder.parameters = {"elements": ["Ba", "Zr"]}
    with pytest.raises(ValueError, match=r"holds \['S'\], not among the potential's elements"):
        run_get_node(builder)


def test_fit_workchain_refuses_too_small_dataset(ace_training_set, bzs_code):
    """Fewer structures than the protocol's split needs: refused at launch, no fit started."""
    from aiida.engine import run_get_node

    from aiida_bzs.workflows.fit import FitAceWorkChain

    tiny = ace_training_set.subset([0, 1, 2])
    builder = FitAceWorkChain.get_builder()
    builder.code = bzs_code("pacemaker")
    builder.training_set = tiny
    builder.protocol = "fast"
    with pytest.raises(ValueError, match="leave no test structure|for training after the test split"):
        run_get_node(builder)
