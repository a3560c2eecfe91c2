"""Comparison figures of the standard analysis (crystal vs amorphous vs polycrystal …).

Three rows that can be drawn alone or together: coordination (CN histograms per cation and
mean bond length per CN), pair distribution (total and cation–S partial g(r)), and angles
(S–Zr–S, S–Ba–S ADFs and the S–S partial with the close-contact range shaded).
Figures are plain ``matplotlib.figure.Figure`` objects rendered to PNG: no pyplot state, no
display and no change of the process's matplotlib backend.

Readable side by side: a crystal's g(r) and ADF peaks are sharp and 5–30 times taller than an
amorphous sample's, which a shared linear axis flattens to a line. In each line panel a curve
whose peak is more than :data:`SCALE_RATIO` times the lowest curve's is drawn multiplied by a
round factor (×0.1 …), stated in the curve's colour above the panel, so every curve fills its
axes. The legend (structure, density, S–S contacts) sits below the figure, never on the data.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .standard import StructureAnalysis

#: Okabe–Ito colours (colour-blind safe), one per structure in order.
COLOURS = ("#000000", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
#: Marker per bond in the bond-length panel (first bond filled circle, second open square, …).
BOND_MARKERS = ("o", "s", "^", "D")
ROWS = ("coordination", "rdf", "angles")
#: A curve is scaled down when its peak (within the x range shown) exceeds this many times the
#: peak of the lowest curve of the panel …
SCALE_RATIO = 2.5
#: … by the largest of 1, 0.5, 0.2, 0.1, 0.05, … that brings it to at most this many times it.
SCALE_TARGET = 1.5
_STYLE = {
    "font.size": 8,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "lines.linewidth": 1.0,
}


def _dash(a: str, b: str) -> str:
    return f"{a}–{b}"


def _sub(a: str, b: str) -> str:
    return rf"$g_{{\mathrm{{{a}{b}}}}}(r)$"


def _peak(x, y, xlim) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    inside = (x >= xlim[0]) & (x <= xlim[1]) & np.isfinite(y)
    return float(y[inside].max()) if inside.any() else 0.0


def scale_factor(peak: float, reference: float) -> float:
    """Round factor (1, 0.5, 0.2, 0.1, 0.05, …) for a curve of ``peak`` beside one of ``reference``:
    1 unless ``peak`` > :data:`SCALE_RATIO` × ``reference``, else the largest that brings it to
    ≤ :data:`SCALE_TARGET` × ``reference`` (same units as the curves, e.g. g(r) or deg⁻¹)."""
    if reference <= 0 or peak <= SCALE_RATIO * reference:
        return 1.0
    for exponent in range(0, 13):
        for mantissa in (1.0, 0.5, 0.2):
            factor = mantissa * 10.0**-exponent
            if factor * peak <= SCALE_TARGET * reference:
                return factor
    return factor


def plot_curves(ax, curves, xlim, headroom: float = 1.1) -> dict[str, float]:
    """Draw ``curves`` (label, colour, x, y) on ``ax`` over ``xlim``, each too-tall one scaled by
    :func:`scale_factor` against the lowest peak and its factor written above the panel in its
    colour; the y range then holds every curve's peak. Returns label → factor."""
    peaks = [_peak(x, y, xlim) for _, _, x, y in curves]
    positive = [p for p in peaks if p > 0]
    reference = min(positive) if positive else 0.0
    factors, top, notes = {}, 0.0, []
    for (label, colour, x, y), peak in zip(curves, peaks):
        factor = scale_factor(peak, reference)
        factors[label] = factor
        ax.plot(x, factor * np.asarray(y, dtype=float), color=colour, label=label)
        top = max(top, factor * peak)
        if factor != 1.0:
            notes.append((f"{label} ×{factor:g}", colour))
    for k, (text, colour) in enumerate(notes):  # above the axes, right-aligned: never on the data
        ax.text(1.0, 1.02 + 0.1 * k, text, transform=ax.transAxes, ha="right", va="bottom",
                color=colour, fontsize=7)
    ax.set_xlim(*xlim)
    if top > 0:
        ax.set_ylim(0, headroom * top)
    return factors


def draw_coordination(axes, results: Mapping[str, StructureAnalysis]) -> None:
    """CN histograms (% of each cation) side by side, then mean bond length (Å) against CN."""
    labels = list(results)
    bonds = list(next(iter(results.values())).coordination)
    width = 0.8 / len(labels)
    for ax, bond in zip(axes, bonds):
        max_cn = max(len(r.coordination[bond].histogram()[1]) for r in results.values())
        top = 0.0
        for k, label in enumerate(labels):
            values, counts = results[label].coordination[bond].histogram()
            percent = 100.0 * counts / max(counts.sum(), 1)
            top = max(top, float(percent.max()))
            offset = (k - (len(labels) - 1) / 2) * width
            ax.bar(values + offset, percent, width=width, color=COLOURS[k % len(COLOURS)],
                   label=label, edgecolor="none")
        ax.set_ylim(0, 1.1 * top)
        ax.set_xticks(range(0, max_cn, 1 if max_cn <= 11 else 2))
        ax.set_xlim(-0.6, max_cn - 0.4)
        ax.set_xlabel(f"{bond[0]} coordination number ({_dash(*bond)} < "
                      f"{results[labels[0]].coordination[bond].cutoff:g} Å)")
        ax.set_ylabel(f"{bond[0]} atoms (%)")
    ax = axes[len(bonds)]
    for k, label in enumerate(labels):
        colour = COLOURS[k % len(COLOURS)]
        for m, bond in enumerate(bonds):
            cn, mean, _ = results[label].coordination[bond].mean_bond_length_by_cn()
            ax.plot(cn, mean, marker=BOND_MARKERS[m % len(BOND_MARKERS)], ms=3.5, color=colour,
                    mfc="white" if m else colour, lw=0.8)
    handles = [
        Line2D([], [], color="0.3", marker=BOND_MARKERS[m % len(BOND_MARKERS)], ms=3.5,
               mfc="white" if m else "0.3", lw=0.8, label=_dash(*bond))
        for m, bond in enumerate(bonds)
    ]
    # the marker key above the panel, outside the data
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(handles),
              borderaxespad=0.2, handlelength=1.5, columnspacing=1.0)
    ax.set_xlabel("Coordination number")
    ax.set_ylabel("Mean bond length (Å)")


def draw_rdf(axes, results: Mapping[str, StructureAnalysis]) -> None:
    """Total g(r), then each cation–S partial g(r) with its CN cut-off dotted."""
    bonds = list(next(iter(results.values())).coordination)
    xlim = (0.0, max(r.rdf.r[-1] for r in results.values()))
    colours = [COLOURS[k % len(COLOURS)] for k in range(len(results))]
    plot_curves(axes[0], [(label, c, res.rdf.r, res.rdf.total)
                          for (label, res), c in zip(results.items(), colours)], xlim)
    axes[0].set_ylabel("$g(r)$")
    for ax, bond in zip(axes[1:], bonds):
        plot_curves(ax, [(label, c, res.rdf.r, res.rdf.partial(*bond))
                         for (label, res), c in zip(results.items(), colours)], xlim)
        ax.set_ylabel(_sub(*bond))
        ax.axvline(results[next(iter(results))].coordination[bond].cutoff, color="0.6", lw=0.6,
                   ls=":")
    for ax in axes:
        ax.set_xlabel("$r$ (Å)")
        ax.axhline(1.0, color="0.8", lw=0.5, zorder=0)


def draw_angles(axes, results: Mapping[str, StructureAnalysis]) -> None:
    """ADFs per cation (probability per degree), then the S–S partial with close contacts shaded."""
    bonds = list(next(iter(results.values())).coordination)
    colours = [COLOURS[k % len(COLOURS)] for k in range(len(results))]
    for ax, bond in zip(axes, bonds):
        plot_curves(ax, [(label, c, res.angles[bond].angle, res.angles[bond].density)
                         for (label, res), c in zip(results.items(), colours)], (0.0, 180.0))
        ax.set_xlabel(f"{_dash(bond[1], bond[0])}–{bond[1]} angle (°)")
        ax.set_ylabel("Probability (deg$^{-1}$)")
        ax.set_xticks(range(0, 181, 30))
    ax = axes[len(bonds)]
    first = next(iter(results.values())).contacts
    s = first.species
    plot_curves(ax, [(label, c, res.rdf.r, res.rdf.partial(s, s))
                     for (label, res), c in zip(results.items(), colours)], (0.0, 6.0))
    ax.axvspan(0, first.cutoff, color="0.92", zorder=0)
    ax.set_xlabel(f"$r$ (Å); shaded: {s}–{s} contact < {first.cutoff:g} Å")
    ax.set_ylabel(_sub(s, s))


def _figure_legend(fig, results: Mapping[str, StructureAnalysis]) -> None:
    """One legend for the whole figure, below it: colour → structure, density (g/cm³), contacts."""
    handles = []
    for k, (label, res) in enumerate(results.items()):
        contacts = res.contacts
        text = (f"{label}: {res.density:.2f} g/cm³, {100 * contacts.fraction_in_contact:.1f}% "
                f"{contacts.species} in {contacts.species}–{contacts.species} contact")
        handles.append(Line2D([], [], color=COLOURS[k % len(COLOURS)], lw=2.0, label=text))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 2))


_DRAW = {"coordination": draw_coordination, "rdf": draw_rdf, "angles": draw_angles}


def comparison_figure(
    results: Mapping[str, StructureAnalysis], rows: tuple[str, ...] = ROWS
) -> Figure:
    """Return a figure with one row per entry of ``rows`` (see :data:`ROWS`), panels lettered."""
    if not results:
        raise ValueError("nothing to plot: pass at least one analysed structure")
    unknown = set(rows) - set(_DRAW)
    if unknown:
        raise ValueError(f"unknown rows {sorted(unknown)}; choose from {ROWS}")
    ncols = len(next(iter(results.values())).coordination) + 1
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(2.45 * ncols, 2.2 * len(rows) + 0.15 * len(results)), layout="constrained")
        axes = fig.subplots(len(rows), ncols, squeeze=False)
        for row, name in zip(axes, rows):
            _DRAW[name](list(row), results)
        _figure_legend(fig, results)
        for k, ax in enumerate(axes.flat):
            ax.text(-0.02, 1.02, f"({chr(ord('a') + k)})", transform=ax.transAxes,
                    ha="right", va="bottom", fontweight="bold")
    return fig


def figure_png(fig: Figure, dpi: int = 200) -> bytes:
    """Render ``fig`` to PNG bytes at ``dpi`` dots per inch."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def comparison_pngs(results: Mapping[str, StructureAnalysis]) -> dict[str, bytes]:
    """PNG bytes of the ``overview`` (all rows) and of each row alone."""
    pngs = {"overview": figure_png(comparison_figure(results))}
    for row in ROWS:
        pngs[row] = figure_png(comparison_figure(results, rows=(row,)))
    return pngs

