"""``CrystalRelaxWorkChain`` (``bzs.crystal_relax``): the PBEsol-relaxed Pnma reference crystal.

The campaign's experimental cell with approximate Wyckoff positions is a starting point, not a
reference: DFT forces on S2 reach 0.9 eV/Å. This chain relaxes cell and positions with
aiida-quantumespresso's ``PwRelaxWorkChain`` (``vc-relax``, built by its
``get_builder_from_protocol``), using the pw.x settings of the DFT labels (``protocols/pw.yaml``
via ``protocols/crystal_relax.yaml``), and returns the relaxed cell as ``reference`` with a
``summary``: lattice (Å) against experiment, volume, density (g/cm³), Wyckoff positions,
Zr–S/Ba–S ranges, residual forces (eV/Å) and stress (GPa). A relaxation that leaves Pnma or
breaks the octahedra still returns ``relaxed_structure`` for inspection, but no ``reference``.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, calcfunction
from aiida_quantumespresso.common.types import RelaxType
from aiida_quantumespresso.workflows.pw.relax import PwRelaxWorkChain

from ..analysis.reference_crystal import reference_summary
from ..calculations.functions.structures import pnma_crystal, reference_crystal_problem, to_atoms, to_structure
from ..common.codes import MissingCodeError, code_label, load_code
from ..common.pseudos import PseudoFamilyError, load_family
from .protocols import ProtocolError, get_protocol, recursive_merge
from .pw_inputs import DEFAULT_WALLTIME, pw_parameters

__all__ = ("CrystalRelaxWorkChain", "summarise_reference")


@calcfunction
def summarise_reference(
    structure: orm.StructureData, output_parameters: orm.Dict, output_trajectory: orm.TrajectoryData
) -> dict:
    """``reference`` (the relaxed cell, config_type 'crystal', when sound) and ``summary`` (Dict).

    Energy eV, residual forces eV/Å and stress GPa are read from the last step of the relax.
    """
    atoms = to_atoms(structure)
    forces = stress = None
    if "forces" in output_trajectory.get_arraynames():
        forces = output_trajectory.get_array("forces")[-1]
    if "stress" in output_trajectory.get_arraynames():
        stress = output_trajectory.get_array("stress")[-1]
    summary = reference_summary(atoms, output_parameters.get("energy"), forces, stress)
    outputs = {"summary": orm.Dict(summary)}
    if not summary["problems"]:
        atoms.info["config_type"] = "crystal"
        reference = to_structure(atoms)
        reference.label = "BaZrS3 Pnma, PBEsol-relaxed reference"
        outputs["reference"] = reference
    return outputs


def relax_settings(protocol: str | None) -> dict:
    """The crystal_relax preset merged with the pw.yaml preset it names."""
    settings = get_protocol("crystal_relax", protocol)
    settings["pw"] = get_protocol("pw", settings["pw_protocol"])
    for key in ("ecutwfc", "ecutrho", "kpoints_distance"):
        if key in settings:
            settings["pw"][key] = settings[key]
    return settings


def validate_inputs(inputs, _ctx=None) -> str | None:
    """Refuse before any job: unknown protocol, a start that is not Pnma BaZrS3, no pseudos."""
    protocol = inputs.get("protocol")
    try:
        relax_settings(protocol.value if protocol is not None else None)
    except ProtocolError as exc:
        return str(exc)
    problem = reference_crystal_problem(inputs.get("structure"), "structure")
    if problem:
        return problem
    family = inputs.get("pseudo_family")
    try:
        load_family(family.value if family is not None else None)
    except PseudoFamilyError as exc:
        return str(exc)
    return None


class CrystalRelaxWorkChain(WorkChain):
    """PBEsol vc-relax of Pnma BaZrS3 → ``reference`` crystal and its ``summary`` (Å, g/cm³, eV/Å, GPa)."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input("structure", valid_type=orm.StructureData, required=False,
                   help="Starting Pnma cell (default: the campaign's, built by bzs.structures.pnma_crystal).")
        spec.input("code", valid_type=orm.AbstractCode, required=False,
                   help=f"pw.x code (default {code_label('pw')}).")
        spec.input("protocol", valid_type=orm.Str, required=False, serializer=orm.to_aiida_type,
                   help="fast (test-sized), moderate (2-core reference), balanced (default), stringent.")
        spec.input("pseudo_family", valid_type=orm.Str, required=False, serializer=orm.to_aiida_type,
                   help="aiida-pseudo family label (default: SSSP PBEsol, else pslibrary US).")
        spec.input("settings", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="Every number of the relaxation (get_builder_from_protocol); replaces `protocol`.")
        spec.input("num_mpiprocs", valid_type=orm.Int, default=lambda: orm.Int(1), serializer=orm.to_aiida_type,
                   help="MPI ranks of each pw.x job.")
        spec.input("options", valid_type=orm.Dict, required=False, serializer=orm.to_aiida_type,
                   help="metadata.options of the pw.x jobs (e.g. max_wallclock_seconds, queue_name).")
        spec.inputs.validator = validate_inputs
        spec.output("reference", valid_type=orm.StructureData, required=False,
                    help="The relaxed Pnma cell; absent when the relaxation lost Pnma or the octahedra.")
        spec.output("relaxed_structure", valid_type=orm.StructureData, help="pw.x's final structure.")
        spec.output("summary", valid_type=orm.Dict,
                    help="Lattice (Å) vs experiment, volume, density (g/cm³), Wyckoff sites, residuals.")
        spec.output("output_parameters", valid_type=orm.Dict, help="pw.x's last output parameters.")
        spec.outline(cls.setup, cls.run_relax, cls.inspect_relax, cls.results)
        spec.exit_code(201, "ERROR_MISSING_CODE", message="{details}")
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED_RELAX", message="the PBEsol vc-relax failed: {details}")
        spec.exit_code(410, "ERROR_NOT_A_REFERENCE",
                       message="the relaxed cell is not a sound Pnma reference: {details}")

    @classmethod
    def get_builder_from_protocol(cls, code=None, structure=None, protocol: str | None = None,
                                  overrides: dict | None = None, pseudo_family: str | None = None,
                                  num_mpiprocs: int = 1, options: dict | None = None):
        """Builder whose ``settings`` input records every number: the ``crystal_relax.yaml`` preset
        (with the ``pw.yaml`` preset it names under ``pw``) and ``overrides`` (same keys, nested;
        an unknown key raises :class:`~aiida_bzs.workflows.protocols.ProtocolOverrideError`).

        :param code: pw.x code (label or node), default ``pw@localhost`` at run time.
        :param options: scheduler options of the pw.x jobs (``max_wallclock_seconds`` s, ``queue_name`` …).
        """
        builder = cls.get_builder()
        builder.settings = orm.Dict(recursive_merge(relax_settings(protocol), overrides, strict=True))
        if protocol is not None:
            builder.protocol = orm.Str(protocol)
        if code is not None:
            builder.code = load_code(code)
        if structure is not None:
            builder.structure = structure
        if pseudo_family is not None:
            builder.pseudo_family = orm.Str(pseudo_family)
        builder.num_mpiprocs = orm.Int(int(num_mpiprocs))
        if options:
            builder.options = orm.Dict(options)
        return builder

    def setup(self):
        """Settings, code, and the starting cell (built with provenance when not given)."""
        protocol = self.inputs.protocol.value if "protocol" in self.inputs else None
        self.ctx.settings = self.inputs.settings.get_dict() if "settings" in self.inputs else relax_settings(protocol)
        try:
            self.ctx.code = self.inputs.code if "code" in self.inputs else load_code(code_label("pw"))
        except MissingCodeError as exc:
            return self.exit_codes.ERROR_MISSING_CODE.format(details=str(exc))
        self.ctx.structure = self.inputs.structure if "structure" in self.inputs else pnma_crystal()
        self.report(f"vc-relax of {self.ctx.structure.get_formula()} (pk {self.ctx.structure.pk}) with protocol "
                    f"{protocol or 'default'}: {self.ctx.settings['description'].split('.')[0]}")
        return None

    def _builder(self):
        settings = self.ctx.settings
        structure = self.ctx.structure
        family = load_family(self.inputs.pseudo_family.value if "pseudo_family" in self.inputs else None)
        parameters = pw_parameters(settings["pw"], structure, family)
        parameters["CONTROL"].update(
            calculation="vc-relax", forc_conv_thr=settings["forc_conv_thr"], etot_conv_thr=settings["etot_conv_thr"], nstep=settings["nstep"])
        parameters["CELL"] = {"press_conv_thr": settings["press_conv_thr"], "cell_dofree": "all"}
        nproc = self.inputs.num_mpiprocs.value
        options = {"resources": {"num_machines": 1, "num_mpiprocs_per_machine": nproc},
                   "max_wallclock_seconds": int(settings.get("walltime", DEFAULT_WALLTIME)), "withmpi": nproc > 1}
        if "options" in self.inputs:
            options.update(self.inputs.options.get_dict())
        base = {"pseudo_family": family.label, "kpoints_distance": settings["pw"]["kpoints_distance"],
                "pw": {"parameters": parameters}}
        overrides = {
            "meta_convergence": settings["meta_convergence"],
            "max_meta_convergence_iterations": settings["max_meta_convergence_iterations"],
            "base_relax": base,
            "base_init_relax": base,  # built by the protocol, then dropped: no initial relax here
        }
        builder = PwRelaxWorkChain.get_builder_from_protocol(
            self.ctx.code, structure, overrides=overrides, relax_type=RelaxType.POSITIONS_CELL, options=options)
        builder.pop("base_init_relax", None)
        if settings.get("kpoints_mesh"):
            kpoints = orm.KpointsData()
            kpoints.set_kpoints_mesh(settings["kpoints_mesh"], offset=settings.get("kpoints_offset", [0, 0, 0]))
            builder.base_relax.kpoints = kpoints
            builder.base_relax.pop("kpoints_distance", None)
        # the protocol's parameters merge ours on top; drop what pw.x's vc-relax must not get
        builder.base_relax.pw.parameters = orm.Dict(_without_protocol_extras(
            builder.base_relax.pw.parameters.get_dict(), parameters))
        return builder

    def run_relax(self):
        builder = self._builder()
        builder.metadata.call_link_label = "vc_relax"
        node = self.submit(builder)
        self.report(f"launched PwRelaxWorkChain<{node.pk}> (vc-relax)")
        return ToContext(relax=node)

    def inspect_relax(self):
        node = self.ctx.relax
        if not node.is_finished_ok or "output_structure" not in node.outputs:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_RELAX.format(
                details=f"PwRelaxWorkChain<{node.pk}> exit status {node.exit_status}: {node.exit_message}; "
                        f"see `verdi process report {node.pk}`")
        return None

    def results(self):
        node = self.ctx.relax
        relaxed = node.outputs.output_structure
        result = summarise_reference(relaxed, node.outputs.output_parameters, node.outputs.output_trajectory)
        summary = result["summary"]
        self.out("relaxed_structure", relaxed)
        self.out("summary", summary)
        self.out("output_parameters", node.outputs.output_parameters)
        lattice = ", ".join(f"{x:.3f}" for x in summary["lattice"])
        self.report(f"relaxed lattice a, b, c = {lattice} Å (experiment 7.06, 9.98, 7.03; "
                    f"volume {summary['volume_deviation_percent']:+.2f} %), density {summary['density']:.3f} g/cm³, "
                    f"max residual force {summary.get('max_force', float('nan')):.3f} eV/Å, "
                    f"pressure {summary.get('pressure', float('nan')):.2f} kbar")
        if "reference" not in result:
            return self.exit_codes.ERROR_NOT_A_REFERENCE.format(details="; ".join(summary["problems"][:3]))
        self.out("reference", result["reference"])
        return None


def _without_protocol_extras(merged: dict, ours: dict) -> dict:
    """aiida-quantumespresso's protocol adds keys (e.g. its own conv_thr) under ours; ours win."""
    out = {namelist: dict(values) for namelist, values in merged.items()}
    for namelist, values in ours.items():
        out.setdefault(namelist, {}).update(values)
    return out
