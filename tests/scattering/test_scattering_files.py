"""Measured-data files: accepted layouts and clear errors naming the file and the line."""

import numpy as np
import pytest

from aiida_bzs.scattering.files import MeasuredFileError, read_measured


def write(tmp_path, text, name="data.xy"):
    path = tmp_path / name
    path.write_text(text)
    return path


ROWS = "\n".join(f"{20 + 0.1 * i:.2f} {100 + i}" for i in range(20))


def test_header_comments_commas_and_sigma(tmp_path):
    text = "Instrument XYZ export\nwavelength 1.5406\n# comment\n" + "\n".join(
        f"{20 + 0.1 * i:.2f}, {100 + i}, {10 + i % 3}" for i in range(20)
    )
    curve = read_measured(write(tmp_path, text), "two_theta")
    assert curve.x.size == 20 and curve.sigma is not None and curve.header[0] == "Instrument XYZ export"


def test_pdfgetx3_layout(scattering_fixtures):
    curve = read_measured(scattering_fixtures / "synthetic_pdf.gr", "r")
    assert curve.x[0] == 0.5 and curve.sigma is None and np.all(np.diff(curve.x) > 0)


def test_decreasing_file_is_reversed(tmp_path):
    text = "\n".join(f"{40 - 0.1 * i:.2f} {i}" for i in range(20))
    curve = read_measured(write(tmp_path, text), "two_theta")
    assert curve.reversed and curve.x[0] < curve.x[-1] and curve.y[0] == 19


@pytest.mark.parametrize(
    "text, line, message",
    [
        (ROWS + "\n22.10 abc\n", 21, "non-numeric value 'abc' in column 2"),
        (ROWS.replace("20.50 105", "20.30 105"), 6, "does not increase"),
        (ROWS.replace("20.50 105", "20.50 nan"), 6, "non-finite"),
        (ROWS + "\n22.10\n", 21, "at least 2 columns"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(MeasuredFileError, match=message) as info:
        read_measured(path, "two_theta")
    assert info.value.line == line and f"{path}, line {line}:" in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(MeasuredFileError, match="found 3 numeric rows"):
        read_measured(write(tmp_path, "1 2\n2 3\n3 4\n"), "q")
    with pytest.raises(MeasuredFileError, match=r"2θ values must lie in \(0, 180\)"):
        read_measured(write(tmp_path, "\n".join(f"{170 + i} 1" for i in range(20))), "two_theta")
    binary = tmp_path / "data.raw"
    binary.write_bytes(b"\x89\xff\xfe\x00" * 50)
    with pytest.raises(MeasuredFileError, match="not a text file"):
        read_measured(binary, "q")
    with pytest.raises(MeasuredFileError, match="file not found"):
        read_measured(tmp_path / "missing.xy", "q")
