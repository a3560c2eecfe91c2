"""``MeasuredPatternData`` (``bzs.measured_pattern``): a measured XRD pattern or PDF as a node.

An ``XyData`` with the metadata a comparison needs: ``kind`` ('xrd' or 'pdf'), ``axis``
('two_theta' in degrees or 'q' in Å⁻¹ for XRD; 'r' in Å for a PDF), the ``wavelength`` (Å,
required for 2θ data), the source file name, and the file itself in the node repository.
Values are checked on import (numeric, finite, x increasing, physical range); errors name the
file and line. Units: intensity arbitrary (counts), G(r) in Å⁻².
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from aiida import orm

from ..analysis.errors import AnalysisInputError
from ..scattering.files import AXES, check_axis_range, parse_columns, read_measured
from ..scattering.units import q_from_two_theta, resolve_wavelength

#: kind → allowed axes (first is the default).
KINDS = {"xrd": ("two_theta", "q"), "pdf": ("r",)}
SOURCE_NAME = "source.dat"


class MeasuredPatternData(orm.XyData):
    """Measured curve (x, y[, σ]) with ``kind``, ``axis``, ``wavelength`` (Å) and ``source_filename``."""

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        kind: str,
        axis: str | None = None,
        wavelength: float | str | None = None,
    ) -> MeasuredPatternData:
        """Read a column file (see :mod:`aiida_bzs.scattering.files`) into an unstored node.

        :param kind: 'xrd' or 'pdf'.
        :param axis: first column: 'two_theta' (degrees, default for
            XRD), 'q' (Å⁻¹) or 'r' (Å).
        :param wavelength: Å or anode name ('Cu'); needed for 2θ.
        """
        kind, axis = _check_kind_axis(kind, axis)
        curve = read_measured(path, axis)
        node = cls.from_arrays(curve.x, curve.y, kind, axis, wavelength, curve.sigma, Path(path).name)
        node.base.repository.put_object_from_file(str(Path(path).resolve()), SOURCE_NAME)
        return node

    @classmethod
    def from_text(cls, text: str, kind: str, axis: str | None = None, wavelength=None, source: str = "<text>"):
        """As :meth:`from_file`, from the file's text (``source`` names it in errors)."""
        kind, axis = _check_kind_axis(kind, axis)
        curve = parse_columns(text, source)
        check_axis_range(curve.x, axis, source)
        node = cls.from_arrays(curve.x, curve.y, kind, axis, wavelength, curve.sigma, source)
        import io

        node.base.repository.put_object_from_filelike(io.BytesIO(text.encode("utf-8")), SOURCE_NAME)
        return node

    @classmethod
    def from_arrays(cls, x, y, kind: str, axis: str | None = None, wavelength=None, sigma=None, source: str | None = None):
        """Build from arrays (x increasing, in the axis unit); ``sigma`` = uncertainties of y."""
        kind, axis = _check_kind_axis(kind, axis)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if x.shape != y.shape or x.ndim != 1 or x.size < 2:
            raise AnalysisInputError("x and y must be 1D arrays of equal length (at least 2 points)")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or np.any(np.diff(x) <= 0):
            raise AnalysisInputError("x and y must be finite and x strictly increasing")
        check_axis_range(x, axis, source or "<arrays>")
        if axis == "two_theta" and wavelength is None:
            raise AnalysisInputError("2θ data need the wavelength (Å, or 'Cu', 'Mo', 'Co')")
        node = cls()
        y_name, y_unit = ("intensity", "counts") if kind == "xrd" else ("G", "1/Å^2")
        arrays, names, units = [y], [y_name], [y_unit]
        if sigma is not None:
            arrays.append(np.asarray(sigma, dtype=float))
            names.append("sigma")
            units.append(y_unit)
        node.set_x(x, axis, AXES[axis])
        node.set_y(arrays, names, units)
        node.base.attributes.set("kind", kind)
        node.base.attributes.set("axis", axis)
        node.base.attributes.set("wavelength", None if wavelength is None else resolve_wavelength(wavelength))
        node.base.attributes.set("source_filename", source)
        return node

    @property
    def kind(self) -> str:
        """'xrd' or 'pdf'."""
        return self.base.attributes.get("kind")

    @property
    def axis(self) -> str:
        """'two_theta' (degrees), 'q' (Å⁻¹) or 'r' (Å)."""
        return self.base.attributes.get("axis")

    @property
    def wavelength(self) -> float | None:
        """Wavelength in Å (None for PDF or Q-axis data without one)."""
        return self.base.attributes.get("wavelength", None)

    @property
    def source_filename(self) -> str | None:
        """Name of the imported file."""
        return self.base.attributes.get("source_filename", None)

    def get_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(x in the axis unit, y, sigma or None)."""
        ys = {name: array for name, array, _ in self.get_y()}
        return self.get_x()[1], self.get_y()[0][1], ys.get("sigma")

    def get_q(self) -> np.ndarray:
        """XRD x values as Q (Å⁻¹), converting 2θ with the stored wavelength."""
        if self.kind != "xrd":
            raise AnalysisInputError("Q is defined for XRD data only")
        x = self.get_x()[1]
        return q_from_two_theta(x, self.wavelength) if self.axis == "two_theta" else x


def _check_kind_axis(kind: str, axis: str | None) -> tuple[str, str]:
    if kind not in KINDS:
        raise AnalysisInputError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    axis = axis or KINDS[kind][0]
    if axis not in KINDS[kind]:
        raise AnalysisInputError(f"a {kind} file's first column must be one of {KINDS[kind]}, got {axis!r}")
    return kind, axis
