"""The whole BaZrS3 study in one provenance graph (CampaignWorkChain, bzs.campaign).

    python examples/campaign.py                                         # protocol demo, runs here
    python examples/campaign.py --potential 1234 --skip polycrystal     # start in the middle
    python examples/campaign.py --protocol balanced --submit            # on a cluster, through the daemon

Reference crystal → labelled data → active learning → the filtered and full ACE fits →
melt–quenches, grain boundaries, polycrystals → analysis, scattering, DFT parity → a summary.
A given `--training-set` or `--potential` replaces the stages that would make it; `--skip`
drops any stage. The same as `aiida-bzs campaign run` (docs/tutorial.md). Time: `demo` is the
whole chain at toy sizes, within 20 min on 2 cores (the preset's aim, protocols/campaign.yaml);
`balanced` and `stringent` (the study's scale) are for a cluster. Prints the outputs' PKs and the summary.
"""

from __future__ import annotations

import argparse

from _launch import launch
from aiida import load_profile, orm


def build(protocol: str = "demo", training_set=None, potential=None, skip=(), codes: dict | None = None, **more):
    """The builder: codes by their `aiida-bzs setup` labels unless ``codes`` maps a port
    (``pw_code``, ``lammps_code``, …) to another; only the codes of the stages that run are loaded.
    ``more``: other inputs (``test_set``, ``initial_potential``, ``reference_crystal``, …)."""
    from aiida_bzs.workflows.campaign import CampaignWorkChain, campaign_settings

    overrides = {"skip": sorted(set(campaign_settings(protocol)["skip"]) | set(skip))} if skip else None
    inputs = {name: node for name, node in (("training_set", training_set), ("potential", potential)) if node}
    inputs.update({name: node for name, node in more.items() if node is not None})
    return CampaignWorkChain.get_builder_from_protocol(protocol, overrides, codes=codes, **inputs)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", default="demo", help="preset of protocols/campaign.yaml")
    parser.add_argument("--training-set", default=None, help="TrainingSetData pk/UUID (demo default: the shipped set)")
    parser.add_argument("--potential", default=None, help="AcePotentialData pk/UUID: skips learn and fit")
    parser.add_argument("--skip", action="append", default=[], help="a stage not to run (repeatable)")
    parser.add_argument("--submit", action="store_true", help="submit to the daemon instead of running here")
    args = parser.parse_args(argv)
    load_profile()
    training_set = orm.load_node(args.training_set) if args.training_set else None
    potential = orm.load_node(args.potential) if args.potential else None
    more = {}
    if args.protocol == "demo" and training_set is None and potential is None:
        from aiida_bzs.common.demo_dataset import load_demo_inputs

        more = load_demo_inputs()  # the shipped train part, fixed test set and generation-0 potential
        training_set = more.pop("training_set")
    node = launch(build(args.protocol, training_set, potential, args.skip, **more), args.submit)
    if not args.submit and "summary" in node.outputs:
        from aiida_bzs.cli.campaign import summary_lines

        print("\n".join(summary_lines(node.outputs.summary.get_dict())))


if __name__ == "__main__":
    main()
