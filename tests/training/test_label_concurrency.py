"""How many pw.x jobs `label` runs at once: bounded by the computer's cores, said, overridable."""

from __future__ import annotations

import pytest
from aiida import orm
from ase import Atoms
from click.testing import CliRunner

from aiida_bzs.cli import cmd_root
from aiida_bzs.workflows.label import default_max_concurrent, local_cores


def computer(label, transport="core.ssh", scheduler="core.direct", mpiprocs=None):
    node = orm.Computer(label=label, hostname="example.org", transport_type=transport, scheduler_type=scheduler)
    if mpiprocs:
        node.set_default_mpiprocs_per_machine(mpiprocs)
    return node


def test_direct_scheduler_computers_run_as_many_jobs_as_cores(aiida_profile):
    here = computer("here", transport="core.local")
    cores = local_cores()
    assert default_max_concurrent(here, 1, 50)[0] == min(50, cores)
    assert default_max_concurrent(here, 2, 50)[0] == max(1, min(50, cores // 2))
    assert default_max_concurrent(here, 1, 1)[0] == 1  # never above the protocol's
    limit, why = default_max_concurrent(computer("box", mpiprocs=8), 2, 50)
    assert limit == 4 and "8 cores" in why and "2 MPI rank" in why
    assert default_max_concurrent(computer("big", mpiprocs=4), 8, 50)[0] == 1  # at least one


def test_unknown_cores_and_batch_schedulers_keep_the_protocol_value(aiida_profile):
    limit, why = default_max_concurrent(computer("unknown"), 1, 50)
    assert limit == 50 and "verdi computer configure" in why
    limit, why = default_max_concurrent(computer("cluster", scheduler="core.slurm", mpiprocs=128), 1, 50)
    assert limit == 50 and "core.slurm" in why


def test_label_says_how_many_jobs_it_runs_at_once(aiida_profile, training_pw_code):
    """The overlap refusal comes after the choice is printed: no DFT runs in this test."""
    from aiida_bzs.calculations.functions.structures import to_structure

    group, _ = orm.Group.collection.get_or_create("concurrency-overlap")
    group.add_nodes(to_structure(Atoms("S2", positions=[(0, 0, 0), (0.2, 0, 0)], cell=[6] * 3, pbc=True)).store())
    args = ["label", "concurrency-overlap", "--code", training_pw_code.full_label, "--protocol", "fast"]
    result = CliRunner().invoke(cmd_root, args, catch_exceptions=False)
    expected = min(50, local_cores())
    assert f"pw.x jobs at once: {expected} ({local_cores()} cores of {training_pw_code.computer.label}" in result.output
    assert "override with --max-concurrent" in result.output
    result = CliRunner().invoke(cmd_root, [*args, "--max-concurrent", 3], catch_exceptions=False)
    assert "pw.x jobs at once: 3 (--max-concurrent)" in result.output
    assert result.exit_code == 1 and "overlapping" in result.output


@pytest.mark.parametrize("bad", ["0", "-2"])
def test_max_concurrent_must_be_positive(aiida_profile, bad):
    result = CliRunner().invoke(cmd_root, ["label", "any", "--max-concurrent", bad])
    assert result.exit_code == 2 and "--max-concurrent" in result.output
