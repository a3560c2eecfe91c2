"""Make analysis_comparison.png: the comparison figure of ``bzs.analysis``, without AiiDA.

Crystal: 2,400-atom Pnma supercell rattled by 0.08 Å (thermal-like). "Random": a hard-sphere
BaZrS3 box of 2,400 atoms at the crystal's density — a stand-in for a melt–quenched structure
until one is at hand (replace it by yours).
Run: ``python examples/analysis_comparison.py [--out DIR]`` (default ``./examples_out``).
"""

import argparse
from pathlib import Path

from aiida_bzs.analysis.density import mass_density
from aiida_bzs.analysis.plots import comparison_figure, figure_png
from aiida_bzs.analysis.standard import analyse_structure
from aiida_bzs.structures import make_supercell, pnma_crystal, rattle
from aiida_bzs.structures.random_start import hard_sphere_box

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", type=Path, default=Path("examples_out"), help="folder for the figure (created)")
args = parser.parse_args()

crystal = rattle(make_supercell(pnma_crystal(), (5, 4, 6)), 0.08, seed=1)
random_box = hard_sphere_box("BaZrS3", formula_units=480, density=mass_density(crystal), seed=1)
results = {"crystal": analyse_structure(crystal), "hard-sphere random": analyse_structure(random_box)}
args.out.mkdir(parents=True, exist_ok=True)
out = args.out / "analysis_comparison.png"
out.write_bytes(figure_png(comparison_figure(results), dpi=110))
print(f"wrote {out} ({out.stat().st_size / 1024:.0f} kB)")
