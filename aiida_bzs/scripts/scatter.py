"""``aiida-bzs-scatter``: the program a ScatteringCalculation runs, locally or on a GPU computer.

Reads ``structure.xyz`` (Å) and ``parameters.json`` (see
:mod:`aiida_bzs.scattering.params`), computes I(Q), S(Q), F(Q), G(r) and requested
partials with debyecalculator (finite particle: the cell is ignored) or with the periodic mode,
and writes ``scattering.json`` with the curves, the debyecalculator/torch versions, the device
and the timings. On bad input it writes the error (code and message) to the same file and exits
with status 2, so the parser can say what went wrong.

Standalone: ``aiida-bzs-scatter --structure s.xyz --parameters p.json --output out.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections import Counter

from .scatter_files import (
    PARAMETERS_FILENAME,
    RESULT_FILENAME,
    STRUCTURE_FILENAME,
    ScatterFileError,
    UnknownElementError,
    read_xyz,
    write_error,
    write_result,
)


class _Progress:
    """Prints the pair-sum progress to stderr every 10 % (visible in a remote job's stderr file)."""

    def __init__(self):
        self.next = 0.1
        self.start = time.perf_counter()

    def __call__(self, fraction: float) -> None:
        if fraction + 1e-9 >= self.next:
            elapsed = time.perf_counter() - self.start
            print(f"pair sum {fraction:4.0%} after {elapsed:7.1f} s", file=sys.stderr, flush=True)
            while self.next <= fraction + 1e-9:
                self.next += 0.1


def run(structure_path: str, parameters_path: str, output_path: str) -> int:
    """Compute and write the result file; return the process exit status (0 ok, 2 error)."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # debyecalculator imports pyplot; no display on nodes
    wall = time.perf_counter()
    from ..analysis.errors import AnalysisInputError
    from ..scattering.formfactors import check_elements
    from ..scattering.params import validate_parameters

    meta: dict = {"warnings": []}

    def fail(code: str, message: str) -> int:
        write_error(output_path, code, message, meta)
        print(f"ERROR {code}: {message}", file=sys.stderr, flush=True)
        return 2

    try:
        with open(parameters_path, encoding="utf-8") as handle:
            raw = json.load(handle)
        params = validate_parameters(raw)
    except FileNotFoundError:
        return fail("INVALID_PARAMETERS", f"{parameters_path}: file not found")
    except json.JSONDecodeError as exc:
        return fail("INVALID_PARAMETERS", f"{parameters_path}, line {exc.lineno}: not valid JSON ({exc.msg})")
    except AnalysisInputError as exc:
        return fail("INVALID_PARAMETERS", f"{parameters_path}: {exc}")
    meta["parameters"] = params
    try:
        symbols, positions, cell, pbc = read_xyz(structure_path)
    except UnknownElementError as exc:  # species ASE does not know: name those without a form factor
        try:
            check_elements(exc.symbols, params["radiation"])
        except AnalysisInputError as unknown:
            return fail("UNKNOWN_ELEMENT", f"{structure_path}: {unknown}")
        return fail("INVALID_STRUCTURE", str(exc))
    except ScatterFileError as exc:
        return fail("INVALID_STRUCTURE", str(exc))
    try:
        check_elements(symbols, params["radiation"])
    except AnalysisInputError as exc:
        return fail("UNKNOWN_ELEMENT", f"{structure_path}: {exc}")
    meta.update(n_atoms=len(symbols), composition=dict(sorted(Counter(symbols).items())))

    try:
        import torch

        from ..scattering.debye import DeviceUnavailableError, finite_patterns, runtime_versions
        from ..scattering.transforms import to_conventional, to_debyecalculator

        meta.update(runtime_versions())
        # Codes often export OMP_NUM_THREADS=1 (right for MPI programs); the pair sum wants every
        # CPU this process may use unless num_threads says otherwise.
        torch.set_num_threads(params["num_threads"] or len(os.sched_getaffinity(0)))
        if params["mode"] == "periodic":
            from ase import Atoms

            from ..scattering.periodic import periodic_patterns

            if cell is None or not all(pbc):
                return fail("INVALID_STRUCTURE", f"{structure_path}: periodic mode needs a cell periodic in 3 directions")
            result = periodic_patterns(Atoms(symbols, positions, cell=cell, pbc=True), params)
            if params["normalisation"] == "debyecalculator":
                result = _convert(result, to_debyecalculator)
        else:
            if any(pbc):
                meta["warnings"].append(
                    "the cell is ignored: the periodic structure is scattered as one finite particle "
                    "(use mode 'periodic' for a bulk pattern)"
                )
            # The particle's bounding-box diagonal (Å): no crystallite in it is larger, so a Scherrer
            # size above it is not a crystallite's (ScatteringWorkChain drops such sizes).
            meta["particle_extent"] = float(((positions.max(axis=0) - positions.min(axis=0)) ** 2).sum() ** 0.5)
            result = finite_patterns(symbols, positions, params, progress=_Progress())
            if params["normalisation"] == "conventional":
                result = _convert(result, to_conventional)
    except AnalysisInputError as exc:
        return fail("INVALID_PARAMETERS", str(exc))
    except DeviceUnavailableError as exc:
        return fail("DEVICE_UNAVAILABLE", str(exc))
    except Exception as exc:  # noqa: BLE001 - report every failure in the result file
        if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
            return fail("OUT_OF_MEMORY", f"{exc}; lower 'batch_size' or use a larger GPU")
        traceback.print_exc()
        return fail("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")

    meta.update(result.pop("meta"))
    meta.update(normalisation=params["normalisation"], radiation=params["radiation"], torch_threads=torch.get_num_threads())
    meta["wall_time_s"] = time.perf_counter() - wall
    write_result(output_path, result, meta)
    print(
        f"{meta['mode']} {meta['n_atoms']} atoms on {meta['device']}: {meta['compute_time_s']:.2f} s compute, "
        f"{meta['wall_time_s']:.2f} s wall; debyecalculator {meta['debyecalculator_version']}, torch {meta['torch_version']}",
        flush=True,
    )
    return 0


def _convert(result: dict, function) -> dict:
    out = function({k: v for k, v in result.items() if k in ("iq", "sq", "fq", "gr")})
    out.update({k: v for k, v in result.items() if k not in out})
    out["partials"] = {name: function(c, partial=True) for name, c in result["partials"].items()}
    if result.get("direct"):
        out["direct"] = {"r": result["direct"]["r"], "gr": function({"gr": result["direct"]["gr"]})["gr"]}
    return out


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``aiida-bzs-scatter``."""
    parser = argparse.ArgumentParser(prog="aiida-bzs-scatter", description=__doc__.split("\n\n")[0])
    parser.add_argument("--structure", default=STRUCTURE_FILENAME, help="extended XYZ file, Å")
    parser.add_argument("--parameters", default=PARAMETERS_FILENAME, help="JSON parameters")
    parser.add_argument("--output", default=RESULT_FILENAME, help="JSON result file to write")
    args = parser.parse_args(argv)
    return run(args.structure, args.parameters, args.output)


def console() -> None:
    """Console script: :func:`main`, then leave without the interpreter's module teardown.

    Why: once torch and debyecalculator are loaded, a normal exit spends 0.5–0.8 s (2 cores)
    tearing modules down, a fixed cost on every CalcJob. The result file is closed by then
    (``write_result``), so only the standard streams need flushing.
    """
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    console()
