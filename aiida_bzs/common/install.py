"""What ``aiida-bzs setup`` does: computer, codes and pseudo families, all idempotent.

Kept apart from the click command so that tests and notebooks can call the same steps.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aiida import orm
from aiida.common.exceptions import NotExistent

from .codes import CODES, DEFAULT_COMPUTER, configure_computer, executable_path, prepend_text
from .pseudos import FAMILIES, SSSP_LABEL, generate_pseudos, install_family

#: Seconds to wait for an SSSP download before falling back to local generation.
SSSP_TIMEOUT = 60


@dataclass
class Step:
    """One line of the setup report."""

    what: str
    status: str  # 'created', 'exists', 'skipped', 'failed'
    detail: str = ""


#: Shortest interval (s) between two scheduler polls of a computer on this machine (core.direct).
LOCAL_POLL_INTERVAL = 1.0


def local_computer(label: str, description: str, configure, workdir: str | None = None) -> tuple[orm.Computer, Step]:
    """Load (or create: core.local + core.direct, ``workdir`` default ``~/.aiida_run``) the local
    computer ``label``, apply ``configure(computer)`` (its ``mpirun``) and report it as a Step."""
    try:
        computer = orm.load_computer(label)
        status = "exists"
    except NotExistent:
        computer = orm.Computer(
            label=label,
            hostname="localhost",
            description=description,
            transport_type="core.local",
            scheduler_type="core.direct",
            workdir=workdir or str(Path.home() / ".aiida_run"),
        ).store()
        computer.configure()
        status = "created"
    configure(computer)
    # AiiDA's default is 10 s between two `ps` polls: for a 5–30 s labelling job that is most of
    # the job again (benchmarks/label_throughput.py). `ps` on this machine costs milliseconds.
    computer.set_minimum_job_poll_interval(LOCAL_POLL_INTERVAL)
    computer.set_default_mpiprocs_per_machine(computer.get_default_mpiprocs_per_machine() or 1)
    return computer, Step(f"computer {label}", status, " ".join(computer.get_mpirun_command()))


def setup_computer(label: str = DEFAULT_COMPUTER) -> tuple[orm.Computer, Step]:
    """Load (or create) the local computer and point its ``mpirun`` at the system MPI."""
    return local_computer(label, "this machine", configure_computer)


def register_codes(computer: orm.Computer, codes: dict, find_path, with_mpi, note: str) -> list[Step]:
    """Register each code of ``codes`` (label → (executable, CalcJob entry point)) on ``computer``
    whose executable ``find_path(label)`` finds; ``with_mpi(label)`` sets the code's MPI flag.
    Never duplicates a label: an existing code is reported as ``exists``."""
    steps = []
    for name, (exe, plugin) in codes.items():
        full = f"{name}@{computer.label}"
        try:
            orm.load_code(full)
            steps.append(Step(f"code {full}", "exists"))
            continue
        except NotExistent:
            pass
        path = find_path(name)
        if path is None:
            steps.append(Step(f"code {full}", "skipped", f"{exe} not found; run ./setup.sh"))
            continue
        orm.InstalledCode(
            label=name,
            computer=computer,
            filepath_executable=str(path),
            default_calc_job_plugin=plugin,
            prepend_text=prepend_text(name),
            with_mpi=with_mpi(name),
            description=f"{exe} {note}",
        ).store()
        steps.append(Step(f"code {full}", "created", str(path)))
    return steps


def setup_codes(computer: orm.Computer) -> list[Step]:
    """Register every code of :data:`CODES` whose executable exists; never duplicates a label.

    lmp from the wheel is linked to MPICH, not the system mpirun: serial here (``lmp-mpi`` on the
    MPICH computer runs it with MPI); pw.x leaves the choice to the caller.
    """
    return register_codes(computer, CODES, executable_path, lambda name: False if name != "pw" else None,
                          "registered by aiida-bzs setup")


#: The caching policy of every profile aiida-bzs sets up (embedded and services; docs/scale_out.md):
#: DFT labels and ACE fits are pure functions of their inputs and cost minutes to hours, so an
#: identical repeat reuses the stored result. MD is not cached: a melt–quench is one sample of a
#: stochastic process, and the study wants new samples.
CACHED_PROCESSES = ("aiida.calculations:quantumespresso.pw", "aiida.calculations:bzs.pacemaker")
NOT_CACHED_PROCESSES = ("aiida.calculations:bzs.lammps",)


def enable_caching(profile_name: str | None = None) -> Step:
    """Set the caching policy (:data:`CACHED_PROCESSES` on, :data:`NOT_CACHED_PROCESSES` off) in
    profile ``profile_name`` (default the loaded one); entries already there are kept."""
    from aiida.manage.configuration import get_config

    if profile_name is None:
        from aiida.manage import get_manager

        profile_name = get_manager().get_profile().name
    config = get_config()
    changed = False
    for option, wanted in (("caching.enabled_for", CACHED_PROCESSES), ("caching.disabled_for", NOT_CACHED_PROCESSES)):
        current = list(config.get_option(option, scope=profile_name))
        merged = current + [p for p in wanted if p not in current]
        if merged != current:
            config.set_option(option, merged, scope=profile_name)
            changed = True
    if changed:
        config.store()
    return Step("caching", "created" if changed else "exists",
                "cached: " + ", ".join(p.split(":")[1] for p in CACHED_PROCESSES)
                + "; not cached: " + ", ".join(p.split(":")[1] for p in NOT_CACHED_PROCESSES))


def try_install_sssp(timeout: int = SSSP_TIMEOUT) -> Step:
    """Try ``aiida-pseudo install sssp -x PBEsol``; offline this fails fast and is reported."""
    try:
        orm.load_group(SSSP_LABEL)
        return Step(f"family {SSSP_LABEL}", "exists")
    except NotExistent:
        pass
    exe = shutil.which("aiida-pseudo") or str(Path(executable_path("pacemaker") or "").parent / "aiida-pseudo")
    try:
        result = subprocess.run(
            [exe, "install", "sssp", "-x", "PBEsol", "-v", "1.3", "-p", "efficiency"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        return Step(f"family {SSSP_LABEL}", "skipped", f"download not possible ({exc.__class__.__name__})")
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["unknown error"]
        return Step(f"family {SSSP_LABEL}", "skipped", f"download failed: {reason[0][:120]}")
    return Step(f"family {SSSP_LABEL}", "created")


def setup_pseudos(folder: Path | None = None, try_sssp: bool = True) -> list[Step]:
    """Install the PBEsol families: SSSP where downloadable, and the local pslibrary ones.

    :param folder: a folder with ready-made ``*-rrkjus_*``/``*-kjpaw_*`` UPF files to install
        instead of generating them with ``ld1.x``.
    """
    steps = [try_install_sssp()] if try_sssp else []
    for kind, (tag, label) in FAMILIES.items():
        try:
            orm.load_group(label)
            steps.append(Step(f"family {label}", "exists"))
            continue
        except NotExistent:
            pass
        if folder is not None:
            upfs = list(Path(folder).glob(f"*{tag}*.UPF"))
            if not upfs:
                steps.append(Step(f"family {label}", "skipped", f"no *{tag}*.UPF in {folder}"))
                continue
            source = Path(tempfile.mkdtemp(prefix=f"bzs-{kind}-"))
            for upf in upfs:
                shutil.copy(upf, source / upf.name)
        else:
            source = generate_pseudos(kind)
        install_family(source, kind)
        steps.append(Step(f"family {label}", "created", str(source)))
    return steps
