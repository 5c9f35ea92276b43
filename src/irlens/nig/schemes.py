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

Datasets without judged non-relevant pairs: the paper (Table 3) leaves them out of every scheme that involves
the "non-relevant" label (N_x, ∩ N, F_x, ∩ F, and their N in F_A); their P_x stays. :func:`compute_schemes`
does the same by default (``unjudged_negatives="exclude"``) for a non-relevant set whose pairs are unjudged
BM25 passages (``source`` ≠ ``qrels``, see :func:`irlens.nig.pairs.candidate_pairs`); ``"include"`` keeps
them as hard negatives and every table names the schemes they enter ("N from unjudged BM25 passages").
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from irlens.errors import IrlensError
from irlens.io import read_npy, read_parquet, write_json, write_parquet

log = logging.getLogger(__name__)

LEVELS = (0.01, 0.1, 1.0)
#: denser grid for the intersection figures
FIGURE_LEVELS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
PREFIX = {"relevant": "P", "non-relevant": "N"}
#: ``compute_schemes(unjudged_negatives=...)``: what to do with non-relevant sets of unjudged BM25 passages
UNJUDGED_NEGATIVES = ("exclude", "include")
#: the ``source`` of judged pairs (:func:`irlens.nig.pairs.candidate_pairs`); anything else is unjudged
JUDGED = "qrels"
#: how tables and figures name non-relevant schemes built from unjudged passages
UNJUDGED_NOTE = "N from unjudged BM25 passages"


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


def scheme_sets(
    values: pd.DataFrame, datasets: list[str], ood: list[str], levels=LEVELS, rank_by: str = "value"
) -> dict[str, dict[float, np.ndarray]]:
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


def intersection_table(
    values: pd.DataFrame, datasets: list[str], ood: list[str], levels=FIGURE_LEVELS, rank_by: str = "value"
) -> pd.DataFrame:
    """Long table of the paper's Figures 2–3: one row per (curve, level) with columns
    label, curve, kind, members, level, pct.

    kinds: ``ID/OOD`` and ``OOD/OOD`` pairwise intersections of one label, ``all (A)`` and ``OOD (O)``
    intersections, ``P∩N`` of one dataset."""
    n = len(values)
    rows = []
    tops = {
        c: {lv: top_set(values[c].to_numpy(), lv, rank_by) for lv in levels} for c in values.columns if c[0] in "PN"
    }
    for label, kind in (("relevant", "P"), ("non-relevant", "N")):
        have = [d for d in datasets if f"{kind}:{d}" in tops]
        for a, b in itertools.combinations(have, 2):
            pair_kind = "OOD/OOD" if (a in ood and b in ood) else ("ID/OOD" if (a in ood) != (b in ood) else "ID/ID")
            for lv in levels:
                rows.append(
                    (
                        label,
                        f"{kind}_{a} ∩ {kind}_{b}",
                        pair_kind,
                        f"{a},{b}",
                        lv,
                        overlap_pct([tops[f"{kind}:{a}"][lv], tops[f"{kind}:{b}"][lv]], n, lv),
                    )
                )
        for where, members in (("A", have), ("O", [d for d in have if d in ood])):
            if len(members) < 1:
                continue
            for lv in levels:
                rows.append(
                    (
                        label,
                        f"∩_{where} {kind}",
                        f"all ({where})" if where == "A" else "OOD (O)",
                        ",".join(members),
                        lv,
                        overlap_pct([tops[f"{kind}:{d}"][lv] for d in members], n, lv),
                    )
                )
    for d in datasets:
        if f"P:{d}" in tops and f"N:{d}" in tops:
            for lv in levels:
                rows.append(
                    (
                        "both",
                        f"P_{d} ∩ N_{d}",
                        "P∩N",
                        d,
                        lv,
                        overlap_pct([tops[f"P:{d}"][lv], tops[f"N:{d}"][lv]], n, lv),
                    )
                )
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
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["scheme", "level", "neuron", "layer", "component", "unit", "module", "value"])
    )


def layer_distribution(idx: np.ndarray, neurons: pd.DataFrame) -> pd.DataFrame:
    """Counts of neurons per (layer, component) — the paper's Figure 4 — as a layer × component table."""
    sub = neurons.iloc[idx]
    layers = sorted(neurons["layer"].unique())
    comps = list(dict.fromkeys(neurons["component"]))
    t = sub.groupby(["layer", "component"]).size().unstack(fill_value=0)
    return t.reindex(index=layers, columns=comps, fill_value=0)


# ------------------------------------------------------------------------------ the nig_schemes step
@dataclass
class SchemeResult:
    """Everything :func:`compute_schemes` derives from the merged NIG sets; :func:`write_schemes` writes it."""

    neurons: pd.DataFrame  # the shared neuron table (layer, component, unit, module, ...)
    values: pd.DataFrame  # one column per scheme (see :func:`base_schemes`)
    sets: dict[str, dict[float, np.ndarray]]  # scheme → {level: neuron indices} (see :func:`scheme_sets`)
    intersections: pd.DataFrame  # :func:`intersection_table` at FIGURE_LEVELS ∪ levels
    counts: dict[tuple[str, str], int]  # (dataset, label) → pairs averaged
    completeness: list[dict]  # one row per (dataset, label): completeness error of the NIG run
    datasets: list[str]
    in_domain: list[str]
    ood: list[str]
    levels: tuple[float, ...]
    rank_by: str
    unjudged_negatives: str = "exclude"  # what was done with unjudged non-relevant sets (UNJUDGED_NEGATIVES)
    unjudged: list[str] = field(default_factory=list)  # datasets whose N is unjudged BM25 passages (include)
    left_out: dict[str, str] = field(default_factory=dict)  # "<dataset>:<label>" → why its set is left out


def compute_schemes(
    specs, in_domain, levels=LEVELS, rank_by: str = "value", unjudged_negatives: str = "exclude"
) -> SchemeResult:
    """Read the merged NIG sets ``specs`` = ``[(prefix, dataset, label), ...]`` and derive the schemes.

    Each prefix names ``<prefix>.{npy,neurons.parquet,pairs.parquet}`` of one (dataset, label); all must
    share one neuron layout. A set without pairs is left out with a warning. Datasets not in
    ``in_domain`` are out-of-domain. ``levels`` are the top-X % levels of the scheme sets; the
    intersection table also covers :data:`FIGURE_LEVELS`.

    A non-relevant set whose pairs are not judged (``source`` column ≠ ``qrels``: unjudged BM25 passages)
    is left out (``unjudged_negatives="exclude"``, the paper's rule: no N_x, F_x, and the dataset is not a
    member of ∩ N / ∩ F; its P_x stays, also in F_A) or kept (``"include"``; listed in ``unjudged``).
    """
    if unjudged_negatives not in UNJUDGED_NEGATIVES:
        raise IrlensError(
            f"schemes unjudged_negatives '{unjudged_negatives}': choose {' or '.join(UNJUDGED_NEGATIVES)}"
        )
    means, counts, completeness, neurons = {}, {}, [], None
    unjudged, left_out = [], {}
    pair_columns = ("f_input", "f_baseline", "rel_error", "steps", "rule", "seconds")
    for prefix, dataset, label in specs:
        n = read_parquet(f"{prefix}.neurons.parquet", "NIG neuron table")
        if neurons is not None and not n.equals(neurons):
            raise IrlensError(
                f"{prefix}.neurons.parquet: neuron layout differs from the other sets; rerun them with one model"
            )
        neurons = n
        made = "'irlens nig merge' (the nig_merge rule)"
        v = read_npy(f"{prefix}.npy", "NIG values", made)
        p = read_parquet(f"{prefix}.pairs.parquet", "NIG pairs table", made, columns=pair_columns)
        if len(v) != len(p):
            raise IrlensError(f"{prefix}.npy: {len(v)} rows but {len(p)} pairs in {prefix}.pairs.parquet; rerun {made}")
        if len(v) == 0:
            log.warning("%s: no pairs; scheme %s:%s left out", prefix, dataset, label)
            continue
        source = JUDGED
        if label == "non-relevant":
            if "source" not in p.columns:
                raise IrlensError(
                    f"{prefix}.pairs.parquet: no source column (judged or unjudged non-relevant pairs?), made by an "
                    "older irlens; rerun 'irlens nig attribute' and 'irlens nig merge' (snakemake -R nig_attribute)"
                )
            if p["source"].ne(JUDGED).any():
                source = "unjudged BM25 passages"
                if unjudged_negatives == "exclude":
                    log.warning(
                        "%s: %s has no judged non-relevant pairs (unjudged BM25 passages); left out of every "
                        "N-based scheme as in the paper (keep them: --unjudged-negatives include)",
                        prefix,
                        dataset,
                    )
                    left_out[f"{dataset}:{label}"] = "no judged non-relevant pairs (unjudged BM25 passages)"
                    continue
                unjudged.append(dataset)
        means[(dataset, label)] = v.astype(np.float64).mean(0)
        counts[(dataset, label)] = len(v)
        completeness.append(
            {
                "dataset": dataset,
                "label": label,
                "source": source,
                "pairs": len(p),
                "median |F(x) - F(x')|": (p["f_input"] - p["f_baseline"]).abs().median(),
                "median rel. error": p["rel_error"].median(),
                "max rel. error": p["rel_error"].max(),
                "pairs <= 1%": (p["rel_error"] <= 0.01).mean(),
                "steps": int(p["steps"].iloc[0]),
                "rule": p["rule"].iloc[0],
                "s/pair": p["seconds"].mean(),
            }
        )
    if not means and left_out:
        raise IrlensError(
            f"schemes: every set is left out ({', '.join(left_out)}: unjudged non-relevant pairs); add relevant "
            "sets or pass --unjudged-negatives include (nig.unjudged_negatives)"
        )
    datasets = list(dict.fromkeys(d for d, _ in means))
    ood = [d for d in datasets if d not in in_domain]
    values = base_schemes(means)
    levels = tuple(levels)
    sets = scheme_sets(values, datasets, ood, levels, rank_by)
    inter = intersection_table(values, datasets, ood, sorted(set(FIGURE_LEVELS) | set(levels)), rank_by)
    return SchemeResult(
        neurons=neurons,
        values=values,
        sets=sets,
        intersections=inter,
        counts=counts,
        completeness=completeness,
        datasets=datasets,
        in_domain=[d for d in datasets if d in in_domain],
        ood=ood,
        levels=levels,
        rank_by=rank_by,
        unjudged_negatives=unjudged_negatives,
        unjudged=unjudged,
        left_out=left_out,
    )


def unjudged_members(name: str, r: SchemeResult) -> list[str]:
    """Datasets whose N from unjudged BM25 passages enters scheme ``name`` (empty for P-only schemes)."""
    if name == "F_A":
        return list(r.unjudged)
    if name.startswith("AND_"):
        where, kind = name[4:].split(":")
        members = r.datasets if where == "A" else r.ood
        return [d for d in members if d in r.unjudged] if kind in ("N", "F") else []
    kind, d = name.split(":", 1)
    return [d] if kind in ("N", "F") and d in r.unjudged else []


def source_note(r: SchemeResult) -> str:
    """What the tables' titles say about non-relevant pairs: the datasets whose N comes from unjudged BM25
    passages (``include``), or those left out of the N-based schemes (``exclude``); empty if all judged."""
    parts = []
    if r.unjudged:
        parts.append(f"{UNJUDGED_NOTE}: {', '.join(r.unjudged)}")
    if r.left_out:
        names = ", ".join(k.split(":")[0] for k in r.left_out)
        parts.append(f"no judged non-relevant pairs, so left out of the N-based schemes as in the paper: {names}")
    return "; ".join(parts)


def write_schemes(r: SchemeResult, out_dir, tables_dir) -> None:
    """Write ``values/sets/intersections.parquet`` and ``roles.json`` to ``out_dir``, and the scheme-size,
    intersection and completeness tables (md + csv) to ``tables_dir``."""
    from irlens.report.tables import write_table

    out = Path(out_dir)
    n_neurons = len(r.neurons)
    write_parquet(pd.concat([r.neurons, r.values], axis=1), out / "values.parquet")
    write_parquet(sets_table(r.sets, r.neurons, r.values), out / "sets.parquet")
    write_parquet(r.intersections, out / "intersections.parquet")
    write_json(
        out / "roles.json",
        {
            "in_domain": r.in_domain,
            "ood": r.ood,
            "pairs": {f"{d}:{lb}": c for (d, lb), c in r.counts.items()},
            "levels": list(r.levels),
            "rank_by": r.rank_by,
            "neurons": n_neurons,
            "schemes": list(r.sets),
            "unjudged_negatives": r.unjudged_negatives,
            "unjudged": r.unjudged,
            "left_out": r.left_out,
        },
    )
    # tables: scheme sizes / pairs averaged, intersections at the levels, completeness
    tdir = Path(tables_dir)
    rows = []
    note = source_note(r)
    for name, by_level in r.sets.items():
        row = {
            "scheme": pretty(name),
            "pairs averaged": _pairs_of(name, r.counts, r.datasets, r.ood),
            **{f"{lv:g}% (of {set_size(n_neurons, lv)})": len(by_level[lv]) for lv in r.levels},
        }
        if r.unjudged:
            row[UNJUDGED_NOTE] = ", ".join(unjudged_members(name, r))
        rows.append(row)
    title = (
        f"NIG schemes: neurons kept at each level ({n_neurons} neurons; in-domain: {', '.join(r.in_domain) or 'none'}; "
        f"OOD: {', '.join(r.ood) or 'none'}{'; ' + note if note else ''})"
    )
    write_table(pd.DataFrame(rows), tdir / "schemes.md", tdir / "schemes.csv", title=title, floatfmt=".0f")
    inter = r.intersections
    it = (
        inter[inter["level"].isin(r.levels)]
        .pivot_table(index=["label", "kind", "curve"], columns="level", values="pct", sort=False)
        .reset_index()
    )
    it.columns = [c if isinstance(c, str) else f"{c:g}%" for c in it.columns]
    it.insert(3, "neurons", n_neurons)  # the population the sets are drawn from (claim 4's chance model)
    write_table(
        it,
        tdir / "intersections.md",
        tdir / "intersections.csv",
        title="NIG scheme intersections (% of the top-X % set)" + (f"; {note}" if note else ""),
        floatfmt=".1f",
    )
    write_table(
        pd.DataFrame(r.completeness),
        tdir / "completeness.md",
        tdir / "completeness.csv",
        title="NIG completeness on the encoder-layer cuts: max over layers of "
        "|Σ conductance − (F(x) − F(x′))| / |F(x) − F(x′)|",
        floatfmt=".2e",
    )


def _pairs_of(name: str, counts: dict, datasets, ood) -> int:
    """Pairs averaged into scheme ``name`` (a base scheme, a fusion or an intersection)."""
    labels_of = {"P": ["relevant"], "N": ["non-relevant"], "F": ["relevant", "non-relevant"]}
    if name == "F_A":
        return sum(counts.values())
    if name.startswith("AND_"):
        where, kind = name[4:].split(":")
        members = datasets if where == "A" else ood
        return sum(counts.get((d, lb), 0) for d in members for lb in labels_of[kind])
    kind, d = name.split(":")
    return sum(counts.get((d, lb), 0) for lb in labels_of[kind])
