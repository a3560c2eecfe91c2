"""Active learning from a starting dataset (ActiveLearningWorkChain, bzs.active_learning).

    python examples/active_learning.py                         # the shipped demo dataset, protocol fast, runs here
    python examples/active_learning.py --dataset 1234 --protocol balanced --submit

Each generation: explore with the current potential (random structure search in ASE; NVT melts,
melt–quench and high-temperature MD in LAMMPS), grade every candidate by its extrapolation grade
γ, label the most extrapolative with pw.x, merge and refit. A test set split off the starting
data is fixed for every generation, so the learning curve is leak-free. Time: `fast` (2
generations, toy sizes) takes tens of minutes on 2 cores, most of it pacemaker's TensorFlow
start-up and pw.x; `balanced` and `stringent` are for a cluster. Prints the final potential, the
grown training set and the learning curve's PKs.
"""

from __future__ import annotations

import argparse

from _launch import launch
from aiida import load_profile, orm


def build(training_set, pacemaker_code="pacemaker@localhost", pw_code="pw@localhost", lammps_code="lmp@localhost",
          job_code=None, crystal=None, protocol: str = "fast", pseudo_family: str | None = None):
    """The builder; ``crystal`` (the reference, StructureData) seeds the MD families."""
    from aiida_bzs.workflows.active_learning import ActiveLearningWorkChain

    extra = {"crystal": crystal} if crystal is not None else {}
    return ActiveLearningWorkChain.get_builder_from_protocol(
        training_set, pacemaker_code, pw_code, protocol=protocol, lammps_code=lammps_code, job_code=job_code,
        pseudo_family=pseudo_family, **extra)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=None, help="TrainingSetData pk/UUID (default: the shipped demo dataset)")
    parser.add_argument("--protocol", default="fast", help="preset of protocols/active_learning.yaml")
    parser.add_argument("--pacemaker-code", default="pacemaker@localhost")
    parser.add_argument("--pw-code", default="pw@localhost")
    parser.add_argument("--lammps-code", default="lmp@localhost")
    parser.add_argument("--submit", action="store_true", help="submit to the daemon instead of running here")
    args = parser.parse_args(argv)
    load_profile()
    from aiida_bzs.calculations.functions.structures import pnma_crystal
    from aiida_bzs.common.demo_dataset import load_demo_dataset

    training_set = orm.load_node(args.dataset) if args.dataset else load_demo_dataset()
    print(f"starting data: TrainingSetData<{training_set.pk}>, {len(training_set)} structures")
    launch(build(training_set, args.pacemaker_code, args.pw_code, args.lammps_code, crystal=pnma_crystal(),
                 protocol=args.protocol), args.submit)


if __name__ == "__main__":
    main()
