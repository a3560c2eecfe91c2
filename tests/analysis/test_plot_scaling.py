"""The comparison figure keeps a low amorphous curve visible beside a tall crystal one, and its
legend off the data."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_bzs.analysis.plots import comparison_figure, figure_png, scale_factor
from aiida_bzs.analysis.standard import analyse_structure


@pytest.fixture(scope="module")
def figure(crystal_222, random_cell):
    results = {"crystal": analyse_structure(crystal_222), "amorphous": analyse_structure(random_cell)}
    fig = comparison_figure(results)
    figure_png(fig, dpi=60)  # lay out and draw
    return fig


@pytest.mark.parametrize(("peak", "reference", "factor"), [
    (2.0, 1.0, 1.0), (2.5, 1.0, 1.0), (3.0, 1.0, 0.5), (24.0, 3.0, 0.1), (101.0, 1.0, 0.01), (5.0, 0.0, 1.0),
])
def test_scale_factor(peak, reference, factor):
    assert scale_factor(peak, reference) == pytest.approx(factor)


def _line_panels(fig):
    """Axes of the g(r) and angle rows (the curves), with their curves' peaks in the x range shown."""
    panels = []
    for ax in fig.axes:
        curves = [line for line in ax.lines if len(line.get_xdata()) > 2]
        if len(curves) == 2 and "bond length" not in ax.get_ylabel():
            low, high = ax.get_xlim()
            peaks = []
            for line in curves:
                x, y = (np.asarray(v, float) for v in line.get_data())
                peaks.append(float(y[(x >= low) & (x <= high)].max()))
            panels.append((ax, peaks))
    return panels


def test_both_curves_fill_their_axes(figure):
    panels = _line_panels(figure)
    assert len(panels) == 6  # g(r), g_ZrS, g_BaS, two ADFs, g_SS
    scaled = 0
    for ax, peaks in panels:
        top = ax.get_ylim()[1]
        assert max(peaks) <= top  # nothing cut off
        assert min(peaks) >= 0.3 * top  # the lower curve is not flattened to the axis
        notes = [t.get_text() for t in ax.texts if t.get_position()[1] > 1.0]
        scaled += any(note.startswith("crystal ×") for note in notes)
    assert scaled >= 3  # the crystal's sharp peaks were scaled, and the panels say by how much


def test_legend_sits_outside_every_axes(figure):
    (legend,) = figure.legends
    assert [t.get_text().split(":")[0] for t in legend.get_texts()] == ["crystal", "amorphous"]
    box = legend.get_window_extent()
    for ax in figure.axes:
        assert not box.overlaps(ax.get_window_extent())
        if ax.get_legend() is not None:  # only the bond-marker key, above its panel
            assert ax.get_legend().get_window_extent().y0 >= ax.get_window_extent().y1 - 1
