"""Finite-particle scattering with debyecalculator: I(Q), S(Q), F(Q), G(r) of N atoms.

The Debye scattering equation sums over all N(N−1)/2 atom pairs of the structure **as given**:
debyecalculator ignores the cell, so a periodic box is scattered as a finite brick-shaped particle
(small-angle upturn at low Q, a shape-function baseline in G(r); use the periodic mode of
:mod:`.periodic` to avoid that). Positions are passed as ASE ``Atoms`` (Cartesian Å):
debyecalculator 1.1 misreads a pymatgen ``Structure`` (fractional coordinates taken as Å).

Results are returned in debyecalculator's own normalisation (half the conventional one, see
:mod:`.transforms`); G(r) is recomputed here with the correct Lorch function.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ..analysis.errors import AnalysisInputError
from .formfactors import check_elements
from .params import resolve_partials
from .transforms import sine_transform


class DeviceUnavailableError(RuntimeError):
    """The requested device (e.g. 'cuda') is not usable by torch on this machine."""


def runtime_versions() -> dict:
    """Versions of debyecalculator and torch, and the CUDA build (None on a CPU build)."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    try:
        dc_version = version("debyecalculator")
    except PackageNotFoundError:  # pragma: no cover - debyecalculator is imported below anyway
        dc_version = "unknown"
    return {"debyecalculator_version": dc_version, "torch_version": torch.__version__, "torch_cuda": torch.version.cuda}


def make_calculator(params: dict, device: str):
    """A ``DebyeCalculator`` for validated ``params`` on ``device``; Lorch is applied later, correctly."""
    import torch
    from debyecalculator import DebyeCalculator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 'cpu although CUDA exists', qstep advice
        return DebyeCalculator(
            qmin=params["qmin"],
            qmax=params["qmax"],
            qstep=params["qstep"],
            qdamp=params["qdamp"],
            rmin=params["rmin"],
            rmax=params["rmax"],
            rstep=params["rstep"],
            biso=params["biso"],
            device=device,
            lorch_mod=False,
            radiation_type=params["radiation"],
            dtype=getattr(torch, params["dtype"]),
            batch_size=params["batch_size"],
            num_threads=params["num_threads"],
        )


def check_device(device: str) -> str:
    """Return ``device`` if torch can use it; raise :class:`DeviceUnavailableError` otherwise."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            "device 'cuda' requested but torch sees no CUDA GPU here "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); run on a GPU computer or use device 'cpu'"
        )
    return device


def finite_patterns(
    symbols: Sequence[str],
    positions,
    params: dict,
    progress: Callable[[float], object] | None = None,
) -> dict:
    """Return q (Å⁻¹), r (Å), iq, sq, fq, gr and ``partials`` {pair: curves} in debyecalculator's
    normalisation, plus ``meta`` (device, timings, pair count, peak GPU memory in bytes).

    :param symbols: element symbols, one per atom.
    :param positions: Cartesian positions (N, 3) in Å; any cell is ignored.
    :param params: validated parameters (:func:`.params.validate_parameters`).
    :param progress: called with the completed fraction (0–1) of each pair sum.
    """
    import torch
    from ase import Atoms

    positions = np.asarray(positions, dtype=float).reshape(-1, 3)
    if len(symbols) == 0 or len(positions) == 0:
        raise AnalysisInputError("the structure is empty: no atoms to scatter from")
    if len(symbols) != len(positions):
        raise AnalysisInputError(f"{len(symbols)} symbols but {len(positions)} positions")
    elements = check_elements(symbols, params["radiation"])
    partial_names = resolve_partials(params["partials"], elements)
    device = check_device(params["device"])
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    calc = make_calculator(params, device)
    calc.progress_callback = progress
    atoms = Atoms(symbols=list(symbols), positions=positions)

    start = time.perf_counter()
    r, q, iq, sq, fq, _ = calc._get_all(atoms)  # one pair sum gives I, S, F (debyecalculator 1.1 API)
    if device == "cuda":
        torch.cuda.synchronize()
    main_time = time.perf_counter() - start
    out = {"q": np.asarray(q, float), "r": np.asarray(r, float), "iq": iq, "sq": sq, "fq": fq}
    partials = {}
    for name in partial_names:
        _, _, p_iq, p_sq, p_fq, _ = calc._get_all(atoms, partial=name)
        partials[name] = {"iq": p_iq, "sq": p_sq, "fq": p_fq}
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start

    stack = np.array([out["fq"]] + [c["fq"] for c in partials.values()], dtype=float)
    grs = sine_transform(out["q"], stack, out["r"], params["qstep"], params["qmax"], params["lorch"], params["qdamp"])
    out["gr"] = grs[0]
    for curves, gr in zip(partials.values(), grs[1:]):
        curves["gr"] = gr
    out = {k: np.asarray(v, dtype=float) for k, v in out.items()}
    out["partials"] = {n: {k: np.asarray(v, dtype=float) for k, v in c.items()} for n, c in partials.items()}
    n = len(positions)
    out["meta"] = {
        "mode": "finite",
        "device": device,
        "device_name": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "num_threads": torch.get_num_threads(),
        "n_atoms": n,
        "n_pairs": n * (n - 1) // 2,
        "compute_time_s": elapsed,
        "total_sum_time_s": main_time,
        "pairs_per_s": (n * (n - 1) // 2) / main_time if main_time > 0 else None,
        "peak_gpu_memory_bytes": int(torch.cuda.max_memory_allocated()) if device == "cuda" else None,
        "cell_ignored": True,
    }
    return out
