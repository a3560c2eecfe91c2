"""Store, load and query 310k- and 615k-atom structures: ``LargeStructureData`` vs ``StructureData``.

    python benchmarks/large_structures.py                          # 310k and 615k atoms, both types
    python benchmarks/large_structures.py --structure-data-max 0   # LargeStructureData only

Works in a throw-away ``core.sqlite_dos`` profile (the storage ``verdi presto`` makes) in a
temporary folder. Each store and each load runs in a fresh Python process so that a load reads
from disk and the database, not from the ORM's session cache; peak memory is the growth of the
resident set during that step (Linux ``VmHWM`` after resetting it via ``/proc/self/clear_refs``),
so it counts numpy buffers, Python objects and SQLite alike. The structures are rattled Pnma
BaZrS3 supercells (20 atoms per cell; 15,500 cells = 310,000 atoms, 30,750 = 615,000 atoms).
Prints a Markdown table (seconds, MiB) for docs/large_structures.md: "build" is ASE ``Atoms`` →
unstored node, "store" is ``node.store()`` (hashing included), "load" is ``load_node`` + ASE ``Atoms``
(``get_ase()`` / the fast ``atoms_from_structure``; ``StructureData.get_ase()`` itself is quadratic).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory import Step  # benchmarks/memory.py (scripts run from benchmarks/)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: supercells of the 20-atom Pnma cell: atoms -> repeat
SIZES = {10_000: (10, 10, 5), 310_000: (25, 20, 31), 615_000: (25, 30, 41)}
DEFAULT_SIZES = [310_000, 615_000]
EMAIL = "benchmark@aiida-bzs"


def load_temp_profile(folder: Path, initialise: bool = False):
    """Load (and on first use create) a ``core.sqlite_dos`` profile stored in ``folder``."""
    from aiida import load_profile, orm
    from aiida.manage.configuration.profile import Profile
    from aiida.storage.sqlite_dos.backend import SqliteDosStorage

    profile = Profile("bzs-large-structures-benchmark", {
        "default_user_email": EMAIL,
        "storage": {"backend": "core.sqlite_dos", "config": {"filepath": str(folder)}},
        "process_control": {"backend": None, "config": {}},
        "options": {},
    })
    if initialise:
        SqliteDosStorage.initialise(profile)
    load_profile(profile, allow_switch=True)
    if initialise:
        orm.User(email=EMAIL).store()
    return profile


def warm_up() -> None:
    """Open the database and import the plugins, so that steps time the work, not first imports."""
    from aiida import orm

    from aiida_bzs.common.structure_nodes import structure_from_atoms
    from aiida_bzs.data.large_structure import LargeStructureData
    from aiida_bzs.structures import pnma_crystal

    orm.QueryBuilder().append(orm.Node).count()
    LargeStructureData.from_ase(pnma_crystal()).get_ase()
    structure_from_atoms(pnma_crystal())


def child_store(folder: Path, kind: str, n_atoms: int) -> dict:
    """Build the supercell, convert it to ``kind`` and store it; seconds and MiB of each step."""
    load_temp_profile(folder)
    warm_up()
    from aiida_bzs.common.structure_nodes import structure_from_atoms
    from aiida_bzs.data.large_structure import LargeStructureData
    from aiida_bzs.structures import make_supercell, pnma_crystal, rattle

    atoms = rattle(make_supercell(pnma_crystal(), SIZES[n_atoms]), 0.1, seed=0)
    assert len(atoms) == n_atoms
    convert = LargeStructureData.from_ase if kind == "large" else structure_from_atoms
    with Step() as build:
        node = convert(atoms)
    with Step() as store:
        node.store()
    return {"pk": node.pk, "build_s": build.seconds, "build_mib": build.peak,
            "store_s": store.seconds, "store_mib": store.peak}


def child_load(folder: Path, kind: str, pk: int) -> dict:
    """Load node ``pk`` in a fresh process and make ASE ``Atoms`` of it (the fast path for both)."""
    load_temp_profile(folder)
    warm_up()
    from aiida import orm

    from aiida_bzs.common.structure_nodes import atoms_from_structure

    with Step() as load:
        atoms = atoms_from_structure(orm.load_node(pk))
    return {"n_atoms": len(atoms), "load_s": load.seconds, "load_mib": load.peak}


def run_child(*args) -> dict:
    """Run one step in a new interpreter and return its JSON result."""
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def time_queries(folder: Path) -> list[tuple[str, float, int]]:
    """Seconds for QueryBuilder look-ups by atom count and formula (attributes only, no array read)."""
    load_temp_profile(folder)
    warm_up()
    from aiida import orm

    from aiida_bzs.data.large_structure import LargeStructureData

    queries = {
        "n_atoms > 500,000": {"attributes.n_atoms": {">": 500_000}},
        "formula_reduced = BaS3Zr": {"attributes.formula_reduced": "BaS3Zr"},
        "formula = Ba62000S186000Zr62000": {"attributes.formula": "Ba62000S186000Zr62000"},
    }
    rows = []
    for name, filters in queries.items():
        start = time.perf_counter()
        found = orm.QueryBuilder().append(LargeStructureData, filters=filters,
                                          project=["id", "attributes.formula", "attributes.density"]).all()
        rows.append((name, time.perf_counter() - start, len(found)))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=DEFAULT_SIZES, choices=sorted(SIZES),
                        help="atom counts to measure (10000 for a quick check)")
    parser.add_argument("--structure-data-max", type=int, default=max(SIZES),
                        help="largest atom count for which StructureData is measured (it takes minutes)")
    parser.add_argument("--child", nargs=4, metavar=("STEP", "FOLDER", "KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        step, folder, kind, number = args.child
        function = child_store if step == "store" else child_load
        print(json.dumps(function(Path(folder), kind, int(number))))
        return

    with tempfile.TemporaryDirectory(prefix="bzs-large-structures-") as tmp:
        folder = Path(tmp)
        load_temp_profile(folder, initialise=True)
        rows = []
        for n_atoms in args.sizes:
            kinds = ["large"] + (["structure"] if n_atoms <= args.structure_data_max else [])
            for kind in kinds:
                before = time.perf_counter()
                stored = run_child("store", folder, kind, n_atoms)
                loaded = run_child("load", folder, kind, stored["pk"])
                assert loaded["n_atoms"] == n_atoms
                rows.append((n_atoms, kind, stored, loaded))
                print(f"  {n_atoms:,} atoms, {kind}: done in {time.perf_counter() - before:.0f} s", file=sys.stderr,
                      flush=True)
        queries = time_queries(folder)

    names = {"large": "LargeStructureData", "structure": "StructureData"}
    print("| atoms | node type | build s | build MiB | store s | store MiB | load s | load MiB |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n_atoms, kind, stored, loaded in rows:
        print(f"| {n_atoms:,} | {names[kind]} | {stored['build_s']:.2f} | {stored['build_mib']:.0f} | "
              f"{stored['store_s']:.2f} | {stored['store_mib']:.0f} | {loaded['load_s']:.2f} | "
              f"{loaded['load_mib']:.0f} |")
    print()
    print("| query (LargeStructureData, 3 attributes projected) | s | hits |")
    print("| --- | ---: | ---: |")
    for name, seconds, hits in queries:
        print(f"| {name} | {seconds:.3f} | {hits} |")


if __name__ == "__main__":
    main()
