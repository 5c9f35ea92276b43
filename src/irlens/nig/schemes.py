"""Attribution schemes (arXiv 2406.19309 §4.2, Table 3): mean NIG per neuron per (dataset, label), top-X %
sets, intersections, fusion.

Notation as in the paper: P_x / N_x = the scheme of dataset x for the label "relevant" / "non-relevant";
F_x = P_x ⊕ N_x (the two schemes' values averaged, then ranked); F_A = every base scheme averaged.
A = every dataset, O = the out-of-domain (OOD) datasets; ∩_O P = the intersection of the top-X % sets of
P_o over o ∈ O, and so on. A top-X % set holds the round(X/100 · n_neurons) neurons (at least 1) with the
highest mean attribution (``rank_by="value"``, the paper's choice) or the highest absolute mean.
Intersections are reported as % of the set size.

Scheme names in files: ``P:<dataset>``, ``N:<dataset>``, ``F:<dataset>``, ``AND_A:P``, ``AND_O:N``,
``AND_A:F``, ``F_A`` — :func:`pretty` turns them into the paper's notation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from irlens.errors import IrlensError

LEVELS = (0.01, 0.1, 1.0)
#: denser grid for the intersection figures
FIGURE_LEVELS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
PREFIX = {"relevant": "P", "non-relevant": "N"}


def pretty(name: str) -> str:
    """``P:scifact`` → ``P_scifact``, ``AND_O:N`` → ``∩_O N``, ``F_A`` stays."""
    if name.startswith("AND_"):
        where, what = name[4:].split(":")
        return f"∩_{where} {what}"
    return name.replace(":", "_")


def set_size(n_neurons: int, level: float) -> int:
    """Neurons in a top-``level`` % set."""
    return max(1, int(round(n_neurons * level / 100.0)))


def top_set(values: np.ndarray, level: float, rank_by: str = "value") -> np.ndarray:
    """Indices of the top-``level`` % neurons (sorted ascending); ties broken by the lower index."""
    if rank_by not in ("value", "abs"):
        raise IrlensError(f"schemes rank_by '{rank_by}': choose value or abs")
    key = np.abs(values) if rank_by == "abs" else values
    k = set_size(len(values), level)
    order = np.lexsort((np.arange(len(key)), -key))
    return np.sort(order[:k])


def base_schemes(means: dict[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    """Columns ``P:<d>`` / ``N:<d>`` from ``{(dataset, label): mean vector}``, plus the fusions ``F:<d>``
    (where both labels exist) and ``F_A`` (all base schemes averaged). Column order: P, N, F in the
    datasets' order of appearance, then F_A."""
    datasets = list(dict.fromkeys(d for d, _ in means))
    cols = {}
    for label in ("relevant", "non-relevant"):
        for d in datasets:
            if (d, label) in means:
                cols[f"{PREFIX[label]}:{d}"] = np.asarray(means[(d, label)], dtype=np.float64)
    if not cols:
        raise IrlensError("schemes: no attribution sets given")
    for d in datasets:
        if f"P:{d}" in cols and f"N:{d}" in cols:
            cols[f"F:{d}"] = 0.5 * (cols[f"P:{d}"] + cols[f"N:{d}"])
    base = [c for c in cols if c[0] in "PN"]
    cols["F_A"] = np.mean([cols[c] for c in base], axis=0)
    return pd.DataFrame(cols)


def scheme_sets(values: pd.DataFrame, datasets: list[str], ood: list[str], levels=LEVELS, rank_by: str = "value") -> dict[str, dict[float, np.ndarray]]:
    """Every scheme of Table 3 → {level: neuron indices}. Intersections over A use every dataset that has
    the label; over O the OOD ones. Schemes that need a missing label are left out."""
    sets: dict[str, dict[float, np.ndarray]] = {}
    for col in values.columns:
        sets[col] = {lv: top_set(values[col].to_numpy(), lv, rank_by) for lv in levels}
    for kind in ("P", "N", "F"):
        for where, members in (("A", datasets), ("O", ood)):
            cols = [f"{kind}:{d}" for d in members if f"{kind}:{d}" in values.columns]
            if not cols:
                continue
            sets[f"AND_{where}:{kind}"] = {lv: _intersect([sets[c][lv] for c in cols]) for lv in levels}
    return sets


def _intersect(arrays) -> np.ndarray:
    out = arrays[0]
    for a in arrays[1:]:
        out = np.intersect1d(out, a)
    return out


def overlap_pct(sets, n_neurons: int, level: float) -> float:
    """|∩ sets| as % of the top-``level`` % set size."""
    return 100.0 * len(_intersect(list(sets))) / set_size(n_neurons, level)


def intersection_table(values: pd.DataFrame, datasets: list[str], ood: list[str], levels=FIGURE_LEVELS, rank_by: str = "value") -> pd.DataFrame:
    """Long table of the paper's Figures 2–3: one row per (curve, level) with columns
    label, curve, kind, members, level, pct.

    kinds: ``ID/OOD`` and ``OOD/OOD`` pairwise intersections of one label, ``all (A)`` and ``OOD (O)``
    intersections, ``P∩N`` of one dataset."""
    n = len(values)
    rows = []
    tops = {c: {lv: top_set(values[c].to_numpy(), lv, rank_by) for lv in levels} for c in values.columns if c[0] in "PN"}
    for label, kind in (("relevant", "P"), ("non-relevant", "N")):
        have = [d for d in datasets if f"{kind}:{d}" in tops]
        for a, b in itertools.combinations(have, 2):
            pair_kind = "OOD/OOD" if (a in ood and b in ood) else ("ID/OOD" if (a in ood) != (b in ood) else "ID/ID")
            for lv in levels:
                rows.append((label, f"{kind}_{a} ∩ {kind}_{b}", pair_kind, f"{a},{b}", lv, overlap_pct([tops[f"{kind}:{a}"][lv], tops[f"{kind}:{b}"][lv]], n, lv)))
        for where, members in (("A", have), ("O", [d for d in have if d in ood])):
            if len(members) < 1:
                continue
            for lv in levels:
                rows.append((label, f"∩_{where} {kind}", f"all ({where})" if where == "A" else "OOD (O)", ",".join(members), lv, overlap_pct([tops[f"{kind}:{d}"][lv] for d in members], n, lv)))
    for d in datasets:
        if f"P:{d}" in tops and f"N:{d}" in tops:
            for lv in levels:
                rows.append(("both", f"P_{d} ∩ N_{d}", "P∩N", d, lv, overlap_pct([tops[f"P:{d}"][lv], tops[f"N:{d}"][lv]], n, lv)))
    return pd.DataFrame(rows, columns=["label", "curve", "kind", "members", "level", "pct"])


def sets_table(sets: dict[str, dict[float, np.ndarray]], neurons: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """Long table of every scheme's neuron sets (what the ablation stage prunes): scheme, level, neuron,
    layer, component, unit, module, value (the scheme's own value; NaN for intersections)."""
    parts = []
    for name, by_level in sets.items():
        for lv, idx in by_level.items():
            part = neurons.iloc[idx][["layer", "component", "unit", "module"]].copy()
            part.insert(0, "neuron", idx)
            part.insert(0, "level", lv)
            part.insert(0, "scheme", name)
            part["value"] = values[name].to_numpy()[idx] if name in values.columns else np.nan
            parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["scheme", "level", "neuron", "layer", "component", "unit", "module", "value"])


def layer_distribution(idx: np.ndarray, neurons: pd.DataFrame) -> pd.DataFrame:
    """Counts of neurons per (layer, component) — the paper's Figure 4 — as a layer × component table."""
    sub = neurons.iloc[idx]
    layers = sorted(neurons["layer"].unique())
    comps = list(dict.fromkeys(neurons["component"]))
    t = sub.groupby(["layer", "component"]).size().unstack(fill_value=0)
    return t.reindex(index=layers, columns=comps, fill_value=0)
