"""Dose–response of neuron pruning: the score change as the number of top NIG neurons zeroed grows.

Table 4 prunes three set sizes (top 0.01 / 0.1 / 1 %). This view follows one ranking of neurons (e.g. a
scheme's NIG values, largest first) through a ladder of counts n = 1, 2, 5, 10, …: for each n the top-n
neurons are zeroed (:class:`~irlens.ablation.masks.NeuronMask`) and the attributed pairs are re-scored
(:class:`~irlens.ablation.scorer.MaskedScorer`); the **same number of random neurons in the same modules**
(:func:`~irlens.ablation.masks.random_like`, ``repeats`` seeded draws per n) gives the baseline. Per n:
the mean score change over the pairs, the random masks' mean and sd, and the one-sided empirical p
(1 + #random changes ≤ the ranked one) / (repeats + 1): how often random neurons hurt at least as much.
The per-count p need a correction over the counts; the **whole curve** is also tested once (``curve_*``
columns): the ranked curve's mean Δ over the counts against each random draw's curve (draw r at every n).
A reader sees a curve rather than three levels.

The workflow's view (``irlens ablation dose``, rule ``ablation_dose``) ranks the neurons by one NIG scheme's
values exactly as its top-X % sets are chosen (:func:`scheme_ranking`: the top-n at n = a level's set size *is*
that level's set), re-scores the pairs NIG averaged into that scheme (:func:`scheme_members`) and measures the
quantity NIG explains, P(target label) (:class:`TargetScorer`); :func:`correct_counts` adjusts the empirical
p-values over the counts, and :func:`write_dose` writes the table and the figure.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from irlens.ablation.masks import NeuronMask, random_like
from irlens.errors import IrlensError

COUNTS = (1, 2, 5, 21, 50, 207, 1000)
COLUMNS = [
    "n",
    "delta",
    "random_mean",
    "random_sd",
    "empirical_p",
    "repeats",
    "pairs",
    "curve_delta",
    "curve_random",
    "curve_p",
]
#: what :func:`correct_counts` adds
CORRECTED_COLUMNS = ["p_adjusted", "significant"]
ALPHA = 0.05
#: the base-scheme kinds and the NIG labels whose pairs they average (intersections have no ranking)
LABELS_OF = {"P": ["relevant"], "N": ["non-relevant"], "F": ["relevant", "non-relevant"]}


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
    # the whole curve as one test: the ranked curve's mean Δ over the counts vs each random draw r's curve
    # (draw r at every n), one-sided empirical p — no correction over counts needed, floor 1/(repeats + 1)
    top_curve = float(np.mean([deltas[i] for i, (_, r) in enumerate(index) if r < 0]))
    rnd_curves = np.array([np.mean([deltas[i] for i, (_, q) in enumerate(index) if q == r]) for r in range(repeats)])
    curve_p = float((1 + np.sum(rnd_curves <= top_curve)) / (repeats + 1))
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
                "curve_delta": top_curve,
                "curve_random": float(rnd_curves.mean()),
                "curve_p": curve_p,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


# ----------------------------------------------------------------------------- the workflow's view
class TargetScorer:
    """P(target label) of each pair under neuron masks: the F that NIG explains
    (:func:`irlens.nig.attribute.target_probability`), from a :class:`~irlens.ablation.scorer.MaskedScorer`'s
    ranking scores (2 logits: log P(relevant); 1 logit: the logit). ``targets``: per pair 1 (relevant) or 0
    (non-relevant). Same interface as the scorer for :func:`dose_response` (``original``, ``score``, ``widths``),
    so a pair's change is "how much the label NIG explained lost", whatever its label."""

    def __init__(self, scorer, targets, num_labels: int):
        t = np.asarray(targets, dtype=np.int64).reshape(-1)
        if len(t) != scorer.n or not np.isin(t, (0, 1)).all():
            raise IrlensError(f"dose-response: need one target (0 or 1) per pair: {len(t)} for {scorer.n} pairs")
        self.scorer, self.targets, self.two = scorer, t, int(num_labels) != 1
        self.widths = scorer.widths
        self.n = scorer.n

    def _p(self, s: np.ndarray) -> np.ndarray:
        p_rel = np.exp(s) if self.two else 1.0 / (1.0 + np.exp(-s))
        return np.where(self.targets == 1, p_rel, 1.0 - p_rel)

    def original(self) -> np.ndarray:
        """P(target label) of each pair, nothing masked ``[pairs]``."""
        return self._p(self.scorer.original())

    def score(self, masks, progress: bool = False) -> np.ndarray:
        """P(target label) of each pair under each mask ``[masks, pairs]``."""
        return self._p(self.scorer.score(masks, progress=progress))


def scheme_ranking(values: pd.DataFrame, scheme: str, rank_by: str = "value") -> pd.DataFrame:
    """Every neuron of ``values`` (``values.parquet`` of ``irlens nig schemes``: the neuron table + one column per
    scheme) ranked as :func:`irlens.nig.schemes.top_set` chooses (largest value, or |value| with ``rank_by="abs"``,
    first; ties by the lower index), so its first ``set_size(level)`` rows are that level's scheme set. Columns
    rank (1-based), neuron (row of the neuron table), module, unit, layer, component, value."""
    if scheme not in values.columns or scheme in ("neuron", "layer", "component", "unit", "module"):
        kinds = [c for c in values.columns if c == "F_A" or c.split(":")[0] in LABELS_OF]
        why = (
            "an intersection of top-X % sets has no ranking of its own"
            if scheme.startswith("AND_")
            else "not a scheme of these NIG values"
        )
        raise IrlensError(f"dose-response: scheme '{scheme}': {why}; choose one of {', '.join(kinds) or 'none'}")
    if rank_by not in ("value", "abs"):
        raise IrlensError(f"dose-response: rank_by '{rank_by}': choose value or abs")
    v = values[scheme].to_numpy(dtype=np.float64)
    key = np.abs(v) if rank_by == "abs" else v
    order = np.lexsort((np.arange(len(key)), -key))
    out = values.iloc[order][["module", "unit", "layer", "component"]].reset_index(drop=True)
    out.insert(0, "neuron", order)
    out.insert(0, "rank", np.arange(1, len(order) + 1))
    out["value"] = v[order]
    return out


def scheme_members(scheme: str, sets) -> list[str]:
    """The NIG sets ``"<dataset>:<label>"`` whose pairs scheme ``scheme`` averages, among ``sets`` (the keys of
    ``roles.json``'s ``pairs``: the sets the schemes were built from, left-out ones excluded)."""
    sets = list(sets)
    if scheme == "F_A":
        members = sets
    elif scheme.startswith("AND_") or scheme.split(":")[0] not in LABELS_OF or ":" not in scheme:
        raise IrlensError(
            f"dose-response: scheme '{scheme}' has no ranking of its own; choose a P:, N:, F: scheme or F_A"
        )
    else:
        kind, d = scheme.split(":", 1)
        members = [f"{d}:{lb}" for lb in LABELS_OF[kind] if f"{d}:{lb}" in sets]
    if not members:
        raise IrlensError(
            f"dose-response: scheme '{scheme}' averages none of the NIG sets {', '.join(sets) or '(none)'}"
        )
    return members


def correct_counts(table: pd.DataFrame, method: str = "holm", alpha: float = ALPHA) -> pd.DataFrame:
    """``table`` of :func:`dose_response` with ``p_adjusted`` (its empirical p adjusted over the counts by
    ``method``: holm, bh or none, :func:`irlens.ablation.stats.adjust`) and ``significant`` (adjusted p ≤
    ``alpha``). The counts are nested (top-1 ⊂ top-2 ⊂ …), so their tests are dependent: Holm holds anyway."""
    from irlens.ablation.stats import adjust

    out = table.copy()
    out["p_adjusted"] = adjust(out["empirical_p"].to_numpy(), method)
    out["significant"] = out["p_adjusted"] <= alpha
    return out


def smallest_adjusted_p(repeats: int, counts: int, method: str = "holm") -> float:
    """The smallest adjusted p any count can reach: the empirical floor 1/(repeats + 1), times the number of counts
    under Holm (its first step) or BH (when only one count is at the floor); unchanged with ``none``."""
    floor = 1.0 / (int(repeats) + 1)
    return floor if method == "none" else min(1.0, counts * floor)


def dose_caption(table: pd.DataFrame, scheme: str, members, neurons: int, method: str = "holm") -> str:
    """What the table and the figure can show, in one paragraph: pairs, repeats, the p floors."""
    from irlens.ablation.stats import CORRECTION_LABELS

    if table.empty:
        return f"Dose–response of {scheme}: no count."
    R, m, P = int(table["repeats"].iloc[0]), len(table), int(table["pairs"].iloc[0])
    floor, least = 1.0 / (R + 1), smallest_adjusted_p(R, m, method)
    need = int(np.ceil((1 if method == "none" else m) / ALPHA - 1e-9)) - 1
    can = (
        f"so no count can reach p ≤ {ALPHA:g} (that needs at least {need} repeats)"
        if least > ALPHA + 1e-12
        else f"so a count reaches p ≤ {ALPHA:g} only where (almost) no random draw hurts as much"
    )
    ns = ", ".join(str(n) for n in table["n"])
    return (
        f"Dose–response of {scheme}: the top-n neurons by its NIG values zeroed (n = {ns} of {neurons} neurons) vs "
        f"as many random neurons in the same modules, {R} draws per n. Δ = mean change of P(target label) (what "
        f"NIG explains) over the {P} pairs NIG attributed for it ({', '.join(members)}); the ranking was computed "
        "on these same pairs, so this is a faithfulness check, not a held-out test (Table 4 is). One-sided "
        f"empirical p = (1 + #random Δ ≤ Δ) / ({R} + 1), floor {floor:.3g}; adjusted over the {m} counts "
        f"({CORRECTION_LABELS[method]}): smallest reachable {least:.3g}, {can}. The top-n sets are nested, the "
        "random masks are drawn anew for each n. **Whole curve, one test:** mean Δ over the counts "
        f"{table['curve_delta'].iloc[0]:+.4f} vs {table['curve_random'].iloc[0]:+.4f} for random draws, one-sided "
        f"empirical p {table['curve_p'].iloc[0]:.3g} (floor {floor:.3g}; no correction: one test)."
    )


def write_dose(
    table: pd.DataFrame,
    out_parquet,
    md,
    csv,
    figure,
    scheme: str,
    members,
    neurons: int,
    levels=(),
    method: str = "holm",
    title: str = "",
) -> None:
    """Write the dose table (parquet with every column; markdown + CSV under :func:`dose_caption`) and the figure
    ``<figure>.png`` / ``.pdf`` (:func:`figure_dose`); ``levels``: top-X % levels marked on the figure."""
    from irlens.io import write_parquet
    from irlens.nig.schemes import pretty
    from irlens.report.tables import write_table

    write_parquet(table, out_parquet)
    shown = table[["n", "pct_neurons", "delta", "random_mean", "random_sd", "empirical_p", "p_adjusted"]].copy()
    shown["significant"] = np.where(table["significant"], "*", "")
    write_table(
        shown,
        md,
        csv,
        title=f"Dose–response of {pretty(scheme)} (Δ P(target label) over the attributed pairs)",
        floatfmt=".4g",
        footer=dose_caption(table, pretty(scheme), members, neurons, method),
    )
    figure_dose(table, figure, scheme, neurons, levels=levels, method=method, title=title)


def figure_dose(table: pd.DataFrame, out, scheme: str, neurons: int, levels=(), method: str = "holm", title: str = ""):
    """Δ vs n (log x): the scheme's top-n (red; filled where the adjusted empirical p ≤ 0.05) and the random masks'
    mean ± sd (grey band); dotted lines at the top-X % ``levels`` (Table 4's set sizes). ``<out>.png`` + ``.pdf``."""
    from pathlib import Path

    from irlens.ablation.stats import CORRECTION_LABELS
    from irlens.nig.schemes import pretty, set_size
    from irlens.report.figures import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    n = table["n"].to_numpy()
    mean, sd = table["random_mean"].to_numpy(), np.nan_to_num(table["random_sd"].to_numpy())
    ax.fill_between(n, mean - sd, mean + sd, color="0.85", label="random, same modules: mean ± sd")
    ax.plot(n, mean, "-", color="0.45", lw=1)
    ax.plot(n, table["delta"], "-", color="tab:red", lw=1.2)
    sig = table["significant"].to_numpy(dtype=bool)
    adj = "p" if method == "none" else "adj. p"
    delta = table["delta"].to_numpy()
    ax.plot(n[sig], delta[sig], "o", color="tab:red", ms=5, label=f"top-n by {pretty(scheme)}, {adj} ≤ {ALPHA:g}")
    ax.plot(n[~sig], delta[~sig], "o", color="tab:red", mfc="white", ms=5, label=f"top-n, {adj} > {ALPHA:g}")
    for lv in levels:
        k = set_size(neurons, lv)
        if n.min() <= k <= n.max():
            ax.axvline(k, color="0.6", ls=":", lw=0.8)
            ax.annotate(f"{lv:g} %", (k, 1.0), xycoords=("data", "axes fraction"), fontsize=7, ha="center", va="bottom")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xscale("log")
    ax.set_xticks(n, [str(int(k)) for k in n], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("neurons zeroed (n)")
    ax.set_ylabel("Δ P(target label), mean over pairs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    R, P = (int(table["repeats"].iloc[0]), int(table["pairs"].iloc[0])) if len(table) else (0, 0)
    fig.suptitle(
        (title + "\n" if title else "")
        + f"{P} pairs, {R} random draws per n; one-sided empirical p, "
        + f"{CORRECTION_LABELS[method]} over {len(table)} counts",
        fontsize=8,
    )
    fig.tight_layout()
    save_figure(fig, Path(str(out) + ".png"))
