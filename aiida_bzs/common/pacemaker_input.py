"""Fitting parameters of an ACE potential: schema, validation and pacemaker's ``input.yaml``.

Users (and the protocols in ``workflows/protocols/fit.yaml``) describe a fit with a small,
checked dictionary; :func:`validate_fit_parameters` fills defaults and rejects anything
pacemaker would only trip over minutes later, after building its TensorFlow graph.
:func:`build_input_yaml` maps it to pacemaker's own ``input.yaml`` layout. No AiiDA here.

Units: ``cutoff`` and ``dcut`` in Å; loss weights dimensionless (``kappa`` is the force share
of the loss, 0 = energies only, 1 = forces only).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

__all__ = (
    "DEFAULT_FIT_PARAMETERS",
    "FitParameterError",
    "validate_fit_parameters",
    "build_input_yaml",
)

#: Defaults of every key; a tiny model (a few functions per element, 3-body), fast to fit.
DEFAULT_FIT_PARAMETERS: dict = {
    "elements": None,  # None: take them from the training set
    "cutoff": 5.0,  # Å
    "embedding": {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1, 1, 0.5], "ndensity": 2},
    "radial_basis": {"radbase": "SBessel", "radparameters": [5.25], "dcut": 0.01},
    "functions": {"number_of_functions_per_element": 10, "nradmax_by_orders": [8, 3, 2], "lmax_by_orders": [0, 2, 1]},
    "loss": {"kappa": 0.3, "L1_coeffs": 1e-8, "L2_coeffs": 1e-8},
    "weighting": None,  # None: uniform; else pacemaker's weighting dict (e.g. EnergyBasedWeightingPolicy)
    "optimizer": "BFGS",
    "optimizer_options": {},  # passed to scipy.optimize.minimize (e.g. {'gtol': 1e-6, 'maxcor': 100})
    "max_iterations": 100,
    "ladder": None,  # None: fit the whole basis; else {'step': int or fraction, 'type': 'power_order'}
    "repulsion": "auto",  # ZBL core repulsion from the shortest distance in the data; None: off
    # with an initial potential: 'continue' refits its basis (shape keys above are then unused);
    # 'extend' grows it ladder-wise up to the basis described here (pacemaker adds no function,
    # and so fits nothing, when the initial basis is already that large)
    "initial_potential_mode": "continue",
    "backend": {"evaluator": "tensorpot", "batch_size": 100, "display_step": 50},
    "seed": 42,
}

OPTIMIZERS = ("BFGS", "L-BFGS-B", "Nelder-Mead", "Powell", "CG", "TNC", "SLSQP", "trust-constr")
EVALUATORS = ("tensorpot", "pyace")
EMBEDDINGS = ("FinnisSinclairShiftedScaled", "FinnisSinclair", "SQRT")
RADIAL_BASES = ("SBessel", "ChebExpCos", "ChebPow", "ChebLinear")
LADDER_TYPES = ("power_order", "body_order")
MAX_RANK = 6  # ACE ranks 1..6 (up to 7-body); the study went up to 6-body


class FitParameterError(ValueError):
    """The fitting parameters are malformed; raised before any file is written or fit started."""


def _merge(defaults: Mapping, given: Mapping, path: str = "") -> dict:
    out = copy.deepcopy(dict(defaults))
    for key, value in given.items():
        name = f"{path}{key}"
        if key not in defaults:
            raise FitParameterError(f"unknown fitting parameter '{name}'; allowed: {sorted(defaults)}")
        if isinstance(defaults[key], Mapping) and isinstance(value, Mapping) and key not in ("weighting", "optimizer_options"):
            # sub-dictionaries accept only known keys, except where pacemaker allows extras
            if key in ("loss", "backend"):
                merged = copy.deepcopy(dict(defaults[key]))
                merged.update(value)
                out[key] = merged
            else:
                out[key] = _merge(defaults[key], value, f"{name}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise FitParameterError(message)


def _int_list(value, name: str) -> list[int]:
    _require(isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0,
             f"'{name}' must be a non-empty list of integers, got {value!r}")
    _require(all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value),
             f"'{name}' must hold non-negative integers, got {value!r}")
    return list(value)


def validate_fit_parameters(parameters: Mapping | None) -> dict:
    """Return the complete, checked parameter dict (defaults filled in).

    :raises FitParameterError: naming the offending key, for unknown keys, wrong types,
        non-positive cutoff (Å), kappa outside [0, 1], inconsistent radial/angular orders,
        an unknown optimizer/evaluator/embedding, or max_iterations < 1.
    """
    params = _merge(DEFAULT_FIT_PARAMETERS, dict(parameters or {}))

    elements = params["elements"]
    if elements is not None:
        _require(isinstance(elements, Sequence) and not isinstance(elements, str) and len(elements) > 0
                 and all(isinstance(e, str) and e[:1].isupper() for e in elements),
                 f"'elements' must be a list of chemical symbols, got {elements!r}")
        _require(len(set(elements)) == len(elements), f"'elements' has duplicates: {elements}")
        params["elements"] = sorted(elements)

    cutoff = params["cutoff"]
    _require(isinstance(cutoff, (int, float)) and not isinstance(cutoff, bool) and cutoff > 0,
             f"'cutoff' must be a positive number of Å, got {cutoff!r}")
    params["cutoff"] = float(cutoff)

    emb = params["embedding"]
    _require(emb["npot"] in EMBEDDINGS, f"'embedding.npot' must be one of {EMBEDDINGS}, got {emb['npot']!r}")
    _require(isinstance(emb["ndensity"], int) and emb["ndensity"] >= 1,
             f"'embedding.ndensity' must be a positive integer, got {emb['ndensity']!r}")
    _require(len(emb["fs_parameters"]) == 2 * emb["ndensity"],
             f"'embedding.fs_parameters' needs 2 numbers per density ({2 * emb['ndensity']} for "
             f"ndensity={emb['ndensity']}), got {len(emb['fs_parameters'])}")

    rad = params["radial_basis"]
    _require(rad["radbase"] in RADIAL_BASES,
             f"'radial_basis.radbase' must be one of {RADIAL_BASES}, got {rad['radbase']!r}")
    _require(isinstance(rad["dcut"], (int, float)) and 0 < rad["dcut"] < params["cutoff"],
             f"'radial_basis.dcut' must be in (0, cutoff) Å, got {rad['dcut']!r}")

    fun = params["functions"]
    nrad = _int_list(fun["nradmax_by_orders"], "functions.nradmax_by_orders")
    lmax = _int_list(fun["lmax_by_orders"], "functions.lmax_by_orders")
    _require(len(nrad) == len(lmax),
             f"'functions.nradmax_by_orders' ({len(nrad)} orders) and 'functions.lmax_by_orders' "
             f"({len(lmax)} orders) must have the same length")
    _require(len(nrad) <= MAX_RANK, f"at most {MAX_RANK} orders (rank {MAX_RANK}) are supported, got {len(nrad)}")
    _require(lmax[0] == 0, f"'functions.lmax_by_orders' must start with 0 (rank 1 is radial), got {lmax}")
    nfun = fun["number_of_functions_per_element"]
    _require(nfun is None or (isinstance(nfun, int) and nfun >= 1),
             f"'functions.number_of_functions_per_element' must be a positive integer or null, got {nfun!r}")

    loss = params["loss"]
    kappa = loss.get("kappa")
    _require(kappa == "auto" or (isinstance(kappa, (int, float)) and 0.0 <= kappa <= 1.0),
             f"'loss.kappa' must be in [0, 1] or 'auto', got {kappa!r}")

    _require(isinstance(params["optimizer_options"], Mapping),
             f"'optimizer_options' must be a mapping, got {params['optimizer_options']!r}")
    _require(params["optimizer"] in OPTIMIZERS,
             f"'optimizer' must be one of {OPTIMIZERS}, got {params['optimizer']!r}")
    maxiter = params["max_iterations"]
    _require(isinstance(maxiter, int) and not isinstance(maxiter, bool) and maxiter >= 1,
             f"'max_iterations' must be a positive integer, got {maxiter!r}")

    ladder = params["ladder"]
    if ladder is not None and ladder is not False:
        _require(isinstance(ladder, Mapping) and "step" in ladder,
                 f"'ladder' must be null or {{'step': int or fraction, 'type': ...}}, got {ladder!r}")
        step = ladder["step"]
        _require((isinstance(step, int) and step >= 1) or (isinstance(step, float) and 0 < step < 1),
                 f"'ladder.step' must be a number of functions (integer >= 1) or a fraction in (0, 1), "
                 f"got {step!r}")
        _require(ladder.get("type", "power_order") in LADDER_TYPES,
                 f"'ladder.type' must be one of {LADDER_TYPES}, got {ladder.get('type')!r}")
        params["ladder"] = {"step": ladder["step"], "type": ladder.get("type", "power_order")}
    else:
        params["ladder"] = None

    _require(params["initial_potential_mode"] in ("continue", "extend"),
             f"'initial_potential_mode' must be 'continue' or 'extend', got {params['initial_potential_mode']!r}")
    _require(params["repulsion"] in ("auto", None),
             f"'repulsion' must be 'auto' or null, got {params['repulsion']!r}")
    _require(params["backend"].get("evaluator") in EVALUATORS,
             f"'backend.evaluator' must be one of {EVALUATORS}, got {params['backend'].get('evaluator')!r}")
    _require(isinstance(params["seed"], int), f"'seed' must be an integer, got {params['seed']!r}")
    return params


def build_input_yaml(
    parameters: Mapping,
    elements: Sequence[str],
    train_filename: str,
    test_filename: str | None = None,
    initial_potential: str | None = None,
) -> dict:
    """pacemaker's ``input.yaml`` content (as a dict) for validated ``parameters``.

    :param elements: chemical symbols of the potential (sorted here).
    :param train_filename: the gzip-pickled training DataFrame, relative to the run folder.
    :param test_filename: optional test DataFrame file (pacemaker then writes test_metrics.txt).
    :param initial_potential: B-basis .yaml to start from: refitted as it is
        (``initial_potential_mode: continue``) or grown to the basis of ``parameters`` (``extend``).
    """
    p = validate_fit_parameters(parameters)
    potential = {
        "deltaSplineBins": 0.001,
        "elements": sorted(elements),
        "embeddings": {"ALL": dict(p["embedding"])},
        "bonds": {"ALL": {"radbase": p["radial_basis"]["radbase"],
                          "radparameters": list(p["radial_basis"]["radparameters"]),
                          "rcut": p["cutoff"], "dcut": p["radial_basis"]["dcut"],
                          "NameOfCutoffFunction": "cos"}},
        "functions": {"ALL": {"nradmax_by_orders": list(p["functions"]["nradmax_by_orders"]),
                              "lmax_by_orders": list(p["functions"]["lmax_by_orders"])}},
    }
    if p["functions"]["number_of_functions_per_element"] is not None:
        potential["functions"]["number_of_functions_per_element"] = p["functions"]["number_of_functions_per_element"]
    if initial_potential and p["initial_potential_mode"] == "continue":
        potential = {"filename": initial_potential}
    elif initial_potential:
        potential["initial_potential"] = initial_potential

    data = {"filename": train_filename}
    if test_filename:
        data["test_filename"] = test_filename

    fit = {"loss": dict(p["loss"]), "optimizer": p["optimizer"], "maxiter": p["max_iterations"]}
    if p["optimizer_options"]:
        fit["options"] = dict(p["optimizer_options"])
    if p["weighting"]:
        fit["weighting"] = dict(p["weighting"])
    if p["repulsion"]:
        fit["repulsion"] = p["repulsion"]
    if p["ladder"]:
        fit["ladder_step"] = p["ladder"]["step"]
        fit["ladder_type"] = p["ladder"]["type"]

    return {
        "seed": p["seed"],
        "metadata": {"origin": "aiida-bzs PacemakerCalculation"},
        "potential": potential,
        "data": data,
        "fit": fit,
        "backend": dict(p["backend"]),
    }
