"""DftLabelWorkChain with the real pw.x on tiny inputs: labels, isolated atoms, caching, failures.

Settings are far too coarse for science (Γ only, 15/120 Ry, 6 Å boxes) but exercise the whole
path: pw.x → PwBaseWorkChain → build_training_set → TrainingSetData → pacemaker DataFrame.
The builder tests at the top run no DFT (a stand-in code that is never executed).
"""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from aiida.manage.caching import enable_caching
from ase import Atoms
from ase.io import read

from aiida_bzs.calculations.functions.structures import to_structure
from aiida_bzs.data.training_set import TrainingSetData
from aiida_bzs.workflows.label import (
    PW_CALCULATION,
    DftLabelWorkChain,
    _protocol_path_parameters,
    default_max_concurrent,
)
from aiida_bzs.workflows.protocols import ProtocolOverrideError, get_protocol

#: Tiny-test pw.x settings: low cutoffs (Ry), Γ only (huge k spacing, Å⁻¹), small atom box (Å).
CHEAP = {"SYSTEM": {"ecutwfc": 15.0, "ecutrho": 120.0}}
GAMMA = 5.0
BOX = 6.0
#: The same as get_builder_from_protocol overrides.
OVERRIDES = {"isolated_atom_box": BOX, "max_concurrent": 3, "pw": {"kpoints_distance": GAMMA, "pw": {"parameters": CHEAP}}}


def cubic_bazrs3(a: float = 4.9) -> Atoms:
    """5-atom cubic perovskite BaZrS3, lattice parameter ``a`` in Å, one S slightly displaced."""
    atoms = Atoms(
        "BaZrS3",
        scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
        cell=[a, a, a],
        pbc=True,
    )
    atoms.positions[2] += [0.05, -0.03, 0.02]  # break symmetry so forces are not all zero
    atoms.info["config_type"] = "crystal"
    return atoms


def s2_dimer(distance: float = 2.0) -> Atoms:
    atoms = Atoms("S2", positions=[(0, 0, 0), (0, 0, distance)], cell=[BOX] * 3, pbc=True)
    atoms.info["config_type"] = "dimer"
    return atoms


def label_builder(code, family, structures=None, **extra):
    """The tiny runs through the builder: every number on the node's ``parameters`` input."""
    builder = DftLabelWorkChain.get_builder_from_protocol(
        code, structures, protocol="fast", overrides=OVERRIDES, pseudo_family=family.label)
    for key, value in extra.items():
        builder[key] = value
    return builder


def label_inputs(code, family, structures, **extra):
    """The protocol path's inputs (YAML read at run time), as active learning passes them."""
    inputs = {
        "structures": structures,
        "code": code,
        "pseudo_family": orm.Str(family.label),
        "protocol": orm.Str("fast"),
        "kpoints_distance": orm.Float(GAMMA),
        "parameter_overrides": orm.Dict(CHEAP),
        "isolated_atom_box": orm.Float(BOX),
        "max_concurrent": orm.Int(3),
    }
    inputs.update(extra)
    return inputs




def test_builder_records_every_number_on_the_node(aiida_profile, stand_in_pw, pseudo_family):
    """Protocol numbers land on the `parameters` input; nothing is left to read from YAML at run time."""
    structure = to_structure(cubic_bazrs3())
    builder = DftLabelWorkChain.get_builder_from_protocol(
        stand_in_pw, {"cubic": structure}, protocol="balanced", pseudo_family=pseudo_family.label, num_mpiprocs=2)
    parameters = builder.parameters.get_dict()
    pw = parameters["pw"]
    assert parameters["protocol"] == "balanced" and parameters["pw_protocol"] == "balanced"
    assert parameters["isolated_atom_box"] == get_protocol("label", "balanced")["isolated_atom_box"]
    assert pw["kpoints_distance"] == get_protocol("pw", "balanced")["kpoints_distance"]
    assert pw["pseudo_family"] == pseudo_family.label
    assert pw["meta_parameters"]["conv_thr_per_atom"] == 1.0e-9
    system = pw["pw"]["parameters"]["SYSTEM"]
    # cutoffs: the family's suggestion for Ba, Zr and S together, as numbers (Ry)
    assert (system["ecutwfc"], system["ecutrho"]) == pseudo_family.get_recommended_cutoffs(
        elements=("Ba", "Zr", "S"), unit="Ry")
    assert system["smearing"] == "cold" and system["degauss"] == 0.01
    options = pw["pw"]["metadata"]["options"]
    assert options["max_wallclock_seconds"] == 3600
    assert options["resources"] == {"num_machines": 1, "num_mpiprocs_per_machine": 2} and options["withmpi"]
    limit = default_max_concurrent(stand_in_pw.computer, 2, get_protocol("label", "balanced")["max_concurrent"])[0]
    assert builder.max_concurrent.value == limit and builder.num_mpiprocs.value == 2
    for legacy in ("protocol", "kpoints_distance", "parameter_overrides", "isolated_atom_box", "pseudo_family"):
        assert legacy not in builder


def test_builder_overrides_and_the_protocol_path_agree(aiida_profile, stand_in_pw, pseudo_family):
    """Overrides replace the protocol's numbers; the protocol path (inputs of active learning) resolves
    its inputs to the same parameters."""
    builder = label_builder(stand_in_pw, pseudo_family)
    parameters = builder.parameters.get_dict()
    assert builder.max_concurrent.value == 3
    assert parameters["isolated_atom_box"] == BOX and parameters["pw"]["kpoints_distance"] == GAMMA
    system = parameters["pw"]["pw"]["parameters"]["SYSTEM"]
    assert (system["ecutwfc"], system["ecutrho"]) == (15.0, 120.0)
    inputs = {key: value for key, value in label_inputs(stand_in_pw, pseudo_family, {}).items() if key != "structures"}
    inputs["num_mpiprocs"] = orm.Int(1)
    resolved = _protocol_path_parameters(inputs)
    assert resolved.pop("max_concurrent") == get_protocol("label", "fast")["max_concurrent"]
    assert resolved["pw"] == parameters["pw"]
    assert resolved["isolated_atom_box"] == BOX


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"kpoints_distance": 0.3}, r"'kpoints_distance'.*\['isolated_atom_box', 'max_concurrent', 'pw'\]"),
        ({"pw": {"kpoints_distanse": 0.3}}, "'pw.kpoints_distanse'"),
        ({"pw": {"meta_parameters": {"conv_thr": 1e-8}}}, "'pw.meta_parameters.conv_thr'"),
        ({"pw": {"pw": {"parameters": {"SYSTEM": {"ecutwf": 30.0}}}}}, "pw.x keyword 'ecutwf'"),
        ({"pw": {"pw": {"parameters": {"SYTEM": {"ecutwfc": 30.0}}}}}, "pw.x namelist 'SYTEM'"),
        ({"pw": {"pw": {"metadata": {"options": {"queue": "big"}}}}}, r"CalcJob option\(s\) \['queue'\]"),
    ],
)
def test_builder_refuses_unknown_overrides(aiida_profile, stand_in_pw, pseudo_family, overrides, match):
    with pytest.raises(ProtocolOverrideError, match=match):
        DftLabelWorkChain.get_builder_from_protocol(stand_in_pw, protocol="fast", overrides=overrides,
                                                    pseudo_family=pseudo_family.label)


def test_protocol_path_refuses_unknown_keywords_at_launch(aiida_profile, stand_in_pw, pseudo_family):
    n_calcs = orm.QueryBuilder().append(orm.CalcJobNode).count()
    structures = {"cubic": to_structure(cubic_bazrs3())}
    bad = {"parameter_overrides": orm.Dict({"SYSTEM": {"ecutwf": 30.0}})}
    with pytest.raises(ValueError, match="pw.x keyword 'ecutwf'"):
        run_get_node(DftLabelWorkChain, **{**label_inputs(stand_in_pw, pseudo_family, structures), **bad})
    with pytest.raises(ValueError, match=r"given with `parameters`"):
        run_get_node(label_builder(stand_in_pw, pseudo_family, structures, protocol=orm.Str("fast")))
    assert orm.QueryBuilder().append(orm.CalcJobNode).count() == n_calcs


@pytest.fixture(scope="module")
def tiny_structures(aiida_profile):
    return {"cubic": to_structure(cubic_bazrs3()).store(), "dimer": to_structure(s2_dimer()).store()}


@pytest.fixture(scope="module")
def first_run(aiida_profile, training_pw_code, pseudo_family, tiny_structures):
    """One labelling run of two structures plus the three isolated atoms, with caching on."""
    code = training_pw_code
    with enable_caching(identifier=PW_CALCULATION):
        results, node = run_get_node(label_builder(code, pseudo_family, tiny_structures))
    return results, node


@pytest.mark.slow
def test_labels_two_structures_and_isolated_atoms(first_run, tiny_structures):
    results, node = first_run
    assert node.is_finished_ok, node.exit_message
    ts = results["training_set"]
    assert len(ts) == 2 and ts.labelled
    assert ts.config_types == {"crystal": 1, "dimer": 1}
    assert results["excluded"].get_dict() == {}
    refs = results["reference_energies"].get_dict()
    assert set(refs) == {"Ba", "Zr", "S"} and all(v < -100 for v in refs.values())
    assert ts.reference_energies == refs
    assert ts.dft_settings["protocol"] == "fast" and ts.dft_settings["ecutwfc"] == 15.0
    assert ts.dft_settings["kpoints_distance"] == GAMMA and ts.dft_settings["isolated_atom_box"] == BOX
    assert ts.dft_settings["overrides"] == CHEAP
    assert node.inputs.parameters["pw"]["kpoints_distance"] == GAMMA  # the numbers are on the node
    # provenance: each label traces back to its input structure
    uuids = {a.info["source_uuid"] for a in ts.to_atoms()}
    assert uuids == {s.uuid for s in tiny_structures.values()}
    assert ts.creator.process_label == "build_training_set"


@pytest.mark.slow
def test_labels_match_pw_outputs_with_ase_units(first_run):
    """Energies/forces are copied exactly from pw.x's outputs; stress converted GPa → eV/Å³, ASE sign."""
    results, node = first_run
    ts = results["training_set"]
    atoms = {a.info["config_type"]: a for a in ts.to_atoms()}
    label_of = {link.link_label: link.node for link in node.base.links.get_outgoing().all()}
    cubic_wc = label_of["label_cubic"]
    assert atoms["crystal"].get_potential_energy() == cubic_wc.outputs.output_parameters["energy"]
    forces = cubic_wc.outputs.output_trajectory.get_array("forces")[-1]
    np.testing.assert_array_equal(atoms["crystal"].get_forces(), forces)
    assert np.abs(forces).max() > 1e-3
    # stress: compare with ASE's own reader of the same pw.x output (independent units and sign)
    calc = sorted(cubic_wc.called, key=lambda n: n.ctime)[-1]
    with calc.outputs.retrieved.as_path() as folder:
        reference = read(folder / "aiida.out", format="espresso-out")
    np.testing.assert_allclose(atoms["crystal"].get_stress(), reference.get_stress(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(atoms["crystal"].get_forces(), reference.get_forces(), rtol=1e-4, atol=1e-6)
    assert atoms["crystal"].get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-3)
    # pacemaker export of the real labels
    df = ts.to_pacemaker_dataframe()
    refs = ts.reference_energies
    expected = atoms["crystal"].get_potential_energy() - (refs["Ba"] + refs["Zr"] + 3 * refs["S"])
    row = df[df.config_type == "crystal"].iloc[0]
    assert row.energy_corrected == pytest.approx(expected, abs=1e-9)
    assert row.energy_corrected < 0  # bound relative to isolated atoms


@pytest.mark.slow
def test_relabelling_reuses_cached_calculations(first_run, aiida_profile, training_pw_code, pseudo_family, tiny_structures):
    """Same structures, same settings: every pw.x calculation comes from the cache; the
    isolated-atom energies are reused without any new calculation."""
    _, first = first_run
    with enable_caching(identifier=PW_CALCULATION):
        results, node = run_get_node(label_builder(training_pw_code, pseudo_family, tiny_structures))
    assert node.is_finished_ok
    calcs = [n for wc in node.called if wc.process_label == "PwBaseWorkChain" for n in wc.called]
    assert len(calcs) == 2  # no isolated-atom jobs this time
    assert all(c.base.caching.is_created_from_cache for c in calcs)
    assert results["reference_energies"].pk == first.outputs.reference_energies.pk
    old = {a.info["source_uuid"]: a.get_potential_energy() for a in first.outputs.training_set.to_atoms()}
    new = {a.info["source_uuid"]: a.get_potential_energy() for a in results["training_set"].to_atoms()}
    assert old == new


@pytest.mark.slow
def test_failed_structure_is_reported_not_dropped(first_run, aiida_profile, training_pw_code, pseudo_family, tiny_structures):
    """One structure limited to a single SCF step fails; the other (given as an unlabelled
    TrainingSet this time, so a cache hit) is still labelled. Through the protocol path: its
    cache hit on the builder path's calculation shows both give pw.x the same input."""
    unlabelled = TrainingSetData.from_atoms([s2_dimer()]).store()
    with enable_caching(identifier=PW_CALCULATION):
        results, node = run_get_node(
            DftLabelWorkChain,
            **label_inputs(
                training_pw_code,
                pseudo_family,
                {"broken": tiny_structures["cubic"]},
                training_set=unlabelled,
                structure_overrides={"broken": orm.Dict({"ELECTRONS": {"electron_maxstep": 1}})},
                max_iterations=orm.Int(1),
            ),
        )
    assert node.is_finished_ok
    excluded = results["excluded"].get_dict()
    assert list(excluded) == ["broken"]
    assert excluded["broken"]["exit_status"] != 0
    assert excluded["broken"]["structure_uuid"] == tiny_structures["cubic"].uuid
    assert excluded["broken"]["exit_message"]
    assert len(results["training_set"]) == 1
    assert results["training_set"].config_types == {"dimer": 1}
    source = orm.load_node(results["training_set"].to_atoms()[0].info["source_uuid"])
    assert source.creator.process_label == "training_set_structures"
    children = node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()
    dimer_calcs = [c for link in children if link.link_label != "label_broken" for c in link.node.called
                   if c.process_label == "PwCalculation"]
    assert dimer_calcs and all(c.base.caching.is_created_from_cache for c in dimer_calcs)


@pytest.mark.slow
def test_bad_training_set_input_is_refused(aiida_profile, training_pw_code, pseudo_family):
    overlapping = TrainingSetData.from_atoms([s2_dimer(), s2_dimer(0.2)]).store()
    with pytest.raises(ValueError, match="training_set structure 1"):
        run_get_node(DftLabelWorkChain, **label_inputs(training_pw_code, pseudo_family, {}, training_set=overlapping))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: {}, "no structures"),
        (lambda: {"bad": to_structure(Atoms("Ba2", positions=[(0, 0, 0), (0.3, 0, 0)], cell=[6] * 3, pbc=True))}, "'bad'.*0.300 Å"),
        (lambda: {"alien": to_structure(Atoms("BaO", positions=[(0, 0, 0), (2.5, 0, 0)], cell=[6] * 3, pbc=True))}, "'alien'.*'O'"),
    ],
)
def test_bad_input_is_refused_before_any_dft(aiida_profile, training_pw_code, pseudo_family, make, match):
    n_calcs = orm.QueryBuilder().append(orm.CalcJobNode).count()
    with pytest.raises(ValueError, match=match):
        run_get_node(DftLabelWorkChain, **label_inputs(training_pw_code, pseudo_family, make()))
    assert orm.QueryBuilder().append(orm.CalcJobNode).count() == n_calcs
