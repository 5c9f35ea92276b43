"""``irlens retrieval {encode,retrieve,evaluate}``: dense encoding (resumable), exact dense search and
BM25 as TREC runs, and pytrec_eval metrics (workflow/rules/retrieval.smk)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from irlens.errors import IrlensError
from irlens.runtime import set_threads

log = logging.getLogger("irlens")


def cmd_encode(a: argparse.Namespace) -> None:
    """``irlens retrieval encode``: embed the corpus, the queries or sampled sentences (resumable)."""
    from irlens.data.beir import doc_text, read_corpus, read_queries
    from irlens.models import load_bi_encoder
    from irlens.retrieval.encode import encode_to_file

    set_threads(a.threads)
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
    """``irlens retrieval retrieve``: exact dense search or BM25 for a split's queries; writes a TREC run."""
    import numpy as np

    from irlens.retrieval.trec import run_from_topk, write_run

    data = Path(a.data)
    qids, queries, _ = _split_queries(data, a.split)
    set_threads(a.threads)
    if a.method == "dense":
        from irlens.retrieval.encode import load_embeddings
        from irlens.retrieval.search import dense_search

        d_emb, d_ids, _ = load_embeddings(a.corpus_emb)
        q_emb, q_ids, _ = load_embeddings(a.query_emb)
        pos = {q: i for i, q in enumerate(q_ids)}
        missing = [q for q in qids if q not in pos]
        if missing:
            raise IrlensError(
                f"{a.query_emb}: no embedding for {len(missing)} queries of split '{a.split}' "
                f"(e.g. {missing[0]}); delete it and rerun"
            )
        scores, idx = dense_search(q_emb[[pos[q] for q in qids]], d_emb, a.k, score=a.score)
        tag = f"dense-{a.score}"
    else:
        from irlens.data.beir import doc_text, read_corpus
        from irlens.retrieval.bm25 import bm25_search

        corpus = read_corpus(data / "corpus.jsonl")
        d_ids = list(corpus)
        scores, idx = bm25_search(
            [doc_text(d) for d in corpus.values()],
            [queries[q] for q in qids],
            a.k,
            k1=a.k1,
            b=a.b,
            stemmer=None if a.stemmer == "none" else a.stemmer,
            threads=a.threads or 1,
        )
        tag = "bm25"
    write_run(run_from_topk(qids, d_ids, scores, np.asarray(idx)), a.out, tag=tag)
    log.info("wrote %s (%d queries, top-%d)", a.out, len(qids), a.k)


# ----------------------------------------------------------------------------------------- evaluate
def cmd_evaluate(a: argparse.Namespace) -> None:
    """``irlens retrieval evaluate``: pytrec_eval metrics JSON (+ per-query TSV) of a run."""
    from irlens.io import atomic_path, write_json
    from irlens.retrieval.evaluate import METRICS, evaluate_run
    from irlens.retrieval.trec import read_run

    data = Path(a.data)
    qids, _, qrels = _split_queries(data, a.split)
    qrels = {q: qrels[q] for q in qids}
    means, per_query = evaluate_run(qrels, read_run(a.run), ignore_identical_ids=not a.keep_identical_ids)
    write_json(
        a.out,
        {
            "dataset": a.dataset,
            "split": a.split,
            "retriever": a.retriever,
            "model": a.model or "",
            "backend": a.backend or "",
            "run": str(a.run),
            "metrics": means,
        },
    )
    if a.per_query:
        with atomic_path(a.per_query) as tmp, open(tmp, "w") as fh:
            fh.write("query-id\t" + "\t".join(METRICS) + "\n")
            for q, m in per_query.items():
                fh.write(q + "\t" + "\t".join(f"{m[k]:.6f}" for k in METRICS) + "\n")
    log.info(
        "%s/%s %s: %s",
        a.dataset,
        a.split,
        a.retriever,
        {k: round(v, 5) if isinstance(v, float) else v for k, v in means.items()},
    )


def add_parser(sub) -> None:
    """Register ``irlens retrieval ...`` on the top-level subparsers ``sub``."""
    rp = sub.add_parser("retrieval", help="dense encoding, dense/BM25 retrieval and pytrec_eval evaluation")
    sub = rp.add_subparsers(dest="retrieval_cmd", required=True)

    e = sub.add_parser(
        "encode", help="encode corpus, queries or sampled corpus sentences with a bi-encoder (resumable)"
    )
    e.add_argument("--data", required=True)
    e.add_argument("--model", required=True, help="HF id or folder")
    e.add_argument(
        "--side",
        choices=["corpus", "queries", "sentences"],
        required=True,
        help=(
            "sentences: up to --sentences-per-doc sentences of each document (irlens.data.sentences), for SAE training"
        ),
    )
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
    v.add_argument(
        "--keep-identical-ids", action="store_true", help="do not drop doc id == query id hits (BEIR drops them)"
    )
    v.set_defaults(func=cmd_evaluate)
