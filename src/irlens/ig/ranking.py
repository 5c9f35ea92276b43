"""Ranking-level IG: attribute (query, document) pairs, as tables.

The paper (arXiv 2501.14459 §3) retrieves the top 25 documents per query with the model being explained,
attributes every pair and sums word attributions over the ranking. To compare models on the **same**
pairs, :func:`select_pairs` takes, per sampled query, the union of every compared model's top-k and the
query's judged relevant documents (``irlens ig pairs``); every model then attributes exactly that set
(``irlens ig attribute --pairs``). Without a pairs table a model attributes its own top-k.
:func:`attribute_rankings` produces three tables (pandas DataFrames, saved as parquet by the CLI):

- ``pairs``: one row per (qid, docid, side) with s(x), s(x′), completeness delta, relative error, steps,
  this model's rank (0: not ranked), ``in_topk`` (in this model's top-k) and ``relevant`` (judged > 0);
- ``words``: word-level scores (:mod:`irlens.ig.words`), ``in_title`` flagged for documents, and
  ``score_norm`` = score / (s(x) − s(x′)) (the pair's completeness total; invariant to the score's scale);
- ``tokens``: word-piece scores (what the instance heatmaps show).

Side ``untitled`` attributes the documents again with their title stripped (positional control of the
title share: :func:`irlens.ig.analysis.title_share`).

Each query is attributed in its own call, so the numbers depend only on the query, never on which other
queries share a shard: sharded and unsharded runs give identical tables.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from irlens.data.beir import BeirDataset, doc_text
from irlens.errors import IrlensError
from irlens.ig.bi_encoder import BiEncoderIG
from irlens.ig.words import merge_words, title_chars
from irlens.io import atomic_path, read_parquet
from irlens.retrieval.trec import trec_order

log = logging.getLogger(__name__)


def select_queries(ds: BeirDataset, split: str, run: dict, n: int, seed: int) -> list[str]:
    """``n`` judged queries of ``split`` that the run ranks, drawn with ``seed`` (all of them if n ≤ 0);
    sorted by id."""
    queries, qrels = ds.split(split)
    pool = sorted(q for q in qrels if q in queries and run.get(q))
    if not pool:
        raise IrlensError(f"no query of split '{split}' is both judged and ranked by the run")
    if 0 < n < len(pool):
        rng = np.random.default_rng(seed)
        pool = sorted(rng.choice(pool, size=n, replace=False).tolist())
    return pool


def shard_of(qids: list[str], shard: int, shards: int) -> list[str]:
    """Round-robin share ``shard`` (0-based) of ``shards``."""
    if not 0 <= shard < shards:
        raise IrlensError(f"shard {shard} is outside 0..{shards - 1}")
    return qids[shard::shards]


def top_k(run: dict, qid: str, k: int) -> list[tuple[str, float]]:
    """The run's ``k`` best documents of ``qid`` in trec_eval's order (descending score as float32, ties by doc
    id descending: :func:`irlens.retrieval.trec.trec_order`), so the explained ranking is the evaluated one."""
    return trec_order(run[qid])[:k]


def check_rankings(ds: BeirDataset, run: dict, qids: list[str], k: int) -> None:
    """Every selected query and every top-``k`` document exists in the dataset (one clear error otherwise)."""
    for qid in qids:
        if qid not in ds.queries:
            raise IrlensError(f"query id '{qid}' is not in the dataset's queries.jsonl")
        if not ds.queries[qid].strip():
            raise IrlensError(f"query '{qid}' has empty text in queries.jsonl; IG needs words to attribute")
        for docid, _ in top_k(run, qid, k):
            if docid not in ds.corpus:
                raise IrlensError(
                    f"run ranks document '{docid}' for query '{qid}', but it is not in corpus.jsonl; "
                    "rebuild the run for this corpus"
                )


def select_pairs(ds: BeirDataset, split: str, runs: dict[str, dict], n: int, seed: int, k: int) -> pd.DataFrame:
    """The (query, document) pairs every compared model attributes: for ``n`` judged queries ranked by every
    run (drawn with ``seed`` as :func:`select_queries`), the union of each run's top-``k`` and the query's
    judged relevant documents (qrels > 0). One row per (qid, docid) with ``pair`` (0-based order within the
    query: by best rank over the runs, then relevant-only documents by id), ``relevant``, ``qrel``,
    ``top_k``, and per run label L ``rank_L`` (rank in L's top-k, 0 if not in it) and ``topk_L``."""
    if not runs:
        raise IrlensError("ig pairs: give at least one run")
    queries, qrels = ds.split(split)
    both = {q: r for q, r in next(iter(runs.values())).items() if all(run.get(q) for run in runs.values())}
    qids = select_queries(ds, split, both, n, seed)
    rows = []
    for qid in qids:
        ranks = {lab: {d: i for i, (d, _) in enumerate(top_k(run, qid, k), 1)} for lab, run in runs.items()}
        rel = {str(d): int(g) for d, g in qrels.get(qid, {}).items() if int(g) > 0 and str(d) in ds.corpus}
        docs = set(rel).union(*[set(r) for r in ranks.values()])
        best = {d: min((r[d] for r in ranks.values() if d in r), default=k + 1) for d in docs}
        for i, d in enumerate(sorted(docs, key=lambda d: (best[d], d))):
            row = {"qid": qid, "docid": d, "pair": i, "relevant": d in rel, "qrel": rel.get(d, 0), "top_k": k}
            for lab, r in ranks.items():
                row[f"rank_{lab}"] = r.get(d, 0)
                row[f"topk_{lab}"] = d in r
            rows.append(row)
    return pd.DataFrame(rows)


def read_pairs(path: str) -> pd.DataFrame:
    """The pairs table written by ``irlens ig pairs`` (:func:`select_pairs`)."""
    return read_parquet(path, "IG pairs table", "'irlens ig pairs' (or the ig_pairs rule)")


def _run_rank(run: dict, qid: str) -> dict[str, tuple[int, float]]:
    return {d: (i, s) for i, (d, s) in enumerate(trec_order(run.get(qid, {})), 1)}


#: side of the positional control: the document side of the same documents with their title stripped
UNTITLED = "untitled"


def attribute_rankings(
    ig: BiEncoderIG,
    ds: BeirDataset,
    run: dict,
    qids: list[str],
    k: int,
    sides: tuple[str, ...] = ("document", "query"),
    labels: dict | None = None,
    progress: bool = True,
    pairs_table: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """IG for the pairs of every query in ``qids``; returns ``{"pairs", "words", "tokens"}`` tables.

    The pairs are the query's rows of ``pairs_table`` (:func:`select_pairs`, shared by the compared models)
    or, without it, the run's top-``k``. ``sides``: ``document``, ``query`` and ``untitled`` (the document
    side of the body alone, title stripped; the full text when the body is empty): the positional control
    of the title share. ``labels`` (e.g. ``{"model": "minilm", "dataset": "scifact"}``)
    are added as leading columns.
    """
    from tqdm import tqdm

    labels = dict(labels or {})
    if pairs_table is None:
        check_rankings(ds, run, qids, k)
    pairs, words, tokens = [], [], []
    for qid in tqdm(qids, desc="IG queries", disable=not progress):
        first = len(pairs)
        if pairs_table is None:
            judged = [q.get(qid, {}) for q in ds.qrels.values()]  # the loaded split(s)
            chosen = [(d, {"relevant": any(int(j.get(d, 0)) > 0 for j in judged)}) for d, _ in top_k(run, qid, k)]
            k_in = k
        else:
            sel = pairs_table[pairs_table["qid"] == qid].sort_values("pair")
            chosen = [(d, {"relevant": bool(r)}) for d, r in zip(sel["docid"], sel["relevant"])]
            k_in = int(sel["top_k"].iloc[0]) if len(sel) else k
            missing = [d for d, _ in chosen if d not in ds.corpus]
            if missing:
                raise IrlensError(f"pairs table lists document '{missing[0]}' for query '{qid}', not in corpus.jsonl")
        ranked = _run_rank(run, qid)
        query = ds.queries[qid]
        texts = [doc_text(ds.corpus[d]) for d, _ in chosen]
        titles = [title_chars(ds.corpus[d].get("title")) for d, _ in chosen]
        for side in sides:
            t0 = time.perf_counter()
            if side == UNTITLED:  # the document side of the same documents with the title stripped
                bodies = [(ds.corpus[d].get("text") or "").strip() or t for (d, _), t in zip(chosen, texts)]
                attrs = ig.attribute([(query, t) for t in bodies], side="document")
                titles_side = [0] * len(chosen)
            else:
                attrs = ig.attribute([(query, t) for t in texts], side=side)
                titles_side = titles if side == "document" else [0] * len(chosen)
            secs = (time.perf_counter() - t0) / max(len(attrs), 1)
            for i, ((docid, extra), a, tchars) in enumerate(zip(chosen, attrs, titles_side)):
                rank, rscore = ranked.get(docid, (0, float("nan")))
                key = {**labels, "qid": qid, "docid": docid, "pair": i, "rank": rank, "side": side}
                gap = a.score - a.baseline_score
                pairs.append(
                    {
                        **key,
                        "in_topk": 0 < rank <= k_in,
                        **extra,
                        "retrieval_score": float(rscore),
                        "score": a.score,
                        "baseline_score": a.baseline_score,
                        "attr_sum": float(a.scores.sum()),
                        "delta": a.delta,
                        "rel_error": a.rel_error,
                        "steps": a.steps,
                        "converged": bool(a.meta.get("converged", True)),
                        "n_tokens": len(a.tokens),
                        "seconds": secs,
                        "method": a.method,
                        "baseline": a.baseline,
                    }
                )
                for w in merge_words(a, title_chars=tchars):
                    words.append({**key, **w, "score_norm": w["score"] / gap if gap != 0 else float("nan")})
                for pos, (tok, (s, e), sp, sc) in enumerate(zip(a.tokens, a.offsets, a.special, a.scores)):
                    tokens.append(
                        {
                            **key,
                            "position": pos,
                            "token": tok,
                            "start": int(s),
                            "end": int(e),
                            "special": bool(sp),
                            "score": float(sc),
                        }
                    )
        done = pairs[first:]
        log.info(
            "query %s: %d pairs, max rel. completeness error %.2e, mean steps %.1f",
            qid,
            len(done),
            max(p["rel_error"] for p in done),
            np.mean([p["steps"] for p in done]),
        )
    return {"pairs": pd.DataFrame(pairs), "words": pd.DataFrame(words), "tokens": pd.DataFrame(tokens)}


TABLES = ("pairs", "words", "tokens")
ORDER = ["qid", "side", "pair"]


def merge_tables(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Concatenate shard tables in a canonical order (qid, side, pair, then position/word)."""
    out = {}
    for name in TABLES:
        frames = [p[name] for p in parts if name in p and len(p[name])]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if len(df):
            extra = {"words": ["word_index"], "tokens": ["position"]}.get(name, [])
            df = df.sort_values(ORDER + extra, kind="stable").reset_index(drop=True)
        out[name] = df
    return out


def top1_pairs(ds: BeirDataset, run: dict, qids: list[str]) -> list[tuple[str, str]]:
    """(query text, document text) of each query's top-1 document in ``run``, in ``qids`` order."""
    return [(ds.queries[q], doc_text(ds.corpus[top_k(run, q, 1)[0][0]])) for q in qids]


FILE_ORDER = ("tokens", "words", "pairs")  # written in this order: pairs last marks a complete output


def read_tables(prefix: str) -> dict[str, pd.DataFrame]:
    """The IG tables ``<prefix>.{tokens,words,pairs}.parquet`` as ``{name: DataFrame}``.

    Raises :class:`~irlens.errors.IrlensError` naming the first missing or unreadable file."""
    made = "'irlens ig attribute' (or the ig_attribute rule)"
    return {name: read_parquet(f"{prefix}.{name}.parquet", "IG table", made) for name in FILE_ORDER}


def write_tables(tables: dict[str, pd.DataFrame], prefix: str) -> None:
    """Write ``tables`` to ``<prefix>.{tokens,words,pairs}.parquet`` atomically, ``pairs`` last (the
    marker of a complete output); creates the parent folder."""
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    for name in FILE_ORDER:
        with atomic_path(f"{prefix}.{name}.parquet", suffix=".parquet") as tmp:
            tables[name].to_parquet(tmp, index=False)


def concat_tables(tables: list[dict[str, pd.DataFrame]], name: str) -> pd.DataFrame:
    """Table ``name`` of every element of ``tables`` stacked (fresh index), e.g. the words of several models."""
    return pd.concat([t[name] for t in tables], ignore_index=True)
