"""Make scattering_overlay.png: a figure-4-style overlay of simulated XRD and PDF, without AiiDA.

Models: the study's single crystal (8×8×8 Pnma block, 10,240 atoms, scattered as a finite
particle as debyecalculator does), spheres of 2 and 5 nm cut from the crystal, and a hard-sphere
random BaZrS3 box at the crystal density as a stand-in for the melt–quenched amorphous model.
"Measured": tests/fixtures/scattering/synthetic_*.{xy,gr} (a computed 3 nm sphere with noise; the
experimental nanoparticle data of Zilevu et al. are not available offline). The same numbers,
fits and plot as ``aiida-bzs scatter``.
Run: ``python examples/scattering_figure.py [--out DIR]`` (default ``./examples_out``).
"""

import argparse
from pathlib import Path

from aiida_bzs.analysis.density import mass_density
from aiida_bzs.scattering.compare import fit_scale
from aiida_bzs.scattering.debye import finite_patterns
from aiida_bzs.scattering.files import read_measured
from aiida_bzs.scattering.params import validate_parameters
from aiida_bzs.scattering.plot import Curve, Panel, overlay_figure
from aiida_bzs.scattering.transforms import to_conventional
from aiida_bzs.scattering.units import two_theta_from_q
from aiida_bzs.structures import make_supercell, pnma_crystal
from aiida_bzs.structures.nanoparticle import cut_sphere
from aiida_bzs.structures.random_start import hard_sphere_box

ROOT = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", type=Path, default=Path("examples_out"), help="folder for the figure (created)")
args = parser.parse_args()
args.out.mkdir(parents=True, exist_ok=True)
crystal = pnma_crystal()
models = {
    "crystal (10,240 atoms)": make_supercell(crystal, (8, 8, 8)),
    "5 nm sphere": cut_sphere(crystal, 25.0),
    "2 nm sphere": cut_sphere(crystal, 10.0),
    "random (hard spheres)": hard_sphere_box("BaZrS3", formula_units=480, density=mass_density(crystal), seed=1),
}
params = validate_parameters({"qmin": 1.0, "qmax": 30.0, "qstep": 0.005})
xrd_obs = read_measured(ROOT / "tests/fixtures/scattering/synthetic_xrd.xy", "two_theta")
pdf_obs = read_measured(ROOT / "tests/fixtures/scattering/synthetic_pdf.gr", "r")
xrd_panel = Panel("2θ (degrees, Cu Kα1)", "I (a.u.)", measured=Curve("synthetic 3 nm data", xrd_obs.x, xrd_obs.y),
                  x_range=(22.77, 80.13))
pdf_panel = Panel("r (Å)", "G(r) (Å⁻²)", measured=Curve("synthetic 3 nm data", pdf_obs.x, pdf_obs.y), x_range=(1.0, 20.0))
for label, atoms in models.items():
    out = to_conventional(finite_patterns(atoms.get_chemical_symbols(), atoms.positions, params))
    window = (out["q"] >= 1.61) & (out["q"] <= 5.25)
    tt, iq = two_theta_from_q(out["q"][window]), out["iq"][window]
    fit = fit_scale(xrd_obs.x, xrd_obs.y, tt, iq, background=True)
    xrd_panel.models.append(Curve(label, tt, fit.scale * iq + fit.background, fit.rwp))
    fit = fit_scale(pdf_obs.x, pdf_obs.y, out["r"], out["gr"], x_min=1.5, x_max=20.0, weighting="uniform")
    pdf_panel.models.append(Curve(label, out["r"], fit.scale * out["gr"], fit.rwp))
    print(f"{label}: {len(atoms)} atoms, {out['meta']['compute_time_s']:.1f} s")
path = overlay_figure(args.out / "scattering_overlay.png", [xrd_panel, pdf_panel], dpi=110)
print(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB)")
