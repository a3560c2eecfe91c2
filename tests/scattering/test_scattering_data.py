"""MeasuredPatternData and the nanoparticle builder."""

import numpy as np
import pytest
from aiida import orm

from aiida_bzs.analysis.errors import AnalysisInputError
from aiida_bzs.scattering.files import MeasuredFileError
from aiida_bzs.data.measured_pattern import MeasuredPatternData
from aiida_bzs.structures import pnma_crystal
from aiida_bzs.structures.errors import StructureInputError
from aiida_bzs.structures.nanoparticle import cut_sphere


def test_import_xrd_and_pdf(aiida_profile, scattering_fixtures):
    xrd = MeasuredPatternData.from_file(scattering_fixtures / "synthetic_xrd.xy", "xrd", wavelength="Cu").store()
    loaded = orm.load_node(xrd.pk)
    assert loaded.kind == "xrd" and loaded.axis == "two_theta" and loaded.wavelength == 1.5406
    assert loaded.source_filename == "synthetic_xrd.xy" and "source.dat" in loaded.base.repository.list_object_names()
    q = loaded.get_q()
    assert q[0] == pytest.approx(4 * np.pi * np.sin(np.radians(11.5)) / 1.5406)
    pdf = MeasuredPatternData.from_file(scattering_fixtures / "synthetic_pdf.gr", "pdf").store()
    assert pdf.axis == "r" and pdf.wavelength is None and pdf.x_units == "Å"


def test_import_errors(aiida_profile, tmp_path):
    path = tmp_path / "bad.xy"
    path.write_text("\n".join(f"{20 + i} {i}" for i in range(12)) + "\n33 x\n")
    with pytest.raises(MeasuredFileError, match=r"bad.xy, line 13: non-numeric value 'x'"):
        MeasuredPatternData.from_file(path, "xrd", wavelength=1.5406)
    good = tmp_path / "good.xy"
    good.write_text("\n".join(f"{20 + i} {i}" for i in range(12)))
    with pytest.raises(AnalysisInputError, match="need the wavelength"):
        MeasuredPatternData.from_file(good, "xrd")
    with pytest.raises(AnalysisInputError, match="first column must be one of"):
        MeasuredPatternData.from_file(good, "pdf", axis="q")


def test_cut_sphere():
    particle = cut_sphere(pnma_crystal(), 10.0)
    centred = particle.positions - particle.cell.sum(axis=0) / 2
    assert np.linalg.norm(centred, axis=1).max() <= 10.0 and not particle.pbc.any()
    expected = len(pnma_crystal()) / pnma_crystal().get_volume() * 4 / 3 * np.pi * 1000
    assert abs(len(particle) - expected) < 0.15 * expected
    assert set(particle.get_chemical_symbols()) == {"Ba", "Zr", "S"} and particle.info["diameter"] == 20.0
    with pytest.raises(StructureInputError, match="positive length"):
        cut_sphere(pnma_crystal(), -1)
    with pytest.raises(StructureInputError, match="no atom within"):
        cut_sphere(pnma_crystal(), 0.01)


def test_verdi_data_commands(aiida_profile, scattering_fixtures, tmp_path):
    from click.testing import CliRunner

    from aiida_bzs.cli.data_measured_pattern import measured_pattern

    runner = CliRunner()
    result = runner.invoke(measured_pattern, ["import", str(scattering_fixtures / "synthetic_pdf.gr"), "--kind", "pdf"])
    assert result.exit_code == 0, result.output
    pk = result.output.split("pk=")[1].split(":")[0]
    assert "synthetic_pdf.gr" in runner.invoke(measured_pattern, ["list"]).output
    assert "axis r (Å)" in runner.invoke(measured_pattern, ["show", pk]).output
    out = tmp_path / "export.dat"
    assert runner.invoke(measured_pattern, ["export", pk, str(out)]).exit_code == 0
    assert np.loadtxt(out).shape[1] == 2
    bad = tmp_path / "bad.gr"
    bad.write_text("\n".join(f"{k * 0.1:.1f} 0.5" for k in range(12)) + "\n1.2 -\n")
    result = runner.invoke(measured_pattern, ["import", str(bad), "--kind", "pdf"])
    assert result.exit_code != 0 and "bad.gr, line 13: non-numeric value '-'" in result.output
