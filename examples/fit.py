"""Fit the study's two ACE potentials, `filtered` and `full`, with pacemaker (FitAceWorkChain, bzs.fit).

    python examples/fit.py                                     # the shipped demo dataset, protocol demo, runs here
    python examples/fit.py --dataset 1234 --protocol balanced --submit

`filtered` drops structures more than 1 eV/atom above the lowest; both are tested on the same
held-out structures, get an active set (for the extrapolation grade γ) and a verdict (usable,
smoke_test, unusable). Time: each pacemaker run first spends 1.5–4 min building its TensorFlow
graph; the `demo` preset on the demo dataset is a few minutes per version on 2 cores, `balanced`
and `stringent` (the study's recipe, ~900 functions per element) are for a cluster. Prints the
potentials' PKs and test RMSEs (meV/atom, meV/Å).
"""

from __future__ import annotations

import argparse

from _launch import launch
from aiida import load_profile, orm


def build(code, training_set, protocol: str = "demo", activeset_code=None):
    """The builder: ``training_set`` a TrainingSetData; every fit number on its inputs."""
    from aiida_bzs.workflows.fit import FitAceWorkChain

    return FitAceWorkChain.get_builder_from_protocol(code, training_set, protocol=protocol,
                                                     activeset_code=activeset_code)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", default="pacemaker@localhost", help="pacemaker code")
    parser.add_argument("--dataset", default=None, help="TrainingSetData pk/UUID (default: the shipped demo dataset)")
    parser.add_argument("--protocol", default="demo", help="preset of protocols/fit.yaml")
    parser.add_argument("--submit", action="store_true", help="submit to the daemon instead of running here")
    args = parser.parse_args(argv)
    load_profile()
    from aiida_bzs.common.demo_dataset import load_demo_dataset

    training_set = orm.load_node(args.dataset) if args.dataset else load_demo_dataset()
    print(f"training set: TrainingSetData<{training_set.pk}>, {len(training_set)} structures")
    node = launch(build(args.code, training_set, args.protocol), args.submit)
    if not args.submit:
        for version in ("filtered", "full"):
            if version in node.outputs and "test_metrics" in node.outputs[version]:
                print(f"  {version}: {node.outputs[version].test_metrics.get_dict()}")


if __name__ == "__main__":
    main()
