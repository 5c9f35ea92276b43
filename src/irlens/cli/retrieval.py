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
    from irlens.models.resolve import parse_pins
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
    model, resolved = load_bi_encoder(
        a.model, a.local_dir or [], device=a.device, max_seq_length=a.max_seq_length, pins=parse_pins(a.pin)
    )
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

    emb_flags = [f for f, v in (("--corpus-emb", a.corpus_emb), ("--query-emb", a.query_emb)) if v]
    if a.method == "dense" and len(emb_flags) < 2:
        missing = " and ".join(f for f in ("--corpus-emb", "--query-emb") if f not in emb_flags)
        raise IrlensError(f"--method dense needs {missing} (the .npy files of 'irlens retrieval encode')")
    if a.method == "bm25" and emb_flags:
        raise IrlensError(f"{' and '.join(emb_flags)}: only for --method dense (BM25 reads the corpus of --data)")
    if a.k < 1:
        raise IrlensError(f"--k {a.k}: must be >= 1")
    data = Path(a.data)
    qids, queries, _ = _split_queries(data, a.split)
    set_threads(a.threads)
    if a.method == "dense":
        from irlens.retrieval.encode import load_embeddings
        from irlens.retrieval.search import dense_search

        d_emb, d_ids, _ = load_embeddings(a.corpus_emb)
        q_emb, q_ids, _ = load_embeddings(a.query_emb)
        if d_emb.shape[1] != q_emb.shape[1]:
            raise IrlensError(
                f"{a.query_emb}: {q_emb.shape[1]}-d embeddings, but {a.corpus_emb} has {d_emb.shape[1]}-d; "
                "encode both sides with the same model"
            )
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
    run = read_run(a.run)
    if qids and not set(run) & set(qids):
        raise IrlensError(
            f"{a.run}: the run has no query of split '{a.split}' of {data}; is it the run of this dataset and split?"
        )
    means, per_query = evaluate_run(qrels, run, ignore_identical_ids=not a.keep_identical_ids)
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
    e.add_argument("--data", required=True, help="prepared dataset folder (results/data/<dataset>)")
    e.add_argument("--model", required=True, help="HF id or folder")
    e.add_argument(
        "--side",
        choices=["corpus", "queries", "sentences"],
        required=True,
        help=(
            "sentences: up to --sentences-per-doc sentences of each document (irlens.data.sentences), for SAE training"
        ),
    )
    e.add_argument("--sentences-per-doc", type=int, default=2, help="--side sentences: sentences sampled per document")
    e.add_argument("--seed", type=int, default=0, help="sentence sampling seed")
    e.add_argument("--out", required=True, help=".npy path; ids and metadata go to the .json beside it")
    e.add_argument("--local-dir", action="append", help="local model folder(s) (<dir>/<org>__<name>/)")
    e.add_argument("--pin", action="append", help="<id>=<sha256>: that id's weights must have this sha256 (repeat)")
    e.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    e.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    e.add_argument("--max-seq-length", type=int, help="truncate texts to this many tokens (default: the model's)")
    e.add_argument("--max-tokens", type=int, default=16384, help="padded tokens per batch")
    e.add_argument("--max-batch", type=int, default=256, help="most texts per batch")
    e.set_defaults(func=cmd_encode)

    r = sub.add_parser("retrieve", help="rank the corpus for a split's queries; writes a TREC run")
    r.add_argument(
        "--method",
        choices=["dense", "bm25"],
        required=True,
        help="dense: exact search of --query-emb in --corpus-emb; bm25: over --data",
    )
    r.add_argument("--data", required=True, help="prepared dataset folder (results/data/<dataset>)")
    r.add_argument("--split", default="test", help="qrels split whose queries are retrieved for")
    r.add_argument("--out", required=True, help="output TREC run")
    r.add_argument("--k", type=int, default=1000, help="documents retrieved per query")
    r.add_argument("--threads", type=int, help="CPU threads (torch for dense, bm25s for BM25)")
    r.add_argument("--corpus-emb", help="dense: corpus .npy of 'irlens retrieval encode' (ids in the .json beside it)")
    r.add_argument("--query-emb", help="dense: queries .npy of 'irlens retrieval encode' (ids in the .json beside it)")
    r.add_argument("--score", choices=["dot", "cos"], default="cos", help="dense: similarity of the model")
    r.add_argument("--k1", type=float, default=0.9, help="BM25 k1 (term-frequency saturation)")
    r.add_argument("--b", type=float, default=0.4, help="BM25 b (document-length normalisation)")
    r.add_argument("--stemmer", default="english", help="Snowball stemmer language, or 'none'")
    r.set_defaults(func=cmd_retrieve)

    v = sub.add_parser("evaluate", help="metrics JSON (+ per-query TSV) of a run with pytrec_eval")
    v.add_argument("--data", required=True, help="prepared dataset folder with the qrels")
    v.add_argument("--split", default="test", help="qrels split the run is evaluated on")
    v.add_argument("--run", required=True, help="TREC run to evaluate")
    v.add_argument("--out", required=True, help="output metrics JSON")
    v.add_argument("--per-query", help="also write per-query metrics here (TSV)")
    v.add_argument("--dataset", required=True, help="dataset name written into the metrics JSON")
    v.add_argument("--retriever", required=True, help="retriever label written into the metrics JSON (e.g. bm25)")
    v.add_argument("--model", help="model id written into the metrics JSON")
    v.add_argument("--backend", help="backend label written into the metrics JSON")
    v.add_argument(
        "--keep-identical-ids", action="store_true", help="do not drop doc id == query id hits (BEIR drops them)"
    )
    v.set_defaults(func=cmd_evaluate)
