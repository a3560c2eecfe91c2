"""``ScatteringCalculation`` (``bzs.scattering``): I(Q), S(Q), F(Q), G(r) of a structure.

A CalcJob, so the same node can run on the local CPU or on a remote GPU computer (a code for
``aiida-bzs-scatter`` set up there, ``parameters.device = 'cuda'``). The structure comes as a
StructureData or, for 10⁵–10⁶ atoms, as the runner's XYZ file (``structure_file``, made by the
calcfunction ``structure_to_xyz``), which aiida-core does not have to decode at every poll. The runner calls
debyecalculator (finite particle: **the cell is ignored**, a periodic box scatters as a brick
with surfaces) or the periodic mode; see :mod:`aiida_bzs.scripts.scatter`.

Outputs are conventional Faber–Ziman curves unless ``normalisation = 'debyecalculator'`` (half of
them, debyecalculator's own): ``iq`` (per structure; X-ray in electrons², neutron in fm²),
``sq``, ``fq`` (Å⁻¹), ``gr`` (Å⁻²) as XyData, ``partials`` (ArrayData), ``gr_direct`` (periodic
mode, histogram G(r)) and ``output_parameters`` (versions, device, timings, pairs/s).
"""

from __future__ import annotations

import json

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from ..analysis.errors import AnalysisInputError
from ..scattering.formfactors import check_elements
from ..scattering.params import resolve_partials, validate_parameters
from ..common.structure_nodes import STRUCTURE_TYPES, structure_n_atoms
from ..data.large_structure import LargeStructureData
from ..scripts.scatter_files import PARAMETERS_FILENAME, RESULT_FILENAME, STRUCTURE_FILENAME, write_xyz

STDOUT_FILENAME = "aiida.out"


def structure_arrays(structure: orm.StructureData | LargeStructureData) -> tuple[list[str], list]:
    """Element symbol and Cartesian position (Å) of every site, read straight from the attributes
    (fast for 10⁵–10⁶ sites) or a ``LargeStructureData``'s arrays; raises for alloy or vacancy
    kinds (no single form factor)."""
    if isinstance(structure, LargeStructureData):
        atoms = structure.get_ase()
        return atoms.get_chemical_symbols(), atoms.positions
    kinds = {kind.name: kind for kind in structure.kinds}
    odd = [k.name for k in kinds.values() if k.is_alloy or k.has_vacancies]
    if odd:
        raise AnalysisInputError(f"kinds {odd} are alloys or have vacancies; scattering needs one element per site")
    sites = structure.base.attributes.get("sites", [])
    return [kinds[site["kind_name"]].symbol for site in sites], [site["position"] for site in sites]


def structure_symbols(structure: orm.StructureData | LargeStructureData) -> list[str]:
    """Element symbol of every site (see :func:`structure_arrays`)."""
    return structure_arrays(structure)[0]


def validate_structure(structure: orm.StructureData | LargeStructureData, _) -> str | None:
    """Port validator: a non-empty structure of plain elements."""
    if isinstance(structure, LargeStructureData):
        return None  # at least one atom of known elements by construction
    if not structure_n_atoms(structure):
        return "the structure is empty: it has no sites to scatter from"
    try:
        structure_symbols(structure)
    except AnalysisInputError as exc:
        return str(exc)
    return None


def validate_parameters_port(parameters: orm.Dict, _) -> str | None:
    """Port validator: known keys, sane ranges (see :func:`validate_parameters`)."""
    try:
        validate_parameters(parameters.get_dict())
    except AnalysisInputError as exc:
        return str(exc)
    return None


def validate_structure_file(node: orm.SinglefileData, _) -> str | None:
    """Port validator: a runner XYZ file with at least one atom (per its ``n_atoms`` attribute)."""
    if node.base.attributes.get("n_atoms", 1) < 1:
        return "the structure file holds no atoms"
    return None


def _structure_facts(inputs) -> tuple[list[str], list[bool]] | None:
    """(elements, pbc) of whichever structure input is given; None if unknown (plain file)."""
    if "structure" in inputs:
        structure = inputs["structure"]
        if isinstance(structure, LargeStructureData):
            return structure.elements, list(structure.pbc)
        if not structure_n_atoms(structure):
            return None
        return sorted(set(structure_symbols(structure))), list(structure.pbc)
    node = inputs["structure_file"]
    elements = node.base.attributes.get("elements", None)
    return (elements, node.base.attributes.get("pbc", [False] * 3)) if elements else None


def validate_inputs(inputs, _) -> str | None:
    """One structure input; known elements, partials present, periodic mode needs a cell."""
    if ("structure" in inputs) == ("structure_file" in inputs):
        return "give exactly one of `structure` (StructureData) and `structure_file` (runner XYZ file)"
    try:
        params = validate_parameters(inputs["parameters"].get_dict() if "parameters" in inputs else {})
        facts = _structure_facts(inputs)
        if facts is None:
            return None
        elements, pbc = facts
        check_elements(elements, params["radiation"])
        resolve_partials(params["partials"], elements)
    except AnalysisInputError as exc:
        return str(exc)
    if params["mode"] == "periodic" and not all(pbc):
        return "mode 'periodic' needs a structure periodic in all three directions (pbc = True, True, True)"
    return None


class ScatteringCalculation(CalcJob):
    """Debye-equation (or periodic) scattering of one structure by ``aiida-bzs-scatter``."""

    @classmethod
    def define(cls, spec):
        """Inputs: structure, parameters (Dict); outputs: iq, sq, fq, gr, partials, output_parameters."""
        super().define(spec)
        spec.input("structure", valid_type=STRUCTURE_TYPES, required=False, validator=validate_structure,
                   help="Atoms to scatter from (Å). The cell is ignored unless mode is 'periodic'.")
        spec.input("structure_file", valid_type=orm.SinglefileData, required=False, validator=validate_structure_file,
                   help="The same as the runner's extended XYZ (calcfunction bzs.scattering.structure_to_xyz): "
                   "cheap to poll for 10⁵–10⁶ atoms, where a StructureData input is decoded at every poll.")
        spec.input("parameters", valid_type=orm.Dict, required=False, validator=validate_parameters_port,
                   help="Q/r grids (Å⁻¹, Å), biso (Å²), qdamp, lorch, radiation, device, dtype, partials, "
                   "normalisation, mode; see aiida_bzs.scattering.params.DEFAULTS.")
        spec.inputs.validator = validate_inputs
        options = spec.inputs["metadata"]["options"]
        options["resources"].default = {"num_machines": 1, "num_mpiprocs_per_machine": 1}
        options["withmpi"].default = False
        options["parser_name"].default = "bzs.scattering"

        spec.output("iq", valid_type=orm.XyData, help="I(Q) per structure vs Q (Å⁻¹)")
        spec.output("sq", valid_type=orm.XyData, help="S(Q), dimensionless")
        spec.output("fq", valid_type=orm.XyData, help="F(Q) = Q[S(Q)-1], Å⁻¹")
        spec.output("gr", valid_type=orm.XyData, help="G(r), Å⁻², vs r (Å)")
        spec.output("partials", valid_type=orm.ArrayData, required=False,
                    help="requested element-pair curves: q, r, <A>_<B>_iq/_sq/_fq/_gr")
        spec.output("gr_direct", valid_type=orm.XyData, required=False,
                    help="periodic mode: G(r) from the pair histogram, no Q window (Å⁻²)")
        spec.output("output_parameters", valid_type=orm.Dict,
                    help="versions, device, dtype, timings (s), pairs/s, peak GPU memory (bytes)")
        spec.default_output_node = "output_parameters"

        spec.exit_code(300, "ERROR_OUTPUT_MISSING", invalidates_cache=True,
                       message="the result file {filename} was not retrieved: the runner did not finish")
        spec.exit_code(301, "ERROR_OUTPUT_CORRUPT", invalidates_cache=True,
                       message="the result file could not be read: {message}")
        spec.exit_code(302, "ERROR_RUNNER_INTERNAL", invalidates_cache=True,
                       message="the runner failed unexpectedly: {message}")
        spec.exit_code(310, "ERROR_DEVICE_UNAVAILABLE", invalidates_cache=True,
                       message="the requested device is not available: {message}")
        spec.exit_code(311, "ERROR_OUT_OF_MEMORY", invalidates_cache=True,
                       message="out of memory: {message}")
        spec.exit_code(410, "ERROR_INVALID_STRUCTURE", message="invalid structure: {message}")
        spec.exit_code(411, "ERROR_UNKNOWN_ELEMENT", message="no form factor for an element: {message}")
        spec.exit_code(412, "ERROR_INVALID_PARAMETERS", message="invalid parameters: {message}")

    def prepare_for_submission(self, folder):
        """Write ``structure.xyz`` (Å, with the cell for the periodic mode; copied when given as a
        file) and ``parameters.json``."""
        params = self.inputs.parameters.get_dict() if "parameters" in self.inputs else {}
        local_copy_list = []
        if "structure" in self.inputs:
            structure = self.inputs.structure
            symbols, positions = structure_arrays(structure)
            write_xyz(folder.get_abs_path(STRUCTURE_FILENAME), symbols, positions, structure.cell, structure.pbc)
        else:
            node = self.inputs.structure_file
            local_copy_list.append((node.uuid, node.filename, STRUCTURE_FILENAME))
        with folder.open(PARAMETERS_FILENAME, "w", encoding="utf-8") as handle:
            json.dump(params, handle, indent=1)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [
            "--structure", STRUCTURE_FILENAME, "--parameters", PARAMETERS_FILENAME, "--output", RESULT_FILENAME,
        ]
        codeinfo.stdout_name = STDOUT_FILENAME

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = local_copy_list
        calcinfo.retrieve_list = [RESULT_FILENAME, STDOUT_FILENAME]
        return calcinfo
