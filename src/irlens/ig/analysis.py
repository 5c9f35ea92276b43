"""Quantities computed from IG tables: completeness summary, ranking-level word sums, the paper's claims.

- :func:`completeness_summary` — per (model, dataset, side): share of pairs whose relative completeness
  error is ≤ 1 %, median/max error, steps.
- :func:`aggregate_words` — ranking-level word scores: Σ over every attributed pair (the paper sums over
  each query's top-k; summing over the selected queries gives one cloud per model).
- :func:`title_share` — share of positive document attribution that falls on title words, next to the
  share of words that are title words (what a title-blind model would give), and the positional control:
  for documents without a title, the share on their first n words (n = the dataset's median title length).
- :func:`pair_shares` / :func:`paired_differences` — the same shares per pair, then per query (mean over its
  pairs), and model − base per query over the pairs both attributed, with a seeded percentile bootstrap CI.
- :func:`word_difference` — the word-cloud difference: Σ of *normalised* word scores (score / (s(x) − s(x′)),
  ``score_norm``) over the pairs both models attributed, model − base; invariant to a model's score scale.
- :func:`domain_terms` / :func:`domain_share` — in-domain terms are the target corpus's words that are
  over-represented against **general English** (the ``wordfreq`` package's frequencies, :func:`reference_name`):
  a smoothed log-ratio of per-million frequencies, stopwords and rare words excluded; the table gives the share
  of positive attribution on those terms per model. :func:`domain_term_tables` does both for every dataset;
  each dataset's list depends on its own corpus only (not on which other datasets are configured).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

from irlens.errors import IrlensError
from irlens.ig.ranking import UNTITLED
from irlens.ig.words import norm_word
from irlens.stats import bootstrap_mean_ci

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


def aggregate_words(words: pd.DataFrame, side: str = "document", value: str = "score") -> pd.DataFrame:
    """Ranking-level scores per (model, dataset, word): Σ ``value`` (``score``, or ``score_norm``: normalised
    by the pair's s(x) − s(x′)) over pairs as ``score``, occurrences, pairs containing it."""
    w = words[(words["side"] == side) & (words["norm"] != "")]
    keys = GROUP + ["norm"]
    out = w.groupby(keys, sort=True).agg(score=(value, "sum"), count=(value, "size"))
    out["pairs"] = w.drop_duplicates(keys + ["qid", "docid"]).groupby(keys, sort=True).size()
    return out.reset_index()


PAIR = ["qid", "docid"]


def _value(words: pd.DataFrame) -> str:
    """Column the shares are computed on: the normalised score when the table has it."""
    return "score_norm" if "score_norm" in words else "score"


def _positive_share(s: np.ndarray, sel: np.ndarray) -> float:
    pos = np.clip(s, 0, None)
    total = pos.sum()
    return float(pos[sel].sum() / total) if total > 0 else float("nan")


def _in_order(p: pd.DataFrame) -> pd.DataFrame:
    return p.sort_values("word_index", kind="stable") if "word_index" in p else p


def _first(p: pd.DataFrame, n: int) -> np.ndarray:
    """Mask of a pair's first ``n`` words (rows in word order): the pseudo-title of a document without one."""
    return np.arange(len(p)) < n


def word_difference(base: pd.DataFrame, other: pd.DataFrame, side: str = "document") -> pd.Series:
    """Word-cloud difference ``other − base`` (indexed by ``norm``): each model's normalised word scores
    (``score_norm`` = score / (s(x) − s(x′)) of the pair) summed over the (qid, docid) pairs **both**
    attributed. Scaling a model's scores (e.g. a dot-product model's embeddings) leaves it unchanged."""
    keys = [k for k in ("dataset", *PAIR) if k in base and k in other]
    both = base[keys].drop_duplicates().merge(other[keys].drop_duplicates(), on=keys)
    sums = []
    for w in (base, other):
        w = w.merge(both, on=keys)
        sums.append(aggregate_words(w, side=side, value=_value(w)).groupby("norm")["score"].sum())
    return sums[1].sub(sums[0], fill_value=0.0)


def pair_shares(
    words: pd.DataFrame, pseudo_n: dict[str, int] | None = None, terms: dict[str, set[str]] | None = None
) -> pd.DataFrame:
    """Per (model, dataset, side, qid, docid): positive-attribution shares of one pair, on normalised scores.

    Document side: ``title_positive_share`` / ``title_word_share`` (documents with a title) and, for documents
    without one, ``pseudo_title_positive_share`` / ``pseudo_title_word_share`` on its first n words (n =
    ``pseudo_n[dataset]``, the dataset's median title length in words: the positional control); side
    ``untitled`` (title stripped) the same pseudo-title shares. Both sides:
    ``domain_positive_share`` on ``terms[dataset]`` (truncated words never count)."""
    pseudo_n, terms = pseudo_n or {}, terms or {}
    rows = []
    value = _value(words)
    for key, p in words.groupby(GROUP + ["side"] + PAIR, sort=True):
        p = _in_order(p)
        row = dict(zip(GROUP + ["side"] + PAIR, key))
        s = p[value].to_numpy(dtype=float)
        dataset, side = row["dataset"], row["side"]
        if side in ("document", UNTITLED):
            t = p["in_title"].to_numpy(dtype=bool)
            nan = float("nan")
            row.update(title_positive_share=nan, title_word_share=nan)
            row.update(pseudo_title_positive_share=nan, pseudo_title_word_share=nan)
            if t.any():
                row.update(title_positive_share=_positive_share(s, t), title_word_share=float(t.mean()))
            elif pseudo_n.get(dataset, 0) > 0:
                first = _first(p, pseudo_n[dataset])
                row.update(pseudo_title_positive_share=_positive_share(s, first))
                row.update(pseudo_title_word_share=float(first.mean()))
        if dataset in terms:
            is_dom = p["norm"].isin(terms[dataset]).to_numpy()
            if "truncated" in p:
                is_dom = is_dom & ~p["truncated"].fillna(False).to_numpy(dtype=bool)
            row["domain_positive_share"] = _positive_share(s, is_dom)
        rows.append(row)
    return pd.DataFrame(rows)


PAIRED_MEASURES = (
    ("document", "title_positive_share"),
    ("document", "pseudo_title_positive_share"),
    (UNTITLED, "pseudo_title_positive_share"),
    ("document", "domain_positive_share"),
    ("query", "domain_positive_share"),
)


def paired_differences(shares: pd.DataFrame, base: str, n_boot: int = 2000, seed: int = 42) -> pd.DataFrame:
    """Model − ``base`` for every other model, dataset and measure of :data:`PAIRED_MEASURES`, **paired**:
    only (qid, docid) pairs both attributed and where both have the measure; per query the mean over its
    pairs, then the mean over queries of (model − base) with a percentile bootstrap 95 % CI over queries
    (``n_boot`` resamples, ``seed``). Columns: dataset, side, measure, base, model, queries, pairs,
    base_mean, model_mean, difference, ci_low, ci_high, bootstrap, seed."""
    rows = []
    if not len(shares):
        return pd.DataFrame(rows)
    for (dataset, model), _ in shares[shares["model"] != base].groupby(["dataset", "model"], sort=True):
        for side, measure in PAIRED_MEASURES:
            if measure not in shares:
                continue
            sel = (shares["dataset"] == dataset) & (shares["side"] == side)
            cols = PAIR + [measure]
            b = shares.loc[sel & (shares["model"] == base), cols].dropna()
            m = shares.loc[sel & (shares["model"] == model), cols].dropna()
            j = b.merge(m, on=PAIR, suffixes=("_base", "_model"))
            if not len(j):
                continue
            q = j.groupby("qid")[[f"{measure}_base", f"{measure}_model"]].mean()
            d = (q[f"{measure}_model"] - q[f"{measure}_base"]).to_numpy()
            lo, hi = bootstrap_mean_ci(d, n_boot=n_boot, seed=seed)
            rows.append(
                {
                    "dataset": dataset,
                    "side": side,
                    "measure": measure,
                    "base": base,
                    "model": model,
                    "queries": len(q),
                    "pairs": len(j),
                    "base_mean": float(q[f"{measure}_base"].mean()),
                    "model_mean": float(q[f"{measure}_model"].mean()),
                    "difference": float(d.mean()),
                    "ci_low": lo,
                    "ci_high": hi,
                    "bootstrap": n_boot,
                    "seed": seed,
                }
            )
    return pd.DataFrame(rows)


def title_share(words: pd.DataFrame, pseudo_n: dict[str, int] | None = None) -> pd.DataFrame:
    """Per (model, dataset): mean over pairs (documents with a title) of the positive-attribution share on
    title words, of the absolute-attribution share, and of the word share of the title; beside it the
    positional control with n = ``pseudo_n[dataset]`` (the dataset's median title length in words): the
    positive share on the first n words (the pseudo-title) of documents **without** a title
    (``pseudo_title_*``) and, when side ``untitled`` was attributed, of the same titled documents with their
    title stripped (``untitled_first_n_*``). NaN where there are no such pairs."""
    d = words[words["side"] == "document"]
    u = words[words["side"] == UNTITLED]
    rows = []
    for key, g in pd.concat([d, u]).groupby(GROUP, sort=True):
        g_doc, g_unt = g[g["side"] == "document"], g[g["side"] == UNTITLED]
        pos, ab, ws, ppos, pws, upos, uws = [], [], [], [], [], [], []
        n = (pseudo_n or {}).get(key[1], 0)
        titled = set()
        for pk, p in g_doc.groupby(PAIR, sort=False):
            p = _in_order(p)
            s = p[_value(p)].to_numpy()
            if not p["in_title"].any():
                if n > 0:
                    _append_share(ppos, pws, s, _first(p, n))
                continue
            titled.add(pk)
            t = p["in_title"].to_numpy()
            pos_total = np.clip(s, 0, None).sum()
            if pos_total > 0:
                pos.append(np.clip(s[t], 0, None).sum() / pos_total)
            ab.append(np.abs(s[t]).sum() / max(np.abs(s).sum(), 1e-30))
            ws.append(t.mean())
        for pk, p in g_unt.groupby(PAIR, sort=False):
            if n > 0 and (pk in titled or not len(g_doc)):
                p = _in_order(p)
                _append_share(upos, uws, p[_value(p)].to_numpy(), _first(p, n))
        rows.append(
            {
                **dict(zip(GROUP, key)),
                "pairs_with_title": len(ws),
                "title_positive_share": _mean(pos),
                "title_abs_share": _mean(ab),
                "title_word_share": _mean(ws),
                "pseudo_title_words": n,
                "pairs_without_title": len(pws),
                "pseudo_title_positive_share": _mean(ppos),
                "pseudo_title_word_share": _mean(pws),
                "untitled_pairs": len(uws),
                "untitled_first_n_positive_share": _mean(upos),
                "untitled_first_n_word_share": _mean(uws),
            }
        )
    df = pd.DataFrame(rows)
    if len(df):
        df["title_lift"] = df["title_positive_share"] / df["title_word_share"]
    return df


def _mean(x: list) -> float:
    return float(np.mean(x)) if x else float("nan")


def _append_share(shares: list, word_shares: list, s: np.ndarray, sel: np.ndarray) -> None:
    if len(s):
        share = _positive_share(s, sel)
        if share == share:
            shares.append(share)
        word_shares.append(float(sel.mean()))


#: wordfreq wordlist used as the general-English reference ("large": the biggest English list, = "best").
REFERENCE_WORDLIST = "large"
#: defaults of :func:`domain_terms` (config ``ig.domain_min_df`` / ``ig.domain_smoothing``)
DOMAIN_MIN_DF = 5
DOMAIN_SMOOTHING = 10.0
_TERM = re.compile(r"[^\W\d_]{3,}")  # alphabetic, at least 3 letters


def reference_name() -> str:
    """The general-English reference as recorded in the tables, e.g. ``wordfreq 3.1.1 en, 'large' wordlist``."""
    from importlib.metadata import version

    return f"wordfreq {version('wordfreq')} en, '{REFERENCE_WORDLIST}' wordlist"


def word_stats(texts: Iterable[str]) -> tuple[Counter, Counter]:
    """(word counts, document frequencies) of normalised whitespace words (:func:`irlens.ig.words.norm_word`
    keys), each text a document."""
    c: Counter = Counter()
    df: Counter = Counter()
    for t in texts:
        ws = [w for w in (norm_word(x) for x in t.split()) if w]
        c.update(ws)
        df.update(set(ws))
    return c, df


def corpus_word_stats(path: str) -> tuple[Counter, Counter]:
    """:func:`word_stats` of every document (title + text) of the BEIR ``corpus.jsonl`` at ``path``."""
    from irlens.data.beir import doc_text, read_corpus

    return word_stats(doc_text(d) for d in read_corpus(path).values())


def median_title_words(path: str) -> int:
    """Median length in whitespace words of the non-empty titles of the BEIR ``corpus.jsonl`` at ``path`` (0 if
    none): n of the pseudo-title (first n words) of documents without a title."""
    from irlens.data.beir import read_corpus

    lengths = [len(t.split()) for t in ((d.get("title") or "").strip() for d in read_corpus(path).values()) if t]
    return int(round(float(np.median(lengths)))) if lengths else 0


def domain_terms(
    counts: Counter,
    doc_freq: Counter,
    n: int = 300,
    min_df: int = DOMAIN_MIN_DF,
    smoothing: float = DOMAIN_SMOOTHING,
) -> pd.DataFrame:
    """The corpus's top-``n`` in-domain terms: words over-represented against general English.

    With c(w) the corpus count of word w, N the corpus's word count, f_en(w) its frequency in wordfreq's
    English list (0 when absent; :func:`reference_name`) and k = ``smoothing`` (per million words)::

        score(w) = log2( (10^6 c(w) / N + k) / (10^6 f_en(w) + k) )

    (Kilgarriff's "simple maths" keyness, 2009: k keeps words rare in both from dominating; larger k favours
    frequent domain words, smaller k rare jargon). Candidates: alphabetic words of ≥ 3 letters, not in the
    English stopword list (scikit-learn's ``ENGLISH_STOP_WORDS``, the Glasgow IR group's 318 words; scikit-learn
    comes with sentence-transformers), in ≥ ``min_df`` documents,
    score > 0. Columns: term, count, doc_freq, per_million, reference_per_million, log2_ratio; sorted by
    score (ties by term). The list depends on this corpus alone."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    from wordfreq import word_frequency

    if smoothing <= 0:
        raise IrlensError(f"in-domain terms: smoothing must be > 0 (got {smoothing})")
    total = sum(counts.values())
    rows = []
    for w, c in counts.items():
        if doc_freq.get(w, 0) < min_df or w in ENGLISH_STOP_WORDS or not _TERM.fullmatch(w):
            continue
        pm, ref = 1e6 * c / total, 1e6 * word_frequency(w, "en", wordlist=REFERENCE_WORDLIST)
        score = math.log2((pm + smoothing) / (ref + smoothing))
        if score > 0:
            rows.append((w, c, doc_freq[w], pm, ref, score))
    cols = ["term", "count", "doc_freq", "per_million", "reference_per_million", "log2_ratio"]
    df = pd.DataFrame(rows, columns=cols)
    df = df.sort_values(["log2_ratio", "term"], ascending=[False, True]).head(n)
    return df.reset_index(drop=True)


def domain_share(words: pd.DataFrame, terms: set[str]) -> pd.DataFrame:
    """Per (model, dataset, side): share of positive and of absolute attribution mass on ``terms``, and
    the share of word occurrences that are domain terms (the share a term-blind model would give). A word
    cut by truncation (``truncated``, :func:`irlens.ig.words.merge_words`) never counts as a term."""
    rows = []
    w = words[words["norm"] != ""]
    for key, g in w.groupby(GROUP + ["side"], sort=True):
        s = g["score"].to_numpy()
        is_dom = g["norm"].isin(terms).to_numpy()
        if "truncated" in g:
            is_dom = is_dom & ~g["truncated"].fillna(False).to_numpy(dtype=bool)
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
    words: pd.DataFrame,
    stats: dict[str, tuple[Counter, Counter]],
    n: int = 300,
    min_df: int = DOMAIN_MIN_DF,
    smoothing: float = DOMAIN_SMOOTHING,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For every dataset of ``words`` (sorted): its top-``n`` :func:`domain_terms` (against general English)
    and :func:`domain_share` on them. ``stats`` maps dataset name → :func:`word_stats` of its corpus; other
    entries are ignored. Returns (share table, vocabulary), both with a leading ``dataset`` column and a
    trailing ``reference`` column (:func:`reference_name`)."""
    ref = reference_name()
    rows, vocab = [], []
    for dataset in sorted(words["dataset"].unique()):
        if dataset not in stats:
            raise IrlensError(f"ig tables: no --corpus {dataset}=<corpus.jsonl> given for its in-domain terms")
        terms = domain_terms(*stats[dataset], n=n, min_df=min_df, smoothing=smoothing)
        terms.insert(0, "dataset", dataset)
        vocab.append(terms)
        rows.append(domain_share(words[words["dataset"] == dataset], set(terms["term"])))
    share, vocabulary = pd.concat(rows, ignore_index=True), pd.concat(vocab, ignore_index=True)
    share["reference"] = vocabulary["reference"] = ref
    return share, vocabulary


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
