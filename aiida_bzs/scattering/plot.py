"""Figure-4-style overlays: XRD (2θ) and PDF (r) of several models, stacked, against measured data.

Each model is drawn in colour at its own vertical offset; when measured data are given they are
drawn in black under every model (after the model was fitted to them), with Rwp in the legend.
Without data each model is normalised to its maximum. Matplotlib's Agg backend: no display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Curve:
    """One line: ``label``, ``x``, ``y`` and, for a model fitted to data, its ``rwp``."""

    label: str
    x: np.ndarray
    y: np.ndarray
    rwp: float | None = None


@dataclass
class Panel:
    """One panel: axis labels, model curves (top to bottom) and optional measured curve."""

    xlabel: str
    ylabel: str
    models: list[Curve] = field(default_factory=list)
    measured: Curve | None = None
    x_range: tuple[float, float] | None = None


def _normalise(curve: Curve, reference: float | None, lo: float, hi: float) -> np.ndarray:
    mask = (curve.x >= lo) & (curve.x <= hi)
    if reference is not None:
        return curve.y / reference
    peak = np.max(np.abs(curve.y[mask])) if mask.any() else 1.0
    return curve.y / (peak or 1.0)


def overlay_figure(path: str | Path, panels: list[Panel], title: str | None = None, dpi: int = 150) -> Path:
    """Write a PNG with one column per panel (XRD, PDF); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in panels if p.models]
    if not panels:
        raise ValueError("nothing to plot: no model curves")
    height = 1.6 + 1.1 * max(len(p.models) for p in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), height), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, panel in zip(axes[0], panels):
        lo, hi = panel.x_range or (
            min(c.x.min() for c in panel.models),
            max(c.x.max() for c in panel.models),
        )
        reference = None
        if panel.measured is not None:
            mask = (panel.measured.x >= lo) & (panel.measured.x <= hi)
            reference = float(np.max(np.abs(panel.measured.y[mask]))) if mask.any() else None
        step = 1.2 if reference is None else 1.3
        for k, curve in enumerate(reversed(panel.models)):
            offset = k * step
            label = curve.label if curve.rwp is None else f"{curve.label} (Rwp {curve.rwp:.3f})"
            if panel.measured is not None:
                ax.plot(panel.measured.x, _normalise(panel.measured, reference, lo, hi) + offset, color="k", lw=0.8,
                        label=panel.measured.label if k == 0 else None)
            colour = colours[(len(panel.models) - 1 - k) % len(colours)]
            ax.plot(curve.x, _normalise(curve, reference, lo, hi) + offset, color=colour, lw=1.0, label=label)
        ax.set_xlim(lo, hi)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.set_yticks([])
        handles, labels = ax.get_legend_handles_labels()
        # Below the axes: a legend inside would cover the top traces (six models fill the panel).
        ax.legend(handles[::-1], labels[::-1], fontsize=8, frameon=False, loc="upper center",
                  bbox_to_anchor=(0.5, -0.1), ncol=2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path
