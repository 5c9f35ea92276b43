"""Statistics of the ablation study: paired two-tailed Student's t-test on per-query metrics."""

from __future__ import annotations

import numpy as np

from irlens.errors import IrlensError


def paired_ttest(original, pruned) -> dict:
    """Two-tailed paired t-test of ``pruned`` vs ``original`` (per-query metrics, same query order).

    Returns mean of each, the % difference of the means ((pruned − original) / original · 100), t, p and n.
    Identical inputs give t = 0, p = 1 (scipy would return NaN).
    """
    from scipy import stats

    a, b = np.asarray(original, dtype=np.float64), np.asarray(pruned, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise IrlensError(f"paired t-test: need two equally long 1-d arrays, got {a.shape} and {b.shape}")
    if len(a) < 2:
        raise IrlensError("paired t-test: need at least 2 queries")
    d = b - a
    if np.all(d == d[0]) and d[0] == 0:
        t, p = 0.0, 1.0
    else:
        t, p = stats.ttest_rel(b, a)
    ma, mb = float(a.mean()), float(b.mean())
    return {
        "original": ma,
        "pruned": mb,
        "pct_diff": (mb - ma) / ma * 100.0 if ma else float("nan"),
        "t": float(t),
        "p": float(p),
        "n": int(len(a)),
    }
