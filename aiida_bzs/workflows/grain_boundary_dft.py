"""``GrainBoundaryDftWorkChain`` (``bzs.grain_boundary.dft``): ACE-vs-DFT parity of grain-boundary
formation energies.

DFT (PBEsol) single points, through :class:`~.label.DftLabelWorkChain`, on the bulk and on the
boundaries *as the potential relaxed them* (the outputs of ``bzs.grain_boundary``), then E_GBf on
both sides with the same definition (``bzs.gb.dft_parity``) and a parity plot. The study's check of
its ACE boundary energies (campaign.md §6). On 2 cores only the smallest cells are affordable; the
``balanced`` preset carries the resources of the study's 670–1,700-atom cells for a cluster
(protocols/grain_boundary_dft.yaml). Cells above ``max_atoms`` are refused at launch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiida import orm
from aiida.common import AttributeDict
from aiida.common.links import LinkType
from aiida.engine import ToContext, WorkChain

from aiida_bzs.common.structure_nodes import STRUCTURE_TYPES
from aiida_bzs.data.large_structure import LargeStructureData

from .label import DftLabelWorkChain, check_structure
from .protocols import ProtocolOverrideError, get_protocol, recursive_merge

#: Inputs of DftLabelWorkChain that this chain sets itself.
_OWN = ("structures", "training_set", "compute_reference_energies", "reference_energies", "structure_overrides")

#: Key of the bulk among the labelled structures.
BULK_KEY = "bulk"


def _n_atoms(structure) -> int:
    return structure.num_atoms if isinstance(structure, LargeStructureData) else len(structure.sites)


def validate_inputs(inputs, _ctx=None) -> str | None:
    """Refuse at launch: no boundaries, cells above ``max_atoms``, elements not in the bulk, overlaps."""
    structures = dict(inputs.get("structures", {}))
    if not structures:
        return "no boundaries given: pass `structures` (the relaxed bicrystals of bzs.grain_boundary, by label)"
    bulk = inputs["bulk_structure"]
    limit = inputs["max_atoms"].value if "max_atoms" in inputs else None
    bulk_elements = set(bulk.get_ase().get_chemical_symbols()) if isinstance(bulk, orm.StructureData) else \
        set(bulk.to_ase().get_chemical_symbols())
    for key, structure in {BULK_KEY: bulk, **structures}.items():
        n = _n_atoms(structure)
        if limit is not None and n > limit:
            return (f"{key} has {n} atoms, above max_atoms = {limit}: DFT of such a cell needs a cluster "
                    "(protocol 'balanced' with its resources) or a larger max_atoms; or pick smaller boundaries")
        atoms = structure.get_ase() if isinstance(structure, orm.StructureData) else structure.to_ase()
        extra = sorted(set(atoms.get_chemical_symbols()) - bulk_elements)
        if extra:
            return f"{key} contains {extra}, which the bulk structure does not: no reference for them"
        if isinstance(structure, orm.StructureData):
            problem = check_structure(key, structure)
            if problem:
                return problem
    if "ace_table" in inputs:
        labels = {row.get("label") for row in inputs["ace_table"].get("rows", [])}
        missing = sorted(set(structures) - labels)
        if missing:
            return (f"ace_table has no rows for {missing} (it has {sorted(l for l in labels if l)}): pass the "
                    "table of the GrainBoundaryWorkChain that relaxed these structures")
    return None


class GrainBoundaryDftWorkChain(WorkChain):
    """DFT single points on ACE-relaxed boundaries and bulk → E_GBf parity table (J/m²) and plot."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(DftLabelWorkChain, namespace="dft", exclude=_OWN,
                           namespace_options={"help": "pw.x code, settings (`parameters` from the protocol), "
                                                      "MPI ranks and max_concurrent of the single points."})
        spec.inputs["dft"].validator = None  # it needs the structures this chain sets; checked here
        spec.input("bulk_structure", valid_type=STRUCTURE_TYPES,
                   help="The bulk relaxed with the potential (bzs.grain_boundary's `bulk_structure`), Å.")
        spec.input_namespace("structures", valid_type=STRUCTURE_TYPES, dynamic=True,
                             help="Relaxed bicrystals by boundary label (bzs.grain_boundary's `structures`).")
        spec.input("ace_table", valid_type=orm.Dict, required=False,
                   help="The ACE table of bzs.grain_boundary (`table`): its E_GBf per label; without it, DFT only.")
        spec.input("chemical_potentials", valid_type=orm.Dict, required=False,
                   help="DFT chemical potentials (eV/atom) for off-stoichiometric cells.")
        spec.input("max_atoms", valid_type=orm.Int, required=False,
                   help="Largest cell accepted (atoms); larger ones are refused at launch.")
        spec.inputs.validator = validate_inputs
        spec.outline(cls.setup, cls.run_dft, cls.inspect_dft, cls.results)
        spec.output("table", valid_type=orm.Dict,
                    help="Per boundary: E_GBf DFT and ACE (J/m²), error ACE − DFT, atoms, area Å²; MAE, RMSE.")
        spec.output("plot", valid_type=orm.SinglefileData, help="ACE against DFT E_GBf (PNG).")
        spec.output("bulk_energy", valid_type=orm.Float, help="DFT energy of the bulk cell (eV).")
        spec.output_namespace("energies", valid_type=orm.Float, dynamic=True,
                              help="DFT energy of each boundary cell (eV).")
        spec.output_namespace("formation_energies", valid_type=orm.Float, dynamic=True,
                              help="DFT E_GBf of each boundary (J/m²).")
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED_LABEL",
                       message="the DFT single points (DftLabelWorkChain<{pk}>) failed: {detail}")
        spec.exit_code(402, "ERROR_SUB_PROCESS_FAILED_BULK",
                       message="the DFT single point of the bulk failed ({detail}): no reference, no E_GBf")
        spec.exit_code(403, "ERROR_SUB_PROCESS_FAILED_BOUNDARIES",
                       message="the DFT single points of {labels} failed; the other boundaries are in the table")

    @classmethod
    def get_builder_from_protocol(cls, code, grain_boundary=None, *, bulk_structure=None, structures=None,
                                  labels: Iterable[str] | None = None, protocol: str | None = None,
                                  overrides: Mapping | None = None, options: Mapping | None = None,
                                  num_mpiprocs: int | None = None, pseudo_family: str | None = None):
        """A builder from ``protocols/grain_boundary_dft.yaml``, every number on its inputs.

        :param code: pw.x code (label or node).
        :param grain_boundary: a finished ``bzs.grain_boundary`` node (or pk/UUID): its relaxed bulk,
            boundaries and table are used; or give ``bulk_structure`` and ``structures`` yourself.
        :param labels: the boundaries to compute (default all of them).
        :param overrides: keys of the preset (``label_overrides``, ``options``, ``num_mpiprocs``,
            ``max_atoms``, ``chemical_potentials``); an unknown key raises ``ProtocolOverrideError``.
        :param options: scheduler options of every pw.x job (over the preset's); ``num_mpiprocs`` its ranks.
        """
        preset = get_protocol("grain_boundary_dft", protocol)
        settings = recursive_merge(preset, overrides, strict=True,
                                   open_keys=("label_overrides", "options", "chemical_potentials"))
        ace_table = None
        if grain_boundary is not None:
            node = grain_boundary if isinstance(grain_boundary, orm.Node) else orm.load_node(grain_boundary)
            if not node.is_finished_ok:
                raise ValueError(f"{node.process_label}<{node.pk}> did not finish ok: nothing relaxed to compare")
            bulk_structure = bulk_structure or node.outputs.bulk_structure
            structures = structures or dict(node.outputs.structures)
            ace_table = node.outputs.table if "table" in node.outputs else None
        if bulk_structure is None or not structures:
            raise ValueError("give a finished GrainBoundaryWorkChain, or bulk_structure and structures")
        structures = dict(structures)
        if labels is not None:
            unknown = sorted(set(labels) - set(structures))
            if unknown:
                raise ProtocolOverrideError(f"labels {unknown} are not among the boundaries {sorted(structures)}",
                                            "labels", sorted(structures))
            structures = {label: structures[label] for label in labels}
        ranks = int(num_mpiprocs if num_mpiprocs is not None else settings["num_mpiprocs"])
        dft = DftLabelWorkChain.get_builder_from_protocol(
            code, protocol=settings["label_protocol"], overrides=settings["label_overrides"],
            options=recursive_merge(settings["options"], dict(options or {})), num_mpiprocs=ranks,
            pseudo_family=pseudo_family)
        builder = cls.get_builder()
        dft_inputs = dft._inputs(prune=True)
        for name in _OWN:
            dft_inputs.pop(name, None)
        builder.dft._update(dft_inputs)
        builder.bulk_structure = bulk_structure
        builder.structures = structures
        if ace_table is not None:
            builder.ace_table = ace_table
        if settings["chemical_potentials"]:
            builder.chemical_potentials = orm.Dict(settings["chemical_potentials"])
        builder.max_atoms = orm.Int(int(settings["max_atoms"]))
        return builder

    # -- outline ----------------------------------------------------------------------------------
    def setup(self):
        """StructureData for pw.x: a LargeStructureData (a boundary stored compactly) is unpacked."""
        from aiida_bzs.calculations.functions.large_structures import unpack

        def plain(structure, label):
            if isinstance(structure, LargeStructureData):
                return unpack(structure, metadata={"call_link_label": f"unpack_{label}"})
            return structure

        self.ctx.structures = {BULK_KEY: plain(self.inputs.bulk_structure, BULK_KEY)}
        self.ctx.structures.update({f"gb_{label}": plain(s, label) for label, s in self.inputs.structures.items()})

    def run_dft(self):
        """One DftLabelWorkChain for the bulk and every boundary (no isolated atoms: E_GBf needs none)."""
        inputs = AttributeDict(self.exposed_inputs(DftLabelWorkChain, namespace="dft"))
        inputs.structures = self.ctx.structures
        inputs.compute_reference_energies = orm.Bool(False)
        inputs.metadata = {"call_link_label": "dft_single_points"}
        node = self.submit(DftLabelWorkChain, **inputs)
        self.report(f"DFT single points on the bulk and {len(self.ctx.structures) - 1} boundaries: "
                    f"{node.process_label}<{node.pk}>")
        return ToContext(label=node)

    def inspect_dft(self):
        """The pw.x result of each structure, found by the labelling chain's call link ``label_<key>``."""
        node = self.ctx.label
        children = {link.link_label: link.node for link in
                    node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()}
        self.ctx.results, failed = {}, []
        for key in self.ctx.structures:
            child = children.get(f"label_{key}")
            if child is not None and child.is_finished_ok:
                self.ctx.results[key] = child.outputs.output_parameters
            else:
                detail = (f"{child.process_label}<{child.pk}> [{child.exit_status}] {child.exit_message}"
                          if child is not None else "not run")
                failed.append(key)
                self.report(f"{key}: {detail}")
        if BULK_KEY in failed:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_BULK.format(detail=f"see the report of pk {node.pk}")
        if not self.ctx.results:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_LABEL.format(pk=node.pk, detail="no single point finished")
        self.ctx.failed = [key[3:] for key in failed]
        return None

    def results(self):
        """Parity table (``bzs.gb.dft_parity``) and plot; DFT energies and E_GBf per boundary."""
        from aiida_bzs.calculations.functions.gb_parity import dft_parity, parity_plot

        nodes = {}
        for key, parameters in self.ctx.results.items():
            if key == BULK_KEY:
                continue
            label = key[3:]
            nodes[f"structure_{label}"] = self.ctx.structures[key]
            nodes[f"parameters_{label}"] = parameters
        parameters = {"chemical_potentials": self.inputs.chemical_potentials.get_dict()
                      if "chemical_potentials" in self.inputs else {},
                      "ace_table": self.inputs.ace_table.get_dict() if "ace_table" in self.inputs else {}}
        result = dft_parity(self.ctx.structures[BULK_KEY], self.ctx.results[BULK_KEY], orm.Dict(parameters),
                            **nodes)
        table = result["table"]
        self.out("table", table)
        self.out("plot", parity_plot(table))
        self.out("bulk_energy", result["bulk_energy"])
        for name, node in result.items():
            if name.startswith("e_gbf_"):
                self.out(f"formation_energies.{name[len('e_gbf_'):]}", node)
            elif name.startswith("energy_"):
                self.out(f"energies.{name[len('energy_'):]}", node)
        summary = table["summary"]
        if summary["n"]:
            self.report(f"parity over {summary['n']} boundaries: MAE {summary['mae']:.4f} J/m², "
                        f"max |error| {summary['max_abs_error']:.4f} J/m²")
        if self.ctx.failed:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_BOUNDARIES.format(labels=", ".join(self.ctx.failed))
        return None


__all__ = ["BULK_KEY", "GrainBoundaryDftWorkChain", "validate_inputs"]
