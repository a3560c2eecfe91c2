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


# --- results as plain payloads (the job runner writes them, the parser turns them into nodes) ----

#: A payload: (kind, attributes, arrays); kind 'dict' (a Dict of the attributes) or 'array'
#: (an ArrayData of the arrays, with the attributes set on it).
Payload = tuple[str, dict, dict]


def density_payload(atoms: Atoms) -> Payload:
    """Density (g/cm³), number density (Å⁻³), volume (Å³) and atom counts of ``atoms``."""
    import numpy as np

    from .density import number_density

    symbols, counts = np.unique(atoms.get_chemical_symbols(), return_counts=True)
    return "dict", {
        "density": mass_density(atoms),
        "number_density": number_density(atoms),
        "volume": float(atoms.get_volume()),
        "n_atoms": len(atoms),
        "counts": {str(s): int(n) for s, n in zip(symbols, counts)},
    }, {}


def coordination_payload(result: Coordination) -> Payload:
    """Per-atom CN arrays, histogram and bond length per CN (Å), with the means as attributes."""
    import numpy as np

    centres = result.cn >= 0
    return "array", {
        "centre": result.centre,
        "neighbour": result.neighbour,
        "cutoff": result.cutoff,
        "n_centres": int(centres.sum()),
        "mean_cn": float(result.cn[centres].mean()) if centres.any() else 0.0,
        "mean_bond_length": float(np.nanmean(result.bond_length)) if (result.cn > 0).any() else None,
    }, result.to_arrays()


def rdf_payload(result: RadialDistribution) -> Payload:
    """g(r) arrays (r in Å) with the species counts and binning (Å) as attributes."""
    return "array", {"counts": result.counts, "r_max": float(result.r[-1] + result.bin_width / 2),
                     "bin_width": result.bin_width}, result.to_arrays()


def angles_payload(result: BondAngleDistribution) -> Payload:
    """Angle histogram arrays (°) with the bond and number of angles as attributes."""
    return "array", {"centre": result.centre, "neighbour": result.neighbour, "cutoff": result.cutoff,
                     "n_angles": result.n_angles}, result.to_arrays()


def contacts_payload(result: CloseContacts) -> Payload:
    """Per-atom contact counts and pair distances (Å), with the summary as attributes."""
    return "array", dict(result.summary()), {"per_atom": result.per_atom, "distances": result.distances}


def analysis_payloads(atoms: Atoms, result: StructureAnalysis) -> dict[str, Payload]:
    """Every output of the standard analysis of ``atoms`` by name: ``density``, ``rdf``,
    ``contacts``, ``coordination_<C>_<N>`` and ``angles_<C>_<N>`` per bond."""
    out = {"density": density_payload(atoms), "rdf": rdf_payload(result.rdf),
           "contacts": contacts_payload(result.contacts)}
    for (centre, neighbour), cn in result.coordination.items():
        out[f"coordination_{centre}_{neighbour}"] = coordination_payload(cn)
        out[f"angles_{centre}_{neighbour}"] = angles_payload(result.angles[(centre, neighbour)])
    return out
