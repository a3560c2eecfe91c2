"""MD stage programmes: validated stage descriptions and their step counts.

A stage is one LAMMPS run (``nvt``, ``npt``, ``nve``) or one minimisation (``minimise``).
Protocols describe MD stages by physical quantities — a duration in ps, or a quench rate in K/s
between two temperatures — and :func:`build_programme` turns them into step counts with the
timestep (fs), so the same protocol means the same physics at any timestep. Every check that can
fail here fails before a job is submitted, with a message that names the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: Stage kinds: three MD ensembles and energy minimisation.
ENSEMBLES = ("nvt", "npt", "nve", "minimise")
#: Barostat couplings (LAMMPS ``fix npt`` / ``fix box/relax``); ``z`` moves only the cell vector
#: normal to the plane of the a and b vectors (grain boundaries lying in that plane).
CELL_COUPLINGS = ("iso", "aniso", "tri", "z")

#: Defaults of an MD stage (LAMMPS metal units are converted by the input writer).
MD_DEFAULTS = {
    "timestep": 1.0,          # fs
    "tdamp": 100.0,           # fs, Nosé–Hoover thermostat damping (100 timesteps)
    "pdamp": 1000.0,          # fs, barostat damping (1000 timesteps)
    "pressure": 0.0,          # bar
    "barostat": "iso",
    "dump_interval": 1000,    # steps between trajectory frames
    "thermo_interval": 100,   # steps between thermodynamic samples
    "seed": 4928459,          # velocity seed when velocities are created
}
#: Defaults of a minimisation stage.
MIN_DEFAULTS = {
    "etol": 0.0,              # relative energy tolerance (0: force criterion only)
    "ftol": 1.0e-3,           # eV/Å, force-norm tolerance
    "maxiter": 10000,
    "maxeval": 100000,
    "box_relax": None,        # None (positions only) or one of CELL_COUPLINGS
    "pressure": 0.0,          # bar, target of the box relaxation
    "vmax": 0.001,            # largest fractional volume change per iteration
    "linesearch": None,       # None (LAMMPS default, quadratic) or one of LINESEARCHES
    "dump_interval": 100,     # iterations between trajectory frames
    "thermo_interval": 10,
}
#: fs in a ps, and s in a fs (durations are in ps, quench rates in K/s, timesteps in fs).
FS_PER_PS = 1000.0
S_PER_FS = 1.0e-15
#: Line searches of LAMMPS's ``min_modify line``.
LINESEARCHES = ("backtrack", "quadratic", "forcezero")
_COMMON = {"name", "ensemble"}
_MD_KEYS = _COMMON | {"temperature", "steps"} | set(MD_DEFAULTS)
_MIN_KEYS = _COMMON | set(MIN_DEFAULTS)
#: Keys a protocol stage may use instead of ``steps`` (converted by :func:`build_programme`).
_PROTOCOL_KEYS = {"duration", "rate"}


class MdInputError(ValueError):
    """An MD stage or programme cannot be run as given; the message says what to change."""


def _number(stage: Mapping, key: str, name: str, positive: bool = True, allow_zero: bool = False) -> float:
    try:
        value = float(stage[key])
    except (TypeError, ValueError):
        raise MdInputError(f"stage {name!r}: {key} must be a number, got {stage[key]!r}") from None
    if not np.isfinite(value):
        raise MdInputError(f"stage {name!r}: {key} must be finite, got {value}")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        raise MdInputError(f"stage {name!r}: {key} must be > 0, got {value}")
    return value


def _integer(stage: Mapping, key: str, name: str, minimum: int = 1) -> int:
    value = stage[key]
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < minimum:
        raise MdInputError(f"stage {name!r}: {key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def temperatures(stage: Mapping, name: str) -> tuple[float, float]:
    """(start, stop) temperature in K of an MD stage; a single number means a constant temperature."""
    raw = stage.get("temperature")
    if raw is None:
        raise MdInputError(f"stage {name!r}: an MD stage needs a temperature (K), e.g. 300 or [2500, 300]")
    values = list(raw) if isinstance(raw, (list, tuple)) else [raw, raw]
    if len(values) != 2:
        raise MdInputError(f"stage {name!r}: temperature must be one value or [start, stop] in K, got {raw!r}")
    out = []
    for value in values:
        try:
            t = float(value)
        except (TypeError, ValueError):
            raise MdInputError(f"stage {name!r}: temperature must be numbers in K, got {raw!r}") from None
        if not np.isfinite(t) or t <= 0:
            raise MdInputError(
                f"stage {name!r}: temperatures must be > 0 K (a thermostat cannot target {t} K), got {raw!r}"
            )
        out.append(t)
    return out[0], out[1]


def normalise_stage(stage: Mapping) -> dict:
    """Validate one stage (with ``steps``) and fill the defaults; raise :class:`MdInputError`.

    MD stage keys: ``ensemble`` (nvt/npt/nve), ``temperature`` (K, value or [start, stop]),
    ``steps``, ``timestep`` (fs), ``tdamp``/``pdamp`` (fs), ``pressure`` (bar), ``barostat``,
    ``dump_interval``/``thermo_interval`` (steps), ``seed``. Minimisation keys: ``etol``,
    ``ftol`` (eV/Å), ``maxiter``, ``maxeval``, ``box_relax`` (None or a coupling),
    ``pressure`` (bar), ``vmax``, ``linesearch``. ``name`` labels the stage (default: the ensemble).
    """
    if not isinstance(stage, Mapping):
        raise MdInputError(f"a stage must be a mapping of settings, got {stage!r}")
    ensemble = str(stage.get("ensemble", "")).lower().replace("minimize", "minimise")
    name = str(stage.get("name") or ensemble or "stage")
    if ensemble not in ENSEMBLES:
        raise MdInputError(f"stage {name!r}: ensemble must be one of {ENSEMBLES}, got {stage.get('ensemble')!r}")
    allowed = _MIN_KEYS if ensemble == "minimise" else _MD_KEYS
    unknown = sorted(set(stage) - allowed)
    if unknown:
        raise MdInputError(f"stage {name!r}: unknown keys {unknown}; allowed: {sorted(allowed)}")
    if ensemble == "minimise":
        out = {**MIN_DEFAULTS, **stage, "name": name, "ensemble": ensemble}
        for key in ("etol", "ftol"):
            out[key] = _number(out, key, name, allow_zero=True)
        if out["etol"] == 0 and out["ftol"] == 0:
            raise MdInputError(f"stage {name!r}: etol and ftol are both 0; the minimiser would never converge")
        out["vmax"] = _number(out, "vmax", name)
        out["pressure"] = _number(out, "pressure", name, positive=False)
        for key in ("maxiter", "maxeval", "dump_interval", "thermo_interval"):
            out[key] = _integer(out, key, name)
        if out["linesearch"] is not None and out["linesearch"] not in LINESEARCHES:
            raise MdInputError(
                f"stage {name!r}: linesearch must be None or one of {LINESEARCHES}, got {out['linesearch']!r}"
            )
        if out["box_relax"] is not None and out["box_relax"] not in CELL_COUPLINGS:
            raise MdInputError(
                f"stage {name!r}: box_relax must be None or one of {CELL_COUPLINGS}, got {out['box_relax']!r}"
            )
        return out
    out = {**MD_DEFAULTS, **stage, "name": name, "ensemble": ensemble}
    if "steps" not in out:
        raise MdInputError(f"stage {name!r}: give the number of steps (or a duration/rate in a protocol)")
    out["steps"] = _integer(out, "steps", name)
    out["temperature"] = list(temperatures(out, name))
    for key in ("timestep", "tdamp", "pdamp"):
        out[key] = _number(out, key, name)
    out["pressure"] = _number(out, "pressure", name, positive=False)
    for key in ("dump_interval", "thermo_interval", "seed"):
        out[key] = _integer(out, key, name)
    if out["barostat"] not in CELL_COUPLINGS:
        raise MdInputError(f"stage {name!r}: barostat must be one of {CELL_COUPLINGS}, got {out['barostat']!r}")
    if out["tdamp"] < out["timestep"]:
        raise MdInputError(
            f"stage {name!r}: tdamp {out['tdamp']} fs is shorter than the timestep {out['timestep']} fs; "
            "use about 100 timesteps"
        )
    return out


def duration_to_steps(duration_ps: float, timestep_fs: float) -> int:
    """Number of steps in ``duration_ps`` ps at ``timestep_fs`` fs (rounded to the nearest step)."""
    return int(round(duration_ps * FS_PER_PS / timestep_fs))


def quench_steps(t_start: float, t_stop: float, rate_k_per_s: float, timestep_fs: float) -> int:
    """Steps to change the temperature from ``t_start`` to ``t_stop`` (K) at ``rate`` K/s.

    The time is ``|ΔT| / rate`` seconds, divided by the timestep (1 fs = 1e-15 s).
    """
    return int(round(abs(t_start - t_stop) / rate_k_per_s / (timestep_fs * S_PER_FS)))


def build_programme(stages: Sequence[Mapping], timestep: float = MD_DEFAULTS["timestep"]) -> list[dict]:
    """Turn protocol stages into validated stages with step counts.

    Each MD stage gives exactly one of ``steps``, ``duration`` (ps) or ``rate`` (K/s, between its
    start and stop temperatures); ``timestep`` (fs) applies to stages that do not set their own.
    :returns: the normalised stages (see :func:`normalise_stage`), in order.
    """
    if isinstance(stages, (str, bytes)) or not isinstance(stages, Sequence) or len(stages) == 0:
        raise MdInputError("the stage list is empty; give at least one stage (e.g. from a protocol preset)")
    timestep = float(timestep)
    if not np.isfinite(timestep) or timestep <= 0:
        raise MdInputError(f"timestep must be > 0 fs, got {timestep}")
    programme = []
    names = set()
    for index, raw in enumerate(stages):
        if not isinstance(raw, Mapping):
            raise MdInputError(f"stage {index} must be a mapping of settings, got {raw!r}")
        stage = dict(raw)
        ensemble = str(stage.get("ensemble", "")).lower()
        name = str(stage.get("name") or f"{ensemble}_{index}")
        if name in names:
            name = f"{name}_{index}"
        names.add(name)
        stage["name"] = name
        if ensemble in ("minimise", "minimize"):
            extra = sorted(set(stage) & (_PROTOCOL_KEYS | {"steps", "temperature"}))
            if extra:
                raise MdInputError(f"stage {name!r}: a minimisation takes no {extra}")
            programme.append(normalise_stage(stage))
            continue
        stage.setdefault("timestep", timestep)
        given = [k for k in ("steps", "duration", "rate") if k in stage]
        if len(given) != 1:
            raise MdInputError(
                f"stage {name!r}: give exactly one of steps, duration (ps) or rate (K/s); got {given or 'none'}"
            )
        dt = _number(stage, "timestep", name)
        if "duration" in stage:
            duration = _number(stage, "duration", name)
            stage["steps"] = duration_to_steps(duration, dt)
            if stage["steps"] < 1:
                raise MdInputError(
                    f"stage {name!r}: {duration} ps at a {dt} fs timestep gives zero steps; "
                    "lengthen the stage or shorten the timestep"
                )
        elif "rate" in stage:
            rate = _number(stage, "rate", name)
            t0, t1 = temperatures(stage, name)
            if t0 == t1:
                raise MdInputError(f"stage {name!r}: a quench rate needs different start and stop temperatures")
            stage["steps"] = quench_steps(t0, t1, rate, dt)
            if stage["steps"] < 1:
                raise MdInputError(
                    f"stage {name!r}: {t0:g} → {t1:g} K at {rate:g} K/s with a {dt} fs timestep gives zero "
                    "steps; lower the rate or shorten the timestep"
                )
        stage.pop("duration", None)
        stage.pop("rate", None)
        programme.append(normalise_stage(stage))
    return programme


def stage_duration_ps(stage: Mapping) -> float:
    """Simulated time of an MD stage in ps (0 for a minimisation)."""
    if stage["ensemble"] == "minimise":
        return 0.0
    return stage["steps"] * stage["timestep"] / FS_PER_PS


def target_temperature(stage: Mapping, step: np.ndarray) -> np.ndarray:
    """Thermostat target (K) at ``step`` steps into an MD stage (LAMMPS ramps linearly)."""
    t0, t1 = stage["temperature"]
    fraction = np.clip(np.asarray(step, dtype=float) / stage["steps"], 0.0, 1.0)
    return t0 + (t1 - t0) * fraction


def summary(programme: Sequence[Mapping]) -> list[dict]:
    """One row per stage: name, ensemble, steps, duration (ps), start/stop temperature (K)."""
    rows = []
    for stage in programme:
        row = {"name": stage["name"], "ensemble": stage["ensemble"]}
        if stage["ensemble"] != "minimise":
            row.update(steps=stage["steps"], duration_ps=stage_duration_ps(stage),
                       temperature_start=stage["temperature"][0], temperature_stop=stage["temperature"][1])
        rows.append(row)
    return rows


#: Protocol ``stage_defaults`` that also apply to minimisation stages (the rest are MD-only).
_DEFAULTS_FOR_MINIMISE = ("pressure",)


def apply_stage_defaults(stages: Sequence[Mapping], defaults: Mapping | None) -> list[dict]:
    """Stages with a protocol's ``stage_defaults`` filled in (a stage's own values win).

    Minimisation stages take only the pressure from the defaults (bar).
    """
    defaults = dict(defaults or {})
    out = []
    for stage in stages:
        ensemble = str(stage.get("ensemble", defaults.get("ensemble", ""))).lower()
        if ensemble in ("minimise", "minimize"):
            base = {k: v for k, v in defaults.items() if k in _DEFAULTS_FOR_MINIMISE}
        else:
            base = defaults
        out.append({**base, **dict(stage)})
    return out


def quench_stage_index(programme: Sequence[Mapping]) -> int | None:
    """Index of the quench: the last MD stage whose temperature falls (None if no stage cools).

    Its final structure is the melt–quench product even if a later stage (equilibration,
    minimisation) fails.
    """
    index = None
    for k, stage in enumerate(programme):
        if stage["ensemble"] != "minimise" and stage["temperature"][1] < stage["temperature"][0]:
            index = k
    return index
