"""Table 4 of arXiv 2406.19309 (markdown, CSV, LaTeX) and a figure of the ablation drops with the random
distribution beside each scheme.

Numbers are the % drop of mean nDCG@10, ``(original − pruned) / original · 100`` (positive = the pruned
model is worse), as the paper reports them. Per evaluation set and level, the biggest drop is bold and the
second underlined (the paper's convention). Unlike the paper, the t-test p-values are corrected for multiple
testing over the whole table (:func:`correct`: Holm by default, Benjamini–Hochberg or none), each cell
carries its effect size (mean per-query Δ nDCG@10 with a 95 % CI, d_z) and the one-sided empirical p against
the random repeats, and each row the number of queries a t-test would need for 80 % power at the observed
d_z. ``*`` marks a corrected p ≤ 0.05; a cell whose t-test is undefined (constant per-query differences, one
query) says so instead of showing a p-value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from irlens.ablation.stats import CORRECTION_LABELS, adjust, min_detectable_d_z, n_for_power
from irlens.io import write_text
from irlens.nig.schemes import pretty
from irlens.report.figures import save_figure
from irlens.report.tables import escape_cell

ALPHA = 0.05
POWER = 0.8
#: Columns :func:`correct` adds to :func:`irlens.ablation.study.summarise` rows.
CORRECTED_COLUMNS = ("p_adj", "empirical_p_adj", "correction", "tests", "significant", "n_needed")


def correct(stats: pd.DataFrame, method: str = "holm", alpha: float = ALPHA, power: float = POWER) -> pd.DataFrame:
    """Correct the t-tests of a whole Table 4 (every evaluation set, scheme and level) for multiple testing.

    Adds ``p_adj`` (the raw ``p`` adjusted by ``method``: ``holm``, ``bh`` or ``none``, see
    :func:`irlens.ablation.stats.adjust`), ``empirical_p_adj`` (the empirical p-values adjusted the same way),
    ``correction`` (the method), ``tests`` (the family size m), ``significant`` (``p_adj`` ≤ ``alpha``) and
    ``n_needed`` (queries a two-sided paired t-test at ``alpha`` needs for ``power`` if the true d_z were the
    observed one: :func:`irlens.ablation.stats.n_for_power`; inf when d_z = 0, NaN when undefined). The family
    is every cell with at least one neuron pruned and a defined t-test: empty sets (the pruned model is the
    original) and undefined tests (NaN p) get NaN and do not count in m.
    """
    out = stats.copy()
    tested = out["n_neurons"] > 0
    p = out["p"].where(tested).to_numpy(dtype=np.float64)
    out["p_adj"] = adjust(p, method)
    out["empirical_p_adj"] = adjust(out["empirical_p"].where(tested).to_numpy(dtype=np.float64), method)
    out["correction"] = method
    out["tests"] = int((~np.isnan(p)).sum())
    out["significant"] = out["p_adj"].le(alpha)
    out["n_needed"] = [n_for_power(d, power, alpha) if t else np.nan for d, t in zip(out["d_z"], tested)]
    return out


def _corrected(stats: pd.DataFrame) -> pd.DataFrame:
    return stats if set(CORRECTED_COLUMNS) <= set(stats.columns) else correct(stats)


def _fmt_p(p: float) -> str:
    return "n/a" if pd.isna(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"


def _fmt_n(n: float) -> str:
    return "—" if pd.isna(n) else "∞" if np.isinf(n) else f"{int(n)}"


def _undefined(r) -> str:
    """Why the cell's t-test is undefined, shortly ("" when it is defined)."""
    if not pd.isna(r["p"]):
        return ""
    return "t-test undefined: " + ("1 query" if r.get("queries", 2) < 2 else "constant difference over queries")


def _ranks(stats: pd.DataFrame) -> dict:
    """(eval_set, scheme, level) → 1 for the biggest drop of its (eval_set, level) column, 2 for the second."""
    out = {}
    for (ev, lv), g in stats[stats["n_neurons"] > 0].groupby(["eval_set", "level"]):
        top = g.sort_values("drop_pct", ascending=False, kind="stable")
        for rank, (_, r) in enumerate(top.head(2).iterrows(), 1):
            if r["drop_pct"] > 0:
                out[(ev, r["scheme"], lv)] = rank
    return out


def _drop(r, rank, bold: str, under: str, star: str) -> str:
    """One scheme's drop, marked: ``bold``/``under`` are format strings for ranks 1 and 2; ``star`` when the
    corrected p <= 0.05."""
    v = f"{round(r['drop_pct'], 2) + 0.0:.2f}"
    v = bold.format(v) if rank == 1 else under.format(v) if rank == 2 else v
    return v + (star if r["significant"] and r["n_neurons"] > 0 else "")


def _cell_md(r, rank, label: str) -> str:
    """A markdown cell: drop (marked), then neurons, Δ nDCG@10 [95 % CI] and d_z, corrected p (or why the t-test
    is undefined), empirical p (adjusted), random baseline."""
    v = _drop(r, rank, "**{}**", "<u>{}</u>", "\\*")
    if r["mean_diff"] == 0 and r["ci_low"] == 0 and r["ci_high"] == 0:  # every per-query difference is 0
        eff = "Δ 0 on every query"
    elif pd.isna(r["ci_low"]):
        eff = f"Δ {r['mean_diff']:+.3f}"
    else:
        eff = f"Δ {r['mean_diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], d_z {r['d_z']:+.2f}"
    test = _undefined(r) or f"p {_fmt_p(r['p_adj'])}" + (f" ({label})" if r["correction"] != "none" else "")
    emp = f"emp. p {_fmt_p(r['empirical_p'])}" + (
        f" ({label} {_fmt_p(r['empirical_p_adj'])})" if r["correction"] != "none" else ""
    )
    return (
        f"{v} (n={int(r['n_neurons'])}; {eff}; {test}; {emp}; "
        f"random {r['random_drop_mean']:.2f} ± {r['random_drop_sd']:.2f})"
    )


def _levels(stats):
    return sorted(stats["level"].unique())


def scheme_order(name: str) -> tuple:
    """The paper's row order: P_x, N_x, ∩_O P, ∩_O N, ∩_A P, ∩_A N, F_x, ∩_O F, ∩_A F, F_A."""
    ranks = {
        "P": 0,
        "N": 1,
        "AND_O:P": 2,
        "AND_O:N": 3,
        "AND_A:P": 4,
        "AND_A:N": 5,
        "F": 6,
        "AND_O:F": 7,
        "AND_A:F": 8,
        "F_A": 9,
    }
    head = name if name.startswith("AND_") or name == "F_A" else name.split(":")[0]
    return (ranks.get(head, 10), name)


def _row_keys(stats):
    schemes = sorted(dict.fromkeys(stats["scheme"]), key=scheme_order)
    sets = list(dict.fromkeys(stats["eval_set"]))
    return schemes, sets


def table4_markdown(stats: pd.DataFrame, roles: dict | None = None) -> str:
    """The paper's layout: one row per (scheme, evaluation set), one column per level, and a last column with
    the queries used and, per level, the queries needed for 80 % power at the observed d_z. Each cell is the
    scheme's drop (bold/underline, ``*`` for corrected p ≤ 0.05), the mean per-query Δ nDCG@10 with its 95 %
    CI and d_z, the corrected t-test p (or why the test is undefined), the empirical p among the random
    repeats (and its corrected value), and the random baseline's mean ± sd. ``stats`` are
    :func:`irlens.ablation.study.summarise` rows, corrected by :func:`correct` (Holm when not yet)."""
    stats = _corrected(stats)
    roles = roles or {}
    levels = _levels(stats)
    ranks = _ranks(stats)
    schemes, sets = _row_keys(stats)
    label = {"holm": "Holm", "bh": "BH"}.get(stats["correction"].iloc[0], "") if len(stats) else ""
    head = (
        "| Neurons pruned | Evaluation set | "
        + " | ".join(f"{lv:g} %" for lv in levels)
        + " | Queries (needed for 80 % power: "
        + " / ".join(f"{lv:g} %" for lv in levels)
        + ") |"
    )
    lines = [head, "|" + "---|" * (3 + len(levels))]
    idx = stats.set_index(["scheme", "eval_set", "level"])
    for s in schemes:
        for ev in sets:
            cells, needed, queries = [], [], set()
            for lv in levels:
                if (s, ev, lv) not in idx.index:
                    cells.append("")
                    needed.append("—")
                    continue
                r = idx.loc[(s, ev, lv)]
                queries.add(int(r["queries"]))
                needed.append(_fmt_n(r["n_needed"]))
                if r["n_neurons"] == 0:
                    cells.append("0.00 (empty set)")
                    continue
                cells.append(_cell_md(r, ranks.get((ev, s, lv)), label))
            q = ", ".join(str(x) for x in sorted(queries))
            row = [escape_cell(pretty(s)), escape_cell(ev + _role(roles, ev)), *cells, f"{q} ({' / '.join(needed)})"]
            lines.append("| " + " | ".join(row) + " |")
    for ev in sets:
        cells = []
        for lv in levels:
            g = stats[(stats["eval_set"] == ev) & (stats["level"] == lv) & (stats["n_neurons"] > 0)]
            cells.append(
                f"{g['random_drop_mean'].mean():.2f} ({int(g['random_significant'].sum())} of "
                f"{int(g['repeats'].sum())} repeats with uncorrected p ≤ 0.05)"
                if len(g)
                else ""
            )
        row = ["Random baseline (mean over schemes)", escape_cell(ev + _role(roles, ev)), *cells, ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def table4_caption(stats: pd.DataFrame) -> str:
    """What the numbers of :func:`table4_markdown` mean: both p-values, the correction and family size, the
    effect size, the power column; a warning when the evaluation sets are small."""
    stats = _corrected(stats)
    method = stats["correction"].iloc[0] if len(stats) else "none"
    m = int(stats["tests"].iloc[0]) if len(stats) else 0
    tested = stats[stats["n_neurons"] > 0]
    reps = sorted(set(tested["repeats"].astype(int))) if len(tested) else []
    floor = ", ".join(f"1/{r + 1} = {1 / (r + 1):.3f}" for r in reps)
    if method == "none":
        corr = "**not corrected** for multiple testing"
    else:
        corr = (
            f"adjusted by the {CORRECTION_LABELS[method]} correction over all {m} defined t-tests of the table "
            "(every evaluation set, scheme and level; empty sets and undefined tests do not count)"
        )
    text = [
        "Each cell: % drop of mean nDCG@10, (original − pruned) / original · 100 (positive = the pruned model is "
        "worse); **bold** = biggest drop per evaluation set and level, <u>underlined</u> = second; n = neurons "
        "pruned. Δ = mean over the evaluation set's queries of the per-query difference nDCG@10(pruned) − "
        "nDCG@10(original) (negative = worse), with its t-based 95 % confidence interval, and Cohen's d_z = mean / "
        "sd of those differences.",
        f"p = two-sided paired Student's t-test of the same per-query differences: the model with the scheme's "
        f"neurons pruned vs the unpruned original model on the same queries (H0: mean difference 0; df = queries − "
        f"1), {corr}; \\* = that p ≤ {ALPHA:g}. It asks whether pruning changes nDCG@10 at all, in either "
        'direction. "t-test undefined" = the per-query differences are constant (zero variance) or there is one '
        "query: no p-value exists (scipy would print p = 0).",
        "emp. p = **one-sided** empirical p-value against the random baseline: (1 + number of random repeats whose "
        "drop is ≥ the scheme's drop) / (1 + repeats); it asks whether the scheme's neurons hurt more than as many "
        f"random neurons in the same modules. Its smallest possible value is {floor or 'n/a'}"
        + (f"; in brackets, adjusted by the same {CORRECTION_LABELS[method]} correction." if method != "none" else ".")
        + " random = mean ± sd of the repeats' drops; the baseline row counts repeats with an uncorrected t-test "
        f"p ≤ {ALPHA:g}.",
        f"Queries = queries per evaluation set (the t-test's n); in brackets, per level, the queries a two-sided "
        f"paired t-test at α = {ALPHA:g} (uncorrected) needs for {POWER * 100:g} % power if the true d_z were the "
        "observed one (∞: observed d_z = 0; —: undefined or empty set). d_z observed on a few queries is itself very "
        "noisy: read these as orders of magnitude.",
    ]
    qs = sorted(set(tested["queries"].astype(int))) if len(tested) else []
    if qs and min(qs) < 30:
        n = min(qs)
        d_min = min_detectable_d_z(n, POWER, ALPHA) if n >= 2 else float("inf")
        text.append(
            f"**Small sample**: {', '.join(map(str, qs))} queries per evaluation set (df = {n - 1}). At n = {n} a "
            f"two-sided paired t-test has {POWER * 100:g} % power only for |d_z| ≥ {d_min:.2f} before any correction, "
            "so a non-significant cell is no evidence of no effect, and the table is exploratory, not a result."
        )
    return "\n\n".join(text) + "\n"


def _role(roles: dict, ev: str) -> str:
    r = roles.get(ev)
    return f" ({r})" if r else ""


def table4_latex(stats: pd.DataFrame, roles: dict | None = None) -> str:
    """Booktabs LaTeX of Table 4 (drops, ``\\textbf``/``\\underline``, ``$^*$`` for a corrected p ≤ 0.05,
    ``$^\\dagger$`` for an undefined t-test) with the random baseline row and a footnote row naming the
    correction; the effect sizes and p-values are in the markdown and CSV."""
    stats = _corrected(stats)
    roles = roles or {}
    levels = _levels(stats)
    ranks = _ranks(stats)
    schemes, sets = _row_keys(stats)
    idx = stats.set_index(["scheme", "eval_set", "level"])

    def tex_name(s: str) -> str:
        if s.startswith("AND_"):
            where, what = s[4:].split(":")
            return f"$\\cap_{{{where}}} {what}$"
        if s == "F_A":
            return "$F_A$"
        base, _, ds = s.partition(":")
        return f"${base}_{{\\mathrm{{{ds}}}}}$" if ds else s

    out = [
        "\\begin{tabular}{ll" + "r" * len(levels) + "}",
        "\\toprule",
        "Sets of neurons pruned & Evaluation set & " + " & ".join(f"{lv:g}\\%" for lv in levels) + " \\\\",
        "\\midrule",
    ]
    for s in schemes:
        for i, ev in enumerate(sets):
            cells = []
            for lv in levels:
                if (s, ev, lv) not in idx.index:
                    cells.append("")
                    continue
                r = idx.loc[(s, ev, lv)]
                v = _drop(r, ranks.get((ev, s, lv)), "\\textbf{{{}}}", "\\underline{{{}}}", "$^{*}$")
                cells.append(v + ("$^{\\dagger}$" if r["n_neurons"] > 0 and _undefined(r) else ""))
            name = tex_name(s) if i == 0 else ""
            out.append(f"{name} & {ev}{_role(roles, ev)} & " + " & ".join(cells) + " \\\\")
    out.append("\\midrule")
    for i, ev in enumerate(sets):
        cells = []
        for lv in levels:
            g = stats[(stats["eval_set"] == ev) & (stats["level"] == lv) & (stats["n_neurons"] > 0)]
            cells.append(f"{g['random_drop_mean'].mean():.2f}" if len(g) else "")
        out.append(
            ("Random baseline" if i == 0 else "") + f" & {ev}{_role(roles, ev)} & " + " & ".join(cells) + " \\\\"
        )
    method = stats["correction"].iloc[0] if len(stats) else "none"
    m = int(stats["tests"].iloc[0]) if len(stats) else 0
    name = CORRECTION_LABELS[method].replace("–", "--")
    corr = f"{name}-corrected over {m} tests" if method != "none" else "uncorrected"
    out += [
        "\\midrule",
        f"\\multicolumn{{{2 + len(levels)}}}{{l}}{{\\footnotesize $^*$ two-sided paired t-test vs the original "
        f"model, {corr}, $p \\leq {ALPHA:g}$; $^\\dagger$ t-test undefined (constant per-query differences)}} \\\\",
        "\\bottomrule",
        "\\end{tabular}",
    ]
    return "\n".join(out) + "\n"


def write_table4(
    stats: pd.DataFrame,
    md: str | Path,
    csv: str | Path,
    tex: str | Path,
    roles: dict | None = None,
    note: str = "",
    correction: str = "holm",
) -> None:
    """Table 4 from :func:`irlens.ablation.study.summarise` rows of every evaluation set, corrected over the
    whole table by :func:`correct` (``correction``: holm, bh or none): every statistic to ``csv`` (raw ``p``,
    ``p_adj``, ``mean_diff``, ``ci_low``, ``ci_high``, ``d_z``, ``n_needed``, ``empirical_p``,
    ``empirical_p_adj``, ``test_defined``, ...), the paper's layout to ``md`` (with :func:`table4_caption` and
    ``note``) and ``tex``; ``roles`` maps evaluation sets to ID/OOD."""
    from irlens.io import atomic_path

    stats = correct(stats, correction)
    with atomic_path(csv) as tmp:
        stats.to_csv(tmp, index=False, float_format="%.6g")
    title = "## Table 4: % drop of nDCG@10 after pruning (positive = worse than the original model)\n\n"
    legend = "\n" + table4_caption(stats)
    write_text(md, title + table4_markdown(stats, roles) + legend + (f"\n{note}\n" if note else ""))
    write_text(tex, table4_latex(stats, roles))


def figure_drops(
    stats: pd.DataFrame, drops: pd.DataFrame, out: str | Path, title: str = "", correction: str = "holm"
) -> None:
    """One panel per (evaluation set, level): the random repeats' drops as a box per scheme, the scheme's
    own drop as a red dot (filled where the t-test p, corrected over all panels by :func:`correct`, is ≤ 0.05)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = correct(stats, correction)
    levels = _levels(stats)
    schemes, sets = _row_keys(stats)
    fig, axes = plt.subplots(
        len(sets), len(levels), figsize=(4.2 * len(levels), 3.2 * len(sets)), squeeze=False, sharey="row"
    )
    for i, ev in enumerate(sets):
        for j, lv in enumerate(levels):
            ax = axes[i][j]
            d = drops[(drops["eval_set"] == ev) & np.isclose(drops["level"], lv)]
            st = stats[(stats["eval_set"] == ev) & np.isclose(stats["level"], lv)].set_index("scheme")
            box = [d[d["scheme"] == s]["drop_pct"].to_numpy() for s in schemes]
            ax.boxplot(
                [b if len(b) else [np.nan] for b in box],
                positions=range(len(schemes)),
                widths=0.6,
                whis=(5, 95),
                showfliers=False,
                patch_artist=True,
                boxprops={"facecolor": "0.85", "color": "0.5"},
                medianprops={"color": "0.4"},
            )
            for k, s in enumerate(schemes):
                if s not in st.index:
                    continue
                r = st.loc[s]
                ax.plot(k, r["drop_pct"], "o", ms=5, color="tab:red", mfc="tab:red" if r["significant"] else "white")
            ax.axhline(0, color="k", lw=0.6)
            ax.set_xticks(range(len(schemes)))
            ax.set_xticklabels([pretty(s) for s in schemes], rotation=60, ha="right", fontsize=7)
            ax.set_title(f"{ev}, top {lv:g} %", fontsize=9)
            if j == 0:
                ax.set_ylabel("% drop of nDCG@10")
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle(
        (title + "\n" if title else "")
        + f"red: NIG scheme (filled: t-test p ≤ 0.05, {CORRECTION_LABELS[correction]} correction); "
        + "grey: random neurons, same modules (box 25–75 %, whiskers 5–95 %)",
        fontsize=8,
    )
    fig.tight_layout()
    save_figure(fig, Path(str(out) + ".png"))
