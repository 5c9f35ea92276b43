"""Do SAE latents cause what their explanations say? Zeroing checks against frequency-matched random latents.

An interpretation (top documents, N2G pattern) says latent ``i`` stands for something the documents it fires
on share. If retrieval *uses* that, removing ``i`` from those documents should push them down for the queries
that also activate ``i``. For each latent:

1. ``T``: its ``targets`` top-activating documents (:func:`irlens.sae.control.latent_target_set`);
   ``Q``: the queries whose codes contain ``i``;
2. each document of ``T`` is re-decoded with ``z_i = 0`` (encode → zero → decode, from the saved top-k
   codes; the other documents are unchanged) and scored against each query of ``Q`` (reconstructed
   queries against reconstructed documents, as the reconstructed run searches);
3. the **effect** per query is the mean over ``T`` of the score drop s(q, d̂) − s(q, d̂ without i) and of the
   rank drop (rank among all documents after − before; 1 = top);
4. the **control** zeroes instead, in each target document, a random *other* latent active in it whose
   document frequency is closest to ``i``'s (within a factor ``freq_ratio``, else the nearest in log
   frequency), ``repeats`` seeded draws averaged — the same intervention on a latent with no claim attached;
5. per latent: mean effect, mean control and their paired difference over queries with a percentile
   bootstrap 95 % CI; ``causal`` is True when that CI lies above 0 (removing the latent hurts its own
   documents more than removing a comparable latent does).

Zeroing a latent that is not active in a document changes nothing (its code has no such entry).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from irlens.errors import IrlensError
from irlens.sae.codes import decode_codes
from irlens.sae.control import latent_target_set
from irlens.sae.metrics import fire_counts
from irlens.sae.model import TopKSAE

CAUSAL_COLUMNS = [
    "latent",
    "doc_freq",
    "targets",
    "queries",
    "score_drop",
    "score_drop_random",
    "difference",
    "ci_low",
    "ci_high",
    "rank_drop",
    "rank_drop_random",
    "causal",
]


def zero_latent(vals: np.ndarray, idx: np.ndarray, latents) -> np.ndarray:
    """Copy of the top-k code values ``vals [n, k]`` with, per row r, latent ``latents[r]`` (or one latent for
    every row) set to 0 where it is active; rows where it is not active are unchanged."""
    lat = np.broadcast_to(np.asarray(latents), (len(vals),))
    out = np.array(vals, copy=True)
    out[idx == lat[:, None]] = 0.0
    return out


def matched_latent(
    row_vals: np.ndarray, row_idx: np.ndarray, latent: int, freq: np.ndarray, rng, ratio: float = 2.0
) -> int:
    """A random latent active in this row (value > 0), other than ``latent``, whose document frequency is within
    a factor ``ratio`` of ``latent``'s; if none is, the one nearest in log frequency. -1 when the row has no
    other active latent."""
    active = [int(j) for j, v in zip(row_idx, row_vals) if v > 0 and int(j) != latent]
    if not active:
        return -1
    f0 = max(float(freq[latent]), 1.0)
    logd = np.array([abs(np.log(max(float(freq[j]), 1.0) / f0)) for j in active])
    close = [j for j, d in zip(active, logd) if d <= np.log(ratio)]
    if close:
        return int(rng.choice(close))
    return active[int(np.argmin(logd))]


def _transform(x, normalize: bool) -> np.ndarray:
    from irlens.sae.retrieval import as_embeddings

    return as_embeddings(np.asarray(x, dtype=np.float32), normalize)


def target_drops(q_hat: np.ndarray, d_hat: np.ndarray, rows: np.ndarray, new_docs: np.ndarray):
    """Per query (rows of ``q_hat``): mean over the target rows of the score drop and the rank drop when each
    target document ``rows[t]`` is replaced by ``new_docs[t]`` (the others unchanged)."""
    s = q_hat @ d_hat.T  # [nq, nd]
    before = s[:, rows]  # [nq, t]
    after = q_hat @ new_docs.T  # [nq, t]
    rank_before = 1 + (s[:, None, :] > before[:, :, None]).sum(-1)
    others = s[:, None, :].repeat(len(rows), 1)
    others[:, np.arange(len(rows)), rows] = -np.inf  # the document's own old score leaves the list
    rank_after = 1 + (others > after[:, :, None]).sum(-1)
    return (before - after).mean(1), (rank_after - rank_before).mean(1)


def causal_rows(
    model: TopKSAE,
    doc_vals: np.ndarray,
    doc_idx: np.ndarray,
    query_vals: np.ndarray,
    query_idx: np.ndarray,
    latents: list[int],
    targets: int = 20,
    repeats: int = 5,
    seed: int = 0,
    normalize: bool = False,
    freq_ratio: float = 2.0,
    n_boot: int = 2000,
    max_queries: int = 200,
) -> pd.DataFrame:
    """One row per latent (:data:`CAUSAL_COLUMNS`) from the saved top-k codes of the corpus and the queries.
    ``normalize``: score L2-normalised reconstructions (as the reconstructed run does for unit-norm
    encoders). ``max_queries``: at most this many activating queries per latent (a seeded sample)."""
    from irlens.stats import bootstrap_mean_ci

    if repeats < 1:
        raise IrlensError("sae causal: repeats must be >= 1")
    n_lat = model.cfg.n_latents
    bad = [lat for lat in latents if not 0 <= int(lat) < n_lat]
    if bad:
        raise IrlensError(f"sae causal: latent {bad[0]} is outside 0..{n_lat - 1}")
    freq = fire_counts(doc_vals, doc_idx, n_lat)
    d_hat = _transform(decode_codes(model, doc_vals, doc_idx), normalize)
    rng = np.random.default_rng(seed)
    rows = []
    for lat in map(int, latents):
        t_rows = latent_target_set(doc_vals, doc_idx, lat, targets)
        q_rows = np.nonzero(((query_idx == lat) & (query_vals > 0)).any(1))[0]
        if len(q_rows) > max_queries:
            q_rows = np.sort(rng.choice(q_rows, size=max_queries, replace=False))
        base = {"latent": lat, "doc_freq": int(freq[lat]), "targets": len(t_rows), "queries": len(q_rows)}
        if not len(t_rows) or not len(q_rows):
            rows.append({**base, "causal": False})
            continue
        q_hat = _transform(decode_codes(model, query_vals[q_rows], query_idx[q_rows]), normalize)
        tv, ti = doc_vals[t_rows], doc_idx[t_rows]
        new = _transform(decode_codes(model, zero_latent(tv, ti, lat), ti), normalize)
        score, rank = target_drops(q_hat, d_hat, t_rows, new)
        r_score, r_rank = np.zeros(len(q_rows)), np.zeros(len(q_rows))
        for _ in range(repeats):
            other = np.array([matched_latent(v, i, lat, freq, rng, freq_ratio) for v, i in zip(tv, ti)])
            new_r = _transform(decode_codes(model, zero_latent(tv, ti, other), ti), normalize)
            s_, r_ = target_drops(q_hat, d_hat, t_rows, new_r)
            r_score += s_ / repeats
            r_rank += r_ / repeats
        diff = score - r_score
        lo, hi = bootstrap_mean_ci(diff, n_boot, seed + lat)
        rows.append(
            {
                **base,
                "score_drop": float(score.mean()),
                "score_drop_random": float(r_score.mean()),
                "difference": float(diff.mean()),
                "ci_low": lo,
                "ci_high": hi,
                "rank_drop": float(rank.mean()),
                "rank_drop_random": float(r_rank.mean()),
                "causal": bool(lo > 0),
            }
        )
    return pd.DataFrame(rows, columns=CAUSAL_COLUMNS)
