"""The pairs NIG explains, and the loop that attributes them.

The paper (§4.2) attributes judged relevant and judged non-relevant (query, passage) pairs separately and
keeps only pairs the model classifies correctly. :func:`select_pairs` does the same per dataset. Where a
dataset has no judged non-relevant pairs (SciFact and NFCorpus judge only relevant ones), the
"non-relevant" pairs are top-ranked BM25 passages that carry no judgement for the query, the usual hard
negatives; their ``source`` column (``qrels`` / ``bm25-unjudged``) says so, the attribution tables carry it,
and :func:`irlens.nig.schemes.compute_schemes` leaves such sets out of every N-based scheme unless told to
keep them (``nig.unjudged_negatives``), as the paper leaves out BioASQ and FiQA.

:func:`attribute_pairs` runs :class:`~irlens.nig.attribute.CrossEncoderNIG` one pair per call (a
single pair's interpolation points already fill a chunk), so a pair's numbers never depend on which
other pairs share its job: sharded and unsharded runs are identical.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from irlens.data.beir import BeirDataset, doc_text
from irlens.errors import IrlensError
from irlens.retrieval.trec import trec_order

log = logging.getLogger(__name__)

LABEL_NAMES = {1: "relevant", 0: "non-relevant"}
TARGETS = {v: k for k, v in LABEL_NAMES.items()}


def candidate_pairs(ds: BeirDataset, split: str, bm25_run: dict | None, negatives_depth: int) -> pd.DataFrame:
    """Every candidate (qid, doc_id, target, source) of ``split``: judged relevant (grade > 0) pairs; judged
    non-relevant (grade 0) pairs, or, when the split has none, unjudged passages in the BM25 top
    ``negatives_depth`` of each judged query."""
    queries, qrels = ds.split(split)
    rows = []
    has_zero = False
    for qid in sorted(qrels):
        if qid not in queries:
            continue
        for did, grade in sorted(qrels[qid].items()):
            if did not in ds.corpus:
                continue
            if grade > 0:
                rows.append((qid, did, 1, "qrels"))
            else:
                has_zero = True
                rows.append((qid, did, 0, "qrels"))
    if not has_zero:
        if bm25_run is None:
            raise IrlensError(f"split '{split}' has no judged non-relevant pairs; pass a BM25 run for hard negatives")
        for qid in sorted(qrels):
            if qid not in queries or qid not in bm25_run:
                continue
            ranked = trec_order(bm25_run[qid])[:negatives_depth]
            rows += [(qid, did, 0, "bm25-unjudged") for did, _ in ranked if did not in qrels[qid] and did in ds.corpus]
    return pd.DataFrame(rows, columns=["qid", "doc_id", "target", "source"])


def select_pairs(
    ce,
    ds: BeirDataset,
    split: str,
    n_per_label: int,
    seed: int,
    bm25_run: dict | None = None,
    negatives_depth: int = 10,
    batch_size: int = 32,
) -> pd.DataFrame:
    """Up to ``n_per_label`` correctly classified pairs per label, drawn with ``seed``.

    Candidates are shuffled, scored in batches by the cross-encoder ``ce`` (P(relevant)), and kept while
    the model agrees with the label (P(relevant) > 0.5 for relevant pairs, < 0.5 for non-relevant ones).
    Returns columns qid, doc_id, target (1/0), label, source, p_relevant, pair (0-based order), and the
    candidate counts in ``df.attrs``.
    """
    import torch

    cand = candidate_pairs(ds, split, bm25_run, negatives_depth)
    rng = np.random.default_rng(seed)
    out, stats = [], {}
    for target in (1, 0):
        pool = cand[cand["target"] == target].reset_index(drop=True)
        pool = pool.iloc[rng.permutation(len(pool))].reset_index(drop=True)
        kept, scored, correct = [], 0, 0
        for s in range(0, len(pool), batch_size):
            if len(kept) >= n_per_label:
                break
            chunk = pool.iloc[s : s + batch_size]
            feats = ce.features(
                [ds.queries[q] for q in chunk["qid"]], [doc_text(ds.corpus[d]) for d in chunk["doc_id"]]
            )
            with torch.inference_mode():
                p = ce.relevance(ce.logits(feats)).double().cpu().numpy()
            scored += len(chunk)
            ok = (p > 0.5) if target == 1 else (p < 0.5)
            correct += int(ok.sum())
            for (_, row), pi, good in zip(chunk.iterrows(), p, ok):
                if good and len(kept) < n_per_label:
                    kept.append({**row.to_dict(), "p_relevant": float(pi)})
        name = LABEL_NAMES[target]
        stats[name] = {"candidates": int(len(pool)), "scored": scored, "correct": correct, "kept": len(kept)}
        if not kept and len(pool):
            log.warning("%s: no %s pair out of %d scored is classified correctly", split, name, scored)
        log.info(
            "%s pairs: %d kept of %d scored (%.0f%% correctly classified) out of %d candidates",
            name,
            len(kept),
            scored,
            100 * correct / max(scored, 1),
            len(pool),
        )
        out += kept
    df = pd.DataFrame(out, columns=["qid", "doc_id", "target", "source", "p_relevant"])
    df.insert(3, "label", df["target"].map(LABEL_NAMES))
    df.insert(0, "pair", np.arange(len(df)))
    df.attrs["selection"] = stats
    return df


def shard_rows(df: pd.DataFrame, shard: int, shards: int) -> pd.DataFrame:
    """Round-robin share ``shard`` (0-based) of ``shards`` of the rows."""
    if not 0 <= shard < shards:
        raise IrlensError(f"shard {shard} is outside 0..{shards - 1}")
    return df.iloc[shard::shards]


def attribute_pairs(
    nig, ce, ds: BeirDataset, pairs: pd.DataFrame, progress: bool = True
) -> tuple[np.ndarray, pd.DataFrame]:
    """NIG of each pair (one call per pair). Returns ``(values float32 [P, n_neurons], table)`` where the
    table has one row per pair: pair, qid, doc_id, label, source (where the pair comes from, see
    :func:`candidate_pairs`), f_input, f_baseline, rel_error, max_abs_cut_delta, tokens, seconds."""
    from tqdm import tqdm

    vals = np.zeros((len(pairs), nig.n_neurons), dtype=np.float32)
    rows = []
    it = tqdm(list(pairs.itertuples(index=False)), desc="NIG pairs", mininterval=10, disable=not progress)
    for i, p in enumerate(it):
        t0 = time.perf_counter()
        feats = ce.features([ds.queries[p.qid]], [doc_text(ds.corpus[p.doc_id])])
        r = nig.attribute(feats, [int(p.target)])
        vals[i] = r.values[0]
        rows.append(
            {
                "pair": int(p.pair),
                "qid": p.qid,
                "doc_id": p.doc_id,
                "label": p.label,
                "source": p.source,
                "f_input": float(r.f_input[0]),
                "f_baseline": float(r.f_baseline[0]),
                "rel_error": float(r.rel_error[0]),
                "max_abs_cut_delta": float(np.abs(r.cut_delta[0]).max()),
                "tokens": int(r.meta["tokens"]),
                "steps": r.steps,
                "rule": r.rule,
                "baseline": r.baseline,
                "seconds": time.perf_counter() - t0,
            }
        )
    return vals, pd.DataFrame(rows)


#: the files of one NIG shard or merged set ``<prefix>.<ext>``, written in this order: pairs last marks completion
NIG_FILES = ("npy", "neurons.parquet", "pairs.parquet")


def merge_shards(prefixes: list[str], out: str) -> pd.DataFrame:
    """Combine NIG shards ``<prefix>.{npy,neurons.parquet,pairs.parquet}`` into ``<out>.*``, rows in pair order.

    Every shard must exist and share one neuron layout (the same model). The rows of the values and of
    the pairs table are sorted by the ``pair`` column (stable), so merging shards in any order gives the
    unsharded result. Returns the merged pairs table.
    """
    from irlens.io import read_npy, read_parquet, write_npy, write_parquet

    if not prefixes:
        raise IrlensError("NIG merge: no shards given")
    made = "'irlens nig attribute' (the nig_attribute rule)"
    vals, tables, neurons = [], [], None
    for p in prefixes:
        for ext in NIG_FILES:
            if not Path(f"{p}.{ext}").is_file():
                raise IrlensError(
                    f"{p}.{ext}: NIG shard not found; run 'irlens nig attribute' (the nig_attribute rule) first"
                )
        n = read_parquet(f"{p}.neurons.parquet", "NIG neuron table", made)
        if neurons is not None and not n.equals(neurons):
            raise IrlensError(
                f"{p}.neurons.parquet: neuron layout differs from the other shards (different model?); rerun the shards"
            )
        neurons = n
        vals.append(read_npy(f"{p}.npy", "NIG values", made))
        tables.append(read_parquet(f"{p}.pairs.parquet", "NIG pairs table", made, columns=("pair",)))
        if len(vals[-1]) != len(tables[-1]):
            raise IrlensError(
                f"{p}.npy: {len(vals[-1])} rows but {len(tables[-1])} pairs in {p}.pairs.parquet; rerun the shard"
            )
    table = pd.concat(tables, ignore_index=True)
    v = np.concatenate(vals) if vals else np.zeros((0, len(neurons)), np.float32)
    order = np.argsort(table["pair"].to_numpy(), kind="stable")
    merged = table.iloc[order].reset_index(drop=True)
    write_npy(v[order], f"{out}.npy")
    write_parquet(neurons, f"{out}.neurons.parquet")
    write_parquet(merged, f"{out}.pairs.parquet")
    return merged
