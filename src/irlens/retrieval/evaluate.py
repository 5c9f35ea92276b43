"""Evaluation with pytrec_eval, following BEIR's ``EvaluateRetrieval.evaluate``.

Metrics: ``ndcg@10`` (pytrec_eval ``ndcg_cut_10``, graded gains), ``mrr@10`` (``recip_rank`` on the
run cut to its top 10 in trec_eval order), ``recall@100`` (``recall_100``) and ``map`` (``map`` over
the full run depth). Binary measures count grade ≥ 1 as relevant. As BEIR does by default
(``ignore_identical_ids=True``), a retrieved document whose id equals the query id is dropped first.
Means are over every query of ``qrels`` (pass qrels restricted to the queries you retrieved for);
a judged query with an empty ranking scores 0 (BEIR would silently leave it out of the mean).
"""

from __future__ import annotations

import numpy as np

from irlens.retrieval.trec import Run, trec_order

METRICS = ("ndcg@10", "mrr@10", "recall@100", "map")
_PTE = {"ndcg@10": "ndcg_cut_10", "recall@100": "recall_100", "map": "map"}


def evaluate_run(qrels: dict[str, dict[str, int]], run: Run, ignore_identical_ids: bool = True) -> tuple[dict, dict]:
    """Return ``(means, per_query)``: ``means[metric]`` and ``per_query[qid][metric]``."""
    import pytrec_eval

    run = {q: dict(docs) for q, docs in run.items()}
    dropped = 0
    if ignore_identical_ids:
        for q, docs in run.items():
            if q in docs:
                docs.pop(q)
                dropped += 1
    judged = {q: r for q, r in qrels.items() if r}
    run = {q: docs for q, docs in run.items() if q in judged}
    for q in judged:  # queries with qrels but an empty ranking still count (score 0)
        run.setdefault(q, {})
    evaluator = pytrec_eval.RelevanceEvaluator(judged, set(_PTE.values()))
    scores = evaluator.evaluate({q: d for q, d in run.items() if d})
    top10 = {q: dict(trec_order(d)[:10]) for q, d in run.items() if d}
    rr = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(top10)
    per_query = {}
    for q in sorted(run):
        s = scores.get(q, {})
        per_query[q] = {
            "ndcg@10": s.get("ndcg_cut_10", 0.0),
            "mrr@10": rr.get(q, {}).get("recip_rank", 0.0),
            "recall@100": s.get("recall_100", 0.0),
            "map": s.get("map", 0.0),
        }
    means = {m: float(np.mean([v[m] for v in per_query.values()])) if per_query else 0.0 for m in METRICS}
    means["queries"] = len(per_query)
    means["identical_ids_dropped"] = dropped
    return means, per_query
