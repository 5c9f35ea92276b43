"""Small statistics shared by several stages (numpy only, so any env can import it)."""

from __future__ import annotations

import numpy as np


def bootstrap_mean_ci(x: np.ndarray, n_boot: int = 2000, seed: int = 42, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``x`` (resampling its elements, ``n_boot`` times, seeded)."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))
