"""ScatteringWorkChain end to end through the `aiida-bzs scatter` command, and GPU routing."""

import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_bzs.cli import cmd_root


@pytest.fixture
def crystal_file(tmp_path):
    from aiida_bzs.structures import pnma_crystal

    path = tmp_path / "crystal.cif"
    pnma_crystal().write(path)
    return path


def test_scatter_command_with_measured_data(bzs_code, crystal_file, scattering_fixtures, tmp_path):
    """Crystal cell + a 2 nm particle cut from it → XRD/PDF, Rwp against synthetic data, one PNG."""
    code = bzs_code("bzs_scatter")
    plot = tmp_path / "fig4.png"
    result = CliRunner().invoke(
        cmd_root,
        ["scatter", str(crystal_file), "-n", "2", "--compare", str(scattering_fixtures / "synthetic_xrd.xy"),
         "--compare-pdf", str(scattering_fixtures / "synthetic_pdf.gr"), "--plot", str(plot),
         "--protocol", "fast", "--code", code.full_label],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "np_2nm" in result.output and "Rwp XRD" in result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20_000

    workchain = orm.load_node(int(result.output.strip().split("pk=")[-1]))
    assert workchain.is_finished_ok
    outputs = workchain.outputs
    assert set(outputs.xrd) == {"crystal", "np_2nm"}
    two_theta = outputs.xrd.np_2nm.get_x()[1]
    assert two_theta[0] == pytest.approx(22.77, abs=0.2) and two_theta[-1] == pytest.approx(80.13, abs=0.2)  # qstep 0.01
    fits = {label: outputs.comparisons[label] for label in ("crystal", "np_2nm")}
    # the synthetic data are a 3 nm sphere: the 2 nm particle fits them better than a 20-atom cell
    assert fits["np_2nm"].xrd["rwp"] < fits["crystal"].xrd["rwp"]
    assert fits["np_2nm"].pdf["rwp"] < fits["crystal"].pdf["rwp"]
    # a 2 nm particle broadens the main group into its neighbours: below what the window resolves
    # (protocol min_size 30 Å), so its FWHM but no size, and the table says why
    entry = outputs.scherrer["np_2nm"]
    assert entry["size_nm"] is None and entry["below_resolution"] is True and entry["fwhm"] > 2.0, entry
    row = next(line for line in result.output.splitlines() if line.startswith("np_2nm"))
    assert row.split()[-1] == "<resolved", row
    # the runner measures each finite particle (bounding-box diagonal, Å): no crystallite in it is larger
    calc = workchain.base.links.get_outgoing(link_label_filter="scatter_np_2nm").one().node
    assert 15 < calc.outputs.output_parameters["particle_extent"] < 60


def test_bad_measured_file_is_a_clean_error(aiida_profile, bzs_code, crystal_file, tmp_path):
    bad = tmp_path / "measured.xy"
    bad.write_text("\n".join(f"{20 + 0.1 * k:.1f} {k}" for k in range(15)) + "\n21.6 1e3 x\n")
    result = CliRunner().invoke(cmd_root, ["scatter", str(crystal_file), "--compare", str(bad),
                                           "--code", bzs_code("bzs_scatter").full_label])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{bad}, line 16: non-numeric value 'x' in column 3" in result.output


def test_big_structures_go_to_the_gpu_code(bzs_code, sphere):
    """Above gpu_min_atoms the GPU code runs with device 'cuda'; on a CPU-only machine that
    calculation fails with ERROR_DEVICE_UNAVAILABLE and the workchain names the structure."""
    import torch

    from aiida_bzs.workflows.scattering import ScatteringWorkChain

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = bzs_code("bzs_scatter")
    builder = ScatteringWorkChain.get_builder_from_protocol(
        {"small": orm.StructureData(ase=sphere(6.0))}, code=code, protocol="fast",
        overrides={"parameters": {"qmax": 8.0, "qstep": 0.05}}, gpu_code=code,
    )
    builder.gpu_min_atoms = orm.Int(10)
    from aiida.engine import run_get_node

    _, node = run_get_node(builder)
    assert node.exit_status == 401 and "small" in node.exit_message
    calc = node.base.links.get_outgoing(link_label_filter="scatter_small").one().node
    assert calc.inputs.parameters["device"] == "cuda" and calc.exit_status == 310
    assert calc.inputs.structure_file.base.attributes.get("n_atoms") == len(sphere(6.0))


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--wavelength", "10"], "xrd: Q = 5.25 Å⁻¹ is above what λ = 10.0 Å reaches"),
        (["--protocol", "fast", "--wavelength", "Fe"], "unknown"),
    ],
)
def test_unreachable_xrd_window_is_refused_before_running(aiida_profile, bzs_code, crystal_file, args, fragment):
    """A window the wavelength cannot reach is a usage error before anything is scattered."""
    before = orm.QueryBuilder().append(orm.CalcJobNode).count()
    result = CliRunner().invoke(cmd_root, ["scatter", str(crystal_file), "--code", bzs_code("bzs_scatter").full_label, *args])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert fragment in result.output
    assert orm.QueryBuilder().append(orm.CalcJobNode).count() == before


def test_xrd_window_outside_the_computed_grid_is_refused(bzs_code):
    from aiida.engine import run

    from aiida_bzs.structures import pnma_crystal
    from aiida_bzs.workflows.scattering import ScatteringWorkChain

    builder = ScatteringWorkChain.get_builder_from_protocol(
        {"c": orm.StructureData(ase=pnma_crystal())}, code=bzs_code("bzs_scatter"), protocol="fast",
        overrides={"parameters": {"qmax": 4.0}},
    )
    with pytest.raises(ValueError, match=r"XRD window \[1.61, 5.25\] Å⁻¹ is outside the computed Q grid \[1.0, 4.0\]"):
        run(builder)
