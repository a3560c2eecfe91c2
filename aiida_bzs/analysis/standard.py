"""The study's standard set of structure analyses on one structure (campaign.md §5).

Density, CN histograms and mean bond lengths per cation, total and partial g(r), S–Zr–S and
S–Ba–S angle distributions and S–S close contacts. The AiiDA workchain runs the same pieces
as separate calcfunctions; this function is for scripts and benchmarks outside AiiDA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ase import Atoms
from tqdm.auto import tqdm

from .angles import ADF_BINS, BondAngleDistribution, bond_angle_distribution
from .contacts import S_S_CONTACT_CUTOFF, CloseContacts, close_contacts
from .coordination import BOND_CUTOFFS, Coordination, coordination
from .density import mass_density
from .errors import AnalysisInputError, require_positive, require_species
from .rdf import RDF_BIN_WIDTH, RDF_R_MAX, RadialDistribution, radial_distribution

#: The species whose like-atom close contacts the standard set counts.
CONTACT_SPECIES = "S"


def bonds_to_dict(bonds: Mapping[tuple[str, str], float]) -> dict[str, float]:
    """``{("Zr", "S"): 3.1}`` → ``{"Zr-S": 3.1}`` (cut-offs in Å), the form stored in a Dict."""
    return {f"{centre}-{neighbour}": float(cutoff) for (centre, neighbour), cutoff in bonds.items()}


def parse_bonds(bonds: Mapping[str, float]) -> dict[tuple[str, str], float]:
    """``{"Zr-S": 3.1}`` → ``{("Zr", "S"): 3.1}``; raise naming a malformed entry (cut-offs in Å)."""
    parsed = {}
    for key, cutoff in bonds.items():
        parts = key.split("-")
        if len(parts) != 2 or not all(parts):
            raise AnalysisInputError(f"bond {key!r} must read 'Centre-Neighbour', e.g. 'Zr-S'")
        if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not cutoff > 0:
            raise AnalysisInputError(f"cut-off of {key} must be a number of Å > 0, got {cutoff!r}")
        parsed[(parts[0], parts[1])] = float(cutoff)
    if not parsed:
        raise AnalysisInputError("bonds is empty: give at least one, e.g. {'Zr-S': 3.1}")
    return parsed


@dataclass(frozen=True)
class StructureAnalysis:
    """Results of the standard set for one structure; bond keys are ``(centre, neighbour)``."""

    n_atoms: int
    density: float
    coordination: dict[tuple[str, str], Coordination]
    angles: dict[tuple[str, str], BondAngleDistribution]
    rdf: RadialDistribution
    contacts: CloseContacts


def analyse_structure(
    atoms: Atoms,
    bonds: Mapping[tuple[str, str], float] = BOND_CUTOFFS,
    contact_species: str = CONTACT_SPECIES,
    contact_cutoff: float = S_S_CONTACT_CUTOFF,
    r_max: float = RDF_R_MAX,
    bin_width: float = RDF_BIN_WIDTH,
    adf_bins: int = ADF_BINS,
    progress: bool = False,
) -> StructureAnalysis:
    """Run the standard set on a 3D-periodic structure.

    :param bonds: ``{(centre, neighbour): cut-off in Å}``; CNs and angles are computed per bond.
    :param contact_cutoff: like-atom close-contact distance for ``contact_species``, Å.
    :param r_max: outer radius of g(r), Å; ``bin_width`` its bin width, Å.
    :param adf_bins: number of 0–180° angle bins.
    :param progress: show a tqdm bar (useful above ~100k atoms).
    """
    for (centre, neighbour), cutoff in bonds.items():
        require_positive(cutoff, f"{centre}–{neighbour} cut-off (Å)")
        require_species(atoms, (centre, neighbour))
    require_positive(contact_cutoff, "contact cut-off (Å)")
    require_species(atoms, (contact_species,))
    steps = ["density", "rdf", "contacts"] + [f"{c}-{n}" for c, n in bonds]
    bar = tqdm(total=len(steps), desc=f"analysis ({len(atoms):,} atoms)", disable=not progress)
    density = mass_density(atoms)
    bar.update()
    rdf = radial_distribution(atoms, r_max=r_max, bin_width=bin_width)
    bar.update()
    contacts = close_contacts(atoms, contact_species, contact_cutoff)
    bar.update()
    cns, adfs = {}, {}
    for (centre, neighbour), cutoff in bonds.items():
        bar.set_postfix_str(f"{centre}–{neighbour}")
        cns[(centre, neighbour)] = coordination(atoms, centre, neighbour, cutoff)
        adfs[(centre, neighbour)] = bond_angle_distribution(
            atoms, centre, neighbour, cutoff, bins=adf_bins
        )
        bar.update()
    bar.close()
    return StructureAnalysis(len(atoms), density, cns, adfs, rdf, contacts)
