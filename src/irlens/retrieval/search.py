"""Exact dense search: chunked matrix products with a running top-k."""

from __future__ import annotations

import numpy as np


def dense_search(
    queries: np.ndarray,
    corpus: np.ndarray,
    k: int,
    score: str = "dot",
    query_chunk: int = 1024,
    corpus_chunk: int = 50_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` corpus rows for every query row, exactly.

    ``score`` is ``"dot"`` or ``"cos"`` (rows L2-normalised first). Memory stays at
    ``query_chunk × (corpus_chunk + k)`` scores. Returns ``(scores [nq, k'], indices [nq, k'])``
    with ``k' = min(k, n_corpus)``, sorted by descending score, ties broken by ascending index
    (deterministic, independent of the chunk sizes).
    """
    import torch

    if score not in ("dot", "cos"):
        raise ValueError(f"score must be 'dot' or 'cos', got {score!r}")
    q = torch.from_numpy(np.array(queries, dtype=np.float32, copy=True))
    if score == "cos":
        q = torch.nn.functional.normalize(q, dim=1)
    nq, nd = q.shape[0], corpus.shape[0]

    def corpus_block(start: int):
        # corpus may be a read-only memory map: copy one block at a time, never the whole matrix
        block = torch.from_numpy(np.array(corpus[start : start + corpus_chunk], dtype=np.float32, copy=True))
        return torch.nn.functional.normalize(block, dim=1) if score == "cos" else block

    k = min(k, nd)
    out_s = np.empty((nq, k), dtype=np.float32)
    out_i = np.empty((nq, k), dtype=np.int64)
    with torch.inference_mode():
        for qs in range(0, nq, query_chunk):
            qb = q[qs : qs + query_chunk]
            best_s = best_i = None
            for ds in range(0, nd, corpus_chunk):
                s = qb @ corpus_block(ds).T  # [bq, bd]
                ts, ti = _topk_lowest_index(s, min(k, s.shape[1]))
                ti = ti + ds
                if best_s is None:
                    best_s, best_i = ts, ti
                else:
                    # merge the running best with this chunk's best (≤ 2k candidates per row), exactly:
                    # order by index, then stable sort by descending score
                    cs, ci = torch.cat([best_s, ts], 1), torch.cat([best_i, ti], 1)
                    ci, by_idx = torch.sort(ci, dim=1, stable=True)
                    cs = torch.gather(cs, 1, by_idx)
                    _, pos = torch.sort(-cs, dim=1, stable=True)
                    pos = pos[:, :k]
                    best_s, best_i = torch.gather(cs, 1, pos), torch.gather(ci, 1, pos)
            bs, bi = best_s.numpy(), best_i.numpy()
            out_s[qs : qs + len(bs)] = bs
            out_i[qs : qs + len(bs)] = bi
    return out_s, out_i


def _topk_lowest_index(s, k: int):
    """``torch.topk`` along dim 1, but among scores tied with the k-th, the lowest indices win.

    topk picks an arbitrary subset of boundary ties; rows where that matters (rare with real
    embeddings) are redone with a stable sort. Output rows are sorted by (score desc, index asc).
    """
    import torch

    ts, ti = torch.topk(s, k, dim=1)
    kth = ts[:, -1:]
    ambiguous = ((s == kth).sum(1) > (ts == kth).sum(1)).nonzero().flatten()
    if len(ambiguous):
        _, order = torch.sort(-s[ambiguous], dim=1, stable=True)
        ti[ambiguous] = order[:, :k]
        ts[ambiguous] = torch.gather(s[ambiguous], 1, order[:, :k])
    # order within the selection: score desc, index asc
    ti, by_idx = torch.sort(ti, dim=1, stable=True)
    ts = torch.gather(ts, 1, by_idx)
    _, pos = torch.sort(-ts, dim=1, stable=True)
    return torch.gather(ts, 1, pos), torch.gather(ti, 1, pos)
