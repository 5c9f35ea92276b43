"""Table 4 of arXiv 2406.19309 (markdown, CSV, LaTeX) and a figure of the ablation drops with the random
distribution beside each scheme.

Numbers are the % drop of mean nDCG@10, ``(original − pruned) / original · 100`` (positive = the pruned
model is worse), as the paper reports them. ``*`` marks a two-tailed paired t-test with p ≤ 0.05 against
the original model. Per evaluation set and level, the biggest drop is bold and the second underlined
(the paper's convention).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from irlens.io import write_text
from irlens.nig.schemes import pretty
from irlens.report.figures import save_figure
from irlens.report.tables import escape_cell


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
    """One scheme's drop, marked: ``bold``/``under`` are format strings for ranks 1 and 2; ``star`` when p <= 0.05."""
    v = f"{round(r['drop_pct'], 2) + 0.0:.2f}"
    v = bold.format(v) if rank == 1 else under.format(v) if rank == 2 else v
    return v + (star if r["significant"] and r["n_neurons"] > 0 else "")


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
    """The paper's layout: one row per (scheme, evaluation set), one column per level; each cell is the
    scheme's drop (bold/underline, ``*``), then the random baseline's mean ± sd and the scheme's
    empirical p-value among the repeats."""
    roles = roles or {}
    levels = _levels(stats)
    ranks = _ranks(stats)
    schemes, sets = _row_keys(stats)
    head = "| Neurons pruned | Evaluation set | " + " | ".join(f"{lv:g} %" for lv in levels) + " |"
    lines = [head, "|" + "---|" * (2 + len(levels))]
    idx = stats.set_index(["scheme", "eval_set", "level"])
    for s in schemes:
        for ev in sets:
            cells = []
            for lv in levels:
                if (s, ev, lv) not in idx.index:
                    cells.append("")
                    continue
                r = idx.loc[(s, ev, lv)]
                if r["n_neurons"] == 0:
                    cells.append("0.00 (empty set)")
                    continue
                v = _drop(r, ranks.get((ev, s, lv)), "**{}**", "<u>{}</u>", "\\*")
                cells.append(
                    f"{v} (n={int(r['n_neurons'])}; random {r['random_drop_mean']:.2f} ± {r['random_drop_sd']:.2f}, "
                    f"emp. p {r['empirical_p']:.2f})"
                )
            row = [escape_cell(pretty(s)), escape_cell(ev + _role(roles, ev)), *cells]
            lines.append("| " + " | ".join(row) + " |")
    for ev in sets:
        cells = []
        for lv in levels:
            g = stats[(stats["eval_set"] == ev) & (stats["level"] == lv) & (stats["n_neurons"] > 0)]
            cells.append(
                f"{g['random_drop_mean'].mean():.2f} ({int(g['random_significant'].sum())} of "
                f"{int(g['repeats'].sum())} repeats with p ≤ 0.05)"
                if len(g)
                else ""
            )
        row = ["Random baseline (mean over schemes)", escape_cell(ev + _role(roles, ev)), *cells]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _role(roles: dict, ev: str) -> str:
    r = roles.get(ev)
    return f" ({r})" if r else ""


def table4_latex(stats: pd.DataFrame, roles: dict | None = None) -> str:
    """Booktabs LaTeX of Table 4 (drops, ``\\textbf``/``\\underline``, ``$^*$`` for p ≤ 0.05) with the random
    baseline row."""
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
                cells.append(_drop(r, ranks.get((ev, s, lv)), "\\textbf{{{}}}", "\\underline{{{}}}", "$^{*}$"))
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
    out += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(out) + "\n"


def write_table4(
    stats: pd.DataFrame, md: str | Path, csv: str | Path, tex: str | Path, roles: dict | None = None, note: str = ""
) -> None:
    """Table 4 from :func:`irlens.ablation.study.summarise` rows: every statistic to ``csv``, the paper's layout
    to ``md`` (with a legend and ``note``) and ``tex``; ``roles`` maps evaluation sets to ID/OOD."""
    from irlens.io import atomic_path

    with atomic_path(csv) as tmp:
        stats.to_csv(tmp, index=False, float_format="%.6g")
    title = "## Table 4: % drop of nDCG@10 after pruning (positive = worse than the original model)\n\n"
    legend = (
        "\n**bold** = biggest drop per evaluation set and level, <u>underlined</u> = second; \\* = two-tailed paired "
        "t-test vs the original, p ≤ 0.05. n = neurons pruned; random = the same number of neurons in the same "
        "modules, mean ± sd of the drop over the repeats; emp. p = share of random repeats (+1) that drop at least "
        "as much.\n"
    )
    write_text(md, title + table4_markdown(stats, roles) + legend + (f"\n{note}\n" if note else ""))
    write_text(tex, table4_latex(stats, roles))


def figure_drops(stats: pd.DataFrame, drops: pd.DataFrame, out: str | Path, title: str = "") -> None:
    """One panel per (evaluation set, level): the random repeats' drops as a box per scheme, the scheme's
    own drop as a red dot (filled where p ≤ 0.05)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
        + "red: NIG scheme (filled: p ≤ 0.05); grey: random neurons, same modules (box 25–75 %, whiskers 5–95 %)",
        fontsize=8,
    )
    fig.tight_layout()
    save_figure(fig, Path(str(out) + ".png"))
