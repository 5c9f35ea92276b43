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


#: Columns of the pairs table of ``irlens nig pairs`` that attribute and baselines read.
PAIR_COLUMNS = ("pair", "qid", "doc_id", "label", "target", "source")


def _read_parquet(path, what: str, columns=()):
    """:func:`irlens.io.read_parquet` naming the rule that makes ``what``."""
    made = "the nig_pairs rule" if "pairs" in what else "the rule that makes it"
    return read_parquet(path, what, made, columns=columns)


# ------------------------------------------------------------------------------------------- pairs
def cmd_pairs(a: argparse.Namespace) -> None:
    """``irlens nig pairs``: correctly classified pairs per label (:func:`irlens.nig.pairs.select_pairs`)."""
    from irlens.data.beir import load_beir
    from irlens.io import write_json
    from irlens.nig.pairs import select_pairs
    from irlens.retrieval.trec import read_run

    ds = load_beir(a.data, [a.split])
    bm25 = read_run(a.bm25_run) if a.bm25_run else None
    ce, resolved = load_cross_encoder_from_args(a)
    df = select_pairs(ce, ds, a.split, a.pairs, a.seed, bm25_run=bm25, negatives_depth=a.negatives_depth)
    if df.empty:
        raise IrlensError(
            f"{a.dataset}: no pair of split '{a.split}' is classified correctly by {a.model}; NIG has nothing to "
            "explain"
        )
    df.insert(0, "dataset", a.dataset)
    write_parquet(df, a.out)
    write_json(
        Path(a.out).with_suffix(".json"),
        {
            "dataset": a.dataset,
            "split": a.split,
            "model": a.model,
            "model_sha256": resolved.sha256,
            "selection": df.attrs.get("selection", {}),
            "pairs_per_label": a.pairs,
            "seed": a.seed,
        },
    )
    log.info("wrote %s: %s", a.out, df["label"].value_counts().to_dict())


# --------------------------------------------------------------------------------------- attribute
def cmd_attribute(a: argparse.Namespace) -> None:
    """``irlens nig attribute``: NIG of every neuron for one shard of one label's pairs
    (:class:`irlens.nig.attribute.CrossEncoderNIG`, :func:`irlens.nig.pairs.attribute_pairs`)."""
    from irlens.attribution.neurons import neuron_table
    from irlens.data.beir import load_beir
    from irlens.nig.attribute import CrossEncoderNIG, check_settings
    from irlens.nig.pairs import attribute_pairs, shard_rows

    check_settings(a.baseline, a.rule, a.steps)
    pairs = _read_parquet(a.pairs, "pairs table", PAIR_COLUMNS)
    pairs = pairs[pairs["label"] == a.label]
    rows = shard_rows(pairs, a.shard, a.shards)
    ds = load_beir(a.data, [a.split])
    ce, _ = load_cross_encoder_from_args(a)
    nig = CrossEncoderNIG(
        ce.model,
        ce.tokenizer,
        relevant_label=ce.relevant_label,
        baseline=a.baseline,
        steps=a.steps,
        rule=a.rule,
        max_tokens=a.max_tokens,
    )
    log.info(
        "NIG %s on %s/%s: shard %d/%d = %d pairs, %d neurons in %d Linears, %s rule, %d steps, baseline %s",
        a.model,
        a.dataset,
        a.label,
        a.shard,
        a.shards,
        len(rows),
        nig.n_neurons,
        len(nig.layout),
        a.rule,
        a.steps,
        a.baseline,
    )
    vals, table = attribute_pairs(nig, ce, ds, rows)
    if len(table):
        table.insert(0, "dataset", a.dataset)
        log.info(
            "rel. completeness error on layer cuts: median %.2e, max %.2e; %.2f s/pair",
            table["rel_error"].median(),
            table["rel_error"].max(),
            table["seconds"].mean(),
        )
    write_npy(vals, f"{a.out}.npy")
    write_parquet(neuron_table(nig.layout).reset_index(), f"{a.out}.neurons.parquet")
    write_parquet(table, f"{a.out}.pairs.parquet")


def cmd_merge(a: argparse.Namespace) -> None:
    """``irlens nig merge``: combine the shards of one label in pair order (:func:`irlens.nig.pairs.merge_shards`)."""
    from irlens.nig.pairs import merge_shards

    table = merge_shards(a.inputs, a.out)
    log.info("merged %d shards into %s.* (%d pairs)", len(a.inputs), a.out, len(table))


# --------------------------------------------------------------------------------------- baselines
def cmd_baselines(a: argparse.Namespace) -> None:
    """``irlens nig baselines``: the paper's Table 1 (:func:`irlens.nig.attribute.baseline_table`), md + csv."""
    from irlens.nig.attribute import baseline_table
    from irlens.report.tables import write_table

    frames = [_read_parquet(p, "pairs table", ("dataset", *PAIR_COLUMNS)) for p in a.pairs]
    ce, _ = load_cross_encoder_from_args(a)
    t = baseline_table(ce, frames, a.data, a.split, a.max_pairs)
    write_table(
        t,
        a.md,
        a.csv,
        title="NIG baselines (the paper's Table 1): mean P(relevant) − P(non-relevant) at each "
        "baseline; closer to 0 = the baseline removes more of the relevance signal. The signed mean (the paper's) "
        "can cancel across pairs; the mean |P(relevant) − P(non-relevant)| is 0 only if every pair is neutral",
        floatfmt=".3f",
    )
    print(t.to_string(index=False))


# ----------------------------------------------------------------------------------------- schemes
def _parse_sets(specs):
    """``--set <prefix>:<dataset>:<label>`` values → ``[(prefix, dataset, label), ...]``."""
    out = []
    for s in specs:
        try:
            prefix, dataset, label = s.rsplit(":", 2)
        except ValueError:
            raise IrlensError(f"--set '{s}': expected <prefix>:<dataset>:<label>") from None
        out.append((prefix, dataset, label))
    return out


def cmd_schemes(a: argparse.Namespace) -> None:
    """``irlens nig schemes``: scheme values, top-X % sets, intersections and tables
    (:func:`irlens.nig.schemes.compute_schemes`, :func:`irlens.nig.schemes.write_schemes`)."""
    from irlens.nig.schemes import compute_schemes, write_schemes

    r = compute_schemes(_parse_sets(a.set), a.in_domain, a.levels, a.rank_by, a.unjudged_negatives)
    write_schemes(r, a.out_dir, a.tables_dir)
    log.info("schemes of %s: %d sets; wrote %s and %s", r.datasets, len(r.sets), Path(a.out_dir), Path(a.tables_dir))
    if r.left_out:
        log.info("left out (unjudged non-relevant pairs): %s", ", ".join(r.left_out))


# ----------------------------------------------------------------------------------------- figures
def cmd_figures(a: argparse.Namespace) -> None:
    """``irlens nig figures``: figures 2-4 of the paper from the schemes (:mod:`irlens.nig.figures`)."""
    from irlens.io import read_json
    from irlens.nig.figures import default_fig4_scheme, figure_intersections, figure_layers, figure_summary
    from irlens.nig.schemes import UNJUDGED_NOTE

    d = Path(a.schemes_dir)
    inter = _read_parquet(d / "intersections.parquet", "NIG intersections", ("label", "kind", "curve", "level", "pct"))
    values = _read_parquet(d / "values.parquet", "NIG scheme values", ("layer", "component", "unit"))
    roles = read_json(d / "roles.json")
    out = Path(a.out_dir)
    title = a.title
    if roles.get("unjudged"):  # N schemes of hard negatives, not judgements: say so on every figure
        title = f"{title} ({UNJUDGED_NOTE}: {', '.join(roles['unjudged'])})" if title else UNJUDGED_NOTE
    figure_intersections(inter, out / "fig2-intersections", title=title)
    figure_summary(inter, out / "fig3-summary", title=title)
    scheme = a.fig4_scheme or default_fig4_scheme(values, roles)
    rank_by = roles.get("rank_by", "value")
    figure_layers(values, scheme, a.fig4_level, out / "fig4-layers", rank_by=rank_by, title=title)
    log.info("wrote figures 2-4 to %s", out)


# ------------------------------------------------------------------------------------------ parser
def add_parser(sub) -> None:
    """Register ``irlens nig ...`` on the top-level subparsers ``sub``."""
    nig = sub.add_parser("nig", help="Neuron Integrated Gradients on a cross-encoder")
    ns = nig.add_subparsers(dest="nig_cmd", required=True)

    p = ns.add_parser("pairs", help="correctly classified relevant / non-relevant pairs of a dataset")
    add_cross_encoder_args(p)
    p.add_argument("--data", required=True, help="BEIR dataset folder")
    p.add_argument("--dataset", required=True, help="dataset name (stored in the table)")
    p.add_argument("--split", default="test", help="qrels split the pairs come from")
    p.add_argument(
        "--bm25-run", help="BM25 run: unjudged top passages are the non-relevant pairs where none are judged"
    )
    p.add_argument("--negatives-depth", type=int, default=10, help="BM25 top passages searched for unjudged negatives")
    p.add_argument("--pairs", type=int, default=40, help="pairs per label")
    p.add_argument("--seed", type=int, default=42, help="seed of the pair draw")
    p.add_argument("--out", required=True, help="pairs parquet (+ a .json with the selection counts)")
    p.set_defaults(func=cmd_pairs)

    p = ns.add_parser("attribute", help="NIG of every neuron for (a shard of) one label's pairs")
    add_cross_encoder_args(p)
    p.add_argument("--data", required=True, help="BEIR dataset folder (texts of the pairs)")
    p.add_argument("--dataset", required=True, help="dataset name (stored in the table)")
    p.add_argument("--split", default="test", help="qrels split of the pairs")
    p.add_argument("--pairs", required=True, help="pairs parquet from 'irlens nig pairs'")
    p.add_argument(
        "--label", choices=["relevant", "non-relevant"], required=True, help="which label's pairs to attribute"
    )
    p.add_argument(
        "--baseline", default="pad-all", help="NIG baseline: pad-all, pad-query, pad, zero-all or zero-query"
    )
    p.add_argument(
        "--rule", default="trapezoid", help="Stieltjes quadrature rule: left, right, trapezoid or richardson"
    )
    p.add_argument("--steps", type=int, default=32, help="interpolation steps N (N + 1 points; even for richardson)")
    p.add_argument("--max-tokens", type=int, default=16384, help="padded tokens per forward/backward chunk")
    p.add_argument("--shard", type=int, default=0, help="this job's shard (0-based)")
    p.add_argument("--shards", type=int, default=1, help="number of shards (round robin over the pairs)")
    p.add_argument("--out", required=True, help="output prefix: <out>.npy, <out>.neurons.parquet, <out>.pairs.parquet")
    p.set_defaults(func=cmd_attribute)

    p = ns.add_parser("merge", help="combine NIG shards (pair order)")
    p.add_argument("--inputs", nargs="+", required=True, help="shard prefixes")
    p.add_argument("--out", required=True, help="output prefix of the merged files")
    p.set_defaults(func=cmd_merge)

    p = ns.add_parser("baselines", help="Table 1: how far each baseline removes the relevance signal")
    add_cross_encoder_args(p)
    p.add_argument("--pairs", nargs="+", required=True, help="pairs parquet per dataset")
    p.add_argument("--data", nargs="+", required=True, help="dataset folder per pairs file (same order)")
    p.add_argument("--split", default="test", help="qrels split of the pairs")
    p.add_argument("--max-pairs", type=int, default=100, help="pairs per (dataset, label)")
    p.add_argument("--md", required=True, help="markdown table")
    p.add_argument("--csv", required=True, help="CSV table")
    p.set_defaults(func=cmd_baselines)

    p = ns.add_parser("schemes", help="scheme values, top-X %% sets, intersections, fusion; tables")
    p.add_argument("--set", action="append", required=True, help="<merged prefix>:<dataset>:<label> (repeat)")
    p.add_argument("--in-domain", action="append", default=[], help="in-domain dataset(s); the rest are OOD")
    p.add_argument("--levels", type=float, nargs="+", default=[0.01, 0.1, 1.0], help="top-X %% levels")
    p.add_argument(
        "--rank-by",
        choices=["value", "abs"],
        default="value",
        help="rank neurons by mean attribution (value, the paper) or its absolute value",
    )
    p.add_argument(
        "--unjudged-negatives",
        choices=["exclude", "include"],
        default="exclude",
        help="non-relevant sets of unjudged BM25 passages (datasets without judged non-relevant pairs): exclude "
        "them from N, F, the N/F intersections and F_A (the paper), or include them (tables and figures say so)",
    )
    p.add_argument("--out-dir", required=True, help="folder of values/sets/intersections.parquet and roles.json")
    p.add_argument("--tables-dir", required=True, help="folder of the scheme, intersection and completeness tables")
    p.set_defaults(func=cmd_schemes)

    p = ns.add_parser("figures", help="figures 2-4 of the paper from the schemes")
    p.add_argument("--schemes-dir", required=True, help="output folder of 'irlens nig schemes'")
    p.add_argument("--out-dir", required=True, help="folder of the figures (PNG + PDF)")
    p.add_argument("--fig4-scheme", default=None, help="scheme of figure 4 (default: N of the first in-domain dataset)")
    p.add_argument("--fig4-level", type=float, default=1.0, help="top-X %% level of figure 4")
    p.add_argument("--title", default="", help="title shown on the figures")
    p.set_defaults(func=cmd_figures)
