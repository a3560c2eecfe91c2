"""``PacemakerCalculation`` (``bzs.pacemaker``): fit an ACE potential with the real ``pacemaker``.

The CalcJob writes pacemaker's ``input.yaml`` from checked fitting parameters (see
:mod:`aiida_bzs.common.pacemaker_input`) and the training (and test) set as gzip-pickled
DataFrames, runs ``pacemaker input.yaml`` and retrieves the log, the per-iteration metrics and
the fitted B-basis potential. A fit stopped before the end (killed at the wall time, out of
memory) returns the potential of its last iteration as ``interim_potential``, from which
``PacemakerBaseWorkChain`` continues it. Inputs that cannot work (elements missing from the data, a cutoff
below the shortest interatomic distance, a .yace where the .yaml is needed) are refused before
the job is submitted, because pacemaker would only fail after minutes of TensorFlow set-up.
"""

from __future__ import annotations

import io

import yaml
from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from ..common.pacemaker_input import (
    FitParameterError,
    build_input_yaml,
    config_type_factors,
    continuable_potential_text,
    validate_fit_parameters,
)
from ..data.ace_potential import AcePotentialData
from ..data.training_set import TrainingSetData

__all__ = ("PacemakerCalculation", "write_training_pickle")

#: the DataFrame column whose factors pacemaker multiplies into each structure's loss weights
WEIGHT_FACTOR_COLUMN = "w_factor"


class PacemakerCalculation(CalcJob):
    """Fit an ACE potential (pacemaker) to a DFT training set (energies eV, forces eV/Å).

    Outputs the fitted ``potential`` (B-basis .yaml + C-tilde .yace), final train/test RMSE in
    ``metrics`` (energy meV/atom, forces meV/Å) and the per-iteration history in
    ``metrics_history``.
    """

    _DEFAULT_INPUT_FILE = "input.yaml"
    _DEFAULT_OUTPUT_FILE = "pacemaker.out"  # stdout
    TRAIN_FILE = "train.pckl.gzip"
    TEST_FILE = "test.pckl.gzip"
    INITIAL_POTENTIAL_FILE = "initial_potential.yaml"
    POTENTIAL_FILE = "output_potential.yaml"
    LOG_FILE = "log.txt"
    METRICS_FILE = "metrics.txt"
    TEST_METRICS_FILE = "test_metrics.txt"
    STDERR_FILE = "pacemaker.err"
    #: written when a fit cycle ends (carries ``_fit_cycles``, see ``continuable_potential_text``)
    INTERIM_BEST_CYCLE_FILE = "interim_potential_best_cycle.yaml"
    #: rewritten after every optimizer iteration (python-ace ``save_interim_potential_callback``:
    #: ``interim_potential_<fit cycle>.yaml``); read by the parser, kept only as ``interim_potential``
    INTERIM_ITERATION_PATTERN = "interim_potential_[0-9]*.yaml"
    RETRIEVE = (
        LOG_FILE, METRICS_FILE, TEST_METRICS_FILE, POTENTIAL_FILE, INTERIM_BEST_CYCLE_FILE,
        "cycle_metrics.txt", "test_cycle_metrics.txt", "ladder_metrics.txt", "test_ladder_metrics.txt",
    )

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input("training_set", valid_type=TrainingSetData,
                   help="DFT-labelled structures to fit (energies eV, forces eV/Å).")
        spec.input("test_set", valid_type=TrainingSetData, required=False,
                   help="Held-out structures; pacemaker then reports test RMSE every iteration.")
        spec.input("parameters", valid_type=orm.Dict, serializer=orm.to_aiida_type,
                   validator=_validate_parameters,
                   help="Fitting parameters (see aiida_bzs.common.pacemaker_input.DEFAULT_FIT_PARAMETERS).")
        spec.input("initial_potential", valid_type=AcePotentialData, required=False,
                   help="Potential to continue from (its B-basis .yaml is the starting point): refitted "
                        "('initial_potential_mode' continue) or grown ladder-wise (extend). Its elements must "
                        "be the dataset's.")
        spec.inputs.validator = _validate_inputs
        options = spec.inputs["metadata"]["options"]
        options["resources"].default = {"num_machines": 1, "num_mpiprocs_per_machine": 1}
        options["withmpi"].default = False
        options["parser_name"].default = "bzs.pacemaker"
        options["input_filename"].default = cls._DEFAULT_INPUT_FILE
        options["output_filename"].default = cls._DEFAULT_OUTPUT_FILE

        spec.output("potential", valid_type=AcePotentialData,
                    help="The fitted potential (.yaml and .yace); also returned when not converged.")
        spec.output("metrics", valid_type=orm.Dict,
                    help="Final RMSE (energy meV/atom, forces meV/Å), iterations, convergence, timings (s).")
        spec.output("metrics_history", valid_type=orm.ArrayData,
                    help="Per-iteration loss and RMSE (energy meV/atom, forces meV/Å), train and test.")
        spec.output("interim_potential", valid_type=AcePotentialData, required=False,
                    help="Only when the fit stopped without its final potential (killed at the wall time, out "
                         "of memory): the potential of its last iteration, to continue from.")
        spec.default_output_node = "metrics"

        # < 400: the run itself went wrong (not reproducible, invalidates the cache)
        spec.exit_code(301, "ERROR_OUTPUT_LOG_MISSING", invalidates_cache=True,
                       message="pacemaker's log.txt was not retrieved: the code did not start.")
        spec.exit_code(302, "ERROR_OUTPUT_POTENTIAL_MISSING", invalidates_cache=True,
                       message="output_potential.yaml is missing: pacemaker stopped before saving it.")
        spec.exit_code(304, "ERROR_FIT_INTERRUPTED", invalidates_cache=True,
                       message="pacemaker stopped after {iterations} iterations without writing its final potential "
                               "(killed, e.g. at the wall time); the potential of its last iteration is the output "
                               "interim_potential: continue from it (PacemakerBaseWorkChain does).")
        spec.exit_code(303, "ERROR_OUTPUT_METRICS_MISSING", invalidates_cache=True,
                       message="metrics.txt is missing or has no iteration (with initial_potential_mode "
                               "'extend', pacemaker fits nothing when the target basis is not larger).")
        spec.exit_code(310, "ERROR_TENSORFLOW", invalidates_cache=True,
                       message="TensorFlow failed: {details}")
        spec.exit_code(311, "ERROR_OUT_OF_MEMORY", invalidates_cache=True,
                       message="pacemaker ran out of memory: {details}")
        spec.exit_code(312, "ERROR_PACEMAKER_EXCEPTION", invalidates_cache=True,
                       message="pacemaker stopped with an exception: {details}")
        # >= 400: the inputs or the physics (reproducible; keep the node in the cache)
        spec.exit_code(400, "ERROR_ELEMENTS_MISMATCH",
                       message="the dataset and the potential do not have the same elements: {details}")
        spec.exit_code(410, "ERROR_MAX_ITERATIONS_REACHED",
                       message="the optimizer stopped at max_iterations while the loss was still falling; "
                               "the potential is returned (metrics.converged = False): raise max_iterations.")
        spec.exit_code(411, "ERROR_LOSS_PLATEAUED",
                       message="the loss plateaued at {loss} (relative change {change} over the last {window} "
                               "of {iterations} iterations); more iterations will not help: add data or enlarge "
                               "the basis. The potential is returned (metrics.plateaued = True).")
        spec.exit_code(420, "ERROR_NAN_LOSS",
                       message="the loss became NaN at iteration {iteration}.")

    def prepare_for_submission(self, folder):
        """Write input.yaml, train/test DataFrames (and the initial potential) into ``folder``."""
        params = self.inputs.parameters.get_dict()
        elements = params.get("elements")
        if not elements and "initial_potential" in self.inputs:
            elements = self.inputs.initial_potential.elements
        elements = elements or self.inputs.training_set.elements
        write_training_pickle(self.inputs.training_set, params, folder.get_abs_path(self.TRAIN_FILE))
        test_file = None
        if "test_set" in self.inputs:
            write_training_pickle(self.inputs.test_set, params, folder.get_abs_path(self.TEST_FILE),
                                  self.inputs.training_set.reference_energies, test=True)
            test_file = self.TEST_FILE
        initial = None
        if "initial_potential" in self.inputs:
            # without pacemaker's '_fit_cycles' mark, which would make it skip the fit
            text = continuable_potential_text(self.inputs.initial_potential.get_content("yaml").decode())
            folder.create_file_from_filelike(io.BytesIO(text.encode()), self.INITIAL_POTENTIAL_FILE, "wb")
            initial = self.INITIAL_POTENTIAL_FILE
        content = build_input_yaml(params, elements, self.TRAIN_FILE, test_file, initial)
        with folder.open(self.options.input_filename, "w") as handle:
            yaml.safe_dump(content, handle, sort_keys=False)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [self.options.input_filename, "--no-predict"]
        codeinfo.stdout_name = self.options.output_filename
        codeinfo.stderr_name = self.STDERR_FILE

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.retrieve_list = [*self.RETRIEVE, self.options.output_filename, self.STDERR_FILE]
        calcinfo.retrieve_temporary_list = [self.INTERIM_ITERATION_PATTERN]
        return calcinfo


def write_training_pickle(training_set, parameters: dict, path, reference_energies=None, test: bool = False) -> None:
    """pacemaker's DataFrame of ``training_set``; with ``config_type_weights``, a ``w_factor`` column.

    pacemaker multiplies the energy and force weights of its weighting policy by ``w_factor``
    (python-ace ``preparedata.apply_weights``), so the family factors act on top of the uniform
    or energy-based weights; it then renormalises each set. Training factors are normalised to
    mean 1 (see ``config_type_factors``). pacemaker applies the weights to train and test rows
    together, so the test set (``test=True``) needs the column as well: 1 for every structure (its
    loss is only reported; the RMSEs are unweighted).
    """
    from ..training.dataset import write_pacemaker_pickle

    frame = training_set.to_pacemaker_dataframe(reference_energies)
    weights = (parameters or {}).get("config_type_weights") or {}
    if weights:
        frame[WEIGHT_FACTOR_COLUMN] = (1.0 if test else
                                       config_type_factors(list(frame["config_type"]), weights))
    write_pacemaker_pickle(frame, path)


def _validate_parameters(value, _):
    try:
        validate_fit_parameters(value.get_dict() if value is not None else None)
    except FitParameterError as exc:
        return f"invalid fitting parameters: {exc}"


def _validate_inputs(inputs, _):
    """Refuse inputs that cannot give a potential, before anything runs (see check_fit_inputs)."""
    from ..common.fit_checks import FitInputError, check_fit_inputs

    if "training_set" not in inputs or "parameters" not in inputs:
        return None
    try:
        check_fit_inputs(inputs["training_set"], inputs["parameters"].get_dict(),
                         inputs.get("test_set"), inputs.get("initial_potential"))
    except (FitInputError, FitParameterError) as exc:
        return str(exc)
