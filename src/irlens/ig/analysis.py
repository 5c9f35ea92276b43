"""Quantities computed from IG tables: completeness summary, ranking-level word sums, the paper's claims.

- :func:`completeness_summary` — per (model, dataset, side): share of pairs whose relative completeness
  error is ≤ 1 %, median/max error, steps.
- :func:`aggregate_words` — ranking-level word scores: Σ over every attributed pair (the paper sums over
  each query's top-k; summing over the selected queries gives one cloud per model).
- :func:`title_share` — share of positive document attribution that falls on title words, next to the
  share of words that are title words (what a title-blind model would give).
- :func:`domain_terms` / :func:`domain_share` — in-domain terms are words over-represented in the target
  corpus against a reference corpus (log-odds ratio with an informative Dirichlet prior, Monroe et al.
  2008, z > ``z_min``); the table gives the share of positive attribution on those terms per model.
  :func:`domain_term_tables` does both for every dataset, the reference being the other datasets' corpora.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

from irlens.errors import IrlensError
from irlens.ig.words import norm_word

GROUP = ["model", "dataset"]


def completeness_summary(pairs: pd.DataFrame, tol: float = 0.01) -> pd.DataFrame:
    """Per (model, dataset, side): pairs, share with rel. error ≤ ``tol``, median/max error, mean/max steps."""
    rows = []
    for key, g in pairs.groupby(GROUP + ["side"], sort=True):
        err = g["rel_error"].to_numpy()
        rows.append(
            {
                **dict(zip(GROUP + ["side"], key)),
                "pairs": len(g),
                f"share_err_le_{tol:g}": float(np.mean(err <= tol)),
                "median_rel_error": float(np.median(err)),
                "max_rel_error": float(np.max(err)),
                "mean_steps": float(g["steps"].mean()),
                "max_steps": int(g["steps"].max()),
                "converged": float(g["converged"].mean()),
            }
        )
    return pd.DataFrame(rows)


def aggregate_words(words: pd.DataFrame, side: str = "document") -> pd.DataFrame:
    """Ranking-level scores per (model, dataset, word): Σ score over pairs, occurrences, pairs containing it."""
    w = words[(words["side"] == side) & (words["norm"] != "")]
    keys = GROUP + ["norm"]
    out = w.groupby(keys, sort=True).agg(score=("score", "sum"), count=("score", "size"))
    out["pairs"] = w.drop_duplicates(keys + ["qid", "docid"]).groupby(keys, sort=True).size()
    return out.reset_index()


def title_share(words: pd.DataFrame) -> pd.DataFrame:
    """Per (model, dataset): mean over pairs (documents with a title) of the positive-attribution share on
    title words, of the absolute-attribution share, and of the word share of the title."""
    d = words[words["side"] == "document"]
    rows = []
    for key, g in d.groupby(GROUP, sort=True):
        pos, ab, ws = [], [], []
        for _, p in g.groupby(["qid", "docid"], sort=False):
            if not p["in_title"].any():
                continue
            s = p["score"].to_numpy()
            t = p["in_title"].to_numpy()
            pos_total = np.clip(s, 0, None).sum()
            if pos_total > 0:
                pos.append(np.clip(s[t], 0, None).sum() / pos_total)
            ab.append(np.abs(s[t]).sum() / max(np.abs(s).sum(), 1e-30))
            ws.append(t.mean())
        rows.append(
            {
                **dict(zip(GROUP, key)),
                "pairs_with_title": len(ws),
                "title_positive_share": float(np.mean(pos)) if pos else float("nan"),
                "title_abs_share": float(np.mean(ab)) if ab else float("nan"),
                "title_word_share": float(np.mean(ws)) if ws else float("nan"),
            }
        )
    df = pd.DataFrame(rows)
    if len(df):
        df["title_lift"] = df["title_positive_share"] / df["title_word_share"]
    return df


def word_counts(texts: Iterable[str]) -> Counter:
    """Counts of normalised whitespace words (the same keys as :func:`irlens.ig.words.norm_word`)."""
    c: Counter = Counter()
    for t in texts:
        c.update(w for w in (norm_word(x) for x in t.split()) if w)
    return c


def corpus_word_counts(path: str) -> Counter:
    """:func:`word_counts` of every document (title + text) of the BEIR ``corpus.jsonl`` at ``path``."""
    from irlens.data.beir import doc_text, read_corpus

    return word_counts(doc_text(d) for d in read_corpus(path).values())


def domain_terms(
    target: Counter, reference: Counter, n: int = 300, z_min: float = 3.0, min_count: int = 5
) -> pd.DataFrame:
    """Words over-represented in ``target`` vs ``reference``: log-odds ratio with an informative Dirichlet
    prior (the pooled counts), its z-score; the top ``n`` with z ≥ ``z_min`` and ≥ ``min_count`` target uses."""
    prior = target + reference
    a0 = sum(prior.values())
    nt, nr = sum(target.values()), sum(reference.values())
    rows = []
    for w, yt in target.items():
        if yt < min_count or not any(ch.isalpha() for ch in w):
            continue
        yr, aw = reference.get(w, 0), prior[w]
        lt = math.log((yt + aw) / (nt + a0 - yt - aw))
        lr = math.log((yr + aw) / (nr + a0 - yr - aw))
        var = 1.0 / (yt + aw) + 1.0 / (yr + aw)
        rows.append((w, yt, yr, (lt - lr) / math.sqrt(var)))
    df = pd.DataFrame(rows, columns=["term", "target_count", "reference_count", "z"])
    df = df[df["z"] >= z_min].sort_values(["z", "term"], ascending=[False, True]).head(n)
    return df.reset_index(drop=True)


def domain_share(words: pd.DataFrame, terms: set[str]) -> pd.DataFrame:
    """Per (model, dataset, side): share of positive and of absolute attribution mass on ``terms``, and
    the share of word occurrences that are domain terms (the share a term-blind model would give)."""
    rows = []
    w = words[words["norm"] != ""]
    for key, g in w.groupby(GROUP + ["side"], sort=True):
        s = g["score"].to_numpy()
        is_dom = g["norm"].isin(terms).to_numpy()
        pos = np.clip(s, 0, None)
        rows.append(
            {
                **dict(zip(GROUP + ["side"], key)),
                "words": len(g),
                "domain_word_share": float(is_dom.mean()),
                "domain_positive_share": float(pos[is_dom].sum() / max(pos.sum(), 1e-30)),
                "domain_abs_share": float(np.abs(s[is_dom]).sum() / max(np.abs(s).sum(), 1e-30)),
                "domain_score_sum": float(s[is_dom].sum()),
            }
        )
    df = pd.DataFrame(rows)
    if len(df):
        df["domain_lift"] = df["domain_positive_share"] / df["domain_word_share"].where(df["domain_word_share"] > 0)
    return df


def domain_term_tables(
    words: pd.DataFrame, counts: dict[str, Counter], n: int = 300
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For every dataset of ``words`` (sorted): its top-``n`` :func:`domain_terms` against the summed
    ``counts`` of all *other* datasets, and :func:`domain_share` on them. Returns (share table, vocabulary
    with a leading ``dataset`` column); ``counts`` maps dataset name → :func:`word_counts` of its corpus."""
    rows, vocab = [], []
    for dataset in sorted(words["dataset"].unique()):
        if dataset not in counts:
            raise IrlensError(f"ig tables: no --corpus {dataset}=<corpus.jsonl> given for the domain-term reference")
        ref = sum((c for name, c in counts.items() if name != dataset), start=Counter())
        if not ref:
            raise IrlensError(
                f"ig tables: in-domain terms of {dataset} need a reference corpus (another dataset); "
                "give a second --corpus"
            )
        terms = domain_terms(counts[dataset], ref, n=n)
        terms.insert(0, "dataset", dataset)
        vocab.append(terms)
        rows.append(domain_share(words[words["dataset"] == dataset], set(terms["term"])))
    return pd.concat(rows, ignore_index=True), pd.concat(vocab, ignore_index=True)


def baseline_table(
    model,
    pairs: list[tuple[str, str]],
    score: str,
    baselines: Iterable[str],
    sides: Iterable[str] = ("document", "query"),
    labels: dict | None = None,
) -> pd.DataFrame:
    """How far each baseline drives the score toward zero (the idea of Table 1 of arXiv 2406.19309, for
    bi-encoders): per baseline and side, mean s(x) and s(x′), and the mean of 1 − |s(x′)| / |s(x)|
    (1 = the baseline scores exactly zero, 0 = it scores as high as the input). ``labels`` (e.g.
    ``{"model": …, "dataset": …}``) become leading columns, in that order."""
    from irlens.ig.bi_encoder import BiEncoderIG

    rows = []
    for baseline in baselines:
        ig = BiEncoderIG(model, score=score, baseline=baseline)
        for side in sides:
            s = np.array(ig.endpoint_scores(pairs, side=side))
            ratio = np.abs(s[:, 1]) / np.maximum(np.abs(s[:, 0]), 1e-12)
            rows.append(
                {
                    "baseline": baseline,
                    "side": side,
                    "pairs": len(s),
                    "mean_score": float(s[:, 0].mean()),
                    "mean_baseline_score": float(s[:, 1].mean()),
                    "mean_abs_baseline_score": float(np.abs(s[:, 1]).mean()),
                    "toward_zero": float(np.mean(1.0 - ratio)),
                    "share_below_10pct": float(np.mean(ratio < 0.1)),
                }
            )
    df = pd.DataFrame(rows)
    for name, value in reversed(list((labels or {}).items())):
        df.insert(0, name, value)
    return df
