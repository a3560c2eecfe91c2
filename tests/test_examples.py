"""examples/: every script compiles, every work chain has one, and each script's ``build`` makes its
builder from the protocol with stand-in codes (nothing runs), so a renamed input or argument fails here."""

from __future__ import annotations

import importlib.util
import py_compile
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: Restart wrappers that other work chains drive; no script of their own.
INTERNAL = {"bzs.lammps.base", "bzs.pacemaker.base"}


def _module(name: str):
    """Import examples/<name>.py (its folder on sys.path, as when run as a script)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"bzs_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_compiles(tmp_path):
    for path in sorted(EXAMPLES.glob("*.py")):
        py_compile.compile(str(path), cfile=str(tmp_path / f"{path.stem}.pyc"), doraise=True)
    for path in sorted(EXAMPLES.glob("*.sh")):
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_every_workchain_has_an_example():
    text = "\n".join(p.read_text() for p in EXAMPLES.glob("*.py"))
    missing = sorted(ep.name for ep in entry_points(group="aiida.workflows")
                     if ep.name.startswith("bzs.") and ep.name not in INTERNAL and ep.value.split(":")[1] not in text)
    assert missing == [], f"no script in examples/ uses the work chain(s) {missing}"


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.py") if "def main(" in p.read_text()))
def test_help(name, capsys, monkeypatch):
    """Scripts with ``main`` answer --help without a profile (argparse runs before anything else)."""
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--help"])
    with pytest.raises(SystemExit) as stop:
        _module(name).main()
    assert stop.value.code == 0
    assert "usage" in capsys.readouterr().out


@pytest.fixture(scope="module")
def stand_in(bzs_computer):
    """Factory: an InstalledCode that is never run, with the plugin of ``aiida-bzs setup``'s code ``name``."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_bzs.common.codes import CODES

    def factory(name: str):
        try:
            return orm.load_code(f"stand-in-{name}@{bzs_computer.label}")
        except NotExistent:
            return orm.InstalledCode(label=f"stand-in-{name}", computer=bzs_computer, filepath_executable="/bin/false",
                                     default_calc_job_plugin=CODES[name][1]).store()

    return factory


@pytest.fixture
def crystal(aiida_profile):
    from aiida_bzs.calculations.functions.structures import to_structure
    from aiida_bzs.structures.crystal import pnma_crystal

    return to_structure(pnma_crystal())


@pytest.fixture
def training_set(aiida_profile):
    """Three labelled Pnma cells (made-up energies eV and forces eV/Å: only the builder sees them)."""
    import numpy as np
    from ase.calculators.singlepoint import SinglePointCalculator

    from aiida_bzs.data.training_set import TrainingSetData
    from aiida_bzs.structures.crystal import pnma_crystal

    images = []
    for i in range(3):
        atoms = pnma_crystal()
        atoms.calc = SinglePointCalculator(atoms, energy=-100.0 - i, forces=np.zeros((len(atoms), 3)))
        atoms.info["config_type"] = "crystal"
        images.append(atoms)
    return TrainingSetData.from_atoms(images).store()


def test_crystal_relax(stand_in):
    builder = _module("crystal_relax").build(stand_in("pw"), protocol="fast")
    assert builder.settings.get_dict()["pw_protocol"] == "fast"
    assert builder.code.label == "stand-in-pw"


def test_label(stand_in, crystal, pseudo_family):
    builder = _module("label").build(stand_in("pw"), {"crystal": crystal}, protocol="demo",
                                     pseudo_family=pseudo_family.label)
    assert set(builder.structures) == {"crystal"}
    assert builder.parameters.get_dict()["pw_protocol"] == "demo"


def test_fit(stand_in, training_set):
    builder = _module("fit").build(stand_in("pacemaker"), training_set, protocol="demo")
    assert builder.versions.get_list() == ["filtered", "full"]
    assert builder.parameters.get_dict()["cutoff"] == 5.5


def test_active_learning(stand_in, training_set, crystal):
    builder = _module("active_learning").build(training_set, stand_in("pacemaker"), stand_in("pw"), stand_in("lmp"),
                                               crystal=crystal, protocol="fast")
    assert builder.settings.get_dict()["max_generations"] == 2
    assert builder.crystal == crystal


def test_md_sampling(stand_in, tiny_potential, crystal):
    builder = _module("md_sampling").build(stand_in("lmp"), tiny_potential, crystal, protocol="fast")
    assert "nvt_melt" in builder.families.get_dict()


def test_melt_quench(stand_in, tiny_potential, crystal):
    builder = _module("melt_quench").build(stand_in("lmp"), tiny_potential, crystal, protocol="demo")
    assert [stage["name"] for stage in builder.stages.get_list()][-1] == "minimise"


def test_relax(stand_in, tiny_potential, crystal):
    builder = _module("relax").build(stand_in("lmp"), crystal, tiny_potential, relax_type="cell", protocol="fast")
    assert builder.relax_type.value == "cell"


def test_analysis(stand_in, crystal):
    builder = _module("analysis").build({"crystal": crystal}, stand_in("bzs_job"))
    assert set(builder.structures) == {"crystal"}


def test_scattering(stand_in, crystal):
    builder = _module("scattering").build({"crystal": crystal}, stand_in("bzs_scatter"), protocol="fast")
    assert builder.xrd.get_dict()["wavelength"] == pytest.approx(1.5406)


def test_grain_boundary_dft(stand_in, crystal, pseudo_family):
    from aiida import orm

    from aiida_bzs.calculations.functions.structures import make_supercell

    doubled = make_supercell(crystal, orm.List([2, 1, 1]))
    builder = _module("grain_boundary_dft").build(stand_in("pw"), bulk_structure=crystal, structures={"flat": doubled},
                                                  protocol="fast", pseudo_family=pseudo_family.label)
    assert set(builder.structures) == {"flat"}


def test_campaign(stand_in, tiny_potential, training_set):
    module = _module("campaign")
    codes = {"lammps_code": stand_in("lmp"), "job_code": stand_in("bzs_job"), "scattering_code": stand_in("bzs_scatter")}
    builder = module.build("demo", potential=tiny_potential, skip=["polycrystal"], codes=codes)
    assert "polycrystal" in builder.parameters.get_dict()["skip"]
    assert "pw_code" not in builder and builder.potential == tiny_potential
    codes.update(pw_code=stand_in("pw"), pacemaker_code=stand_in("pacemaker"))
    builder = module.build("demo", training_set=training_set, codes=codes)
    assert builder.pacemaker_code.label == "stand-in-pacemaker"
