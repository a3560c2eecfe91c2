"""Services mode end to end: PostgreSQL + RabbitMQ + daemon, and a workchain whose job goes through a
real one-node Slurm cluster reached over SSH (AiiDA's ``core.ssh`` + ``core.slurm``).

Runs only with ``BZS_SERVICES_TEST=1``, as root on Debian (it installs packages and starts daemons):

    BZS_SERVICES_TEST=1 .venv/bin/pytest tests/services -s

It stops afterwards exactly what its own ``aiida-bzs services start`` started (services that were
running before are used and left running). The profile (``BZS_SERVICES_PROFILE``, default
``bzs-services-test``) is kept, so a re-run reuses it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(os.environ.get("BZS_SERVICES_TEST") != "1",
                       reason="starts PostgreSQL, RabbitMQ, Slurm and sshd: set BZS_SERVICES_TEST=1 to run"),
]

PROFILE = os.environ.get("BZS_SERVICES_PROFILE", "bzs-services-test")
#: Longest wait for the workchain (seconds); the whole test stays under 10 minutes.
AWAIT_SECONDS = 420
BIN = Path(sys.executable).parent

#: Runs in its own interpreter with the services profile loaded (the pytest process keeps its own
#: test profiles): builds the analysis of the 20-atom Pnma crystal with its job on slurm-ssh,
#: submits it to the daemon, waits, and prints one JSON line describing what happened.
SUBMIT = textwrap.dedent("""
    import json, subprocess, sys, time
    from aiida import load_profile, orm
    load_profile(sys.argv[1])
    from aiida.engine import submit
    from aiida_bzs.common.structure_nodes import structure_from_atoms
    from aiida_bzs.structures import pnma_crystal
    from aiida_bzs.workflows.analysis import StructureAnalysisWorkChain

    structure = structure_from_atoms(pnma_crystal()).store()
    builder = StructureAnalysisWorkChain.get_builder_from_protocol(
        {"crystal": structure}, code="bzs_job@slurm-ssh", overrides={"analysis": {"plot": False}})
    begin = time.monotonic()
    node = submit(builder)
    while not node.is_terminated and time.monotonic() - begin < float(sys.argv[2]):
        time.sleep(2)
    calcs = []
    for calc in node.called_descendants:
        if not isinstance(calc, orm.CalcJobNode):
            continue
        job_id = calc.get_job_id()
        scontrol = subprocess.run(["scontrol", "show", "job", str(job_id)], capture_output=True, text=True)
        calcs.append({
            "pk": calc.pk, "computer": calc.computer.label, "job_id": job_id, "exit_status": calc.exit_status,
            "scheduler_state": str(calc.get_scheduler_state()), "options": calc.get_options(),
            "submit_script": calc.base.repository.get_object_content("_aiidasubmit.sh"),
            "last_job_info": calc.get_last_job_info().get_dict() if calc.get_last_job_info() else None,
            "scontrol": scontrol.stdout,
        })
    zr = node.outputs.results.crystal.coordination_Zr_S if node.is_finished_ok else None
    print(json.dumps({
        "pk": node.pk, "terminated": node.is_terminated, "finished_ok": node.is_finished_ok,
        "exit_status": node.exit_status, "exit_message": node.exit_message,
        "seconds": round(time.monotonic() - begin, 1), "calcs": calcs,
        "mean_cn_zr": zr.base.attributes.get("mean_cn") if zr is not None else None,
    }, default=str))
""")


def _bzs(*args, env, timeout=900) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "aiida-bzs"), *args], capture_output=True, text=True, timeout=timeout, env=env,
                            check=False)
    assert result.returncode == 0, f"aiida-bzs {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _running(env) -> dict:
    """Component → (running, started by aiida-bzs services), for the test profile."""
    rows = json.loads(_bzs("services", "status", "--profile", PROFILE, "--json", env=env).stdout)["components"]
    return {row["component"]: (row["running"], row["started_by"].startswith("aiida-bzs services")) for row in rows}


def _walltime(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() != 0, reason="services mode needs root (apt, daemons)")
def test_analysis_workchain_runs_its_job_through_slurm_over_ssh(tmp_path, user_env):
    from aiida_bzs.workflows.protocols import get_protocol

    before = _running(user_env)
    begin = time.monotonic()
    report = {"started": None}
    try:
        # --drop-orphan-db: this test's database left in PostgreSQL by a deleted configuration is replaced
        start = _bzs("services", "start", "--profile", PROFILE, "--slurm", "--workers", "2", "--drop-orphan-db", "--json",
                     env=user_env)
        report = json.loads(start.stdout.strip().splitlines()[-1])
        started_in = time.monotonic() - begin
        status = json.loads(_bzs("services", "status", "--profile", PROFILE, "--json", env=user_env).stdout)
        running = {row["component"]: row["running"] for row in status["components"]}
        assert all(running[name] for name in ("postgresql", "rabbitmq", "munge", "slurmctld", "slurmd", "sshd",
                                              f"daemon:{PROFILE}")), running
        assert status["profiles"][0]["storage"] == "core.psql_dos"
        assert "core.rabbitmq" in status["profiles"][0]["broker"]

        script = tmp_path / "submit.py"
        script.write_text(SUBMIT)
        result = subprocess.run([sys.executable, str(script), PROFILE, str(AWAIT_SECONDS)], capture_output=True,
                                text=True, timeout=AWAIT_SECONDS + 120, env=user_env, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        run = json.loads(result.stdout.strip().splitlines()[-1])
        assert run["terminated"], f"StructureAnalysisWorkChain<{run['pk']}> did not finish in {AWAIT_SECONDS} s"
        assert run["finished_ok"], f"<{run['pk']}> exit {run['exit_status']}: {run['exit_message']}"
        assert run["mean_cn_zr"] == 6.0

        (calc,) = run["calcs"]
        assert calc["computer"] == "slurm-ssh"
        # it went through Slurm: a Slurm job id, seen by squeue (the last job info) and by slurmctld
        assert calc["job_id"] and calc["job_id"].isdigit(), calc
        assert calc["last_job_info"] is None or calc["last_job_info"]["job_id"] == calc["job_id"]
        if calc["scontrol"]:  # slurmctld forgets a finished job after MinJobAge (300 s)
            assert f"JobId={calc['job_id']}" in calc["scontrol"] and "JobState=COMPLETED" in calc["scontrol"]
        # the #SBATCH lines carry the protocol's resources and wall time
        options = get_protocol("analysis", None)["job_options"]
        script_text = calc["submit_script"]
        resources = options["resources"]
        for line in (f"#SBATCH --nodes={resources['num_machines']}",
                     f"#SBATCH --ntasks-per-node={resources['num_mpiprocs_per_machine']}",
                     f"#SBATCH --time={_walltime(options['max_wallclock_seconds'])}"):
            assert line in script_text.splitlines(), f"{line!r} not in the submit script:\n{script_text}"
        assert "/aiida-bzs-job' 'analyse'" in script_text
    finally:
        started = report["started"]
        if started is None:  # `start` failed half-way: stop what it started (running now, not before)
            started = [name for name, (running, ours) in _running(user_env).items()
                       if running and ours and not before.get(name, (False, False))[0]]
        if started:
            _bzs("services", "stop", *[f"--only={name}" for name in started], env=user_env)
    total = time.monotonic() - begin
    print(f"\nservices start {started_in:.1f} s (started: {', '.join(report['started']) or 'nothing'}); "
          f"workchain {run['seconds']:.1f} s, Slurm job {calc['job_id']}; test total {total:.1f} s")
    assert total < 600
