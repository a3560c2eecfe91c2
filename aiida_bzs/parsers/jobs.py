"""Parsers of the ``aiida-bzs-job`` CalcJobs: ``result.json`` / ``result.npz`` → nodes.

The runner (:mod:`aiida_bzs.scripts.job`) writes plain files; here they become the outputs the
calcfunctions used to return, so callers see the same nodes whether a result came from the
daemon (small inputs, old graphs) or from a job.
"""

from __future__ import annotations

import io
import json

import numpy as np
from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from ..training import dataset as ds
from ..analysis.ace_parity import DEFINITION
from ..analysis.extrapolation import RELIABLE_GAMMA
from ..data.large_structure import LargeStructureData, LargeStructureError
from ..data.training_set import TrainingSetData
from ..scripts import job as runner

#: runner error code → exit code label of the CalcJob
ERROR_EXIT_CODES = {"INVALID_INPUT": "ERROR_INVALID_INPUT", "OUT_OF_MEMORY": "ERROR_OUT_OF_MEMORY",
                    "INTERNAL": "ERROR_RUNNER_INTERNAL"}


class RunnerParser(Parser):
    """Reads ``result.json`` (and ``result.npz``); maps runner errors to exit codes."""

    def read_result(self):
        """(summary dict, arrays dict) of a successful run, or the exit code to return."""
        files = self.retrieved.base.repository.list_object_names()
        if runner.RESULT_JSON not in files:
            return self.exit_codes.ERROR_OUTPUT_MISSING.format(filename=runner.RESULT_JSON)
        try:
            result = json.loads(self.retrieved.base.repository.get_object_content(runner.RESULT_JSON))
        except ValueError as exc:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=str(exc))
        if "error" in result:
            label = ERROR_EXIT_CODES.get(result["error"].get("code"), "ERROR_RUNNER_INTERNAL")
            return self.exit_codes[label].format(message=result["error"].get("message", "?"))
        arrays: dict[str, np.ndarray] = {}
        if runner.RESULT_NPZ in files:
            try:
                data = self.retrieved.base.repository.get_object_content(runner.RESULT_NPZ, mode="rb")
                with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                    arrays = {name: npz[name] for name in npz.files}
            except (OSError, ValueError) as exc:
                return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=f"{runner.RESULT_NPZ}: {exc}")
        summary = dict(result.get("summary", {}))
        summary["job"] = {k: result[k] for k in ("wall_time_s", "peak_memory_mb") if k in result}
        return summary, arrays

    def parse(self, **kwargs):
        """Read the result, then :meth:`build_outputs` → ``self.out``."""
        read = self.read_result()
        if isinstance(read, ExitCode):  # an ExitCode is a NamedTuple: test it first
            return read
        outputs = self.build_outputs(*read)
        if isinstance(outputs, ExitCode):
            return outputs
        for name, node in outputs.items():
            self.out(name, node)
        return None

    def build_outputs(self, summary: dict, arrays: dict) -> dict[str, orm.Data] | ExitCode:
        """The output nodes of one task (or an exit code when a file is missing or unusable)."""
        raise NotImplementedError

    def retrieved_file(self, filename: str) -> orm.SinglefileData | ExitCode:
        """A retrieved file as a ``SinglefileData``, or ERROR_OUTPUT_MISSING naming it."""
        if filename not in self.retrieved.base.repository.list_object_names():
            return self.exit_codes.ERROR_OUTPUT_MISSING.format(filename=filename)
        content = self.retrieved.base.repository.get_object_content(filename, mode="rb")
        return orm.SinglefileData(io.BytesIO(content), filename=filename)


class ExtrapolationGradeParser(RunnerParser):
    """``gamma`` (ArrayData per frame, ``per_atom`` when written, ``step`` for trajectories) and ``summary``."""

    def build_outputs(self, summary, arrays):
        node = orm.ArrayData()
        for name, values in arrays.items():
            node.set_array(name, values)
        calc_inputs = self.node.inputs
        if "trajectory" in calc_inputs:
            node.set_array("step", np.asarray(calc_inputs.trajectory.get_stepids(), dtype=int))
        node.base.attributes.set("reliable_gamma", RELIABLE_GAMMA)
        return {"gamma": node, "summary": orm.Dict(summary)}


class ParityParser(RunnerParser):
    """``parity`` arrays, ``metrics`` and the ``parity_plot`` PNG."""

    def build_outputs(self, summary, arrays):
        node = orm.ArrayData()
        for name, values in arrays.items():
            node.set_array(name, values)
        node.base.attributes.set("units", {"energy": "eV/atom (cohesive)", "forces": "eV/Å"})
        node.base.attributes.set("config_types", summary.get("config_types", []))
        metrics = dict(summary["metrics"])
        metrics.setdefault("definition", DEFINITION)
        metrics["job"] = summary.get("job", {})
        png = self.retrieved.base.repository.get_object_content(runner.PARITY_PNG, mode="rb")
        plot = orm.SinglefileData(io.BytesIO(png), filename=runner.PARITY_PNG)
        return {"parity": node, "metrics": orm.Dict(metrics), "parity_plot": plot}


class StructureAnalysisParser(RunnerParser):
    """One node per analysis payload: ``density`` (Dict), the rest ArrayData with attributes."""

    def build_outputs(self, summary, arrays):
        from ..calculations.functions.analysis import payload_node

        out = {}
        for name, spec in summary["outputs"].items():
            data = {key.split("/", 1)[1]: value for key, value in arrays.items() if key.split("/", 1)[0] == name}
            out[name] = payload_node((spec["kind"], spec["attributes"], data))
        return out


class ExplorationParser(RunnerParser):
    """``candidates`` (TrainingSetData) and ``max_gamma``."""

    def build_outputs(self, summary, arrays):
        packed = {key.split("/", 1)[1]: value for key, value in arrays.items() if key.startswith("candidates/")}
        gamma = orm.ArrayData()
        gamma.set_array("max_gamma", arrays["max_gamma"])
        gamma.base.attributes.set("summary", summary)
        return {"candidates": TrainingSetData.from_arrays({k: packed[k] for k in ds.PER_ATOM + ds.PER_STRUCTURE}),
                "max_gamma": gamma}


class PolycrystalParser(RunnerParser):
    """``structure`` (LargeStructureData with the per-atom ``grain`` array, straight from the
    runner's arrays: no ``StructureData``), ``report`` (Dict) and ``atomsk`` (the grains' file)."""

    def build_outputs(self, summary, arrays):
        missing = [k for k in ("cell", "pbc", "numbers", "positions", "grain") if k not in arrays]
        if missing:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=f"{runner.RESULT_NPZ} lacks {missing}")
        try:
            structure = LargeStructureData.from_arrays(arrays["cell"], arrays["positions"], numbers=arrays["numbers"],
                                                       pbc=arrays["pbc"], arrays={"grain": arrays["grain"]})
        except LargeStructureError as exc:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=f"{runner.RESULT_NPZ}: {exc}")
        if summary.get("n_atoms") != structure.n_atoms:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(
                message=f"the report counts {summary.get('n_atoms')} atoms, {runner.RESULT_NPZ} holds {structure.n_atoms}")
        atomsk = self.retrieved_file(runner.POLYCRYSTAL_ATOMSK)
        if isinstance(atomsk, ExitCode):
            return atomsk
        return {"structure": structure, "report": orm.Dict(summary), "atomsk": atomsk}


class InterfaceAnalysisParser(RunnerParser):
    """``summary`` (Dict), per-atom ``arrays`` (ArrayData) and the ``plots`` PNGs."""

    def build_outputs(self, summary, arrays):
        node = orm.ArrayData()
        for name, values in arrays.items():
            node.set_array(name, values)
        node.base.attributes.set("units", {"zr_s_length": "Å", "gamma": "dimensionless"})
        node.base.attributes.set("parameters", summary.get("parameters", {}))
        out = {"summary": orm.Dict(summary), "arrays": node}
        plots = {"interfaces": runner.INTERFACES_PNG, "slice_grain": runner.SLICE_GRAIN_PNG}
        if "gamma" in arrays:
            plots["slice_gamma"] = runner.SLICE_GAMMA_PNG
        for name, filename in plots.items():
            plot = self.retrieved_file(filename)
            if isinstance(plot, ExitCode):
                return plot
            out[f"plots.{name}"] = plot
        return out


class DatasetMapParser(RunnerParser):
    """``map`` (ArrayData: embedding, config types; the summary as attributes) and the ``plot`` PNG."""

    def build_outputs(self, summary, arrays):
        missing = [k for k in ("embedding", "config_type") if k not in arrays]
        if missing:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=f"{runner.RESULT_NPZ} lacks {missing}")
        node = orm.ArrayData()
        for name, values in arrays.items():
            node.set_array(name, values)
        for key, value in summary.items():
            node.base.attributes.set(key, value)
        plot = self.retrieved_file(runner.DATASET_MAP_PNG)
        if isinstance(plot, ExitCode):
            return plot
        return {"map": node, "plot": plot}


class PhononsParser(RunnerParser):
    """``phonons`` (ArrayData), ``summary`` (Dict) and the ``plot`` PNG."""

    def build_outputs(self, summary, arrays):
        missing = [k for k in ("band_distance", "band_frequency", "dos_frequency", "dos") if k not in arrays]
        if missing:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=f"{runner.RESULT_NPZ} lacks {missing}")
        node = orm.ArrayData()
        for name, values in arrays.items():
            node.set_array(name, values)
        node.base.attributes.set("path", summary.get("path", []))
        node.base.attributes.set("units", summary.get("units", {}))
        plot = self.retrieved_file(runner.PHONONS_PNG)
        if isinstance(plot, ExitCode):
            return plot
        return {"phonons": node, "summary": orm.Dict(summary), "plot": plot}
