"""``LammpsCalculation`` (``bzs.lammps``): one MD or minimisation stage with ``pair_style pace``.

Our own CalcJob rather than aiida-lammps: the potential is an :class:`AcePotentialData` written
under its real ``.yace`` name (pair_pace rejects aiida-lammps's ``potential.dat``), a stage is one
validated description (ensemble, temperature ramp, pressure, steps, timestep, damping, dumps),
stages chain through nodes (final structure + velocities), and a walltime stop restarts from a
LAMMPS restart file in the parent folder. See docs/md.md.
"""

from __future__ import annotations

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_bzs.analysis.density import mass_density
from aiida_bzs.md.programme import MdInputError, normalise_stage
from aiida_bzs.analysis.md_sanity import SanityInputError, halt_commands, normalise_sanity
from aiida_bzs.calculations import lammps_input as li
from aiida_bzs.common.structure_nodes import STRUCTURE_TYPES, atoms_from_structure, summarise_structure
from aiida_bzs.data.ace_potential import AcePotentialData

#: ``timer timeout`` is set to this fraction of ``max_wallclock_seconds`` (so LAMMPS stops
#: cleanly, writing its final files, before the scheduler kills it).
TIMEOUT_FRACTION = 0.9
#: Keys of the optional ``settings`` Dict (technical knobs that do not change the physics).
SETTINGS_KEYS = ("neighbour", "restart_file", "restart_interval", "gamma_in_dump")
STDOUT = "lammps.out"
#: Resources of a run that names none: one rank on one machine (protocols/lammps_base.yaml sets them
#: for the work chains).
DEFAULT_RESOURCES = {"num_machines": 1, "num_mpiprocs_per_machine": 1}


def mpi_ranks(resources: dict | None) -> int:
    """Total MPI ranks that ``resources`` ask for (1 when they do not say)."""
    resources = dict(resources or {})
    if resources.get("tot_num_mpiprocs"):
        return int(resources["tot_num_mpiprocs"])
    return int(resources.get("num_machines", 1) or 1) * int(resources.get("num_mpiprocs_per_machine", 1) or 1)


def mpi_problem(code, options) -> str | None:
    """The code cannot run the requested ranks (see :func:`aiida_bzs.common.codes.mpi_code_problem`)."""
    from aiida_bzs.common.codes import mpi_code_problem

    return mpi_code_problem(code, mpi_ranks((options or {}).get("resources")))


def validate_parameters(value, _):
    """The stage description must pass :func:`normalise_stage`."""
    if value is None:
        return None
    try:
        normalise_stage(value.get_dict())
    except MdInputError as exc:
        return str(exc)
    return None


def validate_settings(value, _):
    """Only known keys; neighbour overrides are positive numbers."""
    if value is None:
        return None
    settings = value.get_dict()
    unknown = sorted(set(settings) - set(SETTINGS_KEYS))
    if unknown:
        return f"unknown settings {unknown}; allowed: {list(SETTINGS_KEYS)}"
    neighbour = settings.get("neighbour", {})
    bad = sorted(set(neighbour) - set(li.NEIGHBOUR_DEFAULTS))
    if bad:
        return f"unknown neighbour settings {bad}; allowed: {sorted(li.NEIGHBOUR_DEFAULTS)}"
    if any(float(v) < 0 for v in neighbour.values()):
        return f"neighbour settings must be >= 0, got {neighbour}"
    return None


def validate_sanity(value, _):
    """Known keys and usable thresholds (see :mod:`aiida_bzs.analysis.md_sanity`)."""
    if value is None:
        return None
    try:
        normalise_sanity(value.get_dict())
    except SanityInputError as exc:
        return str(exc)
    return None


def sanity_settings(inputs, atoms) -> dict:
    """The stage's sanity thresholds with the reference density (g/cm³) filled in from its structure."""
    settings = normalise_sanity(inputs.sanity.get_dict() if "sanity" in inputs else None)
    if settings["reference_density"] is None:
        settings["reference_density"] = mass_density(atoms)
    return settings


def validate_inputs(inputs, _):
    """Cross-checks: the potential covers the structure; velocities fit; a restart has a parent."""
    settings = inputs["settings"].get_dict() if "settings" in inputs else {}
    potential = inputs.get("potential")
    if settings.get("gamma_in_dump") and potential is not None and not potential.has_active_set:
        return ("settings.gamma_in_dump needs a potential with an active set (.asi): "
                "run pace_activeset first, or leave γ to the grade job")
    structure, potential = inputs.get("structure"), inputs.get("potential")
    summary = summarise_structure(structure) if structure is not None else None
    if summary is not None and potential is not None:
        try:
            li.lammps_species(sorted(summary.elements), potential.elements)
        except ValueError as exc:
            return str(exc)
    velocities = inputs.get("velocities")
    if velocities is not None and summary is not None:
        if "velocities" not in velocities.get_arraynames():
            return "the velocities ArrayData needs an array named 'velocities' (Å/ps)"
        shape = velocities.get_shape("velocities")
        if tuple(shape) != (summary.n_atoms, 3):
            return f"velocities have shape {shape}, the structure has {summary.n_atoms} atoms"
    settings = inputs.get("settings")
    if settings is not None and settings.get("restart_file") and "parent_folder" not in inputs:
        return "settings.restart_file needs a parent_folder (the remote folder of the stopped run)"
    return mpi_problem(inputs.get("code"), inputs.get("metadata", {}).get("options", {}))


class LammpsCalculation(CalcJob):
    """One LAMMPS stage (``nvt``/``npt``/``nve`` MD or ``minimise``) with an ACE potential.

    Units: temperature K, pressure bar, timestep and damping fs, lengths Å, energies eV,
    velocities Å/ps, density g/cm³.
    """

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input("structure", valid_type=STRUCTURE_TYPES,
                   help="Starting structure (Å): StructureData or, for 10⁵–10⁶ atoms, LargeStructureData.")
        spec.input("potential", valid_type=AcePotentialData, help="ACE potential (its .yace is used).")
        spec.input("parameters", valid_type=orm.Dict, validator=validate_parameters,
                   help="The stage: see aiida_bzs.md.programme.normalise_stage.")
        spec.input("velocities", valid_type=orm.ArrayData, required=False,
                   help="Array 'velocities' (Å/ps) per site, kept from the previous stage.")
        spec.input("settings", valid_type=orm.Dict, required=False, validator=validate_settings,
                   help="neighbour (skin Å, one, page, every, delay), restart_file, restart_interval (steps).")
        spec.input("parent_folder", valid_type=orm.RemoteData, required=False,
                   help="Remote folder of a stopped run whose restart file (settings.restart_file) continues.")
        spec.input("sanity", valid_type=orm.Dict, required=False, validator=validate_sanity,
                   help="MD sanity thresholds (aiida_bzs.analysis.md_sanity.DEFAULT_SANITY, which apply "
                        "without this input): temperature runaway, density window, energy drift, fix halt.")
        spec.inputs.validator = validate_inputs
        options = spec.inputs["metadata"]["options"]
        options["parser_name"].default = "bzs.lammps"
        options["resources"].default = dict(DEFAULT_RESOURCES)
        options["input_filename"].default = li.INPUT
        options["output_filename"].default = STDOUT

        spec.output("structure", valid_type=STRUCTURE_TYPES, required=False,
                    help="Final structure (Å): a LargeStructureData when the input was one or above "
                         "LARGE_STRUCTURE_ATOMS atoms, else a StructureData.")
        spec.output("velocities", valid_type=orm.ArrayData, required=False, help="Final velocities (Å/ps).")
        spec.output("trajectory", valid_type=orm.TrajectoryData, required=False, help="Dumped frames.")
        spec.output("gamma", valid_type=orm.ArrayData, required=False,
                    help="With settings.gamma_in_dump: γ of every dumped frame computed by LAMMPS "
                         "(step, max_gamma, mean_gamma, fraction_above_2, fraction_above_5).")
        spec.output("thermo", valid_type=orm.ArrayData, required=False,
                    help="step, time ps, temperature K, pressure bar, energies eV, volume Å³, density g/cm³.")
        spec.output("results", valid_type=orm.Dict, required=False, help="Final values, timings, failure report.")
        spec.default_output_node = "results"

        # < 400: the run itself went wrong (rerunning may help), so the node is never reused from the cache
        spec.exit_code(301, "ERROR_OUTPUT_LOG_MISSING", invalidates_cache=True,
                       message="LAMMPS wrote no log: it did not start ({detail}).")
        spec.exit_code(302, "ERROR_OUTPUT_FINAL_MISSING", invalidates_cache=True,
                       message="LAMMPS finished but wrote no final.data.")
        spec.exit_code(310, "ERROR_LAMMPS", invalidates_cache=True,
                       message="LAMMPS stopped with an error: {message}")
        spec.exit_code(320, "ERROR_NEIGHBOUR_OVERFLOW", invalidates_cache=True,
                       message="Neighbour list overflow: raise neigh_modify one/page (settings.neighbour).")
        spec.exit_code(350, "ERROR_INTERRUPTED", invalidates_cache=True,
                       message="LAMMPS stopped without finishing and without an error (killed?); "
                               "periodic restart files may continue it.")
        # >= 400: a reproducible result of the inputs (kept in the cache)
        spec.exit_code(400, "ERROR_OUT_OF_WALLTIME",
                       message="The wall-time limit stopped the run at step {step}; final.restart continues it.")
        spec.exit_code(500, "ERROR_MINIMISATION_NOT_CONVERGED",
                       message="The minimisation stopped on '{criterion}' before reaching its tolerance.")
        spec.exit_code(501, "ERROR_MINIMISATION_STALLED",
                       message="The minimisation stopped on '{criterion}': no further step lowers the energy "
                               "(final max force {force_max} eV/Å); its structure is the result.")
        spec.exit_code(510, "ERROR_ATOMS_TOO_CLOSE",
                       message="Simulation failed: atoms closer than {threshold} Å (frame {frame}, step {step}).")
        spec.exit_code(511, "ERROR_LOST_ATOMS", message="Simulation failed: atoms were lost ({detail}).")
        # MD sanity (analysis/md_sanity.py): the run is unphysical although no two atoms met
        spec.exit_code(520, "ERROR_TEMPERATURE_RUNAWAY",
                       message="Stage {stage}: temperature runaway at {time:.3f} ps (step {step}): {detail}.")
        spec.exit_code(521, "ERROR_DENSITY_OUT_OF_WINDOW",
                       message="Stage {stage}: density left its window at {time:.3f} ps (step {step}): {detail}.")
        spec.exit_code(522, "ERROR_ENERGY_DRIFT",
                       message="Stage {stage}: energy drift at {time:.3f} ps (step {step}): {detail}.")

    def prepare_for_submission(self, folder):
        """Write structure.data, potential.yace and input.lammps; retrieve log, final data, dump."""
        stage = normalise_stage(self.inputs.parameters.get_dict())
        settings = self.inputs.settings.get_dict() if "settings" in self.inputs else {}
        atoms = atoms_from_structure(self.inputs.structure)
        species = li.lammps_species(atoms.get_chemical_symbols(), self.inputs.potential.elements)
        velocities = self.inputs.velocities.get_array("velocities") if "velocities" in self.inputs else None
        restart_file = settings.get("restart_file") if "parent_folder" in self.inputs else None

        with folder.open(li.DATA, "w") as handle:
            handle.write(li.data_file(atoms, species, velocities))
        with folder.open(li.POTENTIAL, "wb") as handle:
            handle.write(self.inputs.potential.get_content("yace"))
        gamma = bool(settings.get("gamma_in_dump")) and stage["ensemble"] != "minimise"
        if gamma:  # pair_style pace/extrapolation reads the B-basis .yaml and its active set
            for name, kind in ((li.POTENTIAL_YAML, "yaml"), (li.ACTIVE_SET, "asi")):
                with folder.open(name, "wb") as handle:
                    handle.write(self.inputs.potential.get_content(kind))
        walltime = self.inputs.metadata.options.get("max_wallclock_seconds")
        script = li.input_script(
            stage, species,
            restart_file=restart_file,
            has_velocities=velocities is not None,
            neighbour=settings.get("neighbour"),
            restart_interval=settings.get("restart_interval", li.RESTART_INTERVAL),
            timeout_s=TIMEOUT_FRACTION * walltime if walltime else None,
            halt=halt_commands(stage, sanity_settings(self.inputs, atoms), None,
                               new_velocities=velocities is None and restart_file is None),
            gamma=gamma,
        )
        with folder.open(li.INPUT, "w") as handle:
            handle.write(script)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        # the log holds everything the screen would: no second copy on stdout
        codeinfo.cmdline_params = ["-in", li.INPUT, "-log", li.LOG, "-screen", "none", "-nocite"]
        codeinfo.stdout_name = STDOUT

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.retrieve_list = [li.LOG, li.FINAL_DATA, STDOUT]  # stdout: only start-up failures
        calcinfo.retrieve_temporary_list = [li.DUMP]
        if restart_file:
            parent = self.inputs.parent_folder
            calcinfo.remote_copy_list = [
                (parent.computer.uuid, f"{parent.get_remote_path()}/{restart_file}", ".")
            ]
        return calcinfo
