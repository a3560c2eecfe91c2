"""Curating training sets as calcfunctions, so every merged, filtered or split set is a node
with its parents and parameters in the provenance graph. The numerics live in
:mod:`aiida_bzs.training.dataset`.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from ...training import dataset as ds
from ...data.training_set import DatasetError, TrainingSetData

#: Keys accepted by :func:`filter_training_set` (eV/atom, eV/Å, Å).
FILTER_KEYS = ("max_energy_above_min", "max_force", "min_distance")

#: config_types that split_training_set always puts into train (its ``train_only`` default).
TRAIN_ONLY_CONFIG_TYPES = ("dimer",)


@calcfunction
def merge_training_sets(**sets: TrainingSetData) -> TrainingSetData:
    """Concatenate training sets in keyword order.

    Reference energies (eV) must agree where elements overlap (to 1e-6 eV); DFT settings are
    kept when all inputs share them, else recorded per input under ``merged_from``.
    """
    if not sets:
        raise DatasetError("merge_training_sets needs at least one training set")
    nodes = [sets[key] for key in sorted(sets)]
    references: dict[str, float] = {}
    for key in sorted(sets):
        for element, value in sets[key].reference_energies.items():
            if element in references and abs(references[element] - value) > 1e-6:
                raise DatasetError(
                    f"training set {key!r} (pk {sets[key].pk}) has reference energy {value} eV for "
                    f"{element}, others {references[element]} eV: labels from different settings"
                )
            references[element] = value
    settings = [n.dft_settings for n in nodes]
    if all(s == settings[0] for s in settings):
        dft_settings = settings[0]
    else:
        dft_settings = {"merged_from": {key: sets[key].dft_settings for key in sorted(sets)}}
    return TrainingSetData.from_arrays(ds.concatenate([n.get_arrays() for n in nodes]), references, dft_settings)


@calcfunction
def filter_training_set(training_set: TrainingSetData, criteria: orm.Dict) -> TrainingSetData:
    """Keep structures passing every criterion given.

    ``criteria`` keys (each optional): ``max_energy_above_min`` eV/atom above the lowest energy
    per atom (cohesive when the set has reference energies), ``max_force`` eV/Å (largest ``|F|``),
    ``min_distance`` Å (shortest contact, periodic images included).
    """
    values = criteria.get_dict()
    unknown = sorted(set(values) - set(FILTER_KEYS))
    if unknown:
        raise DatasetError(f"unknown filter criteria {unknown}; use {list(FILTER_KEYS)}")
    arrays = training_set.get_arrays()
    if not ds.is_labelled(arrays) and {"max_energy_above_min", "max_force"} & set(values):
        raise DatasetError("energy and force filters need a labelled training set")
    keep = ds.filter_mask(
        arrays,
        max_energy_above_min=values.get("max_energy_above_min"),
        max_force_norm=values.get("max_force"),
        min_distance=values.get("min_distance"),
        reference_energies=training_set.reference_energies,
    )
    if not keep.any():
        raise DatasetError(f"filter {values} removes every structure of training set pk {training_set.pk}")
    return training_set.subset(keep.nonzero()[0])


@calcfunction
def split_training_set(training_set: TrainingSetData, parameters: orm.Dict) -> dict[str, TrainingSetData]:
    """Random train/test split: ``parameters`` = {'test_fraction': 0.1, 'seed': 0, 'train_only': ['dimer']}.

    Returns ``{'train', 'test'}``; the same seed gives the same split. Structures whose config_type
    is in ``train_only`` (default: dimers) are never tested on: a dimer curve teaches the short
    range, but ten dimers in a 25-cell test set made its RMSE a statement about dimers.
    """
    values = parameters.get_dict()
    train_only = set(values.get("train_only", TRAIN_ONLY_CONFIG_TYPES))
    mask = [str(t) in train_only for t in training_set.get_arrays()["config_type"]] if train_only else None
    train, test = ds.split_indices(len(training_set), float(values.get("test_fraction", 0.1)), int(values.get("seed", 0)), mask)
    if len(test) == 0 or len(train) == 0:
        raise DatasetError(
            f"test_fraction {values.get('test_fraction', 0.1)} of {len(training_set)} structures "
            f"({sum(mask or [])} of them train-only: {sorted(train_only)}) leaves an empty part"
        )
    return {"train": training_set.subset(train), "test": training_set.subset(test)}


@calcfunction
def select_config_types(training_set: TrainingSetData, config_types: orm.List) -> TrainingSetData:
    """Keep only structures whose config_type is in ``config_types``."""
    wanted = set(config_types.get_list())
    present = set(training_set.config_types)
    if not wanted & present:
        raise DatasetError(f"none of {sorted(wanted)} in training set pk {training_set.pk} (has {sorted(present)})")
    arrays = training_set.get_arrays()
    keep = [i for i, c in enumerate(arrays["config_type"].tolist()) if c in wanted]
    return training_set.subset(keep)
