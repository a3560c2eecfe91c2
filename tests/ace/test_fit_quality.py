"""The fit verdict, the per-family test error and the one definition of "test RMSE".

Uses the potential of the stored real pacemaker run ``pacemaker/maxiter`` (no new fit): its test
set is every 4th structure of the fixture dataset, as make_pacemaker_outputs.py split it.
"""

from __future__ import annotations

import numpy as np
import pytest

from aiida_bzs.analysis.ace_parity import parity_figure, parity_metrics, parity_metrics_by_group, predict_parity
from aiida_bzs.analysis.fit_quality import fit_verdict
from aiida_bzs.parsers.pacemaker_files import parse_metrics_table

GOOD = {"rmse_energy": 5.0, "rmse_forces": 150.0, "n_structures": 30}


def test_verdicts_from_thresholds():
    assert fit_verdict(GOOD)["verdict"] == "usable"
    bad = fit_verdict({**GOOD, "rmse_energy": 866.0})
    assert bad["verdict"] == "unusable" and "866 meV/atom > 200" in bad["reasons"][0]
    assert fit_verdict({**GOOD, "rmse_forces": 600.0})["verdict"] == "smoke_test"
    assert fit_verdict({**GOOD, "n_structures": 3})["verdict"] == "smoke_test"
    assert fit_verdict({})["verdict"] == "unusable"
    smoke = fit_verdict(GOOD, {"smoke_test": True})
    assert smoke["verdict"] == "smoke_test" and "smoke-test protocol" in smoke["reasons"][-1]
    # a smoke-test protocol does not hide an unusable fit, and says it was a smoke test
    fast_bad = fit_verdict({**GOOD, "rmse_energy": 1286.0}, {"smoke_test": True})
    assert fast_bad["verdict"] == "unusable" and "smoke-test protocol" in fast_bad["reasons"][-1]


def test_a_family_beyond_the_limits_is_named():
    metrics = {**GOOD, "by_config_type": {"crystal": {"n_structures": 25, "rmse_energy": 3.0, "rmse_forces": 90.0},
                                          "dimer": {"n_structures": 5, "rmse_energy": 900.0, "rmse_forces": 4000.0}}}
    verdict = fit_verdict(metrics)
    assert verdict["verdict"] == "smoke_test"
    assert any("family 'dimer'" in reason for reason in verdict["reasons"])
    assert verdict["by_config_type"]["crystal"] == {"n_structures": 25, "rmse_energy": 3.0, "rmse_forces": 90.0}


@pytest.fixture(scope="module")
def stored_run_parity(ace_fixtures, dataset_images):
    from pyace import PyACECalculator

    images, refs, _ = dataset_images
    test = [atoms for i, atoms in enumerate(images) if i % 4 == 3]
    calc = PyACECalculator(str(ace_fixtures / "pacemaker" / "maxiter" / "output_potential.yaml"))
    return predict_parity(test, calc, refs), [a.info["config_type"] for a in test]


def test_parity_is_pacemakers_definition(stored_run_parity, ace_fixtures):
    """Our test RMSE of the saved potential equals pacemaker's rmse_epa / rmse_f_comp of its final
    test evaluation when nothing changed the potential after the fit (no contact in the test set
    shorter than in the training set, so the ZBL core attached by 'repulsion: auto' is idle)."""
    parity, _ = stored_run_parity
    ours = parity_metrics(parity)
    theirs = parse_metrics_table((ace_fixtures / "pacemaker" / "maxiter" / "test_metrics.txt").read_text())
    assert ours["rmse_energy"] == pytest.approx(theirs["rmse_epa"][-1] * 1000, rel=1e-6)
    assert ours["rmse_forces"] == pytest.approx(theirs["rmse_f_comp"][-1] * 1000, rel=1e-6)


def test_post_fit_zbl_is_why_the_two_numbers_can_differ(ace_fixtures, dataset_images, tmp_path):
    """The saved potential carries pacemaker's ZBL core below the shortest training distance
    (r_in per bond); a test structure 3 % shorter than the closest training contact changes by
    eV/atom, which pacemaker's in-fit test metric never sees. The package reports the saved one."""
    import yaml
    from pyace import PyACECalculator

    images, _, _ = dataset_images
    path = ace_fixtures / "pacemaker" / "maxiter" / "output_potential.yaml"
    blocks = yaml.safe_load(path.read_text())["species"]
    assert {b.get("inner_cutoff_type") for b in blocks if len(b["speciesblock"].split()) <= 2} == {"zbl"}
    squeezed = images[14].copy()  # the compressed cell: the shortest contacts of the data (2.09 Å)
    squeezed.set_cell(squeezed.cell * 0.97, scale_atoms=True)
    squeezed.calc = PyACECalculator(str(path))
    with_core = squeezed.get_potential_energy() / len(squeezed)
    for block in blocks:
        block.update(r_in=0.0, delta_in=0.0, inner_cutoff_type="distance")
        block["core-repulsion"] = [0.0, 0.0]
    bare = tmp_path / "without_core.yaml"
    bare.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "species": blocks}))
    squeezed.calc = PyACECalculator(str(bare))
    without_core = squeezed.get_potential_energy() / len(squeezed)
    assert with_core - without_core > 1.0  # eV/atom


def test_per_family_breakdown(stored_run_parity):
    parity, families = stored_run_parity
    assert sorted(set(families)) == ["cubic", "cubic_2x1x1"]
    by_family = parity_metrics_by_group(parity, families)
    for name, metrics in by_family.items():
        idx = [i for i, f in enumerate(families) if f == name]
        de = (parity["energy_pred"][idx] - parity["energy_ref"][idx]) * 1000
        assert metrics["n_structures"] == len(idx)
        assert metrics["rmse_energy"] == pytest.approx(np.sqrt(np.mean(de**2)))
        mask = np.isin(parity["structure_index"], idx)
        df = (parity["forces_pred"][mask] - parity["forces_ref"][mask]) * 1000
        assert metrics["n_force_components"] == 3 * sum(parity["natoms"][idx])
        assert metrics["rmse_forces"] == pytest.approx(np.sqrt(np.mean(df**2)))
    # the families' squared errors add up to the whole set's
    total = sum(m["rmse_energy"] ** 2 * m["n_structures"] for m in by_family.values())
    assert np.sqrt(total / len(families)) == pytest.approx(parity_metrics(parity)["rmse_energy"])
    with pytest.raises(ValueError, match="group labels"):
        parity_metrics_by_group(parity, families[:-1])


def test_parity_figure_legend_outside_the_axes(stored_run_parity, tmp_path):
    parity, families = stored_run_parity
    fig = parity_figure(parity, title="t", groups=families)
    fig.savefig(tmp_path / "p.png")  # lays the figure out (constrained layout)
    renderer = fig._get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        box = ax.get_tightbbox(renderer)  # axes with their tick labels and axis labels
        assert not legend.overlaps(box), "legend covers an axis"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["cubic", "cubic_2x1x1"]


def test_assess_fit_and_the_gate(fitted_potential):
    """The calcfunction links the verdict to the potential; the MD gate reads it back."""
    from aiida import orm

    from aiida_bzs.calculations.functions.ace_quality import assess_fit
    from aiida_bzs.common.potential_quality import check_potential_usable, potential_verdict

    metrics = orm.Dict({"rmse_energy": 1360.1, "rmse_forces": 2678.4, "n_structures": 3,
                        "by_config_type": {"cubic": {"n_structures": 2, "rmse_energy": 1500.0, "rmse_forces": 2000.0}}})
    verdict = assess_fit(fitted_potential, metrics, orm.Dict({"smoke_test": True}))["verdict"]
    assert verdict["verdict"] == "unusable"
    assert potential_verdict(fitted_potential)["verdict"] == "unusable"
    assert potential_verdict(fitted_potential)["by_config_type"]["cubic"]["n_structures"] == 2
    error, _ = check_potential_usable(fitted_potential)
    assert "unusable for simulations" in error and "1360.1 meV/atom" in error
    assert check_potential_usable(fitted_potential, allow_unusable=True)[0] is None


def test_cli_parse_weights():
    import click

    from aiida_bzs.cli.ace import parse_weights

    assert parse_weights(("rss=0.5", "crystal*=2")) == {"rss": 0.5, "crystal*": 2.0}
    for bad in ("rss", "=2", "rss=heavy"):
        with pytest.raises(click.BadParameter, match="CONFIG_TYPE=FACTOR"):
            parse_weights((bad,))
