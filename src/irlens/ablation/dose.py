"""Dose–response of neuron pruning: the score change as the number of top NIG neurons zeroed grows.

Table 4 prunes three set sizes (top 0.01 / 0.1 / 1 %). This view follows one ranking of neurons (e.g. a
scheme's NIG values, largest first) through a ladder of counts n = 1, 2, 5, 10, …: for each n the top-n
neurons are zeroed (:class:`~irlens.ablation.masks.NeuronMask`) and the attributed pairs are re-scored
(:class:`~irlens.ablation.scorer.MaskedScorer`); the **same number of random neurons in the same modules**
(:func:`~irlens.ablation.masks.random_like`, ``repeats`` seeded draws per n) gives the baseline. Per n:
the mean score change over the pairs, the random masks' mean and sd, and the one-sided empirical p
(1 + #random changes ≤ the ranked one) / (repeats + 1): how often random neurons hurt at least as much.
A reader sees a curve rather than three levels.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from irlens.ablation.masks import NeuronMask, random_like
from irlens.errors import IrlensError

COUNTS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
COLUMNS = ["n", "delta", "random_mean", "random_sd", "empirical_p", "repeats", "pairs"]


def dose_response(scorer, ranked: pd.DataFrame, counts=COUNTS, repeats: int = 20, seed: int = 0) -> pd.DataFrame:
    """One row per count (:data:`COLUMNS`). ``scorer``: a :class:`~irlens.ablation.scorer.MaskedScorer` over the
    pairs; ``ranked``: rows with ``module`` and ``unit`` in the order to prune (largest attribution first);
    ``counts`` above the number of ranked neurons are dropped. ``delta`` = mean over pairs of (score with the
    top-n zeroed − original score); random masks are seeded by (seed, n, repeat) alone."""
    if repeats < 1:
        raise IrlensError("dose-response: repeats must be >= 1")
    missing = [c for c in ("module", "unit") if c not in ranked.columns]
    if missing:
        raise IrlensError(f"dose-response: the ranked neurons lack column(s) {', '.join(missing)}")
    counts = sorted({int(n) for n in counts if 0 < int(n) <= len(ranked)})
    if not counts:
        raise IrlensError(f"dose-response: no count between 1 and the {len(ranked)} ranked neurons")
    orig = scorer.original()
    masks, index = [], []
    for n in counts:
        top = NeuronMask.from_neurons(ranked.iloc[:n], name=f"top-{n}")
        masks.append(top)
        index.append((n, -1))
        for r in range(repeats):
            rng = np.random.default_rng([int(seed), zlib.crc32(b"dose"), n, r])
            masks.append(random_like(top, scorer.widths, rng, name=f"random-{n}#{r}"))
            index.append((n, r))
    deltas = (scorer.score(masks) - orig[None, :]).mean(1)
    rows = []
    for n in counts:
        d = float(deltas[[i for i, (m, r) in enumerate(index) if m == n and r < 0][0]])
        rnd = np.array([deltas[i] for i, (m, r) in enumerate(index) if m == n and r >= 0])
        rows.append(
            {
                "n": n,
                "delta": d,
                "random_mean": float(rnd.mean()),
                "random_sd": float(rnd.std(ddof=1)) if len(rnd) > 1 else float("nan"),
                "empirical_p": float((1 + np.sum(rnd <= d)) / (len(rnd) + 1)),
                "repeats": len(rnd),
                "pairs": len(orig),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
