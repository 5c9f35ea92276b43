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


def matched_random_latent(freq: np.ndarray, latent: int, rng, ratio: float = 2.0, exclude=()) -> int:
    """A random latent other than ``latent`` (and ``exclude``) whose document frequency ``freq`` is within a
    factor ``ratio`` of ``latent``'s; if none is, the nearest in log frequency among the firing ones; -1 if no
    other latent fires."""
    f = np.maximum(np.asarray(freq, dtype=np.float64), 1.0)
    ok = np.asarray(freq) > 0
    ok[[latent, *[e for e in exclude if 0 <= e < len(f)]]] = False
    cand = np.nonzero(ok)[0]
    if not len(cand):
        return -1
    logd = np.abs(np.log(f[cand] / f[latent]))
    close = cand[logd <= np.log(ratio)]
    return int(rng.choice(close)) if len(close) else int(cand[np.argmin(logd)])


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
        rec = {
            mode if mode == "scale" else "delta": v,
            "p@10": float(hit.mean()),
            "mrr@10": float(np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0).mean()),
        }
        if qrels is not None and query_ids is not None and doc_ids is not None:
            from irlens.retrieval.evaluate import evaluate_run
            from irlens.retrieval.trec import run_from_topk

            means, _ = evaluate_run(
                {q_: r for q_, r in qrels.items() if q_ in set(query_ids)}, run_from_topk(query_ids, doc_ids, s, i)
            )
            rec["ndcg@10"] = means["ndcg@10"]
        out.append(rec)
    return out


@torch.no_grad()
def prf_queries(
    model: TopKSAE,
    queries: np.ndarray,
    corpus_hat: np.ndarray,
    doc_vals: np.ndarray,
    doc_idx: np.ndarray,
    feedback_k: int = 4,
    feedback_latents: int = 4,
    delta: float = 0.1,
) -> np.ndarray:
    """Pseudo-relevance feedback in latent space (the anchor's ``pseudoRelevanceFeedback.py``).

    1. retrieve the top ``feedback_k`` documents of each reconstructed query ``q̂`` against ``corpus_hat``
       (the documents' reconstructions);
    2. take the union of each feedback document's ``feedback_latents`` strongest latents (``doc_vals`` /
       ``doc_idx``: the documents' top-k codes, values descending);
    3. add ``delta`` to those latents of the query's code, decode. Returns the new queries ``[n, d]``.
    """
    from irlens.retrieval.search import dense_search

    z = model.encode(torch.from_numpy(np.array(queries, dtype=np.float32)))  # [n, L]
    q_hat = model.decode(z).numpy()
    _, top = dense_search(q_hat, corpus_hat, feedback_k)  # [n, feedback_k]
    order = np.argsort(-doc_vals, axis=1, kind="stable")[:, :feedback_latents]
    strongest = np.take_along_axis(doc_idx, order, axis=1)  # [n_docs, feedback_latents]
    fired = np.take_along_axis(doc_vals, order, axis=1) > 0
    for r in range(len(z)):
        lat = np.unique(strongest[top[r]][fired[top[r]]])
        z[r, torch.from_numpy(lat)] += delta
    return model.decode(z).numpy()


def prf_curve(
    model: TopKSAE,
    queries: np.ndarray,
    query_ids: list[str],
    corpus_hat: np.ndarray,
    doc_ids: list[str],
    doc_vals: np.ndarray,
    doc_idx: np.ndarray,
    qrels: dict,
    deltas: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4),
    feedback_k: int = 4,
    feedback_latents: int = 4,
    depth: int = 100,
) -> list[dict]:
    """nDCG@10 / MRR@10 / P@10 (against ``qrels``) of :func:`prf_queries` over ``corpus_hat`` for each δ
    (δ = 0: the plain reconstructed retrieval)."""
    from irlens.retrieval.evaluate import evaluate_run
    from irlens.retrieval.search import dense_search
    from irlens.retrieval.trec import run_from_topk

    judged = {q: r for q, r in qrels.items() if q in set(query_ids)}
    row = {d: i for i, d in enumerate(doc_ids)}
    out = []
    for v in deltas:
        q = prf_queries(model, queries, corpus_hat, doc_vals, doc_idx, feedback_k, feedback_latents, v)
        s, i = dense_search(q, corpus_hat, max(10, depth))
        means, _ = evaluate_run(judged, run_from_topk(query_ids, doc_ids, s, i))
        rel = [
            np.isin(i[j, :10], [row[d] for d, g in judged.get(qid, {}).items() if g > 0 and d in row])
            for j, qid in enumerate(query_ids)
        ]
        out.append(
            {
                "delta": v,
                "p@10": float(np.mean([r.mean() for r in rel])),
                "mrr@10": means["mrr@10"],
                "ndcg@10": means["ndcg@10"],
            }
        )
    return out


def control_rows(
    model: TopKSAE,
    queries: np.ndarray,
    query_ids: list[str],
    corpus_hat: np.ndarray,
    doc_ids: list[str],
    doc_vals: np.ndarray,
    doc_idx: np.ndarray,
    qrels: dict,
    latents: list[int],
    values: tuple[float, ...],
    mode: str = "add",
    targets: int = 20,
    prf_values: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4),
    feedback_k: int = 4,
    feedback_latents: int = 4,
    random_control: bool = True,
    seed: int = 0,
) -> list[dict]:
    """Rows of the control table: the :func:`amplification_curve` of each latent in ``latents`` (target set:
    its ``targets`` top-activating documents, :func:`latent_target_set`) over ``values``; with
    ``random_control`` the same curve for a random other latent of similar document frequency
    (:func:`matched_random_latent`, seeded) amplified instead, scored on the *same* target set — how much
    amplifying any latent of that size moves those documents; then the :func:`prf_curve` over ``prf_values``.
    Each row: ``kind`` (``latent``/``random``/``prf``), ``latent`` (the latent whose targets are scored; −1 for
    PRF), ``amplified`` (the latent edited), ``op`` (``add``/``scale``), ``value``, ``targets`` (size of the
    target set) and the curve's metrics."""
    from irlens.sae.metrics import fire_counts

    rows = []
    op = "add" if mode == "add" else "scale"
    freq = fire_counts(doc_vals, doc_idx, model.cfg.n_latents)
    rng = np.random.default_rng(seed)
    for lat in latents:
        tset = latent_target_set(doc_vals, doc_idx, lat, targets)
        curve = amplification_curve(
            model,
            queries,
            corpus_hat,
            lat,
            tset,
            deltas=values,
            mode=mode,
            qrels=qrels,
            query_ids=query_ids,
            doc_ids=doc_ids,
        )
        for r in curve:
            v = r.pop("delta" if mode == "add" else "scale")
            rows.append(
                {"kind": "latent", "latent": lat, "amplified": lat, "op": op, "value": v, "targets": len(tset), **r}
            )
        if random_control:
            other = matched_random_latent(freq, lat, rng, exclude=set(latents))
            if other >= 0:
                curve = amplification_curve(
                    model, queries, corpus_hat, other, tset, deltas=values, mode=mode, qrels=qrels,
                    query_ids=query_ids, doc_ids=doc_ids,
                )  # fmt: skip
                for r in curve:
                    v = r.pop("delta" if mode == "add" else "scale")
                    rows.append(
                        {"kind": "random", "latent": lat, "amplified": other, "op": op, "value": v,
                         "targets": len(tset), **r}
                    )  # fmt: skip
    prf = prf_curve(
        model,
        queries,
        query_ids,
        corpus_hat,
        doc_ids,
        doc_vals,
        doc_idx,
        qrels,
        deltas=prf_values,
        feedback_k=feedback_k,
        feedback_latents=feedback_latents,
    )
    for r in prf:
        v = r.pop("delta")
        rows.append({"kind": "prf", "latent": -1, "amplified": -1, "op": "add", "value": v, "targets": 0, **r})
    return rows
