"""``irlens <subcommand>``: what every Snakemake rule calls. Usable by hand as well.

Every failure caused by input, data or environment prints one line ``irlens: error: ...`` and
exits with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from irlens.errors import IrlensError

log = logging.getLogger("irlens")


def _set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(int(n))


# --------------------------------------------------------------------------------------------- data
def cmd_data(a: argparse.Namespace) -> None:
    from irlens.data import prepare_dataset

    sub = None
    if a.subsample_queries:
        sub = {"queries": a.subsample_queries, "distractors": a.subsample_distractors, "seed": a.seed}
    m = prepare_dataset(
        a.dataset,
        a.out,
        mirrors=a.mirror or [],
        download_dir=a.download_dir,
        irds_id=a.irds,
        splits=a.split,
        subsample=sub,
    )
    log.info("%s: %s", a.dataset, m["counts"])


# ------------------------------------------------------------------------------------------- models
def cmd_models_list(a: argparse.Namespace) -> None:
    from irlens.models.resolve import KNOWN_LOCAL, resolve_model

    ids = list(a.ids)
    if a.config:
        import yaml

        cfg = yaml.safe_load(Path(a.config).read_text())
        for name, spec in (cfg.get("models") or {}).items():
            if isinstance(spec, dict) and "id" in spec:
                ids.append(spec["id"])
        local_dirs = a.local_dir or (cfg.get("resources", {}) or {}).get("model_dirs", [])
    else:
        local_dirs = a.local_dir or []
    if not ids:
        ids = list(KNOWN_LOCAL)
    width = max(len(i) for i in ids)
    bad = 0
    for mid in dict.fromkeys(ids):
        try:
            r = resolve_model(mid, local_dirs, allow_hub=not a.offline)
            print(f"{mid:<{width}}  {r.source:<28} {r.path}  sha256={(r.sha256 or '?')[:12]}")
        except IrlensError as e:
            bad += 1
            print(f"{mid:<{width}}  {'UNRESOLVED':<28} {e}")
    if bad and a.strict:
        raise IrlensError(f"{bad} model(s) could not be resolved")


# ------------------------------------------------------------------------------------------- encode
def cmd_encode(a: argparse.Namespace) -> None:
    from irlens.data.beir import doc_text, read_corpus, read_queries
    from irlens.models import load_bi_encoder
    from irlens.retrieval.encode import encode_to_file

    _set_threads(a.threads)
    data = Path(a.data)
    if a.side == "corpus":
        corpus = read_corpus(data / "corpus.jsonl")
        ids, texts = list(corpus), [doc_text(d) for d in corpus.values()]
    elif a.side == "sentences":
        from irlens.data.sentences import sample_sentences

        ids, texts = sample_sentences(read_corpus(data / "corpus.jsonl"), a.sentences_per_doc, a.seed)
    else:
        queries = read_queries(data / "queries.jsonl")
        ids, texts = list(queries), list(queries.values())
    model, resolved = load_bi_encoder(a.model, a.local_dir or [], device=a.device, max_seq_length=a.max_seq_length)
    log.info("encoding %d %s texts of %s", len(texts), a.side, data)
    meta = {"model": resolved.to_dict(), "side": a.side, "data": str(data), "device": str(model.device)}
    if a.side == "sentences":
        meta.update(sentences_per_doc=a.sentences_per_doc, seed=a.seed)
    encode_to_file(model, ids, texts, a.out, meta, max_tokens=a.max_tokens, max_batch=a.max_batch, progress=True)


# ----------------------------------------------------------------------------------------- retrieve
def _split_queries(data: Path, split: str):
    from irlens.data.beir import read_qrels, read_queries

    queries = read_queries(data / "queries.jsonl")
    qrels = read_qrels(data / "qrels" / f"{split}.tsv")
    qids = [q for q in qrels if q in queries]
    return qids, queries, qrels


def cmd_retrieve(a: argparse.Namespace) -> None:
    import numpy as np

    from irlens.retrieval.trec import run_from_topk, write_run

    data = Path(a.data)
    qids, queries, _ = _split_queries(data, a.split)
    _set_threads(a.threads)
    if a.method == "dense":
        from irlens.retrieval.encode import load_embeddings
        from irlens.retrieval.search import dense_search

        d_emb, d_ids, _ = load_embeddings(a.corpus_emb)
        q_emb, q_ids, _ = load_embeddings(a.query_emb)
        pos = {q: i for i, q in enumerate(q_ids)}
        missing = [q for q in qids if q not in pos]
        if missing:
            raise IrlensError(f"{a.query_emb}: no embedding for {len(missing)} queries of split '{a.split}' (e.g. {missing[0]}); delete it and rerun")
        scores, idx = dense_search(q_emb[[pos[q] for q in qids]], d_emb, a.k, score=a.score)
        tag = f"dense-{a.score}"
    else:
        from irlens.data.beir import doc_text, read_corpus
        from irlens.retrieval.bm25 import bm25_search

        corpus = read_corpus(data / "corpus.jsonl")
        d_ids = list(corpus)
        scores, idx = bm25_search(
            [doc_text(d) for d in corpus.values()], [queries[q] for q in qids], a.k, k1=a.k1, b=a.b,
            stemmer=None if a.stemmer == "none" else a.stemmer, threads=a.threads or 1,
        )
        tag = "bm25"
    write_run(run_from_topk(qids, d_ids, scores, np.asarray(idx)), a.out, tag=tag)
    log.info("wrote %s (%d queries, top-%d)", a.out, len(qids), a.k)


# ----------------------------------------------------------------------------------------- evaluate
def cmd_evaluate(a: argparse.Namespace) -> None:
    from irlens.io import atomic_path, write_json
    from irlens.retrieval.evaluate import METRICS, evaluate_run
    from irlens.retrieval.trec import read_run

    data = Path(a.data)
    qids, _, qrels = _split_queries(data, a.split)
    qrels = {q: qrels[q] for q in qids}
    means, per_query = evaluate_run(qrels, read_run(a.run), ignore_identical_ids=not a.keep_identical_ids)
    write_json(a.out, {"dataset": a.dataset, "split": a.split, "retriever": a.retriever, "model": a.model or "", "backend": a.backend or "", "run": str(a.run), "metrics": means})
    if a.per_query:
        with atomic_path(a.per_query) as tmp, open(tmp, "w") as fh:
            fh.write("query-id\t" + "\t".join(METRICS) + "\n")
            for q, m in per_query.items():
                fh.write(q + "\t" + "\t".join(f"{m[k]:.6f}" for k in METRICS) + "\n")
    log.info("%s/%s %s: %s", a.dataset, a.split, a.retriever, {k: round(v, 5) if isinstance(v, float) else v for k, v in means.items()})


# -------------------------------------------------------------------------------------------- table
def cmd_table(a: argparse.Namespace) -> None:
    from irlens.report.tables import retrieval_table, write_table

    df = retrieval_table(a.metrics)
    write_table(df, a.md, a.csv, title="Retrieval effectiveness (test split)")
    print(df.to_string(index=False))


# ----------------------------------------------------------------------------------------------- ig
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
    from irlens.attribution.ranking import check_rankings, select_queries
    from irlens.data.beir import load_beir
    from irlens.models import load_bi_encoder
    from irlens.retrieval.trec import read_run

    _set_threads(a.threads)
    ds = load_beir(a.data, [a.split])
    run = read_run(a.run)
    qids = select_queries(ds, a.split, run, n_queries, a.seed)
    check_rankings(ds, run, qids, k)
    model, resolved = load_bi_encoder(a.model, a.local_dir or [], device=a.device, max_seq_length=a.max_seq_length)
    return ds, run, qids, model, resolved


def cmd_ig_attribute(a: argparse.Namespace) -> None:
    from irlens.attribution import BiEncoderIG
    from irlens.attribution.ranking import attribute_rankings, shard_of

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
    from irlens.attribution.ranking import merge_tables

    merged = merge_tables([_ig_read(p) for p in a.inputs])
    _ig_write(merged, a.out)
    log.info("merged %d shards into %s.*.parquet (%d pairs)", len(a.inputs), a.out, len(merged["pairs"]))


def cmd_ig_baselines(a: argparse.Namespace) -> None:
    from irlens.attribution.analysis import baseline_table
    from irlens.attribution.ranking import top_k
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
    from irlens.report.ig_views import pair_heatmap, pair_html, write_views_html

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
    from irlens.attribution.analysis import aggregate_words
    from irlens.report.ig_views import wordcloud_figure

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

    from irlens.attribution.analysis import completeness_summary, domain_share, domain_terms, title_share, word_counts
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="irlens", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("data", help="fetch/verify/normalise a BEIR dataset into a folder")
    d.add_argument("--dataset", required=True, help="BEIR name, e.g. scifact")
    d.add_argument("--out", required=True)
    d.add_argument("--mirror", action="append", help="folder holding <dataset>/corpus.jsonl (repeatable, tried in order)")
    d.add_argument("--download-dir", help="where the official BEIR zip is downloaded if no mirror has the dataset")
    d.add_argument("--irds", help="ir_datasets id to use when no mirror has the dataset")
    d.add_argument("--split", action="append", help="qrels split to keep (repeatable; default: all)")
    d.add_argument("--subsample-queries", type=int, default=0, help="keep this many judged queries per split (0: all)")
    d.add_argument("--subsample-distractors", type=int, default=0)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_data)

    m = sub.add_parser("models", help="model resolution")
    msub = m.add_subparsers(dest="models_cmd", required=True)
    ml = msub.add_parser("list", help="show where each model id resolves")
    ml.add_argument("ids", nargs="*")
    ml.add_argument("--config", help="a config.yaml whose models to list")
    ml.add_argument("--local-dir", action="append")
    ml.add_argument("--offline", action="store_true", help="never contact the hub")
    ml.add_argument("--strict", action="store_true", help="exit 2 if any model is unresolved")
    ml.set_defaults(func=cmd_models_list)

    e = sub.add_parser("encode", help="encode corpus, queries or sampled corpus sentences with a bi-encoder (resumable)")
    e.add_argument("--data", required=True)
    e.add_argument("--model", required=True, help="HF id or folder")
    e.add_argument("--side", choices=["corpus", "queries", "sentences"], required=True,
                   help="sentences: up to --sentences-per-doc sentences of each document (irlens.data.sentences), for SAE training")
    e.add_argument("--sentences-per-doc", type=int, default=2)
    e.add_argument("--seed", type=int, default=0, help="sentence sampling seed")
    e.add_argument("--out", required=True, help=".npy path; ids and metadata go to the .json beside it")
    e.add_argument("--local-dir", action="append")
    e.add_argument("--device", default="auto")
    e.add_argument("--threads", type=int)
    e.add_argument("--max-seq-length", type=int)
    e.add_argument("--max-tokens", type=int, default=16384, help="padded tokens per batch")
    e.add_argument("--max-batch", type=int, default=256)
    e.set_defaults(func=cmd_encode)

    r = sub.add_parser("retrieve", help="rank the corpus for a split's queries; writes a TREC run")
    r.add_argument("--method", choices=["dense", "bm25"], required=True)
    r.add_argument("--data", required=True)
    r.add_argument("--split", default="test")
    r.add_argument("--out", required=True)
    r.add_argument("--k", type=int, default=1000)
    r.add_argument("--threads", type=int)
    r.add_argument("--corpus-emb")
    r.add_argument("--query-emb")
    r.add_argument("--score", choices=["dot", "cos"], default="cos")
    r.add_argument("--k1", type=float, default=0.9)
    r.add_argument("--b", type=float, default=0.4)
    r.add_argument("--stemmer", default="english", help="Snowball stemmer language, or 'none'")
    r.set_defaults(func=cmd_retrieve)

    v = sub.add_parser("evaluate", help="metrics JSON (+ per-query TSV) of a run with pytrec_eval")
    v.add_argument("--data", required=True)
    v.add_argument("--split", default="test")
    v.add_argument("--run", required=True)
    v.add_argument("--out", required=True)
    v.add_argument("--per-query")
    v.add_argument("--dataset", required=True)
    v.add_argument("--retriever", required=True)
    v.add_argument("--model")
    v.add_argument("--backend")
    v.add_argument("--keep-identical-ids", action="store_true", help="do not drop doc id == query id hits (BEIR drops them)")
    v.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("table", help="results table (markdown + CSV) from metrics JSON files")
    t.add_argument("--metrics", nargs="+", required=True)
    t.add_argument("--md", required=True)
    t.add_argument("--csv", required=True)
    t.set_defaults(func=cmd_table)

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

    from irlens.cli_cross_encoder import add_parser as add_cross_encoder_parser

    add_cross_encoder_parser(sub)

    from irlens.cli_nig import add_parser as add_nig_parser

    add_nig_parser(sub)
    from irlens.cli_sae import add_parser as add_sae_parser
    add_sae_parser(sub)

    from irlens.cli_ablation import add_parser as add_ablation_parser

    add_ablation_parser(sub)

    from irlens.cli_gpl import add_parser as add_gpl_parser

    add_gpl_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from irlens.io import setup_logging
    from irlens.runtime import tune_cpu_allocator

    tune_cpu_allocator()  # before torch allocates anything (irlens.runtime: bit-identical, ~10 % faster)
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        args.func(args)
    except IrlensError as e:
        print(f"irlens: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("irlens: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
