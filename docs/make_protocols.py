"""Write docs/protocols.md: every preset of every workchain protocol file, with the source of each value.

    .venv/bin/python docs/make_protocols.py            # rewrites docs/protocols.md
    .venv/bin/python docs/make_protocols.py --check    # exit 1 if docs/protocols.md is stale

The values are read from ``aiida_bzs/workflows/protocols/*.yaml``. The source of each value is
decided, preset by preset, in this order:

1. it equals the library default it overrides: aiida-quantumespresso's PwBaseWorkChain /
   PwRelaxWorkChain protocol of the same precision (read from the installed aiida-qe), pacemaker's
   input template (``pacemaker -t``, read from the installed python-ace), debyecalculator 1.1's
   ``DebyeCalculator()`` defaults (read from its source);
2. otherwise the rule in ``RULES`` for that key (the study, a LAMMPS or QE rule, or our choice,
   with the reason the YAML comments give).

Every key must have a rule: a key added to a YAML file without one stops this script (and
``tests/test_docs.py``) until its source is written down here.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import importlib.util
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS = ROOT / "aiida_bzs" / "workflows" / "protocols"
OUT = ROOT / "docs" / "protocols.md"

OURS = "ours"
STUDY = "study"  # Paşca et al. 2025 as specified in the campaign notes; "§n" = section n there

# -- which workchain reads each file, and what the file is -----------------------------------------
FILES = {
    "campaign": ("`CampaignWorkChain` (`bzs.campaign`)",
                 "Which preset of each stage's own protocol file the campaign runs, and the campaign's own "
                 "choices; every other number is in the stage's file below."),
    "pw": ("every pw.x run (`get_pw_builder`, `DftLabelWorkChain`, `CrystalRelaxWorkChain`)",
           "Overrides of aiida-quantumespresso's `PwBaseWorkChain` protocol named by `qe_protocol`. Keys not "
           "listed come from aiida-qe (`clean_workdir` false, `max_iterations` 5, `nosym` false). When a "
           "preset fixes no cutoffs, they are `cutoff_scale` × the pseudo family's suggestion for Ba, Zr "
           "and S (SSSP PBEsol efficiency when installed, else pslibrary 1.0.0 PBEsol US: 46/268 Ry)."),
    "label": ("`DftLabelWorkChain` (`bzs.label`)",
              "DFT labels: the pw.x settings are the `pw.yaml` preset `pw_protocol`."),
    "crystal_relax": ("`CrystalRelaxWorkChain` (`bzs.crystal_relax`)",
                      "PBEsol vc-relax of the Pnma reference crystal through aiida-qe's `PwRelaxWorkChain`, with "
                      "the pw.x settings of the labels (`pw_protocol`). Thresholds as pw.x spells them."),
    "fit": ("`FitAceWorkChain` (`bzs.fit`), `PacemakerBaseWorkChain` (`bzs.pacemaker.base`)",
            "ACE fits with pacemaker; `parameters` are those of "
            "`aiida_bzs.common.pacemaker_input.DEFAULT_FIT_PARAMETERS`, mapped to pacemaker's `input.yaml`."),
    "active_learning": ("`ActiveLearningWorkChain` (`bzs.active_learning`); `md_families` also "
                        "`MdSamplingWorkChain` (`bzs.md_sampling`)",
                        "Generations of explore (RSS in ASE, the study's MD families in LAMMPS) → select by "
                        "extrapolation grade γ → label with DFT → refit."),
    "lammps_base": ("`LammpsBaseWorkChain` (`bzs.lammps.base`), named by the MD presets' `lammps_protocol`",
                    "How a LAMMPS stage is run (resources, wall time, restarts), not its physics. `settings` "
                    "{} = the module defaults (restart file every 10,000 steps, γ not dumped)."),
    "melt_quench": ("`MeltQuenchWorkChain` (`bzs.melt_quench`)",
                    "The study's melt–quench variants. Each stage gives `duration` (ps) or `rate` (K/s); "
                    "stage lists are written `name: T (K), duration or rate`."),
    "relax": ("`RelaxWorkChain` (`bzs.relax`)",
              "LAMMPS minimisations with cell relaxation repeated until the volume converges. `pressure` "
              "(bar), `vmax` and `dump_interval` come from `md/programme.py` `MIN_DEFAULTS`."),
    "analysis": ("`StructureAnalysisWorkChain` (`bzs.analysis`)",
                 "`analysis: {}` keeps the named defaults beside the functions: bonds Zr–S 3.1 Å and Ba–S "
                 "3.8 Å (study §5), S–S contacts below 2.5 Å, g(r) to 10 Å in 0.02 Å bins, 180 angle bins "
                 "(ours)."),
    "scattering": ("`ScatteringWorkChain` (`bzs.scattering`)",
                   "debyecalculator settings; parameters not set keep debyecalculator 1.1's defaults (qdamp "
                   "0.04 Å⁻¹, r 0–20 Å in 0.01 Å steps, biso 0.3 Å², which the study used for the PDF)."),
    "grain_boundary": ("`GrainBoundaryWorkChain` (`bzs.grain_boundary`)",
                       "Tilt boundaries about the long Pnma axis b, periodic bicrystals relaxed with the "
                       "potential, E_GBf per boundary."),
    "grain_boundary_dft": ("`GrainBoundaryDftWorkChain` (`bzs.grain_boundary.dft`)",
                           "PBEsol single points of the relaxed boundaries and the bulk for the ACE-vs-DFT "
                           "E_GBf parity."),
    "polycrystal": ("`PolycrystalWorkChain` (`bzs.polycrystal`)",
                    "Voronoi polycrystals relaxed with the full-data potential, γ, boundary vs interior, XRD."),
}

# -- rules: (key pattern, unit, source); source: text, or {preset: text, "*": text} -----------------
# The first matching pattern wins. Used where the value is not a library default (see the module).
RULES: dict[str, list[tuple[str, str, object]]] = {
    "pw": [
        ("qe_protocol", "", "ours: the aiida-qe preset of the same precision"),
        ("kpoints_distance", "Å⁻¹", {"demo": "ours: Γ only for every cell of 20 atoms or more",
                                     "*": "ours"}),
        ("meta_parameters.conv_thr_per_atom", "Ry", {"demo": "ours: the demo cells' SCF oscillates; the last "
                                                             "factor of 10 costs 4–5 iterations", "*": OURS}),
        ("pw.metadata.options.max_wallclock_seconds", "s", "ours: labelling cells are small"),
        ("pw.parameters.CONTROL.disk_io", "", "ours"),
        ("pw.parameters.SYSTEM.ecutwfc", "Ry", "ours: about half the pslibrary US suggestion; not converged"),
        ("pw.parameters.SYSTEM.ecutrho", "Ry", "ours: about half the pslibrary US suggestion; not converged"),
        ("pw.parameters.SYSTEM.degauss", "Ry", "ours: cold smearing at 0.01 Ry leaves the insulating crystal's "
                                                "energy unchanged; random cells and liquids look metallic"),
        ("pw.parameters.ELECTRONS.*", "", OURS),
        ("pw.parameters.*", "", OURS),
        ("cutoff_scale", "× suggested", {"balanced": "ours (= aiida-qe's choice: the family's suggested cutoffs)",
                                         "*": OURS}),
    ],
    "label": [
        ("pw_protocol", "", "ours: the pw.yaml preset of the same name"),
        ("isolated_atom_box", "Å", "ours: a constant per element for pacemaker's energy_corrected"),
        ("max_concurrent", "jobs", "ours; on a computer that runs jobs in place, at most its cores // ranks"),
    ],
    "crystal_relax": [
        ("pw_protocol", "", "ours: the labels' settings, so reference and training data agree"),
        ("ecutwfc", "Ry", "ours: test-sized"),
        ("ecutrho", "Ry", "ours: test-sized"),
        ("forc_conv_thr", "Ry/bohr", {"fast": "ours: accepts the corrected Pnma cell at once", "*": OURS}),
        ("etot_conv_thr", "Ry", OURS),
        ("press_conv_thr", "kbar", {"fast": "ours: above the −117 kbar Pulay stress of a 20 Ry basis",
                                    "*": OURS}),
        ("nstep", "BFGS steps", OURS),
        ("meta_convergence", "", "ours: one vc-relax; pw.x's closing SCF reports the residual pressure"),
        ("max_meta_convergence_iterations", "", "ours: must exceed 1 (PwRelaxWorkChain exit 400 otherwise)"),
        ("walltime", "s per pw.x job", "ours: generous, a vc-relax restarts badly"),
        ("kpoints_mesh", "", "ours: one irreducible k point in Pnma"),
        ("kpoints_offset", "mesh steps", "ours"),
    ],
    "fit": [
        ("versions", "", "study §3: filtered and full"),
        ("filter.max_energy_above_min", "eV/atom", "study §3: the 1 eV/atom rule of the filtered potential"),
        ("split.*", "", OURS),
        ("min_train_structures", "", OURS),
        ("active_set", "", "study §3: active set (.asi) for D-optimality γ"),
        ("base.max_iterations", "pacemaker runs", "ours: first run plus restarts (wall time, memory)"),
        ("base.clean_workdir", "", "ours (= aiida-core's BaseRestartWorkChain default)"),
        ("quality.usable_energy", "meV/atom", "ours: ~10 × the study's published errors"),
        ("quality.usable_forces", "meV/Å", "ours: ~10 × the study's published errors"),
        ("quality.unusable_energy", "meV/atom", OURS),
        ("quality.unusable_forces", "meV/Å", OURS),
        ("quality.*", "", OURS),
        ("parameters.cutoff", "Å", OURS),
        ("parameters.embedding.fs_parameters", "", "ours: one density"),
        ("parameters.embedding.ndensity", "", "ours: one density"),
        ("parameters.embedding.npot", "", OURS),
        ("parameters.radial_basis.*", "", OURS),
        ("parameters.functions.number_of_functions_per_element", "",
         {"stringent": "ours: a paper-sized basis (the study's count is not published)", "*": OURS}),
        ("parameters.functions.*", "", {"stringent": "study: maxima of the published potentials (nradbase 13, "
                                                     "nradmax 6, lmax 3); the split by order is ours",
                                        "*": OURS}),
        ("parameters.repulsion", "", "ours"),
        ("parameters.repulsion.r_in", "Å", OURS),
        ("parameters.repulsion.delta_in", "Å", OURS),
        ("parameters.repulsion.core_repulsion", "eV·Å, Å⁻²", OURS),
        ("parameters.repulsion.inner_cutoff_type", "", "ours: pacemaker's ZBL core (`zbl`)"),
        ("parameters.config_type_weights", "", "ours: uniform, the study's factors are not published"),
        ("parameters.max_iterations", "BFGS iterations", OURS),
        ("parameters.plateau.*", "", "ours: a fit that would gain < 1 % from doubling its iterations"),
        ("parameters.ladder.*", "", OURS),
        ("parameters.backend.*", "", OURS),
        ("parameters.loss.*", "", OURS),
        ("parameters.optimizer", "", OURS),
    ],
    "active_learning": [
        ("gamma_threshold", "γ", {"stringent": OURS, "*": "study §7: γ ≤ 2 is reliable"}),
        ("gamma_ceiling", "γ", "ours: beyond it a structure is too far from the data to label usefully"),
        ("explore.rss.composition", "", "study §1"),
        ("explore.rss.volume_per_atom", "Å³/atom", OURS),
        ("explore.relax.fmax", "eV/Å", OURS),
        ("explore.md.seed_count", "", "ours: MD runs in LAMMPS as md_families"),
        ("md_families.timestep", "fs", OURS),
        ("md_families.repeat", "× reference cell", OURS),
        ("md_families.nvt_melt.temperatures", "K", {"fast": "ours: one point in the study's 3500–4500 K",
                                                    "*": "study §1: 3500–4500 K"}),
        ("md_families.nvt_melt.volume_scales", "× crystal volume",
         {"fast": "ours: one point in the study's 1.05–1.20", "*": "study §1: 1.05–1.20 × crystal volume"}),
        ("md_families.melt_quench.rate", "K/s", {"fast": "ours: toy (the study: 1e12–1e15 K/s)",
                                                 "*": "study §1: 1e12–1e15 K/s"}),
        ("md_families.*.temperatures", "K", OURS),
        ("md_families.*temperature", "K", OURS),
        ("md_families.melt_quench.volume_scale", "× crystal volume", OURS),
        ("md_families.*duration", "ps", OURS),
        ("md_families.*.interval", "ps", OURS),
        ("md_families.*.skip", "ps", OURS),
        ("md_families.*", "", OURS),
        ("*", "", OURS),
    ],
    "lammps_base": [
        ("options.max_wallclock_seconds", "s per job", "ours; LAMMPS stops cleanly at 0.9 of it and continues"),
        ("max_iterations", "jobs per stage", OURS),
        ("*", "", OURS),
    ],
    "melt_quench": [
        ("start", "", "study §4: crystal supercell, or a hard-sphere random start"),
        ("lammps_protocol", "", OURS),
        ("timestep", "fs", "ours (the study states melts, rates and starts only)"),
        ("stage_defaults.ensemble", "", "study §4: NPT"),
        ("stage_defaults.pressure", "bar", OURS),
        ("stage_defaults.barostat", "", OURS),
        ("stage_defaults.tdamp", "fs", "LAMMPS fix nh: ~100 timesteps (at 1 fs)"),
        ("stage_defaults.pdamp", "fs", "LAMMPS fix nh: ~1000 timesteps (at 1 fs)"),
        ("stage_defaults.*_interval", "steps", OURS),
        ("sanity.temperature_factor", "× target", "ours (analysis/md_sanity.py)"),
        ("sanity.temperature_margin", "K", "ours (analysis/md_sanity.py)"),
        ("sanity.density_window", "× start density", "ours (analysis/md_sanity.py)"),
        ("sanity.max_*", "eV/atom", "ours (analysis/md_sanity.py)"),
        ("sanity.check_every", "steps", "ours (LAMMPS fix halt)"),
        ("sanity.settle_time", "ps", OURS),
        ("sanity.*", "", OURS),
        ("product_check.amorphous_density_ratio", "× crystal density",
         "ours: brackets the study's amorphous (92.5 % of the crystal density)"),
        ("product_check.amorphous_zr_cn", "Zr–S CN", "ours: brackets the study's Zr CN ≈ 6"),
        ("product_check.amorphous_ba_cn_max", "Ba–S CN", "ours: the study's Ba CN < 8"),
        ("product_check.*_density_ratio", "× crystal density", "ours (analysis/product_check.py)"),
        ("product_check.gas_zr_cn", "Zr–S CN", "ours (analysis/product_check.py)"),
        ("product_check.lro_window", "Å", "ours (analysis/product_check.py)"),
        ("product_check.bin_width", "Å", OURS),
        ("product_check.smoothing", "Å", OURS),
        ("product_check.*", "", "ours (analysis/product_check.py)"),
        ("stages", "K, ps, K/s", {
            "quench_1e13": "study §4: 2500 K for 80 ps, 1e13 K/s to 300 K; ours: heating, 300 K hold, minimise",
            "staged_1e14_1e15": "study §4: 1e14 then 1e15 K/s; ours: the switch at 1000 K, heating, hold, minimise",
            "random_1500K": "study §4: 1500 K for 50 ps, 1e13 K/s; ours: 300 K hold, minimise",
            "*": "ours: a few thousand steps"}),
        ("hard_sphere.composition", "", "study §4"),
        ("hard_sphere.formula_units", "", "study §4: 10,240 atoms"),
        ("hard_sphere.density", "g/cm³", OURS),
        ("hard_sphere.seed", "", OURS),
    ],
    "relax": [
        ("ftol", "eV/Å", OURS),
        ("etol", "", OURS),
        ("maxiter", "", OURS),
        ("maxeval", "", OURS),
        ("volume_convergence", "relative", OURS),
        ("max_meta_iterations", "", OURS),
        ("lammps_protocol", "", OURS),
        ("sanity.density_window", "× input density", "ours (analysis/md_sanity.py)"),
        ("sanity.*", "", OURS),
    ],
    "analysis": [
        ("analysis", "", "study §5 (bond cutoffs), ours (the rest): see above"),
        ("job_options.max_wallclock_seconds", "s", "ours: sized from benchmarks/analysis_job.py"),
        ("job_options.max_memory_kb", "kB", "ours: 300k–600k atoms"),
        ("job_options.*", "", OURS),
    ],
    "scattering": [
        ("parameters.qstep", "Å⁻¹", "ours: 0.0025 Å⁻¹ resolves 20 nm particles"),
        ("parameters.normalisation", "", "ours: Faber–Ziman (debyecalculator's are half, study §8)"),
        ("parameters.dtype", "", OURS),
        ("parameters.*", "Å⁻¹", OURS),
        ("xrd.qmin", "Å⁻¹", "study §8"),
        ("xrd.qmax", "Å⁻¹", "study §8"),
        ("xrd.wavelength", "Å", "study §8: Cu Kα1"),
        ("compare.pdf.rmin", "Å", OURS),
        ("compare.pdf.rmax", "Å", OURS),
        ("compare.*", "", OURS),
        ("scherrer.two_theta_*", "° 2θ", "ours: the 121/200/002 cluster at Cu Kα1"),
        ("scherrer.k", "", "ours: the usual Scherrer constant"),
        ("scherrer.instrumental_fwhm", "° 2θ", OURS),
        ("scherrer.min_size", "Å", "ours: below it 1–3 nm spheres all give 2.1–2.7 nm (docs/scattering.md)"),
        ("plot.r_range", "Å", OURS),
        ("gpu_min_atoms", "atoms", OURS),
    ],
    "grain_boundary": [
        ("boundaries", "Σ, °", {"balanced": "study §6: Σ25, Σ31, Σ35; 1.5°–9.5° low angle",
                                "*": "ours: the smallest boundary"}),
        ("grain_thickness", "Å", {"balanced": "ours: ≥ 2 × the cutoff; gives the study's 670–1,700 atoms",
                                  "*": OURS}),
        ("repeats_along_axis", "", "study §6: one long-axis repeat"),
        ("translations", "grid", OURS),
        ("min_distance", "Å", OURS),
        ("max_strain", "relative", OURS),
        ("max_length", "Å", OURS),
        ("chemical_potentials", "eV/atom", "ours: only stoichiometric cells get an E_GBf"),
        ("relax_protocol", "", OURS),
        ("relax_overrides*", "", OURS),
        ("gamma", "", OURS),
        ("job_options.max_wallclock_seconds", "s", OURS),
        ("job_options.*", "", OURS),
    ],
    "grain_boundary_dft": [
        ("label_protocol", "", OURS),
        ("label_overrides.pw.pw.parameters.ELECTRONS.mixing_mode", "",
         "Quantum ESPRESSO: local-TF for inhomogeneous systems"),
        ("label_overrides*", "", OURS),
        ("num_mpiprocs", "ranks", "ours: sized for 670–1,700-atom cells; adapt to the cluster"),
        ("options.max_wallclock_seconds", "s", OURS),
        ("options.*", "", OURS),
        ("max_atoms", "atoms", "ours: a guard against a 1,000-atom DFT job on a laptop"),
        ("chemical_potentials", "eV/atom", OURS),
    ],
    "polycrystal": [
        ("box", "Å", {"balanced": "study §7: a 20 nm box for 8 and 50 grains", "*": OURS}),
        ("grains", "", {"balanced": "study §7", "*": OURS}),
        ("seed", "", OURS),
        ("clearance", "Å", "ours: 0.79 × the shortest Zr–S bond (the study's value is not given)"),
        ("relax", "", "study §7: relaxed with the full potential"),
        ("relax_type", "", {"fast": "ours: the toy potential cannot relax the box", "*": OURS}),
        ("relax_protocol", "", OURS),
        ("relax_overrides*", "", OURS),
        ("gamma", "", "study §7: per-atom extrapolation grade"),
        ("analysis.boundary_cutoff", "Å", "ours: the study's Ba–S cutoff (§5)"),
        ("analysis.shells", "", OURS),
        ("xrd", "", {"balanced": "study §8: XRD of the 8- and 50-grain models", "*": OURS}),
        ("single_crystal", "", "study §8: compared with the single crystal"),
        ("scattering_protocol", "", OURS),
        ("num_mpiprocs", "ranks", OURS),
        ("options.max_wallclock_seconds", "s", OURS),
        ("options*", "", OURS),
        ("job_options.max_wallclock_seconds", "s", OURS),
        ("job_options.*", "", OURS),
    ],
    "campaign": [
        ("skip", "", OURS),
        ("md_repeat", "× 20-atom cell", {"stringent": "study §4: 8×8×8, 10,240 atoms", "*": OURS}),
        ("nanoparticle_radius", "Å", OURS),
        ("dataset.rss.count", "", {"demo": OURS, "*": "study §1: RSS began from 90 random structures"}),
        ("dataset.perturbed.max_strain", "relative", OURS),
        ("dataset.perturbed.rattle_stdev", "Å", OURS),
        ("dataset.*", "", "ours (the families are the study's, §1)"),
        ("fit.overrides.versions", "", "study §3: filtered and full"),
        ("amorphous.runs.*.protocol", "", {"demo": OURS, "*": "study §4: its melt–quench variants"}),
        ("amorphous.runs.random_1500K.overrides*", "", "ours: 960 atoms, as md_repeat"),
        ("amorphous.runs.*", "", OURS),
        ("polycrystal.protocol", "", {"demo": OURS, "*": "ours (balanced = the study's polycrystals)"}),
        ("*.protocol", "", OURS),
        ("*", "", OURS),
    ],
}

#: The study's ACE recipe: the headers of its two published potentials (campaign notes §3, toolchain notes).
STUDY_ACE = {
    "parameters.cutoff": 7.17,
    "parameters.embedding.npot": "FinnisSinclairShiftedScaled",
    "parameters.embedding.fs_parameters": [1, 1, 1, 0.5, 1, 0.892, 1, 0.573, 1, 0.446, 1, 0.024],
    "parameters.embedding.ndensity": 6,
    "parameters.radial_basis.radbase": "SBessel",
    "parameters.repulsion.r_in": 0.0,
    "parameters.repulsion.delta_in": 0.0,
    "parameters.repulsion.core_repulsion": [0.0, 0.0],
}

PRESET_UNIT_OVERRIDES = {("fit", "parameters.repulsion"): ""}


# -- library defaults ------------------------------------------------------------------------------
def flatten(mapping: dict, prefix: str = "") -> dict:
    """Dotted keys of the leaves; an empty dict is a leaf."""
    flat = {}
    for key, value in mapping.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed; run ./setup.sh")
    return Path(list(spec.submodule_search_locations)[0])


def aiida_qe_defaults() -> dict:
    """{aiida-qe protocol: flattened PwBaseWorkChain inputs}, and 'relax:<protocol>' for PwRelaxWorkChain."""
    from aiida_quantumespresso.workflows.pw.base import PwBaseWorkChain
    from aiida_quantumespresso.workflows.pw.relax import PwRelaxWorkChain

    out = {}
    for name in ("fast", "balanced", "stringent"):
        out[name] = flatten(PwBaseWorkChain.get_protocol_inputs(name))
        out[f"relax:{name}"] = flatten(PwRelaxWorkChain.get_protocol_inputs(name))
    return out


def pacemaker_defaults() -> dict:
    """pacemaker's input template (``pacemaker -t``), in the keys of fit.yaml ``parameters``."""
    text = (_package_dir("pyace") / "data" / "input_template.yaml").read_text()
    # placeholders ({{RCUT}} …): a value becomes null, a line that is only a placeholder goes
    lines = [re.sub(r"\{\{\w+\}\}", "null", line) for line in text.splitlines()
             if not re.fullmatch(r"\s*\{\{\w+\}\}\s*", line)]
    template = yaml.safe_load("\n".join(lines))
    embedding, bond, fit, backend = (template["potential"]["embeddings"]["ALL"], template["potential"]["bonds"]["ALL"],
                                     template["fit"], template["backend"])
    return {
        "parameters.embedding.npot": embedding["npot"], "parameters.embedding.fs_parameters": embedding["fs_parameters"],
        "parameters.embedding.ndensity": embedding["ndensity"], "parameters.radial_basis.radbase": bond["radbase"],
        "parameters.radial_basis.radparameters": bond["radparameters"], "parameters.radial_basis.dcut": bond["dcut"],
        "parameters.loss.kappa": fit["loss"]["kappa"], "parameters.loss.L1_coeffs": fit["loss"]["L1_coeffs"],
        "parameters.loss.L2_coeffs": fit["loss"]["L2_coeffs"], "parameters.optimizer": fit["optimizer"],
        "parameters.max_iterations": fit["maxiter"], "parameters.repulsion": fit["repulsion"],
        "parameters.backend.evaluator": backend["evaluator"], "parameters.backend.batch_size": backend["batch_size"],
        "parameters.backend.display_step": backend["display_step"],
    }


def debyecalculator_defaults() -> dict:
    """Keyword defaults of ``DebyeCalculator.__init__`` (read from the source: importing it loads torch)."""
    tree = ast.parse((_package_dir("debyecalculator") / "debye_calculator.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "DebyeCalculator":
            init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
            args = init.args.args[-len(init.args.defaults):]
            defaults = {}
            for arg, default in zip(args, init.args.defaults):
                try:
                    defaults[arg.arg] = ast.literal_eval(default)
                except ValueError:
                    continue
            return {f"parameters.{k}": v for k, v in defaults.items() if k in ("qmin", "qmax", "qstep")}
    raise SystemExit("DebyeCalculator not found in debyecalculator's source")


def library_values(stem: str, name: str, preset: dict, all_presets: dict, libraries: dict) -> list[tuple[str, dict]]:
    """[(source label, {flat key: library value})] that preset ``name`` of ``stem``.yaml overrides."""
    if stem == "pw":
        qe = preset.get("qe_protocol", name)
        return [("aiida-quantumespresso", libraries["qe"][qe])]
    if stem == "crystal_relax":
        qe = all_presets["pw"][preset["pw_protocol"]].get("qe_protocol", preset["pw_protocol"])
        base, relax = libraries["qe"][qe], libraries["qe"][f"relax:{qe}"]
        return [("aiida-quantumespresso", {
            "forc_conv_thr": base["pw.parameters.CONTROL.forc_conv_thr"],
            "press_conv_thr": relax["base_relax.pw.parameters.CELL.press_conv_thr"],
            "meta_convergence": relax["meta_convergence"],
            "max_meta_convergence_iterations": relax["max_meta_convergence_iterations"],
        })]
    if stem == "fit":
        return [("study: the published potentials", STUDY_ACE), ("pacemaker (input template)", libraries["pacemaker"])]
    if stem == "scattering":
        return [("debyecalculator 1.1", libraries["debyecalculator"])]
    return []


# -- formatting ------------------------------------------------------------------------------------
def fmt(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        text = f"{value:.6g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}e{int(exponent)}"
        return text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return "; ".join(_stage(v) for v in value)
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def _stage(entry: dict) -> str:
    """One stage or boundary of a list, short: ``melt: 2500, 80 ps``."""
    entry = dict(entry)
    name = entry.pop("name", None) or entry.pop("label", None)
    parts = []
    for key, value in entry.items():
        unit = {"duration": " ps", "rate": " K/s"}.get(key, "")
        parts.append(f"{fmt(value)}{unit}" if key in ("temperature", "duration", "rate") else f"{key} {fmt(value)}")
    return f"{name}: {', '.join(parts)}" if name else ", ".join(parts)


def cell(value) -> str:
    return "—" if value is _MISSING else f"`{fmt(value)}`"


_MISSING = object()


def rule_for(stem: str, key: str):
    for pattern, unit, source in RULES[stem]:
        if fnmatch.fnmatchcase(key, pattern):
            return unit, source
    raise SystemExit(f"docs/make_protocols.py: no source for {stem}.yaml key {key!r}; add a rule to RULES[{stem!r}]")


def _same(a, b) -> bool:
    """Equal as values: YAML 1.1 reads ``1e-8`` as a string, a number for pacemaker and pw.x."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b


def source_of(stem: str, key: str, name: str, value, references, rule_source) -> str:
    matches = [label for label, values in references if key in values and _same(values[key], value)]
    if matches:
        return ", ".join(matches)
    if isinstance(rule_source, dict):
        return rule_source.get(name, rule_source.get("*"))
    return rule_source


def table(stem: str, data: dict, all_presets: dict, libraries: dict) -> list[str]:
    presets = data["protocols"]
    names = list(presets)
    flat = {name: flatten({k: v for k, v in preset.items() if k != "description"}) for name, preset in presets.items()}
    keys: list[str] = []
    for name in names:
        keys += [k for k in flat[name] if k not in keys]
    # the order of the YAML, a key that only a later preset has beside its relatives
    first: dict[str, int] = {}
    for key in keys:
        parts = key.split(".")
        for i in range(1, len(parts) + 1):
            first.setdefault(".".join(parts[:i]), len(first))
    keys.sort(key=lambda k: [first[".".join(k.split(".")[:i])] for i in range(1, len(k.split(".")) + 1)])
    references = {name: library_values(stem, name, presets[name], all_presets, libraries) for name in names}
    lines = ["| key | unit | " + " | ".join(f"`{n}`" for n in names) + " | source |",
             "| --- | --- | " + " | ".join("---" for _ in names) + " | --- |"]
    for key in keys:
        unit, rule_source = rule_for(stem, key)
        unit = PRESET_UNIT_OVERRIDES.get((stem, key), unit)
        sources: dict[str, list[str]] = {}
        for name in names:
            if key in flat[name]:
                text = source_of(stem, key, name, flat[name][key], references[name], rule_source)
                sources.setdefault(text, []).append(name)
        if len(sources) == 1:
            source = next(iter(sources))
        else:
            source = "; ".join(f"{', '.join(f'`{n}`' for n in who)}: {text}" for text, who in sources.items())
        values = " | ".join(cell(flat[name].get(key, _MISSING)) for name in names)
        lines.append(f"| `{key}` | {unit} | {values} | {source} |")
    return lines


def render() -> str:
    files = {stem: yaml.safe_load((PROTOCOLS / f"{stem}.yaml").read_text()) for stem in FILES}
    on_disk = sorted(p.stem for p in PROTOCOLS.glob("*.yaml"))
    missing = sorted(set(on_disk) - set(FILES))
    if missing:
        raise SystemExit(f"docs/make_protocols.py: add {missing} to FILES (and their RULES)")
    all_presets = {stem: data["protocols"] for stem, data in files.items()}
    libraries = {"qe": aiida_qe_defaults(), "pacemaker": pacemaker_defaults(),
                 "debyecalculator": debyecalculator_defaults()}
    out = [
        "# Protocols",
        "",
        "<!-- Generated by docs/make_protocols.py from aiida_bzs/workflows/protocols/*.yaml; do not edit. -->",
        "",
        "Every number of a run lives in a preset of `aiida_bzs/workflows/protocols/*.yaml`. "
        "`get_builder_from_protocol(..., protocol=NAME, overrides={...})` of each workchain copies the preset, "
        "merged with `overrides` (same keys, nested; an unknown key raises `ProtocolOverrideError` before "
        "anything runs), onto the workchain's inputs, so the node records every value it ran with and the "
        "YAML is not read again at run time. On the command line, `--protocol NAME`.",
        "",
        "**Sources.** *study §n*: the published study (Paşca, Liu, Anker, Steier, Deringer, *J. Mater. Chem. A* "
        "2025, doi:10.1039/d5ta04536c) as specified in section n of the campaign notes (the study's own "
        "parameters, and the headers of its two published ACE potentials); *aiida-quantumespresso*, "
        "*pacemaker*, *debyecalculator 1.1*: the value equals that library's default for the same setting "
        "(aiida-qe's PwBaseWorkChain/PwRelaxWorkChain protocol of the named precision, pacemaker's input "
        "template, `DebyeCalculator()`), pinned here so that a new release of the library cannot change "
        "the results; *LAMMPS*, *Quantum ESPRESSO*: their documentation's rule; *ours*: our choice, with "
        "the reason where one is short. The YAML files' comments give the longer reasons.",
        "",
        "Regenerate after editing a protocol file: `.venv/bin/python docs/make_protocols.py` "
        "(`tests/test_docs.py` fails while this page is stale).",
        "",
    ]
    for stem, (users, about) in FILES.items():
        data = files[stem]
        out += [f"## `{stem}.yaml`", "", f"Used by {users}. {about} Default preset: `{data['default_protocol']}`.", ""]
        for name, preset in data["protocols"].items():
            description = " ".join(str(preset.get("description", "")).split())
            out.append(f"- `{name}`: {description}" if description else f"- `{name}`")
        out += [""] + table(stem, data, all_presets, libraries) + [""]
    return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/protocols.md differs from the YAML")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print("docs/protocols.md is stale: run .venv/bin/python docs/make_protocols.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
