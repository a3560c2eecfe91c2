"""PBEsol pseudopotential families for Ba, Zr, S that need no internet.

Users with internet install SSSP PBEsol (``aiida-pseudo install sssp -x PBEsol``). Offline, the
pslibrary 1.0.0 cards shipped in ``aiida_bzs/resources/ld1`` are run through the machine's
``ld1.x``; QE 6.7 writes numeric lines longer than ``pw.x`` 6.7 accepts (1024 characters), so the
files are re-wrapped four numbers a line (values unchanged). Cutoffs (Ry) are the generator's
suggestions read from each UPF header.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

#: kind -> (pslibrary recipe tag, family label)
FAMILIES: dict[str, tuple[str, str]] = {
    "us": ("rrkjus", "pslibrary/1.0.0/PBEsol/US"),
    "paw": ("kjpaw", "pslibrary/1.0.0/PBEsol/PAW"),
}
#: the family used when nothing else is said: SSSP PBEsol if installed, else these.
SSSP_LABEL = "SSSP/1.3/PBEsol/efficiency"
ELEMENTS = ("Ba", "Zr", "S")
MAX_LINE = 1024  # characters pw.x 6.7 reads per UPF line


class PseudoFamilyError(LookupError):
    """The requested pseudopotential family is not installed or cannot be built."""


def generated_pseudo_dir(kind: str) -> Path:
    """Folder where :func:`generate_pseudos` writes family ``kind`` ('us' or 'paw')."""
    return Path(sys.prefix) / "share" / "aiida-bzs" / "pseudos" / f"pbesol-psl-1.0.0-{kind}"


def family_label(kind: str) -> str:
    """AiiDA group label of the locally generated family ``kind``."""
    return FAMILIES[kind][1]


def rewrap_upf(text: str, per_line: int = 4) -> str:
    """Split every line longer than :data:`MAX_LINE` into lines of ``per_line`` numbers."""
    out = []
    for line in text.splitlines():
        if len(line) <= MAX_LINE:
            out.append(line)
            continue
        tokens = line.split()
        out.extend("  " + "  ".join(tokens[i : i + per_line]) for i in range(0, len(tokens), per_line))
    return "\n".join(out) + "\n"


def generate_pseudos(kind: str = "us", dest: Path | None = None, ld1: str = "ld1.x") -> Path:
    """Run ``ld1.x`` on the shipped pslibrary cards and write re-wrapped UPF files to ``dest``.

    Idempotent: existing UPF files are kept. Returns the folder.
    """
    tag = FAMILIES[kind][0]
    dest = Path(dest or generated_pseudo_dir(kind))
    dest.mkdir(parents=True, exist_ok=True)
    if shutil.which(ld1) is None:
        raise PseudoFamilyError(f"{ld1} not found; install Debian's quantum-espresso (./setup.sh)")
    cards = resources.files("aiida_bzs.resources") / "ld1"
    for element in ELEMENTS:
        card = next(c for c in cards.iterdir() if c.name.startswith(f"{element}.") and tag in c.name)
        upf_name = card.name[: -len(".in")] + ".UPF"
        if (dest / upf_name).exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([ld1], stdin=card.open(), cwd=tmp, check=True, capture_output=True)
            text = (Path(tmp) / upf_name).read_text()
        (dest / upf_name).write_text(rewrap_upf(text))
    return dest


def upf_cutoffs(path: Path) -> tuple[float, float]:
    """Suggested (wavefunction, density) cutoffs in Ry from a UPF v2 header, rounded up."""
    head = path.read_text()[:20000]
    wfc = re.search(r'wfc_cutoff="([0-9.Ee+-]+)"', head)
    rho = re.search(r'rho_cutoff="([0-9.Ee+-]+)"', head)
    if not (wfc and rho):
        raise PseudoFamilyError(f"{path.name} has no suggested cutoffs in its header")
    return float(-(-float(wfc.group(1)) // 1)), float(-(-float(rho.group(1)) // 1))


def install_family(folder: Path, kind: str = "us"):
    """Install ``folder`` as a ``pseudo.family.cutoffs`` group with the header cutoffs (Ry).

    Returns the existing family unchanged when the label is already taken (idempotent).
    """
    from aiida import orm
    from aiida.common.exceptions import NotExistent
    from aiida.plugins import DataFactory, GroupFactory

    label = family_label(kind)
    try:
        return orm.load_group(label)
    except NotExistent:
        pass
    family_cls = GroupFactory("pseudo.family.cutoffs")
    family = family_cls.create_from_folder(Path(folder), label, pseudo_type=DataFactory("pseudo.upf"))
    cutoffs = {}
    for upf in sorted(Path(folder).glob("*.UPF")):
        wfc, rho = upf_cutoffs(upf)
        cutoffs[upf.name.split(".")[0]] = {"cutoff_wfc": wfc, "cutoff_rho": rho}
    family.set_cutoffs(cutoffs, "normal", unit="Ry")
    family.description = f"PBEsol pslibrary 1.0.0 ({kind.upper()}) for Ba, Zr, S, generated with ld1.x"
    return family


def load_family(label: str | None = None):
    """Load a pseudo family by label; default SSSP PBEsol, then the local US family."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    labels = [label] if label else [SSSP_LABEL, family_label("us")]
    for candidate in labels:
        try:
            return orm.load_group(candidate)
        except NotExistent:
            continue
    raise PseudoFamilyError(
        f"no pseudopotential family {' or '.join(labels)}; run `aiida-bzs setup` "
        "(or `aiida-pseudo install sssp -x PBEsol` with internet)"
    )
