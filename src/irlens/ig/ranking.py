"""Ranking-level IG: attribute every (query, document) pair of each query's top-k, as tables.

The paper (arXiv 2501.14459 §3) retrieves the top 25 documents per query with the model being explained,
attributes every pair and sums word attributions over the ranking. :func:`attribute_rankings` produces
three tables (pandas DataFrames, saved as parquet by the CLI):

- ``pairs``: one row per (qid, docid, side) with s(x), s(x′), completeness delta, relative error, steps;
- ``words``: word-level scores (:mod:`irlens.ig.words`), ``in_title`` flagged for documents;
- ``tokens``: word-piece scores (what the instance heatmaps show).

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


def attribute_rankings(
    ig: BiEncoderIG,
    ds: BeirDataset,
    run: dict,
    qids: list[str],
    k: int,
    sides: tuple[str, ...] = ("document", "query"),
    labels: dict | None = None,
    progress: bool = True,
) -> dict[str, pd.DataFrame]:
    """IG for the top-``k`` pairs of every query in ``qids``; returns ``{"pairs", "words", "tokens"}`` tables.

    ``labels`` (e.g. ``{"model": "minilm", "dataset": "scifact"}``) are added as leading columns.
    """
    from tqdm import tqdm

    labels = dict(labels or {})
    check_rankings(ds, run, qids, k)
    pairs, words, tokens = [], [], []
    for qid in tqdm(qids, desc="IG queries", disable=not progress):
        first = len(pairs)
        ranked = top_k(run, qid, k)
        query = ds.queries[qid]
        texts = [doc_text(ds.corpus[d]) for d, _ in ranked]
        titles = [title_chars(ds.corpus[d].get("title")) for d, _ in ranked]
        for side in sides:
            t0 = time.perf_counter()
            attrs = ig.attribute([(query, t) for t in texts], side=side)
            secs = (time.perf_counter() - t0) / max(len(attrs), 1)
            for rank, ((docid, rscore), a, tchars) in enumerate(zip(ranked, attrs, titles), 1):
                key = {**labels, "qid": qid, "docid": docid, "rank": rank, "side": side}
                pairs.append(
                    {
                        **key,
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
                for w in merge_words(a, title_chars=tchars if side == "document" else 0):
                    words.append({**key, **w})
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
ORDER = ["qid", "side", "rank"]


def merge_tables(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Concatenate shard tables in a canonical order (qid, side, rank, then position/word)."""
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
