"""Close contacts between like atoms, above all S–S pairs (persulfide-like bonds in amorphous BaZrS3).

The crystal's shortest S–S distance is 3.50 Å; an S–S bond is about 2.1 Å. The default
cut-off of 2.5 Å counts bonded S–S pairs only, never the crystal's S–S edges of the octahedra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .neighbours import DEFAULT_BACKEND, pair_list

#: Two S atoms closer than this (Å) form a close contact (see module docstring).
S_S_CONTACT_CUTOFF = 2.5


@dataclass(frozen=True)
class CloseContacts:
    """Like-atom pairs of ``species`` closer than ``cutoff`` (Å).

    ``per_atom[k]``: number of close partners of atom ``k`` (-1 when it is not ``species``);
    ``distances``: one entry per unordered pair, sorted, Å.
    """

    species: str
    cutoff: float
    per_atom: np.ndarray
    distances: np.ndarray

    @property
    def n_contacts(self) -> int:
        """Number of unordered close pairs."""
        return len(self.distances)

    @property
    def n_atoms_in_contact(self) -> int:
        """Number of ``species`` atoms with at least one close partner."""
        return int((self.per_atom > 0).sum())

    @property
    def fraction_in_contact(self) -> float:
        """Fraction of ``species`` atoms with at least one close partner (0–1)."""
        n = int((self.per_atom >= 0).sum())
        return self.n_atoms_in_contact / n if n else 0.0

    def summary(self) -> dict:
        """Scalars for storage and tables (cut-off and distances in Å)."""
        return {
            "species": self.species,
            "cutoff": self.cutoff,
            "n_contacts": self.n_contacts,
            "n_atoms_in_contact": self.n_atoms_in_contact,
            "fraction_in_contact": self.fraction_in_contact,
            "min_distance": float(self.distances[0]) if self.n_contacts else None,
        }


def close_contacts(
    atoms: Atoms,
    species: str = "S",
    cutoff: float = S_S_CONTACT_CUTOFF,
    backend: str = DEFAULT_BACKEND,
) -> CloseContacts:
    """Find pairs of ``species`` atoms closer than ``cutoff`` (Å)."""
    pairs = pair_list(atoms, species, species, cutoff, backend=backend)
    is_species = atoms.numbers == Atoms(species).numbers[0]
    per_atom = np.where(is_species, pairs.counts(), -1)
    # each pair is listed from both ends; keep one
    once = pairs.centre < pairs.neighbour
    self_image = pairs.centre == pairs.neighbour  # an atom near its own image (tiny cells)
    images = np.sort(pairs.distance[self_image])[::2]  # listed as +v and -v
    distances = np.sort(np.concatenate([pairs.distance[once], images]))
    return CloseContacts(species, float(cutoff), per_atom, distances)
