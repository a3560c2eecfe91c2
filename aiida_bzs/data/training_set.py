"""``TrainingSetData`` (``bzs.training_set``): DFT-labelled structures as one node.

Thousands of structures are kept as one compressed ``.npz`` file in the node repository (flat
arrays; see :mod:`aiida_bzs.training.dataset`), with only summaries as attributes, so that the
database stays small and loading a 100k-atom set takes a fraction of a second. Units: Å, eV,
eV/Å, stress eV/Å³ (ASE sign and Voigt order). Energies and forces round-trip exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from aiida import orm
from ase import Atoms

from ..training import dataset as ds
from ..training.dataset import DatasetError

__all__ = ["DatasetError", "TrainingSetData"]


class TrainingSetData(orm.Data):
    """Structures with energy (eV), forces (eV/Å), optional stress (eV/Å³), config_type and
    source node UUID, plus the isolated-atom reference energies (eV) and the DFT settings used.

    Build with :meth:`from_atoms`; read with :meth:`to_atoms`; export with :meth:`write_extxyz`
    or :meth:`write_pacemaker_pickle`.
    """

    FILENAME = "training_set.npz"

    @classmethod
    def from_atoms(
        cls,
        images: Sequence[Atoms],
        reference_energies: Mapping[str, float] | None = None,
        dft_settings: Mapping | None = None,
        require_labels: bool = False,
    ) -> TrainingSetData:
        """Pack ASE ``Atoms`` (each with a ``SinglePointCalculator``: energy eV, forces eV/Å,
        optional stress eV/Å³) and ``info['config_type']`` / ``info['source_uuid']``.

        Images without a calculator are kept as unlabelled structures (``labelled`` is then
        False) unless ``require_labels``. ``reference_energies``: isolated-atom energies, eV.
        """
        return cls.from_arrays(ds.pack(images, require_labels), reference_energies, dft_settings)

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray],
        reference_energies: Mapping[str, float] | None = None,
        dft_settings: Mapping | None = None,
    ) -> TrainingSetData:
        """Build from a packed set (:func:`aiida_bzs.training.dataset.pack` layout)."""
        if len(arrays["natoms"]) == 0:
            raise DatasetError("a training set needs at least one structure")
        node = cls()
        node.base.repository.put_object_from_bytes(ds.to_npz_bytes(arrays), cls.FILENAME)
        node._arrays = {k: np.asarray(v) for k, v in arrays.items()}
        attrs = node.base.attributes
        attrs.set("elements", ds.elements(arrays))
        attrs.set("num_structures", int(len(arrays["natoms"])))
        attrs.set("num_atoms", int(np.sum(arrays["natoms"])))
        attrs.set("config_types", ds.config_type_counts(arrays))
        attrs.set("labelled", ds.is_labelled(arrays))
        attrs.set("has_stress", bool(np.isfinite(arrays["stress"]).all()))
        attrs.set("reference_energies", {str(k): float(v) for k, v in (reference_energies or {}).items()})
        attrs.set("dft_settings", dict(dft_settings or {}))
        return node

    # -- summaries ---------------------------------------------------------------------------
    @property
    def elements(self) -> list[str]:
        """Chemical symbols present, sorted."""
        return self.base.attributes.get("elements")

    @property
    def num_structures(self) -> int:
        return self.base.attributes.get("num_structures")

    @property
    def num_atoms(self) -> int:
        return self.base.attributes.get("num_atoms")

    @property
    def config_types(self) -> dict[str, int]:
        """Number of structures per config_type."""
        return dict(self.base.attributes.get("config_types"))

    @property
    def labelled(self) -> bool:
        """True when every structure carries energy and forces."""
        return self.base.attributes.get("labelled")

    @property
    def reference_energies(self) -> dict[str, float]:
        """Isolated-atom energies in eV by element (may be empty)."""
        return dict(self.base.attributes.get("reference_energies", {}))

    @property
    def dft_settings(self) -> dict:
        """The pw.x settings (protocol, cutoffs, k spacing, pseudo family ...) behind the labels."""
        return dict(self.base.attributes.get("dft_settings", {}))

    def __len__(self) -> int:
        return self.num_structures

    # -- contents ----------------------------------------------------------------------------
    def get_arrays(self) -> dict[str, np.ndarray]:
        """The packed arrays (read once from the repository, then cached on this instance)."""
        cached = getattr(self, "_arrays", None)
        if cached is None:
            data = self.base.repository.get_object_content(self.FILENAME, mode="rb")
            cached = self._arrays = ds.from_npz_bytes(data)
        return cached

    def to_atoms(self, indices: Sequence[int] | None = None) -> list[Atoms]:
        """ASE ``Atoms`` with a ``SinglePointCalculator`` (energy, forces, stress) when labelled."""
        return ds.unpack(self.get_arrays(), indices)

    def subset(self, indices: Sequence[int] | np.ndarray) -> TrainingSetData:
        """A new, unstored set of the structures at ``indices`` (same references and settings)."""
        return TrainingSetData.from_arrays(
            ds.subset(self.get_arrays(), indices), self.reference_energies, self.dft_settings
        )

    def _references(self, reference_energies: Mapping[str, float] | None) -> dict[str, float]:
        return dict(reference_energies) if reference_energies is not None else self.reference_energies

    # -- export ------------------------------------------------------------------------------
    def write_extxyz(self, path: str | Path) -> None:
        """Write extended XYZ (exact floats) that ``ase.io.read(path, ':')`` reads back."""
        ds.write_extxyz(self.get_arrays(), path)

    def to_pacemaker_dataframe(self, reference_energies: Mapping[str, float] | None = None):
        """DataFrame with ``ase_atoms``, ``energy``, ``forces``, ``energy_corrected`` (eV), ``config_type``.

        ``energy_corrected`` = energy − Σ isolated-atom energies (this node's
        ``reference_energies`` unless others are given).
        """
        return ds.pacemaker_dataframe(self.get_arrays(), self._references(reference_energies))

    def write_pacemaker_pickle(self, path: str | Path, reference_energies: Mapping[str, float] | None = None) -> None:
        """Write the DataFrame of :meth:`to_pacemaker_dataframe` as pacemaker's gzip pickle."""
        ds.write_pacemaker_pickle(self.to_pacemaker_dataframe(reference_energies), path)

    def summary(self) -> dict:
        """Counts, elements, energy-per-atom and max-force ranges (eV/atom, eV/Å) for display."""
        arrays = self.get_arrays()
        info = {
            "num_structures": self.num_structures,
            "num_atoms": self.num_atoms,
            "elements": self.elements,
            "config_types": self.config_types,
            "labelled": self.labelled,
            "reference_energies": self.reference_energies,
            "dft_settings": self.dft_settings,
        }
        if np.isfinite(arrays["energy"]).any():
            epa = ds.energy_per_atom(arrays)
            fmax = ds.max_force(arrays)
            info["energy_per_atom_range"] = [float(np.nanmin(epa)), float(np.nanmax(epa))]
            info["max_force_range"] = [float(np.nanmin(fmax)), float(np.nanmax(fmax))]
        return info
