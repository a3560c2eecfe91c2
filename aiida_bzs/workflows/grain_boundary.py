"""``GrainBoundaryWorkChain`` (``bzs.grain_boundary``): formation energies of tilt grain boundaries with ACE.

1. The bulk crystal (default the experimental Pnma cell) is relaxed with the potential
   (:class:`RelaxWorkChain`, ``cell``): E_bulk per formula unit (eV) and the lattice every
   bicrystal is built on.
2. Per boundary (a CSL Σ or a low-angle misorientation about the long axis b) and per rigid-body
   translation of an n × m grid: the periodic bicrystal (calcfunction ``bzs.gb.bicrystal``, two
   boundaries, normal z, tilt axis y), then :class:`RelaxWorkChain` ``normal`` (positions and the
   cell length along z; the in-plane cell stays the bulk's). All relaxations run in parallel.
3. Per boundary the translation with the lowest E_GBf = (E_GB − E_ref)/(2A) (J/m²) is kept; E_ref
   is N_fu × E_bulk(fu) for a stoichiometric cell, or uses the chemical potentials of the
   ``parameters`` for an off-stoichiometric one (:mod:`aiida_bzs.calculations.functions.gb_energy`).
   A translation whose cell is off-stoichiometric without them is not relaxed; a boundary left
   without any is refused before relaxing (421).
4. The per-atom extrapolation grade γ of each kept boundary (``bzs.job.grade``; max and fraction
   above 2) when the potential has an active set.
5. ``table`` (Dict) and ``plot`` (PNG, E_GBf against angle) from light calcfunctions.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_

from aiida_bzs.calculations.functions import gb_energy
from aiida_bzs.calculations.jobs import (ExtrapolationGradeCalculation, check_job_code, define_job_inputs,
                                         job_code_of, job_metadata)
from aiida_bzs.common.structure_nodes import STRUCTURE_TYPES, atoms_from_structure
from aiida_bzs.data.ace_potential import AcePotentialData

from .protocols import get_protocol, recursive_merge
from .relax import RelaxWorkChain

#: Keys of the ``parameters`` input (numbers of the protocol that are not the relaxation's).
PARAMETER_KEYS = ("grain_thickness", "repeats_along_axis", "translations", "min_distance", "max_strain",
                  "max_length", "chemical_potentials", "gamma")
#: Keys a boundary dict may have.
BOUNDARY_KEYS = ("sigma", "angle", "plane", "label", "kind")
#: Relative tolerance of the "in-plane cell unchanged" check after the 'normal' relaxation.
IN_PLANE_TOLERANCE = 1e-6


class BoundaryInputError(ValueError):
    """A boundary that cannot be built: unknown Σ, no commensurate cell, bad keys."""


def boundary_label(spec: dict) -> str:
    """Link label of a boundary: its ``label``, or ``sigma25`` / ``low_angle_4p5``."""
    if spec.get("label"):
        label = str(spec["label"])
    elif spec.get("sigma") is not None:
        label = f"sigma{int(spec['sigma'])}"
    else:
        label = f"low_angle_{float(spec['angle']):g}".replace(".", "p").replace("-", "m")
    label = re.sub(r"\W", "_", label)
    return re.sub(r"_+", "_", label).strip("_") or "boundary"


def normalise_boundaries(boundaries) -> list[dict]:
    """Boundary specs as dicts with a unique label; ``25``/``'sigma25'`` → ``{'sigma': 25}``,
    ``'4.5'``/``4.5`` (non-integer)/``'angle4.5'`` → ``{'angle': 4.5}``."""
    specs, labels = [], set()
    for item in boundaries:
        if isinstance(item, dict):
            spec = dict(item)
        elif isinstance(item, int) or (isinstance(item, str) and re.fullmatch(r"(?i)(sigma|Σ)?\s*\d+", item.strip())):
            spec = {"sigma": int(re.sub(r"\D", "", str(item)))}
        elif isinstance(item, (float, str)):
            try:
                spec = {"angle": float(re.sub(r"(?i)^(angle|low_angle)\s*", "", str(item)))}
            except ValueError:
                raise BoundaryInputError(f"boundary {item!r}: give a Σ (e.g. 25 or 'sigma25') or an angle "
                                         "(e.g. 4.5)") from None
        else:
            raise BoundaryInputError(f"boundary {item!r}: give a dict, a Σ or an angle")
        unknown = sorted(set(spec) - set(BOUNDARY_KEYS))
        if unknown:
            raise BoundaryInputError(f"boundary {item!r}: unknown keys {unknown}; allowed {list(BOUNDARY_KEYS)}")
        if spec.get("sigma") is None and spec.get("angle") is None:
            raise BoundaryInputError(f"boundary {item!r}: give `sigma` (a CSL boundary) or `angle` (low angle, °)")
        if spec.get("sigma") is not None:
            spec["sigma"] = int(spec["sigma"])
            if spec["sigma"] < 1:
                raise BoundaryInputError(f"boundary {item!r}: Σ must be a positive integer")
        spec["label"] = boundary_label(spec)
        if spec["label"] in labels:
            raise BoundaryInputError(f"boundary label {spec['label']!r} given twice; give each a distinct `label`")
        labels.add(spec["label"])
        specs.append(spec)
    if not specs:
        raise BoundaryInputError("no boundary given")
    return specs


def in_plane_lattice(atoms) -> tuple[float, float]:
    """(a, c) of the Pnma cell: the two short axes, the plane in which the tilt acts (Å)."""
    lengths = atoms.cell.lengths()
    return float(lengths[0]), float(lengths[2])


def resolve_boundary(spec: dict, a: float, c: float, parameters: dict):
    """The :class:`~aiida_bzs.structures.grain_boundary.TiltBoundary` a boundary spec names.

    ``{'sigma': Σ}``: the boundaries of that Σ within ``max_strain`` (the exact one first, then the
    least strained; ``angle``/``plane`` pick among several). ``{'angle': θ}``: the nearest
    commensurate low-angle rotation with a period up to ``max_length`` Å.
    :raises BoundaryInputError: naming what exists instead.
    """
    from aiida_bzs.structures import grain_boundary as gb

    max_strain = parameters.get("max_strain", 0.02)
    if spec.get("sigma") is not None:
        sigma = spec["sigma"]
        found = gb.csl_tilt_boundaries(a, c, sigma, max_strain=max_strain)
        matching = [b for b in found if b.sigma == sigma]
        if spec.get("plane") is not None:
            matching = [b for b in matching if list(b.plane) == list(spec["plane"])]
        if not matching:
            available = sorted({b.sigma for b in found})
            raise BoundaryInputError(
                f"no Σ{sigma} tilt boundary for a = {a:.4f} Å, c = {c:.4f} Å within strain {max_strain:g}"
                + (f" and plane {spec['plane']}" if spec.get("plane") is not None else "")
                + f"; Σ available up to {sigma}: {available}")
        if spec.get("angle") is not None:
            return min(matching, key=lambda b: abs(b.angle_deg - float(spec["angle"])))
        return min(matching, key=lambda b: (not b.exact, abs(b.strain)))
    max_length = parameters.get("max_length", 300.0)
    try:
        found = gb.low_angle_boundaries([float(spec["angle"])], a, c, max_length)
    except ValueError as exc:
        raise BoundaryInputError(f"low-angle boundary {spec['angle']}°: {exc}") from None
    if not found:
        raise BoundaryInputError(f"no commensurate cell for a {spec['angle']}° boundary with a period up to "
                                 f"{max_length} Å (max_length)")
    return found[0]


def boundary_record(spec: dict, boundary) -> dict:
    """What the table keeps of a boundary (JSON-safe)."""
    record = {key: (list(value) if isinstance(value, tuple) else value)
              for key, value in dataclasses.asdict(boundary).items()}
    return {"label": spec["label"], "kind": record.get("kind") or ("csl" if spec.get("sigma") else "low_angle"),
            "sigma": record.get("sigma"), "angle": record.get("angle_deg"),
            "target_angle": spec.get("angle"), "plane": record.get("plane"), "strain": record.get("strain"),
            "exact": record.get("exact"), "period_along_boundary": record.get("period_along_boundary")}


def translation_grid(grid) -> list[list[float]]:
    """[[i/n, j/m] …] for a grid [n, m]: fractions of the boundary period (x) and axis period (y)."""
    n, m = (int(v) for v in grid)
    return [[i / n, j / m] for i in range(n) for j in range(m)]


def validate_parameters(parameters: dict, elements=None) -> str | None:
    """Why ``parameters`` cannot be used, or None."""
    unknown = sorted(set(parameters) - set(PARAMETER_KEYS))
    if unknown:
        return f"unknown grain-boundary parameters {unknown}; allowed {list(PARAMETER_KEYS)}"
    if parameters.get("grain_thickness", 1.0) <= 0:
        return f"grain_thickness must be > 0 Å, got {parameters['grain_thickness']}"
    grid = parameters.get("translations", [1, 1])
    if (not isinstance(grid, (list, tuple)) or len(grid) != 2
            or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in grid)):
        return f"translations must be [n, m], two integers >= 1 (a grid over the boundary × axis periods), got {grid}"
    if parameters.get("min_distance", 0.0) < 0:
        return "min_distance must be >= 0 Å"
    if int(parameters.get("repeats_along_axis", 1)) < 1:
        return "repeats_along_axis must be >= 1"
    mu = parameters.get("chemical_potentials") or {}
    if elements is not None and mu:
        extra = sorted(set(mu) - set(elements))
        if extra:
            return f"chemical_potentials for {extra}, which the crystal {sorted(elements)} does not contain"
        if set(elements) <= set(mu):
            return (f"chemical_potentials given for every species {sorted(elements)}: leave one out, the bulk "
                    "fixes it (Σ ν_i μ_i = E_bulk per formula unit)")
    return None


def _crystal_atoms(inputs):
    crystal = inputs.get("crystal")
    if crystal is not None:
        return atoms_from_structure(crystal)
    from aiida_bzs.structures.crystal import pnma_crystal

    return pnma_crystal()


def validate_inputs(inputs, _ctx=None):
    """At launch: known parameters, boundaries that exist, grains thicker than 2 × cutoff, a
    potential covering the crystal, a Pnma crystal, a runner code for the γ jobs."""
    from aiida_bzs.calculations.functions.structures import reference_crystal_problem

    parameters = inputs["parameters"].get_dict() if "parameters" in inputs else {}
    crystal = inputs.get("crystal")
    if crystal is not None and isinstance(crystal, orm.StructureData):
        problem = reference_crystal_problem(crystal, "crystal")
        if problem:
            return problem
    atoms = _crystal_atoms(inputs)
    elements = sorted(set(atoms.get_chemical_symbols()))
    problem = validate_parameters(parameters, elements)
    if problem:
        return problem
    potential = inputs.get("potential")
    if potential is not None:
        missing = sorted(set(elements) - set(potential.elements))
        if missing:
            return (f"the potential has no parameters for {missing} (it covers {potential.elements}); "
                    "use a potential fitted for every element of the crystal")
        thickness = parameters.get("grain_thickness")
        if thickness is not None and thickness < 2 * potential.cutoff:
            return (f"grain_thickness {thickness} Å is below 2 × the potential's cutoff ({potential.cutoff} Å): "
                    "the two boundaries of the cell would interact; use at least "
                    f"{2 * potential.cutoff:g} Å")
    relax = inputs.get("relax", {})
    if relax.get("parameters") is not None:
        from aiida_bzs.md.programme import MdInputError

        from .relax import minimisation_stage

        try:
            minimisation_stage("normal", relax["parameters"].get_dict())
        except MdInputError as exc:
            return f"relax.parameters: {exc}"
    if potential is not None:
        from .lammps_base import potential_gate

        error, _ = potential_gate(potential, relax.get("allow_unusable_potential"))
        if error:
            return error
    a, c = in_plane_lattice(atoms)
    try:
        for spec in normalise_boundaries(inputs["boundaries"].get_list()):
            resolve_boundary(spec, a, c, parameters)
    except BoundaryInputError as exc:
        return str(exc)
    if potential is not None and potential.has_active_set and parameters.get("gamma", True):
        code = relax.get("md", {}).get("lammps", {}).get("code")
        problem = check_job_code(inputs, code)
        if problem:
            return problem
    return None


class GrainBoundaryWorkChain(WorkChain):
    """Tilt grain boundaries of Pnma BaZrS3 relaxed with ACE: E_GBf (J/m²), structures, γ, table and plot."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(RelaxWorkChain, namespace="relax", exclude=("structure", "potential", "relax_type"),
                           namespace_options={"help": "Inputs of every relaxation (LAMMPS code and options in "
                                                      "`md`, tolerances): the bulk ('cell') and the bicrystals "
                                                      "('normal')."})
        # RelaxWorkChain's own validator needs the excluded ports; its checks are made in validate_inputs
        spec.inputs["relax"].validator = None
        spec.input("potential", valid_type=AcePotentialData, help="ACE potential.")
        spec.input("crystal", valid_type=orm.StructureData, required=False,
                   help="Bulk Pnma crystal (Å) the boundaries are cut from, relaxed first with the potential; "
                        "default the experimental cell (bzs.structures.pnma_crystal).")
        spec.input("boundaries", valid_type=orm.List,
                   help="One dict per boundary: {sigma: Σ} (CSL, tilt about b; `angle`/`plane` choose among "
                        "several) or {angle: θ°} (low angle); optional `label`.")
        spec.input("parameters", valid_type=orm.Dict, required=False,
                   help=f"Bicrystals and energies: {', '.join(PARAMETER_KEYS)} (Å, °, eV/atom; "
                        "protocols/grain_boundary.yaml).")
        define_job_inputs(spec)
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.setup,
            cls.relax_bulk,
            cls.inspect_bulk,
            cls.build_bicrystals,
            cls.relax_bicrystals,
            cls.inspect_bicrystals,
            if_(cls.should_grade)(cls.run_grades, cls.inspect_grades),
            cls.results,
        )
        spec.output("bulk_structure", valid_type=STRUCTURE_TYPES, help="The bulk relaxed with the potential.")
        spec.output("bulk_energy", valid_type=orm.Float, help="Energy of the relaxed bulk cell (eV).")
        spec.output_namespace("structures", valid_type=STRUCTURE_TYPES, dynamic=True,
                              help="Relaxed bicrystal of each boundary (the lowest-E_GBf translation).")
        spec.output_namespace("bicrystals", valid_type=STRUCTURE_TYPES, dynamic=True,
                              help="The same bicrystal as built, before relaxation.")
        spec.output_namespace("energies", valid_type=orm.Float, dynamic=True,
                              help="Energy of each kept relaxed bicrystal (eV).")
        spec.output_namespace("formation_energies", valid_type=orm.Float, dynamic=True,
                              help="E_GBf of each boundary (J/m²).")
        spec.output_namespace("gamma", valid_type=orm.ArrayData, dynamic=True,
                              help="Per-atom extrapolation grade of each kept boundary (bzs.job.grade).")
        spec.output("table", valid_type=orm.Dict, required=False,
                    help="Per boundary: Σ, angle, n_atoms, area Å², translation, E_GBf J/m², max γ, fraction γ > 2, "
                         "flags; every translation's energies; the bulk reference.")
        spec.output("plot", valid_type=orm.SinglefileData, required=False, help="E_GBf against angle (PNG).")
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED_BULK", message="the bulk relaxation (pk {pk}) failed: {detail}")
        spec.exit_code(402, "ERROR_SUB_PROCESS_FAILED_BICRYSTAL",
                       message="building the bicrystal of {label} failed: {detail}")
        spec.exit_code(403, "ERROR_SUB_PROCESS_FAILED_RELAX",
                       message="no relaxation of boundary {labels} finished: {detail}")
        spec.exit_code(404, "ERROR_SUB_PROCESS_FAILED_GRADE", message="the γ job of {label} (pk {pk}) failed: {detail}")
        spec.exit_code(421, "ERROR_NO_REFERENCE",
                       message="{label}: every translation gives an off-stoichiometric cell without a chemical-"
                               "potential reference ({detail}); nothing was relaxed")

    @classmethod
    def get_builder_from_protocol(cls, code, potential, crystal=None, protocol=None, overrides=None,
                                  boundaries=None, options=None, num_mpiprocs=None, job_options=None):
        """A builder from ``protocols/grain_boundary.yaml``, every number on its inputs.

        :param code: LAMMPS code (label or node) of every relaxation.
        :param crystal: bulk StructureData; None: the experimental Pnma cell (made when the chain runs).
        :param overrides: keys of the preset (``grain_thickness``, ``translations``, ``relax_overrides``
            (keys of relax.yaml), ``chemical_potentials``, ``job_options``, ...); an unknown key raises
            :class:`~aiida_bzs.workflows.protocols.ProtocolOverrideError`.
        :param boundaries: replaces the preset's list: dicts, Σ values (``25``, ``'sigma25'``) or angles (``4.5``).
        :param options: scheduler options of every LAMMPS job; ``num_mpiprocs``: its ranks.
        :param job_options: scheduler options of the γ jobs (over the preset's).
        """
        preset = get_protocol("grain_boundary", protocol)
        settings = recursive_merge(preset, overrides, strict=True,
                                   open_keys=("relax_overrides", "chemical_potentials", "job_options"))
        specs = normalise_boundaries(boundaries if boundaries is not None else settings["boundaries"])
        relax = RelaxWorkChain.get_builder_from_protocol(
            code, crystal if crystal is not None else orm.StructureData(), potential, relax_type="normal",
            protocol=settings["relax_protocol"], overrides=settings["relax_overrides"], options=options,
            num_mpiprocs=num_mpiprocs)
        builder = cls.get_builder()
        relax_inputs = relax._inputs(prune=True)
        for name in ("structure", "potential", "relax_type"):
            relax_inputs.pop(name, None)
        builder.relax._update(relax_inputs)
        builder.potential = potential
        if crystal is not None:
            builder.crystal = crystal
        builder.boundaries = orm.List(specs)
        builder.parameters = orm.Dict({key: settings[key] for key in PARAMETER_KEYS})
        merged_job_options = recursive_merge(settings.get("job_options") or {}, job_options)
        if merged_job_options:
            builder.job_options = orm.Dict(merged_job_options)
        return builder

    # -- outline ----------------------------------------------------------------------------------
    def setup(self):
        from aiida_bzs.calculations.functions.structures import pnma_crystal

        self.ctx.parameters = self.inputs.parameters.get_dict() if "parameters" in self.inputs else {}
        self.ctx.specs = normalise_boundaries(self.inputs.boundaries.get_list())
        self.ctx.crystal = self.inputs.crystal if "crystal" in self.inputs else pnma_crystal()
        self.ctx.translations = translation_grid(self.ctx.parameters.get("translations", [1, 1]))

    def _relax_builder(self, structure, relax_type: str, label: str):
        inputs = AttributeDict(self.exposed_inputs(RelaxWorkChain, namespace="relax"))
        inputs.structure = structure
        inputs.potential = self.inputs.potential
        inputs.relax_type = orm.Str(relax_type)
        inputs.metadata = {"call_link_label": label}
        return inputs

    def relax_bulk(self):
        """The crystal relaxed with the potential (cell and positions): E_bulk and the lattice."""
        node = self.submit(RelaxWorkChain, **self._relax_builder(self.ctx.crystal, "cell", "bulk_relax"))
        self.report(f"relaxing the bulk crystal: {node.process_label}<{node.pk}>")
        return ToContext(bulk=node)

    def inspect_bulk(self):
        node = self.ctx.bulk
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_BULK.format(
                pk=node.pk, detail=node.exit_message or f"exit status {node.exit_status}")
        self.out("bulk_structure", node.outputs.structure)
        self.out("bulk_energy", node.outputs.energy)
        atoms = atoms_from_structure(node.outputs.structure)
        counts = {el: atoms.get_chemical_symbols().count(el) for el in set(atoms.get_chemical_symbols())}
        unit = gb_energy.formula_unit(counts)
        n_fu = len(atoms) / sum(unit.values())
        self.ctx.bulk_summary = {"formula_unit": unit, "energy_per_formula_unit": node.outputs.energy.value / n_fu}
        self.report(f"bulk: E = {node.outputs.energy.value / n_fu:.4f} eV per formula unit, "
                    f"a, b, c = {', '.join(f'{x:.4f}' for x in atoms.cell.lengths())} Å")
        return None

    def build_bicrystals(self):
        """One bicrystal per boundary and translation (calcfunction), from the relaxed bulk."""
        from aiida_bzs.calculations.functions.grain_boundary import bicrystal

        bulk = self.ctx.bulk.outputs.structure
        bulk_atoms = atoms_from_structure(bulk)
        a, c = in_plane_lattice(bulk_atoms)
        axis_length = float(bulk_atoms.cell.lengths()[1])
        mu = self.ctx.parameters.get("chemical_potentials") or {}
        unit, e_fu = self.ctx.bulk_summary["formula_unit"], self.ctx.bulk_summary["energy_per_formula_unit"]
        self.ctx.records, self.ctx.built = [], {}
        for b, spec in enumerate(self.ctx.specs):
            try:
                boundary = resolve_boundary(spec, a, c, self.ctx.parameters)
            except BoundaryInputError as exc:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_BICRYSTAL.format(label=spec["label"], detail=str(exc))
            record = {**boundary_record(spec, boundary), "translations": self.ctx.translations, "flags": [],
                      "skipped": {}}
            reasons = []
            for t, translation in enumerate(self.ctx.translations):
                params = bicrystal_parameters(boundary, spec, self.ctx.parameters, translation, axis_length)
                try:
                    result = bicrystal(bulk, orm.Dict(params),
                                       metadata={"call_link_label": f"bicrystal_{spec['label']}_{t}"})
                except Exception as exc:  # noqa: BLE001 - the builder's message is the detail
                    return self.exit_codes.ERROR_SUB_PROCESS_FAILED_BICRYSTAL.format(label=spec["label"],
                                                                                     detail=str(exc))
                structure = result["structure"]
                counts = dict(summarise_structure_counts(structure))
                try:
                    gb_energy.reference_energy(counts, unit, e_fu, mu)
                except gb_energy.MissingChemicalPotential as exc:
                    record["skipped"][str(t)] = f"not relaxed: {exc}"
                    reasons.append(str(exc))
                    self.report(f"{spec['label']} translation {translation}: {exc}; skipped")
                    continue
                self.ctx.built[(b, t)] = structure
            if not any(key[0] == b for key in self.ctx.built):
                return self.exit_codes.ERROR_NO_REFERENCE.format(label=spec["label"], detail=reasons[0])
            self.ctx.records.append(record)
        return None

    def relax_bicrystals(self):
        """All bicrystals relaxed at once: positions and the cell length along the boundary normal."""
        running = {}
        for (b, t), structure in self.ctx.built.items():
            label = f"relax_{self.ctx.specs[b]['label']}_{t}"
            running[f"relax_{b}_{t}"] = self.submit(RelaxWorkChain, **self._relax_builder(structure, "normal", label))
        self.report(f"relaxing {len(running)} bicrystal(s) of {len(self.ctx.specs)} boundar"
                    f"{'y' if len(self.ctx.specs) == 1 else 'ies'}")
        return ToContext(**running)

    def inspect_bicrystals(self):
        """Energies of the finished relaxations; the lowest-E_GBf translation of each boundary."""
        self.ctx.finished, failed = {}, []
        for (b, t) in self.ctx.built:
            node = self.ctx[f"relax_{b}_{t}"]
            if node.is_finished_ok:
                self.ctx.finished[(b, t)] = node
            else:
                detail = f"{node.process_label}<{node.pk}> [{node.exit_status}] {node.exit_message}"
                self.ctx.records[b]["skipped"][str(t)] = f"relaxation failed: {detail}"
                self.report(f"{self.ctx.specs[b]['label']} translation {t}: relaxation failed: {detail}")
                failed.append(detail)
        rows = gb_energy.formation_energy_rows(
            {**self.ctx.bulk_summary}, self.ctx.records,
            {key: node.outputs.energy.value for key, node in self.ctx.finished.items()},
            {key: _counts_cell(node.outputs.structure) for key, node in self.ctx.finished.items()},
            {key: _counts_cell(self.ctx.built[key]) for key in self.ctx.finished},
            {}, self.ctx.parameters.get("chemical_potentials") or {}, IN_PLANE_TOLERANCE)
        self.ctx.chosen = {}
        unrelaxed = []
        for b, row in enumerate(rows):
            if row.get("translation_index") is None:
                unrelaxed.append(self.ctx.specs[b]["label"])
                continue
            self.ctx.chosen[b] = row["translation_index"]
            self.report(f"{row['label']}: E_GBf {row['e_gbf']:.4f} J/m² at translation {row['translation']} "
                        f"({row['n_atoms']} atoms, {row['area']:.2f} Å²)")
        self.ctx.unrelaxed = unrelaxed
        if unrelaxed and not self.ctx.chosen:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_RELAX.format(labels=", ".join(unrelaxed),
                                                                         detail="; ".join(failed) or "no E_GBf")
        return None

    def should_grade(self):
        return (bool(self.ctx.parameters.get("gamma", True)) and self.inputs.potential.has_active_set
                and bool(self.ctx.chosen))

    def run_grades(self):
        """Per-atom γ of each kept relaxed boundary: a job (``bzs.job.grade``), not a calcfunction."""
        code = job_code_of(self.inputs, self.inputs.relax.md.lammps.code)
        running = {}
        for b, t in self.ctx.chosen.items():
            label = self.ctx.specs[b]["label"]
            running[f"grade_{b}"] = self.submit(
                ExtrapolationGradeCalculation, code=code, potential=self.inputs.potential,
                structure=self.ctx.finished[(b, t)].outputs.structure,
                metadata=job_metadata(self.inputs, f"gamma_{label}"))
        return ToContext(**running)

    def inspect_grades(self):
        for b in self.ctx.chosen:
            node = self.ctx[f"grade_{b}"]
            label = self.ctx.specs[b]["label"]
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_GRADE.format(
                    label=label, pk=node.pk, detail=node.exit_message or f"exit status {node.exit_status}")
            self.out(f"gamma.{label}", node.outputs.gamma)
        return None

    def results(self):
        """The table and plot (calcfunctions), the kept structures and energies."""
        nodes = {}
        for (b, t), node in self.ctx.finished.items():
            nodes[f"energy_{b}_{t}"] = node.outputs.energy
            nodes[f"structure_{b}_{t}"] = node.outputs.structure
            nodes[f"bicrystal_{b}_{t}"] = self.ctx.built[(b, t)]
        graded = self.should_grade()
        for b in self.ctx.chosen:
            if graded:
                nodes[f"gamma_{b}"] = self.ctx[f"grade_{b}"].outputs.gamma
        parameters = orm.Dict({"boundaries": self.ctx.records,
                               "chemical_potentials": self.ctx.parameters.get("chemical_potentials") or {}})
        result = gb_energy.formation_energies(self.ctx.bulk.outputs.energy, self.ctx.bulk.outputs.structure,
                                              parameters, **nodes)
        table = result["table"]
        self.out("table", table)
        self.out("plot", gb_energy.plot_formation_energies(table))
        for b, t in self.ctx.chosen.items():
            label = self.ctx.specs[b]["label"]
            self.out(f"structures.{label}", self.ctx.finished[(b, t)].outputs.structure)
            self.out(f"bicrystals.{label}", self.ctx.built[(b, t)])
            self.out(f"energies.{label}", self.ctx.finished[(b, t)].outputs.energy)
            if f"e_gbf_{b}" in result:
                self.out(f"formation_energies.{label}", result[f"e_gbf_{b}"])
        if not graded and self.inputs.potential.has_active_set is False:
            self.report("the potential has no active set: γ of the boundaries not computed (table: null)")
        if self.ctx.unrelaxed:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_RELAX.format(
                labels=", ".join(self.ctx.unrelaxed), detail="see the table's flags; the other boundaries are output")
        return None


def summarise_structure_counts(structure) -> dict[str, int]:
    """Atoms per element of a structure node."""
    from collections import Counter

    return Counter(atoms_from_structure(structure).get_chemical_symbols())


def _counts_cell(structure) -> tuple[dict[str, int], np.ndarray, int]:
    atoms = atoms_from_structure(structure)
    from collections import Counter

    return dict(Counter(atoms.get_chemical_symbols())), np.asarray(atoms.cell[:]), len(atoms)


def bicrystal_parameters(boundary, spec: dict, parameters: dict, translation, axis_length: float) -> dict:
    """The ``parameters`` of the ``bzs.gb.bicrystal`` calcfunction for one boundary and translation.

    ``translation``: fractions of the boundary period (x) and of the axis period (y), turned into
    the builder's Å; ``axis_length`` the bulk's b (Å).
    """
    record = {key: (list(value) if isinstance(value, tuple) else value)
              for key, value in dataclasses.asdict(boundary).items()}
    repeats = int(parameters.get("repeats_along_axis", 1))
    return {"boundary": record,
            "grain_thickness": float(parameters.get("grain_thickness", 25.0)),
            "repeats_along_axis": repeats,
            "translation": [float(translation[0]) * float(boundary.period_along_boundary),
                            float(translation[1]) * axis_length * repeats],
            "min_distance": float(parameters.get("min_distance", 1.5))}


__all__ = ["GrainBoundaryWorkChain", "BoundaryInputError", "normalise_boundaries", "resolve_boundary",
           "translation_grid", "validate_parameters", "bicrystal_parameters"]
