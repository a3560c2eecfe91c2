"""``aiida-bzs polycrystal``: build (random grains, an Atomsk file), analyse, the refusals of all three
commands and the pure formatters. The build and analysis jobs really run (40 Å box, 3 grains, ~2.4k
atoms, a few seconds each); ``relax`` is only refused here (tests/test_polycrystal_workchain.py runs
the workchain)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiida_bzs.cli import cmd_root
from aiida_bzs.cli.polycrystal import (
    format_build_report,
    format_models,
    format_scherrer,
    model_row,
    parse_box,
)

MD_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "md"
SMALL_ATOMSK = """# three grains in a 40 Å box (Atomsk --polycrystal format)
box 40 40 40
node 10 10 10 0 0 0
node 30 12 25 45 0 30
node 18 32 30 10 60 -20
"""


def _invoke(args):
    return CliRunner().invoke(cmd_root, [str(a) for a in args])


def _refused(result, *fragments):
    """Exit ≠ 0, one ``Error:`` line with every fragment, no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.fixture(scope="module")
def job_code(aiida_profile, bzs_code):
    return bzs_code("bzs_job").full_label


@pytest.fixture(scope="module")
def built(job_code, tmp_path_factory):
    """``polycrystal build --box 40 --grains 3 --seed 2 --out x.extxyz``: (output, extxyz path)."""
    out = tmp_path_factory.mktemp("polycrystal_cli") / "x.extxyz"
    result = _invoke(["polycrystal", "build", "--box", 40, "--grains", 3, "--seed", 2, "--out", out,
                      "--job-code", job_code])
    assert result.exit_code == 0, result.output
    return result.output, out


def _structure_pk(output: str) -> int:
    return int(re.search(r"LargeStructureData pk (\d+)", output).group(1))


def test_build_runs_the_job_and_writes_extxyz_with_grains(built):
    from aiida import orm
    from ase.io import read

    output, out = built
    n_atoms = int(re.search(r"polycrystal: (\d+) atoms, 3 grains in a 40 × 40 × 40 Å box \(random, seed 2\)",
                            output).group(1))
    assert 2000 < n_atoms < 3000
    assert "removed at the boundaries:" in output and "density:" in output and "g/cm³" in output
    assert re.search(r"atoms per grain \(min \d+, max \d+, mean \d+\): 1:\d+ 2:\d+ 3:\d+", output)
    atoms = read(out, format="extxyz")
    assert len(atoms) == n_atoms == orm.load_node(_structure_pk(output)).n_atoms
    assert sorted(set(atoms.arrays["grain"].tolist())) == [1, 2, 3]
    assert re.search(r"PolycrystalCalculation pk \d+", output)


def test_build_from_a_small_atomsk_file_keeps_its_text(job_code, tmp_path):
    from aiida import orm

    path = tmp_path / "three.txt"
    path.write_text(SMALL_ATOMSK)
    result = _invoke(["polycrystal", "build", "--from-atomsk", path, "--job-code", job_code])
    assert result.exit_code == 0, result.output
    assert "three.txt: 3 grains in a 40 × 40 × 40 Å box" in result.output
    assert "3 grains in a 40 × 40 × 40 Å box (Atomsk file)" in result.output
    job = orm.load_node(int(re.search(r"PolycrystalCalculation pk (\d+)", result.output).group(1)))
    assert job.inputs.parameters["atomsk"] == SMALL_ATOMSK
    assert job.outputs.structure.pk == _structure_pk(result.output)


def test_build_refusals(job_code, tmp_path):
    from aiida import orm

    bad = tmp_path / "bad.txt"
    bad.write_text("box 40 40 40\nnode 10 10 10 0 0 0\nnode 30 30 abc 0 0 0\n")
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    _refused(_invoke(["polycrystal", "build", "--from-atomsk", bad, "--job-code", job_code]),
             "bad.txt, line 3: field 'abc' is not a number")
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before  # refused before any job
    good = tmp_path / "good.txt"
    good.write_text(SMALL_ATOMSK)
    _refused(_invoke(["polycrystal", "build", "--from-atomsk", good, "--box", 40]),
             "give either --from-atomsk FILE or --box and --grains, not both")
    _refused(_invoke(["polycrystal", "build"]), "give --box and --grains")
    _refused(_invoke(["polycrystal", "build", "--box", 40]), "--grains is missing")
    _refused(_invoke(["polycrystal", "build", "--box", "40,40", "--grains", 2]), "three edges X,Y,Z")
    _refused(_invoke(["polycrystal", "build", "--box", 40, "--grains", 0]), "grain count must be ≥ 1, got 0")


def test_analyse_prints_the_model_line(built, job_code, tmp_path):
    output, _ = built
    pk = _structure_pk(output)
    result = _invoke(["polycrystal", "analyse", pk, "--job-code", job_code, "--plots", tmp_path])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("model") and "Zr CN b/i" in lines[0]
    row = lines[1].split()
    assert row[1] == re.search(r"polycrystal: (\d+) atoms", output).group(1) and row[2] == "3"
    assert 0 < float(row[3]) < 100  # boundary %
    assert row[-2:] == ["-", "-"]  # no γ given
    assert {p.name.split("_", 2)[-1] for p in tmp_path.glob("*.png")} == {"interfaces.png", "slice_grain.png"}
    assert re.search(r"InterfaceAnalysisCalculation pk \d+", result.output)


def test_relax_refusals(aiida_profile, bzs_code, bzs_computer, job_code, tmp_path):
    """--grains 0 is refused with the workchain's message, a bad Atomsk file with its line; nothing runs."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_bzs.common.codes import CODES
    from aiida_bzs.data.ace_potential import AcePotentialData

    potential = AcePotentialData.get_or_create(MD_FIXTURES / "tiny.yaml", yace=MD_FIXTURES / "tiny.yace",
                                               asi=MD_FIXTURES / "tiny.asi")
    try:
        lmp = orm.load_code(f"stand-in-lmp@{bzs_computer.label}")
    except NotExistent:  # never run: the refusals come first
        lmp = orm.InstalledCode(label="stand-in-lmp", computer=bzs_computer, filepath_executable="/bin/false",
                                default_calc_job_plugin=CODES["lmp"][1], with_mpi=False).store()
    base = ["polycrystal", "relax", "--potential", potential.pk, "--protocol", "fast", "--code", lmp.full_label,
            "--job-code", job_code]
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    _refused(_invoke([*base, "--grains", 0]), "grain counts must be ≥ 1, got [0]")
    bad = tmp_path / "model.txt"
    bad.write_text("box 40 40 40\nnode 10 10 10 0 0\n")
    _refused(_invoke([*base, "--from-atomsk", bad]), "model.txt, line 2: expected 6 numbers")
    _refused(_invoke([*base, "--box", "big"]), "one edge (a cube) or X,Y,Z")
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before


def _set(zr_cn, length, s_zr, gamma_max=None, above_2=None):
    out = {"zr_cn_mean": zr_cn, "zr_s_bond_length_mean": length, "s_zr_ratio": s_zr}
    if gamma_max is not None:
        out.update(gamma_max=gamma_max, gamma_fraction_above_2=above_2)
    return out


def test_formatters_on_hand_made_summaries():
    assert parse_box("200") == [200.0] * 3 and parse_box("200,180,150") == [200.0, 180.0, 150.0]
    report = {"n_atoms": 310245, "n_grains": 8, "box": [200.0, 200.0, 200.0], "clearance": 2.0, "seed": 1,
              "source": "random", "removed": {"count": 1234, "by_element": {"Ba": 250, "S": 734, "Zr": 250}},
              "counts": {"Ba": 62049, "Zr": 62049, "S": 186147},
              "composition": {"Ba": 0.2, "Zr": 0.2, "S": 0.6}, "deviation": {"Ba": 0.0001, "Zr": 0.0, "S": -0.0001},
              "formula_units": 62049, "excess": {"Ba": 0, "Zr": 0, "S": 0}, "density_g_cm3": 4.2101,
              "grains": [{"id": i, "n_atoms": 38000 + i} for i in range(1, 9)]}
    text = format_build_report(report)
    assert "310245 atoms, 8 grains in a 200 × 200 × 200 Å box (random, seed 1), clearance 2 Å" in text
    assert "removed at the boundaries: 1234 atoms (Ba 250, S 734, Zr 250)" in text
    assert "Ba +0.01, Zr +0.00, S -0.01" in text and "excess" not in text
    assert "density: 4.2101 g/cm³" in text and "(min 38001, max 38008, mean 38004): 1:38001" in text

    interfaces = {"n_atoms": 310245, "n_grains": 8, "boundary_fraction": 0.1234,
                  "boundary": _set(5.71, 2.5612, 3.05, 3.2, 0.012), "interior": _set(6.0, 2.548, 3.0, 1.1, 0.0),
                  "all": _set(5.96, 2.55, 3.0, 3.2, 0.0015)}
    row = model_row("grains_8", interfaces, {"max": 3.25, "fraction_above_2": 0.0025})
    assert row.split() == ["grains_8", "310245", "8", "12.3", "5.71/6.00", "2.561/2.548", "3.05/3.00", "3.25", "0.25"]
    assert model_row("grains_8", interfaces).split()[-2:] == ["3.2", "0.15"]  # γ of the interface summary
    empty = {"n_atoms": 100, "n_grains": 1, "boundary_fraction": 0.0, "boundary": _set(None, None, None),
             "interior": _set(6.0, 2.55, 3.0), "all": _set(6.0, 2.55, 3.0)}
    assert model_row("single", empty).split()[4:7] == ["-/6.00", "-/2.550", "-/3.00"]
    scherrer = {"single_crystal": {"size_nm": 19.8, "fwhm": 0.45}, "grains_8": {"size_nm": 12.3, "fwhm": 0.72},
                "grains_50": {"error": "no clear peak"}}
    table = format_models({"grains_50": empty, "grains_8": interfaces}, {"grains_8": {"max": 3.25}}, scherrer,
                          order=["grains_8", "grains_50"])
    lines = table.splitlines()
    assert lines[1].startswith("grains_8") and lines[2].startswith("grains_50")
    assert " ".join(format_scherrer(scherrer).split()) == (
        "Scherrer size: grains_50 - (no clear peak), grains_8 12.3 nm (FWHM 0.720°), single_crystal 19.8 nm "
        "(FWHM 0.450°)")
    assert table.endswith(format_scherrer(scherrer))
    scherrer["grains_90"] = {"size_nm": None, "fwhm": 3.1, "below_resolution": True, "note": "…"}
    assert "grains_90 - (below resolution)" in " ".join(format_scherrer(scherrer).split())
