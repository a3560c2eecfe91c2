"""The study's structure analysis of several structures, compared (StructureAnalysisWorkChain, bzs.analysis).

    python examples/analysis.py                                  # a 540-atom crystal and a rattled copy, runs here
    python examples/analysis.py --structure 1234 --structure 5678 --submit    # e.g. the crystal and a melt–quench

Coordination numbers (Zr–S ≤ 3.1 Å, Ba–S ≤ 3.8 Å), bond lengths per CN, total and partial g(r),
S–Zr–S and S–Ba–S angle distributions, close S–S contacts and density, one `aiida-bzs-job` job
per structure (bzs_job@localhost), then comparison figures. Time: the default pair of 540-atom
structures took 38 s of wall time on 2 busy cores, mostly job round trips (a 313,600-atom
structure's analysis takes about 5 s on one core, protocols/analysis.yaml). Prints the result
and figure PKs per structure.
"""

from __future__ import annotations

import argparse

from _launch import launch
from aiida import load_profile, orm


def build(structures: dict, code="bzs_job@localhost", protocol: str = "standard"):
    """The builder: ``structures`` = {key: StructureData | LargeStructureData}."""
    from aiida_bzs.workflows.analysis import StructureAnalysisWorkChain

    return StructureAnalysisWorkChain.get_builder_from_protocol(structures, protocol=protocol, code=code)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--structure", action="append", default=[], help="structure pk/UUID (repeatable)")
    parser.add_argument("--code", default="bzs_job@localhost", help="the aiida-bzs-job runner code")
    parser.add_argument("--protocol", default="standard", help="preset of protocols/analysis.yaml")
    parser.add_argument("--submit", action="store_true", help="submit to the daemon instead of running here")
    args = parser.parse_args(argv)
    load_profile()
    if args.structure:
        structures = {f"s{orm.load_node(i).pk}": orm.load_node(i) for i in args.structure}
    else:
        from aiida_bzs.calculations.functions import structures as fn

        crystal = fn.make_supercell(fn.pnma_crystal(), orm.List([3, 3, 3]))
        structures = {"crystal": crystal, "rattled": fn.rattle(crystal, orm.Float(0.3), orm.Int(0))}
    launch(build(structures, args.code, args.protocol), args.submit)


if __name__ == "__main__":
    main()
