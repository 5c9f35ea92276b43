"""``irlens ig {attribute,merge,baselines,views,wordclouds,tables}``: Integrated Gradients on dense
bi-encoders (workflow/rules/ig.smk)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from irlens.errors import IrlensError
from irlens.runtime import set_threads

log = logging.getLogger("irlens")


IG_TABLES = ("tokens", "words", "pairs")  # written in this order: pairs last marks a complete output


def _ig_read(prefix: str) -> dict:
    import pandas as pd

    out = {}
    for name in IG_TABLES:
        path = Path(f"{prefix}.{name}.parquet")
        if not path.is_file():
            raise IrlensError(f"{path}: IG table not found; run 'irlens ig attribute' (or the ig_attribute rule) first")
        out[name] = pd.read_parquet(path)
    return out


def _ig_write(tables: dict, prefix: str) -> None:
    from irlens.io import atomic_path

    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    for name in IG_TABLES:
        with atomic_path(f"{prefix}.{name}.parquet", suffix=".parquet") as tmp:
            tables[name].to_parquet(tmp, index=False)


def _ig_setup(a: argparse.Namespace, n_queries: int, k: int):
    """Dataset, run, selected queries (checked against the data before the model loads) and model."""
    from irlens.ig.ranking import check_rankings, select_queries
    from irlens.data.beir import load_beir
    from irlens.models import load_bi_encoder
    from irlens.retrieval.trec import read_run

    set_threads(a.threads)
    ds = load_beir(a.data, [a.split])
    run = read_run(a.run)
    qids = select_queries(ds, a.split, run, n_queries, a.seed)
    check_rankings(ds, run, qids, k)
    model, resolved = load_bi_encoder(a.model, a.local_dir or [], device=a.device, max_seq_length=a.max_seq_length)
    return ds, run, qids, model, resolved


def cmd_ig_attribute(a: argparse.Namespace) -> None:
    from irlens.ig import BiEncoderIG
    from irlens.ig.ranking import attribute_rankings, shard_of

    ds, run, qids, model, _ = _ig_setup(a, a.queries, a.top_k)
    qids = shard_of(qids, a.shard, a.shards)
    sides = tuple(s.strip() for s in a.sides.split(",") if s.strip())
    ig = BiEncoderIG(model, score=a.score, baseline=a.baseline, method=a.method, steps=a.steps, tol=a.tol, max_steps=a.max_steps, max_tokens=a.max_tokens)
    log.info("IG %s on %s: shard %d/%d = %d queries x top-%d, sides %s, baseline %s, %s %s steps%s", a.model, a.data, a.shard, a.shards, len(qids), a.top_k, sides, a.baseline, a.method, a.steps, f", adaptive to rel. error {a.tol}" if a.tol else "")
    tables = attribute_rankings(ig, ds, run, qids, a.top_k, sides=sides, labels={"model": a.label, "dataset": a.dataset})
    _ig_write(tables, a.out)
    p = tables["pairs"]
    if len(p):
        log.info("wrote %s.*.parquet: %d pairs, %.1f%% with rel. completeness error <= 1%%, mean steps %.1f", a.out, len(p), 100 * (p["rel_error"] <= 0.01).mean(), p["steps"].mean())


def cmd_ig_merge(a: argparse.Namespace) -> None:
    from irlens.ig.ranking import merge_tables

    merged = merge_tables([_ig_read(p) for p in a.inputs])
    _ig_write(merged, a.out)
    log.info("merged %d shards into %s.*.parquet (%d pairs)", len(a.inputs), a.out, len(merged["pairs"]))


def cmd_ig_baselines(a: argparse.Namespace) -> None:
    from irlens.ig.analysis import baseline_table
    from irlens.ig.ranking import top_k
    from irlens.data.beir import doc_text
    from irlens.report.tables import write_table

    ds, run, qids, model, _ = _ig_setup(a, a.pairs, 1)
    pairs = [(ds.queries[q], doc_text(ds.corpus[top_k(run, q, 1)[0][0]])) for q in qids]
    df = baseline_table(model, pairs, a.score, [b.strip() for b in a.baselines.split(",")])
    df.insert(0, "dataset", a.dataset)
    df.insert(0, "model", a.label)
    write_table(df, a.md, a.csv, title=f"IG baselines: score of the input vs the baseline ({a.label}, {a.dataset}, top-1 pairs)")
    print(df.to_string(index=False))


def cmd_ig_views(a: argparse.Namespace) -> None:
    from irlens.ig.views import pair_heatmap, pair_html, write_views_html

    t = _ig_read(a.ig)
    words, pairs = t["words"], t["pairs"]
    qids = sorted(pairs["qid"].unique())[: len(a.heatmaps)]
    if len(qids) < len(a.heatmaps):
        raise IrlensError(f"{a.ig}: only {len(qids)} attributed queries, {len(a.heatmaps)} views asked; raise ig.queries or lower ig.view_queries")
    sections = []
    for qid, png in zip(qids, a.heatmaps):
        top = pairs[(pairs["qid"] == qid) & (pairs["rank"] == 1)]
        docid = top["docid"].iloc[0]
        sel = (words["qid"] == qid) & (words["docid"] == docid)
        qw, dw = words[sel & (words["side"] == "query")], words[sel & (words["side"] == "document")]
        facts = {"query id": qid, "top-1 document": docid}
        for side, g in top.groupby("side"):
            facts[f"{side} side: s(x) / s(x')"] = f"{g['score'].iloc[0]:.4f} / {g['baseline_score'].iloc[0]:.4f}"
            facts[f"{side} side: rel. completeness error, steps"] = f"{g['rel_error'].iloc[0]:.2e}, {int(g['steps'].iloc[0])}"
        sections.append(pair_html(qw, dw, f"{a.label} · {a.dataset} · query {qid} → {docid}", facts))
        pair_heatmap(qw, dw, png, title=f"{a.label} on {a.dataset}: query {qid}, top-1 document {docid}")
    write_views_html(a.html, f"IG instance views: {a.label} on {a.dataset}", sections, note=f"baseline {pairs['baseline'].iloc[0]}, {pairs['method'].iloc[0]}")
    log.info("wrote %s and %d heatmaps", a.html, len(a.heatmaps))


def cmd_ig_wordclouds(a: argparse.Namespace) -> None:
    GREEN, RED = 140, 0  # hues
    from irlens.ig.analysis import aggregate_words
    from irlens.ig.views import wordcloud_figure

    if len(a.ig) != len(a.labels) or len(a.out) != len(a.labels):
        raise IrlensError("ig wordclouds: give one --ig, --label and --out per model")
    agg = {lab: aggregate_words(_ig_read(p)["words"], side=a.side).set_index("norm")["score"] for p, lab in zip(a.ig, a.labels)}
    for lab, png in zip(a.labels, a.out):
        s = agg[lab]
        pos, neg = s.nlargest(a.words), (-s).nlargest(a.words)
        wordcloud_figure([("most positive", pos.to_dict(), GREEN), ("most negative", neg.to_dict(), RED)], png, f"{lab} on {a.dataset}: {a.side} words summed over top-k rankings", seed=a.seed)
    base = a.labels[0]
    for lab, png in zip(a.labels[1:], a.diff_out or []):
        d = agg[lab].sub(agg[base], fill_value=0.0)
        wordcloud_figure([(f"higher in {lab}", d.nlargest(a.words).to_dict(), GREEN), (f"higher in {base}", (-d).nlargest(a.words).to_dict(), RED)], png, f"{lab} minus {base} on {a.dataset} ({a.side} words)", seed=a.seed)
    log.info("wrote %d word-cloud figures", len(a.out) + len(a.diff_out or []))


def cmd_ig_tables(a: argparse.Namespace) -> None:
    from collections import Counter

    import pandas as pd

    from irlens.ig.analysis import completeness_summary, domain_share, domain_terms, title_share, word_counts
    from irlens.data.beir import doc_text, read_corpus
    from irlens.report.tables import write_table

    tables = [_ig_read(p) for p in a.ig]
    pairs = pd.concat([t["pairs"] for t in tables], ignore_index=True)
    words = pd.concat([t["words"] for t in tables], ignore_index=True)
    write_table(completeness_summary(pairs, tol=a.tol), a.completeness + ".md", a.completeness + ".csv", title=f"IG completeness: share of pairs with relative error <= {a.tol:g}")
    write_table(title_share(words), a.title_share + ".md", a.title_share + ".csv", title="Share of positive document attribution on title words (vs share of title words)")
    counts = {}
    for spec in a.corpus:
        name, _, path = spec.partition("=")
        counts[name] = word_counts(doc_text(d) for d in read_corpus(path).values())
    rows, vocab = [], []
    for dataset in sorted(words["dataset"].unique()):
        if dataset not in counts:
            raise IrlensError(f"ig tables: no --corpus {dataset}=<corpus.jsonl> given for the domain-term reference")
        ref = sum((c for n, c in counts.items() if n != dataset), start=Counter())
        if not ref:
            raise IrlensError(f"ig tables: in-domain terms of {dataset} need a reference corpus (another dataset); give a second --corpus")
        terms = domain_terms(counts[dataset], ref, n=a.domain_terms)
        terms.insert(0, "dataset", dataset)
        vocab.append(terms)
        rows.append(domain_share(words[words["dataset"] == dataset], set(terms["term"])))
    write_table(pd.concat(rows, ignore_index=True), a.domain + ".md", a.domain + ".csv", title="Attribution mass on in-domain terms (over-represented in the target corpus vs the other datasets)")
    from irlens.io import atomic_path

    with atomic_path(a.domain + "_vocabulary.csv", suffix=".csv") as tmp:
        pd.concat(vocab, ignore_index=True).to_csv(tmp, index=False)
    log.info("wrote IG tables")


def _add_ig_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="prepared dataset folder (results/data/<dataset>)")
    p.add_argument("--dataset", required=True, help="dataset label written into the tables")
    p.add_argument("--split", default="test")
    p.add_argument("--run", required=True, help="TREC run of the same model (its top-k are attributed)")
    p.add_argument("--model", required=True, help="HF id or folder of the bi-encoder")
    p.add_argument("--label", required=True, help="model label written into the tables (config key)")
    p.add_argument("--score", choices=["dot", "cos"], default="cos")
    p.add_argument("--local-dir", action="append")
    p.add_argument("--device", default="auto")
    p.add_argument("--max-seq-length", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=42)


def add_parser(sub) -> None:
    """Register ``irlens ig ...`` on the top-level subparsers ``sub``."""
    ig = sub.add_parser("ig", help="Integrated Gradients for bi-encoders")
    isub = ig.add_subparsers(dest="ig_cmd", required=True)
    ia = isub.add_parser("attribute", help="IG of every top-k pair of (a shard of) the selected queries")
    _add_ig_model_args(ia)
    ia.add_argument("--queries", type=int, default=5, help="judged queries drawn with --seed (0: all)")
    ia.add_argument("--top-k", type=int, default=25)
    ia.add_argument("--sides", default="document,query")
    ia.add_argument("--baseline", default="pad", help="pad | pad-all | mask | zero")
    ia.add_argument("--method", default="gauss-legendre", help="quadrature rule (irlens.attribution.quadrature.METHODS)")
    ia.add_argument("--steps", type=int, default=16, help="fixed: number of points; adaptive: initial points")
    ia.add_argument("--tol", type=float, default=None, help="adaptive: relative completeness error to reach")
    ia.add_argument("--max-steps", type=int, default=256)
    ia.add_argument("--max-tokens", type=int, default=8192, help="padded tokens per forward/backward chunk")
    ia.add_argument("--shard", type=int, default=0)
    ia.add_argument("--shards", type=int, default=1)
    ia.add_argument("--out", required=True, help="output prefix: <out>.{pairs,words,tokens}.parquet")
    ia.set_defaults(func=cmd_ig_attribute)

    im = isub.add_parser("merge", help="combine shard tables (canonical order)")
    im.add_argument("--inputs", nargs="+", required=True, help="shard prefixes")
    im.add_argument("--out", required=True)
    im.set_defaults(func=cmd_ig_merge)

    ib = isub.add_parser("baselines", help="table: how far each baseline drives the score toward zero")
    _add_ig_model_args(ib)
    ib.add_argument("--pairs", type=int, default=20, help="queries (each with its top-1 document)")
    ib.add_argument("--baselines", default="pad,pad-all,mask,zero")
    ib.add_argument("--md", required=True)
    ib.add_argument("--csv", required=True)
    ib.set_defaults(func=cmd_ig_baselines)

    iv = isub.add_parser("views", help="instance views: HTML page and PNG/PDF heatmaps of top-1 pairs")
    iv.add_argument("--ig", required=True, help="merged IG prefix")
    iv.add_argument("--label", required=True)
    iv.add_argument("--dataset", required=True)
    iv.add_argument("--html", required=True)
    iv.add_argument("--heatmaps", nargs="+", required=True, help="one PNG per view (first queries by id)")
    iv.set_defaults(func=cmd_ig_views)

    iw = isub.add_parser("wordclouds", help="ranking-level word clouds per model, and differences to the first model")
    iw.add_argument("--ig", nargs="+", required=True)
    iw.add_argument("--labels", nargs="+", required=True)
    iw.add_argument("--dataset", required=True)
    iw.add_argument("--side", default="document", choices=["document", "query"])
    iw.add_argument("--words", type=int, default=60)
    iw.add_argument("--seed", type=int, default=42)
    iw.add_argument("--out", nargs="+", required=True, help="one PNG per model")
    iw.add_argument("--diff-out", nargs="*", help="one PNG per model after the first: it minus the first")
    iw.set_defaults(func=cmd_ig_wordclouds)

    it = isub.add_parser("tables", help="completeness summary, title share, in-domain term share")
    it.add_argument("--ig", nargs="+", required=True)
    it.add_argument("--corpus", nargs="+", required=True, help="dataset=path/to/corpus.jsonl (targets and references)")
    it.add_argument("--domain-terms", type=int, default=300)
    it.add_argument("--tol", type=float, default=0.01)
    it.add_argument("--completeness", required=True, help="output prefix (.md and .csv)")
    it.add_argument("--title-share", required=True, help="output prefix (.md and .csv)")
    it.add_argument("--domain", required=True, help="output prefix (.md, .csv and _vocabulary.csv)")
    it.set_defaults(func=cmd_ig_tables)
