"""``ScatteringWorkChain`` (``bzs.scattering``): structures → patterns → comparisons → one plot.

Any number of StructureData or LargeStructureData (crystal, nanoparticles, amorphous,
polycrystals) under labels in ``structures``; one ScatteringCalculation each (big ones on
``gpu_code`` with device 'cuda'), then, as calcfunctions: the XRD window in 2θ, the Scherrer
size of each pattern, the fits to measured XRD/PDF data (Rwp) and a figure-4-style overlay PNG. Numbers come from
``protocols/scattering.yaml`` via :meth:`get_builder_from_protocol`; nothing is computed here.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_

from ..calculations.functions.scattering import (
    compare_pattern,
    plot_scattering,
    scherrer_sizes,
    structure_to_xyz,
    xrd_pattern,
)
from ..calculations.scattering import ScatteringCalculation
from ..common.codes import code_label, load_code
from ..common.structure_nodes import STRUCTURE_TYPES, structure_n_atoms
from .protocols import get_protocol

PROTOCOL = "scattering"


def _measured_kind(kind: str):
    def validator(node, _):
        if node is not None and node.base.attributes.get("kind", None) != kind:
            return f"expected measured {kind} data (MeasuredPatternData with kind '{kind}')"
        return None

    return validator


def validate_structures(structures, _) -> str | None:
    """At least one structure, none empty."""
    if not structures:
        return "give at least one structure under `structures`"
    empty = [label for label, node in structures.items() if not structure_n_atoms(node)]
    if empty:
        return f"structures {empty} have no sites"
    return None


def validate_xrd_settings(node, _) -> str | None:
    """The XRD window: 0 <= qmin < qmax (Å⁻¹), qmax reachable at the wavelength (Å or anode name)."""
    from ..analysis.errors import AnalysisInputError
    from ..scattering.units import check_q_window, resolve_wavelength

    if node is None:
        return None
    settings = node.get_dict()
    try:
        check_q_window(settings.get("qmin"), settings.get("qmax"), resolve_wavelength(settings.get("wavelength")))
    except AnalysisInputError as exc:
        return f"xrd: {exc}"
    return None


def validate_inputs(inputs, _) -> str | None:
    """The XRD window must lie inside the Q grid that the calculations compute."""
    from ..analysis.errors import AnalysisInputError
    from ..scattering.params import validate_parameters
    from ..scattering.units import check_q_window

    xrd, parameters = inputs.get("xrd"), inputs.get("parameters")
    if xrd is None or parameters is None:
        return None
    try:
        qmin, qmax = check_q_window(xrd.get("qmin"), xrd.get("qmax"))
        grid = validate_parameters(parameters.get_dict())  # defaults filled in
    except AnalysisInputError:
        return None  # validate_xrd_settings, or the ScatteringCalculation's own validator, reports it
    grid_min, grid_max = grid["qmin"], grid["qmax"]
    if qmin < grid_min or qmax > grid_max:
        return (f"the XRD window [{qmin}, {qmax}] Å⁻¹ is outside the computed Q grid [{grid_min}, {grid_max}] Å⁻¹; "
                "widen parameters qmin/qmax or narrow xrd qmin/qmax")
    return None


class ScatteringWorkChain(WorkChain):
    """XRD and PDF of several structures, compared with measured data, plotted together."""

    @classmethod
    def define(cls, spec):
        """Inputs: structures (namespace), code, parameters, xrd/compare/scherrer/plot settings,
        optional measured_xrd / measured_pdf; outputs per label and one plot."""
        super().define(spec)
        spec.input_namespace("structures", valid_type=STRUCTURE_TYPES, dynamic=True,
                             validator=validate_structures,
                             help="label → structure (StructureData or LargeStructureData)")
        spec.input("code", valid_type=orm.AbstractCode, required=False,
                   help=f"aiida-bzs-scatter code; default {code_label('bzs_scatter')}")
        spec.input("gpu_code", valid_type=orm.AbstractCode, required=False,
                   help="code on a GPU computer; used with device 'cuda' for structures >= gpu_min_atoms")
        spec.input("gpu_min_atoms", valid_type=orm.Int, default=lambda: orm.Int(100_000))
        spec.input("parameters", valid_type=orm.Dict, help="ScatteringCalculation parameters")
        spec.input("xrd", valid_type=orm.Dict, validator=validate_xrd_settings,
                   help="XRD window qmin, qmax (Å⁻¹) and wavelength (Å)")
        spec.input("compare", valid_type=orm.Dict, required=False,
                   help="{'xrd': {background, weighting}, 'pdf': {rmin, rmax, weighting}}")
        spec.input("scherrer", valid_type=orm.Dict, required=False,
                   help="peak window two_theta_min/max (degrees), k, instrumental_fwhm, min_size (Å: no size "
                        "below what the window resolves); not_crystalline {label: why}: structures without "
                        "crystallites (no size)")
        spec.input("plot", valid_type=orm.Dict, required=False, help="title, r_range (Å), order")
        spec.input("measured_xrd", valid_type=orm.XyData, required=False, validator=_measured_kind("xrd"))
        spec.input("measured_pdf", valid_type=orm.XyData, required=False, validator=_measured_kind("pdf"))
        spec.input("options", valid_type=orm.Dict, required=False,
                   help="metadata.options for every ScatteringCalculation (e.g. resources, max_wallclock_seconds)")

        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.run_calculations,
            cls.inspect_calculations,
            cls.make_xrd_patterns,
            if_(cls.has_measured)(cls.compare_with_measured),
            cls.make_plot,
        )
        spec.output_namespace("iq", valid_type=orm.XyData, dynamic=True, help="label → I(Q)")
        spec.output_namespace("sq", valid_type=orm.XyData, dynamic=True, help="label → S(Q)")
        spec.output_namespace("gr", valid_type=orm.XyData, dynamic=True, help="label → G(r)")
        spec.output_namespace("xrd", valid_type=orm.XyData, dynamic=True, help="label → I(2θ) in the XRD window")
        spec.output_namespace("comparisons", valid_type=orm.Dict, dynamic=True,
                              help="label → xrd / pdf: fit summary Dict (Rwp, scale, background)")
        spec.output("scherrer", valid_type=orm.Dict, help="label → main-peak 2θ, FWHM (degrees), size (Å, nm)")
        spec.output("plot", valid_type=orm.SinglefileData, help="figure-4-style overlay (PNG)")
        spec.exit_code(401, "ERROR_SUB_PROCESS_FAILED_CALCULATION", message="scattering calculation(s) failed: {labels}")

    @classmethod
    def get_builder_from_protocol(cls, structures: dict, code=None, protocol: str | None = None,
                                  overrides: dict | None = None, measured_xrd=None, measured_pdf=None, gpu_code=None):
        """Builder with the preset ``protocol`` of scattering.yaml; ``overrides`` update its sections
        (e.g. ``{'parameters': {'device': 'cuda'}, 'xrd': {'wavelength': 0.70932}}``)."""
        preset = get_protocol(PROTOCOL, protocol)
        for section, values in (overrides or {}).items():
            if isinstance(values, dict) and isinstance(preset.get(section), dict):
                preset[section] = {**preset[section], **values}
            else:
                preset[section] = values
        builder = cls.get_builder()
        if structures:  # a workchain that makes the structures itself passes {} and sets them later
            builder.structures = dict(structures)
        if code is not None:
            builder.code = load_code(code)
        if gpu_code is not None:
            builder.gpu_code = load_code(gpu_code)
        builder.gpu_min_atoms = orm.Int(int(preset["gpu_min_atoms"]))
        for section in ("parameters", "xrd", "compare", "scherrer", "plot"):
            builder[section] = orm.Dict(preset[section])
        if measured_xrd is not None:
            builder.measured_xrd = measured_xrd
            builder.xrd = orm.Dict({**preset["xrd"], "wavelength": measured_xrd.base.attributes.get("wavelength")
                                    or preset["xrd"]["wavelength"]})
        if measured_pdf is not None:
            builder.measured_pdf = measured_pdf
        return builder

    def run_calculations(self):
        """One ScatteringCalculation per structure; big ones on the GPU code when there is one."""
        code = self.inputs.code if "code" in self.inputs else load_code(code_label("bzs_scatter"))
        options = self.inputs.options.get_dict() if "options" in self.inputs else {}
        calcs = {}
        for label, structure in self.inputs.structures.items():
            xyz = structure_to_xyz(structure)  # a file input keeps polling cheap for big structures
            n_atoms = xyz.base.attributes.get("n_atoms")
            params = self.inputs.parameters.get_dict()
            this_code = code
            if "gpu_code" in self.inputs and n_atoms >= self.inputs.gpu_min_atoms.value:
                this_code, params = self.inputs.gpu_code, {**params, "device": "cuda"}
            builder = ScatteringCalculation.get_builder()
            builder.code = this_code
            builder.structure_file = xyz
            builder.parameters = orm.Dict(params)
            builder.metadata.options = options
            builder.metadata.call_link_label = f"scatter_{label}"
            calcs[f"calc_{label}"] = self.submit(builder)
            self.report(f"{label}: {n_atoms} atoms on {params.get('device', 'cpu')}")
        return ToContext(**calcs)

    def inspect_calculations(self):
        """Stop with 401 naming the labels whose calculation failed; expose the curves."""
        failed = [label for label in self.inputs.structures if not self.ctx[f"calc_{label}"].is_finished_ok]
        if failed:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_CALCULATION.format(labels=", ".join(sorted(failed)))
        for label in self.inputs.structures:
            calc = self.ctx[f"calc_{label}"]
            for key in ("iq", "sq", "gr"):
                self.out(f"{key}.{label}", calc.outputs[key])
            warning = self._short_cutoff_warning(label, calc)
            if warning:
                self.report(f"warning: {label}: {warning}")
        return None

    def _short_cutoff_warning(self, label: str, calc) -> str | None:
        """Why a periodic-mode pattern's cutoff is too short to mean much, or None (see
        :func:`~aiida_bzs.scattering.periodic.short_cutoff_warning`)."""
        from ..scattering.periodic import short_cutoff_warning

        meta = calc.outputs.output_parameters
        if meta.get("mode") != "periodic" or meta.get("rcut") is None:
            return None
        return short_cutoff_warning(float(meta["rcut"]), self.inputs.structures[label].cell)

    def make_xrd_patterns(self):
        """I(Q) → I(2θ) in the XRD window, then the Scherrer size of every pattern."""
        self.ctx.xrd = {}
        for label in self.inputs.structures:
            node = xrd_pattern(self.ctx[f"calc_{label}"].outputs.iq, self.inputs.xrd)
            self.ctx.xrd[label] = node
            self.out(f"xrd.{label}", node)
        settings = {"wavelength": self.inputs.xrd["wavelength"]}
        if "scherrer" in self.inputs:
            settings.update(self.inputs.scherrer.get_dict())
        limited, extents = {}, {}
        for label in self.inputs.structures:
            meta = self.ctx[f"calc_{label}"].outputs.output_parameters
            if meta.get("particle_extent") is not None:
                extents[label] = meta["particle_extent"]
            if meta.get("mode") == "periodic":
                limited[label] = (f"periodic mode: the peak width is set by the real-space window (rcut "
                                  f"{meta.get('rcut')} Å), not by the crystallite; use the finite (Debye) mode")
        if extents:
            settings["particle_extent"] = extents
        if limited:
            settings["window_limited"] = limited
            self.report(f"no Scherrer size for {', '.join(sorted(limited))}: periodic mode, window-limited peaks")
        self.out("scherrer", scherrer_sizes(orm.Dict(settings), **self.ctx.xrd))

    def has_measured(self):
        """True when measured XRD or PDF data were given."""
        return "measured_xrd" in self.inputs or "measured_pdf" in self.inputs

    def compare_with_measured(self):
        """Fit every model to the measured data (scale, flat background for XRD) and report Rwp."""
        compare = self.inputs.compare.get_dict() if "compare" in self.inputs else {}
        self.ctx.fits = {"xrd": {}, "pdf": {}}
        for label in self.inputs.structures:
            calc = self.ctx[f"calc_{label}"]
            summary = {}
            if "measured_xrd" in self.inputs:
                window = {"qmin": self.inputs.xrd["qmin"], "qmax": self.inputs.xrd["qmax"]}
                result = compare_pattern(calc.outputs.iq, self.inputs.measured_xrd,
                                         orm.Dict({**window, **compare.get("xrd", {})}))
                self.ctx.fits["xrd"][label] = result["result"]
                summary["xrd"] = result["result"].get_dict()
            if "measured_pdf" in self.inputs:
                result = compare_pattern(calc.outputs.gr, self.inputs.measured_pdf, orm.Dict(compare.get("pdf", {})))
                self.ctx.fits["pdf"][label] = result["result"]
                summary["pdf"] = result["result"].get_dict()
            for kind in summary:
                self.out(f"comparisons.{label}.{kind}", self.ctx.fits[kind][label])
            self.report(f"{label}: " + ", ".join(f"Rwp({k}) = {v['rwp']:.4f}" for k, v in summary.items()))

    def make_plot(self):
        """One overlay PNG of all models (and the measured data when given)."""
        settings = {"order": list(self.inputs.structures), "wavelength": self.inputs.xrd["wavelength"]}
        if "plot" in self.inputs:
            settings.update(self.inputs.plot.get_dict())
        curves = {
            "xrd": self.ctx.xrd,
            "pdf": {label: self.ctx[f"calc_{label}"].outputs.gr for label in self.inputs.structures},
        }
        fits = self.ctx.get("fits", {"xrd": {}, "pdf": {}})
        for kind in ("xrd", "pdf"):
            if f"measured_{kind}" in self.inputs:
                curves[f"measured_{kind}"] = self.inputs[f"measured_{kind}"]
                curves[f"fits_{kind}"] = fits[kind]
        self.out("plot", plot_scattering(orm.Dict(settings), **curves))
