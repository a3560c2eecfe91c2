"""ACE-vs-DFT parity of grain-boundary formation energies (GrainBoundaryDftWorkChain, bzs.grain_boundary.dft).

    python examples/grain_boundaries.py --potential 1234 --protocol fast --run      # first: the boundaries (Σ5)
    python examples/grain_boundary_dft.py --grain-boundary 4321                     # then: their DFT parity, here
    python examples/grain_boundary_dft.py --grain-boundary 4321 --protocol balanced --code pw@cluster --submit

PBEsol single points (through DftLabelWorkChain) on the bulk and on the boundaries as the potential
relaxed them, E_GBf (J/m²) on both sides with the same definition, and a parity plot. Time: on 2
cores only the `fast` preset's small cells are affordable (cells above its `max_atoms`, 200, are
refused at launch), and even those take tens of minutes or more; the study's 670–1,700-atom
cells are the `balanced` preset's, sized for 4 nodes × 128 ranks and up to 12 h per single
point. Prints the table and plot PKs.
"""

from __future__ import annotations

import argparse

from _launch import launch
from aiida import load_profile


def build(code, grain_boundary=None, bulk_structure=None, structures=None, labels=None, protocol: str = "fast",
          pseudo_family: str | None = None):
    """The builder: a finished ``bzs.grain_boundary`` node (or pk), or ``bulk_structure`` and ``structures``."""
    from aiida_bzs.workflows.grain_boundary_dft import GrainBoundaryDftWorkChain

    return GrainBoundaryDftWorkChain.get_builder_from_protocol(
        code, grain_boundary, bulk_structure=bulk_structure, structures=structures, labels=labels,
        protocol=protocol, pseudo_family=pseudo_family)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grain-boundary", required=True, help="pk/UUID of a finished bzs.grain_boundary")
    parser.add_argument("--label", action="append", default=None, help="boundary label (repeatable; default all)")
    parser.add_argument("--code", default="pw@localhost", help="pw.x code")
    parser.add_argument("--protocol", default="fast", help="preset of protocols/grain_boundary_dft.yaml")
    parser.add_argument("--submit", action="store_true", help="submit to the daemon instead of running here")
    args = parser.parse_args(argv)
    load_profile()
    launch(build(args.code, args.grain_boundary, labels=args.label, protocol=args.protocol), args.submit)


if __name__ == "__main__":
    main()
