"""Statistics of the ablation study (and of any paired per-query comparison).

Public functions:

- :func:`paired_ttest`: two-sided paired Student's t-test of per-query metrics, with the effect size
  (:func:`paired_effect`: mean difference with a t-based confidence interval, Cohen's d_z). Zero-variance
  differences are handled explicitly: all differences 0 → t = 0, p = 1 ("no change"); a constant non-zero
  difference (or a single query) → t = p = NaN with ``defined = False`` and a ``note`` (scipy would return
  t = ±inf, p = 0, i.e. a spurious "significant").
- :func:`holm` and :func:`benjamini_hochberg`: adjusted p-values for a family of tests (NaN-aware: a NaN stays
  NaN and does not count in the family size m); :func:`adjust` picks one by name.
- :func:`paired_power` and :func:`n_for_power`: power of a two-sided paired t-test at a given d_z and n (from
  the noncentral t distribution), and the smallest n that reaches a target power.
"""

from __future__ import annotations

import math

import numpy as np

from irlens.errors import IrlensError

#: Names accepted by :func:`adjust` (``ablation.correction`` / ``--correction``).
CORRECTIONS = ("holm", "bh", "none")
#: How :func:`adjust`'s methods are named in tables.
CORRECTION_LABELS = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "none"}

NOTE_NO_CHANGE = "no change: every per-query difference is 0 (p = 1 by convention)"
NOTE_CONSTANT = "undefined: the per-query differences are constant and non-zero (zero variance)"
NOTE_TOO_FEW = "undefined: fewer than 2 queries"


def _pvalues(pvalues) -> np.ndarray:
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise IrlensError(f"p-value adjustment: need a 1-d sequence of p-values, got shape {p.shape}")
    bad = p[~np.isnan(p) & ((p < 0) | (p > 1))]
    if len(bad):
        raise IrlensError(f"p-value adjustment: p-values must lie in [0, 1] (or be NaN), got {bad[0]!r}")
    return p


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate), in the input order.

    With the m non-NaN p-values sorted, p_(1) ≤ … ≤ p_(m), the adjusted value of p_(i) is
    ``max_{j ≤ i} min(1, (m − j + 1) · p_(j))``. Every adjusted p is ≥ its raw p, ≤ 1, and the adjusted values
    keep the order of the raw ones. NaNs stay NaN and are not counted in m. Same as statsmodels'
    ``multipletests(p, method="holm")[1]`` on the non-NaN values.
    """
    p = _pvalues(pvalues)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def benjamini_hochberg(pvalues) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (false discovery rate; "q-values"), in the input order.

    With the m non-NaN p-values sorted ascending, the adjusted value of p_(i) is
    ``min_{j ≥ i} min(1, m / j · p_(j))``. NaNs stay NaN and are not counted in m. Same as statsmodels'
    ``multipletests(p, method="fdr_bh")[1]`` and scipy's ``false_discovery_control(p)`` on the non-NaN values.
    """
    p = _pvalues(pvalues)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, m / np.arange(1, m + 1) * p[order])
    out[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return out


def adjust(pvalues, method: str = "holm") -> np.ndarray:
    """Adjusted p-values by ``method``: ``holm`` (:func:`holm`), ``bh`` (:func:`benjamini_hochberg`) or
    ``none`` (the raw p-values, as floats)."""
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        return _pvalues(pvalues).copy()
    raise IrlensError(f"p-value correction '{method}': expected one of {', '.join(CORRECTIONS)}")


def _pair(original, pruned) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(original, dtype=np.float64), np.asarray(pruned, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise IrlensError(f"paired t-test: need two equally long 1-d arrays, got {a.shape} and {b.shape}")
    if len(a) == 0:
        raise IrlensError("paired t-test: no queries")
    return a, b


def _constant(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> bool:
    """Whether the differences are constant up to float noise (e.g. x + 0.1 − x is not exactly 0.1 everywhere)."""
    scale = max(1.0, float(np.abs(a).max()), float(np.abs(b).max()))
    return float(np.ptp(d)) <= 1e-12 * scale


def paired_effect(original, pruned, confidence: float = 0.95) -> dict:
    """Paired effect size of ``pruned`` − ``original`` (per-query metrics, same query order).

    Returns ``mean_diff`` (mean of the differences), ``ci_low``/``ci_high`` (the t-based ``confidence``
    interval of the mean difference: ``mean ± t_{(1+c)/2, n−1} · sd / √n``), ``sd_diff`` (sd of the differences,
    ddof 1), ``d_z`` (Cohen's d_z = mean / sd of the differences) and ``n``. Zero-variance differences: all 0 →
    CI [0, 0] and d_z = 0; constant non-zero → CI [mean, mean] is meaningless, so CI and d_z are NaN; one
    query → everything but ``mean_diff`` is NaN.
    """
    from scipy import stats

    if not 0 < confidence < 1:
        raise IrlensError(f"paired effect: confidence must lie in (0, 1), got {confidence}")
    a, b = _pair(original, pruned)
    d = b - a
    n = len(d)
    mean = float(d.mean())
    out = {"mean_diff": mean, "ci_low": math.nan, "ci_high": math.nan, "sd_diff": math.nan, "d_z": math.nan, "n": n}
    if n < 2:
        return out
    if _constant(a, b, d):
        if abs(mean) <= 1e-12 * max(1.0, float(np.abs(a).max()), float(np.abs(b).max())):
            out.update(mean_diff=0.0, ci_low=0.0, ci_high=0.0, sd_diff=0.0, d_z=0.0)
        else:
            out["sd_diff"] = 0.0
        return out
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    out.update(ci_low=mean - half, ci_high=mean + half, sd_diff=sd, d_z=mean / sd)
    return out


def paired_ttest(original, pruned, confidence: float = 0.95) -> dict:
    """Two-sided paired Student's t-test of ``pruned`` vs ``original`` (per-query metrics, same query order;
    H0: the mean per-query difference is 0; df = n − 1), with the effect size of :func:`paired_effect`.

    Returns ``original``/``pruned`` (the means), ``pct_diff`` ((pruned − original) / original · 100), ``t``,
    ``p``, ``n``, ``df``, ``mean_diff``, ``ci_low``, ``ci_high``, ``sd_diff``, ``d_z``, ``defined`` (whether the
    t-test is defined) and ``note`` (why not, or "" ). Zero variance of the differences is handled explicitly:
    all differences 0 (identical inputs) → t = 0, p = 1, ``defined`` True with a "no change" note (scipy would
    give NaN); a constant non-zero difference → t = p = NaN, ``defined`` False (scipy would give t = ±inf,
    p = 0: not evidence of anything with no variance to compare against); a single query → NaN, ``defined``
    False. Differences constant up to float noise count as constant.
    """
    from scipy import stats

    a, b = _pair(original, pruned)
    eff = paired_effect(a, b, confidence)
    n = len(a)
    if n < 2:
        t, p, defined, note = math.nan, math.nan, False, NOTE_TOO_FEW
    elif eff["sd_diff"] == 0.0 and eff["mean_diff"] == 0.0:
        t, p, defined, note = 0.0, 1.0, True, NOTE_NO_CHANGE
    elif eff["sd_diff"] == 0.0:
        t, p, defined, note = math.nan, math.nan, False, NOTE_CONSTANT
    else:
        t, p = stats.ttest_rel(b, a)
        t, p, defined, note = float(t), float(p), True, ""
    ma, mb = float(a.mean()), float(b.mean())
    return {
        "original": ma,
        "pruned": mb,
        "pct_diff": (mb - ma) / ma * 100.0 if ma else math.nan,
        "t": t,
        "p": p,
        "n": int(n),
        "df": int(n - 1),
        **{k: eff[k] for k in ("mean_diff", "ci_low", "ci_high", "sd_diff", "d_z")},
        "defined": defined,
        "note": note,
    }


def paired_power(d_z: float, n: int, alpha: float = 0.05) -> float:
    """Power of a two-sided paired t-test at level ``alpha`` with ``n`` pairs when the true effect is ``d_z``
    (mean / sd of the differences): ``P(|T| > t_{1−α/2, n−1})`` for T noncentral t with n − 1 degrees of
    freedom and noncentrality d_z · √n (scipy.stats.nct).

    scipy's nct returns NaN for some (small df, large noncentrality) pairs; there the same probability is
    integrated directly: with T = (Z + nc) / √(V/df), |T| > c ⇔ V < df (Z + nc)² / c², so the power is
    E_Z[F_χ²_df(df (Z + nc)² / c²)] (agrees with nct to 1e-8 wherever nct is defined).
    """
    from scipy import integrate, stats

    if n < 2:
        raise IrlensError(f"power: a paired t-test needs n >= 2 pairs, got {n}")
    if not 0 < alpha < 1:
        raise IrlensError(f"power: alpha must lie in (0, 1), got {alpha}")
    df, nc = n - 1, abs(float(d_z)) * math.sqrt(n)
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    power = float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))
    if math.isnan(power):

        def f(z):
            return stats.norm.pdf(z) * stats.chi2.cdf(df * (z + nc) ** 2 / crit**2, df)

        kinks = [x for x in (-nc, crit - nc, -crit - nc) if -40 < x < 40]
        power = integrate.quad(f, -40, 40, limit=500, points=kinks or None, epsabs=1e-12)[0]
    return min(1.0, max(0.0, power))


def n_for_power(d_z: float, power: float = 0.8, alpha: float = 0.05, max_n: int = 1_000_000) -> float:
    """Smallest number of pairs (queries) n ≥ 2 for which a two-sided paired t-test at level ``alpha`` reaches
    ``power`` when the true effect is ``d_z`` (:func:`paired_power`; power grows with n, so n is found by
    doubling, then bisection). d_z = 0.5 gives 34 at the defaults (as G*Power does).

    Returns an int-valued float; ``math.inf`` when d_z = 0 (no n suffices) or more than ``max_n`` pairs would
    be needed; NaN when d_z is NaN (e.g. the t-test is undefined).
    """
    if d_z is None or math.isnan(float(d_z)):
        return math.nan
    if not 0 < power < 1:
        raise IrlensError(f"power: target power must lie in (0, 1), got {power}")
    d = abs(float(d_z))
    if d == 0:
        return math.inf
    if math.isinf(d) or paired_power(d, 2, alpha) >= power:
        return 2.0
    lo, hi = 2, 4  # power(lo) < target
    while paired_power(d, hi, alpha) < power:
        if hi >= max_n:
            return math.inf
        lo, hi = hi, min(2 * hi, max_n)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if paired_power(d, mid, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return float(hi)


def min_detectable_d_z(n: int, power: float = 0.8, alpha: float = 0.05) -> float:
    """Smallest |d_z| that a two-sided paired t-test with ``n`` pairs at level ``alpha`` detects with ``power``
    (the inverse of :func:`n_for_power` in d_z; bisection on :func:`paired_power` to 1e-4)."""
    if not 0 < power < 1:
        raise IrlensError(f"power: target power must lie in (0, 1), got {power}")
    lo, hi = 0.0, 1.0
    while paired_power(hi, n, alpha) < power:
        lo, hi = hi, 2 * hi
        if hi > 1e6:
            return math.inf
    while hi - lo > 1e-4:
        mid = (lo + hi) / 2
        if paired_power(mid, n, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return hi
