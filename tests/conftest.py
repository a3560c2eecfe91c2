"""Shared fixtures: a temporary AiiDA profile, the real codes, the PBEsol pseudo families.

Tests that need an external code or ``../shared`` skip with the reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiida_bzs.common.codes import CODES, executable_path, prepend_text

pytest_plugins = ["aiida.tools.pytest_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BZS_SHARED", ROOT.parent / "shared"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` (campaign data and ready-made pseudos); skip when this checkout lacks it."""
    if not SHARED.is_dir():
        pytest.skip(f"../shared not found at {SHARED}; set BZS_SHARED to run this test")
    return SHARED


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def bzs_computer(aiida_profile, tmp_path_factory):
    """A local computer for the whole test session: direct scheduler, no poll delay, system mpirun."""
    from aiida import orm

    from aiida_bzs.common.codes import configure_computer

    computer = orm.Computer(
        label="bzs-test-local",
        hostname="localhost",
        workdir=str(tmp_path_factory.mktemp("bzs_workdir")),
        transport_type="core.local",
        scheduler_type="core.direct",
    ).store()
    computer.set_minimum_job_poll_interval(0)
    computer.set_default_mpiprocs_per_machine(1)
    computer.configure()
    configure_computer(computer)
    return computer


@pytest.fixture(scope="session")
def bzs_code(bzs_computer):
    """Factory: ``bzs_code('pw')`` returns an InstalledCode for the real executable, or skips.

    Codes are labelled by their name on the session computer and made once per session.
    """
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    def factory(name: str, with_mpi: bool | None = None):
        if name != "bzs_job":  # workchains run their γ/analysis jobs with bzs_job@<the code's computer>
            factory("bzs_job", with_mpi=False)
        try:
            return orm.load_code(f"{name}@{bzs_computer.label}")
        except NotExistent:
            pass
        path = executable_path(name)
        if path is None:
            pytest.skip(f"executable {CODES[name][0]!r} not found; run ./setup.sh")
        return orm.InstalledCode(
            label=name,
            computer=bzs_computer,
            filepath_executable=str(path),
            default_calc_job_plugin=CODES[name][1],
            prepend_text=prepend_text(name),
            with_mpi=with_mpi,
        ).store()

    return factory


@pytest.fixture(scope="session")
def localhost_job_code(aiida_profile, tmp_path_factory):
    """``bzs_job@localhost`` in the test profile: the runner code processes use when given none."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    code = None
    try:
        code = orm.load_code("bzs_job@localhost")
    except NotExistent:
        path = executable_path("bzs_job")
        if path is not None:
            try:
                computer = orm.load_computer("localhost")
            except NotExistent:
                computer = orm.Computer(label="localhost", hostname="localhost", transport_type="core.local",
                                        scheduler_type="core.direct",
                                        workdir=str(tmp_path_factory.mktemp("localhost_workdir"))).store()
                computer.set_minimum_job_poll_interval(0)
                computer.configure()
            code = orm.InstalledCode(label="bzs_job", computer=computer, filepath_executable=str(path),
                                     default_calc_job_plugin=CODES["bzs_job"][1],
                                     prepend_text=prepend_text("bzs_job"), with_mpi=False).store()
    yield code
    write_calcfunction_costs()  # the profile is still loaded here (this fixture depends on it)


@pytest.fixture(autouse=True)
def _default_job_code(request):
    """Tests with a profile get ``bzs_job@localhost``, as ``aiida-bzs setup`` gives a user's profile."""
    if "aiida_profile" in request.fixturenames:
        request.getfixturevalue("localhost_job_code")


@pytest.fixture(scope="session")
def pseudo_folder() -> Path:
    """Folder of PBEsol ultrasoft pseudos: the ones ``setup.sh`` generated, else ``../shared``."""
    from aiida_bzs.common.pseudos import generated_pseudo_dir

    for folder in (generated_pseudo_dir("us"), SHARED / "pseudos" / "pbesol-psl-1.0.0-us"):
        if folder.is_dir() and len(list(folder.glob("*.UPF"))) >= 3:
            return folder
    pytest.skip("no PBEsol pseudopotentials; run ./setup.sh (or provide ../shared/pseudos)")


@pytest.fixture(scope="session")
def pseudo_family(aiida_profile, pseudo_folder):
    """The ultrasoft PBEsol family installed in the test profile (with cutoffs)."""
    from aiida_bzs.common.pseudos import install_family

    return install_family(pseudo_folder, "us")


# --- the cost of every calcfunction the suite ran (docs/jobs.md: calcfunctions are light glue) ----

CALCFUNCTION_COSTS = ROOT / ".pytest_cache" / "bzs_calcfunction_costs.txt"
_WRITTEN: list = []


def _atoms_in(node) -> int:
    """Atoms in an input node, from its attributes only (no array loads): 0 if it holds none."""
    attributes = node.base.attributes
    for key in ("n_atoms", "num_atoms"):
        if attributes.get(key, None) is not None:
            return int(attributes.get(key))
    sites = attributes.get("sites", None)
    if sites is not None:
        return len(sites)
    shape = attributes.get("array|positions", None)
    return int(shape[0] * shape[1]) if shape and len(shape) == 3 else 0


def write_calcfunction_costs() -> None:
    """The longest run of every calcfunction of the session and the most atoms it was given,
    written to .pytest_cache/bzs_calcfunction_costs.txt and printed at the end of the run."""
    from aiida import orm

    costs: dict[str, list] = {}
    for (node,) in orm.QueryBuilder().append(orm.CalcFunctionNode, project=["*"]).iterall():
        seconds = (node.mtime - node.ctime).total_seconds()
        atoms = max([_atoms_in(n) for n in node.base.links.get_incoming().all_nodes()] or [0])
        row = costs.setdefault(node.process_label, [0, 0.0, 0])
        row[0] += 1
        row[1] = max(row[1], seconds)
        row[2] = max(row[2], atoms)
    lines = [f"{'calcfunction':40s} {'runs':>5s} {'longest (s)':>12s} {'most atoms in':>14s}"]
    lines += [f"{label:40s} {n:5d} {seconds:12.2f} {atoms:14,d}"
              for label, (n, seconds, atoms) in sorted(costs.items(), key=lambda kv: -kv[1][1])]
    CALCFUNCTION_COSTS.parent.mkdir(exist_ok=True)
    CALCFUNCTION_COSTS.write_text("\n".join(lines) + "\n")
    _WRITTEN.append(CALCFUNCTION_COSTS)


def pytest_terminal_summary(terminalreporter):
    """Print the calcfunction cost table (see :func:`calcfunction_costs`)."""
    if _WRITTEN:
        terminalreporter.write_sep("-", "calcfunctions run by this session (docs/jobs.md)")
        terminalreporter.write(CALCFUNCTION_COSTS.read_text())


# -- LAMMPS, the tiny ACE potentials and a pw.x stand-in, shared by the MD, GB and polycrystal tests --
MD_FIXTURES = FIXTURES / "md"


@pytest.fixture(scope="session")
def md_fixtures() -> Path:
    """tests/fixtures/md: tiny potentials and stored LAMMPS outputs."""
    return MD_FIXTURES


@pytest.fixture
def lmp_code(bzs_code):
    """InstalledCode of the venv's ``lmp`` with the pace plugin, serial (skips when not built).

    Serial because the local mpirun is OpenMPI and the wheel's lmp is MPICH (docs/md.md).
    """
    from aiida_bzs.common.codes import pace_plugin_dir

    if not (pace_plugin_dir() / "paceplugin.so").is_file():
        pytest.skip("pair_style pace plugin not built; run ./setup.sh (scripts/build_lammps_pace.sh)")
    return bzs_code("lmp", with_mpi=False)


def _potential(name: str, asi: bool = False):
    from aiida_bzs.data.ace_potential import AcePotentialData

    return AcePotentialData.get_or_create(MD_FIXTURES / f"{name}.yaml", yace=MD_FIXTURES / f"{name}.yace",
                                          asi=MD_FIXTURES / f"{name}.asi" if asi else None)


@pytest.fixture
def tiny_potential(aiida_profile):
    """The stable tiny Ba/S/Zr ACE potential (tests/fixtures/md/make_tiny_potential.py)."""
    return _potential("tiny")


@pytest.fixture
def tiny_potential_asi(aiida_profile):
    """The tiny potential with an active set from crystal cells only: a melt extrapolates (γ ≫ 1)."""
    return _potential("tiny", asi=True)


@pytest.fixture
def collapse_potential(aiida_profile):
    """A deliberately broken potential on which MD collapses atoms below 1 Å."""
    return _potential("collapse")


@pytest.fixture(scope="module")
def stand_in_pw(bzs_computer):
    """A pw.x code that is never run: builders and launch refusals need no executable."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        return orm.load_code(f"stand-in-pw@{bzs_computer.label}")
    except NotExistent:
        return orm.InstalledCode(label="stand-in-pw", computer=bzs_computer, filepath_executable="/bin/false",
                                 default_calc_job_plugin="quantumespresso.pw").store()
