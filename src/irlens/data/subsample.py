"""Deterministic subsampling of a BEIR dataset (used by the smoke preset)."""

from __future__ import annotations

import random

from irlens.data.beir import BeirDataset
from irlens.errors import IrlensError


def subsample(ds: BeirDataset, queries_per_split: int, distractors: int, seed: int = 0) -> BeirDataset:
    """Keep up to ``queries_per_split`` judged queries of every split, every document judged for a
    kept query (any grade), plus ``distractors`` other documents drawn at random.

    Deterministic: ids are sorted before sampling with ``random.Random(seed)``; output order follows
    the input order.
    """
    if queries_per_split < 1 or distractors < 0:
        raise IrlensError("data.subsample: 'queries' must be >= 1 and 'distractors' >= 0")
    rng = random.Random(seed)
    kept_q: set[str] = set()
    new_qrels = {}
    for split in sorted(ds.qrels):
        judged = sorted(q for q in ds.qrels[split] if q in ds.queries)
        chosen = set(rng.sample(judged, min(queries_per_split, len(judged))))
        new_qrels[split] = {q: dict(docs) for q, docs in ds.qrels[split].items() if q in chosen}
        kept_q |= chosen
    judged_docs = {d for qrels in new_qrels.values() for docs in qrels.values() for d in docs if d in ds.corpus}
    others = sorted(set(ds.corpus) - judged_docs)
    kept_d = judged_docs | set(rng.sample(others, min(distractors, len(others))))
    corpus = {d: v for d, v in ds.corpus.items() if d in kept_d}
    queries = {q: t for q, t in ds.queries.items() if q in kept_q}
    # drop qrels rows pointing at documents missing from the corpus (keeps the dataset self-consistent)
    new_qrels = {
        s: {q: {d: g for d, g in docs.items() if d in corpus} for q, docs in qr.items()} for s, qr in new_qrels.items()
    }
    return BeirDataset(corpus, queries, new_qrels)
