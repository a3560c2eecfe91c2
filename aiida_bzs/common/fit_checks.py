"""Checks that refuse an ACE fit before it starts (pacemaker spends minutes on TensorFlow first).

Used by ``PacemakerCalculation``'s input validator and by ``FitAceWorkChain.setup``, so the
same message reaches the user whichever entry point they used.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..training import dataset as ds
from .pacemaker_input import unmatched_weight_keys, validate_fit_parameters

__all__ = ("FitInputError", "check_fit_inputs", "check_config_type_weights", "count_basis_functions",
           "shortest_distance_in_set")


class FitInputError(ValueError):
    """The training set, the parameters and the initial potential cannot make a fit together."""


def shortest_distance_in_set(arrays: Mapping[str, np.ndarray], search_radius: float) -> float:
    """Shortest interatomic distance (Å) over all structures, ``inf`` if none below ``search_radius`` Å."""
    distances = ds.min_distances(arrays, search_radius)
    return float(np.min(distances)) if len(distances) else float("inf")


def count_basis_functions(parameters: Mapping, elements) -> int:
    """Number of ACE basis functions pacemaker will build for ``parameters`` (pyace, ~1 s)."""
    from pyace.multispecies_basisextension import create_multispecies_basis_config

    from .pacemaker_input import build_input_yaml

    potential = build_input_yaml(parameters, elements, "unused")["potential"]
    return int(create_multispecies_basis_config(potential).total_number_of_functions)


def check_config_type_weights(weights: Mapping[str, float], training_set) -> None:
    """Refuse ``config_type_weights`` keys that match no config_type of ``training_set``.

    :raises FitInputError: naming the unknown keys and the config_types the set holds.
    """
    unknown = unmatched_weight_keys(weights, training_set.config_types)
    if unknown:
        raise FitInputError(
            f"config_type_weights name {unknown}, which match no structure of the training set (pk "
            f"{training_set.pk}); its config_types are {sorted(training_set.config_types)}. Fix the name "
            f"(patterns such as 'crystal*' are allowed) or drop the weight"
        )


def check_fit_inputs(training_set, parameters: Mapping, test_set=None, initial_potential=None) -> dict:
    """Validate a fit's inputs together; return the completed parameters.

    :param training_set: ``TrainingSetData`` with energies (eV) and forces (eV/Å).
    :param parameters: fitting parameters (validated by ``validate_fit_parameters``).
    :param test_set: optional ``TrainingSetData`` held out from the fit.
    :param initial_potential: optional ``AcePotentialData`` to continue from.
    :raises FitInputError: when the dataset lacks an element the potential declares (or holds
        one it does not), is unlabelled, has no reference energy for an element, when the basis
        would have no function, or when the cutoff (Å) is below the shortest interatomic
        distance of the dataset, or when ``config_type_weights`` name a config_type it lacks.
    """
    params = validate_fit_parameters(parameters)
    check_config_type_weights(params["config_type_weights"], training_set)
    data_elements = list(training_set.elements)
    declared = params["elements"]
    if initial_potential is not None:
        if declared is not None and sorted(declared) != sorted(initial_potential.elements):
            raise FitInputError(
                f"parameters declare elements {declared} but the initial potential (pk "
                f"{initial_potential.pk}) has {initial_potential.elements}"
            )
        declared = declared or list(initial_potential.elements)
    if declared is not None:
        missing = sorted(set(declared) - set(data_elements))
        if missing:
            raise FitInputError(
                f"the training set (pk {training_set.pk}) has no {missing}, an element the potential "
                f"declares ({declared}); the fit cannot learn it. Add structures with {missing} or "
                f"remove them from 'elements'"
            )
        extra = sorted(set(data_elements) - set(declared))
        if extra:
            raise FitInputError(
                f"the training set (pk {training_set.pk}) holds {extra}, not among the potential's "
                f"elements {declared}"
            )
    if test_set is not None:
        extra = sorted(set(test_set.elements) - set(declared or data_elements))
        if extra:
            raise FitInputError(f"the test set (pk {test_set.pk}) holds {extra}, unknown to the potential")
    for name, node in (("training", training_set), ("test", test_set)):
        if node is not None and not node.labelled:
            raise FitInputError(f"the {name} set (pk {node.pk}) has unlabelled structures; label them first")
    missing_refs = sorted(set(data_elements) - set(training_set.reference_energies))
    if missing_refs:
        raise FitInputError(
            f"the training set (pk {training_set.pk}) has no isolated-atom reference energy (eV) for "
            f"{missing_refs}; pacemaker fits cohesive energies (energy_corrected)"
        )
    continuing = initial_potential is not None and params["initial_potential_mode"] == "continue"
    n_functions = (sum(initial_potential.n_functions.values()) if continuing
                   else count_basis_functions(params, declared or data_elements))
    if n_functions == 0:
        raise FitInputError(
            f"the basis has no function: number_of_functions_per_element "
            f"{params['functions']['number_of_functions_per_element']} is too small for "
            f"{len(declared or data_elements)} elements (pacemaker spreads it over the species blocks)"
        )
    cutoff = initial_potential.cutoff if continuing else params["cutoff"]
    shortest = shortest_distance_in_set(training_set.get_arrays(), cutoff)
    if not np.isfinite(shortest):
        raise FitInputError(
            f"cutoff {cutoff} Å is smaller than the shortest interatomic distance in the training set "
            f"(pk {training_set.pk}): no atom has a neighbour within the cutoff, so the potential would "
            f"see nothing; raise 'cutoff'"
        )
    return params
