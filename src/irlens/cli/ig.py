"""``irlens ig {pairs,attribute,merge,baselines,views,wordclouds,faithfulness,faithfulness-table,tables}``:
Integrated Gradients on dense bi-encoders (workflow/rules/ig.smk)."""

from __future__ import annotations

import argparse
import logging

from irlens.errors import IrlensError
from irlens.runtime import set_threads

log = logging.getLogger("irlens")


def _ig_setup(a: argparse.Namespace, n_queries: int, k: int):
    """Dataset, run, selected queries (checked against the data before the model loads) and model."""
    from irlens.data.beir import load_beir
    from irlens.ig.ranking import check_rankings, select_queries
    from irlens.models import load_bi_encoder
    from irlens.models.resolve import parse_pins
    from irlens.retrieval.trec import read_run

    set_threads(a.threads)
    ds = load_beir(a.data, [a.split])
    run = read_run(a.run)
    qids = select_queries(ds, a.split, run, n_queries, a.seed)
    check_rankings(ds, run, qids, k)
    model, resolved = load_bi_encoder(
        a.model, a.local_dir or [], device=a.device, max_seq_length=a.max_seq_length, pins=parse_pins(a.pin)
    )
    return ds, run, qids, model, resolved


def cmd_ig_pairs(a: argparse.Namespace) -> None:
    """``irlens ig pairs``: the (query, document) pairs every compared model attributes."""
    from irlens.data.beir import load_beir
    from irlens.ig.ranking import select_pairs
    from irlens.io import atomic_path
    from irlens.retrieval.trec import read_run

    runs = {}
    for spec in a.run:
        label, _, path = spec.partition("=")
        if not label or not path:
            raise IrlensError(f"--run '{spec}': expected <model label>=<run.trec>")
        runs[label] = read_run(path)
    ds = load_beir(a.data, [a.split])
    df = select_pairs(ds, a.split, runs, a.queries, a.seed, a.top_k)
    with atomic_path(a.out, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)
    own = {lab: int(df[f"topk_{lab}"].sum()) for lab in runs}
    log.info(
        "wrote %s: %d queries, %d pairs (top-%d per model: %s; judged relevant: %d, of them outside every top-%d: %d)",
        a.out,
        df["qid"].nunique(),
        len(df),
        a.top_k,
        own,
        int(df["relevant"].sum()),
        a.top_k,
        int((df["relevant"] & ~df[[f"topk_{lab}" for lab in runs]].any(axis=1)).sum()),
    )


def cmd_ig_attribute(a: argparse.Namespace) -> None:
    """``irlens ig attribute``: IG tables of the pairs (``--pairs``, or else every top-k pair) of a shard of
    the selected queries."""
    from irlens.ig import BiEncoderIG
    from irlens.ig.ranking import attribute_rankings, read_pairs, shard_of, write_tables

    pairs_table = None
    if a.pairs:
        from irlens.data.beir import load_beir
        from irlens.models import load_bi_encoder
        from irlens.models.resolve import parse_pins
        from irlens.retrieval.trec import read_run

        set_threads(a.threads)
        pairs_table = read_pairs(a.pairs)
        ds = load_beir(a.data, [a.split])
        run = read_run(a.run)
        qids = sorted(pairs_table["qid"].unique())
        missing = [q for q in qids if q not in ds.queries or not ds.queries[q].strip()]
        if missing:
            raise IrlensError(f"pairs table {a.pairs}: query '{missing[0]}' is missing or empty in queries.jsonl")
        model, _ = load_bi_encoder(
            a.model, a.local_dir or [], device=a.device, max_seq_length=a.max_seq_length, pins=parse_pins(a.pin)
        )
    else:
        ds, run, qids, model, _ = _ig_setup(a, a.queries, a.top_k)
    qids = shard_of(qids, a.shard, a.shards)
    sides = tuple(s.strip() for s in a.sides.split(",") if s.strip())
    ig = BiEncoderIG(
        model,
        score=a.score,
        baseline=a.baseline,
        method=a.method,
        steps=a.steps,
        tol=a.tol,
        max_steps=a.max_steps,
        max_tokens=a.max_tokens,
        precision=a.precision,
    )
    log.info(
        "IG %s on %s: shard %d/%d = %d queries x %s, sides %s, baseline %s, %s %s steps%s",
        a.model,
        a.data,
        a.shard,
        a.shards,
        len(qids),
        f"the pairs of {a.pairs}" if a.pairs else f"top-{a.top_k}",
        sides,
        a.baseline,
        a.method,
        a.steps,
        f", adaptive to rel. error {a.tol}" if a.tol else "",
    )
    labels = {"model": a.label, "dataset": a.dataset}
    tables = attribute_rankings(ig, ds, run, qids, a.top_k, sides=sides, labels=labels, pairs_table=pairs_table)
    write_tables(tables, a.out)
    p = tables["pairs"]
    if len(p):
        log.info(
            "wrote %s.*.parquet: %d pairs, %.1f%% with rel. completeness error <= 1%%, mean steps %.1f",
            a.out,
            len(p),
            100 * (p["rel_error"] <= 0.01).mean(),
            p["steps"].mean(),
        )


def cmd_ig_merge(a: argparse.Namespace) -> None:
    """``irlens ig merge``: combine shard tables into one set, in canonical order."""
    from irlens.ig.ranking import merge_tables, read_tables, write_tables

    merged = merge_tables([read_tables(p) for p in a.inputs])
    write_tables(merged, a.out)
    log.info("merged %d shards into %s.*.parquet (%d pairs)", len(a.inputs), a.out, len(merged["pairs"]))


def cmd_ig_baselines(a: argparse.Namespace) -> None:
    """``irlens ig baselines``: table of how far each IG baseline drives the score toward zero."""
    from irlens.ig.analysis import baseline_table
    from irlens.ig.ranking import top1_pairs
    from irlens.report.tables import write_table

    ds, run, qids, model, _ = _ig_setup(a, a.pairs, 1)
    baselines = [b.strip() for b in a.baselines.split(",")]
    labels = {"model": a.label, "dataset": a.dataset}
    df = baseline_table(model, top1_pairs(ds, run, qids), a.score, baselines, labels=labels)
    title = f"IG baselines: score of the input vs the baseline ({a.label}, {a.dataset}, top-1 pairs)"
    write_table(df, a.md, a.csv, title=title)
    print(df.to_string(index=False))


def cmd_ig_views(a: argparse.Namespace) -> None:
    """``irlens ig views``: HTML page and heatmaps of the top-1 pair of the first queries."""
    from irlens.ig.ranking import read_tables
    from irlens.ig.views import write_views

    write_views(read_tables(a.ig), a.label, a.dataset, a.html, a.heatmaps, source=a.ig)
    log.info("wrote %s and %d heatmaps", a.html, len(a.heatmaps))


def cmd_ig_wordclouds(a: argparse.Namespace) -> None:
    """``irlens ig wordclouds``: ranking-level word clouds per model and differences to the first model."""
    from irlens.ig.ranking import read_tables
    from irlens.ig.views import write_wordclouds

    if len(a.ig) != len(a.labels) or len(a.out) != len(a.labels):
        raise IrlensError("ig wordclouds: give one --ig, --label and --out per model")
    if a.diff_out and len(a.diff_out) != len(a.labels) - 1:
        raise IrlensError(
            f"--diff-out: give one per model after the first ({len(a.labels) - 1}), got {len(a.diff_out)}"
        )
    words = [read_tables(p)["words"] for p in a.ig]
    n = write_wordclouds(
        words, a.labels, a.out, a.dataset, side=a.side, n_words=a.words, seed=a.seed, diff_outs=a.diff_out
    )
    log.info("wrote %d word-cloud figures", n)


def cmd_ig_tables(a: argparse.Namespace) -> None:
    """``irlens ig tables``: completeness summary, title share and in-domain term share (md + csv)."""
    from irlens.ig.analysis import (
        completeness_summary,
        corpus_word_stats,
        domain_term_tables,
        median_title_words,
        pair_shares,
        paired_differences,
        reference_name,
        title_share,
    )
    from irlens.ig.ranking import concat_tables, read_tables
    from irlens.io import atomic_path
    from irlens.report.tables import write_table

    corpora = [spec.partition("=")[::2] for spec in a.corpus]
    for spec, (name, path) in zip(a.corpus, corpora):
        if "=" not in spec or not name or not path:
            raise IrlensError(f"--corpus '{spec}': expected <dataset>=<path to corpus.jsonl>")
    tables = [read_tables(p) for p in a.ig]
    pairs, words = concat_tables(tables, "pairs"), concat_tables(tables, "words")
    write_table(
        completeness_summary(pairs, tol=a.tol),
        a.completeness + ".md",
        a.completeness + ".csv",
        title=f"IG completeness: share of pairs with relative error <= {a.tol:g}",
    )
    needed = set(words["dataset"]) if len(words) else set()
    pseudo_n = {name: median_title_words(path) for name, path in corpora if name in needed}
    write_table(
        title_share(words, pseudo_n=pseudo_n),
        a.title_share + ".md",
        a.title_share + ".csv",
        title="Share of positive document attribution on title words (vs share of title words); positional "
        "control: share on the first n words of documents without a title (n = median title length in words)",
    )
    stats = {name: corpus_word_stats(path) for name, path in corpora if name in needed}
    share, vocabulary = domain_term_tables(
        words, stats, n=a.domain_terms, min_df=a.domain_min_df, smoothing=a.domain_smoothing
    )
    write_table(
        share,
        a.domain + ".md",
        a.domain + ".csv",
        title="Attribution mass on in-domain terms (words over-represented in the target corpus vs general "
        f"English: {reference_name()})",
    )
    with atomic_path(a.domain + "_vocabulary.csv", suffix=".csv") as tmp:
        vocabulary.to_csv(tmp, index=False)
    if a.paired:
        base = a.base or str(tables[0]["pairs"]["model"].iloc[0])
        terms = {d: set(g["term"]) for d, g in vocabulary.groupby("dataset")}
        paired = paired_differences(pair_shares(words, pseudo_n, terms), base, n_boot=a.bootstrap, seed=a.seed)
        write_table(
            paired,
            a.paired + ".md",
            a.paired + ".csv",
            title=f"Paired differences model - {base} on the same (query, document) pairs: per query the mean "
            f"over its pairs, mean over queries, percentile bootstrap 95% CI ({a.bootstrap} resamples, seed {a.seed})",
        )
    log.info("wrote IG tables")


def cmd_ig_faithfulness(a: argparse.Namespace) -> None:
    """``irlens ig faithfulness``: deletion/insertion curves of the IG pairs of one model, in the order of its
    IG word scores, gradient × input, attention rollout and seeded random orders (irlens.ig.faithfulness)."""
    from irlens.data.beir import load_beir
    from irlens.ig import BiEncoderIG
    from irlens.ig.faithfulness import ORDERS, faithfulness_rankings
    from irlens.ig.ranking import read_pairs
    from irlens.io import atomic_path, read_parquet
    from irlens.models import load_bi_encoder
    from irlens.models.resolve import parse_pins

    set_threads(a.threads)
    pairs_table = read_pairs(a.pairs)
    words = read_parquet(a.words, "IG words table", "'irlens ig attribute' / 'irlens ig merge'")
    ds = load_beir(a.data, [a.split])
    sides = tuple(s.strip() for s in a.sides.split(",") if s.strip())
    bad = [s for s in sides if s not in ("document", "query")]
    if bad:
        raise IrlensError(f"--sides: {', '.join(bad)} is not document or query")
    orders = tuple(o.strip() for o in a.orders.split(",") if o.strip())
    bad = [o for o in orders if o not in ORDERS]
    if bad or not orders:
        raise IrlensError(f"--orders '{a.orders}': choose from {', '.join(ORDERS)}")
    try:
        fractions = [float(x) for x in a.fractions.split(",")]
    except ValueError:
        raise IrlensError(f"--fractions '{a.fractions}': expected comma-separated numbers from 0 to 1") from None
    model, _ = load_bi_encoder(
        a.model, a.local_dir or [], device=a.device, max_seq_length=a.max_seq_length, pins=parse_pins(a.pin)
    )
    ig = BiEncoderIG(model, score=a.score, baseline=a.baseline, max_tokens=a.max_tokens)
    log.info(
        "faithfulness of %s on %s: %d queries x <= %s pairs, sides %s, orders %s, %d random repeats, %d steps",
        a.label, a.dataset, pairs_table["qid"].nunique(), a.per_query or "all", sides, orders, a.repeats,
        len(fractions),
    )  # fmt: skip
    curves, summary = faithfulness_rankings(
        ig,
        ds,
        pairs_table,
        words,
        sides=sides,
        per_query=a.per_query,
        labels={"model": a.label, "dataset": a.dataset},
        orders=orders,
        repeats=a.repeats,
        seed=a.seed,
        fractions=fractions,
    )
    with atomic_path(a.out + ".curves.parquet") as tmp:
        curves.to_parquet(tmp, index=False)
    with atomic_path(a.out + ".summary.parquet") as tmp:
        summary.to_parquet(tmp, index=False)
    if len(summary):
        m = summary.groupby(["side", "mode", "order"])["aopc"].mean()
        log.info("wrote %s.{curves,summary}.parquet; mean AOPC:\n%s", a.out, m.to_string())


def cmd_ig_faithfulness_table(a: argparse.Namespace) -> None:
    """``irlens ig faithfulness-table``: AOPC per model, side, mode and order with bootstrap CIs over queries,
    IG − random, IG − gradient × input and IG − attention rollout on the same pairs, and the mean curves'
    figure."""
    import pandas as pd

    from irlens.ig.faithfulness import faithfulness_table, figure_faithfulness
    from irlens.io import read_parquet
    from irlens.report.tables import write_table

    summary = pd.concat(
        [read_parquet(p + ".summary.parquet", "faithfulness summary", "'irlens ig faithfulness'") for p in a.inputs],
        ignore_index=True,
    )
    curves = pd.concat(
        [read_parquet(p + ".curves.parquet", "faithfulness curves", "'irlens ig faithfulness'") for p in a.inputs],
        ignore_index=True,
    )
    table = faithfulness_table(summary, a.bootstrap, a.seed)
    write_table(
        table,
        a.md,
        a.csv,
        title="IG faithfulness: normalised AOPC of deletion (score removed) and insertion (score restored) curves "
        "in the order of IG's word scores, gradient × input, attention rollout (mean-pooled) and random words (mean of "
        f"{int(summary['repeats'].max()) if len(summary) else 0} seeded orders); larger = more faithful. Per query "
        f"the mean over its pairs, mean over queries, percentile bootstrap 95% CI ({a.bootstrap} resamples, seed "
        f"{a.seed}); `ig − x`: paired on the same pairs",
    )
    if a.figure:
        figure_faithfulness(curves, a.figure, title="IG faithfulness: mean curves")
    log.info("wrote %s, %s (%d rows)", a.md, a.csv, len(table))


def _add_ig_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="prepared dataset folder (results/data/<dataset>)")
    p.add_argument("--dataset", required=True, help="dataset label written into the tables")
    p.add_argument("--split", default="test", help="dataset split the queries are drawn from")
    p.add_argument("--run", required=True, help="TREC run of the same model (its top-k, or its ranks of --pairs)")
    p.add_argument("--model", required=True, help="HF id or folder of the bi-encoder")
    p.add_argument("--label", required=True, help="model label written into the tables (config key)")
    p.add_argument("--score", choices=["dot", "cos"], default="cos", help="similarity of the bi-encoder")
    p.add_argument("--local-dir", action="append", help="local model folder(s) (<dir>/<org>__<name>/)")
    p.add_argument("--pin", action="append", help="<id>=<sha256>: that id's weights must have this sha256 (repeat)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--max-seq-length", type=int, help="truncate inputs to this many tokens (default: the model's)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=42, help="seed of the query draw")


def add_parser(sub) -> None:
    """Register ``irlens ig ...`` on the top-level subparsers ``sub``."""
    ig = sub.add_parser("ig", help="Integrated Gradients for bi-encoders")
    isub = ig.add_subparsers(dest="ig_cmd", required=True)
    ip = isub.add_parser("pairs", help="pairs to attribute: union of the models' top-k and the judged relevant")
    ip.add_argument("--data", required=True, help="prepared dataset folder (results/data/<dataset>)")
    ip.add_argument("--split", default="test", help="dataset split the queries are drawn from")
    ip.add_argument("--run", nargs="+", required=True, help="<model label>=<run.trec>, one per compared model")
    ip.add_argument("--queries", type=int, default=6, help="judged queries drawn with --seed (0: all)")
    ip.add_argument("--top-k", type=int, default=10, help="documents per query and model (from the top of its run)")
    ip.add_argument("--seed", type=int, default=42, help="seed of the query draw")
    ip.add_argument("--out", required=True, help="output parquet (one row per (qid, docid))")
    ip.set_defaults(func=cmd_ig_pairs)

    ia = isub.add_parser("attribute", help="IG of the --pairs (or every top-k pair) of (a shard of) the queries")
    _add_ig_model_args(ia)
    ia.add_argument(
        "--pairs", help="pairs table of 'irlens ig pairs' (shared by the compared models); else the run's top-k"
    )
    ia.add_argument("--queries", type=int, default=6, help="judged queries drawn with --seed (0: all)")
    ia.add_argument("--top-k", type=int, default=10, help="documents per query attributed (from the top of the run)")
    ia.add_argument(
        "--sides",
        default="document,query",
        help="comma-separated sides to attribute: document, query, untitled (document without its title)",
    )
    ia.add_argument("--baseline", default="pad", help="pad | pad-all | mask | zero")
    ia.add_argument(
        "--method",
        default="gauss-legendre",
        help="fixed rule (irlens.attribution.quadrature.METHODS); with --tol: 3-point Gauss-Lobatto panels",
    )
    ia.add_argument("--steps", type=int, default=9, help="fixed: number of points; adaptive: initial points (odd)")
    ia.add_argument("--tol", type=float, default=None, help="adaptive: relative completeness error to reach")
    ia.add_argument("--max-steps", type=int, default=256, help="adaptive: most points per pair")
    ia.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: gradient passes under bf16 autocast (GPU), fp32 end scores; with --tol a pair that misses it "
        "is redone in fp32",
    )
    ia.add_argument("--max-tokens", type=int, default=8192, help="padded tokens per forward/backward chunk")
    ia.add_argument("--shard", type=int, default=0, help="this shard (0-based)")
    ia.add_argument("--shards", type=int, default=1, help="number of shards the queries are split into (round robin)")
    ia.add_argument("--out", required=True, help="output prefix: <out>.{pairs,words,tokens}.parquet")
    ia.set_defaults(func=cmd_ig_attribute)

    im = isub.add_parser("merge", help="combine shard tables (canonical order)")
    im.add_argument("--inputs", nargs="+", required=True, help="shard prefixes")
    im.add_argument("--out", required=True, help="output prefix of the merged tables")
    im.set_defaults(func=cmd_ig_merge)

    ib = isub.add_parser("baselines", help="table: how far each baseline drives the score toward zero")
    _add_ig_model_args(ib)
    ib.add_argument("--pairs", type=int, default=20, help="queries (each with its top-1 document)")
    ib.add_argument("--baselines", default="pad,pad-all,mask,zero", help="comma-separated baselines to compare")
    ib.add_argument("--md", required=True, help="output Markdown table")
    ib.add_argument("--csv", required=True, help="output CSV table")
    ib.set_defaults(func=cmd_ig_baselines)

    iv = isub.add_parser("views", help="instance views: HTML page and PNG/PDF heatmaps of top-1 pairs")
    iv.add_argument("--ig", required=True, help="merged IG prefix")
    iv.add_argument("--label", required=True, help="model label shown in titles")
    iv.add_argument("--dataset", required=True, help="dataset label shown in titles")
    iv.add_argument("--html", required=True, help="output HTML page")
    iv.add_argument("--heatmaps", nargs="+", required=True, help="one PNG per view (first queries by id)")
    iv.set_defaults(func=cmd_ig_views)

    iw = isub.add_parser("wordclouds", help="ranking-level word clouds per model, and differences to the first model")
    iw.add_argument("--ig", nargs="+", required=True, help="merged IG prefix per model")
    iw.add_argument("--labels", nargs="+", required=True, help="model label per --ig (differences are to the first)")
    iw.add_argument("--dataset", required=True, help="dataset label shown in titles")
    iw.add_argument("--side", default="document", choices=["document", "query"], help="which side's words to aggregate")
    iw.add_argument("--words", type=int, default=60, help="words per cloud")
    iw.add_argument("--seed", type=int, default=42, help="word-cloud layout seed")
    iw.add_argument("--out", nargs="+", required=True, help="one PNG per model")
    iw.add_argument("--diff-out", nargs="*", help="one PNG per model after the first: it minus the first")
    iw.set_defaults(func=cmd_ig_wordclouds)

    fa = isub.add_parser(
        "faithfulness",
        help="deletion/insertion curves of the IG pairs: IG vs gradient x input vs attention rollout vs random order",
    )
    fa.add_argument("--data", required=True, help="prepared dataset folder (results/data/<dataset>)")
    fa.add_argument("--dataset", required=True, help="dataset label written into the tables")
    fa.add_argument("--split", default="test", help="split of the queries in --pairs")
    fa.add_argument("--pairs", required=True, help="pairs table of 'irlens ig pairs'")
    fa.add_argument("--words", required=True, help="this model's IG words table (<prefix>.words.parquet)")
    fa.add_argument("--model", required=True, help="HF id or folder of the bi-encoder")
    fa.add_argument("--label", required=True, help="model label written into the tables (config key)")
    fa.add_argument("--score", choices=["dot", "cos"], default="cos", help="similarity of the bi-encoder")
    fa.add_argument("--baseline", default="pad", help="the baseline IG used: pad | pad-all | mask | zero")
    fa.add_argument("--sides", default="document,query", help="comma-separated: document, query")
    fa.add_argument("--per-query", type=int, default=4, help="pairs per query, best ranked first (0: all)")
    fa.add_argument(
        "--orders",
        default="ig,grad_input,attention,random",
        help="comma-separated word orders: ig, grad_input, attention (rollout), random",
    )
    fa.add_argument("--repeats", type=int, default=3, help="random orders per pair (seeded)")
    fa.add_argument("--fractions", default="0,0.1,0.2,0.3,0.5,0.7,1", help="fractions of the words changed")
    fa.add_argument("--seed", type=int, default=42, help="seed of the random orders")
    fa.add_argument("--max-tokens", type=int, default=8192, help="padded tokens per forward chunk")
    fa.add_argument("--local-dir", action="append", help="local model folder(s) (<dir>/<org>__<name>/)")
    fa.add_argument("--pin", action="append", help="<id>=<sha256>: that id's weights must have this sha256 (repeat)")
    fa.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    fa.add_argument("--max-seq-length", type=int, help="truncate inputs to this many tokens (default: the model's)")
    fa.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    fa.add_argument("--out", required=True, help="output prefix: <out>.{curves,summary}.parquet")
    fa.set_defaults(func=cmd_ig_faithfulness)

    ft = isub.add_parser("faithfulness-table", help="AOPC table with bootstrap CIs and the mean-curve figure")
    ft.add_argument("--inputs", nargs="+", required=True, help="output prefixes of 'irlens ig faithfulness'")
    ft.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples of the CIs over queries")
    ft.add_argument("--seed", type=int, default=42, help="bootstrap seed")
    ft.add_argument("--md", required=True, help="output Markdown table")
    ft.add_argument("--csv", required=True, help="output CSV table")
    ft.add_argument("--figure", help="output figure (.png; a .pdf beside it)")
    ft.set_defaults(func=cmd_ig_faithfulness_table)

    it = isub.add_parser("tables", help="completeness summary, title share, in-domain term share")
    it.add_argument("--ig", nargs="+", required=True, help="merged IG prefixes (any models and datasets)")
    it.add_argument(
        "--corpus", nargs="+", required=True, help="dataset=path/to/corpus.jsonl, one per attributed dataset"
    )
    it.add_argument(
        "--domain-terms", type=int, default=300, help="in-domain terms per dataset (top by log-ratio vs English)"
    )
    it.add_argument(
        "--domain-min-df",
        type=int,
        default=5,
        help="an in-domain term occurs in at least this many documents of its corpus",
    )
    it.add_argument(
        "--domain-smoothing",
        type=float,
        default=10.0,
        help="k of the log-ratio log2((corpus per million + k) / (English per million + k)); larger favours "
        "frequent words",
    )
    it.add_argument("--tol", type=float, default=0.01, help="relative completeness error counted as complete")
    it.add_argument("--completeness", required=True, help="output prefix (.md and .csv)")
    it.add_argument("--title-share", required=True, help="output prefix (.md and .csv)")
    it.add_argument("--domain", required=True, help="output prefix (.md, .csv and _vocabulary.csv)")
    it.add_argument("--paired", help="output prefix (.md and .csv) of the paired model - base differences")
    it.add_argument("--base", help="reference model of --paired (default: the model of the first --ig)")
    it.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples of the paired CIs")
    it.add_argument("--seed", type=int, default=42, help="seed of the bootstrap")
    it.set_defaults(func=cmd_ig_tables)
