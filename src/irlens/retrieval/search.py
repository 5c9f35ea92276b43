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
    q_starts = range(0, nq, query_chunk)
    best: dict[int, tuple] = {}  # query-chunk start -> (scores [bq, ≤k], indices [bq, ≤k])
    with torch.inference_mode():
        # corpus blocks outermost: each block is read (and normalised) once, whatever the query count
        for ds in range(0, nd, corpus_chunk):
            block = corpus_block(ds)
            for qs in q_starts:
                s = q[qs : qs + query_chunk] @ block.T  # [bq, bd]
                ts, ti = _topk_lowest_index(s, min(k, s.shape[1]))
                ti = ti + ds
                if qs in best:
                    # merge the running best with this block's best (≤ 2k candidates per row), exactly
                    cs, ci = _order_by_score_then_index(
                        torch.cat([best[qs][0], ts], 1), torch.cat([best[qs][1], ti], 1)
                    )
                    ts, ti = cs[:, :k], ci[:, :k]
                best[qs] = (ts, ti)
    out_s = np.empty((nq, k), dtype=np.float32)
    out_i = np.empty((nq, k), dtype=np.int64)
    for qs, (bs, bi) in best.items():
        out_s[qs : qs + len(bs)] = bs.numpy()
        out_i[qs : qs + len(bs)] = bi.numpy()
    return out_s, out_i


def _order_by_score_then_index(scores, indices):
    """Sort each row by descending score, ties by ascending index (index sort, then stable score sort)."""
    import torch

    indices, by_idx = torch.sort(indices, dim=1, stable=True)
    scores = torch.gather(scores, 1, by_idx)
    _, pos = torch.sort(-scores, dim=1, stable=True)
    return torch.gather(scores, 1, pos), torch.gather(indices, 1, pos)


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
    return _order_by_score_then_index(ts, ti)
