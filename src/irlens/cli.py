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
    else:
        queries = read_queries(data / "queries.jsonl")
        ids, texts = list(queries), list(queries.values())
    model, resolved = load_bi_encoder(a.model, a.local_dir or [], device=a.device, max_seq_length=a.max_seq_length)
    log.info("encoding %d %s texts of %s", len(texts), a.side, data)
    meta = {"model": resolved.to_dict(), "side": a.side, "data": str(data), "device": str(model.device)}
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

    e = sub.add_parser("encode", help="encode corpus or queries with a bi-encoder (resumable)")
    e.add_argument("--data", required=True)
    e.add_argument("--model", required=True, help="HF id or folder")
    e.add_argument("--side", choices=["corpus", "queries"], required=True)
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
    return p


def main(argv: list[str] | None = None) -> int:
    from irlens.io import setup_logging

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
