"""SAE stage outputs: the variants table (K sweep, λ on/off), its figure, the latent browser page and the
control curves (arXiv 2411.00786)."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from irlens.io import read_json, write_text
from irlens.report.figures import pyplot, save_figure
from irlens.report.tables import markdown_table, replicate_runs, replicate_summary

# runs of evaluate_sae shown in the table: (column prefix, run name)
RUNS = (
    ("recon", "reconstructed"),
    ("recon_raw", "reconstructed-raw"),
    ("latent", "latent"),
    ("latent_sqrt_cos", "latent-sqrt-cos"),
    ("projected", "latent-projected-query"),
)


def loss_label(t: dict) -> str:
    """The training loss of a variant's TrainConfig settings ``t``, e.g. ``FVU + AuxK + 1·KL(reconstructed)``."""
    if not t:
        return ""
    if t.get("loss") == "embedding-scope":
        return "MSE + KLD (embedding-scope)"
    parts = ["FVU"]
    if (t.get("aux_coef") or 0) > 0:
        parts.append("AuxK")
    if (t.get("lam") or 0) > 0:
        parts.append(f"{t['lam']:g}·KL(reconstructed scores)")
    if (t.get("lam_latent") or 0) > 0:
        kind = {"kl": "KL", "infonce": "InfoNCE", "mse": "score FVU"}.get(t.get("latent_loss", "kl"), "KL")
        parts.append(f"{t['lam_latent']:g}·{kind}({'cosine ' if t.get('latent_norm') else ''}latent scores)")
    if (t.get("lam_gram") or 0) > 0:
        parts.append(f"{t['lam_gram']:g}·Gram")
    return " + ".join(parts)


def variants_table(evals: dict[str, str | Path]) -> pd.DataFrame:
    """One row per SAE variant from its ``irlens sae evaluate`` JSON: settings, loss, reconstruction and
    retrieval (nDCG@10 and % of dense) of reconstructed and latent runs.

    Columns without a suffix use the **encoder's codes** (top-k of the encoder, as the paper); ``*_refined``
    columns the IHT-refined codes of a model with ``refine_steps`` > 0 (column ``codes`` says which exist).
    ``dead_pct``: latents that never fire on the training pool (what the SAE was trained on);
    ``dead_pct_eval``: on the evaluation set (corpus + judged queries, the model's codes)."""
    from irlens.errors import IrlensError
    from irlens.sae.metrics import codes_label

    rows = []
    for name, path in evals.items():
        e = read_json(path)
        needed = [("reconstruction", "all", k) for k in ("fvu", "cosine", "l0", "dead_pct")]
        needed += [("reconstruction", "queries", "fvu"), ("retrieval", "dense", "ndcg@10")]
        for keys in needed:
            v = e
            for k in keys:
                v = v[k] if isinstance(v, dict) and k in v else KeyError
            if v is KeyError:
                raise IrlensError(
                    f"{path}: not an evaluation JSON of 'irlens sae evaluate' (no {'.'.join(keys)}); "
                    f"check --eval {name}=..."
                )
        t = e.get("train") or {}
        refined = (e.get("refine_steps") or 0) > 0
        rec = e["reconstruction"]["all"]
        rec_enc = (e.get("reconstruction_encoder") or {}).get("all")
        r = e["retrieval"]
        pool = e.get("train_pool") or {}
        nan = float("nan")
        row = {
            "variant": name,
            "loss": loss_label(t),
            "codes": "encoder" + (f"; *_refined: {codes_label(e['refine_steps'])}" if refined else ""),
            "n_latents": t.get("n_latents"),
            "k": t.get("k"),
            "lambda": t.get("lam"),
            "lambda_latent": t.get("lam_latent"),
            "epochs": t.get("epochs"),
            "seed": t.get("seed"),
            "refine_steps": e.get("refine_steps"),
        }
        if refined:
            enc = rec_enc or {}
            row.update(fvu=enc.get("fvu", nan), cosine=enc.get("cosine", nan), l0=enc.get("l0", nan))
            row.update(fvu_refined=rec["fvu"], cosine_refined=rec["cosine"], l0_refined=rec["l0"])
        else:
            row.update(fvu=rec["fvu"], cosine=rec["cosine"], l0=rec["l0"])
        row["fvu_queries" + ("_refined" if refined else "")] = e["reconstruction"]["queries"]["fvu"]
        row["dead_pct"] = pool.get("dead_pct", nan)  # training pool, encoder codes
        row["dead_pct_eval"] = rec["dead_pct"]  # evaluation set, the model's codes
        row["dense_ndcg@10"] = r["dense"]["ndcg@10"]
        for col, run in RUNS:
            sources = [(col, f"{run}-encoder"), (f"{col}_refined", run)] if refined else [(col, run)]
            for c, rn in sources:
                if rn in r:
                    row[f"{c}_ndcg@10"] = r[rn]["ndcg@10"]
                    row[f"{c}_pct"] = 100 * e["ratio_ndcg@10"][rn]
                    row[f"{c}_mrr@10"] = r[rn]["mrr@10"]
        row["train_s"] = e.get("train_seconds")
        rows.append(row)
    return pd.DataFrame(rows)


MD_COLUMNS = (
    "variant",
    "loss",
    "codes",
    "k",
    "epochs",
    "fvu",
    "dead_pct",
    "dead_pct_eval",
    "dense_ndcg@10",
    "recon_ndcg@10",
    "recon_pct",
    "latent_ndcg@10",
    "latent_pct",
    "latent_sqrt_cos_pct",
    "recon_refined_pct",
    "latent_refined_pct",
    "latent_sqrt_cos_refined_pct",
    "projected_pct",
    "projected_refined_pct",
    "train_s",
)

# what the markdown says under the table
TABLE_NOTE = (
    "Codes: columns without a suffix use the encoder's top-k codes (as the paper); `*_refined` columns the "
    "IHT-refined codes of a model with refine_steps > 0 (see `codes`). `dead_pct`: % of latents that never fire "
    "on the training pool (encoder codes); `dead_pct_eval`: on the evaluation corpus + queries. "
    "`*_pct`: % of dense nDCG@10."
)


#: the retention columns summarised over seeds (those present)
SEED_COLUMNS = (
    "recon_pct",
    "latent_pct",
    "latent_sqrt_cos_pct",
    "recon_refined_pct",
    "latent_refined_pct",
    "latent_sqrt_cos_refined_pct",
    "fvu",
    "dead_pct",
)


def seed_runs(df: pd.DataFrame, base: str = "main") -> pd.DataFrame:
    """The rows of ``base`` and of its seed replicas ``<base>-s<seed>`` (``sae.seeds``)."""
    return replicate_runs(df, base)


def seed_summary(df: pd.DataFrame, base: str = "main") -> pd.DataFrame:
    """n, mean, sample sd, min and max of every :data:`SEED_COLUMNS` column over ``base`` and its seed replicas
    (:func:`irlens.report.tables.replicate_summary`)."""
    return replicate_summary(df, base, SEED_COLUMNS)


def write_variants_table(df: pd.DataFrame, md: str | Path, csv: str | Path, title: str) -> None:
    """Every column in the CSV; the markdown keeps the settings, loss, codes, FVU, dead % and nDCG@10 (and % of
    dense), with a note on the codes and dead-latent columns, and main's mean ± sd over its seeds when
    ``sae.seeds`` trained replicas."""
    from irlens.io import atomic_path

    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.5f")
    short = df[[c for c in MD_COLUMNS if c in df]]
    text = (f"## {title}\n\n" if title else "") + markdown_table(short, floatfmt=".4g") + f"\n\n{TABLE_NOTE}\n"
    summ = seed_summary(df)
    if len(summ) and int(summ["n"].max()) > 1:
        seeds = ", ".join(str(int(x)) for x in seed_runs(df)["seed"].dropna()) if "seed" in df else ""
        text += (
            f"\n### main over {int(summ['n'].max())} seeds{f' ({seeds})' if seeds else ''}\n\n"
            + markdown_table(summ, floatfmt=".4g")
            + "\n\nsd: sample standard deviation over the seeds (same data and settings; only the SAE's "
            "initialisation and batch order differ).\n"
        )
    write_text(md, text)


def figure_variants(
    df: pd.DataFrame, sweep: list[str], pairs: list[tuple[str, str]], out: str | Path, title: str = ""
) -> None:
    """Left: % of dense nDCG@10 kept vs K over the ``sweep`` variants. Right: each (λ on, λ off) pair side by side."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    sw = df[df["variant"].isin(sweep)].sort_values("k")
    for col, label, style in (
        ("recon_pct", "reconstructed", "o-"),
        ("latent_pct", "latent (z_q·z_d)", "s-"),
        ("latent_sqrt_cos_pct", "latent (√-cosine)", "^--"),
    ):
        if col in sw and len(sw):
            ax.plot(sw["k"], sw[col], style, label=label)
    if len(sw):
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(sw["k"]))
        ax.set_xticklabels([str(int(k)) for k in sw["k"]])
    ax.set_xlabel("K (active latents)")
    ax.set_ylabel("% of dense nDCG@10")
    ax.set_title("K sweep")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax = axes[1]
    cols = [("recon_pct", "reconstructed"), ("latent_pct", "latent"), ("latent_sqrt_cos_pct", "latent √-cos")]
    width = 0.8 / max(1, 2 * len(pairs))
    for j, (on, off) in enumerate(pairs):
        for h, (name, hatch) in enumerate(((on, ""), (off, "//"))):
            row = df[df["variant"] == name]
            if not len(row):
                continue
            xs = [i + (2 * j + h - len(pairs) + 0.5) * width for i in range(len(cols))]
            ax.bar(
                xs,
                [float(row[c].iloc[0]) if c in row else 0 for c, _ in cols],
                width,
                hatch=hatch,
                label=name,
                edgecolor="#333",
            )
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([c for _, c in cols])
    lo = df[[c for c, _ in cols if c in df]].min().min() if len(df) else 0
    ax.set_ylim(max(0, float(lo) - 10), 101)
    ax.set_ylabel("% of dense nDCG@10")
    ax.set_title("retrieval loss on (λ) vs off")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out)


def figure_control(curves: pd.DataFrame, out: str | Path, title: str = "") -> None:
    """P@10 and MRR@10 of each latent's target set vs amplification (one line per latent; the PRF line
    against the qrels), and nDCG@10 against the qrels."""
    plt = pyplot()
    metrics = [m for m in ("p@10", "mrr@10", "ndcg@10") if m in curves]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.4))
    axes = [axes] if len(metrics) == 1 else list(axes)
    for ax, m in zip(axes, metrics):
        for (lat, kind), g in curves.groupby(["latent", "kind"], sort=True):
            style, label = {
                "latent": ("o-", f"latent {lat}"),
                "random": (":", f"random latent, targets of {lat}"),
            }.get(kind, ("s--", "PRF (qrels)"))
            ax.plot(g["value"], g[m], style, label=label, ms=3)
        ops = set(curves.loc[curves["kind"] == "latent", "op"])
        ax.set_xlabel("α scaling the latent" if ops == {"scale"} else "δ added (latent; PRF: feedback latents)")
        ax.set_ylabel(m + (" (qrels)" if m == "ndcg@10" else " (target set; PRF: qrels)"))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out)


_CSS = (
    "\n"
    "body{font-family:system-ui,Arial,sans-serif;max-width:64em;margin:2em auto;line-height:1.5;color:#222}\n"
    "table{border-collapse:collapse;font-size:.85em}"
    "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\n"
    "section{border-top:1px solid #bbb;margin-top:1.2em}.v{color:#555;font-variant-numeric:tabular-nums}"
    ".w{background:#e7f0fb;border-radius:3px;padding:0 3px;margin-right:3px}\n"
    ".pat{background:#fde9c8;border-radius:3px;padding:0 4px;margin-right:4px}details{margin:.3em 0}\n"
)


def latents_html(records: list[dict], out: str | Path, title: str, note: str = "") -> None:
    """A self-contained page (no scripts, no CDN): an index of the latents, then one section each with
    enriched words, N2G patterns and scores, top documents and top queries."""
    esc = html.escape
    idx = "".join(
        f'<tr><td><a href="#l{r["latent"]}">{r["latent"]}</a></td><td class="v">{r["doc_freq"]}</td>'
        f"<td>{' '.join(esc(w['word']) for w in r['words'][:6])}</td>"
        f'<td class="v">{_score(r)}</td></tr>'
        for r in records
    )
    secs = []
    for r in records:
        words = "".join(
            f'<span class="w" title="z = {w["z"]:.2f}, count {w["count"]}">{esc(w["word"])}</span>' for w in r["words"]
        )
        n2g = r.get("n2g") or {}
        pats = (
            "".join(f'<span class="pat">{esc(" + ".join(p))}</span>' for p in n2g.get("patterns", [])) or "<i>none</i>"
        )
        docs = "".join(
            f'<tr><td class="v">{d["value"]:.3f}</td><td>{esc(d["id"])}</td><td>{esc(d["text"])}</td></tr>'
            for d in r["top_documents"]
        )
        qs = "".join(
            f'<tr><td class="v">{q["value"]:.3f}</td><td>{esc(q["id"])}</td><td>{esc(q["text"])}</td></tr>'
            for q in r.get("top_queries", [])
        )
        ex = "".join(
            f'<li>{esc(e["pruned"])} <span class="v">(act {e["activation"]:.3f}; '
            f"saliency: {esc(', '.join(f'{w} {s:.2f}' for w, s in e['saliency'][:5]))})</span></li>"
            for e in n2g.get("examples", [])
        )
        secs.append(
            f'<section id="l{r["latent"]}"><h2>latent {r["latent"]}</h2>'
            f"<p>fires on {r['doc_freq']} documents. Enriched words (log-odds z vs the corpus): {words}</p>"
            f'<p>N2G patterns: {pats} <span class="v">{_score(r)}</span></p>'
            + (
                "<details><summary>N2G examples (pruned text, activation, most salient words)</summary>"
                f"<ul>{ex}</ul></details>"
                if ex
                else ""
            )
            + "<details open><summary>top documents</summary>"
            f"<table><tr><th>act</th><th>id</th><th>text</th></tr>{docs}</table></details>"
            + (
                "<details><summary>top queries</summary>"
                f"<table><tr><th>act</th><th>id</th><th>text</th></tr>{qs}</table></details>"
                if qs
                else ""
            )
            + "</section>"
        )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>{esc(note)}</p>"
        "<table><tr><th>latent</th><th>documents</th><th>top words</th>"
        "<th>N2G P / R / F1 over all documents (base rate; balanced P)</th></tr>"
        f"{idx}</table>" + "".join(secs) + "</body></html>\n"
    )
    write_text(out, page)


def _score(r: dict) -> str:
    s = (r.get("n2g") or {}).get("score")
    if not s:
        return "–"
    out = f"{s['precision']:.2f} / {s['recall']:.2f} / {s['f1']:.2f}"
    if "base_rate" in s:
        out += f" (base rate {s['base_rate']:.1%}; balanced P {s.get('precision_balanced', float('nan')):.2f})"
    return out
