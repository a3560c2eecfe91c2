"""Fault injection on the services stack (issue #16, item 4): one fault per test, injected into a real
run on PostgreSQL + RabbitMQ + daemon + the one-node Slurm cluster reached over SSH.

=========  =============================================================================================
test       fault
=========  =============================================================================================
daemon     ``verdi daemon stop`` while 3 analysis jobs are queued/running in Slurm; start again: the
           undisturbed run's values, one Slurm job per CalcJob
rabbitmq   RabbitMQ stopped and started under the running daemon (outcome recorded: continued, run twice
           by two workers, or stuck and repaired); then the recovery: daemon stopped while RabbitMQ is
           down, RabbitMQ started, ``verdi process repair``, daemon started: finishes ok
slurmd     slurmd stopped while the job is pending (``--begin``); squeue keeps it PENDING; slurmd back:
           the job runs and the workchain finishes
sshd       sshd stopped (open sessions dropped) for 3 poll intervals after the job was submitted: the
           transport's exponential back-off reconnects (``verdi process play`` if it had paused)
scratch    a computer whose work dir cannot be created: 5 upload attempts, then paused, no output
           stored; ``verdi process kill`` kills it; the computer, its code and the CalcJob are deleted
=========  =============================================================================================

What each shows is the fault table of docs/scale_out.md ("Faults"). Runs only with
``BZS_SERVICES_TEST=1``, as root (like tests/services/test_services_mode.py)::

    BZS_SERVICES_TEST=1 .venv/bin/pytest -q -s tests/services/test_faults.py

The module starts the stack once (``aiida-bzs services start --profile bzs-services-test --slurm``)
and stops exactly what that start started. Faults are injected, and repaired, through the stack's own
functions (:mod:`aiida_bzs.services.stack`: ``stop(only=…)``, ``start_rabbitmq``, ``start_slurm``,
``start_sshd``, ``start_daemon``), so its record of what it started stays true; only components this
module's start started are touched (a test is skipped otherwise). AiiDA's transport back-off
(``transport.task_retry_initial_interval``, 20 s by default) is set to 2 s in the test profile while
the module runs (restored afterwards), so the 5 attempts before a pause take ~30 s, not ~5 min.

Each scenario runs in its own interpreter with the services profile loaded: this file run as a
script (``python test_faults.py SCENARIO PROFILE``), which prints one JSON line for the test to check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(os.environ.get("BZS_SERVICES_TEST") != "1",
                       reason="starts PostgreSQL, RabbitMQ, Slurm and sshd: set BZS_SERVICES_TEST=1 to run"),
    pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() != 0, reason="services mode needs root (apt, daemons)"),
]

PROFILE = os.environ.get("BZS_SERVICES_PROFILE", "bzs-services-test")
WORKERS = 2
BIN = Path(sys.executable).parent
THIS = Path(__file__).resolve()
#: AiiDA's transport back-off in the test profile while this module runs (s; AiiDA's default is 20).
RETRY_OPTION = "transport.task_retry_initial_interval"
RETRY_INTERVAL = 2
#: The code of the analysis jobs and the computer the faults hit.
JOB_CODE = "bzs_job@slurm-ssh"
#: The extra computer of the scratch fault (removed again, with its code and CalcJob).
NO_SCRATCH_COMPUTER = "slurm-ssh-noscratch"


# == the pytest side ==============================================================================

def _verdi(env, *args, check=True, timeout=300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "verdi"), "-p", PROFILE, *args], capture_output=True, text=True, env=env,
                            timeout=timeout, check=False)
    assert not check or result.returncode == 0, f"verdi {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _profile_option(env, name: str) -> str | None:
    """The value of ``name`` set on the test profile itself (None: not set there, or no profile yet)."""
    result = _verdi(env, "config", "list", name, check=False)
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == name and parts[1] == "profile":
            return parts[2]
    return None


def _stop(env, names) -> None:
    """``aiida-bzs services stop --only …`` for ``names``; once more if a daemon said FAILED (``verdi daemon
    stop`` gives up after ``daemon.timeout``, 2 s, on a busy machine while circus goes on stopping)."""
    command = [str(BIN / "aiida-bzs"), "services", "stop", *[f"--only={name}" for name in names]]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
    if result.returncode != 0:
        daemons = [n for n in names if n.startswith("daemon:")]
        end = time.monotonic() + 180
        while time.monotonic() < end and any(_daemon_running(env, n.split(":", 1)[1]) for n in daemons):
            time.sleep(2)
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert result.returncode == 0, f"aiida-bzs services stop failed:\n{result.stdout}\n{result.stderr}"


def _daemon_running(env, profile: str) -> bool:
    result = subprocess.run([str(BIN / "verdi"), "-p", profile, "daemon", "status"], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    return result.returncode == 0


@pytest.fixture(scope="module")
def services():
    """The services stack with Slurm for this module: what its ``start`` started, and the environment
    for subprocesses (the user's ``AIIDA_PATH``). Stops exactly that afterwards."""
    from .conftest import _USER_AIIDA_PATH
    from .test_services_mode import _bzs, _running

    env = dict(os.environ)
    env.pop("AIIDA_PATH", None)
    if _USER_AIIDA_PATH is not None:
        env["AIIDA_PATH"] = _USER_AIIDA_PATH
    before = _running(env)
    previous = _profile_option(env, RETRY_OPTION)
    option_set = _verdi(env, "config", "set", RETRY_OPTION, str(RETRY_INTERVAL), check=False).returncode == 0
    report = {"started": None}
    begin = time.monotonic()
    try:
        # --drop-orphan-db: a machine whose PostgreSQL keeps this test's database from a configuration
        # since deleted (a fresh AIIDA_PATH) would refuse the new profile otherwise
        start = _bzs("services", "start", "--profile", PROFILE, "--slurm", "--workers", str(WORKERS), "--drop-orphan-db",
                     "--json", env=env)
        report = json.loads(start.stdout.strip().splitlines()[-1])
        daemon = f"daemon:{PROFILE}"
        if daemon not in report["started"]:
            pytest.skip(f"the daemon of {PROFILE} runs already (not started by this test, so it may not have the "
                        f"test's {RETRY_OPTION}): stop it (`aiida-bzs services stop --only {daemon}`) and re-run")
        if not option_set:  # a new profile: set the option now and restart the daemon to read it
            _verdi(env, "config", "set", RETRY_OPTION, str(RETRY_INTERVAL))
            _stop(env, [daemon])
            _bzs("services", "start", "--profile", PROFILE, "--slurm", "--workers", str(WORKERS), env=env)
        if "sshd" in report["started"]:
            subprocess.run([sys.executable, str(THIS), "sshd-record", PROFILE], env=env, timeout=120, check=True,
                           capture_output=True)
        print(f"\nservices start {time.monotonic() - begin:.1f} s; started: {', '.join(report['started'])}")
        yield {"env": env, "started": report["started"], "bzs": _bzs, "running": _running}
    finally:
        started = report["started"]
        if started is None:  # `start` failed half-way: stop what it started (running now, not before)
            started = [name for name, (running, ours) in _running(env).items()
                       if running and ours and not before.get(name, (False, False))[0]]
        if started:
            _stop(env, started)
        if previous is not None:
            _verdi(env, "config", "set", RETRY_OPTION, previous, check=False)
        else:
            _verdi(env, "config", "unset", RETRY_OPTION, check=False)


def _needs(services, *components):
    missing = [name for name in components if name not in services["started"]]
    if missing:
        pytest.skip(f"{', '.join(missing)} not started by this test (someone else's): no fault injected into it")


def _scenario(services, name: str, timeout: float) -> dict:
    """Run scenario ``name`` in its own interpreter; its JSON report. Afterwards, every component this
    module started runs again (a scenario that failed half-way may have left one stopped)."""
    begin = time.monotonic()
    try:
        result = subprocess.run([sys.executable, str(THIS), name, PROFILE], capture_output=True, text=True,
                                timeout=timeout, env=services["env"], check=False)
    finally:
        down = [n for n, (running, _) in services["running"](services["env"]).items()
                if n in services["started"] and not running]
        if down:
            services["bzs"]("services", "start", "--profile", PROFILE, "--slurm", "--workers", str(WORKERS),
                            env=services["env"])
    assert result.returncode == 0, f"scenario {name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["seconds"] = round(time.monotonic() - begin, 1)
    return report


def _one_slurm_job_each(report: dict) -> None:
    """No CalcJob ran twice: each has one Slurm job id, and Slurm saw one job of that name."""
    ids = [calc["job_id"] for calc in report["calcs"]]
    assert all(ids) and len(set(ids)) == len(ids), report["calcs"]
    for calc in report["calcs"]:
        assert calc["slurm_jobs"] == [calc["job_id"]], calc


def test_daemon_stopped_mid_workchain_and_restarted(services):
    """Three analysis jobs through Slurm; the daemon is stopped while they are queued/running, then
    started: the workchain finishes with the undisturbed run's values and nothing ran twice."""
    _needs(services, f"daemon:{PROFILE}")
    report = _scenario(services, "daemon", timeout=540)
    assert report["baseline"]["finished_ok"], report["baseline"]
    assert report["finished_ok"], report
    assert report["results"] == report["baseline"]["results"]  # every value, array by array
    assert len(report["calcs"]) == 3 and all(c["exit_status"] == 0 for c in report["calcs"])
    _one_slurm_job_each(report)
    assert report["at_stop"], "no CalcJob was with the scheduler when the daemon stopped"
    print(f"\n[daemon] injected: daemon stopped {report['stopped_seconds']:.0f} s with CalcJobs in "
          f"{sorted(set(report['at_stop']))}; observed: Slurm ran on ({report['squeue_while_stopped']}), the new "
          f"workers continued every CalcJob from its checkpoint; kept: same values as the undisturbed run, "
          f"{len(report['calcs'])} CalcJobs = {len(report['calcs'])} Slurm jobs; {report['seconds']:.0f} s")


def test_rabbitmq_restarted_while_processes_wait(services):
    """RabbitMQ stopped and started while jobs are with the scheduler. Unattended, the processes either
    continue, or a second worker runs a process the first still runs (RabbitMQ hands the unacknowledged
    task out again) and one instance excepts, or they are stuck (repaired); whichever, it is recorded.
    The recovery (daemon stopped while RabbitMQ is down, ``verdi process repair``, daemon started)
    finishes ok with one Slurm job per CalcJob."""
    _needs(services, "rabbitmq", f"daemon:{PROFILE}")
    report = _scenario(services, "rabbitmq", timeout=600)
    unattended = report["unattended"]
    # unattended, a broker restart under running workers is not safe in AiiDA 2.9 (aiida-core #1748, #4595): any
    # of these is recorded, none is asserted away; what must hold is the documented recovery below
    assert unattended["outcome"] in ("continued", "run twice", "failed", "stuck"), unattended
    if unattended["outcome"] == "stuck":  # the repair must have brought it home
        assert unattended["finished_ok"], unattended
    assert report["finished_ok"] and not report["run_twice"], report
    assert all(c["exit_status"] == 0 for c in report["calcs"]), report["calcs"]
    _one_slurm_job_each(report)
    print(f"\n[rabbitmq, unattended] injected: RabbitMQ down {unattended['down_seconds']:.0f} s with CalcJobs in "
          f"{sorted(set(unattended['at_stop']))}, daemon running; observed: {unattended['outcome']} "
          f"{unattended['run_twice'] or ''}, {unattended['lost_broadcasts']} state-change broadcast(s) lost, "
          f"workchain {unattended['state']} [{unattended['exit_status']}] "
          f"{unattended['finish_after_restart']:.0f} s after the restart"
          + (f"; repair: {unattended['repair_output']}" if unattended["repair_output"] else ""))
    print(f"[rabbitmq, recovery] injected: RabbitMQ down, daemon stopped while it was, {report['down_seconds']:.0f} s "
          f"in all; repair: {report['repair_output']}; kept: workchain ok, {len(report['calcs'])} CalcJobs = "
          f"{len(report['calcs'])} Slurm jobs; {report['seconds']:.0f} s")


def test_slurmd_stopped_while_job_pending(services):
    """slurmd stopped while the job waits in the queue: it stays PENDING; slurmd back: it runs."""
    _needs(services, "slurmd")
    report = _scenario(services, "slurmd", timeout=540)
    assert report["squeue_while_down"] and all(s.startswith("PENDING") for s in report["squeue_while_down"]), report
    assert report["finished_ok"], report
    _one_slurm_job_each(report)
    print(f"\n[slurmd] injected: slurmd stopped {report['down_seconds']:.0f} s while job {report['calcs'][0]['job_id']} "
          f"was pending; observed: squeue {sorted(set(report['squeue_while_down']))}, AiiDA saw "
          f"{sorted(set(report['aiida_while_down']))}, Slurm restarts of the job: {report['restarts']}; kept: "
          f"the job ran once slurmd was back, workchain ok; {report['seconds']:.0f} s")


def test_ssh_connection_dropped_mid_run(services):
    """sshd stopped (open connections dropped) while the daemon polls a running job, started again
    ~3 poll intervals later: the back-off retries reconnect and the workchain finishes."""
    _needs(services, "sshd")
    report = _scenario(services, "sshd", timeout=420)
    assert report["finished_ok"], report
    assert report["failed_attempts"] >= 1, "no transport task failed while sshd was down: nothing was injected"
    _one_slurm_job_each(report)
    print(f"\n[sshd] injected: sshd down {report['down_seconds']:.0f} s after job {report['calcs'][0]['job_id']} was "
          f"submitted ({report['sessions_dropped']} open session(s) dropped); observed: {report['failed_attempts']} failed "
          f"transport attempt(s) of {report['tasks']} ({report['error']}), "
          f"paused: {report['paused']}, played: {report['played']}; kept: the same job retrieved, workchain ok; "
          f"{report['seconds']:.0f} s")


def test_unwritable_scratch_pauses_then_kill(services):
    """A computer whose work dir cannot be created: the upload is tried 5 times, the CalcJob pauses
    naming the directory, nothing is stored; ``verdi process kill`` kills it. The extra computer,
    its code and the CalcJob are deleted afterwards."""
    _needs(services, f"daemon:{PROFILE}")
    report = _scenario(services, "scratch", timeout=360)
    assert report["paused"], report
    assert "upload_calculation failed" in report["status_paused"], report
    assert report["upload_errors"] == report["max_attempts"], report
    assert report["workdir"] in report["error"], report
    assert report["outputs_paused"] == [] and report["outputs_killed"] == [], report
    assert report["state_killed"] == "killed" and report["job_id"] is None, report
    assert report["cleaned"], report
    print(f"\n[scratch] injected: work dir {report['workdir']} (under a regular file); observed: "
          f"{report['upload_errors']} upload attempts in {report['pause_seconds']:.0f} s, then paused "
          f"({report['status_paused']}); error: {report['error']}; kept: no outputs, no Slurm job; "
          f"`verdi process kill` -> {report['state_killed']}; {report['seconds']:.0f} s")


def test_orphan_database_refused_then_replaced(services):
    """A database ``aiida-<profile>`` with tables that no profile of this configuration uses (its
    configuration deleted, as on a machine whose PostgreSQL outlived ``~/.aiida``): a new profile is
    refused with the fix named; with ``drop_orphan`` (``--drop-orphan-db``) the database is dropped and
    created empty. The role and database are removed afterwards; the real state file is not touched."""
    import psycopg

    from aiida_bzs.services import stack

    class Scratch(stack.State):
        def save(self) -> None:  # keep ~/.aiida-bzs/services/state.json as it is
            pass

    profile, state = "bzs-orphan-check", Scratch()
    name, port = f"aiida-{profile}", stack.PG_PORT

    def tables(config) -> int:
        with psycopg.connect(host=stack.LOOPBACK, port=port, user=name, password=config["database_password"],
                             dbname=name, autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                                ).fetchone()[0]

    try:
        config, step = stack.ensure_database(profile, port, None, state)
        assert step.status == "created" and tables(config) == 0, step
        with psycopg.connect(host=stack.LOOPBACK, port=port, user=name, password=config["database_password"],
                             dbname=name, autocommit=True) as conn:
            conn.execute("CREATE TABLE db_dbnode (id integer)")
        with pytest.raises(stack.ServicesError, match=r"already holds 1 tables .*--drop-orphan-db"):
            stack.ensure_database(profile, port, None, state)
        config, step = stack.ensure_database(profile, port, None, state, drop_orphan=True)
        assert "orphan of 1 tables dropped" in step.detail, step
        assert tables(config) == 0
    finally:
        stack.pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', port)
        stack.pg_admin(f'DROP ROLE IF EXISTS "{name}"', port)


# == the scenarios (run as a script, with the services profile loaded) ==============================

T0 = time.monotonic()


def _log(*message) -> None:
    print(f"[{time.monotonic() - T0:6.1f}]", *message, file=sys.stderr, flush=True)


def _await(predicate, timeout: float, step: float = 1.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def _structures(count: int) -> dict:
    from aiida_bzs.common.structure_nodes import structure_from_atoms
    from aiida_bzs.structures import pnma_crystal
    from aiida_bzs.structures.crystal import cubic_perovskite

    rattled = cubic_perovskite()
    rattled.positions[2] += [0.05, -0.03, 0.02]
    atoms = [pnma_crystal(), cubic_perovskite(), rattled][:count]
    return {f"s{index}": structure_from_atoms(a).store() for index, a in enumerate(atoms)}


def _drop_broker() -> None:
    """Close this interpreter's broker connection (the faults restart RabbitMQ; nothing here needs it)."""
    from aiida.manage import get_manager

    get_manager().reset_runner()
    get_manager().reset_broker()


def _submit_analysis(count: int, *, sleep: int = 0, scheduler_commands: str = ""):
    """A StructureAnalysisWorkChain over ``count`` small crystals, one job each on slurm-ssh; ``sleep``
    (s) in the job script holds each job that long in Slurm, the window in which a fault is injected
    (it changes no result)."""
    from aiida.engine import submit

    from aiida_bzs.workflows.analysis import StructureAnalysisWorkChain

    job_options = {}
    if sleep:
        job_options["prepend_text"] = f"sleep {sleep}"
    if scheduler_commands:
        job_options["custom_scheduler_commands"] = scheduler_commands
    builder = StructureAnalysisWorkChain.get_builder_from_protocol(
        _structures(count), code=JOB_CODE, overrides={"analysis": {"plot": False}, "job_options": job_options})
    node = submit(builder)
    _drop_broker()
    _log(f"submitted StructureAnalysisWorkChain<{node.pk}> ({count} structures)")
    return node


def _calcjobs(node) -> list:
    from aiida import orm

    return sorted((n for n in node.called_descendants if isinstance(n, orm.CalcJobNode)), key=lambda n: n.pk)


def _calc_states(node) -> list[str]:
    return [f"{c.process_state.value}/{c.get_state().value if c.get_state() else '-'}" for c in _calcjobs(node)]


def _squeue(*args: str) -> list[list[str]]:
    out = subprocess.run(["squeue", "-h", *args, "-o", "%i|%j|%T|%r"], capture_output=True, text=True,
                         timeout=60, check=False).stdout
    return [line.split("|") for line in out.splitlines() if line.strip()]


def _slurm_jobs_of(calc) -> list[str]:
    """Every job id Slurm knows (running, pending or recently finished) with this CalcJob's job name."""
    return sorted(row[0] for row in _squeue("-t", "all") if row[1] == f"aiida-{calc.pk}")


def _values(node) -> dict:
    """The workchain's results, comparable across runs: attributes, and a hash of each array."""
    import hashlib

    import numpy as np
    from aiida import orm

    values = {}
    for key, namespace in node.outputs.results.items():
        for name, output in namespace.items():
            entry = dict(output.base.attributes.all)
            if isinstance(output, orm.ArrayData):
                entry["arrays"] = {a: hashlib.sha256(np.ascontiguousarray(output.get_array(a)).tobytes()).hexdigest()
                                   for a in output.get_arraynames()}
            values[f"{key}.{name}"] = entry
    return json.loads(json.dumps(values, sort_keys=True, default=str))


def _report(node, **extra) -> dict:
    calcs = []
    for calc in _calcjobs(node):
        calcs.append({"pk": calc.pk, "job_id": calc.get_job_id(), "exit_status": calc.exit_status,
                      "state": calc.process_state.value if calc.process_state else None,
                      "slurm_jobs": _slurm_jobs_of(calc)})
    return {"pk": node.pk, "terminated": node.is_terminated, "finished_ok": node.is_finished_ok,
            "exit_status": node.exit_status, "exit_message": node.exit_message,
            "state": node.process_state.value if node.process_state else None, "calcs": calcs, **extra}


def _stack_stop(name: str) -> None:
    """Stop ``name`` the way ``aiida-bzs services stop --only NAME`` does."""
    from aiida_bzs.services import stack

    steps = stack.stop(only=[name])
    if name.startswith("daemon:") and any(s.status == "failed" for s in steps):
        # `verdi daemon stop` gives up after `daemon.timeout` (2 s) and says FAILED while circus goes on
        # stopping the workers (seen on this busy machine): wait for that, then `stop` forgets the record
        client = stack.daemon_client(name.split(":", 1)[1])
        stack.wait_for(lambda: not client.is_daemon_running, 180, f"{name} to stop")
        _log(f"`verdi daemon stop` said FAILED, but {name} stopped: {steps}")
        steps = stack.stop(only=[name])
        if any(s.what == name and s.status == "gone" for s in steps):
            return
    if not any(s.what == name and s.status == "stopped" for s in steps):
        raise RuntimeError(f"could not stop {name}: {steps}")
    _log(f"stopped {name}")


def _stack_start(name: str, profile: str, port: int | None = None) -> None:
    """Start ``name`` again the way ``aiida-bzs services start`` does (and record it as started by it)."""
    from aiida_bzs.services import stack

    with stack.locked():
        state = stack.State.load()
        if name == "rabbitmq":
            steps = [stack.start_rabbitmq(state, port)[0]]
        elif name == "slurmd":
            steps = stack.start_slurm(state)
        elif name == "sshd":
            steps = [stack.start_sshd(state, port)]
            _settle_sshd_record(state, port)
        elif name == "daemon":
            steps = [stack.start_daemon(profile, WORKERS, state)]
        else:
            raise ValueError(name)
    _log(f"started {name}: {[(s.what, s.status) for s in steps]}")


def _settle_sshd_record(state, port: int) -> None:
    """Record the PID of the sshd that listens now. ``stack.start_sshd`` reads its PID file as soon as
    the port answers, but sshd binds the port before it writes that file, so the record can be the
    previous sshd's PID or none, and ``stop`` would then leave this sshd running. Call under the lock."""
    from aiida_bzs.services import stack

    def listener() -> int | None:
        return next((pid for _, name, pid in stack.listeners(port) if name == "sshd"), None)

    stack.wait_for(lambda: listener() is not None and stack.read_pid(stack.STATE_DIR / "sshd.pid") == listener(),
                   30, "sshd's PID file")
    pid = listener()
    if state.components.get("sshd", {}).get("pid") != pid:
        _log(f"sshd recorded as pid {state.components.get('sshd', {}).get('pid')}, listening as {pid}: recorded again")
        state.record("sshd", pid=pid, port=port)


def _component_port(name: str) -> int:
    from aiida_bzs.services import stack

    return stack.State.load().components[name]["port"]


def _wait_for_job(node, timeout: float = 240) -> None:
    if not _await(lambda: any(c.get_job_id() for c in _calcjobs(node)), timeout, 0.3):
        raise RuntimeError(f"no CalcJob of <{node.pk}> reached Slurm in {timeout:.0f} s: {_calc_states(node)}")


def scenario_daemon(profile: str) -> dict:
    baseline = _submit_analysis(3)
    if not _await(lambda: baseline.is_terminated, 300):
        raise RuntimeError(f"the undisturbed run <{baseline.pk}> did not finish in 300 s")
    base = _report(baseline, results=_values(baseline) if baseline.is_finished_ok else None)
    _log(f"undisturbed run finished: {base['state']}")

    node = _submit_analysis(3, sleep=8)
    _wait_for_job(node)
    at_stop = [state for state in _calc_states(node)]
    begin = time.monotonic()
    _stack_stop(f"daemon:{profile}")
    time.sleep(5)
    squeue = sorted({row[2] for row in _squeue() if row[1] in {f"aiida-{c.pk}" for c in _calcjobs(node)}})
    _stack_start("daemon", profile)
    stopped = time.monotonic() - begin
    if not _await(lambda: node.is_terminated, 300):
        raise RuntimeError(f"<{node.pk}> did not finish in 300 s after the daemon restart: {_calc_states(node)}")
    return _report(node, baseline=base, results=_values(node) if node.is_finished_ok else None, at_stop=at_stop,
                   stopped_seconds=stopped, squeue_while_stopped=", ".join(squeue) or "nothing queued")


def _close_storage() -> None:
    """Close this interpreter's database connection: ``verdi process repair`` offers to terminate every
    other connection to the profile's database (and, asked no, aborts). Nodes must be loaded again."""
    from aiida.manage import get_manager

    get_manager().get_profile_storage().get_session().close()
    get_manager().reset_profile_storage()


def _repair(profile: str) -> str:
    """``verdi process repair`` (the daemon must be stopped): recreates the task of every active process
    whose task RabbitMQ lost, drops tasks of terminated processes and duplicates. Its output."""
    _close_storage()
    result = subprocess.run([str(BIN / "verdi"), "-p", profile, "process", "repair"], capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL, check=False)
    _log(f"verdi process repair -> {result.returncode}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        raise RuntimeError(f"verdi process repair failed:\n{result.stdout}{result.stderr}")
    return " ".join(line.strip() for line in result.stdout.splitlines() if line.strip())


def _run_twice_symptom(node) -> list[str]:
    """Processes of ``node``'s tree that excepted because a second worker ran them too: the second
    instance attaches an output the first already attached."""
    found = []
    for process in [node, *node.called_descendants]:
        if process.is_excepted and "already has an outgoing" in (process.exception or ""):
            found.append(f"{process.process_label}<{process.pk}>")
    return found


def _lost_broadcasts(node) -> int:
    from aiida import orm

    return orm.QueryBuilder().append(orm.Log, filters={
        "dbnode_id": {"in": [node.pk] + [c.pk for c in node.called_descendants]},
        "message": {"like": "%no connection available to broadcast%"}}).count()


def scenario_rabbitmq(profile: str) -> dict:
    """Two runs. Unattended: RabbitMQ stopped and started under the running daemon, nothing else
    done (a process still running after 120 s gets the repair below). Recovery: RabbitMQ stopped,
    the daemon stopped while it is down, RabbitMQ started, ``verdi process repair``, daemon started."""
    from aiida import orm

    port = _component_port("rabbitmq")
    daemon = f"daemon:{profile}"

    # -- unattended
    node = _submit_analysis(2, sleep=10)
    _wait_for_job(node)
    at_stop = _calc_states(node)
    begin = time.monotonic()
    _stack_stop("rabbitmq")
    time.sleep(3)
    _stack_start("rabbitmq", profile, port)
    restarted = time.time()
    down = time.monotonic() - begin
    # a parent whose child's "terminated" broadcast was lost notices at its next poll of the child
    # (runner.poll.interval, 60 s): wait past that before calling anything stuck
    repair = ""
    if _await(lambda: node.is_terminated, 120):
        twice = _run_twice_symptom(node)
        outcome = "continued" if node.is_finished_ok else "run twice" if twice else "failed"
    else:
        twice, outcome = [], "stuck"
        pk = node.pk
        _log(f"<{pk}> still running 120 s after the restart: {_calc_states(node)}; daemon stop, repair, start")
        _stack_stop(daemon)
        repair = _repair(profile)
        _stack_start("daemon", profile)
        node = orm.load_node(pk)
        if not _await(lambda: node.is_terminated, 240):
            raise RuntimeError(f"<{pk}> did not finish after `verdi process repair`: {_calc_states(node)}")
    unattended = _report(node, at_stop=at_stop, down_seconds=down, outcome=outcome, run_twice=twice,
                         repair_output=repair, lost_broadcasts=_lost_broadcasts(node),
                         finish_after_restart=node.mtime.timestamp() - restarted)
    _log(f"unattended: {outcome} {twice}")

    # -- the recovery: no worker holds a process while RabbitMQ comes back
    node = _submit_analysis(2, sleep=10)
    _wait_for_job(node)
    at_stop = _calc_states(node)
    pk = node.pk
    begin = time.monotonic()
    _stack_stop("rabbitmq")
    _stack_stop(daemon)
    _stack_start("rabbitmq", profile, port)
    repair = _repair(profile)
    _stack_start("daemon", profile)
    down = time.monotonic() - begin
    node = orm.load_node(pk)
    if not _await(lambda: node.is_terminated, 240):
        raise RuntimeError(f"<{pk}> did not finish after the recovery: {_calc_states(node)}")
    return _report(node, at_stop=at_stop, down_seconds=down, repair_output=repair, run_twice=_run_twice_symptom(node),
                   unattended=unattended)


def scenario_slurmd(profile: str) -> dict:
    # the job may not start before 30 s after its submission: the window in which slurmd is down
    node = _submit_analysis(1, scheduler_commands="#SBATCH --begin=now+30")
    _wait_for_job(node)
    (calc,) = _calcjobs(node)
    begin = time.monotonic()
    _stack_stop("slurmd")
    squeue, aiida = [], []
    for _ in range(4):
        time.sleep(2)
        squeue += [f"{row[2]} ({row[3]})" for row in _squeue("-j", calc.get_job_id())]
        aiida.append(str(calc.get_scheduler_state().value if calc.get_scheduler_state() else None))
    _stack_start("slurmd", profile)
    down = time.monotonic() - begin
    if not _await(lambda: node.is_terminated, 400):
        raise RuntimeError(f"<{node.pk}> did not finish in 400 s after slurmd came back: {_calc_states(node)}")
    shown = subprocess.run(["scontrol", "show", "job", calc.get_job_id()], capture_output=True, text=True,
                           timeout=30, check=False).stdout
    restarts = next((w.split("=")[1] for w in shown.split() if w.startswith("Restarts=")), "?")
    return _report(node, squeue_while_down=squeue, aiida_while_down=aiida, down_seconds=down, restarts=restarts)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def scenario_sshd(profile: str) -> dict:
    import signal

    from aiida import orm

    from aiida_bzs.services import stack

    node = _submit_analysis(1, sleep=15)
    _wait_for_job(node)
    (calc,) = _calcjobs(node)
    port = _component_port("sshd")
    master = stack.State.load().components["sshd"]["pid"]
    sessions = [pid for pid in _children(master) if stack.pid_alive(pid, ("sshd",))]  # the daemon's open logins
    begin = time.monotonic()
    _stack_stop("sshd")
    for pid in sessions:  # dropped, as a network cut would
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    time.sleep(3 * 2.0)  # three of slurm-ssh's 2 s poll intervals
    _stack_start("sshd", profile, port)
    down = time.monotonic() - begin
    played = False
    if not _await(lambda: node.is_terminated or calc.paused, 240):
        raise RuntimeError(f"<{node.pk}> neither finished nor paused in 240 s: {_calc_states(node)}")
    paused = calc.paused
    if paused:  # the back-off gave up (5 attempts): the documented way on
        subprocess.run([str(BIN / "verdi"), "-p", profile, "process", "play", str(calc.pk)], timeout=120, check=False)
        played = True
        if not _await(lambda: node.is_terminated, 240):
            raise RuntimeError(f"<{node.pk}> did not finish after `verdi process play`: {_calc_states(node)}")
    errors = [log for log in orm.Log.collection.get_logs_for(calc)
              if log.levelname == "ERROR" and log.metadata.get("funcName") == "exponential_backoff_retry"]
    last = errors[-1].message.strip().splitlines()[-1] if errors else ""
    tasks = sorted({task for log in errors for task in ("do_upload", "do_submit", "do_update", "do_retrieve")
                    if f"in {task}" in log.message})
    return _report(node, down_seconds=down, failed_attempts=len(errors), error=last[:200], tasks=tasks,
                   paused=paused, played=played, sessions_dropped=len(sessions))


def _remove_computer(label: str) -> list[int]:
    """Delete computer ``label`` with its codes (and so the CalcJobs that used them); the deleted pks."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent
    from aiida.tools import delete_nodes

    try:
        computer = orm.load_computer(label)
    except NotExistent:
        return []
    codes = orm.QueryBuilder().append(orm.Computer, filters={"id": computer.pk}, tag="computer").append(
        orm.AbstractCode, with_computer="computer", project="id").all(flat=True)
    deleted, _ = delete_nodes(codes, dry_run=False)
    orm.Computer.collection.delete(computer.pk)
    return sorted(deleted)


def scenario_scratch(profile: str) -> dict:
    from aiida import orm
    from aiida.engine import submit
    from aiida.manage.configuration import get_config_option

    from aiida_bzs.calculations.jobs import StructureAnalysisCalculation
    from aiida_bzs.workflows.analysis import StructureAnalysisWorkChain

    blocker = next(p for p in ("/etc/hostname", "/etc/passwd") if Path(p).is_file())
    _remove_computer(NO_SCRATCH_COMPUTER)  # left by an interrupted run
    good = orm.load_computer("slurm-ssh")
    user = orm.User.collection.get_default()
    deleted: list[int] = []
    try:
        computer = orm.Computer(label=NO_SCRATCH_COMPUTER, hostname=good.hostname, transport_type=good.transport_type,
                                scheduler_type=good.scheduler_type, workdir=f"{blocker}/aiida-bzs/{{username}}",
                                description="fault test: a work dir under a regular file").store()
        computer.set_minimum_job_poll_interval(2.0)
        computer.set_default_mpiprocs_per_machine(1)
        computer.configure(user, **good.get_authinfo(user).get_auth_params())
        source = orm.load_code(JOB_CODE)
        code = orm.InstalledCode(label=source.label, computer=computer, filepath_executable=str(source.filepath_executable),
                                 default_calc_job_plugin=source.default_calc_job_plugin, prepend_text=source.prepend_text,
                                 append_text=source.append_text).store()
        workdir = computer.get_workdir().format(username=good.get_authinfo(user).get_auth_params()["username"])
        analysis = StructureAnalysisWorkChain.get_builder_from_protocol(_structures(1), code=JOB_CODE)
        builder = StructureAnalysisCalculation.get_builder()
        builder.code = code
        builder.structure = analysis.structures["s0"]
        builder.parameters = orm.Dict({name: analysis[name].get_dict() if name == "bonds" else analysis[name].value
                                       for name in ("bonds", "contact_species", "contact_cutoff", "rdf_r_max",
                                                    "rdf_bin_width", "adf_bins")})
        builder.metadata.options = {"resources": {"num_machines": 1, "num_mpiprocs_per_machine": 1},
                                    "max_wallclock_seconds": 600}
        node = submit(builder)
        _drop_broker()
        begin = time.monotonic()
        _log(f"submitted StructureAnalysisCalculation<{node.pk}> on {NO_SCRATCH_COMPUTER} (work dir {workdir})")
        paused = _await(lambda: node.paused or node.is_terminated, 200)
        pause_seconds = time.monotonic() - begin
        status_paused = node.process_status or ""
        outputs_paused = sorted(node.base.links.get_outgoing().all_link_labels())
        messages = [log.message for log in orm.Log.collection.get_logs_for(node)]
        uploads = [m for m in messages if "Unable to create the remote directory" in m]
        error = uploads[-1].strip().splitlines()[-1] if uploads else ""
        paused = paused and node.paused and not node.is_terminated
        kill = subprocess.run([str(BIN / "verdi"), "-p", profile, "process", "kill", str(node.pk)], capture_output=True,
                              text=True, timeout=180, check=False)
        _log(f"verdi process kill -> {kill.returncode}: {kill.stdout.strip()} {kill.stderr.strip()}")
        _await(lambda: node.is_terminated, 120)
        report = {
            "pk": node.pk, "workdir": workdir, "paused": paused, "pause_seconds": pause_seconds,
            "status_paused": status_paused, "outputs_paused": outputs_paused, "upload_errors": len(uploads),
            "max_attempts": get_config_option("transport.task_maximum_attempts"), "error": error,
            "state_killed": node.process_state.value if node.process_state else None,
            "status_killed": node.process_status, "job_id": node.get_job_id(),
            "outputs_killed": sorted(node.base.links.get_outgoing().all_link_labels()),
        }
    finally:
        deleted = _remove_computer(NO_SCRATCH_COMPUTER)
    from aiida.common.exceptions import NotExistent

    try:
        orm.load_computer(NO_SCRATCH_COMPUTER)
        gone = False
    except NotExistent:
        gone = True
    report["cleaned"] = gone and report["pk"] in deleted
    report["deleted"] = deleted
    return report


def scenario_sshd_record(profile: str) -> dict:
    """After ``aiida-bzs services start`` started sshd: make sure its PID is the one recorded."""
    from aiida_bzs.services import stack

    with stack.locked():
        state = stack.State.load()
        before = state.components["sshd"]["pid"]
        _settle_sshd_record(state, state.components["sshd"]["port"])
        return {"recorded": before, "pid": state.components["sshd"]["pid"]}


SCENARIOS = {"daemon": scenario_daemon, "rabbitmq": scenario_rabbitmq, "slurmd": scenario_slurmd,
             "sshd": scenario_sshd, "scratch": scenario_scratch, "sshd-record": scenario_sshd_record}


def _main(argv: list[str]) -> None:
    from aiida import load_profile

    scenario, profile = argv[1], argv[2]
    load_profile(profile, allow_switch=True)
    print(json.dumps(SCENARIOS[scenario](profile), default=str), flush=True)


if __name__ == "__main__":
    _main(sys.argv)
