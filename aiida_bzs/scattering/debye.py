"""Finite-particle scattering with debyecalculator: I(Q), S(Q), F(Q), G(r) of N atoms.

The Debye scattering equation sums over all N(N−1)/2 atom pairs of the structure **as given**:
debyecalculator ignores the cell, so a periodic box is scattered as a finite brick-shaped particle
(small-angle upturn at low Q, a shape-function baseline in G(r); use the periodic mode of
:mod:`.periodic` to avoid that). Positions are passed as ASE ``Atoms`` (Cartesian Å):
debyecalculator 1.1 misreads a pymatgen ``Structure`` (fractional coordinates taken as Å).

Results are returned in debyecalculator's own normalisation (half the conventional one, see
:mod:`.transforms`); G(r) is recomputed here with the correct Lorch function.

Memory: debyecalculator 1.1 batches its pair sum, but its self-scattering term
``sum((occupancy[:, None] * form_factors[element_index]) ** 2, 0) / 2`` holds two N × nQ tensors
(6.9 GiB at 80,000 atoms and 11,600 Q points in float32). That term, like I(Q), S(Q) and F(Q), is
pointwise in Q, so it is computed here on consecutive windows of debyecalculator's own Q grid
(:class:`_QWindowCalculator`) when the whole grid does not fit ``max_memory_gb``; the pair sum
still runs once (see docs/scattering.md, "Memory: Q in chunks").
"""

from __future__ import annotations

import itertools
import math
import os
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


#: Fraction of the free memory (host RAM on CPU: ``SC_AVPHYS_PAGES`` × page size; GPU memory on
#: CUDA: ``torch.cuda.mem_get_info``) that one finite calculation may plan for when
#: ``max_memory_gb`` is null. Half leaves room for the rest of the process and for neighbours.
MEMORY_FRACTION = 0.5

#: Default pair batch of debyecalculator 1.1's grid pair sum (``batch_size=None``), in atom pairs.
DEFAULT_PAIR_BATCH = 3_000_000


def free_memory_bytes(device: str) -> int:
    """Free memory now: GPU memory on 'cuda' (``torch.cuda.mem_get_info``), else host RAM
    (``os.sysconf('SC_AVPHYS_PAGES')`` × page size, i.e. MemFree: page cache is not counted)."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[0])
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def memory_model(n_atoms: int, n_q: int, n_r: int, itemsize: int, batch_size: int | None = None, q_chunks: int = 1) -> dict:
    """Forecast in bytes of the working memory of one finite calculation (debyecalculator 1.1).

    * ``self_term``: the self-scattering term's two N × nQ_window tensors, 2·N·⌈nQ/chunks⌉·itemsize;
    * ``pair_batch``: one batch of the grid pair sum, ``batch_size`` pairs × (6·itemsize + 8) B
      (distances, bin floors, four moments, int64 bin indices);
    * ``gr_table``: debyecalculator's own sin(Q r) table of ``compute_gr`` and its argument,
      2·nQ·nr·itemsize (its G(r) is discarded, ours is :func:`.transforms.sine_transform`);
    * ``transform``: one block of :func:`.transforms.sine_transform`, 2 × 4,000,000 float64.

    ``total`` is their sum, an upper bound since the parts do not coexist; only the first grows with
    N. Measured growth of the resident memory (balanced grid, float32, CPU): 1.81 GiB at 20,000
    atoms in one window (forecast 2.05), 0.35 GiB in 46 windows (forecast 0.36).
    """
    window = math.ceil(n_q / max(1, q_chunks))
    model = {
        "self_term": 2 * n_atoms * window * itemsize,
        "pair_batch": (batch_size or DEFAULT_PAIR_BATCH) * (6 * itemsize + 8),
        "gr_table": 2 * n_q * n_r * itemsize,
        "transform": 2 * max(4_000_000, n_q) * 8,
    }
    model["total"] = sum(model.values())
    return model


def plan_q_chunks(n_atoms: int, n_q: int, n_r: int, itemsize: int, budget_bytes: float, batch_size: int | None = None) -> int:
    """The fewest Q windows whose :func:`memory_model` total fits ``budget_bytes`` (1: the whole
    grid at once); at most ``n_q`` (one Q point per window) when even that does not fit."""
    model = memory_model(n_atoms, n_q, n_r, itemsize, batch_size)
    if model["total"] <= budget_bytes:
        return 1
    room = budget_bytes - (model["total"] - model["self_term"])
    per_point = 2 * n_atoms * itemsize
    if room < per_point:
        return n_q
    return min(n_q, math.ceil(n_q / math.floor(room / per_point)))


def q_windows(n_q: int, q_chunks: int) -> list[tuple[int, int]]:
    """Consecutive index ranges [lo, hi) covering 0..n_q in ``q_chunks`` nearly equal windows."""
    q_chunks = max(1, min(q_chunks, n_q))
    bounds = [i * n_q // q_chunks for i in range(q_chunks + 1)]
    return list(itertools.pairwise(bounds))


_CALCULATOR_CLASS = None


def _calculator_class():
    """``DebyeCalculator`` with the self-scattering term computed on Q windows (:class:`_QWindowCalculator`)."""
    global _CALCULATOR_CLASS
    if _CALCULATOR_CLASS is not None:
        return _CALCULATOR_CLASS
    import torch
    from debyecalculator import DebyeCalculator

    if not hasattr(DebyeCalculator, "_finish_iq_parts"):  # pragma: no cover - pinned 1.1.1 has it
        raise RuntimeError("this debyecalculator has no _finish_iq_parts: Q windows need debyecalculator 1.1")

    class _QWindowCalculator(DebyeCalculator):
        """debyecalculator 1.1 with its self-scattering term on ``q_chunks`` consecutive Q windows.

        The term is ``Σ_i (o_i f_i(Q))² / 2`` per Q point: the same expression as
        ``DebyeCalculator._finish_iq_parts``, applied to column windows of the form-factor table,
        so that only two N × window tensors exist at a time. ``q_chunks = 1`` calls the original.
        The Q grid, form factors, pair sum, Debye–Waller factor, S(Q) and F(Q) are untouched.
        """

        q_chunks = 1

        def _finish_iq_parts(self, pair_iq, q, element_index, occupancy, form_factors, unique_elements,
                             partial_elements, include_self_scattering):
            if self.q_chunks <= 1 or not include_self_scattering:
                return super()._finish_iq_parts(pair_iq, q, element_index, occupancy, form_factors,
                                                unique_elements, partial_elements, include_self_scattering)
            pair_iq, _ = super()._finish_iq_parts(pair_iq, q, element_index, occupancy, form_factors,
                                                  unique_elements, partial_elements, False)
            if partial_elements is None:
                mask = torch.ones_like(element_index, dtype=torch.bool)
            else:
                mask = torch.zeros_like(element_index, dtype=torch.bool)
                for el in partial_elements:
                    mask |= element_index == unique_elements.index(el)
            weights = occupancy[mask].unsqueeze(-1)
            index = element_index[mask]
            n_q = form_factors.shape[-1]
            self_iq = torch.empty(n_q, device=form_factors.device, dtype=torch.result_type(weights, form_factors))
            for lo, hi in q_windows(n_q, self.q_chunks):
                self_iq[lo:hi] = torch.sum((weights * form_factors[index, lo:hi]) ** 2, dim=0) / 2
            return pair_iq, self_iq

    _CALCULATOR_CLASS = _QWindowCalculator
    return _CALCULATOR_CLASS


def make_calculator(params: dict, device: str):
    """A ``DebyeCalculator`` for validated ``params`` on ``device``; Lorch is applied later, correctly.

    It is debyecalculator's own class but for the self-scattering term, which it computes on
    ``calc.q_chunks`` Q windows (1, today's behaviour, unless :func:`finite_patterns` sets more).
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 'cpu although CUDA exists', qstep advice
        return _calculator_class()(
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
    normalisation, plus ``meta`` (device, timings, pair count, peak GPU memory in bytes, and the
    memory plan: ``q_chunks`` Q windows of the self-scattering term, ``memory_forecast_bytes`` of
    :func:`memory_model` for them, ``memory_budget_bytes`` from ``params['max_memory_gb']`` or
    :data:`MEMORY_FRACTION` of :func:`free_memory_bytes`).

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

    # Q windows of the self-scattering term: the fewest that fit the memory budget
    n = len(positions)
    n_q, n_r = int(calc.q.shape[0]), int(calc.r.shape[0])
    itemsize = torch.empty((), dtype=calc.dtype).element_size()
    if params.get("max_memory_gb") is not None:
        budget, budget_source = params["max_memory_gb"] * 2**30, "max_memory_gb"
    else:
        budget, budget_source = MEMORY_FRACTION * free_memory_bytes(device), f"{MEMORY_FRACTION:g} × free memory"
    calc.q_chunks = plan_q_chunks(n, n_q, n_r, itemsize, budget, params["batch_size"])
    forecast = memory_model(n, n_q, n_r, itemsize, params["batch_size"], calc.q_chunks)

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
        "n_q": n_q,
        "q_chunks": calc.q_chunks,
        "q_chunk_points": math.ceil(n_q / calc.q_chunks),
        "memory_budget_bytes": int(budget),
        "memory_budget_source": budget_source,
        "memory_forecast_bytes": int(forecast["total"]),
        "memory_forecast_unchunked_bytes": int(memory_model(n, n_q, n_r, itemsize, params["batch_size"])["total"]),
    }
    return out
