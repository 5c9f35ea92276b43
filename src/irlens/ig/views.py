"""Pictures of IG attributions: instance views (HTML and PNG heatmaps) and ranking-level word clouds.

Colours: green = the word raises the score, red = it lowers it; intensity ∝ |score| / max |score| of that
side of that pair. HTML views are self-contained (inline CSS, no scripts, no CDN) so they open offline
and embed in the Snakemake report.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from irlens.io import atomic_path, write_text

POS, NEG = (0, 150, 60), (200, 30, 30)


def _rgba(score: float, scale: float) -> str:
    a = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
    r, g, b = POS if score >= 0 else NEG
    return f"rgba({r},{g},{b},{a * 0.75:.3f})"


def _spans(words: pd.DataFrame) -> str:
    scale = float(np.abs(words["score"]).max()) if len(words) else 0.0
    out = []
    for w in words.itertuples():
        style = f"background:{_rgba(w.score, scale)}" + (";border-bottom:2px solid #444" if getattr(w, "in_title", False) else "")
        out.append(f'<span class="w" style="{style}" title="{w.score:+.4g}">{html.escape(w.word)}</span>')
    return " ".join(out)


def pair_html(query_words: pd.DataFrame, doc_words: pd.DataFrame, heading: str, facts: dict) -> str:
    """One (query, document) pair: both sides' words coloured by their IG scores, plus the pair's numbers."""
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    return (
        f'<section class="pair"><h2>{html.escape(heading)}</h2><table class="facts">{rows}</table>'
        f'<p class="lbl">Query (query-side IG, document fixed)</p><p class="q">{_spans(query_words)}</p>'
        f'<p class="lbl">Document (document-side IG, query fixed; title underlined)</p><p class="d">{_spans(doc_words)}</p></section>'
    )


PAGE_CSS = """
body{font-family:system-ui,Arial,sans-serif;max-width:60em;margin:2em auto;line-height:1.7;color:#222}
.w{padding:1px 2px;border-radius:3px}.lbl{font-size:.85em;color:#666;margin:.6em 0 0}
.facts{font-size:.8em;border-collapse:collapse}.facts th{text-align:left;padding-right:1em;color:#555}
.pair{border-top:1px solid #ccc;padding-top:.5em}.legend span{padding:0 .4em;border-radius:3px}
"""


def write_views_html(path: str | Path, title: str, sections: list[str], note: str = "") -> None:
    legend = f'<p class="legend"><span style="background:{_rgba(1, 1)}">raises the score</span> <span style="background:{_rgba(-1, 1)}">lowers the score</span> {html.escape(note)}</p>'
    page = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head><body><h1>{html.escape(title)}</h1>{legend}{''.join(sections)}</body></html>\n"
    write_text(path, page)


def save_figure(fig, png: str | Path, pdf: bool = True) -> None:
    import matplotlib.pyplot as plt

    png = Path(png)
    with atomic_path(png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format="png")
    if pdf:
        with atomic_path(png.with_suffix(".pdf"), suffix=".pdf") as tmp:
            fig.savefig(tmp, bbox_inches="tight", format="pdf")
    plt.close(fig)


def pair_heatmap(query_words: pd.DataFrame, doc_words: pd.DataFrame, png: str | Path, title: str, per_row: int = 12, max_words: int = 180) -> None:
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


def wordcloud_figure(panels: list[tuple[str, dict[str, float], str]], png: str | Path, title: str, seed: int = 0) -> None:
    """Word clouds side by side: ``panels`` = [(subtitle, {word: weight > 0}, hue in degrees)] (140 green, 0 red)."""
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

            wc = WordCloud(width=900, height=520, background_color="white", color_func=color, random_state=seed, prefer_horizontal=0.95, max_words=len(freqs))
            ax.imshow(wc.generate_from_frequencies(freqs), interpolation="bilinear")
        else:
            ax.text(0.5, 0.5, "(no words)", ha="center", va="center")
        ax.set_title(sub, fontsize=10)
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    save_figure(fig, png)
