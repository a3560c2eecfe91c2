"""MD sanity criteria on the thermo output, beside the study's 1 Å / lost-atoms failure test.

A potential can fail without ever bringing two atoms within 1 Å: it heats the cell far beyond
the thermostat's target, boils it into a gas, or pours potential energy into unphysical wells.
Each is checked on every thermo sample of a stage (``log.lammps``), not only on the sparse dumps,
and the temperature and density ones are also checked by LAMMPS itself while it runs
(``fix halt``, see :func:`halt_commands`) so that a runaway stops within ``check_every`` steps
instead of burning the rest of its wall time. Thresholds (``protocols/*.yaml``, key ``sanity``):

- ``temperature``: T(t) > max(``temperature_factor`` × T_target(t), T_target(t) +
  ``temperature_margin``) K. A Nosé–Hoover thermostat keeps a working potential within a few
  hundred K of its target even at 10 K/fs quench rates; a factor 2 (and 2000 K above a cold
  target) is far outside that and far below the 40,000 K of a potential that has broken.
- ``density``: ρ(t) outside [``density_window``] × ρ_ref (ρ_ref: the starting density of the
  programme, else of the stage). The amorphous phase is 92.5 % of the crystal and the melt at
  2500 K about 85 %; below half the starting density the cell is boiling into a gas (0.09 g/cm³
  in issue #12), above 1.5× it is collapsing.
- ``conserved_drift``: ``|E_cons(t) − E_cons(0)| / N`` > ``max_conserved_drift`` eV/atom, E_cons the
  thermo keyword ``econserve`` (total energy plus the energy exchanged with the thermostat and
  barostat; NVE: the total energy). It is a constant of motion only while the thermostat's
  target is constant, so stages that ramp the temperature are not checked (measured: a 2 fs
  ramp 300 → 2500 K moves it by 0.09 eV/atom with a sound integrator). At a constant 2500 K
  the tiny test potential drifts by 1.7e-3 eV/atom/ps at 2 fs (less at 1 fs: about dt²);
  0.1 eV/atom (the kinetic energy of ~770 K) means the timestep or the forces are broken
  (40 fs NVE: 0.63 eV/atom within 0.8 ps).
- ``potential_energy``: ``|E_pot(t) − E_pot(0)| / N`` > ``max_potential_energy_change`` + 3 k_B
  ``|T_target(t) − T_target(0)|`` eV/atom. Heating 300 → 2500 K raises E_pot by about 3/2 k_B ΔT
  (0.28 eV/atom) plus the heat of melting; the allowance 3 k_B ΔT (0.57 eV/atom) covers both, and
  1.5 eV/atom beyond it is an energy no physical process at a fixed target releases — a broken
  potential whose atoms fall into deep unphysical wells (the thermostat hides the heat, so
  E_cons stays flat).

A stage that draws new velocities (the first stage of a programme, the first after a minimisation)
starts from a structure that is not in equilibrium at its temperature: a random hard-sphere box
releases its strain as heat (16,700 K after 20 fs at a 1500 K target with the tiny potential)
until the thermostat (τ = 0.1 ps) removes it. For ``settle_time`` ps (0.5: five thermostat times)
such a stage is not checked for temperature and energy, and the energy baselines are its first
sample after that; the density window applies from the first step. A stage that continues with the
previous stage's velocities is checked from its first step.

Minimisations are checked for the density window only. Set a threshold to ``None`` to disable it.
Pure numpy; no AiiDA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
from ase.units import kB

from ..md.programme import target_temperature

#: Defaults of every threshold (units in the module docstring); protocols override them.
DEFAULT_SANITY = {
    "temperature_factor": 2.0,             # × target temperature
    "temperature_margin": 2000.0,          # K above the target
    "density_window": [0.5, 1.5],          # × reference density
    "max_conserved_drift": 0.1,            # eV/atom, stages at a constant target temperature
    "max_potential_energy_change": 1.5,    # eV/atom beyond 3 k_B |ΔT_target|
    "settle_time": 0.5,                    # ps not checked for T and energy after new velocities
    "check_every": 10,                     # steps between LAMMPS's own checks (fix halt)
    "halt": True,                          # stop LAMMPS at a temperature or density violation
    "reference_density": None,             # g/cm³; None: the stage's starting density
}
#: Criteria in the order they are reported when two trip at the same step.
CRITERIA = ("temperature", "density", "conserved_drift", "potential_energy")


class SanityInputError(ValueError):
    """Sanity thresholds that cannot be used; the message names the fix."""


@dataclass(frozen=True)
class SanityViolation:
    """The first thermo sample at which ``criterion`` tripped: ``step``, stage ``time`` (ps),
    ``value`` and ``limit`` in the criterion's unit (K, g/cm³, eV/atom), and a sentence."""

    criterion: str
    step: int
    time: float
    value: float
    limit: float
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def normalise_sanity(settings: Mapping | None) -> dict:
    """Defaults filled in, unknown keys and impossible values refused."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(DEFAULT_SANITY))
    if unknown:
        raise SanityInputError(f"unknown sanity settings {unknown}; allowed: {sorted(DEFAULT_SANITY)}")
    out = {**DEFAULT_SANITY, **settings}
    if out["settle_time"] is None or float(out["settle_time"]) < 0:
        raise SanityInputError(f"sanity settle_time must be >= 0 ps, got {out['settle_time']!r}")
    for key in ("temperature_factor", "temperature_margin", "max_conserved_drift", "max_potential_energy_change",
                "reference_density"):
        if out[key] is not None and not float(out[key]) > 0:
            raise SanityInputError(f"sanity {key} must be > 0 or None (disabled), got {out[key]!r}")
    window = out["density_window"]
    if window is not None:
        if len(window) != 2 or not 0 <= float(window[0]) < 1 < float(window[1]):
            raise SanityInputError(f"sanity density_window must be [low < 1, high > 1] × the reference density, "
                                   f"got {window!r}")
        out["density_window"] = [float(window[0]), float(window[1])]
    if int(out["check_every"]) < 1:
        raise SanityInputError(f"sanity check_every must be >= 1 step, got {out['check_every']!r}")
    return out


def temperature_limit(target: np.ndarray, settings: Mapping) -> np.ndarray:
    """Highest acceptable temperature (K) at thermostat targets ``target`` (K)."""
    target = np.asarray(target, dtype=float)
    factor = settings["temperature_factor"] or np.inf
    margin = settings["temperature_margin"] or np.inf
    return np.maximum(factor * target, target + margin)


def density_limits(reference: float, settings: Mapping) -> tuple[float, float] | None:
    """(lowest, highest) acceptable density in g/cm³ around ``reference``, or None when disabled."""
    window = settings["density_window"]
    if window is None or reference is None:
        return None
    return window[0] * reference, window[1] * reference


def check_thermo(
    thermo: Mapping[str, np.ndarray],
    stage: Mapping,
    n_atoms: int,
    settings: Mapping | None = None,
    reference_density: float | None = None,
    new_velocities: bool = False,
) -> list[SanityViolation]:
    """First violation of each criterion in a stage's thermo table, earliest first.

    :param thermo: arrays of :func:`aiida_bzs.parsers.lammps_output.parse_log` (step, time ps,
        temperature K, density g/cm³, potential_energy and conserved_energy eV).
    :param stage: the normalised stage (ensemble, temperature ramp, steps, timestep fs).
    :param reference_density: g/cm³; default ``settings['reference_density']``, else the first sample.
    :param new_velocities: the stage drew new velocities: temperature and energy are checked only
        after ``settle_time`` ps.
    """
    settings = normalise_sanity(settings)
    if not thermo or not len(thermo.get("step", [])):
        return []
    step = np.asarray(thermo["step"], dtype=float)
    time = (np.asarray(thermo["time"], dtype=float) if "time" in thermo
            else step * stage.get("timestep", 1.0) / 1000.0)
    found: list[SanityViolation] = []

    def first(criterion, bad, value, limit, sentence):
        if np.any(bad):
            k = int(np.argmax(bad))
            found.append(SanityViolation(criterion, int(step[k]), float(time[k]), float(value[k]), float(limit[k]),
                                         sentence(k)))

    minimise = stage["ensemble"] == "minimise"
    settled = step >= settle_steps(stage, settings) if new_velocities else np.ones(len(step), dtype=bool)
    if not minimise and "temperature" in thermo and settings["temperature_factor"] is not None:
        temp = np.asarray(thermo["temperature"], dtype=float)
        target = target_temperature(stage, step)
        limit = temperature_limit(target, settings)
        first("temperature", settled & ~(temp <= limit), temp, limit,
              lambda k: f"temperature {temp[k]:.0f} K above the limit {limit[k]:.0f} K "
                        f"(thermostat target {target[k]:.0f} K)")

    reference = reference_density or settings["reference_density"]
    if "density" in thermo:
        density = np.asarray(thermo["density"], dtype=float)
        reference = reference or float(density[0])
        limits = density_limits(reference, settings)
        if limits is not None:
            low, high = limits
            limit = np.where(density < low, low, high)
            first("density", ~((density >= low) & (density <= high)), density, limit,
                  lambda k: f"density {density[k]:.3g} g/cm³ outside [{low:.3g}, {high:.3g}] g/cm³ "
                            f"({settings['density_window'][0]}–{settings['density_window'][1]} × {reference:.3g})")

    if not minimise and n_atoms > 0 and settled.any():
        base = int(np.argmax(settled))  # energy baselines: the first settled sample
        conserved = thermo.get("conserved_energy")
        if conserved is None and stage["ensemble"] == "nve":
            conserved = thermo.get("total_energy")
        constant = stage["temperature"][0] == stage["temperature"][1]
        if conserved is not None and constant and settings["max_conserved_drift"] is not None:
            drift = np.abs(np.asarray(conserved, dtype=float) - conserved[base]) / n_atoms
            limit = np.full_like(drift, settings["max_conserved_drift"])
            first("conserved_drift", settled & ~(drift <= limit), drift, limit,
                  lambda k: f"conserved energy drifted by {drift[k]:.3g} eV/atom (limit {limit[k]:.3g} eV/atom): "
                            "timestep too large or forces broken")
        if "potential_energy" in thermo and settings["max_potential_energy_change"] is not None:
            pe = np.asarray(thermo["potential_energy"], dtype=float)
            change = np.abs(pe - pe[base]) / n_atoms
            target = target_temperature(stage, step)
            limit = settings["max_potential_energy_change"] + 3.0 * kB * np.abs(target - target[base])
            first("potential_energy", settled & ~(change <= limit), change, limit,
                  lambda k: f"potential energy changed by {change[k]:.3g} eV/atom (limit {limit[k]:.3g} eV/atom "
                            "at this thermostat target): the potential releases energy no physical process does")

    order = {name: k for k, name in enumerate(CRITERIA)}
    return sorted(found, key=lambda v: (v.step, order[v.criterion]))


def settle_steps(stage: Mapping, settings: Mapping) -> int:
    """Steps of ``settle_time`` ps at the stage's timestep (fs)."""
    return int(round(float(settings["settle_time"]) * 1000.0 / float(stage.get("timestep", 1.0))))


def halt_commands(stage: Mapping, settings: Mapping | None, reference_density: float | None,
                  new_velocities: bool = False) -> list[str]:
    """LAMMPS lines that stop a stage (``fix halt ... error soft``) at a temperature or density violation.

    ``error soft`` ends the run and lets the input go on, so ``final.data`` is still written and
    the parser finds the violation in the thermo (LAMMPS prints the last step). Empty when
    ``halt`` is off or there is nothing to check.
    """
    settings = normalise_sanity(settings)
    if not settings["halt"]:
        return []
    conditions, lines = [], []
    if stage["ensemble"] != "minimise" and settings["temperature_factor"] is not None:
        t0, t1 = stage["temperature"]
        steps = max(int(stage["steps"]), 1)
        factor = float(settings["temperature_factor"])
        margin = float(settings["temperature_margin"] or 1e30)
        lines += [f'variable bzs_target equal "{t0} + ({t1} - {t0})*step/{steps}"',
                  f'variable bzs_tlimit equal "ternary({factor}*v_bzs_target > v_bzs_target + {margin}, '
                  f'{factor}*v_bzs_target, v_bzs_target + {margin})"']
        settle = settle_steps(stage, settings) if new_velocities else 0
        conditions.append(f"((step >= {settle}) && (temp > v_bzs_tlimit))" if settle else "(temp > v_bzs_tlimit)")
    reference = reference_density or settings["reference_density"]
    limits = density_limits(reference, settings) if reference else None
    if limits is not None:
        conditions.append(f"(density < {limits[0]:.6g}) || (density > {limits[1]:.6g})")
    if not conditions:
        return []
    lines.append(f'variable bzs_insane equal "{" || ".join(conditions)}"')
    lines.append(f"fix bzs_halt all halt {int(settings['check_every'])} v_bzs_insane > 0.5 error soft message yes")
    return lines
