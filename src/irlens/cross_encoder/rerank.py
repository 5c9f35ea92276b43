"""Reranking with a cross-encoder (the cross-encoder stage, :func:`rerank`): the top-``depth`` documents
of each query of a first-stage run are rescored with
:meth:`CrossEncoder.score <irlens.models.cross_encoder.CrossEncoder.score>` (all pairs in one
length-sorted pass). The documents below ``depth`` are kept under the reranked head in their first-stage
order, so recall@100 and MAP stay comparable with the first stage. Also the metrics file of a reranked run
and the systems x datasets table.
"""

from __future__ import annotations

import logging
from pathlib import Path

from irlens.errors import IrlensError
from irlens.io import atomic_path, write_json
from irlens.retrieval.trec import Run, trec_order

log = logging.getLogger(__name__)


def _ranked(docs: dict[str, float]) -> list[str]:
    """trec_eval's order (score descending, ties by doc id descending), the order the first stage was scored in."""
    return [d for d, _ in trec_order(docs)]


def rerank(
    cross_encoder,
    dataset_folder: str | Path,
    split: str,
    first_stage_run: Run,
    depth: int = 100,
    max_tokens: int = 8192,
    max_batch: int = 64,
    keep_tail: bool = True,
    progress: bool = True,
) -> Run:
    """Rescore the top-``depth`` of ``first_stage_run`` for the judged queries of ``split``.

    The head is ordered by the cross-encoder's ranking score; with ``keep_tail`` the documents below
    ``depth`` follow in first-stage order (scores below the head's minimum).
    """
    from irlens.data.beir import doc_text, read_corpus, read_qrels, read_queries

    if depth < 1:
        raise IrlensError(f"rerank: depth must be >= 1, got {depth}")
    folder = Path(dataset_folder)
    queries = read_queries(folder / "queries.jsonl")
    qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
    corpus = read_corpus(folder / "corpus.jsonl")
    qids = [q for q in qrels if q in queries and q in first_stage_run]
    if not qids:
        raise IrlensError(
            f"rerank: the run has no query of split '{split}' of {folder}; is it the run of this dataset?"
        )
    heads, tails = {}, {}
    for q in qids:
        ranked = _ranked(first_stage_run[q])
        missing = [d for d in ranked[:depth] if d not in corpus]
        if missing:
            raise IrlensError(
                f"rerank: document '{missing[0]}' of the run (query {q}) is not in {folder}/corpus.jsonl; "
                "is it the run of this dataset?"
            )
        heads[q], tails[q] = ranked[:depth], ranked[depth:]
    pq = [(q, d) for q in qids for d in heads[q]]
    texts = {d: doc_text(corpus[d]) for _, d in pq}
    log.info("reranking %d pairs (%d queries x top-%d)", len(pq), len(qids), depth)
    scores = cross_encoder.score(
        [queries[q] for q, _ in pq],
        [texts[d] for _, d in pq],
        max_tokens=max_tokens,
        max_batch=max_batch,
        progress=progress,
    )
    run: Run = {q: {} for q in qids}
    for (q, d), s in zip(pq, scores):
        run[q][d] = float(s)
    if keep_tail:
        for q in qids:
            low = min(run[q].values()) if run[q] else 0.0
            for i, d in enumerate(tails[q], 1):
                run[q][d] = low - i
    return run


def write_metrics(out: str | Path, per_query_path: str | Path | None, means: dict, per_query: dict, **fields) -> None:
    """Metrics JSON in the format of ``irlens retrieval evaluate``
    (``fields``: dataset, split, retriever, model, backend, run)."""
    from irlens.retrieval.evaluate import METRICS

    write_json(out, {**{k: str(v) for k, v in fields.items()}, "metrics": means})
    if per_query_path:
        with atomic_path(per_query_path) as tmp, open(tmp, "w") as fh:
            fh.write("query-id\t" + "\t".join(METRICS) + "\n")
            for q, m in per_query.items():
                fh.write(q + "\t" + "\t".join(f"{m[k]:.6f}" for k in METRICS) + "\n")


def evaluate_rerank(run: Run, dataset_folder: str | Path, split: str) -> tuple[dict, dict]:
    """``evaluate_run`` over the judged queries of ``split`` (same conventions as ``irlens retrieval evaluate``)."""
    from irlens.data.beir import read_qrels, read_queries
    from irlens.retrieval.evaluate import evaluate_run

    folder = Path(dataset_folder)
    queries = read_queries(folder / "queries.jsonl")
    qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
    return evaluate_run({q: r for q, r in qrels.items() if q in queries}, run)


# -------------------------------------------------------------------------------------------- table
_ORDER = {"bm25": 0}


def rerank_table(
    metric_files: list[str | Path], in_domain: list[str] = (), metrics: tuple[str, ...] = ("nDCG@10", "MRR@10")
):
    """One row per system (first stages, then rerankers), one column per (dataset, metric).

    Dataset columns are tagged ``(ID)`` when listed in ``in_domain`` and ``(OOD)`` otherwise.
    """
    from irlens.report.tables import retrieval_table

    df = retrieval_table(metric_files)
    df["rank"] = [(_ORDER.get(r, 2 if "rerank" in b else 1)) for r, b in zip(df["retriever"], df["backend"])]
    datasets = list(dict.fromkeys(df.sort_values("dataset")["dataset"]))
    rows = []
    for (_rank, retriever), g in df.groupby(["rank", "retriever"], sort=True):
        row = {"system": retriever, "model": g["model"].iloc[0], "backend": g["backend"].iloc[0]}
        for d in datasets:
            sel = g[g["dataset"] == d]
            tag = "ID" if d in in_domain else "OOD" if in_domain else ""
            for m in metrics:
                col = f"{d}{f' ({tag})' if tag else ''} {m}"
                row[col] = float(sel[m].iloc[0]) if len(sel) else float("nan")
        rows.append(row)
    import pandas as pd

    return pd.DataFrame(rows)
