"""``irlens nig {pairs,attribute,merge,baselines,schemes,figures}``: Neuron Integrated Gradients on a
cross-encoder (arXiv 2406.19309), what the rules in workflow/rules/nig.smk call."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from irlens.cli.common import add_cross_encoder_args, load_cross_encoder_from_args
from irlens.errors import IrlensError
from irlens.io import read_parquet, write_npy, write_parquet

log = logging.getLogger("irlens")


def _read_parquet(path, what: str):
    return read_parquet(path, what, "the nig_pairs rule" if "pairs" in what else "the rule that makes it")


# ------------------------------------------------------------------------------------------- pairs
def cmd_pairs(a: argparse.Namespace) -> None:
    from irlens.nig.pairs import select_pairs
    from irlens.data.beir import load_beir
    from irlens.io import write_json
    from irlens.retrieval.trec import read_run

    ds = load_beir(a.data, [a.split])
    bm25 = read_run(a.bm25_run) if a.bm25_run else None
    ce, resolved = load_cross_encoder_from_args(a)
    df = select_pairs(ce, ds, a.split, a.pairs, a.seed, bm25_run=bm25, negatives_depth=a.negatives_depth)
    if df.empty:
        raise IrlensError(f"{a.dataset}: no pair of split '{a.split}' is classified correctly by {a.model}; NIG has nothing to explain")
    df.insert(0, "dataset", a.dataset)
    write_parquet(df, a.out)
    write_json(Path(a.out).with_suffix(".json"), {"dataset": a.dataset, "split": a.split, "model": a.model, "model_sha256": resolved.sha256, "selection": df.attrs.get("selection", {}), "pairs_per_label": a.pairs, "seed": a.seed})
    log.info("wrote %s: %s", a.out, df["label"].value_counts().to_dict())


# --------------------------------------------------------------------------------------- attribute
NIG_FILES = ("npy", "neurons.parquet", "pairs.parquet")  # written in this order: pairs last marks completion


def cmd_attribute(a: argparse.Namespace) -> None:
    from irlens.nig.attribute import CrossEncoderNIG, check_settings, neuron_table
    from irlens.nig.pairs import attribute_pairs, shard_rows
    from irlens.data.beir import load_beir

    check_settings(a.baseline, a.rule, a.steps)
    pairs = _read_parquet(a.pairs, "pairs table")
    pairs = pairs[pairs["label"] == a.label]
    rows = shard_rows(pairs, a.shard, a.shards)
    ds = load_beir(a.data, [a.split])
    ce, resolved = load_cross_encoder_from_args(a)
    nig = CrossEncoderNIG(ce.model, ce.tokenizer, relevant_label=ce.relevant_label, baseline=a.baseline, steps=a.steps, rule=a.rule, max_tokens=a.max_tokens)
    log.info("NIG %s on %s/%s: shard %d/%d = %d pairs, %d neurons in %d Linears, %s rule, %d steps, baseline %s", a.model, a.dataset, a.label, a.shard, a.shards, len(rows), nig.n_neurons, len(nig.layout), a.rule, a.steps, a.baseline)
    vals, table = attribute_pairs(nig, ce, ds, rows)
    if len(table):
        table.insert(0, "dataset", a.dataset)
        log.info("rel. completeness error on layer cuts: median %.2e, max %.2e; %.2f s/pair", table["rel_error"].median(), table["rel_error"].max(), table["seconds"].mean())
    write_npy(vals, f"{a.out}.npy")
    write_parquet(neuron_table(nig.layout).reset_index(), f"{a.out}.neurons.parquet")
    write_parquet(table, f"{a.out}.pairs.parquet")


def cmd_merge(a: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    vals, tables, neurons = [], [], None
    for p in a.inputs:
        for ext in NIG_FILES:
            if not Path(f"{p}.{ext}").is_file():
                raise IrlensError(f"{p}.{ext}: NIG shard not found; run 'irlens nig attribute' (the nig_attribute rule) first")
        n = pd.read_parquet(f"{p}.neurons.parquet")
        if neurons is not None and not n.equals(neurons):
            raise IrlensError(f"{p}.neurons.parquet: neuron layout differs from the other shards (different model?); rerun the shards")
        neurons = n
        vals.append(np.load(f"{p}.npy"))
        tables.append(pd.read_parquet(f"{p}.pairs.parquet"))
    table = pd.concat(tables, ignore_index=True)
    v = np.concatenate(vals) if vals else np.zeros((0, len(neurons)), np.float32)
    order = np.argsort(table["pair"].to_numpy(), kind="stable")
    write_npy(v[order], f"{a.out}.npy")
    write_parquet(neurons, f"{a.out}.neurons.parquet")
    write_parquet(table.iloc[order].reset_index(drop=True), f"{a.out}.pairs.parquet")
    log.info("merged %d shards into %s.* (%d pairs)", len(a.inputs), a.out, len(table))


# --------------------------------------------------------------------------------------- baselines
def cmd_baselines(a: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    from irlens.nig.attribute import BASELINES, CrossEncoderNIG, baseline_effect
    from irlens.data.beir import doc_text, load_beir
    from irlens.report.tables import write_table

    frames = [_read_parquet(p, "pairs table") for p in a.pairs]
    ce, _ = load_cross_encoder_from_args(a)
    nig = CrossEncoderNIG(ce.model, ce.tokenizer, relevant_label=ce.relevant_label)
    rows = []
    for df, data in zip(frames, a.data):
        ds = load_beir(data, [a.split])
        for label, sub in df.groupby("label", sort=False):
            sub = sub.head(a.max_pairs)
            diffs = {k: [] for k in ("original", *BASELINES)}
            for s in range(0, len(sub), 16):
                chunk = sub.iloc[s : s + 16]
                feats = ce.features([ds.queries[q] for q in chunk["qid"]], [doc_text(ds.corpus[d]) for d in chunk["doc_id"]])
                for k, v in baseline_effect(nig, feats).items():
                    diffs[k].append(v)
            d = {k: np.concatenate(v) for k, v in diffs.items()}
            orig = d["original"].mean()
            for k in ("original", *BASELINES):
                rows.append({"dataset": df["dataset"].iloc[0], "label": label, "pairs": len(sub), "baseline": k, "mean P(rel) - P(non-rel)": d[k].mean(), "relative to original": d[k].mean() / orig if orig else np.nan})
    t = pd.DataFrame(rows)
    write_table(t, a.md, a.csv, title="NIG baselines (the paper's Table 1): mean P(relevant) − P(non-relevant) at each baseline; closer to 0 = the baseline removes more of the relevance signal", floatfmt=".3f")
    print(t.to_string(index=False))


# ----------------------------------------------------------------------------------------- schemes
def _parse_sets(specs):
    out = []
    for s in specs:
        try:
            prefix, dataset, label = s.rsplit(":", 2)
        except ValueError:
            raise IrlensError(f"--set '{s}': expected <prefix>:<dataset>:<label>") from None
        out.append((prefix, dataset, label))
    return out


def cmd_schemes(a: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    from irlens.nig.schemes import FIGURE_LEVELS, base_schemes, intersection_table, pretty, scheme_sets, set_size, sets_table
    from irlens.io import write_json
    from irlens.report.tables import write_table

    means, counts, completeness, neurons = {}, {}, [], None
    for prefix, dataset, label in _parse_sets(a.set):
        n = _read_parquet(f"{prefix}.neurons.parquet", "NIG neuron table")
        if neurons is not None and not n.equals(neurons):
            raise IrlensError(f"{prefix}.neurons.parquet: neuron layout differs from the other sets; rerun them with one model")
        neurons = n
        v = np.load(f"{prefix}.npy")
        p = _read_parquet(f"{prefix}.pairs.parquet", "NIG pairs table")
        if len(v) == 0:
            log.warning("%s: no pairs; scheme %s:%s left out", prefix, dataset, label)
            continue
        means[(dataset, label)] = v.astype(np.float64).mean(0)
        counts[(dataset, label)] = len(v)
        completeness.append({"dataset": dataset, "label": label, "pairs": len(p), "median |F(x) - F(x')|": (p["f_input"] - p["f_baseline"]).abs().median(), "median rel. error": p["rel_error"].median(), "max rel. error": p["rel_error"].max(), "pairs <= 1%": (p["rel_error"] <= 0.01).mean(), "steps": int(p["steps"].iloc[0]), "rule": p["rule"].iloc[0], "s/pair": p["seconds"].mean()})
    datasets = list(dict.fromkeys(d for d, _ in means))
    ood = [d for d in datasets if d not in a.in_domain]
    values = base_schemes(means)
    levels = tuple(a.levels)
    sets = scheme_sets(values, datasets, ood, levels, a.rank_by)
    out = Path(a.out_dir)
    write_parquet(pd.concat([neurons, values], axis=1), out / "values.parquet")
    write_parquet(sets_table(sets, neurons, values), out / "sets.parquet")
    inter = intersection_table(values, datasets, ood, sorted(set(FIGURE_LEVELS) | set(levels)), a.rank_by)
    write_parquet(inter, out / "intersections.parquet")
    write_json(out / "roles.json", {"in_domain": [d for d in datasets if d in a.in_domain], "ood": ood, "pairs": {f"{d}:{l}": c for (d, l), c in counts.items()}, "levels": list(levels), "rank_by": a.rank_by, "neurons": len(neurons)})
    # tables: scheme sizes / pairs averaged, intersections at the three levels, completeness
    tdir = Path(a.tables_dir)
    rows = []
    for name, by_level in sets.items():
        n_pairs = _pairs_of(name, counts, datasets, ood)
        rows.append({"scheme": pretty(name), "pairs averaged": n_pairs, **{f"{lv:g}% (of {set_size(len(neurons), lv)})": len(by_level[lv]) for lv in levels}})
    write_table(pd.DataFrame(rows), tdir / "schemes.md", tdir / "schemes.csv", title=f"NIG schemes: neurons kept at each level ({len(neurons)} neurons; in-domain: {', '.join(d for d in datasets if d in a.in_domain) or 'none'}; OOD: {', '.join(ood) or 'none'})", floatfmt=".0f")
    it = inter[inter["level"].isin(levels)].pivot_table(index=["label", "kind", "curve"], columns="level", values="pct", sort=False).reset_index()
    it.columns = [c if isinstance(c, str) else f"{c:g}%" for c in it.columns]
    write_table(it, tdir / "intersections.md", tdir / "intersections.csv", title="NIG scheme intersections (% of the top-X % set)", floatfmt=".1f")
    write_table(pd.DataFrame(completeness), tdir / "completeness.md", tdir / "completeness.csv", title="NIG completeness on the encoder-layer cuts: max over layers of |Σ conductance − (F(x) − F(x′))| / |F(x) − F(x′)|", floatfmt=".2e")
    log.info("schemes of %s: %d sets; wrote %s and %s", datasets, len(sets), out, tdir)


def _pairs_of(name: str, counts: dict, datasets, ood) -> int:
    if name == "F_A":
        return sum(counts.values())
    if name.startswith("AND_"):
        where, kind = name[4:].split(":")
        members = datasets if where == "A" else ood
        labels = {"P": ["relevant"], "N": ["non-relevant"], "F": ["relevant", "non-relevant"]}[kind]
        return sum(counts.get((d, l), 0) for d in members for l in labels)
    kind, d = name.split(":")
    labels = {"P": ["relevant"], "N": ["non-relevant"], "F": ["relevant", "non-relevant"]}[kind]
    return sum(counts.get((d, l), 0) for l in labels)


# ----------------------------------------------------------------------------------------- figures
def cmd_figures(a: argparse.Namespace) -> None:
    from irlens.io import read_json
    from irlens.nig.figures import figure_intersections, figure_layers, figure_summary

    d = Path(a.schemes_dir)
    inter = _read_parquet(d / "intersections.parquet", "NIG intersections")
    values = _read_parquet(d / "values.parquet", "NIG scheme values")
    roles = read_json(d / "roles.json")
    out = Path(a.out_dir)
    figure_intersections(inter, out / "fig2-intersections", title=a.title)
    figure_summary(inter, out / "fig3-summary", title=a.title)
    figure_layers(values, a.fig4_scheme or _default_fig4(values, roles), a.fig4_level, out / "fig4-layers", rank_by=roles.get("rank_by", "value"), title=a.title)
    log.info("wrote figures 2-4 to %s", out)


def _default_fig4(values, roles) -> str:
    """The paper shows N_ms (the in-domain non-relevant scheme); fall back to what exists."""
    ids = roles.get("in_domain") or []
    for name in [f"N:{d}" for d in ids] + [f"P:{d}" for d in ids] + [c for c in values.columns if c[:2] in ("N:", "P:")]:
        if name in values.columns:
            return name
    raise IrlensError("NIG figures: no base scheme in values.parquet")


# ------------------------------------------------------------------------------------------ parser
def add_parser(sub) -> None:
    """Register ``irlens nig ...`` on the top-level subparsers ``sub``."""
    nig = sub.add_parser("nig", help="Neuron Integrated Gradients on a cross-encoder")
    ns = nig.add_subparsers(dest="nig_cmd", required=True)

    p = ns.add_parser("pairs", help="correctly classified relevant / non-relevant pairs of a dataset")
    add_cross_encoder_args(p)
    p.add_argument("--data", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--bm25-run", help="BM25 run: unjudged top passages are the non-relevant pairs where none are judged")
    p.add_argument("--negatives-depth", type=int, default=10)
    p.add_argument("--pairs", type=int, default=50, help="pairs per label")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True, help="pairs parquet (+ a .json with the selection counts)")
    p.set_defaults(func=cmd_pairs)

    p = ns.add_parser("attribute", help="NIG of every neuron for (a shard of) one label's pairs")
    add_cross_encoder_args(p)
    p.add_argument("--data", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--pairs", required=True, help="pairs parquet from 'irlens nig pairs'")
    p.add_argument("--label", choices=["relevant", "non-relevant"], required=True)
    p.add_argument("--baseline", default="pad-all")
    p.add_argument("--rule", default="trapezoid")
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=16384, help="padded tokens per forward/backward chunk")
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--out", required=True, help="output prefix: <out>.npy, <out>.neurons.parquet, <out>.pairs.parquet")
    p.set_defaults(func=cmd_attribute)

    p = ns.add_parser("merge", help="combine NIG shards (pair order)")
    p.add_argument("--inputs", nargs="+", required=True, help="shard prefixes")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_merge)

    p = ns.add_parser("baselines", help="Table 1: how far each baseline removes the relevance signal")
    add_cross_encoder_args(p)
    p.add_argument("--pairs", nargs="+", required=True, help="pairs parquet per dataset")
    p.add_argument("--data", nargs="+", required=True, help="dataset folder per pairs file (same order)")
    p.add_argument("--split", default="test")
    p.add_argument("--max-pairs", type=int, default=1000, help="pairs per (dataset, label)")
    p.add_argument("--md", required=True)
    p.add_argument("--csv", required=True)
    p.set_defaults(func=cmd_baselines)

    p = ns.add_parser("schemes", help="scheme values, top-X % sets, intersections, fusion; tables")
    p.add_argument("--set", action="append", required=True, help="<merged prefix>:<dataset>:<label> (repeat)")
    p.add_argument("--in-domain", action="append", default=[], help="in-domain dataset(s); the rest are OOD")
    p.add_argument("--levels", type=float, nargs="+", default=[0.01, 0.1, 1.0], help="top-X %% levels")
    p.add_argument("--rank-by", choices=["value", "abs"], default="value")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--tables-dir", required=True)
    p.set_defaults(func=cmd_schemes)

    p = ns.add_parser("figures", help="figures 2-4 of the paper from the schemes")
    p.add_argument("--schemes-dir", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--fig4-scheme", default=None, help="scheme of figure 4 (default: N of the first in-domain dataset)")
    p.add_argument("--fig4-level", type=float, default=1.0)
    p.add_argument("--title", default="")
    p.set_defaults(func=cmd_figures)
