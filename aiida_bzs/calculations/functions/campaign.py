"""The campaign's numbers in one Dict, from the stored results of its stages (light glue).

Reads only Dicts, Floats and the training set's per-family counts (an attribute): its cost does
not grow with atoms or frames. The keys of the inputs say where each number came from
(``<stage>__<output>``); every entry of the summary keeps the UUID of the node it was read from.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiida import orm
from aiida.engine import calcfunction

#: The study's numbers the demo is compared with (campaign.md; Paşca et al. 2025).
STUDY = {"amorphous_density_ratio": 0.925, "zr_cn_amorphous": "mostly 5-6 (crystal 6)",
         "dataset_size": 2400, "rmse_energy_meV_atom": "a few", "rmse_forces_meV_A": "100-200"}


#: Above this fraction of atoms with γ > 2 (the study's reliable limit) a structure's numbers are
#: flagged as extrapolated: the potential is outside its training data there (our choice: 1 %).
EXTRAPOLATED_FRACTION = 0.01


def extrapolation_flag(fraction_above_2: float | None) -> str:
    """'' or the loud note for a structure with γ > 2 for more than 1 % of its atoms (fraction 0–1)."""
    if fraction_above_2 is None or fraction_above_2 <= EXTRAPOLATED_FRACTION:
        return ""
    return (f"EXTRAPOLATED: γ > 2 for {100 * fraction_above_2:.1f} % of atoms, outside the potential's training "
            "data there; add such environments to the training set (aiida-bzs learn) before trusting them")


def md_caveat(out: Mapping) -> str:
    """'' or why the melt–quench products are indicative only: the ``filtered`` version they were
    made with (the study's choice) has a fit verdict other than ``usable``."""
    verdict = ((out.get("fits") or {}).get("filtered") or {}).get("verdict")
    return "" if verdict in (None, "usable") else f"melt-quenched with the filtered version, verdict {verdict}: indicative only"


def caveats(out: Mapping) -> list[str]:
    """What in the summary is not a result as it stands, one line each, naming where (the report
    shows these first; ``aiida-bzs campaign`` prints them on the lines they qualify)."""
    notes = [f"fit {version}: verdict {fit['verdict']}" for version, fit in (out.get("fits") or {}).items()
             if fit.get("verdict") not in (None, "usable")]
    md = md_caveat(out)
    for name, product in (out.get("amorphous") or {}).items():
        if product.get("classification") not in (None, "amorphous"):
            notes.append(f"amorphous {name}: classified {product['classification']}, not an amorphous product")
        if md:
            notes.append(f"amorphous {name}: {md}")
    for row in (out.get("grain_boundaries") or {}).get("rows", []):
        if flag := extrapolation_flag(row.get("fraction_gamma_above_2")):
            notes.append(f"grain boundary {row.get('label') or row.get('boundary')}: {flag}")
    for label, poly in (out.get("polycrystals") or {}).items():
        if flag := extrapolation_flag(poly.get("fraction_gamma_above_2")):
            notes.append(f"polycrystal {label}: {flag}")
    notes += [f"stage {stage} failed: {why}" for stage, why in (out.get("failed") or {}).items()]
    return notes


def _value(node):
    if isinstance(node, orm.Dict):
        return node.get_dict()
    if isinstance(node, (orm.Float, orm.Int, orm.Str, orm.Bool)):
        return node.value
    if isinstance(node, orm.ArrayData):  # e.g. a coordination result: its means are attributes
        return {k: v for k, v in node.base.attributes.all.items() if not k.startswith("array|")}
    return {}


def summarise(values: Mapping[str, object], uuids: Mapping[str, str], counts: Mapping[str, Mapping]) -> dict:
    """The summary from plain values keyed ``<stage>__<output>[__<label>]`` (pure).

    :param values: Dict/Float contents by key.
    :param uuids: the UUID of the node behind each key (kept as each entry's ``source``).
    :param counts: ``training_set``/``test_set`` → {config_type: structures}.
    :returns: ``dataset``, ``fits``, ``amorphous``, ``analysis``, ``grain_boundaries``,
        ``polycrystals``, ``scattering`` sections and ``caveats`` (:func:`caveats`); energies meV/atom, forces meV/Å, densities
        g/cm³, E_GBf J/m², sizes nm.
    """
    out: dict = {"study": STUDY}
    settings = values.get("settings", {})
    out.update(protocol=settings.get("protocol"), stages=settings.get("stages", []), failed=settings.get("failed", {}))
    if "training_set" in counts:
        out["dataset"] = {"per_family": dict(counts["training_set"]), "total": sum(counts["training_set"].values()),
                          "test_per_family": dict(counts.get("test_set", {})),
                          "test_total": sum(counts.get("test_set", {}).values()), "source": uuids.get("training_set")}
    fits = {}
    for version in ("filtered", "full"):
        metrics = values.get(f"fit__{version}__test_metrics")
        if metrics is None:
            continue
        verdict = values.get(f"fit__{version}__verdict") or {}
        fits[version] = {"rmse_energy": metrics.get("rmse_energy"), "rmse_forces": metrics.get("rmse_forces"),
                         "n_test": metrics.get("n_structures"), "verdict": verdict.get("verdict"),
                         "source": uuids.get(f"fit__{version}__test_metrics")}
    if fits:
        out["fits"] = fits
    amorphous = {}
    for key, value in values.items():
        if key.startswith("melt_quench_") and key.endswith("__product_check"):
            name = key[len("melt_quench_"):-len("__product_check")]
            product = value.get("product", {})
            amorphous[name] = {
                "classification": value.get("classification"), "density_ratio": value.get("density_ratio"),
                "density_ratio_ace": value.get("density_ratio_ace"),
                "density": product.get("density"), "crystal_density": value.get("crystal", {}).get("density"),
                "zr_cn": (product.get("zr_cn") or {}).get("mean"), "ba_cn": (product.get("ba_cn") or {}).get("mean"),
                "zr_cn_histogram": (product.get("zr_cn") or {}).get("histogram"),
                "n_atoms": product.get("n_atoms"), "source": uuids.get(key)}
    if amorphous:
        out["amorphous"] = amorphous
    analysis: dict = {}
    for key, value in values.items():
        if key.startswith("analysis__"):
            _, structure, port = key.split("__", 2)
            entry = analysis.setdefault(structure, {})
            if port == "density":
                entry["density"] = value.get("density")
                entry["n_atoms"] = value.get("n_atoms")
            else:
                entry[f"{port.split('_')[1]}_cn"] = value.get("mean_cn")
                entry[f"{port.split('_')[1]}_bond_length"] = value.get("mean_bond_length")
            entry.setdefault("sources", {})[port] = uuids.get(key)
    if analysis:
        out["analysis"] = analysis
    table = values.get("grain_boundaries__table")
    if table:
        rows = table.get("rows", table.get("boundaries", []))
        out["grain_boundaries"] = {"rows": rows, "source": uuids.get("grain_boundaries__table")}
    dft = values.get("grain_boundary_dft__table")
    if dft:
        out.setdefault("grain_boundaries", {})["dft_parity"] = {
            k: dft.get(k) for k in ("mae", "rmse", "max_error") if k in dft} | {"source": uuids.get("grain_boundary_dft__table")}
    poly: dict = {}
    for key, value in values.items():
        if key.startswith("polycrystal__") and key != "polycrystal__scherrer":
            _, group, label = key.split("__", 2)
            entry = poly.setdefault(label, {})
            if group == "build_reports":
                entry.update(n_atoms=value.get("n_atoms"), grains=value.get("n_grains"), box=value.get("box"))
            elif group == "gamma_summaries":
                entry.update(max_gamma=value.get("max"), fraction_gamma_above_2=value.get("fraction_above_2"))
            elif group == "interfaces":
                entry["boundary_fraction"] = value.get("boundary_fraction")
                for part in ("boundary", "interior"):
                    numbers = value.get(part) or {}
                    entry[f"{part}_zr_cn"] = numbers.get("zr_cn_mean")
                    entry[f"{part}_ba_cn"] = numbers.get("ba_cn_mean")
            entry.setdefault("sources", {})[group] = uuids.get(key)
    if poly:
        out["polycrystals"] = poly
    scattering = {}
    for key in ("scattering__scherrer", "polycrystal__scherrer"):
        if key in values:
            scattering[key.split("__")[0]] = {
                label: (entry.get("size_nm") if isinstance(entry, Mapping) else None)
                for label, entry in values[key].items()} | {"source": uuids.get(key)}
    if scattering:
        out["scherrer_size_nm"] = scattering
    out["caveats"] = caveats(out)
    return out


@calcfunction
def campaign_summary(**nodes) -> orm.Dict:
    """The campaign's numbers from its stages' stored results; see :func:`summarise`."""
    values, uuids, counts = {}, {}, {}
    for key, node in nodes.items():
        uuids[key] = node.uuid
        if key in ("training_set", "test_set"):
            counts[key] = dict(node.config_types)
        else:
            values[key] = _value(node)
    return orm.Dict(summarise(values, uuids, counts))
