"""``LammpsParser`` (``bzs.lammps``): outputs of one stage, and the study's failure test on every frame.

Whatever LAMMPS got through is kept: thermo, trajectory and (when written) the final structure
are attached before an exit code reports a failure, so a broken run still shows how it broke.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from aiida import orm
from aiida.parsers import Parser
from ase import Atoms
from ase.data import atomic_numbers

from aiida_bzs.analysis.md_failure import check_frames, max_neighbours_without_contact, volume_proves_contact
from aiida_bzs.md.programme import normalise_stage
from aiida_bzs.analysis.density import mass_density
from aiida_bzs.analysis.md_sanity import SanityViolation, check_thermo
from aiida_bzs.calculations import lammps_input as li
from aiida_bzs.calculations.lammps import STDOUT, sanity_settings
from aiida_bzs.common.structure_nodes import LARGE_STRUCTURE_ATOMS, atoms_from_structure, structure_node, wants_large
from aiida_bzs.parsers.lammps_output import parse_log, read_dump, read_final_data

#: Units of the thermo arrays (stored as the ``units`` attribute of the ``thermo`` node).
THERMO_UNITS = {"step": "", "time": "ps", "temperature": "K", "pressure": "bar", "potential_energy": "eV",
                "kinetic_energy": "eV", "total_energy": "eV", "conserved_energy": "eV", "volume": "Å^3", "density": "g/cm^3",
                "lx": "Å", "ly": "Å", "lz": "Å"}


def final_structure(atoms: Atoms, start_node, threshold: int = LARGE_STRUCTURE_ATOMS):
    """The unstored output node of the final ``atoms``: a ``LargeStructureData`` when the input
    ``start_node`` was one or ``atoms`` has more than ``threshold`` atoms (a ``StructureData`` of
    10⁵ atoms takes tens of seconds to store), else a ``StructureData``. A ``LargeStructureData``
    keeps numbers, positions and non-standard masses only (velocities are the ``velocities``
    output; LAMMPS's ids and types are not structure)."""
    if not wants_large(len(atoms), start_node, threshold):
        return structure_node(atoms, large=False)
    packed = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    if "masses" in atoms.arrays and not np.allclose(atoms.arrays["masses"], packed.get_masses()):
        packed.set_masses(atoms.arrays["masses"])
    return structure_node(packed, large=True)


class LammpsParser(Parser):
    """Parse log.lammps, trajectory.dump (temporary) and final.data of a :class:`LammpsCalculation`."""

    def parse(self, **kwargs):
        node = self.node
        stage = normalise_stage(node.inputs.parameters.get_dict())
        start = atoms_from_structure(node.inputs.structure)
        species = li.lammps_species(start.get_chemical_symbols(), node.inputs.potential.elements)
        names = self.retrieved.base.repository.list_object_names()

        if li.LOG not in names:
            detail = self._tail(STDOUT, names) or self._tail("_scheduler-stderr.txt", names)
            return self.exit_codes.ERROR_OUTPUT_LOG_MISSING.format(detail=detail or "no output")
        log = parse_log(self.retrieved.base.repository.get_object_content(li.LOG))
        results: dict = {
            "lammps_version": log.version,
            "completed": log.completed,
            "timeout": log.timeout,
            "wall_time_s": log.wall_time_s,
            "loop_time_s": log.loop_time_s,
            "n_warnings": len(log.warnings),
            "errors": log.errors[:5],
            "n_atoms_start": len(start),
            "stage": stage["name"],
            "ensemble": stage["ensemble"],
        }

        if log.thermo:
            thermo = orm.ArrayData()
            for name, values in log.thermo.items():
                thermo.set_array(name, values)
            thermo.base.attributes.set("units", {k: THERMO_UNITS.get(k, "") for k in log.thermo})
            self.out("thermo", thermo)
            last = {k: float(v[-1]) for k, v in log.thermo.items()}
            results.update(
                final_step=int(last["step"]), temperature=last.get("temperature"), pressure=last.get("pressure"),
                potential_energy=last.get("potential_energy"), volume=last.get("volume"),
                density=last.get("density"),
            )
            if log.loop_time_s > 0 and stage["ensemble"] != "minimise":
                steps_run = float(np.ptp(log.thermo["step"]))
                results["atom_steps_per_s"] = steps_run * len(start) / log.loop_time_s
        if stage["ensemble"] != "minimise":
            results["target_steps"] = stage["steps"]
        if log.minimisation is not None:
            results["minimisation"] = log.minimisation
        # MD sanity on every thermo sample (temperature runaway, density window, energy drift)
        sanity = sanity_settings(node.inputs, start)
        violations = check_thermo(log.thermo, stage, len(start), sanity,
                                  new_velocities="velocities" not in node.inputs)
        if log.halt and not violations:
            violations = [self._halt_violation(log, stage, start, sanity)]
        results["sanity"] = {"violations": [v.as_dict() for v in violations], "halted": log.halt,
                             "thresholds": sanity}

        frames = self._frames(kwargs.get("retrieved_temporary_folder"), species, start)
        final = None
        if li.FINAL_DATA in names:
            with self.retrieved.as_path(li.FINAL_DATA) as path:
                final = li.rotate_back(read_final_data(path, species), start.cell[:])
            self.out("structure", final_structure(final, node.inputs.structure))
            if stage["ensemble"] != "minimise":
                velocities = orm.ArrayData()
                velocities.set_array("velocities", final.get_velocities() / li.ANGSTROM_PER_PS)
                self.out("velocities", velocities)

        check_list = list(frames) + ([final] if final is not None else [])
        report = check_frames(check_list, n_expected=len(start))
        results["failure"] = report.summary()
        results["n_frames"] = len(frames)
        # closest approach (Å, None above the probe distance) of each dumped frame, then of the final structure
        results["min_distance_per_frame"] = [float(x) if np.isfinite(x) else None for x in report.min_distance]
        if frames:
            self.out("trajectory", self._trajectory(frames, stage))
            gamma = self._gamma(kwargs.get("retrieved_temporary_folder"), frames)
            if gamma is not None:
                self.out("gamma", gamma)
        if log.timeout or not log.completed:
            results["restart_file"] = li.FINAL_RESTART if log.timeout else li.PERIODIC_RESTART

        # the study's failure first: it is what a user must see. LAMMPS's own failure message says
        # why the run stopped; otherwise the first failing frame does; otherwise a cell or a
        # neighbour list too dense for atoms 1 Å apart proves a contact between dumps.
        kind = log.error_kind
        reason, evidence = report.reason, None
        if kind in ("atoms_too_close", "lost_atoms"):
            reason, evidence = kind, log.errors[0]
        elif reason is None:
            evidence = self._contact_between_frames(log, kind, len(start), report.threshold)
            reason = "atoms_too_close" if evidence else None
        if evidence:
            results["failure"].update(failed=True, evidence=evidence)
            results["failure"]["failure_reason"] = results["failure"]["failure_reason"] or reason
        self.out("results", orm.Dict(results))
        if reason == "atoms_too_close":
            frame = report.failed_frame if report.failed else len(check_list)
            step = int(frames[frame].info["step"]) if report.failed and frame < len(frames) else results.get("final_step")
            return self.exit_codes.ERROR_ATOMS_TOO_CLOSE.format(threshold=report.threshold, frame=frame, step=step)
        if reason == "lost_atoms":
            return self.exit_codes.ERROR_LOST_ATOMS.format(detail=(log.errors or ["fewer atoms in a frame"])[0])
        if violations:
            first = violations[0]
            self.logger.warning(f"stage {stage['name']!r}: {first.message} at {first.time:.3f} ps")
            code = {"temperature": "ERROR_TEMPERATURE_RUNAWAY", "density": "ERROR_DENSITY_OUT_OF_WINDOW"}.get(
                first.criterion, "ERROR_ENERGY_DRIFT")
            return self.exit_codes[code].format(stage=stage["name"], time=first.time, step=first.step,
                                                detail=first.message)
        if kind == "neighbour_overflow":
            return self.exit_codes.ERROR_NEIGHBOUR_OVERFLOW
        if kind == "other":
            return self.exit_codes.ERROR_LAMMPS.format(message=log.errors[0])
        if log.timeout:
            return self.exit_codes.ERROR_OUT_OF_WALLTIME.format(step=results.get("final_step"))
        if not log.completed:
            return self.exit_codes.ERROR_INTERRUPTED
        if final is None:
            return self.exit_codes.ERROR_OUTPUT_FINAL_MISSING
        if log.minimisation is not None and not log.minimisation["converged"]:
            criterion = log.minimisation.get("criterion")
            if log.minimisation.get("out_of_budget"):
                return self.exit_codes.ERROR_MINIMISATION_NOT_CONVERGED.format(criterion=criterion)
            # 'linesearch alpha is zero', 'quadratic factors are zero', ...: rerunning stalls the same way
            return self.exit_codes.ERROR_MINIMISATION_STALLED.format(
                criterion=criterion, force_max=log.minimisation.get("force_max_final"))
        return None

    def _halt_violation(self, log, stage: dict, start: Atoms, sanity: dict) -> SanityViolation:
        """LAMMPS's own check (fix halt) stopped the run at a step the thermo does not show."""
        step = int(log.halt["step"])
        time = step * stage.get("timestep", 0.0) / 1000.0
        names = self.retrieved.base.repository.list_object_names()
        density = None
        if li.FINAL_DATA in names:
            species = li.lammps_species(start.get_chemical_symbols(), self.node.inputs.potential.elements)
            with self.retrieved.as_path(li.FINAL_DATA) as path:
                density = mass_density(read_final_data(path, species))
        low, high = (w * sanity["reference_density"] for w in sanity["density_window"] or (0.0, float("inf")))
        if density is not None and not low <= density <= high:
            return SanityViolation("density", step, time, density, low if density < low else high,
                                   f"density {density:.3g} g/cm³ outside [{low:.3g}, {high:.3g}] g/cm³ "
                                   f"(LAMMPS halted at step {step})")
        return SanityViolation("temperature", step, time, float("nan"), float("nan"),
                               f"LAMMPS halted at step {step}: temperature or density beyond its limit")

    def _contact_between_frames(self, log, kind: str | None, n_atoms: int, threshold: float) -> str | None:
        """Why the run must have had atoms closer than ``threshold`` Å although no frame shows it."""
        thermo = log.thermo
        if "volume" in thermo:
            dense = volume_proves_contact(thermo["volume"], n_atoms, threshold)
            if dense.any():
                step = int(thermo["step"][np.argmax(dense)])
                return f"at step {step} the cell is too small for {n_atoms} atoms {threshold} Å apart"
        if kind == "neighbour_overflow":
            settings = self.node.inputs.settings.get_dict() if "settings" in self.node.inputs else {}
            neighbour = {**li.NEIGHBOUR_DEFAULTS, **settings.get("neighbour", {})}
            radius = self.node.inputs.potential.cutoff + float(neighbour["skin"])
            bound = max_neighbours_without_contact(radius, threshold)
            if int(neighbour["one"]) >= bound:
                return (f"an atom had more than {neighbour['one']} neighbours within {radius:.1f} Å; at most "
                        f"{bound} fit without two atoms closer than {threshold} Å")
        return None

    def _tail(self, name: str, names: list[str]) -> str:
        if name in names:
            return self.retrieved.base.repository.get_object_content(name)[-500:].strip()
        return ""

    @staticmethod
    def _frames(temporary: str | None, species: list[str], start: Atoms) -> list[Atoms]:
        """Dumped frames as Atoms in the input structure's frame (``info['step']`` set)."""
        if not temporary or not (Path(temporary) / li.DUMP).is_file():
            return []
        dump = read_dump(Path(temporary) / li.DUMP)
        numbers = np.array([atomic_numbers[el] for el in species])
        frames = []
        for step, cell, types, positions in zip(dump.steps, dump.cells, dump.types, dump.positions):
            atoms = li.rotate_back(Atoms(numbers[types - 1], positions=positions, cell=cell, pbc=True),
                                   start.cell[:])
            atoms.info["step"] = int(step)
            frames.append(atoms)
        return frames

    @staticmethod
    def _gamma(temporary: str | None, frames: list[Atoms]) -> orm.ArrayData | None:
        """γ per dumped frame as LAMMPS computed it (``f_pace_gamma``), in the grade job's layout."""
        if not temporary or not (Path(temporary) / li.DUMP).is_file():
            return None
        dump = read_dump(Path(temporary) / li.DUMP)
        if dump.gamma is None:
            return None
        from aiida_bzs.analysis.extrapolation import RELIABLE_GAMMA

        n = len(frames)
        per_frame = [np.asarray(g, dtype=float) for g in dump.gamma[:n]]
        node = orm.ArrayData()
        node.set_array("step", np.asarray(dump.steps[:n], dtype=int))
        node.set_array("max_gamma", np.array([g.max() for g in per_frame]))
        node.set_array("mean_gamma", np.array([g.mean() for g in per_frame]))
        node.set_array("fraction_above_2", np.array([np.mean(g > RELIABLE_GAMMA) for g in per_frame]))
        node.set_array("fraction_above_5", np.array([np.mean(g > 5.0) for g in per_frame]))
        node.base.attributes.set("reliable_gamma", RELIABLE_GAMMA)
        node.base.attributes.set("source", "LAMMPS pair_style pace/extrapolation")
        return node

    @staticmethod
    def _trajectory(frames: list[Atoms], stage: dict) -> orm.TrajectoryData:
        """TrajectoryData of the frames with the starting atom count (a lost-atom frame ends it)."""
        n = len(frames[0])
        kept = []
        for atoms in frames:
            if len(atoms) != n:
                break
            kept.append(atoms)
        trajectory = orm.TrajectoryData()
        steps = np.array([a.info["step"] for a in kept], dtype=int)
        times = steps * stage["timestep"] / 1000.0 if stage["ensemble"] != "minimise" else None
        trajectory.set_trajectory(
            symbols=kept[0].get_chemical_symbols(),
            positions=np.array([a.positions for a in kept]),
            stepids=steps,
            cells=np.array([a.cell[:] for a in kept]),
            times=times,
            pbc=[True, True, True],
        )
        return trajectory
