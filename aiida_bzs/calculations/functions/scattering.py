"""Calcfunctions of the scattering capability: 2θ conversion, comparison with measured data,
Scherrer sizes and the overlay plot. Each wraps pure code of :mod:`aiida_bzs.scattering`.

Units: Q in Å⁻¹, 2θ in degrees, r in Å, wavelength in Å, G(r) in Å⁻².
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from ...analysis.errors import AnalysisInputError
from ...scattering.compare import fit_scale
from ...scattering.peaks import SCHERRER_K, scherrer_size
from ...scattering.plot import Curve, Panel, overlay_figure
from ...scattering.units import check_q_window, resolve_wavelength, two_theta_from_q
from ...data.large_structure import LargeStructureData


@calcfunction
def structure_to_xyz(structure: orm.StructureData | LargeStructureData) -> orm.SinglefileData:
    """The structure as the runner's extended-XYZ input file (positions and cell in Å).

    Why: a CalcJob whose input is a 10⁵-atom StructureData pays for decoding all its sites at
    every scheduler poll (aiida-core loads the input nodes); a file input costs nothing to poll.
    The file node carries ``n_atoms``, ``elements`` and ``pbc`` as attributes for validation.
    """
    from ..scattering import structure_arrays
    from ...scripts.scatter_files import STRUCTURE_FILENAME, write_xyz

    symbols, positions = structure_arrays(structure)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / STRUCTURE_FILENAME
        write_xyz(path, symbols, positions, structure.cell, structure.pbc)
        node = orm.SinglefileData(path)
    node.base.attributes.set("n_atoms", len(symbols))
    node.base.attributes.set("elements", sorted(set(symbols)))
    node.base.attributes.set("pbc", [bool(p) for p in structure.pbc])
    return node


def _xy(node: orm.XyData) -> tuple[str, np.ndarray, np.ndarray]:
    name, x, _ = node.get_x()
    return name, np.asarray(x, float), np.asarray(node.get_y()[0][1], float)


@calcfunction
def xrd_pattern(iq: orm.XyData, settings: orm.Dict) -> orm.XyData:
    """I(Q) inside the window [qmin, qmax] (Å⁻¹) as I(2θ) (degrees) at ``wavelength`` (Å or 'Cu').

    ``settings``: qmin, qmax, wavelength. Raises if the window is reversed or beyond 4π/λ.
    """
    s = settings.get_dict()
    lam = resolve_wavelength(s.get("wavelength"))
    qmin, qmax = check_q_window(s["qmin"], s["qmax"], lam)
    _, q, intensity = _xy(iq)
    mask = (q >= qmin) & (q <= qmax)
    if mask.sum() < 2:
        raise AnalysisInputError(f"the pattern has no points in the Q window [{qmin}, {qmax}] Å⁻¹")
    node = orm.XyData(
        two_theta_from_q(q[mask], lam), [intensity[mask]], x_name="two_theta", x_units="degrees",
        y_names=["I"], y_units=[iq.y_units[0]],
    )
    node.base.attributes.set("wavelength", lam)
    node.base.attributes.set("q_window", [qmin, qmax])
    return node


@calcfunction
def compare_pattern(model: orm.XyData, measured: orm.XyData, settings: orm.Dict) -> dict:
    """Fit a model curve to a measured one (``MeasuredPatternData``) and report Rwp.

    XRD: ``model`` is I(Q) (x 'Q', Å⁻¹); it is put on the measured axis (2θ with the measured
    wavelength, or Q); window ``qmin``/``qmax`` in Å⁻¹. PDF: ``model`` is G(r) (x 'r', Å);
    window ``rmin``/``rmax`` in Å. ``background`` (flat, XRD) and ``weighting`` as in
    :func:`aiida_bzs.scattering.compare.fit_scale`.
    Returns ``result`` (Dict: rwp, scale, background, n_points, window) and ``fit`` (XyData:
    observed, calculated, difference on the measured x).
    """
    s = settings.get_dict()
    kind, axis = measured.base.attributes.get("kind"), measured.base.attributes.get("axis")
    x_obs, y_obs, sigma = measured.get_curve()
    x_name, x_model, y_model = _xy(model)
    if kind == "xrd":
        if x_name != "Q":
            raise AnalysisInputError(f"an XRD comparison needs the model I(Q) (x 'Q'), got x {x_name!r}")
        qmin, qmax = check_q_window(s.get("qmin", x_model[0]), s.get("qmax", x_model[-1]))
        if axis == "two_theta":
            lam = measured.base.attributes.get("wavelength")
            reach = x_model <= 4 * np.pi / lam
            x_model, y_model = two_theta_from_q(x_model[reach], lam), y_model[reach]
            qmax = min(qmax, 4 * np.pi / lam)
            lo, hi = two_theta_from_q([qmin, qmax], lam)
        else:
            lo, hi = qmin, qmax
    else:
        if x_name != "r":
            raise AnalysisInputError(f"a PDF comparison needs the model G(r) (x 'r'), got x {x_name!r}")
        lo, hi = s.get("rmin", x_model[0]), s.get("rmax", x_model[-1])
    fit = fit_scale(
        x_obs, y_obs, x_model, y_model, sigma=sigma, background=bool(s.get("background", False)),
        x_min=float(lo), x_max=float(hi), weighting=s.get("weighting", "auto"),
    )
    summary = {**fit.summary(), "kind": kind, "axis": axis}
    curves = orm.XyData(
        fit.x, [fit.y_obs, fit.y_calc, fit.y_obs - fit.y_calc], x_name=axis, x_units=measured.x_units,
        y_names=["observed", "calculated", "difference"], y_units=[measured.y_units[0]] * 3,
    )
    return {"result": orm.Dict(summary), "fit": curves}


#: The flags of :func:`scherrer_sizes` that say why an entry has no size, in the order they are tested.
NO_SIZE_FLAGS = ("window_limited", "not_crystalline", "exceeds_particle", "below_resolution")


def no_size_flag(entry: dict) -> str | None:
    """The flag of :data:`NO_SIZE_FLAGS` set on a :func:`scherrer_sizes` entry (None: none is)."""
    return next((flag for flag in NO_SIZE_FLAGS if entry.get(flag)), None)


@calcfunction
def scherrer_sizes(settings: orm.Dict, **patterns: orm.XyData) -> orm.Dict:
    """Scherrer domain size (Å, nm) of the main peak of each 2θ pattern, keyed by its label.

    ``settings``: wavelength (Å), two_theta_min/two_theta_max (degrees: the peak window), k
    (default 0.9), instrumental_fwhm (degrees), ``window_limited`` {label: why}: patterns whose peak
    width is set by a real-space window (the periodic mode's cutoff), not by the crystallite — they
    get their peak position and FWHM but no size (``size``/``size_nm`` None, ``window_limited``
    true and the reason). ``particle_extent`` {label: Å}: the finite particle's bounding-box diagonal;
    a size above it is no crystallite's (the main peak is narrower than the particle allows: an
    amorphous halo's ripple, a truncation artefact) — position and FWHM kept, no size,
    ``exceeds_particle`` true. ``not_crystalline`` {label: why}: structures known to hold no
    crystallite (an amorphous product): the main peak is a halo, its width a correlation length,
    not a size — position and FWHM kept, no size, ``not_crystalline`` true. ``min_size`` (Å): the
    smallest size the peak window resolves (the protocols: 30 Å for the 121/200/002 group at Cu Kα,
    where 1–3 nm spheres all give 2.1–2.7 nm as the group merges with its neighbours); a size below
    it gets no size and ``below_resolution`` true. A pattern without a clear peak gets an ``error``.
    """
    s = settings.get_dict()
    limited = s.get("window_limited") or {}
    extents = s.get("particle_extent") or {}
    amorphous = s.get("not_crystalline") or {}
    floor = s.get("min_size")
    out = {}
    for label, node in patterns.items():
        _, x, y = _xy(node)
        try:
            out[label] = scherrer_size(
                x, y, s.get("wavelength", node.base.attributes.get("wavelength", None)),
                s.get("two_theta_min"), s.get("two_theta_max"), s.get("k", SCHERRER_K),
                s.get("instrumental_fwhm", 0.0),
            )
        except AnalysisInputError as exc:
            out[label] = {"error": str(exc)}
        size = out[label].get("size")
        # why this peak's width is no crystallite size, first reason that applies (None: it is one)
        flag, why = next(((flag, why) for flag, why in (
            ("window_limited", limited.get(label)),
            ("not_crystalline", amorphous.get(label)),
            ("exceeds_particle", size is not None and label in extents and size > extents[label] and
             f"Scherrer size {size:.1f} Å exceeds the particle itself ({extents[label]:.1f} Å across): the main "
             "peak is no crystallite's Bragg peak (amorphous halo?); no size"),
            ("below_resolution", size is not None and floor is not None and size < floor and
             f"Scherrer size {size:.1f} Å is below what this peak window resolves ({floor:.0f} Å: smaller "
             "crystallites broaden the peak into its neighbours and all give about this width); no size"),
        ) if why), (None, None))
        if flag:
            out[label].update(size=None, size_nm=None, note=why, **{flag: True})
    return orm.Dict(out)


@calcfunction
def plot_scattering(settings: orm.Dict, **curves) -> orm.SinglefileData:
    """Figure-4-style PNG: XRD (2θ) and PDF (r) of the models, stacked, over measured data.

    Namespaces: ``xrd`` {label: I(2θ) XyData}, ``pdf`` {label: G(r) XyData}, optional
    ``measured_xrd`` / ``measured_pdf`` (MeasuredPatternData) and ``fits_xrd`` / ``fits_pdf``
    {label: Dict from :func:`compare_pattern`} to scale the models onto the data.
    ``settings``: order (labels, top first), panels (['xrd', 'pdf']), title, two_theta_range
    (degrees), r_range (Å), wavelength (Å, for measured Q data shown in 2θ).
    """
    s = settings.get_dict()
    order = s.get("order")
    panels = []
    for kind, xlabel, ylabel in (("xrd", "2θ (degrees)", "I (a.u.)"), ("pdf", "r (Å)", "G(r) (Å⁻²)")):
        models = curves.get(kind, {})
        if not models or kind not in s.get("panels", ["xrd", "pdf"]):
            continue
        fits = curves.get(f"fits_{kind}", {})
        measured = curves.get(f"measured_{kind}")
        labels = [label for label in (order or sorted(models)) if label in models]
        x_range = s.get("two_theta_range" if kind == "xrd" else "r_range")
        panel = Panel(xlabel, ylabel, x_range=tuple(x_range) if x_range else None)
        for label in labels:
            _, x, y = _xy(models[label])
            fit = fits[label].get_dict() if label in fits else None
            if fit and measured is not None:
                y = fit["scale"] * y + fit["background"]
            panel.models.append(Curve(label, x, y, fit["rwp"] if fit else None))
        if measured is not None:
            x, y, _ = measured.get_curve()
            if kind == "xrd" and measured.base.attributes.get("axis") == "q":
                x = two_theta_from_q(x, s.get("wavelength"))
            name = measured.base.attributes.get("source_filename") or "measured"
            panel.measured = Curve(f"measured ({name})", x, y)
        panels.append(panel)
    with tempfile.TemporaryDirectory() as tmp:
        path = overlay_figure(Path(tmp) / "scattering.png", panels, title=s.get("title"))
        content = path.read_bytes()
    return orm.SinglefileData(io.BytesIO(content), filename="scattering.png")

