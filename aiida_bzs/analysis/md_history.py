"""The history of a multi-stage MD programme: one time axis, the thermostat target, and its figure.

Each stage's thermo restarts at step 0; the history lays the stages end to end (time in ps),
adds the programme's target temperature (K) beside the measured one, and keeps the stage index
of every sample so that a plot or a test can look at one stage alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..md.programme import stage_duration_ps, target_temperature

#: Arrays of a history, in the order they are stored.
HISTORY_FIELDS = ("time", "stage", "step", "temperature", "target_temperature", "pressure",
                  "potential_energy", "volume", "density")


def concatenate_thermo(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join thermo tables of consecutive segments of one stage (walltime restarts); steps kept unique."""
    parts = [p for p in parts if p]
    if not parts:
        return {}
    names = list(parts[0])
    table = {k: np.concatenate([np.asarray(p[k], dtype=float) for p in parts]) for k in names}
    _, first = np.unique(table["step"], return_index=True)
    return {k: v[np.sort(first)] for k, v in table.items()}


def combine_stages(programme: Sequence[Mapping], thermos: Sequence[Mapping[str, np.ndarray] | None]) -> dict[str, np.ndarray]:
    """One history from the stages' thermo tables (``None`` for a stage that has none yet).

    ``time`` (ps) runs on across stages (a minimisation takes no time); ``target_temperature``
    is NaN during minimisations.
    """
    columns: dict[str, list[np.ndarray]] = {k: [] for k in HISTORY_FIELDS}
    offset = 0.0
    for index, (stage, thermo) in enumerate(zip(programme, thermos)):
        if thermo and len(thermo.get("step", [])):
            step = np.asarray(thermo["step"], dtype=float)
            n = len(step)
            if stage["ensemble"] == "minimise":
                time = np.full(n, offset)
                target = np.full(n, np.nan)
            else:
                time = offset + step * stage["timestep"] / 1000.0
                target = target_temperature(stage, step)
            columns["time"].append(time)
            columns["stage"].append(np.full(n, index, dtype=float))
            columns["step"].append(step)
            columns["target_temperature"].append(target)
            for key in ("temperature", "pressure", "potential_energy", "volume", "density"):
                columns[key].append(np.asarray(thermo[key], dtype=float))
        offset += stage_duration_ps(stage)
    return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in columns.items()}


def history_figure(history: Mapping[str, np.ndarray], stage_names: Sequence[str]):
    """Temperature (measured and target, K) and density (g/cm³) against time (ps), stages marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_d) = plt.subplots(2, 1, sharex=True, figsize=(6.0, 4.5), constrained_layout=True)
    time = history["time"]
    ax_t.plot(time, history["temperature"], lw=0.8, color="#D55E00", label="measured")
    ax_t.plot(time, history["target_temperature"], lw=1.0, ls="--", color="#000000", label="programme")
    ax_t.set_ylabel("temperature (K)")
    ax_t.legend(frameon=False, fontsize=8)
    ax_d.plot(time, history["density"], lw=0.8, color="#0072B2")
    ax_d.set_ylabel("density (g/cm³)")
    ax_d.set_xlabel("time (ps)")
    stages = history["stage"].astype(int)
    for index in np.unique(stages):
        start = time[stages == index].min()
        for ax in (ax_t, ax_d):
            ax.axvline(start, color="0.7", lw=0.5)
        ax_t.text(start, 1.0, f" {stage_names[index]}", transform=ax_t.get_xaxis_transform(),
                  fontsize=6, va="bottom", rotation=30)
    return fig
