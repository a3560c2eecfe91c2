"""Fitting parameters and the checks that refuse a fit before pacemaker starts."""

from __future__ import annotations

import numpy as np
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


#: the study's hyperparameters, read from the YAML headers of its two published potentials
#: (issue #11 §3; ../shared/toolchain.md)
STUDY = {
    "cutoff": 7.17, "radbase": "SBessel", "nradbase": 13, "nradmax": 6, "lmax": 3, "ndensity": 6,
    "npot": "FinnisSinclairShiftedScaled",
    "fs_parameters": [1, 1, 1, 0.5, 1, 0.892, 1, 0.573, 1, 0.446, 1, 0.024],
    "r_in": 0.0, "core_repulsion": [0.0, 0.0],
}


def test_stringent_is_the_study_recipe():
    """The stringent protocol, the input.yaml it produces and the basis pyace builds from it."""
    from pyace.multispecies_basisextension import create_multispecies_basis_config

    from aiida_bzs.workflows.protocols import get_protocol

    p = validate_fit_parameters(get_protocol("fit", "stringent")["parameters"])
    assert p["cutoff"] == STUDY["cutoff"]
    assert p["radial_basis"]["radbase"] == STUDY["radbase"]
    assert p["functions"]["nradmax_by_orders"][0] == STUDY["nradbase"]
    assert max(p["functions"]["nradmax_by_orders"][1:]) == STUDY["nradmax"]
    assert max(p["functions"]["lmax_by_orders"]) == STUDY["lmax"]
    assert len(p["functions"]["nradmax_by_orders"]) == 5  # ranks 1..5 = up to 6-body
    assert p["embedding"] == {"npot": STUDY["npot"], "fs_parameters": STUDY["fs_parameters"],
                              "ndensity": STUDY["ndensity"]}
    assert p["repulsion"]["r_in"] == STUDY["r_in"] and p["repulsion"]["core_repulsion"] == STUDY["core_repulsion"]

    content = build_input_yaml(p, ["Ba", "Zr", "S"], "train.pckl.gzip", "test.pckl.gzip")
    bonds, emb = content["potential"]["bonds"]["ALL"], content["potential"]["embeddings"]["ALL"]
    assert bonds["rcut"] == STUDY["cutoff"] and bonds["radbase"] == STUDY["radbase"]
    assert bonds["r_in"] == STUDY["r_in"] and bonds["core-repulsion"] == STUDY["core_repulsion"]
    assert emb["fs_parameters"] == STUDY["fs_parameters"] and emb["ndensity"] == STUDY["ndensity"]
    assert "repulsion" not in content["fit"]  # no ZBL attached after the fit
    # what pacemaker builds from that input (pyace, ~4 s): the header of the fitted .yaml
    basis = create_multispecies_basis_config(content["potential"])
    unary = [b for b in basis.funcspecs_blocks if len(b.block_name.split()) == 1]
    assert {b.block_name for b in unary} == {"Ba", "S", "Zr"}
    for block in basis.funcspecs_blocks:
        if len(block.block_name.split()) > 2:
            continue  # ternary blocks have functions, no bond of their own
        assert block.rcutij == STUDY["cutoff"] and block.radbase == STUDY["radbase"]
        assert block.r_in == STUDY["r_in"] and list(block.core_rep_parameters) == STUDY["core_repulsion"]
    for block in unary:
        assert (block.nradbaseij, block.nradmaxi, block.lmaxi) == (STUDY["nradbase"], STUDY["nradmax"], STUDY["lmax"])
        assert block.ndensityi == STUDY["ndensity"] and list(block.fs_parameters) == STUDY["fs_parameters"]


def test_core_repulsion_only_where_asked():
    from aiida_bzs.workflows.protocols import get_protocol

    for name in ("fast", "balanced"):
        content = build_input_yaml(get_protocol("fit", name)["parameters"], ["Ba"], "t")
        assert content["fit"]["repulsion"] == "auto"
        assert "r_in" not in content["potential"]["bonds"]["ALL"]
    none = build_input_yaml({"repulsion": None}, ["Ba"], "t")
    assert "repulsion" not in none["fit"] and "core-repulsion" not in none["potential"]["bonds"]["ALL"]
    explicit = build_input_yaml({"repulsion": {"r_in": 1.5, "delta_in": 0.3, "core_repulsion": [100, 5],
                                               "inner_cutoff_type": "distance", "rho_core_cut": 5000}}, ["Ba"], "t")
    bonds = explicit["potential"]["bonds"]["ALL"]
    assert (bonds["r_in"], bonds["delta_in"], bonds["core-repulsion"]) == (1.5, 0.3, [100.0, 5.0])
    assert explicit["potential"]["embeddings"]["ALL"]["rho_core_cut"] == 5000.0
    assert "repulsion" not in explicit["fit"]


@pytest.mark.parametrize(
    ("repulsion", "message"),
    [("zbl", "'repulsion' must be 'auto', null or a mapping"),
     ({"r_inner": 1.0}, "unknown 'repulsion' keys"),
     ({"core_repulsion": [1.0]}, "prefactor, lambda"),
     ({"r_in": 1.0, "delta_in": 2.0}, "must not exceed"),
     ({"inner_cutoff_type": "soft"}, "inner_cutoff_type")],
)
def test_bad_repulsion_is_named(repulsion, message):
    with pytest.raises(FitParameterError, match=message):
        validate_fit_parameters({"repulsion": repulsion})


def test_config_type_factors():
    from aiida_bzs.common.pacemaker_input import config_type_factors, unmatched_weight_keys

    types = ["crystal", "crystal_rattled", "rss", "rss", "dimer"]
    factors = config_type_factors(types, {"rss": 0.5, "crystal*": 2.0})
    assert factors.mean() == pytest.approx(1.0)
    raw = np.array([2.0, 2.0, 0.5, 0.5, 1.0])
    assert factors == pytest.approx(raw / raw.mean())
    assert unmatched_weight_keys({"rss": 1, "liquid": 2, "crys*": 1}, types) == ["liquid"]
    with pytest.raises(FitParameterError, match="matches several"):
        config_type_factors(types, {"crystal": 1.0, "crys*": 3.0})
    with pytest.raises(FitParameterError, match="weight 0"):
        config_type_factors(["rss"], {"rss": 0})
    with pytest.raises(FitParameterError, match="config_type_weights.rss"):
        validate_fit_parameters({"config_type_weights": {"rss": -1}})


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


def test_weights_for_unknown_config_type_refused(ace_training_set, bzs_code):
    """A weight for a family the dataset lacks stops the fit at launch, naming the families."""
    from aiida.engine import run_get_node

    from aiida_bzs.common.fit_checks import FitInputError, check_fit_inputs
    from aiida_bzs.workflows.fit import FitAceWorkChain

    with pytest.raises(FitInputError, match=r"config_type_weights name \['rss'\].*'cubic'"):
        check_fit_inputs(ace_training_set, {"config_type_weights": {"rss": 0.5, "cubic*": 2}})
    builder = FitAceWorkChain.get_builder()
    builder.code = bzs_code("pacemaker")
    builder.training_set = ace_training_set
    builder.protocol = "fast"
    builder.parameters = {"config_type_weights": {"liquid": 2.0}}
    with pytest.raises(ValueError, match=r"name \['liquid'\], which match no structure"):
        run_get_node(builder)


def test_training_pickle_carries_family_weights(ace_training_set, tmp_path):
    """The DataFrame pacemaker reads gets a w_factor column with the normalised family factors."""
    import gzip
    import pickle

    from aiida_bzs.calculations.pacemaker import write_training_pickle

    write_training_pickle(ace_training_set, {"config_type_weights": {"strained": 3.0}}, tmp_path / "w.pckl.gzip")
    with gzip.open(tmp_path / "w.pckl.gzip", "rb") as fh:
        frame = pickle.load(fh)
    strained = frame["config_type"] == "strained"
    assert strained.sum() == 2
    assert frame["w_factor"].mean() == pytest.approx(1.0)
    assert frame.loc[strained, "w_factor"].iloc[0] == pytest.approx(3.0 * frame.loc[~strained, "w_factor"].iloc[0])
    # pacemaker weights train and test rows together: the test set needs the column too (all 1)
    write_training_pickle(ace_training_set, {"config_type_weights": {"strained": 3.0}}, tmp_path / "t.pckl.gzip",
                          test=True)
    with gzip.open(tmp_path / "t.pckl.gzip", "rb") as fh:
        assert (pickle.load(fh)["w_factor"] == 1.0).all()
    write_training_pickle(ace_training_set, {}, tmp_path / "u.pckl.gzip")
    with gzip.open(tmp_path / "u.pckl.gzip", "rb") as fh:
        assert "w_factor" not in pickle.load(fh).columns


def test_filtered_only_and_too_small_stops_before_any_fit(ace_training_set, bzs_code):
    """With only the filtered version asked and too few structures left, nothing can be fitted:
    exit 301 naming what to add, and no pacemaker job was started."""
    from aiida.engine import run_get_node

    from aiida_bzs.calculations.pacemaker import PacemakerCalculation
    from aiida_bzs.workflows.fit import FitAceWorkChain

    builder = FitAceWorkChain.get_builder()
    builder.code = bzs_code("pacemaker")
    builder.activeset_code = bzs_code("pace_activeset")
    builder.training_set = ace_training_set
    builder.protocol = "fast"
    builder.versions = ["filtered"]
    builder.filter = {"max_energy_above_min": 0.5}
    _, node = run_get_node(builder)
    assert node.exit_status == FitAceWorkChain.exit_codes.ERROR_TOO_FEW_STRUCTURES.status == 202
    assert "nothing could be fitted: the filter kept 2 of 15 structures" in node.exit_message
    assert "Add 3 or more low-energy structures" in node.exit_message
    assert not [n for n in node.called_descendants if n.process_class is PacemakerCalculation]


def test_initial_potential_written_continuable(ace_fixtures, ace_training_set, bzs_code, tmp_path, monkeypatch):
    """The job folder (dry run, nothing executed): pacemaker refits the initial potential
    (``potential: {filename: ...}``), without a '_fit_cycles' mark that would make it skip the fit,
    and the per-iteration interim potential is retrieved for the parser."""
    import yaml
    from aiida.engine import run_get_node

    from aiida_bzs.calculations.pacemaker import PacemakerCalculation
    from aiida_bzs.data.ace_potential import AcePotentialData

    text = (ace_fixtures / "pacemaker" / "maxiter" / "output_potential.yaml").read_text()
    marked = tmp_path / "interim_potential_best_cycle.yaml"
    marked.write_text(text.replace("metadata:\n", "metadata:\n  _fit_cycles: 1\n", 1))
    potential = AcePotentialData.get_or_create(marked)
    builder = PacemakerCalculation.get_builder()
    builder.code = bzs_code("pacemaker")
    builder.training_set = ace_training_set
    builder.parameters = {"max_iterations": 3}
    builder.initial_potential = potential
    builder.metadata.dry_run = True
    monkeypatch.chdir(tmp_path)
    _, node = run_get_node(builder)
    folder = next((tmp_path / "submit_test").iterdir())
    content = yaml.safe_load((folder / "input.yaml").read_text())
    assert content["potential"] == {"filename": "initial_potential.yaml"} and content["fit"]["maxiter"] == 3
    written = (folder / "initial_potential.yaml").read_text()
    assert "_fit_cycles" not in written and written == text
    assert node.get_retrieve_temporary_list() == ["interim_potential_[0-9]*.yaml"]
