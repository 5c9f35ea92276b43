"""Saved top-k codes of an embeddings folder and the latents picked from them.

``irlens sae evaluate --codes-out`` writes the codes of every corpus and query row once (:func:`write_codes`,
an ``.npz`` of values, indices and ids); ``sae interpret`` and ``sae control`` read them back
(:func:`read_codes`) instead of encoding again.

* :func:`decode_codes` — reconstructions ``x̂`` from saved codes,
* :func:`evaluation_codes` — the ``codes`` tuple :func:`irlens.sae.retrieval.evaluate_sae` takes,
* :func:`frequent_latents` — the latents firing on the most documents, within a document-frequency band.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irlens.errors import IrlensError
from irlens.sae.model import TopKSAE


def write_codes(model: TopKSAE, folder: str | Path, out: str | Path) -> dict:
    """Top-k codes of every corpus and query row of an embeddings folder, saved as ``.npz`` (values,
    indices, ids) for the interpretation and control steps; returns them (ids as lists)."""
    from irlens.io import atomic_path
    from irlens.sae.data import load_embeddings_file
    from irlens.sae.metrics import encode_array

    folder = Path(folder)
    corpus, doc_ids, _ = load_embeddings_file(folder / "corpus.npy")
    dv, di, _ = encode_array(model, corpus)
    res = {"doc_vals": dv, "doc_idx": di, "doc_ids": list(doc_ids)}
    if (folder / "queries.npy").is_file():
        q, qids, _ = load_embeddings_file(folder / "queries.npy")
        qv, qi, _ = encode_array(model, q)
        res.update(query_vals=qv, query_idx=qi, query_ids=list(qids))
    with atomic_path(out, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **{k: (np.array(v, dtype=str) if k.endswith("_ids") else v) for k, v in res.items()})
    return res


def read_codes(path: str | Path, folder: str | Path) -> dict:
    """Codes written by :func:`write_codes`, checked against the embeddings folder's ids."""
    from irlens.io import read_json

    path = Path(path)
    if not path.is_file():
        raise IrlensError(f"{path}: SAE codes not found; run 'irlens sae evaluate --codes-out' first")
    with np.load(path, allow_pickle=False) as z:
        res = {k: (z[k].tolist() if k.endswith("_ids") else z[k]) for k in z.files}
    side = read_json(Path(folder) / "corpus.json")
    ids = side.get("ids") if isinstance(side, dict) else None
    if ids is not None and list(ids) != res["doc_ids"]:
        raise IrlensError(
            f"{path}: codes were computed for other documents than {Path(folder) / 'corpus.json'}; "
            "rerun 'irlens sae evaluate'"
        )
    return res


def decode_codes(model: TopKSAE, vals: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Reconstructions ``x̂ [n, d]`` from saved top-k codes ``(values, indices) [n, k]``."""
    import torch

    with torch.no_grad():
        return model.decode(model.scatter(torch.from_numpy(vals), torch.from_numpy(idx))).numpy()


def evaluation_codes(model: TopKSAE, codes: dict, query_ids: list[str]) -> tuple:
    """``(doc values, doc indices, doc x̂, query values, query indices, query x̂)`` of ``codes`` (from
    :func:`write_codes`), the query rows picked in the order of ``query_ids``: the ``codes`` argument of
    :func:`irlens.sae.retrieval.evaluate_sae`."""
    pick = np.array([codes["query_ids"].index(q) for q in query_ids], dtype=np.int64)
    qv, qi = codes["query_vals"][pick], codes["query_idx"][pick]
    dv, di = codes["doc_vals"], codes["doc_idx"]
    return (dv, di, decode_codes(model, dv, di), qv, qi, decode_codes(model, qv, qi))


def frequent_latents(doc_vals, doc_idx, n_latents: int, n: int, min_df: int = 1, max_share: float = 1.0):
    """The ``n`` latents firing on the most documents, among those firing on ``min_df`` … ``max_share``·N
    documents; when fewer qualify, the least frequent of those firing on more than ``max_share``·N fill up."""
    df = np.bincount(doc_idx[doc_vals > 0], minlength=n_latents)
    ok = (df >= min_df) & (df <= max_share * len(doc_vals))
    order = np.lexsort((np.arange(n_latents), -df))
    out = [int(i) for i in order if ok[i]][:n]
    if len(out) < n:
        over = [int(i) for i in order[::-1] if df[i] > max_share * len(doc_vals)]
        out += over[: n - len(out)]
    return out
