"""Inputs of one PBEsol ``pw.x`` single point (energy, forces, stress) from a protocol.

The builder is aiida-quantumespresso's own ``PwBaseWorkChain.get_builder_from_protocol``; a preset
of ``protocols/pw.yaml`` is a set of *overrides* of aiida-quantumespresso's preset named by its
``qe_protocol`` (the values where the campaign differs from aiida-qe, or which the labels must not
inherit from a future aiida-qe release). :func:`pw_settings` resolves a preset, the caller's
overrides, the pseudo family and the cutoffs into one complete mapping of aiida-qe overrides in
which every number is explicit; that mapping is what a workchain records on its node, and
:func:`builder_from_settings` turns it into a builder for any structure. Shared by the demo single
point and the DFT labelling workchain, so every label in the campaign uses the same named settings.
"""

from __future__ import annotations

import copy
from typing import Any

from aiida import orm
from aiida_quantumespresso.calculations.pw import PwCalculation
from aiida_quantumespresso.workflows.pw.base import PwBaseWorkChain

from ..common.codes import load_code
from ..common.pseudos import PseudoFamilyError, load_family
from ..structures.crystal import BZS_ELEMENTS
from .protocols import ProtocolOverrideError, _load, get_protocol, recursive_merge

#: Keys of a pw.yaml preset that are ours, not aiida-quantumespresso overrides.
META_KEYS = ("description", "qe_protocol", "cutoff_scale")


def _pw_keywords() -> dict[str, set[str]]:
    """pw.x namelists and their keywords (QE 7.x, from ASE's list), for checking overrides."""
    try:
        from ase.io.espresso_namelist.keys import ALL_KEYS
    except ImportError:  # older ASE: namelist names are still checked, keywords are not
        return {name: set() for name in ("CONTROL", "SYSTEM", "ELECTRONS", "IONS", "CELL", "FCP", "RISM")}
    return {name.upper(): set(keys) for name, keys in ALL_KEYS["pw"].items()}


PW_KEYWORDS = _pw_keywords()

#: Keywords that aiida-quantumespresso sets itself and refuses in ``parameters``.
BLOCKED_KEYWORDS = {(namelist, key) for namelist, key in getattr(PwCalculation, "_blocked_keywords", [])}

#: ``metadata.options`` a pw.x CalcJob accepts.
CALCJOB_OPTIONS = set(PwCalculation.spec().inputs["metadata"]["options"].keys())


def check_namelists(namelists: dict, where: str = "pw.parameters") -> dict:
    """Return ``namelists`` with upper-case namelist names and lower-case keywords, or raise
    :class:`ProtocolOverrideError` for a namelist or keyword that pw.x does not know."""
    if not isinstance(namelists, dict):
        raise ProtocolOverrideError(f"override {where!r} must be a mapping of pw.x namelists, got {namelists!r}")
    checked: dict[str, dict] = {}
    for name, values in namelists.items():
        namelist = str(name).upper()
        if namelist not in PW_KEYWORDS:
            raise ProtocolOverrideError(
                f"unknown pw.x namelist {name!r} in override {where!r}; pw.x has {sorted(PW_KEYWORDS)}")
        if not isinstance(values, dict):
            raise ProtocolOverrideError(f"override {where}.{namelist} must be a mapping of keywords, got {values!r}")
        for key in values:
            keyword = str(key).lower()
            if PW_KEYWORDS[namelist] and keyword.split("(")[0] not in PW_KEYWORDS[namelist]:
                raise ProtocolOverrideError(f"unknown pw.x keyword {key!r} in override '{where}.{namelist}'")
            if (namelist, keyword) in BLOCKED_KEYWORDS:
                raise ProtocolOverrideError(
                    f"pw.x keyword {key!r} in override '{where}.{namelist}' is set by aiida-quantumespresso itself")
        checked[namelist] = {str(key).lower(): value for key, value in values.items()}
    return checked


def check_options(options: dict, where: str = "options") -> dict:
    """Return ``options`` or raise :class:`ProtocolOverrideError` naming a key that a CalcJob lacks."""
    if not isinstance(options, dict):
        raise ProtocolOverrideError(f"override {where!r} must be a mapping, got {options!r}")
    unknown = sorted(set(options) - CALCJOB_OPTIONS)
    if unknown:
        raise ProtocolOverrideError(
            f"unknown CalcJob option(s) {unknown} in override {where!r}; options are {sorted(CALCJOB_OPTIONS)}")
    return dict(options)


def merge_pw_overrides(base: dict, overrides: dict | None, where: str = "") -> dict:
    """``base`` (aiida-qe overrides) updated by ``overrides``, refusing keys that ``base`` lacks.

    One :func:`~aiida_bzs.workflows.protocols.recursive_merge` with ``strict=True``, except under
    the two open namespaces: ``pw.parameters`` takes any pw.x namelist keyword (checked against
    pw.x's keyword list) and ``pw.metadata.options`` any CalcJob option.
    """
    overrides = copy.deepcopy(overrides or {})
    if not isinstance(overrides, dict):
        raise ProtocolOverrideError(f"pw overrides must be a mapping, got {overrides!r}")
    pw = overrides.get("pw", {})
    namelists = options = None
    if isinstance(pw, dict):
        namelists = pw.pop("parameters", None)
        metadata = pw.get("metadata")
        if isinstance(metadata, dict):
            options = metadata.pop("options", None)
    prefix = f"{where}." if where else ""
    merged = recursive_merge(base, overrides, strict=True, _path=where)
    if namelists is not None:
        namelists = check_namelists(namelists, f"{prefix}pw.parameters")
        merged["pw"]["parameters"] = recursive_merge(merged["pw"].get("parameters", {}), namelists)
    if options is not None:
        options = check_options(options, f"{prefix}pw.metadata.options")
        merged["pw"]["metadata"]["options"] = recursive_merge(merged["pw"]["metadata"].get("options", {}), options)
    return merged


def pw_settings(
    protocol: str | None = None,
    overrides: dict[str, Any] | None = None,
    pseudo_family: str | None = None,
    num_mpiprocs: int = 1,
    options: dict[str, Any] | None = None,
    cutoff_elements: tuple[str, ...] = BZS_ELEMENTS,
    where: str = "",
) -> dict:
    """The complete aiida-quantumespresso overrides of one pw.x single point, every number explicit.

    aiida-qe's preset ``qe_protocol`` ← our ``protocols/pw.yaml`` preset ``protocol`` ← ``overrides``
    (strict: a key that neither has is refused, see :func:`merge_pw_overrides`) ← ``options``.
    ``pseudo_family`` (else ``overrides['pseudo_family']``, else SSSP PBEsol, else pslibrary US)
    becomes ``pseudo_family``. Cutoffs (Ry) not fixed by the preset or the overrides are the
    family's suggestion for all of ``cutoff_elements`` (Ba, Zr, S) × the preset's ``cutoff_scale``,
    so every structure of the campaign — an S2 dimer, an isolated Ba atom, BaZrS3 — gets the same
    cutoffs. Resources: one machine, ``num_mpiprocs`` ranks, MPI when more than one.
    Returns ``{'protocol', 'qe_protocol', 'overrides'}``; pass it to :func:`builder_from_settings`.
    ``where`` prefixes the key paths in error messages (the caller's namespace of these overrides).
    """
    preset = get_protocol("pw", protocol)
    name = protocol or _load("pw")["default_protocol"]
    qe_protocol = preset.get("qe_protocol", name)
    scale = preset.get("cutoff_scale")
    ours = {key: value for key, value in preset.items() if key not in META_KEYS}
    base = recursive_merge(PwBaseWorkChain.get_protocol_inputs(qe_protocol), ours)
    merged = merge_pw_overrides(base, overrides, where)
    family = load_family(pseudo_family or (overrides or {}).get("pseudo_family"))
    merged["pseudo_family"] = family.label
    system = merged["pw"]["parameters"].setdefault("SYSTEM", {})
    if "ecutwfc" not in system or "ecutrho" not in system:
        if scale is None:
            raise ProtocolOverrideError(f"pw protocol {name!r} fixes no cutoffs and has no cutoff_scale")
        missing = sorted(set(cutoff_elements) - {p.element for p in family.nodes})
        if missing:
            raise PseudoFamilyError(f"pseudo family {family.label} has no pseudopotential for {missing}; "
                                    "choose a family covering every element")
        ecutwfc, ecutrho = family.get_recommended_cutoffs(elements=tuple(cutoff_elements), unit="Ry")
        system.setdefault("ecutwfc", float(ecutwfc) * scale)
        system.setdefault("ecutrho", float(ecutrho) * scale)
    resources = {"resources": {"num_machines": 1, "num_mpiprocs_per_machine": int(num_mpiprocs)},
                 "withmpi": int(num_mpiprocs) > 1}
    run_options = recursive_merge(merged["pw"]["metadata"]["options"], resources)
    merged["pw"]["metadata"]["options"] = recursive_merge(run_options, check_options(options or {}, "options"))
    return {"protocol": name, "qe_protocol": qe_protocol, "overrides": merged}


def builder_from_settings(structure: orm.StructureData, code: str | orm.AbstractCode, settings: dict):
    """A ``PwBaseWorkChain`` builder for ``structure`` from :func:`pw_settings`' result, made by
    aiida-quantumespresso's ``get_builder_from_protocol`` (conv_thr = atoms × conv_thr_per_atom)."""
    family = load_family(settings["overrides"]["pseudo_family"])
    missing = sorted(set(structure.get_kind_names()) - {p.element for p in family.nodes})
    if missing:
        raise PseudoFamilyError(
            f"pseudo family {family.label} has no pseudopotential for {missing}; "
            "choose a family covering every element"
        )
    return PwBaseWorkChain.get_builder_from_protocol(
        load_code(code), structure, protocol=settings["qe_protocol"], overrides=settings["overrides"])


def get_pw_builder(
    structure: orm.StructureData,
    code: str | orm.AbstractCode = "pw@localhost",
    protocol: str | None = None,
    pseudo_family: str | None = None,
    num_mpiprocs: int = 1,
    overrides: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
):
    """Return a ``PwBaseWorkChain`` builder for a single point of ``structure``.

    :param protocol: preset of ``protocols/pw.yaml`` (fast, balanced, stringent).
    :param pseudo_family: label of an aiida-pseudo family; default SSSP PBEsol, else the
        pslibrary family that ``aiida-bzs setup`` generates.
    :param overrides: aiida-quantumespresso ``PwBaseWorkChain`` overrides, e.g.
        ``{'kpoints_distance': 0.3, 'pw': {'parameters': {'SYSTEM': {'ecutwfc': 30.0}}}}``; a key
        that is not an input of the protocol raises ``ProtocolOverrideError``.
    :param options: ``metadata.options`` of the pw.x job (wall time s, queue, account, …).
    """
    family = load_family(pseudo_family or (overrides or {}).get("pseudo_family"))
    code = load_code(code)
    settings = pw_settings(protocol, overrides, family.label, num_mpiprocs, options)
    return builder_from_settings(structure, code, settings)


# -- for crystal_relax.py, which builds PwRelaxWorkChain namelists from a pw.yaml preset ----------------

#: Wall time per pw.x job in s: the ``balanced`` preset's (the numbers live in protocols/pw.yaml).
DEFAULT_WALLTIME = int(get_protocol("pw")["pw"]["metadata"]["options"]["max_wallclock_seconds"])


def pw_parameters(protocol: dict, structure: orm.StructureData, family) -> dict:
    """pw.x namelists of a pw.yaml preset (``get_protocol('pw', name)``) for ``structure``.

    Top-level ``ecutwfc``/``ecutrho`` (Ry) in ``protocol`` replace the preset's cutoffs; without
    either, the family's suggestion for the structure × ``cutoff_scale``. conv_thr is
    atoms × ``meta_parameters.conv_thr_per_atom``.
    """
    parameters = copy.deepcopy(protocol["pw"]["parameters"])
    system = parameters.setdefault("SYSTEM", {})
    if "ecutwfc" in protocol and "ecutrho" in protocol:
        system["ecutwfc"], system["ecutrho"] = float(protocol["ecutwfc"]), float(protocol["ecutrho"])
    elif "ecutwfc" not in system or "ecutrho" not in system:
        ecutwfc, ecutrho = family.get_recommended_cutoffs(structure=structure, unit="Ry")
        system["ecutwfc"] = float(ecutwfc) * protocol["cutoff_scale"]
        system["ecutrho"] = float(ecutrho) * protocol["cutoff_scale"]
    parameters.setdefault("ELECTRONS", {})["conv_thr"] = (
        protocol["meta_parameters"]["conv_thr_per_atom"] * len(structure.sites))
    return parameters
