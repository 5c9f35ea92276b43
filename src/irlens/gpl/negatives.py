"""GPL step 2: hard negatives for every pseudo-query, from dense miners and BM25.

Each miner ranks the whole corpus for every query of the queries step; its top ``k`` (GPL: 50)
minus the query's positives are that miner's negatives (so a query keeps ``k`` or ``k - |pos|``).
Miners:

* a bi-encoder (HF id or folder): exact search (:func:`irlens.retrieval.search.dense_search`) with
  ``score`` (GPL: ``cos_sim``, i.e. normalised embeddings). Documents are ``title + " " + text``. A
  corpus embedding file written by ``irlens retrieval encode`` for the same model can be given instead of
  re-encoding (``corpus_emb``); its ids must cover the corpus.
* ``bm25``: :func:`irlens.retrieval.bm25.bm25_search` (bm25s, Lucene variant, Snowball stemming, English
  stopwords); documents with score 0 (no shared term) are not negatives. GPL used Elasticsearch.

Output ``hard-negatives.jsonl``, one line per query in qrels order, as GPL writes it:
``{"qid": ..., "pos": [doc ids], "neg": {miner: [doc ids, best first]}}``. Each miner's result is kept
in ``<out>.partial/`` (and a dense miner's corpus encoding resumes in chunks), so a killed job reruns
only the miners it had not finished.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from irlens.errors import IrlensError

log = logging.getLogger(__name__)


def _dense_rankings(
    miner: str,
    doc_ids,
    doc_texts,
    q_texts,
    k,
    score,
    corpus_emb,
    local_dirs,
    device,
    max_seq_length,
    max_tokens,
    max_batch,
    partial_dir,
    progress,
    pins=None,
):
    from irlens.models import load_bi_encoder
    from irlens.retrieval.encode import encode_texts, load_embeddings
    from irlens.retrieval.search import dense_search

    model, resolved = load_bi_encoder(miner, local_dirs, device=device, max_seq_length=max_seq_length, pins=pins)
    if corpus_emb:
        emb, ids, meta = load_embeddings(corpus_emb)
        pos = {d: i for i, d in enumerate(ids)}
        missing = [d for d in doc_ids if d not in pos]
        if missing:
            raise IrlensError(
                f"{corpus_emb}: no embedding for {len(missing)} corpus documents (e.g. '{missing[0]}'); "
                "is it the corpus of this dataset?"
            )
        if emb.shape[1] != model.get_embedding_dimension():
            raise IrlensError(
                f"{corpus_emb}: {emb.shape[1]}-d embeddings, but miner '{miner}' gives "
                f"{model.get_embedding_dimension()}-d; is it this model's?"
            )
        d_emb = np.asarray(emb)[[pos[d] for d in doc_ids]]
        log.info("miner %s: corpus embeddings from %s", miner, corpus_emb)
    else:
        d_emb = encode_texts(
            model, doc_texts, max_tokens=max_tokens, max_batch=max_batch, partial_dir=partial_dir, progress=progress
        )
    q_emb = encode_texts(model, q_texts, max_tokens=max_tokens, max_batch=max_batch, progress=progress)
    _, idx = dense_search(q_emb, d_emb, k, score=score)
    return [[int(j) for j in row] for row in idx], resolved.sha256


def _bm25_rankings(doc_texts, q_texts, k, threads):
    from irlens.retrieval.bm25 import bm25_search

    scores, idx = bm25_search(doc_texts, q_texts, k, threads=threads)
    return [[int(j) for s, j in zip(srow, irow) if j >= 0 and s > 0] for srow, irow in zip(scores, idx)]


def mine_negatives(
    corpus: dict,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    miners: list[str],
    k: int = 50,
    score: str = "cos",
    corpus_emb: dict[str, str] | None = None,
    local_dirs=(),
    device: str | None = None,
    max_seq_length: int | None = None,
    max_tokens: int = 16384,
    max_batch: int = 256,
    threads: int = 1,
    partial_out: str | Path | None = None,
    progress: bool = True,
    pins: dict[str, str] | None = None,
) -> list[dict]:
    """Hard-negative records (see the module docstring), one per query of ``qrels``."""
    from irlens.data.beir import doc_text
    from irlens.resume import Partial, digest, fingerprint

    if k < 1:
        raise IrlensError(f"gpl negatives: k must be >= 1, got {k}")
    if not miners:
        raise IrlensError("gpl negatives: no miner given; name bi-encoders (HF ids or folders) and/or bm25")
    if len(set(miners)) != len(miners):
        raise IrlensError(f"gpl negatives: a miner is listed twice ({', '.join(miners)})")
    if score not in ("cos", "dot"):
        raise IrlensError(f"gpl negatives: score must be cos or dot, got '{score}'")
    unknown = sorted(set(corpus_emb or {}) - set(miners))
    if unknown:
        raise IrlensError(f"gpl negatives: corpus embeddings given for '{unknown[0]}', which is not a miner")
    qids = [q for q in qrels if qrels[q]]
    missing = [q for q in qids if q not in queries]
    if missing:
        raise IrlensError(f"gpl negatives: query '{missing[0]}' of the qrels has no text ({len(missing)} missing)")
    if not qids:
        raise IrlensError("gpl negatives: no query with a positive passage")
    bad = sorted({d for q in qids for d in qrels[q] if d not in corpus})
    if bad:
        raise IrlensError(
            f"gpl negatives: positive passage '{bad[0]}' is not in the corpus ({len(bad)} missing); "
            "are the queries from this dataset?"
        )
    doc_ids = list(corpus)
    doc_texts = [doc_text(corpus[d]) for d in doc_ids]
    q_texts = [queries[q] for q in qids]
    k = min(k, len(doc_ids))
    part = (
        Partial.for_output(
            partial_out,
            fingerprint(
                "negatives", digest(zip(doc_ids, doc_texts)), digest(zip(qids, q_texts)), k, score, max_seq_length
            ),
        )
        if partial_out
        else None
    )

    neg: dict[str, list[list[str]]] = {}
    for mi, miner in enumerate(miners):
        name = f"miner-{mi}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', miner)}"
        got = part.load(name) if part else None
        if got is not None and got.get("miner") == miner:
            log.info("miner %s: reused from %s", miner, part.dir)
            ranked = got["ranked"]
        else:
            if miner == "bm25":
                ranked = _bm25_rankings(doc_texts, q_texts, k, threads)
                sha = None
            else:
                pdir = (part.dir / f"{name}-corpus") if part else None
                ranked, sha = _dense_rankings(
                    miner,
                    doc_ids,
                    doc_texts,
                    q_texts,
                    k,
                    score,
                    (corpus_emb or {}).get(miner),
                    local_dirs,
                    device,
                    max_seq_length,
                    max_tokens,
                    max_batch,
                    pdir,
                    progress,
                    pins,
                )
            if part:
                part.save(name, {"miner": miner, "sha256": sha, "ranked": ranked})
        neg[miner] = [[doc_ids[j] for j in row if doc_ids[j] not in qrels[q]] for q, row in zip(qids, ranked)]
        sizes = [len(x) for x in neg[miner]]
        log.info(
            "miner %s: %d queries, %.1f negatives per query (min %d)",
            miner,
            len(qids),
            float(np.mean(sizes)),
            min(sizes),
        )
    return [{"qid": q, "pos": list(qrels[q]), "neg": {m: neg[m][i] for m in miners}} for i, q in enumerate(qids)]


def read_hard_negatives(path: str | Path) -> list[dict]:
    """Read ``hard-negatives.jsonl``; one :class:`IrlensError` naming the line on malformed input."""
    import json

    path = Path(path)
    if not path.is_file():
        raise IrlensError(f"{path}: file not found; run 'irlens gpl negatives' (or the gpl_negatives rule) first")
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise IrlensError(f"{path}:{lineno}: malformed JSON ({e.msg}); delete it and rerun") from None
            if not (
                isinstance(rec, dict)
                and isinstance(rec.get("qid"), str)
                and isinstance(rec.get("pos"), list)
                and isinstance(rec.get("neg"), dict)
            ):
                raise IrlensError(f'{path}:{lineno}: expected {{"qid": str, "pos": [...], "neg": {{miner: [...]}}}}')
            out.append(rec)
    return out
