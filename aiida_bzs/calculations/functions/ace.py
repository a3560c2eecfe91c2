"""Calcfunctions around ACE potentials: parity on a test set, extrapolation grade γ, dataset files.

Thin wrappers: the numerics live in :mod:`aiida_bzs.analysis.ace_parity` and
:mod:`aiida_bzs.analysis.extrapolation`; here they become nodes with their provenance.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from ...analysis.ace_parity import DEFINITION, parity_figure, parity_metrics, parity_metrics_by_group, predict_parity
from ...analysis.extrapolation import RELIABLE_GAMMA, per_atom_gamma
from ...data.ace_potential import AcePotentialData, AcePotentialError
from ...data.training_set import TrainingSetData

__all__ = ("evaluate_potential", "extrapolation_grade", "pacemaker_dataset_file", "figure_to_singlefile")


def figure_to_singlefile(fig, filename: str, dpi: int = 150) -> orm.SinglefileData:
    """A matplotlib figure as a PNG ``SinglefileData``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    return orm.SinglefileData(buffer, filename=filename)


@calcfunction
def evaluate_potential(potential: AcePotentialData, dataset: TrainingSetData) -> dict:
    """Parity of ``potential`` on ``dataset`` (usually the held-out test set).

    Returns ``parity`` (ArrayData: energy_ref/energy_pred in eV/atom, cohesive; forces_ref/
    forces_pred in eV/Å per component; attribute ``config_types``, one per structure),
    ``metrics`` (Dict: RMSE/MAE energy meV/atom, forces meV/Å, overall and ``by_config_type``,
    with their ``definition``) and ``parity_plot`` (PNG SinglefileData, coloured by config_type).
    """
    calc = potential.get_calculator(active_set=False)
    parity = predict_parity(dataset.to_atoms(), calc, dataset.reference_energies)
    config_types = [str(c) for c in dataset.get_arrays()["config_type"]]
    node = orm.ArrayData()
    for key, value in parity.items():
        node.set_array(key, value)
    node.base.attributes.set("units", {"energy": "eV/atom (cohesive)", "forces": "eV/Å"})
    node.base.attributes.set("config_types", config_types)
    metrics = parity_metrics(parity)
    metrics["by_config_type"] = parity_metrics_by_group(parity, config_types)
    metrics["units"] = {"energy": "meV/atom", "forces": "meV/Å"}
    metrics["definition"] = DEFINITION
    fig = parity_figure(parity, title=f"ACE vs DFT on {len(dataset)} held-out structures", groups=config_types)
    return {"parity": node, "metrics": orm.Dict(metrics), "parity_plot": figure_to_singlefile(fig, "parity.png")}


@calcfunction
def extrapolation_grade(structure: orm.StructureData, potential: AcePotentialData) -> dict:
    """Per-atom extrapolation grade γ (dimensionless, D-optimality) of ``structure``.

    Needs the potential's active set (.asi, computed on the B-basis .yaml). Returns ``gamma``
    (ArrayData, one value per atom) and ``summary`` (Dict: max, mean, number of atoms above the
    reliability limit γ = 2 of the study).
    """
    if not potential.has_active_set:
        raise AcePotentialError(
            f"potential pk {potential.pk} has no active set (.asi); run the active-set step "
            "(pace_activeset on the B-basis .yaml) first"
        )
    gamma = per_atom_gamma(structure.get_ase(), potential.get_calculator(active_set=True))
    array = orm.ArrayData()
    array.set_array("gamma", gamma)
    summary = {
        "max": float(gamma.max()),
        "mean": float(gamma.mean()),
        "n_atoms": int(len(gamma)),
        "n_above_reliable": int(np.sum(gamma > RELIABLE_GAMMA)),
        "reliable_limit": RELIABLE_GAMMA,
    }
    return {"gamma": array, "summary": orm.Dict(summary)}


@calcfunction
def pacemaker_dataset_file(training_set: TrainingSetData) -> orm.SinglefileData:
    """The training set as pacemaker's gzip-pickled DataFrame (``dataset.pckl.gzip``, energies eV).

    Tools such as ``pace_activeset`` and ``pace_select`` read this file.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dataset.pckl.gzip"
        training_set.write_pacemaker_pickle(path)
        return orm.SinglefileData(path, filename="dataset.pckl.gzip")
