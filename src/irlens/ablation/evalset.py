"""Evaluation sets of the ablation study (arXiv 2406.19309 §5.3): for each query, its relevant passages
plus the top ``depth`` passages BM25 retrieves from the whole corpus; queries are drawn (seeded) from a
split's judged queries, leaving out the queries whose pairs the attribution used."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from irlens.errors import IrlensError

log = logging.getLogger(__name__)


def build_eval_set(
    ds,
    split: str,
    n_queries: int,
    depth: int,
    seed: int,
    exclude_qids=(),
    max_relevant: int = 0,
    k1: float = 0.9,
    b: float = 0.4,
    stemmer: str | None = "english",
    threads: int = 1,
) -> pd.DataFrame:
    """Rows ``(qid, doc_id, grade, source)`` — one per candidate passage, ``source`` ``qrels`` or ``bm25``.

    ``n_queries`` judged queries (at least one grade >= 1) of ``split`` not in ``exclude_qids`` are
    drawn with ``seed`` (0 = all); each gets the passages judged relevant for it — at most
    ``max_relevant`` (0 = all), highest grades first, ties drawn with ``seed``; NFCorpus judges a median
    of 18 passages per query — and the BM25 top ``depth`` (duplicates dropped). ``grade`` is the qrels
    grade (0 for unjudged passages); nDCG is computed over these candidates only.
    """
    from irlens.data.beir import doc_text
    from irlens.retrieval.bm25 import bm25_search

    queries, qrels = ds.split(split)
    excluded = {str(q) for q in exclude_qids}
    pool = sorted(q for q in queries if q not in excluded and any(g >= 1 for g in qrels.get(q, {}).values()))
    if not pool:
        raise IrlensError(
            f"ablation evaluation set: split '{split}' has no judged query left after excluding {len(excluded)} "
            "attribution queries"
        )
    if n_queries and n_queries < len(pool):
        rng = np.random.default_rng(seed)
        pool = sorted(rng.choice(pool, size=n_queries, replace=False).tolist())
    doc_ids = list(ds.corpus)
    scores, idx = bm25_search(
        [doc_text(ds.corpus[d]) for d in doc_ids],
        [queries[q] for q in pool],
        depth,
        k1=k1,
        b=b,
        stemmer=stemmer,
        threads=threads,
    )
    rows = []
    for qi, q in enumerate(pool):
        judged = qrels.get(q, {})
        seen = set()
        rel = sorted((d for d, g in judged.items() if g >= 1 and d in ds.corpus))
        if max_relevant and len(rel) > max_relevant:
            tie = np.random.default_rng([seed, qi]).permutation(len(rel))
            rel = [rel[i] for i in sorted(range(len(rel)), key=lambda i: (-judged[rel[i]], tie[i]))[:max_relevant]]
        for d in sorted(rel):
            rows.append((q, d, int(judged[d]), "qrels"))
            seen.add(d)
        for s, j in zip(scores[qi], idx[qi]):
            if j < 0 or s <= 0:
                continue
            d = doc_ids[j]
            if d not in seen:
                rows.append((q, d, int(judged.get(d, 0)), "bm25"))
                seen.add(d)
    df = pd.DataFrame(rows, columns=["qid", "doc_id", "grade", "source"])
    log.info(
        "evaluation set of split %s: %d queries, %d pairs (%.1f per query), %d excluded queries",
        split,
        len(pool),
        len(df),
        len(df) / len(pool),
        len(excluded),
    )
    return df
