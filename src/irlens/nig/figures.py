"""Figures 2–4 of arXiv 2406.19309 from the NIG schemes (PNG + PDF, written atomically).

- Figure 2: % of neurons shared by two schemes of one label vs the pruning level (top-X %), one panel per
  label; ID/OOD pairs solid, OOD/OOD pairs dashed, the all-dataset (A) and OOD (O) intersections bold.
- Figure 3: the summary: ∩_A and ∩_O per label, and P_x ∩ N_x per dataset (grey, dotted).
- Figure 4: where the top neurons of one scheme sit: counts per layer, stacked by component.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from irlens.nig.schemes import pretty, top_set
from irlens.report.figures import pyplot, save_figure

_STYLE = {"ID/OOD": "-", "OOD/OOD": "--", "ID/ID": "-.", "all (A)": "-", "OOD (O)": "-", "P∩N": ":"}


def _axes_levels(ax, levels):
    ax.set_xscale("log")
    ax.set_xticks(levels)
    ax.set_xticklabels([f"{lv:g}" for lv in levels], fontsize=7)
    ax.set_xlabel("pruning level: top X % of neurons")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)


def figure_intersections(inter: pd.DataFrame, out: str | Path, title: str = "") -> None:
    """Figure 2: pairwise and A/O intersections per label."""
    plt = pyplot()
    labels = [l for l in ("relevant", "non-relevant") if (inter["label"] == l).any()]
    fig, axes = plt.subplots(1, max(1, len(labels)), figsize=(5.2 * max(1, len(labels)), 3.8), squeeze=False)
    levels = sorted(inter["level"].unique())
    for ax, label in zip(axes[0], labels):
        sub = inter[inter["label"] == label]
        bold_first = sorted(
            sub.groupby("curve", sort=False), key=lambda kv: kv[1]["kind"].iloc[0] not in ("all (A)", "OOD (O)")
        )
        for curve, c in bold_first:  # thin pairwise curves drawn over the bold A/O ones (they may coincide)
            kind = c["kind"].iloc[0]
            bold = kind in ("all (A)", "OOD (O)")
            ax.plot(
                c["level"],
                c["pct"],
                _STYLE.get(kind, "-"),
                marker="o",
                ms=3,
                lw=2.4 if bold else 1.2,
                color=None if not bold else ("black" if kind == "all (A)" else "tab:red"),
                label=f"{curve} ({kind})",
            )
        _axes_levels(ax, levels)
        ax.set_ylabel("% of the set in the intersection")
        ax.set_title(f'"{label}" schemes', fontsize=10)
        ax.legend(fontsize=6.5, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, Path(str(out) + ".png"))
    plt.close(fig)


def figure_summary(inter: pd.DataFrame, out: str | Path, title: str = "") -> None:
    """Figure 3: ∩_A / ∩_O per label and P_x ∩ N_x per dataset."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    levels = sorted(inter["level"].unique())
    colours = {"relevant": "tab:green", "non-relevant": "tab:purple"}
    for (label, kind), c in inter[inter["kind"].isin(["all (A)", "OOD (O)"])].groupby(["label", "kind"], sort=False):
        ax.plot(
            c["level"],
            c["pct"],
            "-" if kind == "all (A)" else "--",
            marker="o",
            ms=3,
            color=colours.get(label),
            label=f"{c['curve'].iloc[0]} [{c['members'].iloc[0]}]",
        )
    for curve, c in inter[inter["kind"] == "P∩N"].groupby("curve", sort=False):
        ax.plot(c["level"], c["pct"], ":", marker=".", color="grey", label=curve)
    _axes_levels(ax, levels)
    ax.set_ylabel("% of the set in the intersection")
    ax.legend(fontsize=7)
    ax.set_title(title or "NIG schemes: intersections summary", fontsize=10)
    fig.tight_layout()
    save_figure(fig, Path(str(out) + ".png"))
    plt.close(fig)


def figure_layers(
    values: pd.DataFrame, scheme: str, level: float, out: str | Path, rank_by: str = "value", title: str = ""
) -> None:
    """Figure 4: counts of the scheme's top-``level`` % neurons per layer, stacked by component."""
    from irlens.nig.schemes import layer_distribution

    plt = pyplot()
    if scheme not in values.columns:
        from irlens.errors import IrlensError

        raise IrlensError(
            f"NIG figure 4: scheme '{scheme}' not in values.parquet (have: "
            f"{', '.join(c for c in values.columns if ':' in c or c == 'F_A')})"
        )
    neurons = values[["layer", "component", "unit"]]
    idx = top_set(values[scheme].to_numpy(), level, rank_by)
    t = layer_distribution(idx, neurons)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    bottom = np.zeros(len(t))
    for comp in t.columns:
        ax.bar(t.index.astype(str), t[comp].to_numpy(), bottom=bottom, label=comp)
        bottom += t[comp].to_numpy()
    ax.set_xlabel("layer")
    ax.set_ylabel("neurons")
    ax.set_title(
        (f"{title}\n" if title else "")
        + f"{pretty(scheme)}: top {level:g} % ({len(idx)} neurons) by layer and component",
        fontsize=10,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, Path(str(out) + ".png"))
    plt.close(fig)


def default_fig4_scheme(values: pd.DataFrame, roles: dict) -> str:
    """The scheme figure 4 shows by default: the paper shows N_ms (the in-domain non-relevant scheme), so
    ``N:<d>`` of the first in-domain dataset in ``roles``, else its ``P:<d>``, else the first base scheme
    of ``values``."""
    from irlens.errors import IrlensError

    ids = roles.get("in_domain") or []
    candidates = (
        [f"N:{d}" for d in ids] + [f"P:{d}" for d in ids] + [c for c in values.columns if c[:2] in ("N:", "P:")]
    )
    for name in candidates:
        if name in values.columns:
            return name
    raise IrlensError("NIG figures: no base scheme in values.parquet")
