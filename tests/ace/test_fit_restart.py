"""PacemakerBaseWorkChain: restarts of a pacemaker fit, and the protocol builders.

The real test kills a tiny pacemaker fit mid-run, as a scheduler does at the wall time: the job
script's ``prepend_text`` starts a watchdog that SIGKILLs its own pacemaker child (``pkill -P $$``,
nothing else) once four iterations are in ``metrics.txt``. The calculation retrieves the
per-iteration ``interim_potential_0.yaml`` and the work chain continues the fit from it. The
pyace backend builds no TensorFlow graph, so both runs take seconds. The handlers' logic
(out of memory, bad restarts, unknown overrides) is tested on the stored real runs of
``tests/fixtures/ace/pacemaker`` (see make_pacemaker_outputs.py), without running pacemaker.
"""

from __future__ import annotations

import pytest

#: kill the fresh fit (no initial_potential.yaml in the folder) after 4 iterations (header + rows 0..4); give up after 5 min
WATCHDOG = """\
if [ ! -f initial_potential.yaml ]; then
  ( for i in $(seq 1500); do
      if [ -f interim_potential_0.yaml ] && [ "$(wc -l < metrics.txt)" -ge 6 ]; then
        pkill -KILL -P $$ -x pacemaker; break
      fi
      sleep 0.2
    done ) &
fi"""

MAX_ITERATIONS = 15
#: tiny, fast fit: protocol fast's basis on the pyace backend (no TensorFlow graph: seconds, not minutes)
PYACE_OVERRIDES = {
    "max_iterations": MAX_ITERATIONS,
    "optimizer_options": {"gtol": 1e-14},  # never converges early: the kill comes first
    "backend": {"evaluator": "pyace", "parallel_mode": "serial", "display_step": 1},
}


# -- pure logic -------------------------------------------------------------------------------
def test_halve_batch_size():
    from aiida_bzs.common.pacemaker_input import halve_batch_size

    params = halve_batch_size({"backend": {"evaluator": "tensorpot", "batch_size": 100, "test_batch_size": 30}})
    assert params["backend"]["batch_size"] == 50 and params["backend"]["test_batch_size"] == 15
    assert halve_batch_size({"backend": {"evaluator": "tensorpot", "batch_size": 3}})["backend"]["batch_size"] == 1
    assert halve_batch_size({"backend": {"evaluator": "tensorpot", "batch_size": 1}}) is None


def test_fit_cycles_mark_is_removed(ace_fixtures):
    """pacemaker skips the fit of a potential whose metadata says its fit cycle is done."""
    from aiida_bzs.common.pacemaker_input import continuable_potential_text

    text = (ace_fixtures / "pacemaker" / "maxiter" / "output_potential.yaml").read_text()
    marked = text.replace("metadata:\n", "metadata:\n  _fit_cycles: 1\n", 1)
    assert "_fit_cycles" in marked
    assert continuable_potential_text(marked) == text
    assert continuable_potential_text(text) == text


def test_unknown_override_is_named():
    from aiida_bzs.workflows.fit import protocol_settings
    from aiida_bzs.workflows.pacemaker_base import PacemakerBaseWorkChain
    from aiida_bzs.workflows.protocols import ProtocolOverrideError

    with pytest.raises(ProtocolOverrideError, match=r"'parameters\.cutof'.*'cutoff'"):
        protocol_settings("fast", {"parameters": {"cutof": 6.0}})
    with pytest.raises(ProtocolOverrideError, match=r"'base\.max_iteration'"):
        protocol_settings("fast", {"base": {"max_iteration": 2}})
    with pytest.raises(ProtocolOverrideError, match=r"'pacemaker\.parameters\.kappa'"):
        PacemakerBaseWorkChain.get_protocol_inputs("fast", {"pacemaker": {"parameters": {"kappa": 0.5}}})
    # family names, scipy options and pacemaker's extra backend keys are free; the rest merges
    settings = protocol_settings("stringent", {"parameters": {"config_type_weights": {"rss": 0.5},
                                                              "optimizer_options": {"gtol": 1e-6},
                                                              "backend": {"batch_size": 20}}})
    params = settings["parameters"]
    assert params["config_type_weights"] == {"rss": 0.5} and params["optimizer_options"] == {"gtol": 1e-6}
    assert params["backend"] == {"evaluator": "tensorpot", "batch_size": 20, "display_step": 50}
    assert params["cutoff"] == 7.17 and params["ladder"] == {"step": 0.2, "type": "power_order"}


# -- builders (need a profile) -----------------------------------------------------------------
def test_builder_records_every_number(ace_training_set, bzs_code, monkeypatch):
    """The fit settings come from the builder's inputs alone: no YAML is read at run time."""
    from aiida_bzs.workflows import fit
    from aiida_bzs.workflows.fit import FitAceWorkChain, fit_settings
    from aiida_bzs.workflows.protocols import ProtocolOverrideError

    builder = FitAceWorkChain.get_builder_from_protocol(
        bzs_code("pacemaker"), ace_training_set, protocol="fast",
        overrides={"parameters": {"cutoff": 5.5}, "versions": ["full"], "base": {"max_iterations": 3}})
    assert "protocol" not in builder
    assert builder.parameters["cutoff"] == 5.5 and builder.parameters["max_iterations"] == 10
    assert builder.quality["smoke_test"] is True and builder.min_train_structures.value == 4
    assert builder.base.max_iterations.value == 3 and builder.versions.get_list() == ["full"]

    def no_yaml(*args, **kwargs):
        raise AssertionError("the protocol YAML was read at run time")

    monkeypatch.setattr(fit, "get_protocol", no_yaml)
    settings = fit_settings(builder)
    assert settings["parameters"] == builder.parameters.get_dict()
    assert settings["filter"] == {"max_energy_above_min": 1.0} and settings["split"]["test_fraction"] == 0.2
    assert fit.validate_inputs(builder) is None
    monkeypatch.undo()

    with pytest.raises(ProtocolOverrideError, match="'versoins'"):
        FitAceWorkChain.get_builder_from_protocol(bzs_code("pacemaker"), ace_training_set, protocol="fast",
                                                  overrides={"versoins": ["full"]})


def test_preset_name_and_recorded_builder_give_one_parameter_set(ace_training_set, bzs_code):
    """Active learning names the preset, the campaign's final fit records it: the pacemaker
    parameters must be identical, or the final fit is not the cache hit of learn's last one."""
    from aiida import orm

    from aiida_bzs.workflows.fit import FitAceWorkChain, fit_settings

    recorded = FitAceWorkChain.get_builder_from_protocol(bzs_code("pacemaker"), ace_training_set, protocol="demo")
    named = FitAceWorkChain.get_builder()
    named.protocol = orm.Str("demo")
    assert fit_settings(named)["parameters"] == fit_settings(recorded)["parameters"]


def test_interim_potential_with_other_elements_is_refused(ace_fixtures, ace_training_set, bzs_code):
    """A Ba–Zr potential (the real tensorpot run that ignored S) cannot start a Ba–S–Zr fit."""
    from aiida.engine import run_get_node

    from aiida_bzs.data.ace_potential import AcePotentialData
    from aiida_bzs.workflows.fit import FitAceWorkChain
    from aiida_bzs.workflows.pacemaker_base import PacemakerBaseWorkChain

    ba_zr = AcePotentialData.get_or_create(ace_fixtures / "pacemaker" / "elements_mismatch" / "output_potential.yaml")
    assert ba_zr.elements == ["Ba", "Zr"]
    base = PacemakerBaseWorkChain.get_builder_from_protocol(bzs_code("pacemaker"), ace_training_set, protocol="fast",
                                                            initial_potential=ba_zr)
    with pytest.raises(ValueError, match=r"holds \['S'\], not among the potential's elements \['Ba', 'Zr'\]"):
        run_get_node(base)
    full = FitAceWorkChain.get_builder_from_protocol(bzs_code("pacemaker"), ace_training_set, protocol="fast",
                                                     initial_potential=ba_zr)
    with pytest.raises(ValueError, match=r"holds \['S'\], not among the potential's elements"):
        run_get_node(full)


def _finished_calc(folder, computer, inputs: dict, temporary=None):
    """A finished PacemakerCalculation node whose retrieved files are the stored real run ``folder``,
    parsed by the real parser (outputs linked, exit status set) — what the handlers see.
    ``temporary``: the folder of files retrieved only for the parser (the interim potentials)."""
    from aiida import orm
    from aiida.common.links import LinkType
    from plumpy import ProcessState

    from aiida_bzs.parsers.pacemaker import PacemakerParser

    node = orm.CalcJobNode(computer=computer, process_type="aiida.calculations:bzs.pacemaker")
    node.set_option("resources", {"num_machines": 1, "num_mpiprocs_per_machine": 1})
    node.set_option("output_filename", "pacemaker.out")
    for label, value in inputs.items():
        node.base.links.add_incoming(value.store(), link_type=LinkType.INPUT_CALC, link_label=label)
    node.store()
    retrieved = orm.FolderData()
    for path in folder.iterdir():
        if path.name not in ("input.yaml", "README"):
            retrieved.base.repository.put_object_from_file(str(path), path.name)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label="retrieved")
    retrieved.store()
    parser = PacemakerParser(node)
    exit_code = parser.parse(retrieved_temporary_folder=str(temporary) if temporary else None)
    for label, output in parser.outputs.items():
        output.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label=label)
        output.store()
    node.set_process_state(ProcessState.FINISHED)
    node.set_exit_status(exit_code.status if exit_code else 0)
    node.set_exit_message(exit_code.message if exit_code else None)
    node.seal()
    return node


def _instantiated_chain(code, training_set, parameters: dict):
    """A PacemakerBaseWorkChain instance after ``setup`` (its handlers can be called directly)."""
    from aiida import orm
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    from aiida_bzs.workflows.pacemaker_base import PacemakerBaseWorkChain

    inputs = {"pacemaker": {"code": code, "training_set": training_set, "parameters": orm.Dict(parameters)}}
    process = instantiate_process(get_manager().get_runner(), PacemakerBaseWorkChain, **inputs)
    process.setup()
    return process


def test_out_of_memory_halves_batch_size(ace_fixtures, ace_training_set, bzs_code):
    """The stored run killed for memory (exit 311): the next run gets half the batch size; at 1 it stops."""
    from aiida import orm

    params = {"backend": {"evaluator": "tensorpot", "batch_size": 100, "display_step": 1}, "max_iterations": 5}
    code = bzs_code("pacemaker")
    calc = _finished_calc(ace_fixtures / "pacemaker" / "out_of_memory", code.computer,
                          {"training_set": ace_training_set, "parameters": orm.Dict(params)})
    assert calc.exit_status == 311 and "interim_potential" not in calc.outputs

    chain = _instantiated_chain(code, ace_training_set, params)
    report = chain.handle_out_of_memory(calc)
    assert report.do_break and report.exit_code.status == 0
    assert chain.ctx.inputs.parameters["backend"]["batch_size"] == 50
    assert chain.ctx.inputs.parameters["max_iterations"] == 5
    assert "initial_potential" not in chain.ctx.inputs  # nothing to continue from: a fresh run
    assert chain.handle_interrupted(calc) is None  # the other handlers leave a 311 alone

    at_one = _instantiated_chain(code, ace_training_set, {**params, "backend": {**params["backend"], "batch_size": 1}})
    report = at_one.handle_out_of_memory(calc)
    assert report.exit_code.status == 404 and "batch_size 1" in report.exit_code.message


def test_out_of_memory_mid_fit_continues_from_the_interim_potential(ace_fixtures, ace_training_set, bzs_code,
                                                                     tmp_path):
    """Out of memory after some iterations: half the batch size *and* the interim potential.

    The stored OOM run died building its graph, before any iteration; here the folder of files
    retrieved for the parser also holds an ``interim_potential_0.yaml`` (the real potential of the
    stored ``maxiter`` run in its place), as a run killed for memory mid-fit leaves it."""
    import shutil

    from aiida import orm

    shutil.copy(ace_fixtures / "pacemaker" / "maxiter" / "output_potential.yaml", tmp_path / "interim_potential_0.yaml")
    params = {"backend": {"evaluator": "tensorpot", "batch_size": 100, "display_step": 1}, "max_iterations": 5}
    code = bzs_code("pacemaker")
    calc = _finished_calc(ace_fixtures / "pacemaker" / "out_of_memory", code.computer,
                          {"training_set": ace_training_set, "parameters": orm.Dict(params)}, temporary=tmp_path)
    assert calc.exit_status == 311
    interim = calc.outputs.interim_potential
    assert calc.outputs.metrics["interrupted"] is True

    chain = _instantiated_chain(code, ace_training_set, params)
    report = chain.handle_out_of_memory(calc)
    assert report.do_break and report.exit_code.status == 0
    assert chain.ctx.inputs.initial_potential.uuid == interim.uuid
    parameters = chain.ctx.inputs.parameters.get_dict()
    assert parameters["backend"]["batch_size"] == 50 and parameters["initial_potential_mode"] == "continue"
    assert parameters["max_iterations"] == 5  # no metrics row: no iteration counted as done


def test_killed_before_first_iteration_stops_with_a_reason(ace_fixtures, ace_training_set, bzs_code):
    """The stored run killed after 45 s, still building its graph: no interim potential, nothing to continue."""
    from aiida import orm

    params = {"max_iterations": 5}
    code = bzs_code("pacemaker")
    calc = _finished_calc(ace_fixtures / "pacemaker" / "interrupted", code.computer,
                          {"training_set": ace_training_set, "parameters": orm.Dict(params)})
    assert calc.exit_status == 302
    report = _instantiated_chain(code, ace_training_set, params).handle_interrupted(calc)
    assert report.exit_code.status == 403 and "raise max_wallclock_seconds" in report.exit_code.message


def test_nan_loss_is_not_retried(ace_fixtures, ace_training_set, bzs_code):
    from aiida import orm

    params = {"max_iterations": 5}
    code = bzs_code("pacemaker")
    calc = _finished_calc(ace_fixtures / "pacemaker" / "nan_loss", code.computer,
                          {"training_set": ace_training_set, "parameters": orm.Dict(params)})
    assert calc.exit_status == 420
    report = _instantiated_chain(code, ace_training_set, params).handle_unrecoverable(calc)
    assert report.exit_code.status == 405 and "[420]" in report.exit_code.message


# -- the real kill and continuation -------------------------------------------------------------
@pytest.fixture(scope="module")
def restarted_fit(ace_training_set, bzs_code):
    """(work chain node, [first calc, second calc]): a tiny fit killed after 4 iterations, then continued."""
    from aiida.engine import run_get_node

    from aiida_bzs.calculations.pacemaker import PacemakerCalculation
    from aiida_bzs.workflows.pacemaker_base import PacemakerBaseWorkChain

    builder = PacemakerBaseWorkChain.get_builder_from_protocol(
        bzs_code("pacemaker"), ace_training_set, protocol="fast",
        overrides={"pacemaker": {"parameters": PYACE_OVERRIDES}, "max_iterations": 3},
        options={"prepend_text": WATCHDOG})
    _, node = run_get_node(builder)
    calcs = sorted((n for n in node.called if n.process_class is PacemakerCalculation), key=lambda n: n.pk)
    return node, calcs


@pytest.mark.slow
def test_killed_fit_continues_from_its_interim_potential(restarted_fit):
    node, calcs = restarted_fit
    assert node.is_finished_ok, node.exit_message
    assert len(calcs) == 2, [(c.pk, c.exit_status) for c in calcs]
    killed, continued = calcs
    # the kill: no final potential, the last iteration's potential returned as a node
    assert killed.exit_status == 304, killed.exit_message
    assert "potential" not in killed.outputs
    interim = killed.outputs.interim_potential
    assert interim.elements == ["Ba", "S", "Zr"]
    done = killed.outputs.metrics["n_iterations"]
    assert killed.outputs.metrics["interrupted"] is True and done >= 4  # rows 0..4 of metrics.txt
    # the continuation: the interim potential is its input, with the iterations that remain
    assert continued.inputs.initial_potential.uuid == interim.uuid
    parameters = continued.inputs.parameters.get_dict()
    assert parameters["initial_potential_mode"] == "continue"
    assert parameters["max_iterations"] == MAX_ITERATIONS - done
    assert continued.exit_status in (0, 410, 411), continued.exit_message
    input_yaml = continued.base.repository.get_object_content("input.yaml", mode="r")
    assert "filename: initial_potential.yaml" in input_yaml
    # it started where the killed run stopped (pacemaker's loss at its iteration 0 is the killed
    # run's last loss, up to the iterations it ran after its last metrics line), and went on
    start = continued.outputs.metrics_history.get_array("train_loss")[0]
    stop = killed.outputs.metrics_history.get_array("train_loss")[-1]
    first = killed.outputs.metrics_history.get_array("train_loss")[0]
    assert start <= stop * (1 + 1e-6) and start < first
    # the final potential is the work chain's output
    assert node.outputs.potential.uuid == continued.outputs.potential.uuid
    assert node.outputs.metrics["n_iterations"] > 0
