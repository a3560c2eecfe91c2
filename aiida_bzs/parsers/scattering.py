"""Parser of ``ScatteringCalculation``: ``scattering.json`` → XyData curves, partials, metadata.

Reading and checking the file is :func:`aiida_bzs.scripts.scatter_files.read_result` (plain
Python, tested on stored outputs); this class only turns its content into nodes and maps the
runner's error codes to the CalcJob's exit codes.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.parsers import Parser

from ..scripts.scatter_files import RESULT_FILENAME, ScatterFileError, read_result

#: runner error code → CalcJob exit code label
ERROR_EXIT_CODES = {
    "INVALID_STRUCTURE": "ERROR_INVALID_STRUCTURE",
    "UNKNOWN_ELEMENT": "ERROR_UNKNOWN_ELEMENT",
    "INVALID_PARAMETERS": "ERROR_INVALID_PARAMETERS",
    "DEVICE_UNAVAILABLE": "ERROR_DEVICE_UNAVAILABLE",
    "OUT_OF_MEMORY": "ERROR_OUT_OF_MEMORY",
    "INTERNAL_ERROR": "ERROR_RUNNER_INTERNAL",
}


def intensity_unit(radiation: str) -> str:
    """Unit of I(Q) per structure: electrons² for X-rays, fm² for neutrons."""
    return "electrons^2" if radiation == "xray" else "fm^2"


def curves_to_nodes(payload: dict) -> dict[str, orm.Data]:
    """Build the output nodes (unstored) from a successful :func:`read_result` payload."""
    curves, meta = payload["curves"], payload["metadata"]
    norm = meta.get("normalisation", "conventional")

    def xy(x_key, x_unit, y, y_name, y_unit):
        x_name = "Q" if x_key == "q" else "r"
        node = orm.XyData(curves[x_key], [y], x_name=x_name, x_units=x_unit, y_names=[y_name], y_units=[y_unit])
        node.base.attributes.set("normalisation", norm)
        return node

    nodes = {
        "iq": xy("q", "1/Å", curves["iq"], "I", intensity_unit(meta.get("radiation", "xray"))),
        "sq": xy("q", "1/Å", curves["sq"], "S", "dimensionless"),
        "fq": xy("q", "1/Å", curves["fq"], "F", "1/Å"),
        "gr": xy("r", "Å", curves["gr"], "G", "1/Å^2"),
    }
    if payload["partials"]:
        arrays = orm.ArrayData()
        arrays.set_array("q", curves["q"])
        arrays.set_array("r", curves["r"])
        for name, partial in payload["partials"].items():
            for key, values in partial.items():
                arrays.set_array(f"{name.replace('-', '_')}_{key}", np.asarray(values))
        arrays.base.attributes.set("pairs", sorted(payload["partials"]))
        arrays.base.attributes.set("normalisation", norm)
        nodes["partials"] = arrays
    if payload.get("direct"):
        direct = payload["direct"]
        node = orm.XyData(direct["r"], [direct["gr"]], x_name="r", x_units="Å", y_names=["G"], y_units=["1/Å^2"])
        node.base.attributes.set("normalisation", norm)
        nodes["gr_direct"] = node
    nodes["output_parameters"] = orm.Dict(meta)
    return nodes


class ScatteringParser(Parser):
    """Turn the runner's JSON result into output nodes or a named exit code."""

    def parse(self, **kwargs):
        """Parse ``scattering.json`` from the retrieved folder."""
        names = self.retrieved.base.repository.list_object_names()
        if RESULT_FILENAME not in names:
            return self.exit_codes.ERROR_OUTPUT_MISSING.format(filename=RESULT_FILENAME)
        text = self.retrieved.base.repository.get_object_content(RESULT_FILENAME)
        try:
            payload = read_result(text, RESULT_FILENAME)
        except ScatterFileError as exc:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=str(exc))
        if payload["status"] == "error":
            error = payload["error"]
            label = ERROR_EXIT_CODES.get(error["code"], "ERROR_RUNNER_INTERNAL")
            if payload.get("metadata"):
                self.out("output_parameters", orm.Dict({**payload["metadata"], "error": error}))
            return getattr(self.exit_codes, label).format(message=error["message"])
        for label, node in curves_to_nodes(payload).items():
            self.out(label, node)
        for warning in payload["metadata"].get("warnings", []):
            self.logger.warning(warning)
        return None
