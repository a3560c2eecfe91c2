"""Stage programmes: durations and quench rates become steps; bad stages fail before submission."""

import numpy as np
import pytest

from aiida_bzs.md.programme import (
    MdInputError,
    apply_stage_defaults,
    build_programme,
    normalise_stage,
    quench_steps,
    target_temperature,
)
from aiida_bzs.workflows.protocols import get_protocol, list_protocols


def test_quench_rate_to_steps():
    # 2200 K at 1e13 K/s is 220 ps: 220,000 steps of 1 fs, 110,000 of 2 fs
    assert quench_steps(2500, 300, 1e13, 1.0) == 220_000
    assert quench_steps(300, 2500, 1e13, 2.0) == 110_000


def test_build_programme_from_durations_and_rates():
    programme = build_programme([
        {"name": "melt", "ensemble": "npt", "temperature": 2500, "duration": 80.0},
        {"name": "quench", "ensemble": "npt", "temperature": [2500, 300], "rate": 1e13},
        {"name": "relax", "ensemble": "minimise", "box_relax": "iso"},
    ], timestep=1.0)
    assert [s["steps"] for s in programme[:2]] == [80_000, 220_000]
    assert programme[0]["temperature"] == [2500.0, 2500.0]
    assert programme[2]["box_relax"] == "iso" and "steps" not in programme[2]


@pytest.mark.parametrize("stages, message", [
    ([], "stage list is empty"),
    ([{"ensemble": "npt", "temperature": [2500, 300], "rate": 1e20}], "zero steps"),
    ([{"ensemble": "npt", "temperature": 300, "duration": 0.0001}], "zero steps"),
    ([{"ensemble": "npt", "temperature": [-5, 300], "steps": 10}], "must be > 0 K"),
    ([{"ensemble": "nvt", "temperature": 0, "steps": 10}], "must be > 0 K"),
    ([{"ensemble": "npt", "temperature": 300, "steps": 10, "duration": 1.0}], "exactly one of"),
    ([{"ensemble": "npt", "temperature": 300, "rate": 1e13}], "different start and stop"),
    ([{"ensemble": "md", "temperature": 300, "steps": 10}], "ensemble must be one of"),
    ([{"ensemble": "npt", "temperature": 300, "steps": 10, "damping": 1}], "unknown keys"),
    ([{"ensemble": "npt", "temperature": 300, "steps": 10, "barostat": "xy"}], "barostat"),
    ([{"ensemble": "minimise", "box_relax": "sideways"}], "box_relax"),
    ([{"ensemble": "minimise", "temperature": 300}], "takes no"),
])
def test_bad_stages_are_named(stages, message):
    with pytest.raises(MdInputError, match=message):
        build_programme(stages)


def test_bad_timestep():
    with pytest.raises(MdInputError, match="timestep must be > 0"):
        build_programme([{"ensemble": "nvt", "temperature": 300, "duration": 1.0}], timestep=0)


def test_target_temperature_ramps_linearly():
    stage = normalise_stage({"ensemble": "npt", "temperature": [2500, 300], "steps": 100})
    assert np.allclose(target_temperature(stage, np.array([0, 50, 100, 200])), [2500, 1400, 300, 300])


def test_stage_defaults_leave_minimisation_alone():
    stages = apply_stage_defaults(
        [{"name": "hold", "temperature": 300, "duration": 1.0}, {"name": "min", "ensemble": "minimise"}],
        {"ensemble": "npt", "pressure": 10.0, "tdamp": 50.0},
    )
    assert stages[0] == {"ensemble": "npt", "pressure": 10.0, "tdamp": 50.0, "name": "hold",
                         "temperature": 300, "duration": 1.0}
    assert stages[1] == {"pressure": 10.0, "name": "min", "ensemble": "minimise"}


@pytest.mark.parametrize("name", list_protocols("melt_quench"))
def test_every_preset_builds(name):
    protocol = get_protocol("melt_quench", name)
    programme = build_programme(apply_stage_defaults(protocol["stages"], protocol["stage_defaults"]),
                                protocol["timestep"])
    quench = [s for s in programme if s["name"].startswith("quench")]
    assert quench and all(s["temperature"][1] < s["temperature"][0] for s in quench)
    assert programme[-1]["ensemble"] == "minimise"


def _preset(name):
    protocol = get_protocol("melt_quench", name)
    return build_programme(apply_stage_defaults(protocol["stages"], protocol["stage_defaults"]), 1.0)


def test_presets_encode_the_study():
    main = _preset("quench_1e13")
    assert all(s["ensemble"] == "npt" for s in main[:-1])
    melt = next(s for s in main if s["name"] == "melt")
    assert melt["temperature"] == [2500.0, 2500.0] and melt["steps"] == 80_000  # 80 ps at 1 fs
    assert next(s for s in main if s["name"] == "quench")["steps"] == 220_000  # 2200 K at 1e13 K/s
    staged = _preset("staged_1e14_1e15")
    assert [s["steps"] for s in staged if s["name"].startswith("quench")] == [15_000, 700]
    random = get_protocol("melt_quench", "random_1500K")
    assert random["start"] == "hard_sphere" and random["hard_sphere"]["formula_units"] * 5 == 10_240
    hold = _preset("random_1500K")[0]
    assert hold["temperature"] == [1500.0, 1500.0] and hold["steps"] == 50_000  # 50 ps
