"""Comparison figures of the standard analysis (crystal vs amorphous vs polycrystal …).

Three rows that can be drawn alone or together: coordination (CN histograms per cation and
mean bond length per CN), pair distribution (total and cation–S partial g(r)), and angles
(S–Zr–S, S–Ba–S ADFs and the S–S partial with the close-contact range shaded).
Figures are plain ``matplotlib.figure.Figure`` objects rendered to PNG: no pyplot state, no
display and no change of the process's matplotlib backend.
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


def _headroom(ax, factor: float = 1.35) -> None:
    """Raise the y limit so that the legend sits above the curves (within the x range shown)."""
    low, high = ax.get_xlim()
    top = 0.0
    for line in ax.lines:
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        inside = (x >= low) & (x <= high) & np.isfinite(y)
        if inside.any():
            top = max(top, float(y[inside].max()))
    if top > 0:
        ax.set_ylim(0, factor * top)


def draw_coordination(axes, results: Mapping[str, StructureAnalysis]) -> None:
    """CN histograms (% of each cation; densities in g/cm³ in the legend) side by side, then mean
    bond length (Å) against CN."""
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
                   label=f"{label} ({results[label].density:.2f} g/cm³)", edgecolor="none")
        ax.set_ylim(0, 1.1 * top + 9 * len(labels))  # room for the legend
        ax.set_xticks(range(0, max_cn, 1 if max_cn <= 11 else 2))
        ax.set_xlim(-0.6, max_cn - 0.4)
        ax.set_xlabel(f"{bond[0]} coordination number ({_dash(*bond)} < "
                      f"{results[labels[0]].coordination[bond].cutoff:g} Å)")
        ax.set_ylabel(f"{bond[0]} atoms (%)")
    axes[0].legend(loc="upper left")
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
    ax.legend(handles=handles, loc="best")
    ax.set_xlabel("Coordination number")
    ax.set_ylabel("Mean bond length (Å)")


def draw_rdf(axes, results: Mapping[str, StructureAnalysis]) -> None:
    """Total g(r), then each cation–S partial g(r) with its CN cut-off dotted."""
    bonds = list(next(iter(results.values())).coordination)
    for k, (label, res) in enumerate(results.items()):
        colour = COLOURS[k % len(COLOURS)]
        axes[0].plot(res.rdf.r, res.rdf.total, color=colour, label=label)
        for ax, bond in zip(axes[1:], bonds):
            ax.plot(res.rdf.r, res.rdf.partial(*bond), color=colour, label=label)
    axes[0].set_ylabel("$g(r)$")
    for ax, bond in zip(axes[1:], bonds):
        ax.set_ylabel(_sub(*bond))
        ax.axvline(results[next(iter(results))].coordination[bond].cutoff, color="0.6", lw=0.6,
                   ls=":")
    for ax in axes:
        ax.set_xlabel("$r$ (Å)")
        ax.axhline(1.0, color="0.8", lw=0.5, zorder=0)
        ax.set_xlim(0, max(r.rdf.r[-1] for r in results.values()))
        _headroom(ax, 1.15)


def draw_angles(axes, results: Mapping[str, StructureAnalysis]) -> None:
    """ADFs per cation (probability per degree), then the S–S partial with close contacts shaded."""
    bonds = list(next(iter(results.values())).coordination)
    for k, (label, res) in enumerate(results.items()):
        colour = COLOURS[k % len(COLOURS)]
        for ax, bond in zip(axes, bonds):
            adf = res.angles[bond]
            ax.plot(adf.angle, adf.density, color=colour, label=label)
        contacts = res.contacts
        s = contacts.species
        axes[len(bonds)].plot(res.rdf.r, res.rdf.partial(s, s), color=colour,
                              label=f"{label}: {100 * contacts.fraction_in_contact:.1f}%")
    for ax, bond in zip(axes, bonds):
        ax.set_xlabel(f"{_dash(bond[1], bond[0])}–{bond[1]} angle (°)")
        ax.set_ylabel("Probability (deg$^{-1}$)")
        ax.set_xlim(0, 180)
        ax.set_xticks(range(0, 181, 30))
        _headroom(ax)
    axes[0].legend(loc="upper left")
    ax = axes[len(bonds)]
    first = next(iter(results.values())).contacts
    ax.axvspan(0, first.cutoff, color="0.92", zorder=0)
    ax.text(first.cutoff / 2, 0.3, f"{first.species}–{first.species} < {first.cutoff:g} Å",
            transform=ax.get_xaxis_transform(), ha="center", va="center", rotation=90,
            fontsize=7, color="0.45")
    ax.set_xlabel("$r$ (Å)")
    ax.set_ylabel(_sub(first.species, first.species))
    ax.set_xlim(0, 6)
    _headroom(ax, 1.6)
    ax.legend(loc="upper right", title=f"{first.species} in close contact", title_fontsize=7)


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
        fig = Figure(figsize=(2.45 * ncols, 2.2 * len(rows)), layout="constrained")
        axes = fig.subplots(len(rows), ncols, squeeze=False)
        for row, name in zip(axes, rows):
            _DRAW[name](list(row), results)
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

