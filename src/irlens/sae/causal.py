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
   document frequency and whose value in that document are both within a factor ``freq_ratio`` of ``i``'s
   (else the nearest in the sum of the two log ratios), ``repeats`` seeded draws averaged — the same
   intervention, of about the same size, on a latent with no claim attached (``random_value_ratio``: the mean
   value of the zeroed control latent over ``i``'s in the same documents);
5. per latent: mean effect, mean control and their paired difference over queries with a percentile
   bootstrap 95 % CI and a one-sided sign-flip p, Holm-adjusted over the latents; ``causal`` is True when the
   adjusted p is ≤ 0.05 (removing the latent hurts its own documents more than removing a comparable latent).

Zeroing a latent that is not active in a document changes nothing (its code has no such entry).

Zeroing never looks at the explanation's words. :func:`pattern_rows` tests those on text: in held-out firing
documents (not the N2G examples) that contain the pattern, deleting its words should lower the latent's
activation more than deleting as many random words.
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
    "p",
    "p_holm",
    "rank_drop",
    "rank_drop_random",
    "random_value_ratio",
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
    """A random latent active in this row (value > 0), other than ``latent``, whose document frequency and whose
    value in this row are both within a factor ``ratio`` of ``latent``'s (the value criterion only where
    ``latent`` is active in the row); if none is, the one nearest in |log frequency ratio| + |log value ratio|.
    -1 when the row has no other active latent."""
    active = [(int(j), float(v)) for j, v in zip(row_idx, row_vals) if v > 0 and int(j) != latent]
    if not active:
        return -1
    f0 = max(float(freq[latent]), 1.0)
    v0 = max((float(v) for j, v in zip(row_idx, row_vals) if int(j) == latent and v > 0), default=None)
    d_freq = np.array([abs(np.log(max(float(freq[j]), 1.0) / f0)) for j, _ in active])
    d_val = np.array([abs(np.log(v / v0)) if v0 else 0.0 for _, v in active])
    close = [j for (j, _), a, b in zip(active, d_freq, d_val) if a <= np.log(ratio) and b <= np.log(ratio)]
    if close:
        return int(rng.choice(close))
    return active[int(np.argmin(d_freq + d_val))][0]


def paired_summary(diff: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float, float, float]:
    """``(mean, ci_low, ci_high, p, p_floor)`` of paired differences: percentile-bootstrap 95 % CI and the
    one-sided sign-flip p of mean > 0 (:func:`irlens.stats.sign_flip_p`) with the smallest p it can reach."""
    from irlens.stats import bootstrap_mean_ci, sign_flip_p

    lo, hi = bootstrap_mean_ci(diff, n_boot, seed)
    p, floor = sign_flip_p(diff, seed=seed)
    return float(np.mean(diff)), lo, hi, p, floor


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
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per latent (:data:`CAUSAL_COLUMNS`) from the saved top-k codes of the corpus and the queries.
    ``normalize``: score L2-normalised reconstructions (as the reconstructed run does for unit-norm
    encoders). ``max_queries``: at most this many activating queries per latent (a seeded sample). ``p``:
    one-sided sign-flip test of the per-query differences (:func:`irlens.stats.sign_flip_p`); ``p_holm``:
    Holm-adjusted over the tested latents; ``causal`` when ``p_holm`` ≤ ``alpha``."""
    from irlens.ablation.stats import holm

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
        own = np.where(ti == lat, tv, 0).max(1)  # the latent's value in each target document
        ratios = []
        for _ in range(repeats):
            other = np.array([matched_latent(v, i, lat, freq, rng, freq_ratio) for v, i in zip(tv, ti)])
            ratios += [np.where(i == o, v, 0).max() / w for v, i, o, w in zip(tv, ti, other, own) if o >= 0 and w > 0]
            new_r = _transform(decode_codes(model, zero_latent(tv, ti, other), ti), normalize)
            s_, r_ = target_drops(q_hat, d_hat, t_rows, new_r)
            r_score += s_ / repeats
            r_rank += r_ / repeats
        mean, lo, hi, p, _ = paired_summary(score - r_score, n_boot, seed + lat)
        rows.append(
            {
                **base,
                "score_drop": float(score.mean()),
                "score_drop_random": float(r_score.mean()),
                "difference": mean,
                "ci_low": lo,
                "ci_high": hi,
                "p": p,
                "rank_drop": float(rank.mean()),
                "rank_drop_random": float(r_rank.mean()),
                "random_value_ratio": float(np.mean(ratios)) if ratios else np.nan,
            }
        )
    df = pd.DataFrame(rows, columns=CAUSAL_COLUMNS)
    df["p_holm"] = holm(df["p"].to_numpy(dtype=float))
    df["causal"] = (df["p_holm"] <= alpha).to_numpy()  # NaN (not tested) → False
    return df


# ------------------------------------------------------------------ does the N2G pattern cause the activation?
PATTERN_COLUMNS = [
    "latent",
    "pattern_docs",
    "pattern_drop",
    "pattern_drop_random",
    "pattern_difference",
    "pattern_ci_low",
    "pattern_ci_high",
    "pattern_p",
    "pattern_p_floor",
    "pattern_p_holm",
    "pattern_supported",
]


def delete_words(words: list[str], drop: set[int]) -> str:
    """``words`` joined by spaces without the positions in ``drop``."""
    return " ".join(w for i, w in enumerate(words) if i not in drop)


def pattern_variants(
    words: list[str], patterns: list[list[str]], rng: np.random.Generator, repeats: int
) -> tuple[str, list[str], int] | None:
    """For a text (its ``words``) that contains a whole pattern: the text without every occurrence of the
    words of the patterns it contains, and ``repeats`` texts without as many randomly chosen other word
    occurrences (seeded); plus that count. ``None`` when no pattern is contained or no other word is left
    to delete at random."""
    from irlens.sae.n2g import word_key

    keys = [word_key(w) for w in words]
    present = set(keys)
    hit = {w for p in patterns if p and all(x in present for x in p) for w in p}
    if not hit:
        return None
    drop = {i for i, k in enumerate(keys) if k in hit}
    others = np.array([i for i in range(len(words)) if i not in drop])
    if len(others) < len(drop):
        return None
    rand = [
        delete_words(words, set(rng.choice(others, size=len(drop), replace=False).tolist())) for _ in range(repeats)
    ]
    return delete_words(words, drop), rand, len(drop)


def pattern_rows(
    act,
    texts: list[str],
    doc_vals: np.ndarray,
    doc_idx: np.ndarray,
    latents: list[int],
    patterns: dict[int, list[list[str]]],
    exclude: dict[int, set[int]] | None = None,
    docs: int = 10,
    repeats: int = 3,
    max_words: int = 64,
    min_docs: int = 5,
    seed: int = 0,
    n_boot: int = 2000,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Held-out test of each latent's N2G pattern (:data:`PATTERN_COLUMNS`): does deleting the pattern's words
    from a document lower the latent's activation more than deleting as many random words of it?

    Documents: those on which the latent fires (its top-k codes), in decreasing activation, except
    ``exclude[latent]`` (the N2G examples the pattern was read from), cut to their first ``max_words`` words
    (N2G's unit), that contain every word of some pattern; the first ``docs`` of them. Per document the relative
    activation drop ``1 − act(without)/act(text)`` (``act``: texts → ReLU pre-activations, as N2G uses,
    :func:`irlens.sae.n2g.activation_fn`) for the pattern words and, averaged over ``repeats`` seeded draws, for
    as many random other words. ``pattern_difference``: their paired difference, mean and percentile-bootstrap
    95 % CI over documents; ``pattern_p``: one-sided sign-flip test over documents (exact up to 16 documents,
    :func:`irlens.stats.sign_flip_p`), ``pattern_p_floor`` the smallest p its document count can give,
    ``pattern_p_holm`` Holm-adjusted over the tested latents. ``pattern_supported``: True when ``pattern_p_holm``
    ≤ ``alpha``; False when not although the count could have shown it (floor × tested latents ≤ ``alpha``);
    None when not tested (fewer than ``min_docs`` documents) or too few documents to show it either way."""
    from irlens.ablation.stats import holm
    from irlens.sae.n2g import split_words

    if repeats < 1 or docs < 1:
        raise IrlensError("sae causal: pattern docs and repeats must be >= 1")
    exclude = exclude or {}
    rng = np.random.default_rng(seed)
    rows = []
    for lat in map(int, latents):
        pats = [p for p in patterns.get(lat, []) if p]
        r, c = np.nonzero((doc_idx == lat) & (doc_vals > 0))
        order = r[np.lexsort((r, -doc_vals[r, c]))]
        batch, n_del = [], []
        for row in order:
            if len(n_del) >= docs or not pats:
                break
            if int(row) in exclude.get(lat, set()):
                continue
            v = pattern_variants(words := split_words(texts[row])[:max_words], pats, rng, repeats)
            if v is None:  # no whole pattern in the text (or too few other words)
                continue
            batch += [" ".join(words), v[0], *v[1]]
            n_del.append(v[2])
        if not n_del:
            rows.append({"latent": lat, "pattern_docs": 0})
            continue
        a = np.asarray(act(batch))[:, lat].reshape(len(n_del), 2 + repeats).astype(np.float64)
        ok = a[:, 0] > 0
        a = a[ok]
        if len(a) < min_docs:
            rows.append({"latent": lat, "pattern_docs": int(len(a))})
            continue
        drop = 1.0 - a[:, 1] / a[:, 0]
        drop_r = (1.0 - a[:, 2:] / a[:, :1]).mean(1)
        mean, lo, hi, p, floor = paired_summary(drop - drop_r, n_boot, seed + lat)
        rows.append(
            {
                "latent": lat,
                "pattern_docs": int(len(a)),
                "pattern_drop": float(drop.mean()),
                "pattern_drop_random": float(drop_r.mean()),
                "pattern_difference": mean,
                "pattern_ci_low": lo,
                "pattern_ci_high": hi,
                "pattern_p": p,
                "pattern_p_floor": floor,
            }
        )
    df = pd.DataFrame(rows, columns=PATTERN_COLUMNS)
    df["pattern_p_holm"] = holm(df["pattern_p"].to_numpy(dtype=float))
    m = int(df["pattern_p"].notna().sum())
    verdict = []
    for p_adj, floor in zip(df["pattern_p_holm"], df["pattern_p_floor"]):
        if np.isnan(p_adj):
            verdict.append(None)  # not tested
        elif p_adj <= alpha:
            verdict.append(True)
        else:  # a row whose smallest reachable p times the family size exceeds alpha cannot be shown either way
            verdict.append(None if floor * m > alpha else False)
    df["pattern_supported"] = pd.Series(verdict, index=df.index, dtype=object)
    return df
