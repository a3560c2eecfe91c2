"""Fitting parameters of an ACE potential: schema, validation and pacemaker's ``input.yaml``.

Users (and the protocols in ``workflows/protocols/fit.yaml``) describe a fit with a small,
checked dictionary; :func:`validate_fit_parameters` fills defaults and rejects anything
pacemaker would only trip over minutes later, after building its TensorFlow graph.
:func:`build_input_yaml` maps it to pacemaker's own ``input.yaml`` layout. No AiiDA here.

Units: ``cutoff``, ``dcut``, ``r_in`` and ``delta_in`` in Å; loss weights dimensionless (``kappa`` is
the force share of the loss, 0 = energies only, 1 = forces only; ``config_type_weights`` multiply
the loss weights of every structure of a family).

Spelling of pacemaker's own keys (python-ace 0.4.0rc1, ``docs/pacemaker/inputfile.md`` and
``pyace/multispecies_basisextension.py``): ``potential.bonds.<ALL>`` takes ``r_in``, ``delta_in``
(inner cutoff: ACE switched off over [r_in − delta_in, r_in]), ``core-repulsion`` ([prefactor,
lambda] of prefactor·exp(−lambda·r²)/r) and ``inner_cutoff_type``; ``potential.embeddings.<ALL>``
takes ``rho_core_cut`` and ``drho_core_cut``; ``fit.repulsion: auto`` attaches a ZBL inner core to
every bond *after* the fit, with r_in the shortest distance of that bond in the training data.
Without any of these, pacemaker's defaults are r_in 0, delta_in 0, core-repulsion [0, 0]: no core
repulsion. Per-structure loss weights: a ``w_factor`` column of the dataset multiplies the
weights pacemaker's weighting policy computed (``pyace/preparedata.py: apply_weights``).
"""

from __future__ import annotations

import copy
import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = (
    "DEFAULT_FIT_PARAMETERS",
    "FitParameterError",
    "build_input_yaml",
    "config_type_factors",
    "continuable_potential_text",
    "halve_batch_size",
    "unmatched_weight_keys",
    "validate_fit_parameters",
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
    # a fit that hits max_iterations has "plateaued" when its train loss fell by less than
    # relative_change over the last window_fraction of its iterations (needs >= min_iterations)
    "plateau": {"window_fraction": 0.2, "relative_change": 1e-3, "min_iterations": 20},
    "ladder": None,  # None: fit the whole basis; else {'step': int or fraction, 'type': 'power_order'}
    # core repulsion: 'auto' = pacemaker's ZBL inner core, attached after the fit below each bond's
    # shortest distance in the training data; None = nothing written (pacemaker's defaults: r_in 0,
    # delta_in 0, core-repulsion [0, 0], i.e. none); or explicit {r_in: Å, delta_in: Å,
    # core_repulsion: [prefactor eV·Å, lambda 1/Å²], inner_cutoff_type: distance|zbl,
    # rho_core_cut, drho_core_cut} written into pacemaker's bonds/embeddings (see REPULSION_KEYS)
    "repulsion": "auto",
    # loss-weight factor per config_type (an fnmatch pattern such as 'crystal*' is allowed);
    # types not named keep 1; normalised so that the mean factor over the training set is 1
    "config_type_weights": {},
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
#: keys of an explicit ``repulsion`` mapping -> (pacemaker section, pacemaker key)
REPULSION_KEYS = {
    "r_in": ("bonds", "r_in"),
    "delta_in": ("bonds", "delta_in"),
    "core_repulsion": ("bonds", "core-repulsion"),
    "inner_cutoff_type": ("bonds", "inner_cutoff_type"),
    "rho_core_cut": ("embeddings", "rho_core_cut"),
    "drho_core_cut": ("embeddings", "drho_core_cut"),
}
INNER_CUTOFF_TYPES = ("distance", "zbl")


class FitParameterError(ValueError):
    """The fitting parameters are malformed; raised before any file is written or fit started."""


#: Sections whose keys pacemaker (or scipy) defines: replaced whole / merged without the key check.
FREE_SECTIONS = ("weighting", "optimizer_options", "config_type_weights")
OPEN_SECTIONS = ("loss", "backend")


def _with_defaults(defaults: Mapping, given: Mapping, path: str = "") -> dict:
    """``defaults`` with ``given`` merged in (the package's one recursive merge); an unknown key
    outside pacemaker's own free sections raises :class:`FitParameterError` naming it."""
    from ..workflows.protocols import ProtocolOverrideError, recursive_merge

    try:
        return recursive_merge(dict(defaults), dict(given), strict=True, _path=path.rstrip("."),
                               replace=FREE_SECTIONS, open_keys=OPEN_SECTIONS)
    except ProtocolOverrideError as exc:
        raise FitParameterError(f"unknown fitting parameter '{exc.path}'; allowed: {exc.allowed}") from None


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
    params = _with_defaults(DEFAULT_FIT_PARAMETERS, dict(parameters or {}))

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

    plateau = params["plateau"]
    _require(_number(plateau["window_fraction"]) and 0 < plateau["window_fraction"] <= 1,
             f"'plateau.window_fraction' must be in (0, 1], got {plateau['window_fraction']!r}")
    _require(_number(plateau["relative_change"]) and plateau["relative_change"] > 0,
             f"'plateau.relative_change' must be a positive number, got {plateau['relative_change']!r}")
    _require(isinstance(plateau["min_iterations"], int) and plateau["min_iterations"] >= 2,
             f"'plateau.min_iterations' must be an integer >= 2, got {plateau['min_iterations']!r}")

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
    params["repulsion"] = _check_repulsion(params["repulsion"])
    params["config_type_weights"] = _check_config_type_weights(params["config_type_weights"])
    _require(params["backend"].get("evaluator") in EVALUATORS,
             f"'backend.evaluator' must be one of {EVALUATORS}, got {params['backend'].get('evaluator')!r}")
    _require(isinstance(params["seed"], int), f"'seed' must be an integer, got {params['seed']!r}")
    return params


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_repulsion(value):
    """'auto', None, or an explicit inner-cutoff/core-repulsion mapping (checked, floats)."""
    if value in ("auto", None):
        return value
    _require(isinstance(value, Mapping),
             f"'repulsion' must be 'auto', null or a mapping with keys {sorted(REPULSION_KEYS)}, got {value!r}")
    unknown = sorted(set(value) - set(REPULSION_KEYS))
    _require(not unknown, f"unknown 'repulsion' keys {unknown}; allowed: {sorted(REPULSION_KEYS)}")
    out = dict(value)
    for key in ("r_in", "delta_in", "rho_core_cut", "drho_core_cut"):
        if key in out:
            _require(_number(out[key]) and out[key] >= 0, f"'repulsion.{key}' must be a number >= 0, got {out[key]!r}")
            out[key] = float(out[key])
    if "core_repulsion" in out:
        pair = out["core_repulsion"]
        _require(isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2
                 and all(_number(v) and v >= 0 for v in pair),
                 f"'repulsion.core_repulsion' must be [prefactor, lambda] (two numbers >= 0), got {pair!r}")
        out["core_repulsion"] = [float(v) for v in pair]
    if "inner_cutoff_type" in out:
        _require(out["inner_cutoff_type"] in INNER_CUTOFF_TYPES,
                 f"'repulsion.inner_cutoff_type' must be one of {INNER_CUTOFF_TYPES}, got {out['inner_cutoff_type']!r}")
    if "r_in" in out and "delta_in" in out:
        _require(out["delta_in"] <= out["r_in"],
                 f"'repulsion.delta_in' ({out['delta_in']} Å) must not exceed 'repulsion.r_in' ({out['r_in']} Å)")
    return out


def _check_config_type_weights(value) -> dict:
    _require(isinstance(value, Mapping),
             f"'config_type_weights' must map config_type (or pattern) to a factor, got {value!r}")
    out = {}
    for key, factor in value.items():
        _require(isinstance(key, str) and key.strip() != "", f"'config_type_weights' keys must be names, got {key!r}")
        _require(_number(factor) and factor >= 0,
                 f"'config_type_weights.{key}' must be a finite number >= 0, got {factor!r}")
        out[key] = float(factor)
    return out


def _matches(key: str, config_type: str) -> bool:
    return key == config_type or fnmatch.fnmatchcase(config_type, key)


def unmatched_weight_keys(weights: Mapping[str, float], config_types: Iterable[str]) -> list[str]:
    """Keys of ``weights`` (names or fnmatch patterns) that match none of ``config_types``."""
    present = list(config_types)
    return sorted(k for k in weights if not any(_matches(k, c) for c in present))


def config_type_factors(config_types: Sequence[str], weights: Mapping[str, float]):
    """Per-structure loss-weight factors (pacemaker's ``w_factor`` column) for ``config_types``.

    A structure gets the factor of the key that names its config_type (exactly or as an fnmatch
    pattern), 1 otherwise; factors are scaled so that their mean is 1 (the loss keeps its size
    against the regularisation). :raises FitParameterError: when one config_type matches two
    keys with different factors, or every structure would get weight 0.
    """
    import numpy as np

    factors = np.ones(len(config_types))
    for i, config_type in enumerate(config_types):
        hits = {k: f for k, f in weights.items() if _matches(k, str(config_type))}
        if len(set(hits.values())) > 1:
            raise FitParameterError(
                f"config_type '{config_type}' matches several 'config_type_weights' keys with different "
                f"factors {hits}; name it once")
        if hits:
            factors[i] = next(iter(hits.values()))
    _require(len(factors) == 0 or factors.sum() > 0,
             f"'config_type_weights' {dict(weights)} give every structure weight 0")
    return factors / factors.mean() if len(factors) else factors


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
    if isinstance(p["repulsion"], Mapping):
        for key, value in p["repulsion"].items():
            section, name = REPULSION_KEYS[key]
            potential[section]["ALL"][name] = copy.deepcopy(value)
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
    if p["repulsion"] == "auto":
        fit["repulsion"] = "auto"
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


#: pacemaker's per-potential count of finished fit cycles (``metadata._fit_cycles`` of the .yaml)
FIT_CYCLES_KEY = "_fit_cycles"


def continuable_potential_text(text: str) -> str:
    """The B-basis .yaml ``text`` without the ``_fit_cycles`` metadata line.

    pacemaker writes ``_fit_cycles: 1`` into ``interim_potential_best_cycle.yaml`` when a fit cycle
    ends; a fit started from such a file with ``fit_cycles`` 1 (the default) counts it as done and
    fits nothing (python-ace 0.4.0rc1 ``generalfit.cycle_fitting``: "Number of finished fit cycles
    (1) >= number of expected fit cycles (1)"). Removing the line makes the file a starting point
    again; nothing else changes.
    """
    lines = text.splitlines(keepends=True)
    return "".join(line for line in lines if line.strip().split(":")[0] != FIT_CYCLES_KEY)


def halve_batch_size(parameters: Mapping) -> dict | None:
    """Copy of validated ``parameters`` with ``backend.batch_size`` halved, or None at 1.

    pacemaker evaluates ``batch_size`` structures at a time; the memory of the TensorFlow graph
    grows with it. A ``test_batch_size`` given in ``backend`` is halved too (python-ace 0.4.0rc1
    itself batches the test set with ``batch_size``; the key is passed through for backends that
    read it).
    """
    params = validate_fit_parameters(parameters)
    backend = dict(params["backend"])
    size = int(backend.get("batch_size", 10))  # pacemaker's default when the key is absent
    if size <= 1:
        return None
    backend["batch_size"] = max(1, size // 2)
    if backend.get("test_batch_size"):
        backend["test_batch_size"] = max(1, int(backend["test_batch_size"]) // 2)
    params["backend"] = backend
    return params
