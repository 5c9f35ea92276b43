"""Pictures of IG attributions: instance views (HTML and PNG heatmaps) and ranking-level word clouds.

:func:`write_views` (``irlens ig views``) and :func:`write_wordclouds` (``irlens ig wordclouds``) pick
what to draw from the IG tables; the other functions draw it.

Colours: green = the word raises the score, red = it lowers it; intensity ∝ |score| / max |score| of that
side of that pair. HTML views are self-contained (inline CSS, no scripts, no CDN) so they open offline
and embed in the Snakemake report.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from irlens.errors import IrlensError
from irlens.ig.analysis import aggregate_words, word_difference
from irlens.io import write_text
from irlens.report.figures import save_figure

POS, NEG = (0, 150, 60), (200, 30, 30)
HUE_POS, HUE_NEG = 140, 0  # word-cloud hues (degrees): green, red


def _rgba(score: float, scale: float) -> str:
    a = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
    r, g, b = POS if score >= 0 else NEG
    return f"rgba({r},{g},{b},{a * 0.75:.3f})"


def _spans(words: pd.DataFrame) -> str:
    scale = float(np.abs(words["score"]).max()) if len(words) else 0.0
    out = []
    for w in words.itertuples():
        title = ";border-bottom:2px solid #444" if getattr(w, "in_title", False) else ""
        style = f"background:{_rgba(w.score, scale)}" + title
        out.append(f'<span class="w" style="{style}" title="{w.score:+.4g}">{html.escape(w.word)}</span>')
    return " ".join(out)


def pair_html(query_words: pd.DataFrame, doc_words: pd.DataFrame, heading: str, facts: dict) -> str:
    """One (query, document) pair: both sides' words coloured by their IG scores, plus the pair's numbers."""
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    return (
        f'<section class="pair"><h2>{html.escape(heading)}</h2><table class="facts">{rows}</table>'
        f'<p class="lbl">Query (query-side IG, document fixed)</p><p class="q">{_spans(query_words)}</p>'
        f'<p class="lbl">Document (document-side IG, query fixed; title underlined)</p>'
        f'<p class="d">{_spans(doc_words)}</p></section>'
    )


PAGE_CSS = """
body{font-family:system-ui,Arial,sans-serif;max-width:60em;margin:2em auto;line-height:1.7;color:#222}
.w{padding:1px 2px;border-radius:3px}.lbl{font-size:.85em;color:#666;margin:.6em 0 0}
.facts{font-size:.8em;border-collapse:collapse}.facts th{text-align:left;padding-right:1em;color:#555}
.pair{border-top:1px solid #ccc;padding-top:.5em}.legend span{padding:0 .4em;border-radius:3px}
"""


def write_views_html(path: str | Path, title: str, sections: list[str], note: str = "") -> None:
    """Self-contained HTML page at ``path``: ``title``, a colour legend with ``note``, then the
    :func:`pair_html` ``sections``."""
    legend = (
        f'<p class="legend"><span style="background:{_rgba(1, 1)}">raises the score</span> '
        f'<span style="background:{_rgba(-1, 1)}">lowers the score</span> {html.escape(note)}</p>'
    )
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{PAGE_CSS}</style></head><body><h1>{html.escape(title)}</h1>{legend}{''.join(sections)}"
        "</body></html>\n"
    )
    write_text(path, page)


def pair_heatmap(
    query_words: pd.DataFrame,
    doc_words: pd.DataFrame,
    png: str | Path,
    title: str,
    per_row: int = 12,
    max_words: int = 180,
) -> None:
    """Heatmap of word scores (query block on top, document below), each cell labelled with its word."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = [("query", query_words), ("document", doc_words.head(max_words))]
    nrows = sum(max(1, -(-len(w) // per_row)) for _, w in blocks) + 1
    fig, ax = plt.subplots(figsize=(per_row * 1.05, 0.42 * nrows + 0.8))
    grid = np.full((nrows, per_row), np.nan)
    labels = [["" for _ in range(per_row)] for _ in range(nrows)]
    r = 0
    for name, w in blocks:
        scale = float(np.abs(w["score"]).max()) if len(w) else 1.0
        for i, row in enumerate(w.itertuples()):
            grid[r + i // per_row, i % per_row] = row.score / scale if scale > 0 else 0.0
            labels[r + i // per_row][i % per_row] = row.word[:12]
        r += max(1, -(-len(w) // per_row)) + (1 if name == "query" else 0)
    im = ax.imshow(grid, cmap="RdYlGn", vmin=-1, vmax=1, aspect="auto")
    for i in range(nrows):
        for j in range(per_row):
            if labels[i][j]:
                ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=6.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01, label="score / max |score| (per side)")
    save_figure(fig, png)


def wordcloud_figure(
    panels: list[tuple[str, dict[str, float], str]], png: str | Path, title: str, seed: int = 0
) -> None:
    """Word clouds side by side: ``panels`` = [(subtitle, {word: weight > 0}, hue in degrees)]
    (140 green, 0 red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from wordcloud import WordCloud

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.6), squeeze=False)
    for ax, (sub, freqs, hue) in zip(axes[0], panels):
        freqs = {w: float(v) for w, v in freqs.items() if v > 0}
        if freqs:
            top = max(freqs.values())

            def color(word, *args, _h=hue, _f=freqs, _t=top, **kw):  # darker = larger weight, always readable
                return f"hsl({_h}, 70%, {int(45 - 25 * _f[word] / _t)}%)"

            wc = WordCloud(
                width=900,
                height=520,
                background_color="white",
                color_func=color,
                random_state=seed,
                prefer_horizontal=0.95,
                max_words=len(freqs),
            )
            ax.imshow(wc.generate_from_frequencies(freqs), interpolation="bilinear")
        else:
            ax.text(0.5, 0.5, "(no words)", ha="center", va="center")
        ax.set_title(sub, fontsize=10)
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    save_figure(fig, png)


def write_views(
    tables: dict[str, pd.DataFrame],
    label: str,
    dataset: str,
    html_path: str | Path,
    heatmaps: list[str | Path],
    source: str = "",
) -> None:
    """Instance views of the top-1 pair of the first ``len(heatmaps)`` queries (by id) of the IG ``tables``:
    one section each on the HTML page ``html_path`` and one heatmap PNG/PDF each. ``source`` names the
    tables in the error raised when there are fewer attributed queries than heatmaps."""
    words, pairs = tables["words"], tables["pairs"]
    qids = sorted(pairs["qid"].unique())[: len(heatmaps)]
    if len(qids) < len(heatmaps):
        raise IrlensError(
            f"{source}: only {len(qids)} attributed queries, {len(heatmaps)} views asked; "
            "raise ig.queries or lower ig.view_queries"
        )
    sections = []
    for qid, png in zip(qids, heatmaps):
        top = pairs[(pairs["qid"] == qid) & (pairs["rank"] == 1)]
        docid = top["docid"].iloc[0]
        sel = (words["qid"] == qid) & (words["docid"] == docid)
        qw, dw = words[sel & (words["side"] == "query")], words[sel & (words["side"] == "document")]
        facts = {"query id": qid, "top-1 document": docid}
        for side, g in top.groupby("side"):
            facts[f"{side} side: s(x) / s(x')"] = f"{g['score'].iloc[0]:.4f} / {g['baseline_score'].iloc[0]:.4f}"
            error_steps = f"{g['rel_error'].iloc[0]:.2e}, {int(g['steps'].iloc[0])}"
            facts[f"{side} side: rel. completeness error, steps"] = error_steps
        sections.append(pair_html(qw, dw, f"{label} · {dataset} · query {qid} → {docid}", facts))
        pair_heatmap(qw, dw, png, title=f"{label} on {dataset}: query {qid}, top-1 document {docid}")
    note = f"baseline {pairs['baseline'].iloc[0]}, {pairs['method'].iloc[0]}"
    write_views_html(html_path, f"IG instance views: {label} on {dataset}", sections, note=note)


def write_wordclouds(
    words: list[pd.DataFrame],
    labels: list[str],
    outs: list[str | Path],
    dataset: str,
    side: str = "document",
    n_words: int = 60,
    seed: int = 42,
    diff_outs: list[str | Path] | None = None,
) -> int:
    """Ranking-level word clouds: per model (``words[i]`` is the words table of ``labels[i]``) its ``n_words``
    most positive and most negative :func:`~irlens.ig.analysis.aggregate_words` of normalised scores
    (score / (s(x) − s(x′)) per pair) at ``outs[i]``; and at ``diff_outs[j]`` model j+1 minus the first
    model on the pairs both attributed (:func:`~irlens.ig.analysis.word_difference`). Returns the number of
    figures written."""
    if len(words) != len(labels) or len(outs) != len(labels):
        raise IrlensError("ig wordclouds: give one --ig, --label and --out per model")
    value = {lab: "score_norm" if "score_norm" in w else "score" for w, lab in zip(words, labels)}
    agg = {
        lab: aggregate_words(w, side=side, value=value[lab]).set_index("norm")["score"] for w, lab in zip(words, labels)
    }
    for lab, png in zip(labels, outs):
        s = agg[lab]
        pos, neg = s.nlargest(n_words), (-s).nlargest(n_words)
        panels = [("most positive", pos.to_dict(), HUE_POS), ("most negative", neg.to_dict(), HUE_NEG)]
        title = f"{lab} on {dataset}: {side} words, normalised scores summed over the attributed pairs"
        wordcloud_figure(panels, png, title, seed=seed)
    base = labels[0]
    for w, lab, png in zip(words[1:], labels[1:], diff_outs or []):
        d = word_difference(words[0], w, side=side)
        panels = [
            (f"higher in {lab}", d.nlargest(n_words).to_dict(), HUE_POS),
            (f"higher in {base}", (-d).nlargest(n_words).to_dict(), HUE_NEG),
        ]
        title = f"{lab} minus {base} on {dataset} ({side} words, normalised, same pairs)"
        wordcloud_figure(panels, png, title, seed=seed)
    return len(outs) + len(diff_outs or [])
