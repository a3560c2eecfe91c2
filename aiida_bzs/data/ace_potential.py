"""``AcePotentialData``: an ACE potential (pacemaker B-basis .yaml, C-tilde .yace, active set .asi).

One node carries everything a later step needs: pyace (energies, forces, extrapolation grade γ)
reads the B-basis ``potential.yaml`` (only that form takes an active set), LAMMPS ``pair_style
pace`` reads the C-tilde ``potential.yace``, and ``potential.asi`` holds the D-optimality active
set when one was computed. Identical content is stored once (``get_or_create``), as aiida-pseudo
does for pseudopotentials.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml
from aiida import orm

__all__ = ("AcePotentialData", "AcePotentialError", "read_potential_metadata")

#: file names inside the node repository (and written by :meth:`AcePotentialData.write_files`)
FILENAMES = {"yaml": "potential.yaml", "yace": "potential.yace", "asi": "potential.asi"}


class AcePotentialError(ValueError):
    """A file offered as an ACE potential is not one, or is the wrong kind (e.g. .yace for .yaml)."""


def md5_bytes(content: bytes) -> str:
    """Hex md5 of ``content`` (the deduplication key, as aiida-pseudo uses)."""
    return hashlib.md5(content).hexdigest()


def read_potential_metadata(yaml_text: str) -> dict:
    """Elements, cutoff (Å) and number of basis functions per element of a B-basis .yaml.

    Parsed from the text (no pyace needed) so that a .yace or a truncated file is rejected with
    a clear message. ``n_functions`` counts the functions of every block whose central element
    is that element (the block name's first species), as ``pace_info`` reports them.
    """
    top_keys = {line.split(":")[0] for line in yaml_text.splitlines() if line and not line[0].isspace()}
    if "species" not in top_keys and {"embeddings", "bonds", "functions"} <= top_keys:
        raise AcePotentialError(
            "this is a C-tilde .yace file; the B-basis .yaml written by pacemaker is needed "
            "(pyace's active set and extrapolation grade work with the .yaml only)"
        )
    try:
        content = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        raise AcePotentialError(f"potential is not valid YAML: {exc}") from exc
    if not isinstance(content, dict) or "species" not in content:
        raise AcePotentialError("not a pacemaker B-basis potential (.yaml): no 'species' blocks")
    elements: set[str] = set()
    n_functions: dict[str, int] = {}
    cutoff = 0.0
    for block in content["species"]:
        species = str(block["speciesblock"]).split()
        elements.update(species)
        n_functions[species[0]] = n_functions.get(species[0], 0) + len(block.get("nbody") or [])
        cutoff = max(cutoff, float(block.get("rcutij", 0.0)))
    if cutoff <= 0:
        raise AcePotentialError("potential declares no positive cutoff (rcutij)")
    return {
        "elements": sorted(elements),
        "cutoff": cutoff,
        "n_functions": {el: n_functions.get(el, 0) for el in sorted(elements)},
    }


def yaml_to_yace(yaml_path: Path, yace_path: Path) -> Path:
    """Convert a B-basis .yaml into the C-tilde .yace LAMMPS reads (as ``pace_yaml2yace`` does)."""
    from pyace import ACEBBasisSet

    ACEBBasisSet(str(yaml_path)).to_ACECTildeBasisSet().save_yaml(str(yace_path))
    return yace_path


class AcePotentialData(orm.FolderData):
    """An ACE potential: ``potential.yaml`` (B-basis), ``potential.yace`` (C-tilde), optional ``.asi``.

    A ``FolderData`` so that tools run as aiida-shell ShellJobs (``pace_activeset``) receive the
    three files directly as a folder input.

    Attributes: ``elements`` (sorted symbols), ``cutoff`` (Å), ``n_functions`` (element -> number
    of basis functions), ``md5`` (of the .yaml), ``md5_asi`` (of the active set, or None).
    """

    def __init__(self, yaml: str | Path, yace: str | Path | None = None,
                 asi: str | Path | None = None, **kwargs):
        """Build an unstored node from files; the .yace is converted from the .yaml when absent."""
        super().__init__(**kwargs)
        yaml_path = Path(yaml)
        if yaml_path.suffix == ".yace":
            raise AcePotentialError(
                f"{yaml_path.name} is a .yace file; give the B-basis .yaml (and the .yace as `yace`)"
            )
        yaml_bytes = yaml_path.read_bytes()
        meta = read_potential_metadata(yaml_bytes.decode())
        with tempfile.TemporaryDirectory() as tmp:
            if yace is None:
                yace = yaml_to_yace(yaml_path, Path(tmp) / FILENAMES["yace"])
            yace_bytes = Path(yace).read_bytes()
        self.base.repository.put_object_from_bytes(yaml_bytes, FILENAMES["yaml"])
        self.base.repository.put_object_from_bytes(yace_bytes, FILENAMES["yace"])
        md5_asi = None
        if asi is not None:
            asi_bytes = Path(asi).read_bytes()
            self.base.repository.put_object_from_bytes(asi_bytes, FILENAMES["asi"])
            md5_asi = md5_bytes(asi_bytes)
        self.base.attributes.set_many({
            **meta,
            "md5": md5_bytes(yaml_bytes),
            "md5_asi": md5_asi,
            "n_functions_total": sum(meta["n_functions"].values()),
        })

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def get_or_create(cls, yaml: str | Path, yace: str | Path | None = None,
                      asi: str | Path | None = None, store: bool = True) -> "AcePotentialData":
        """Return the stored node with the same .yaml (and .asi) content, or create and store one."""
        md5 = md5_bytes(Path(yaml).read_bytes())
        md5_asi = md5_bytes(Path(asi).read_bytes()) if asi is not None else None
        query = orm.QueryBuilder().append(
            cls, filters={"attributes.md5": md5}, project="*", subclassing=False
        )
        for (node,) in query.iterall():
            if node.base.attributes.get("md5_asi", None) == md5_asi:
                return node
        node = cls(yaml, yace=yace, asi=asi)
        return node.store() if store else node

    def with_active_set(self, asi: str | Path) -> "AcePotentialData":
        """A new unstored node: this potential plus the active set file ``asi``."""
        with tempfile.TemporaryDirectory() as tmp:
            files = self.write_files(Path(tmp))
            return type(self)(files["yaml"], yace=files["yace"], asi=asi)

    # -- properties ---------------------------------------------------------------------------
    @property
    def elements(self) -> list[str]:
        return self.base.attributes.get("elements")

    @property
    def cutoff(self) -> float:
        """Largest radial cutoff of the basis, Å."""
        return self.base.attributes.get("cutoff")

    @property
    def n_functions(self) -> dict[str, int]:
        return self.base.attributes.get("n_functions")

    @property
    def md5(self) -> str:
        return self.base.attributes.get("md5")

    @property
    def has_active_set(self) -> bool:
        return self.base.attributes.get("md5_asi", None) is not None

    # -- content ------------------------------------------------------------------------------
    def get_content(self, kind: str = "yaml") -> bytes:
        """Raw bytes of ``kind`` ('yaml', 'yace' or 'asi')."""
        if kind == "asi" and not self.has_active_set:
            raise AcePotentialError("this potential has no active set; run pace_activeset first")
        return self.base.repository.get_object_content(FILENAMES[kind], mode="rb")

    def write_files(self, folder: str | Path) -> dict[str, Path | None]:
        """Write potential.yaml, potential.yace (and potential.asi) into ``folder``.

        :returns: ``{'yaml': Path, 'yace': Path, 'asi': Path | None}``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path | None] = {}
        for kind, name in FILENAMES.items():
            if kind == "asi" and not self.has_active_set:
                paths[kind] = None
                continue
            paths[kind] = folder / name
            paths[kind].write_bytes(self.get_content(kind))
        return paths

    def get_calculator(self, active_set: bool = True, **kwargs):
        """A pyace ``PyACECalculator`` on the B-basis .yaml (energies eV, forces eV/Å).

        With ``active_set`` and an .asi present, the per-atom extrapolation grade γ is in
        ``calc.results['gamma']`` after each calculation. Extra keyword arguments go to
        ``PyACECalculator``.
        """
        from pyace import PyACECalculator

        with tempfile.TemporaryDirectory() as tmp:
            files = self.write_files(Path(tmp))
            calc = PyACECalculator(str(files["yaml"]), **kwargs)
            if active_set and files["asi"] is not None:
                calc.set_active_set(str(files["asi"]))
        return calc

    def as_lammps_potential(self, element_order: Sequence[str] | None = None,
                            filename: str = FILENAMES["yace"]) -> str:
        """The LAMMPS lines for this potential: ``pair_style pace`` and ``pair_coeff``.

        :param element_order: element of each LAMMPS atom type (type 1 first); defaults to the
            sorted elements of the potential. The .yace must be in the run folder as ``filename``.
        """
        order = list(element_order) if element_order is not None else list(self.elements)
        unknown = sorted(set(order) - set(self.elements))
        if unknown:
            raise AcePotentialError(
                f"elements {unknown} are not in the potential (it has {self.elements})"
            )
        return f"pair_style pace\npair_coeff * * {filename} {' '.join(order)}\n"

    def __str__(self) -> str:
        aset = ", active set" if self.has_active_set else ""
        return (f"{super().__str__()} ACE {'-'.join(self.elements or [])} rcut={self.cutoff} Å "
                f"{self.base.attributes.get('n_functions_total')} functions{aset}")
