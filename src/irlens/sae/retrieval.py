"""Retrieval with an SAE: dense (original), reconstructed (x̂) and latent (sparse codes) runs, evaluated alike.

* **dense**: ``q · d`` on the original embeddings (exact, :func:`irlens.retrieval.search.dense_search`).
* **reconstructed**: ``q̂ · d̂`` with ``x̂ = W_dec z + b_pre`` for queries and documents, scored as the
  encoder scores its own embeddings: when the dense embeddings are unit-norm (the encoder ends with a
  ``Normalize`` module, as MiniLM and BGE do), ``x̂`` is L2-normalised too (``dense_search(score="cos")``), since
  an embedding off the unit sphere is not one the encoder can produce. **reconstructed-raw** is the
  anchor's ``reconstructed_retrieval.py`` (``x̂`` as decoded), reported beside it when the two differ.
* **latent**: ``Σ_i w_i z_q,i z_d,i`` over the top-k codes through an in-process inverted index
  (:class:`LatentIndex`, a SciPy CSR matrix ``latents × documents``; the anchor used Elasticsearch
  sparse vectors with dot-product scoring). Codes are always taken *with* the pre-bias subtracted,
  exactly as in training (the anchor's ``encode()`` skipped it at index time, notes §1).
  Options: ``normalize`` (cosine of codes), ``weighting="idf"`` (``w_i = log(1 + N / df_i)``, df_i =
  documents on which latent ``i`` fires; a latent firing everywhere counts less, as in CL-SR's BM25 IDF)
  and ``power`` (codes raised to ``p`` first).

* **codes**: the model's codes (refined by IHT when ``refine_steps`` > 0, else the encoder's top-k); a
  refining model's reconstructed and latent runs are repeated on the encoder's codes (``<run>-encoder``).

* **latent-projected-query** (asymmetric, reported apart): documents by their sparse codes in the same
  index, the query as dense weights ``W_decᵀ x_q`` over all latents (:func:`search_projected`).

All runs keep the top ``depth`` documents per query, ties broken by ascending corpus row, and are scored
with pytrec_eval through :func:`irlens.retrieval.evaluate.evaluate_run` (nDCG@10, MRR@10, ...).
"""

from __future__ import annotations

import time

import numpy as np

from irlens.sae.metrics import codes_label, encode_array, fire_counts, reconstruction_metrics
from irlens.sae.model import TopKSAE

WEIGHTINGS = ("none", "idf")


def sparse_codes(vals: np.ndarray, idx: np.ndarray, n_latents: int):
    """``(values [n, k], indices [n, k]) → scipy.sparse.csr_matrix [n, L]`` (zero values dropped)."""
    import scipy.sparse as sp

    n, k = vals.shape
    m = sp.csr_matrix(
        (vals.reshape(-1).astype(np.float32), (np.repeat(np.arange(n), k), idx.reshape(-1))), shape=(n, n_latents)
    )
    m.eliminate_zeros()
    m.sort_indices()
    return m


def latent_weights(
    doc_vals: np.ndarray, doc_idx: np.ndarray, n_latents: int, weighting: str = "none"
) -> np.ndarray | None:
    """Per-latent weights ``[L]`` from the documents' codes (``None`` for ``"none"``)."""
    if weighting == "none":
        return None
    if weighting == "idf":
        df = fire_counts(doc_vals, doc_idx, n_latents)
        return np.log1p(len(doc_vals) / np.maximum(df, 1)).astype(np.float32)
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")


def unit_norm(x: np.ndarray, tol: float = 1e-3) -> bool:
    """True when every row of ``x [n, d]`` has L2 norm 1 (± ``tol``): embeddings of a normalising encoder."""
    n = np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1)
    return bool(len(n)) and bool(np.all(np.abs(n - 1.0) <= tol))


def normalizing_encoder(corpus: np.ndarray, queries: np.ndarray) -> bool:
    """Whether reconstructions are scored normalised: the dense corpus and queries are both unit-norm."""
    return unit_norm(corpus) and unit_norm(queries)


def as_embeddings(x_hat: np.ndarray, normalize: bool) -> np.ndarray:
    """Reconstructions ``[n, d]`` as the encoder would output them: L2-normalised rows when ``normalize``."""
    if not normalize:
        return x_hat
    x_hat = np.asarray(x_hat, dtype=np.float32)
    return x_hat / np.maximum(np.linalg.norm(x_hat, axis=1, keepdims=True), 1e-12)


def _normalize_rows(m):
    import scipy.sparse as sp

    norms = np.sqrt(np.asarray(m.multiply(m).sum(1)).ravel())
    return sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ m


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` columns of each row of a dense ``[n, m]`` score block: score descending, ties by column."""
    k = min(k, scores.shape[1])
    part = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < scores.shape[1]
        else np.tile(np.arange(scores.shape[1]), (len(scores), 1))
    )
    out_s = np.empty((len(scores), k), np.float32)
    out_i = np.empty((len(scores), k), np.int64)
    for r in range(len(scores)):
        cand = part[r]
        kth = scores[r, cand].min()
        # argpartition picks an arbitrary subset of boundary ties: take every column tied with the k-th, lowest first
        cand = np.union1d(cand[scores[r, cand] > kth], np.flatnonzero(scores[r] == kth))
        order = np.lexsort((cand, -scores[r, cand]))[:k]
        out_i[r] = cand[order]
        out_s[r] = scores[r, out_i[r]]
    return out_s, out_i


class LatentIndex:
    """Inverted index over documents' sparse codes; search = sparse matrix product ``Q · Dᵀ``.

    ``doc_vals, doc_idx [n_docs, k]`` are the documents' top-k codes. The index holds ``Dᵀ`` as a CSR
    matrix ``[L, n_docs]`` (one posting list per latent). Scores ``Σ_i w_i z_q,i^p z_d,i^p`` (``power``
    ``p``, 1 by default; ``p = 0.5`` damps the few large activations, like a sublinear TF), on the
    L2-normalised powered codes when ``normalize``.
    """

    def __init__(
        self,
        doc_vals: np.ndarray,
        doc_idx: np.ndarray,
        n_latents: int,
        normalize: bool = False,
        weighting: str = "none",
        power: float = 1.0,
    ) -> None:
        self.n_latents = n_latents
        self.normalize = normalize
        self.power = power
        self.weights = latent_weights(doc_vals, doc_idx, n_latents, weighting)
        d = self._codes(doc_vals, doc_idx)
        if normalize:
            d = _normalize_rows(d)
        self.postings = d.T.tocsr()  # [L, n_docs]
        self.n_docs = d.shape[0]

    def _codes(self, vals: np.ndarray, idx: np.ndarray):
        m = sparse_codes(vals, idx, self.n_latents)
        if self.power != 1.0:
            m.data = m.data**self.power
        return m

    def query_matrix(self, q_vals: np.ndarray, q_idx: np.ndarray):
        """Queries' codes ``[n_queries, L]`` as a CSR matrix, powered, normalised and weighted as the documents."""
        import scipy.sparse as sp

        q = self._codes(q_vals, q_idx)
        if self.normalize:
            q = _normalize_rows(q)
        if self.weights is not None:
            q = q @ sp.diags(self.weights)
        return q.tocsr()

    def scores(self, q_vals: np.ndarray, q_idx: np.ndarray) -> np.ndarray:
        """All scores ``[n_queries, n_docs]`` (dense; for tests and small sets)."""
        return np.asarray((self.query_matrix(q_vals, q_idx) @ self.postings).todense(), dtype=np.float32)

    def search(self, q_vals: np.ndarray, q_idx: np.ndarray, k: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` documents per query: ``(scores [nq, k'], indices [nq, k'])``, ties by ascending row."""
        q = self.query_matrix(q_vals, q_idx)
        outs, outi = [], []
        for s in range(0, q.shape[0], chunk):
            block = (q[s : s + chunk] @ self.postings).toarray()  # [chunk, n_docs]
            bs, bi = topk_rows(block, k)
            outs.append(bs)
            outi.append(bi)
        if not outs:
            return np.zeros((0, min(k, self.n_docs)), np.float32), np.zeros((0, min(k, self.n_docs)), np.int64)
        return np.concatenate(outs), np.concatenate(outi)


def search_projected(
    model: TopKSAE, queries: np.ndarray, index: LatentIndex, k: int, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Asymmetric latent retrieval: dense query weights ``u_q = W_decᵀ x_q`` [L] against the sparse document codes.

    ``u_q · z_d = x_q · (x̂_d − b_pre)``, so this ranks documents exactly as ``x_q · x̂_d`` (query
    embedding against reconstructed documents) while documents stay in the latent inverted index with
    their ``k`` latents. It is *not* the symmetric latent retrieval (the query is not a top-k code); it
    needs an index built with ``normalize=False``, ``weighting="none"``, ``power=1``.
    """
    if index.normalize or index.weights is not None or index.power != 1.0:
        raise ValueError("search_projected needs a plain index (no normalisation, weighting or power)")
    W = model.W_dec.detach().numpy()  # [d, L]
    outs, outi = [], []
    for s in range(0, len(queries), chunk):
        u = np.asarray(queries[s : s + chunk], dtype=np.float32) @ W  # [c, L]
        block = np.asarray((index.postings.T @ u.T).T)  # [c, n_docs]
        bs, bi = topk_rows(block, k)
        outs.append(bs)
        outi.append(bi)
    return np.concatenate(outs), np.concatenate(outi)


def evaluate_sae(
    model: TopKSAE,
    corpus: np.ndarray,
    doc_ids: list[str],
    queries: np.ndarray,
    query_ids: list[str],
    qrels: dict[str, dict[str, int]],
    depth: int = 100,
    latent_variants: tuple[tuple, ...] | None = None,
    projected: bool = True,
    codes: tuple | None = None,
    normalize_reconstruction: bool | None = None,
) -> dict:
    """Dense, reconstructed and latent retrieval of ``queries`` over ``corpus``, plus reconstruction metrics.

    ``latent_variants``: ``(name, normalize, weighting[, power])``; default: plain dot, cosine, IDF,
    cosine + IDF, and cosine of square-rooted codes. ``projected`` adds ``latent-projected-query``
    (:func:`search_projected`: dense query weights against the sparse document codes). ``qrels`` is
    restricted to ``query_ids``. Returns a JSON-able dict with
    ``retrieval[run] = {ndcg@10, mrr@10, recall@100, map, seconds}``, ``ratio_ndcg@10[run]`` (run / dense)
    and ``reconstruction`` (FVU, cosine, L0, dead %) for the corpus, the queries and both together.
    ``codes`` says which codes those runs use (:func:`irlens.sae.metrics.codes_label`); when the model
    refines its codes (``refine_steps`` > 0), ``reconstructed-encoder`` and ``<latent run>-encoder`` repeat
    the runs on the encoder's own top-k codes (what the paper describes).
    ``codes``: ``(doc values, doc indices, doc x̂, query values, query indices, query x̂)`` from
    :func:`irlens.sae.metrics.encode_array`, when already computed. ``normalize_reconstruction``: score
    ``reconstructed`` on L2-normalised ``x̂`` (``None``: when the dense corpus and queries are unit-norm);
    when it applies, ``reconstructed-raw`` keeps the unnormalised run.
    """
    from irlens.retrieval.evaluate import evaluate_run
    from irlens.retrieval.search import dense_search
    from irlens.retrieval.trec import run_from_topk

    if latent_variants is None:
        latent_variants = (
            ("latent", False, "none"),
            ("latent-cos", True, "none"),
            ("latent-idf", False, "idf"),
            ("latent-cos-idf", True, "idf"),
            ("latent-sqrt-cos", True, "none", 0.5),
        )
    qrels = {q: r for q, r in qrels.items() if q in set(query_ids)}
    L = model.cfg.n_latents
    if codes is None:
        dv, di, dh = encode_array(model, corpus)
        qv, qi, qh = encode_array(model, queries)
    else:  # precomputed (encode_array of corpus and queries): the refinement is the costly part
        dv, di, dh, qv, qi, qh = codes
    if normalize_reconstruction is None:
        normalize_reconstruction = normalizing_encoder(corpus, queries)
    out: dict = {
        "retrieval": {},
        "reconstruction_normalized": bool(normalize_reconstruction),
        "queries": len(query_ids),
        "judged_queries": len(qrels),
        "documents": len(doc_ids),
        "depth": depth,
        "refine_steps": model.cfg.refine_steps,
        "refine_step": model.cfg.refine_step,
        "refine_momentum": model.cfg.refine_momentum,
        "codes": codes_label(model.cfg.refine_steps),  # of the runs without the "-encoder" suffix
    }

    def score(name, fn):
        t0 = time.perf_counter()
        s, i = fn()
        secs = time.perf_counter() - t0
        means, _ = evaluate_run(qrels, run_from_topk(query_ids, doc_ids, s, i))
        out["retrieval"][name] = {
            **{m: means[m] for m in ("ndcg@10", "mrr@10", "recall@100", "map")},
            "seconds": round(secs, 3),
        }

    score("dense", lambda: dense_search(queries, corpus, depth))
    score("reconstructed", lambda: dense_search(qh, dh, depth, score="cos" if normalize_reconstruction else "dot"))
    if normalize_reconstruction:
        score("reconstructed-raw", lambda: dense_search(qh, dh, depth))
    for name, norm, w, *p in latent_variants:
        score(
            name,
            lambda norm=norm, w=w, p=p: LatentIndex(
                dv, di, L, normalize=norm, weighting=w, power=p[0] if p else 1.0
            ).search(qv, qi, depth),
        )
    if projected:
        score("latent-projected-query", lambda: search_projected(model, queries, LatentIndex(dv, di, L), depth))
    if model.cfg.refine_steps > 0:  # the runs above use refined codes: the encoder's own codes (the paper's) too
        edv, edi, edh = encode_array(model, corpus, refine_steps=0)
        eqv, eqi, eqh = encode_array(model, queries, refine_steps=0)
        score(
            "reconstructed-encoder",
            lambda: dense_search(eqh, edh, depth, score="cos" if normalize_reconstruction else "dot"),
        )
        for name, norm, w, *p in latent_variants:
            score(
                f"{name}-encoder",
                lambda norm=norm, w=w, p=p: LatentIndex(
                    edv, edi, L, normalize=norm, weighting=w, power=p[0] if p else 1.0
                ).search(eqv, eqi, depth),
            )
    dense = out["retrieval"]["dense"]
    out["ratio_ndcg@10"] = {
        k: (v["ndcg@10"] / dense["ndcg@10"] if dense["ndcg@10"] else float("nan")) for k, v in out["retrieval"].items()
    }
    out["ratio_mrr@10"] = {
        k: (v["mrr@10"] / dense["mrr@10"] if dense["mrr@10"] else float("nan")) for k, v in out["retrieval"].items()
    }
    out["reconstruction"] = {
        "corpus": reconstruction_metrics(corpus, dh, dv, di, L),
        "queries": reconstruction_metrics(queries, qh, qv, qi, L),
        "all": reconstruction_metrics(
            np.concatenate([corpus, queries]),
            np.concatenate([dh, qh]),
            np.concatenate([dv, qv]),
            np.concatenate([di, qi]),
            L,
        ),
    }
    if model.cfg.refine_steps > 0:
        out["reconstruction_encoder"] = {
            "all": reconstruction_metrics(
                np.concatenate([corpus, queries]),
                np.concatenate([edh, eqh]),
                np.concatenate([edv, eqv]),
                np.concatenate([edi, eqi]),
                L,
            )
        }
    return out
