"""Figures of the campaign report: numpy in, PNG bytes out (no AiiDA, no pyplot state).

Each maker draws one figure of the study from plain arrays, so the report, the runner
(:mod:`aiida_bzs.scripts.job`, which imports no AiiDA) and tests share one drawing. Units are on
every axis: energies eV/atom, errors meV/atom and meV/Å, distances Å, angles degrees, frequencies
THz, E_GBf J/m², intensities normalised (arbitrary units).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

#: Okabe–Ito colours (colour-blind safe), then matplotlib's tab10 for longer lists.
COLOURS = ("#000000", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
           "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")
#: Resolution (dots per inch) of every PNG: sharp in a browser, a few 100 kB at most per figure.
DPI = 130


def colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def png(fig: Figure, dpi: int = DPI) -> bytes:
    """``fig`` rendered to PNG bytes (Agg canvas, nothing global changed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _families(config_types: Sequence[str]) -> list[str]:
    """Families in order of first appearance (stable colours between figures of one report)."""
    return list(dict.fromkeys(str(c) for c in config_types))


def _limits(*arrays) -> tuple[float, float]:
    values = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.05
    return lo - pad, hi + pad


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


# --- potentials ---------------------------------------------------------------------------------


def parity_png(energy_ref, energy_pred, forces_ref, forces_pred, config_types: Sequence[str],
               structure_index=None, title: str = "") -> bytes:
    """ACE vs DFT parity: per-atom energy (eV/atom, one point per structure) and force components
    (eV/Å), coloured by family (``config_types``: one per structure; ``structure_index``: the
    structure of each force component, for the colours), RMSE in each panel (meV/atom, meV/Å)."""
    e_ref, e_pred = np.asarray(energy_ref, float), np.asarray(energy_pred, float)
    f_ref, f_pred = np.asarray(forces_ref, float), np.asarray(forces_pred, float)
    types = np.asarray([str(c) for c in config_types])
    families = _families(types)
    owner = None if structure_index is None else np.asarray(structure_index, dtype=int)
    fig = Figure(figsize=(8.0, 3.6), layout="constrained")
    ax_e, ax_f = fig.subplots(1, 2)
    for k, family in enumerate(families):
        mask = types == family
        ax_e.plot(e_ref[mask], e_pred[mask], "o", ms=3.5, color=colour(k), alpha=0.8, label=f"{family} ({mask.sum()})")
        if owner is not None and len(owner) == len(f_ref):
            fmask = mask[owner]
            ax_f.plot(f_ref[fmask], f_pred[fmask], ".", ms=2, color=colour(k), alpha=0.5)
    if owner is None or len(owner) != len(f_ref):
        ax_f.plot(f_ref, f_pred, ".", ms=2, color="0.2", alpha=0.5)
    for ax, ref, pred, unit, scale_unit in ((ax_e, e_ref, e_pred, "eV/atom", "meV/atom"),
                                            (ax_f, f_ref, f_pred, "eV/Å", "meV/Å")):
        lo, hi = _limits(ref, pred)
        ax.plot([lo, hi], [lo, hi], "-", color="0.6", lw=0.8, zorder=0)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal", adjustable="box")
        rmse = float(np.sqrt(np.mean((pred - ref) ** 2))) * 1000.0 if len(ref) else float("nan")
        ax.text(0.04, 0.96, f"RMSE {rmse:.1f} {scale_unit}\nN = {len(ref)}", transform=ax.transAxes, va="top",
                fontsize=8)
    ax_e.set_xlabel("DFT energy (eV/atom, cohesive)")
    ax_e.set_ylabel("ACE energy (eV/atom, cohesive)")
    ax_f.set_xlabel("DFT force component (eV/Å)")
    ax_f.set_ylabel("ACE force component (eV/Å)")
    fig.legend(*ax_e.get_legend_handles_labels(), loc="outside right center", fontsize=7, frameon=False,
               title="family (structures)", title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return png(fig)


def error_vs_energy_png(energy_ref, energy_pred, config_types: Sequence[str], title: str = "") -> bytes:
    """Energy error (ACE − DFT, meV/atom) against the DFT energy (eV/atom) per family, with each
    family's RMSE (meV/atom) in the legend: which families the potential gets wrong, and where."""
    e_ref, e_pred = np.asarray(energy_ref, float), np.asarray(energy_pred, float)
    error = (e_pred - e_ref) * 1000.0
    types = np.asarray([str(c) for c in config_types])
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    for k, family in enumerate(_families(types)):
        mask = types == family
        rmse = float(np.sqrt(np.mean(error[mask] ** 2)))
        ax.plot(e_ref[mask], error[mask], "o", ms=3.5, color=colour(k), alpha=0.8,
                label=f"{family}: RMSE {rmse:.1f} meV/atom")
    ax.set_xlabel("DFT energy (eV/atom, cohesive)")
    ax.set_ylabel("ACE − DFT energy (meV/atom)")
    if len(types):
        fig.legend(loc="outside right center", fontsize=7, frameon=False)
    else:
        _note(ax, "no structures")
    if title:
        ax.set_title(title, fontsize=9)
    return png(fig)


def learning_curve_png(generation, rmse_energy, rmse_forces, per_family: Mapping[str, tuple] | None = None,
                       title: str = "") -> bytes:
    """Test RMSE per active-learning generation: energy (meV/atom) and forces (meV/Å), total and
    per family (``per_family``: family → (energy RMSEs, force RMSEs), NaN where absent), log y."""
    generation = np.asarray(generation, dtype=int)
    fig = Figure(figsize=(8.0, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for i, (ax, total, unit) in enumerate(((axes[0], rmse_energy, "meV/atom"), (axes[1], rmse_forces, "meV/Å"))):
        ax.plot(generation, np.asarray(total, float), "k-o", ms=4, label="all test structures")
        for k, (family, values) in enumerate((per_family or {}).items()):
            ax.plot(generation, np.asarray(values[i], float), "--.", color=colour(k + 1), label=family)
        ax.set_xlabel("generation")
        ax.set_ylabel(f"test RMSE ({unit})")
        ax.set_xticks(generation.tolist())
        finite = np.asarray(total, float)
        if np.all(np.isfinite(finite)) and np.all(finite > 0):
            ax.set_yscale("log")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", fontsize=7, frameon=False,
               ncols=min(4, 1 + len(per_family or {})))
    if title:
        fig.suptitle(title, fontsize=9)
    return png(fig)


def dataset_map_png(embedding, config_types: Sequence[str], title: str = "", method: str = "UMAP") -> bytes:
    """The dataset map (the study's Fig. 1b): 2-D embedding of per-structure SOAP vectors, one point
    per structure coloured by family; axes are the embedding's (dimensionless)."""
    xy = np.asarray(embedding, dtype=float).reshape(-1, 2)
    types = np.asarray([str(c) for c in config_types])
    fig = Figure(figsize=(6.0, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for k, family in enumerate(_families(types)):
        mask = types == family
        ax.scatter(xy[mask, 0], xy[mask, 1], s=12, color=colour(k), alpha=0.8, edgecolors="none",
                   label=f"{family} ({mask.sum()})")
    ax.set_xlabel(f"{method} 1")
    ax.set_ylabel(f"{method} 2")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.legend(loc="outside right center", fontsize=7, frameon=False, markerscale=1.5,
              title="family (structures)", title_fontsize=7)
    ax.set_title(title or f"SOAP + {method} of {len(types)} structures", fontsize=9)
    return png(fig)


# --- structure analysis -------------------------------------------------------------------------


def cn_histograms_png(histograms: Mapping[str, Mapping[str, tuple]], cutoffs: Mapping[str, float] | None = None) -> bytes:
    """CN histograms side by side: ``histograms[structure][bond] = (cn values, atom counts)``, one
    panel per bond (e.g. 'Zr–S'), bars in % of the centre atoms; ``cutoffs[bond]`` in Å."""
    labels = list(histograms)
    bonds = list(dict.fromkeys(b for per in histograms.values() for b in per))
    fig = Figure(figsize=(3.2 * max(len(bonds), 1) + 1.6, 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(bonds), 1)))
    width = 0.8 / max(len(labels), 1)
    for ax, bond in zip(axes, bonds):
        for k, label in enumerate(labels):
            if bond not in histograms[label]:
                continue
            values, counts = (np.asarray(a, float) for a in histograms[label][bond])
            percent = 100.0 * counts / max(counts.sum(), 1.0)
            ax.bar(values + (k - (len(labels) - 1) / 2) * width, percent, width=width, color=colour(k),
                   label=label, edgecolor="none")
        cutoff = (cutoffs or {}).get(bond)
        ax.set_xlabel(f"{bond.split('–')[0]} coordination number" + (f" ({bond} < {cutoff:g} Å)" if cutoff else ""))
        ax.set_ylabel("centre atoms (%)")
    if not bonds:
        _note(axes[0], "no coordination results")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=7, frameon=False)
    return png(fig)


def rdf_png(curves: Mapping[str, tuple], partials: Sequence[str] = ()) -> bytes:
    """Total g(r) and chosen partials: ``curves[structure] = (r in Å, total g(r), {pair: g(r)})``;
    ``partials`` names the pairs to draw (e.g. 'Zr-S'), one panel each after the total."""
    from ..analysis.plots import plot_curves

    names = ["total", *partials]
    fig = Figure(figsize=(3.0 * len(names) + 1.6, 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    r_max = max((float(np.max(r)) for r, _, _ in curves.values()), default=1.0)
    for ax, name in zip(axes, names):
        drawn = [(label, colour(k), r, total if name == "total" else parts.get(name))
                 for k, (label, (r, total, parts)) in enumerate(curves.items())]
        # a crystal's peaks are 5–30× an amorphous sample's: too-tall curves are scaled, the factor written above
        plot_curves(ax, [c for c in drawn if c[3] is not None], (0.0, r_max))
        ax.axhline(1.0, color="0.85", lw=0.6, zorder=0)
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("g(r)" if name == "total" else f"g$_{{{name}}}$(r)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=7, frameon=False)
    return png(fig)


def adf_png(curves: Mapping[str, Mapping[str, tuple]]) -> bytes:
    """Bond-angle distributions: ``curves[structure][bond] = (angle in degrees, probability per
    degree)``, one panel per bond (neighbour–centre–neighbour angle)."""
    bonds = list(dict.fromkeys(b for per in curves.values() for b in per))
    fig = Figure(figsize=(3.2 * max(len(bonds), 1) + 1.6, 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(bonds), 1)))
    from ..analysis.plots import plot_curves

    for ax, bond in zip(axes, bonds):
        centre, _, neighbour = bond.partition("–")
        plot_curves(ax, [(label, colour(k), *per[bond]) for k, (label, per) in enumerate(curves.items())
                         if bond in per], (0.0, 180.0))
        ax.set_xlabel(f"{neighbour}–{centre}–{neighbour} angle (°)")
        ax.set_ylabel("probability (deg$^{-1}$)")
        ax.set_xlim(0, 180)
        ax.set_xticks(range(0, 181, 30))
    if not bonds:
        _note(axes[0], "no angle results")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=7, frameon=False)
    return png(fig)


# --- grain boundaries and polycrystals ----------------------------------------------------------


def gb_energy_png(angles, energies, labels: Sequence[str], kinds: Sequence[str] | None = None) -> bytes:
    """E_GBf (J/m²) against misorientation angle (°), low-angle series joined, others labelled (the
    study's Fig. 3a); boundaries without an energy (None/NaN) are left out."""
    angle = np.asarray(angles, dtype=float)
    energy = np.asarray([np.nan if e is None else e for e in energies], dtype=float)
    kinds = list(kinds) if kinds is not None else ["csl"] * len(angle)
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ok = np.isfinite(energy) & np.isfinite(angle)
    low = ok & np.array([k == "low_angle" for k in kinds], dtype=bool)
    if low.any():
        order = np.argsort(angle[low])
        ax.plot(angle[low][order], energy[low][order], "o-", color=colour(2), label="low-angle")
    other = ok & ~low
    if other.any():
        ax.plot(angle[other], energy[other], "s", color=colour(1), label="CSL / near-CSL")
        for x, y, text in zip(angle[other], energy[other], np.asarray(labels, dtype=object)[other]):
            ax.annotate(str(text), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("misorientation angle (°)")
    ax.set_ylabel(r"$E_\mathrm{GBf}$ (J/m$^2$)")
    if ok.any():
        ax.set_ylim(min(0.0, float(np.nanmin(energy[ok])) * 1.1), float(np.nanmax(energy[ok])) * 1.2)
        ax.set_xlim(0.0, max(float(np.nanmax(angle[ok])) * 1.15, 10.0))
        ax.legend(frameon=False, fontsize=8)
    else:
        _note(ax, "no formation energy")
    return png(fig)


def gamma_histograms_png(gammas: Mapping[str, np.ndarray], reliable: float = 2.0) -> bytes:
    """Histograms (log bins, % of atoms) of per-atom extrapolation grades γ (dimensionless), one
    step curve per structure; the reliable limit ``reliable`` dashed."""
    fig = Figure(figsize=(5.6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    values = [np.asarray(g, float)[np.isfinite(g)] for g in gammas.values()]
    positive = np.concatenate([v[v > 0] for v in values]) if values else np.zeros(0)
    if positive.size:
        lo, hi = max(float(positive.min()), 1e-4), max(float(positive.max()), reliable * 1.5)
        bins = np.geomspace(lo, hi, 41)
        for k, (label, g) in enumerate(zip(gammas, values)):
            counts, _ = np.histogram(np.clip(g, lo, hi), bins=bins)
            ax.stairs(100.0 * counts / max(len(g), 1), bins, color=colour(k), lw=1.2,
                      label=f"{label}: max {g.max():.3g}, {100 * np.mean(g > reliable):.1f}% > {reliable:g}")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.axvline(reliable, color="0.4", ls="--", lw=0.8)
        ax.legend(frameon=False, fontsize=7)
    else:
        _note(ax, "no γ values")
    ax.set_xlabel("extrapolation grade γ (dimensionless)")
    ax.set_ylabel("atoms (%)")
    return png(fig)


# --- scattering ---------------------------------------------------------------------------------


def _normalised(y) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    top = np.nanmax(np.abs(y)) if y.size else 0.0
    return y / top if top > 0 else y


def overlay_png(curves: Mapping[str, tuple], measured: tuple | None = None, *, xlabel: str, ylabel: str,
                offset: float = 1.1, title: str = "") -> bytes:
    """Stacked overlay of model curves ``curves[label] = (x, y)``, each scaled to a maximum |y| of 1
    and offset by ``offset``, with the measured curve ``(x, y[, label])`` in black on each model
    row when given (XRD: 2θ in degrees; PDF: r in Å)."""
    fig = Figure(figsize=(6.4, 2.2 + 0.7 * max(len(curves), 1)), layout="constrained")
    ax = fig.add_subplot()
    for k, (label, (x, y)) in enumerate(curves.items()):
        base = k * offset
        if measured is not None:
            ax.plot(measured[0], base + _normalised(measured[1]), color="0.0", lw=0.8,
                    label=(measured[2] if len(measured) > 2 else "measured") if k == 0 else None)
        ax.plot(x, base + _normalised(y), color=colour(k + 1), lw=1.0, label=label)
    if not curves:
        _note(ax, "no patterns")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_yticks([])
    if curves:
        fig.legend(loc="outside right center", fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    return png(fig)


def xrd_png(patterns: Mapping[str, tuple], measured: tuple | None = None, wavelength: float | None = None) -> bytes:
    """XRD overlay: I(2θ) per model (2θ in degrees), measured pattern when given."""
    unit = f", λ = {wavelength:.4g} Å" if wavelength else ""
    return overlay_png(patterns, measured, xlabel=f"2θ (degrees{unit})", ylabel="intensity (norm., offset)")


def pdf_png(patterns: Mapping[str, tuple], measured: tuple | None = None) -> bytes:
    """PDF overlay: G(r) per model (r in Å; G in Å⁻², normalised here), measured PDF when given."""
    return overlay_png(patterns, measured, xlabel="r (Å)", ylabel="G(r) (norm., offset)")


# --- phonons ------------------------------------------------------------------------------------


def phonon_png(distances: Sequence, frequencies: Sequence, labels: Sequence[str], dos_frequencies=None,
               dos=None, title: str = "") -> bytes:
    """Phonon band structure (THz) along a path of segments (``distances[i]`` path length in 1/Å,
    ``frequencies[i]`` points × bands of segment i; ``labels`` the high-symmetry points, one more
    than segments for a connected path) beside the total DOS (states/THz), imaginary modes below 0."""
    fig = Figure(figsize=(7.2, 3.6), layout="constrained")
    with_dos = dos_frequencies is not None and dos is not None
    axes = fig.subplots(1, 2, sharey=True, width_ratios=[3, 1]) if with_dos else [fig.add_subplot()]
    ax = axes[0]
    ticks = []
    for d, f in zip(distances, frequencies):
        d, f = np.asarray(d, float), np.asarray(f, float)
        ax.plot(d, f, color=colour(2), lw=0.8)
        ticks.append(d[0])
    if len(distances):
        ticks.append(float(np.asarray(distances[-1])[-1]))
        ax.set_xlim(ticks[0], ticks[-1])
    for x in ticks:
        ax.axvline(x, color="0.8", lw=0.6)
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_xticks(ticks[: len(labels)])
    ax.set_xticklabels(["Γ" if str(s).upper() in ("G", "GAMMA", "Γ") else str(s) for s in labels[: len(ticks)]])
    ax.set_ylabel("frequency (THz)")
    ax.set_xlabel("wave vector")
    if with_dos:
        axes[1].plot(np.asarray(dos, float), np.asarray(dos_frequencies, float), color="0.2", lw=0.8)
        axes[1].set_xlabel("DOS (states/THz)")
        axes[1].axhline(0.0, color="0.6", lw=0.6)
    if title:
        fig.suptitle(title, fontsize=9)
    return png(fig)
