"""Control retrieval by editing a latent (arXiv 2411.00786 §4; ``pseudoRelevanceFeedback.py`` of the anchor).

For queries ``x_q`` and one latent ``i``::

    z = ReLU(TopK(W_enc (x_q − b_pre) + b_enc))
    z_i ← α · z_i + δ                          (δ: "add", the anchor's feedbackDelta; α: "scale")
    q' = W_dec z + b_pre                        then rank the corpus by q' · d

The amplification curve measures how far a *target set* of documents (e.g. the documents on which
latent ``i`` fires most, :func:`latent_target_set`) moves up: mean P@10 (share of the top 10 in the
target set) and mean MRR@10 (1 / rank of the first target document within the top 10, else 0), and,
when qrels are given, nDCG@10 against them as a guard on retrieval quality. At ``δ = 0, α = 1`` the
query is the plain reconstruction ``q̂``.
"""

from __future__ import annotations

import numpy as np
import torch

from irlens.sae.model import TopKSAE


@torch.no_grad()
def amplify(model: TopKSAE, x: np.ndarray, latent: int, delta: float = 0.0, alpha: float = 1.0) -> np.ndarray:
    """Decoded queries ``[n, d]`` after ``z_latent ← α·z_latent + δ`` (the latent is set even where it did not fire)."""
    z = model.encode(torch.from_numpy(np.array(x, dtype=np.float32)))  # [n, L]
    z[:, latent] = alpha * z[:, latent] + delta
    return model.decode(z).numpy()


def latent_target_set(doc_vals: np.ndarray, doc_idx: np.ndarray, latent: int, n: int) -> np.ndarray:
    """Rows of the ``n`` documents with the largest activation of ``latent`` (fewer if it fires on fewer)."""
    rows, cols = np.nonzero((doc_idx == latent) & (doc_vals > 0))
    v = doc_vals[rows, cols]
    return rows[np.lexsort((rows, -v))[:n]]


def amplification_curve(
    model: TopKSAE,
    queries: np.ndarray,
    corpus: np.ndarray,
    latent: int,
    targets: np.ndarray,
    deltas: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4),
    mode: str = "add",
    qrels: dict | None = None,
    query_ids: list[str] | None = None,
    doc_ids: list[str] | None = None,
    depth: int = 100,
) -> list[dict]:
    """P@10 / MRR@10 of ``targets`` (corpus rows) for each amplification (``mode``: ``"add"`` δ or ``"scale"`` α).

    ``corpus [nd, d]`` is the representation searched (original embeddings or reconstructions).
    """
    from irlens.retrieval.search import dense_search

    if mode not in ("add", "scale"):
        raise ValueError(f"mode must be 'add' or 'scale', got {mode!r}")
    tset = np.zeros(len(corpus), bool)
    tset[np.asarray(targets, dtype=np.int64)] = True
    out = []
    for v in deltas:
        q = amplify(model, queries, latent, delta=v if mode == "add" else 0.0, alpha=v if mode == "scale" else 1.0)
        s, i = dense_search(q, corpus, max(10, depth))
        hit = tset[i[:, :10]]  # [nq, 10]
        first = np.where(hit.any(1), hit.argmax(1) + 1, 0)
        rec = {mode if mode == "scale" else "delta": v, "p@10": float(hit.mean()), "mrr@10": float(np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0).mean())}
        if qrels is not None and query_ids is not None and doc_ids is not None:
            from irlens.retrieval.evaluate import evaluate_run
            from irlens.retrieval.trec import run_from_topk

            means, _ = evaluate_run({q_: r for q_, r in qrels.items() if q_ in set(query_ids)}, run_from_topk(query_ids, doc_ids, s, i))
            rec["ndcg@10"] = means["ndcg@10"]
        out.append(rec)
    return out
