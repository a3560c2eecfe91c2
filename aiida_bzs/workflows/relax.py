"""``RelaxWorkChain`` (``bzs.relax``): minimise positions, and optionally the cell, with an ACE potential.

``relax_type``: ``positions``; ``cell`` (all cell vectors, ``box/relax tri``); ``volume`` (isotropic);
``normal`` (only the cell vector normal to the plane of a and b: grain boundaries lying in that
plane keep their in-plane lattice of the bulk crystal). Each minimisation is a
:class:`LammpsBaseWorkChain`, which continues a minimisation that ran out of iterations. A cell
relaxation is repeated from its result until the volume changes by less than
``volume_convergence`` (relative) between two runs, because ``box/relax`` converges towards the
reference cell it started from. A cell that leaves the density window of ``sanity`` (a gas or a
collapse) stops with its own exit code; a minimisation that stalls ("linesearch alpha is zero")
or stops making progress is accepted with its stop criterion in ``results``. A potential whose
fit verdict is "unusable" is refused unless ``allow_unusable_potential`` is set.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, while_

from aiida_bzs.md.programme import MIN_DEFAULTS, MdInputError, normalise_stage
from aiida_bzs.analysis.md_sanity import SanityInputError, normalise_sanity
from aiida_bzs.calculations.functions.md import relax_summary
from aiida_bzs.common.structure_nodes import STRUCTURE_TYPES, atoms_from_structure, summarise_structure
from aiida_bzs.data.large_structure import LargeStructureData
from aiida_bzs.data.ace_potential import AcePotentialData

from .lammps_base import (SANITY_EXIT_CODES, STAGE_INPUTS, LammpsBaseWorkChain, define_sanity_exit_codes,
                          fill_run_inputs, potential_gate, run_inputs)
from .protocols import get_protocol, recursive_merge

#: relax_type → LAMMPS ``fix box/relax`` coupling (None: positions only).
RELAX_TYPES = {"positions": None, "cell": "tri", "volume": "iso", "normal": "z"}
#: Off-diagonal cell components (Å) below which a cell counts as orthogonal (written without tilt).
ORTHOGONAL_TOLERANCE = 1e-8
#: Minimiser keys a relaxation takes from its protocol (defaults: ``md.programme.MIN_DEFAULTS``).
MINIMISER_KEYS = ("ftol", "etol", "maxiter", "maxeval", "pressure", "vmax", "dump_interval")


def _default(key: str):
    """The default protocol's value of ``key`` (``protocols/relax.yaml``): the one place of the number."""
    return get_protocol("relax")[key]


def minimisation_stage(relax_type: str, settings: dict, orthogonal: bool = False) -> dict:
    """The minimisation stage for ``relax_type`` with tolerances from ``settings`` (protocol/overrides).

    An orthogonal box is written without tilt factors, and LAMMPS refuses ``box/relax tri`` on it
    ("Cannot specify Pxy/Pxz/Pyz … with non-triclinic box"): ``cell`` then relaxes the three
    lengths independently (``aniso``), which is all an orthorhombic cell has.
    """
    if relax_type not in RELAX_TYPES:
        raise MdInputError(f"relax_type must be one of {sorted(RELAX_TYPES)}, got {relax_type!r}")
    coupling = RELAX_TYPES[relax_type]
    if coupling == "tri" and orthogonal:
        coupling = "aniso"
    stage = {"name": f"relax_{relax_type}", "ensemble": "minimise", "box_relax": coupling}
    for key in MINIMISER_KEYS:
        if key in settings:
            stage[key] = settings[key]
    return normalise_stage(stage)


def reference_density(structure) -> float:
    """Mass density (g/cm³) of the starting structure, the sanity window's reference: a
    LargeStructureData's stored attribute (no array decoded in the daemon), else computed."""
    if isinstance(structure, LargeStructureData) and structure.base.attributes.get("density"):
        return float(structure.base.attributes.get("density"))
    from aiida_bzs.analysis.density import mass_density

    return mass_density(atoms_from_structure(structure))


def validate_inputs(inputs, _ctx=None):
    """relax_type and tolerances valid; the potential covers the structure."""
    try:
        minimisation_stage(inputs["relax_type"].value, inputs["parameters"].get_dict()
                           if "parameters" in inputs else {})
    except MdInputError as exc:
        return str(exc)
    structure, potential = inputs.get("structure"), inputs.get("potential")
    if structure is not None and potential is not None:
        missing = sorted(set(summarise_structure(structure).elements) - set(potential.elements))
        if missing:
            return (f"the potential has no parameters for {missing} (it covers {potential.elements}); "
                    "use a potential fitted for every element of the structure")
    if inputs["volume_convergence"].value <= 0:
        return "volume_convergence must be > 0 (a relative volume change)"
    if inputs.get("sanity") is not None:
        try:
            normalise_sanity(inputs["sanity"].get_dict())
        except SanityInputError as exc:
            return str(exc)
    error, _ = potential_gate(potential, inputs.get("allow_unusable_potential"))
    return error


class RelaxWorkChain(WorkChain):
    """Minimise a structure with LAMMPS + ACE (forces eV/Å, pressure bar, energy eV)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(LammpsBaseWorkChain, namespace="md", exclude=STAGE_INPUTS)
        spec.input("structure", valid_type=STRUCTURE_TYPES,
                   help="Structure to relax (Å): StructureData or LargeStructureData.")
        spec.input("potential", valid_type=AcePotentialData)
        spec.input("relax_type", valid_type=orm.Str, default=lambda: orm.Str("positions"),
                   help=f"One of {sorted(RELAX_TYPES)}.")
        spec.input("parameters", valid_type=orm.Dict, required=False,
                   help="Minimiser settings: ftol (eV/Å), etol, maxiter, maxeval, pressure (bar), vmax.")
        spec.input("volume_convergence", valid_type=orm.Float,
                   default=lambda: orm.Float(_default("volume_convergence")),
                   help="Relative volume change between two cell relaxations that counts as converged "
                        "(default: the default preset of protocols/relax.yaml).")
        spec.input("max_meta_iterations", valid_type=orm.Int,
                   default=lambda: orm.Int(_default("max_meta_iterations")),
                   help="Cell relaxations at most (default: the default preset of protocols/relax.yaml).")
        spec.input("allow_unusable_potential", valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   help="Run even if the potential's fit verdict is 'unusable' (at your own risk).")
        spec.input("sanity", valid_type=orm.Dict, required=False,
                   help="Sanity thresholds (analysis/md_sanity.py); a minimisation checks the density window "
                        "around the input structure's density.")
        spec.inputs.validator = validate_inputs
        spec.outline(cls.setup, while_(cls.should_run)(cls.run_relax, cls.inspect_relax), cls.results)
        spec.output("structure", valid_type=STRUCTURE_TYPES,
                    help="Relaxed structure (a LargeStructureData when LAMMPS hands one back).")
        spec.output("energy", valid_type=orm.Float, help="Final potential energy (eV).")
        spec.output("trajectory", valid_type=orm.TrajectoryData, required=False)
        spec.output("results", valid_type=orm.Dict, help="Volumes per cycle (Å³), forces (eV/Å), stop criterion.")
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED", message="Minimisation {pk} failed: {detail}")
        spec.exit_code(402, "ERROR_CELL_NOT_CONVERGED",
                       message="The cell still changed by {change:.3%} after {n} relaxations.")
        spec.exit_code(410, "ERROR_SIMULATION_FAILED", message="The relaxation failed as the study defines it: {detail}")
        define_sanity_exit_codes(spec)

    @classmethod
    def get_builder_from_protocol(cls, code, structure, potential, relax_type="positions", protocol=None,
                                  overrides=None, options=None, num_mpiprocs=None):
        """Builder from ``protocols/relax.yaml`` (tolerances, volume convergence, meta iterations).

        Each minimisation runs as the preset's ``lammps_protocol`` of ``protocols/lammps_base.yaml``
        says (resources, wall time, restarts), recorded as the ``md`` inputs.

        :param code: LAMMPS code (label or node); ``num_mpiprocs`` > 1 needs one set up with MPI
            (``lmp-mpi@localhost-mpich`` locally, made by ``aiida-bzs setup``).
        :param overrides: keys of the preset, and of ``md.programme.MIN_DEFAULTS``
            (``pressure``, ``vmax``, ...); ``lammps_base``: overrides of the lammps_base preset.
            An unknown key raises ``ProtocolOverrideError`` before anything runs.
        :param options: metadata options of every LAMMPS job (merged over the lammps_base preset's).
        :param num_mpiprocs: MPI ranks of every LAMMPS job.
        """
        overrides = dict(overrides or {})
        run_overrides = overrides.pop("lammps_base", None)
        preset = get_protocol("relax", protocol)
        base = {**{k: MIN_DEFAULTS[k] for k in MINIMISER_KEYS if k not in preset}, **preset}
        settings = recursive_merge(base, overrides, strict=True)
        builder = cls.get_builder()
        fill_run_inputs(builder.md, run_inputs(code, settings["lammps_protocol"], run_overrides, options,
                                               num_mpiprocs))
        builder.structure = structure
        builder.potential = potential
        builder.relax_type = orm.Str(relax_type)
        builder.parameters = orm.Dict({k: settings[k] for k in MINIMISER_KEYS})
        builder.volume_convergence = orm.Float(settings["volume_convergence"])
        builder.max_meta_iterations = orm.Int(settings["max_meta_iterations"])
        if settings.get("sanity"):
            builder.sanity = orm.Dict(settings["sanity"])
        return builder

    def setup(self):
        params = self.inputs.parameters.get_dict() if "parameters" in self.inputs else {}
        cell = np.asarray(self.inputs.structure.cell)  # the cell only: a 600k-atom structure is not decoded here
        orthogonal = bool(np.allclose(cell - np.diag(np.diag(cell)), 0.0, atol=ORTHOGONAL_TOLERANCE))
        self.ctx.stage = minimisation_stage(self.inputs.relax_type.value, params, orthogonal=orthogonal)
        self.ctx.structure = self.inputs.structure
        self.ctx.iteration = 0
        self.ctx.converged = False
        self.ctx.volumes = [summarise_structure(self.inputs.structure).volume]
        self.ctx.runs = []
        sanity = normalise_sanity(self.inputs.sanity.get_dict() if "sanity" in self.inputs else None)
        if sanity["reference_density"] is None:
            sanity["reference_density"] = reference_density(self.inputs.structure)
        self.ctx.sanity = orm.Dict(sanity)
        _, warning = potential_gate(self.inputs.potential, self.inputs.allow_unusable_potential)
        if warning:
            self.report(f"WARNING: {warning}")

    def should_run(self):
        return not self.ctx.converged and self.ctx.iteration < self.inputs.max_meta_iterations.value

    def run_relax(self):
        inputs = AttributeDict(self.exposed_inputs(LammpsBaseWorkChain, namespace="md"))
        inputs.lammps = AttributeDict(inputs.lammps)
        inputs.lammps.structure = self.ctx.structure
        inputs.lammps.potential = self.inputs.potential
        inputs.lammps.parameters = orm.Dict(self.ctx.stage)
        inputs.lammps.sanity = self.ctx.sanity
        inputs.allow_unusable_potential = self.inputs.allow_unusable_potential
        self.ctx.iteration += 1
        inputs.metadata = {"call_link_label": f"minimise_{self.ctx.iteration}"}
        return ToContext(run=self.submit(LammpsBaseWorkChain, **inputs))

    def inspect_relax(self):
        node = self.ctx.run
        if not node.is_finished_ok:
            detail = node.exit_message or f"exit status {node.exit_status}"
            if node.exit_status == LammpsBaseWorkChain.exit_codes.ERROR_SIMULATION_FAILED.status:
                return self.exit_codes.ERROR_SIMULATION_FAILED.format(detail=detail)
            for name in SANITY_EXIT_CODES:
                if node.exit_status == LammpsBaseWorkChain.exit_codes[name].status:
                    return self.exit_codes[name].format(detail=f"minimisation {self.ctx.iteration}: {detail}")
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED.format(pk=node.pk, detail=detail)
        self.ctx.structure = node.outputs.structure
        self.ctx.runs.append(node)
        volume = summarise_structure(self.ctx.structure).volume
        change = abs(volume - self.ctx.volumes[-1]) / self.ctx.volumes[-1]
        self.ctx.volumes.append(volume)
        self.ctx.converged = self.ctx.stage["box_relax"] is None or change < self.inputs.volume_convergence.value
        self.report(f"minimisation {self.ctx.iteration}: volume change {change:.3%}"
                    + (" (converged)" if self.ctx.converged else ""))
        return None

    def results(self):
        if not self.ctx.converged:
            change = abs(self.ctx.volumes[-1] - self.ctx.volumes[-2]) / self.ctx.volumes[-2]
            return self.exit_codes.ERROR_CELL_NOT_CONVERGED.format(change=change, n=self.ctx.iteration)
        last = self.ctx.runs[-1]
        structures = {f"structure_{k}": node.outputs.structure for k, node in enumerate(self.ctx.runs, start=1)}
        summary = relax_summary(last.outputs.results, structure_0=self.inputs.structure, **structures)
        self.out("structure", self.ctx.structure)
        self.out("energy", summary["energy"])
        self.out("results", summary["results"])
        if "trajectory" in last.outputs:
            self.out("trajectory", last.outputs.trajectory)
        return None
