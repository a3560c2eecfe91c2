"""MD training families (NVT melt, melt–quench, high temperature): runs, frames, refusals, real LAMMPS."""

from __future__ import annotations

import numpy as np
import pytest

from aiida_bzs.md.sampling import (
    SamplingInputError,
    family_runs,
    frame_indices,
    frames_to_candidates,
    normalise_families,
)
from aiida_bzs.md.programme import normalise_stage


def test_default_families_are_the_studys():
    runs = family_runs(normalise_families({"nvt_melt": True, "melt_quench": True, "high_temperature": True}))
    melts = [r for r in runs if r["family"] == "nvt_melt"]
    assert {r["stage"]["temperature"] for r in melts} == {3500.0, 4500.0}
    assert {r["volume_scale"] for r in melts} == {1.05, 1.20}
    assert all(r["stage"]["ensemble"] == "nvt" for r in melts)
    quench = next(r for r in runs if r["family"] == "melt_quench")
    assert quench["start"] == "melt" and quench["stage"]["ensemble"] == "npt"
    hot = {r["start"] for r in runs if r["family"] == "high_temperature"}
    assert hot == {"crystal", "amorphous"}
    for run in runs:  # every run is a valid bzs.lammps stage
        normalise_stage(run["stage"])


def test_quench_steps_follow_the_rate():
    runs = family_runs(normalise_families({"melt_quench": {"melt_temperature": 3000, "final_temperature": 300,
                                                           "rate": 1e14, "interval": 1.0}, "timestep": 2.0}))
    quench = next(r for r in runs if r["family"] == "melt_quench")
    assert quench["stage"]["steps"] == 13500  # 2700 K / 1e14 K/s = 27 ps = 13,500 steps of 2 fs
    assert quench["stage"]["dump_interval"] == 500


@pytest.mark.parametrize("spec, message", [
    ({"nvt_melting": {}}, "unknown MD training families"),
    ({"nvt_melt": {"temperature": 4000}}, "unknown keys"),
    ({"nvt_melt": {"temperatures": [-5]}}, "non-negative"),
    ({"high_temperature": {"cells": ["glass"]}}, "cells must be"),
    ({"melt_quench": {"rate": "fast"}}, "must be numbers"),
])
def test_bad_families_are_refused(spec, message):
    with pytest.raises(SamplingInputError, match=message):
        normalise_families(spec)


def test_frames_skip_start_and_close_contacts():
    assert frame_indices(6, 0).tolist() == [1, 2, 3, 4, 5]
    assert frame_indices(6, 2, max_frames=2).tolist() == [2, 5]
    cell = np.eye(3) * 6.0
    positions = np.array([[[0, 0, 0], [3, 3, 3]], [[0, 0, 0], [0.5, 0, 0]]], dtype=float)
    images, kept = frames_to_candidates(["Zr", "S"], positions, np.array([cell, cell]), [0, 1], "nvt_melt")
    assert kept == [0] and images[0].info["config_type"] == "nvt_melt"


@pytest.mark.slow
def test_sampling_in_lammps(aiida_profile, bzs_code):
    """All three families with the real LAMMPS (tiny potential, 20-atom cells, < 1 ps each)."""
    from pathlib import Path

    from aiida.engine import run_get_node

    from aiida_bzs.calculations.functions.structures import pnma_crystal
    from aiida_bzs.common.codes import pace_plugin_dir
    from aiida_bzs.data.ace_potential import AcePotentialData
    from aiida_bzs.workflows.md_sampling import MdSamplingWorkChain

    if not (pace_plugin_dir() / "paceplugin.so").is_file():
        pytest.skip("pair_style pace plugin not built; run ./setup.sh")
    fixtures = Path(__file__).parent / "fixtures" / "md"
    potential = AcePotentialData.get_or_create(fixtures / "tiny.yaml", yace=fixtures / "tiny.yace",
                                               asi=fixtures / "tiny.asi")
    builder = MdSamplingWorkChain.get_builder()
    builder.md.lammps.code = bzs_code("lmp", with_mpi=False)
    builder.md.lammps.metadata.options = {"resources": {"num_machines": 1, "num_mpiprocs_per_machine": 1},
                                          "withmpi": False, "max_wallclock_seconds": 600}
    builder.potential = potential
    builder.crystal = pnma_crystal()
    builder.families = {"timestep": 2.0,
                        "nvt_melt": {"temperatures": [4000.0], "volume_scales": [1.1], "duration": 0.4,
                                     "interval": 0.1, "skip": 0.1},
                        "melt_quench": {"melt_duration": 0.4, "rate": 1.0e16, "interval": 0.1},
                        "high_temperature": {"temperatures": [1500.0], "duration": 0.4, "interval": 0.1,
                                             "skip": 0.1}}
    builder.max_frames = 3
    _, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    candidates = node.outputs.candidates
    assert set(candidates.config_types) == {"nvt_melt", "melt_quench", "high_temperature"}
    assert not candidates.labelled
    assert len(node.outputs.max_gamma.get_array("max_gamma")) == len(candidates)
    # the NVT melt ran in a cell 1.10 × the crystal volume
    from aiida.common.links import LinkType

    calls = {link.link_label: link.node for link in node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all()}
    melt = calls["nvt_melt_4000K_110pcV"]
    volume = melt.inputs.lammps.structure.get_cell_volume()
    assert volume == pytest.approx(1.10 * builder.crystal.get_cell_volume(), rel=1e-6)
    summary = node.outputs.summary.get_dict()
    assert summary["candidates_per_family"]["high_temperature"] >= 2  # crystal and amorphous cells
    assert "amorphous" in node.outputs  # the quench product fed the amorphous high-T run


def test_builder_from_protocol_records_families_and_run_inputs(aiida_profile, bzs_code):
    from aiida_bzs.calculations.functions.structures import pnma_crystal
    from aiida_bzs.workflows.md_sampling import MdSamplingWorkChain
    from pathlib import Path

    from aiida_bzs.data.ace_potential import AcePotentialData
    from aiida_bzs.workflows.protocols import ProtocolOverrideError

    fixtures = Path(__file__).parent / "fixtures" / "md"
    potential = AcePotentialData.get_or_create(fixtures / "tiny.yaml", yace=fixtures / "tiny.yace")
    lmp = bzs_code("lmp", with_mpi=False)
    builder = MdSamplingWorkChain.get_builder_from_protocol(
        lmp, potential, pnma_crystal(), protocol="fast",
        overrides={"families": {"nvt_melt": {"temperatures": [3500.0]}}, "max_frames": 2},
        options={"max_wallclock_seconds": 600})
    families = builder.families.get_dict()
    assert families["nvt_melt"]["temperatures"] == [3500.0]
    assert families["nvt_melt"]["volume_scales"] == [1.10]  # the preset's, kept
    assert builder.max_frames.value == 2
    assert builder.md.options.get_dict()["max_wallclock_seconds"] == 600
    with pytest.raises(ProtocolOverrideError, match="famillies"):
        MdSamplingWorkChain.get_builder_from_protocol(lmp, potential, pnma_crystal(), overrides={"famillies": {}})
