"""PolycrystalWorkChain (bzs.polycrystal): builder, refusals, a real small relaxation with γ and
boundary chemistry, and XRD broadening with grain count."""

from __future__ import annotations


import numpy as np
import pytest







@pytest.fixture
def stand_in_mpi_lmp(bzs_computer, lmp_code):
    """An MPI LAMMPS code that is never run: the balanced preset asks for 128 ranks."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        return orm.load_code(f"stand-in-lmp-mpi@{bzs_computer.label}")
    except NotExistent:
        return orm.InstalledCode(label="stand-in-lmp-mpi", computer=bzs_computer, filepath_executable="/bin/false",
                                 default_calc_job_plugin=lmp_code.default_calc_job_plugin, with_mpi=True).store()


def test_builder_records_the_protocol(stand_in_mpi_lmp, tiny_potential_asi, bzs_code):
    """balanced: the study's 20 nm box, 8 and 50 grains, XRD on, MPI resources of the relaxations."""
    from aiida_bzs.workflows.polycrystal import PolycrystalWorkChain
    from aiida_bzs.workflows.protocols import ProtocolOverrideError, get_protocol

    builder = PolycrystalWorkChain.get_builder_from_protocol(stand_in_mpi_lmp, tiny_potential_asi,
                                                             protocol="balanced",
                                                             scattering_code=bzs_code("bzs_scatter"))
    preset = get_protocol("polycrystal", "balanced")
    parameters = builder.parameters.get_dict()
    assert parameters["box"] == [200.0, 200.0, 200.0] and parameters["grains"] == [8, 50]
    assert parameters["xrd"] is True and "xrd" in builder.scattering
    options = builder.relax.md.lammps.metadata.options
    assert options["resources"] == preset["options"]["resources"]
    assert options["max_wallclock_seconds"] == preset["options"]["max_wallclock_seconds"]
    assert builder.relax.relax_type.value == "cell"
    with pytest.raises(ProtocolOverrideError, match="grain"):
        PolycrystalWorkChain.get_builder_from_protocol(stand_in_mpi_lmp, tiny_potential_asi, protocol="fast",
                                                       overrides={"grain": 8})


def test_refused_at_launch(lmp_code, tiny_potential_asi):
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_bzs.workflows.polycrystal import PolycrystalWorkChain

    def launch(**parameters):
        builder = PolycrystalWorkChain.get_builder_from_protocol(lmp_code, tiny_potential_asi, protocol="fast")
        builder.parameters = orm.Dict({**builder.parameters.get_dict(), **parameters})
        with pytest.raises(ValueError) as info:
            run_get_node(builder)
        return str(info.value)

    assert "grain counts must be ≥ 1, got [0]" in launch(grains=[0])
    assert "no polycrystal to build" in launch(grains=[])
    assert "unknown parameter(s) ['grain']" in launch(grain=3)
    assert "no `scattering` inputs" in launch(xrd=True)


def test_real_small_polycrystal(lmp_code, tiny_potential_asi):
    """45 Å box, 4 grains (≈3.5k atoms): build job, LAMMPS relaxation, γ job, interface job — every
    output present and consistent (atoms kept through the relaxation, boundary + interior = all)."""
    from aiida.engine import run_get_node

    from aiida_bzs.common.structure_nodes import atoms_from_structure
    from aiida_bzs.workflows.polycrystal import PolycrystalWorkChain

    builder = PolycrystalWorkChain.get_builder_from_protocol(lmp_code, tiny_potential_asi, protocol="fast")
    results, node = run_get_node(builder)
    assert node.is_finished_ok, f"[{node.exit_status}] {node.exit_message}"
    built = atoms_from_structure(results["built"]["grains_4"])
    relaxed = atoms_from_structure(results["structures"]["grains_4"])
    report = results["build_reports"]["grains_4"]
    assert len(built) == len(relaxed) == report["n_atoms"] and report["n_grains"] == 4
    assert set(np.unique(built.arrays["grain"])) == {1, 2, 3, 4}
    summary = results["interfaces"]["grains_4"].get_dict()
    assert summary["boundary"]["n_atoms"] + summary["interior"]["n_atoms"] == len(relaxed)
    assert 0 < summary["boundary_fraction"] < 1
    gamma = results["gamma_summaries"]["grains_4"].get_dict()
    assert gamma  # the tiny potential's active set holds crystal cells only: γ is whatever it is, but reported
    assert summary["boundary"]["gamma_max"] is not None
    assert {"grains_4_interfaces", "grains_4_slice_grain", "grains_4_slice_gamma"} <= set(results["plots"])
    assert "scherrer" not in results  # xrd off in `fast`
    relax = [n for n in node.called if n.process_label == "RelaxWorkChain"]
    assert len(relax) == 1 and relax[0].inputs.relax_type.value == "positions"  # fast: the box as built


def test_xrd_broadens_with_grain_count(bzs_code, lmp_code, tiny_potential_asi):
    """As built (no relaxation: the toy potential would only blur the test), 50 Å box: the main
    reflection of a 6-grain polycrystal is wider than that of the one-grain crystal of the same box,
    and its Scherrer size smaller — the study's trend (finite Debye mode)."""
    from aiida.engine import run_get_node

    from aiida_bzs.workflows.polycrystal import PolycrystalWorkChain

    builder = PolycrystalWorkChain.get_builder_from_protocol(
        lmp_code, tiny_potential_asi, protocol="fast", scattering_code=bzs_code("bzs_scatter"),
        overrides={"box": [50.0, 50.0, 50.0], "grains": [6], "relax": False, "gamma": False, "xrd": True})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, f"[{node.exit_status}] {node.exit_message}"
    sizes = results["scherrer"].get_dict()
    assert set(sizes) == {"grains_6", "single_crystal"}
    assert sizes["grains_6"]["fwhm"] > sizes["single_crystal"]["fwhm"]
    assert sizes["grains_6"]["size_nm"] < sizes["single_crystal"]["size_nm"]
    assert set(results["xrd"]) == {"grains_6", "single_crystal"}
    print(f"\nScherrer: 6 grains {sizes['grains_6']['size_nm']:.2f} nm (FWHM {sizes['grains_6']['fwhm']:.3f}°), "
          f"single crystal {sizes['single_crystal']['size_nm']:.2f} nm (FWHM {sizes['single_crystal']['fwhm']:.3f}°)")
