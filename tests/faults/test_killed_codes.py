"""Fault injection on the embedded profile: a real code killed (SIGKILL) in the middle of its run.

What is injected, what is observed and what is kept is the fault table of docs/scale_out.md
("Faults"). The watcher kills exactly one process, chosen by a marker in its input file, so the
sibling jobs of the same workchain run undisturbed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from aiida import orm
from ase.build import make_supercell

from aiida_bzs.calculations.functions.structures import to_structure
from aiida_bzs.structures.crystal import cubic_perovskite, pnma_crystal


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="ignore")
    except OSError:
        return ""


class Killer(threading.Thread):
    """Kill (SIGKILL) the first process named ``name`` whose ``input_file`` in its working directory
    contains ``marker``, as soon as ``ready(directory)`` says the run is under way (not on a timer:
    an idle machine finishes a short run before any fixed delay); record its pid and directory."""

    def __init__(self, name: str, input_file: str, marker: str, ready, timeout: float = 300.0):
        super().__init__(daemon=True)
        self.name_, self.input_file, self.marker, self.ready, self.timeout = name, input_file, marker, ready, timeout
        self.killed: tuple[int, str] | None = None
        self.stop = threading.Event()

    def _find(self) -> tuple[int, str] | None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if not any(Path(a.decode(errors="ignore")).name == self.name_ for a in argv if a):
                    continue
                cwd = os.readlink(entry / "cwd")
                if self.marker in (Path(cwd) / self.input_file).read_text(errors="ignore"):
                    return int(entry.name), cwd
            except (OSError, ValueError):
                continue
        return None

    def __enter__(self) -> "Killer":
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.join()

    def run(self):
        end = time.monotonic() + self.timeout
        while not self.stop.is_set() and time.monotonic() < end:
            found = self._find()
            if found:
                while not self.ready(Path(found[1])):
                    if not Path(f"/proc/{found[0]}").exists() or time.monotonic() > end:
                        return  # finished (or never got going) before the kill: nothing injected
                    time.sleep(0.05)
                try:
                    os.kill(found[0], signal.SIGKILL)
                    self.killed = found
                except ProcessLookupError:
                    pass
                return
            time.sleep(0.1)


@pytest.mark.slow
def test_pw_killed_mid_scf_keeps_the_sibling_label(aiida_profile, bzs_code, pseudo_family):
    """Two pw.x labels in one DftLabelWorkChain; one is killed mid-SCF. Observed: its CalcJob ends
    with a named exit code, the PwBaseWorkChain (one iteration allowed) fails, the labelling chain
    finishes with the structure in ``excluded`` (exit status and message) and the sibling's label
    in the training set: nothing of the sibling is lost."""
    from aiida.engine import run_get_node

    from aiida_bzs.workflows.label import DftLabelWorkChain

    cubic = cubic_perovskite()
    cubic.positions[2] += [0.05, -0.03, 0.02]
    quick = to_structure(cubic)
    slow = to_structure(make_supercell(cubic, [[1, 0, 0], [0, 1, 0], [0, 0, 2]]))
    overrides = {"isolated_atom_box": 6.0, "max_concurrent": 2,
                 "pw": {"kpoints_distance": 5.0, "pw": {"parameters": {"SYSTEM": {"ecutwfc": 15.0, "ecutrho": 120.0}}}}}
    builder = DftLabelWorkChain.get_builder_from_protocol(
        bzs_code("pw"), {"quick": quick, "slow": slow}, protocol="fast", overrides=overrides,
        pseudo_family=pseudo_family.label)
    builder.compute_reference_energies = orm.Bool(False)
    builder.max_iterations = orm.Int(1)
    # the victim runs long enough to be killed: high cutoff, many bands (Ry; the marker is its nbnd)
    builder.structure_overrides = {"slow": orm.Dict({"SYSTEM": {"ecutwfc": 45.0, "ecutrho": 360.0, "nbnd": 97}})}
    killer = Killer("pw.x", "aiida.in", "nbnd = 97",  # killed in its second SCF iteration
                    ready=lambda d: "iteration #  2" in _text(d / "aiida.out"))
    with killer:
        results, node = run_get_node(builder)
    assert killer.killed is not None, "the victim pw.x finished before it could be killed"
    assert node.is_finished_ok, node.exit_message
    excluded = results["excluded"].get_dict()
    assert set(excluded) == {"slow"} and excluded["slow"]["exit_status"] not in (0, None)
    assert len(results["training_set"]) == 1  # the sibling's label is kept
    pw_calcs = [n for n in node.called_descendants if n.process_label == "PwCalculation"]
    victim = [c for c in pw_calcs if c.get_remote_workdir() == killer.killed[1]]
    assert len(victim) == 1 and victim[0].exit_status not in (0, None)
    print(f"\nkilled pw.x pid {killer.killed[0]}: PwCalculation<{victim[0].pk}> [{victim[0].exit_status}] "
          f"{victim[0].exit_message}; DftLabelWorkChain excluded: {excluded['slow']}")


@pytest.mark.slow
def test_lmp_killed_mid_run_continues_from_its_restart(lmp_code, tiny_potential):
    """An MD stage whose lmp is killed mid-run: LammpsBaseWorkChain continues it from the last restart
    file (or repeats it when none was written yet) and the stage ends at its last step with one
    continuous history; the killed run is kept as a failed CalcJob with a named exit code."""
    import numpy as np
    from aiida.engine import run_get_node

    from aiida_bzs.workflows.lammps_base import LammpsBaseWorkChain

    builder = LammpsBaseWorkChain.get_builder()
    builder.lammps.code = lmp_code
    builder.lammps.structure = to_structure(pnma_crystal().repeat((2, 2, 2)))
    builder.lammps.potential = tiny_potential
    builder.lammps.parameters = orm.Dict({"ensemble": "nvt", "temperature": 300, "steps": 20000,
                                          "dump_interval": 1000, "thermo_interval": 50})
    builder.lammps.settings = orm.Dict({"restart_interval": 500})  # restart files every 500 steps
    # killed once its first periodic restart file exists (step 500 of 20,000)
    killer = Killer("lmp", "input.lammps", "run", ready=lambda d: any(d.glob("periodic.*.restart")))
    with killer:
        results, node = run_get_node(builder)
    assert killer.killed is not None, "lmp finished before it could be killed"
    assert node.is_finished_ok, node.exit_message
    calcs = sorted((n for n in node.called if n.process_label == "LammpsCalculation"), key=lambda n: n.ctime)
    victim = [c for c in calcs if c.get_remote_workdir() == killer.killed[1]]
    assert len(victim) == 1 and victim[0].exit_status not in (0, None)
    assert calcs[-1].is_finished_ok and len(calcs) >= 2
    following = calcs[calcs.index(victim[0]) + 1]
    assert following.inputs.parent_folder.uuid == victim[0].outputs.remote_folder.uuid  # continued, not redone
    steps = results["thermo"].get_array("step")
    assert steps[-1] == 20000 and np.all(np.diff(steps) > 0)  # one history, no repeats
    print(f"\nkilled lmp pid {killer.killed[0]}: LammpsCalculation<{victim[0].pk}> [{victim[0].exit_status}] "
          f"{victim[0].exit_message}; then {len(calcs) - 1} more run(s), final step {steps[-1]}")
