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


def sign_flip_p(x: np.ndarray, n_perm: int = 9999, seed: int = 0, exact_max: int = 16) -> tuple[float, float]:
    """One-sided paired sign-flip (permutation) test of mean(``x``) > 0: ``(p, floor)``.

    Under H0 each difference is as likely to have either sign, so p = share of sign vectors s with
    mean(s·x) ≥ mean(x). Exact over all 2^n sign vectors when n ≤ ``exact_max`` (the floor, the smallest p
    reachable, is 2^-n); else ``n_perm`` seeded random sign vectors, p = (1 + #≥) / (n_perm + 1) (floor
    1 / (n_perm + 1)). NaN for an empty ``x``."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return float("nan"), float("nan")
    obs = x.mean()
    tol = 1e-12 * max(1.0, float(np.abs(x).max()))  # ties (e.g. all zeros) count as ≥
    if n <= exact_max:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        return float(((signs * x).mean(1) >= obs - tol).mean()), float(2.0**-n)
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_perm, n))
    return float((1 + ((signs * x).mean(1) >= obs - tol).sum()) / (n_perm + 1)), 1.0 / (n_perm + 1)
