"""GPL step 3: pseudo-labels — the teacher cross-encoder's margin for each training tuple.

Tuples (:func:`sample_tuples`)
    Exactly ``steps × batch_size`` ``(qid, pos, neg)`` tuples, as GPL's ``PseudoLabeler`` draws them:
    queries in seeded random order, epoch after epoch (GPL: a shuffled ``DataLoader`` over the
    hard-negative file, restarted when exhausted), each giving one tuple with one random positive and
    one random negative from the union of all miners' lists (``HardNegativeDataset._sample_tuple``).
    Queries without a positive or a negative are skipped, as GPL does. Unlike GPL the union keeps the
    miners' order (GPL draws from a ``set``, whose order is not reproducible) and the last epoch is
    not cut to whole batches (GPL's ``drop_last``), so the draw is a pure function of ``seed``.

Margins (:func:`pseudo_label`)
    ``margin = CE(q, pos) − CE(q, neg)`` on raw scores, no sigmoid/softmax, where ``CE`` is the
    teacher's relevance logit: the logit itself for a 1-logit head (``cross-encoder/ms-marco-MiniLM-L-6-v2``),
    and **relevant-logit − non-relevant-logit** for a 2-logit head (monoBERT, the reranker
    ``irlens cross-encoder train`` fits). The latter is the log-odds ``log p(rel) / p(non-rel)``, the
    2-logit counterpart of the 1-logit head's score, and unlike ``log_softmax`` it is not bounded by 0.
    As GPL (``pl.py:retokenize``), the query, the positive and the negative are each tokenised with
    the teacher's tokenizer, truncated to ``max_length`` tokens (GPL: 350) and decoded back to text
    before the pair is scored (so the budget applies to each text, not to the concatenated pair); the
    pair itself is then truncated to the teacher's ``max_length`` (512 at most), document first
    (:meth:`CrossEncoder.features <irlens.models.cross_encoder.CrossEncoder.features>`; GPL's
    sentence-transformers ``CrossEncoder`` truncates ``longest_first``).

The output ``gpl-training-data.tsv`` has GPL's layout: ``qid \\t pos \\t neg \\t margin`` per line, no
header, in training order (the trainer reads it front to back). Tuples are scored in chunks of
``chunk`` tuples; finished chunks are kept in ``<out>.partial/`` so a killed job resumes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from irlens.errors import IrlensError

log = logging.getLogger(__name__)


def negative_union(rec: dict) -> list[str]:
    """All miners' negatives of one hard-negative record, deduplicated, in miner order."""
    return list(dict.fromkeys(d for miner in rec["neg"] for d in rec["neg"][miner]))


def sample_tuples(records: list[dict], n: int, seed: int) -> list[tuple[str, str, str]]:
    """``n`` tuples ``(qid, pos, neg)`` drawn as GPL does (see the module docstring)."""
    usable = [(r["qid"], list(r["pos"]), negative_union(r)) for r in records]
    usable = [u for u in usable if u[1] and u[2]]
    if not usable:
        raise IrlensError("gpl pseudo-labels: no query has both a positive and a hard negative")
    rng = np.random.default_rng([seed, 3])
    out, perm = [], []
    while len(out) < n:
        if not perm:
            perm = list(rng.permutation(len(usable)))
        q, pos, neg = usable[perm.pop(0)]
        out.append((q, pos[int(rng.integers(len(pos)))], neg[int(rng.integers(len(neg)))]))
    return out


def retokenize(tokenizer, texts: list[str], max_length: int) -> list[str]:
    """GPL's ``retokenize``: strip, tokenise, truncate to ``max_length`` tokens, decode without special tokens."""
    if not texts:
        return []
    enc = tokenizer([t.strip() for t in texts], truncation=True, max_length=max_length, padding=False)
    return tokenizer.batch_decode(enc["input_ids"], skip_special_tokens=True, clean_up_tokenization_spaces=True)


def relevance_logits(ce, logits):
    """``[B]`` raw relevance score: 1 logit → the logit; 2 logits → relevant minus non-relevant logit."""
    if ce.num_labels == 1:
        return logits[:, 0]
    r = int(ce.relevant_label)
    return logits[:, r] - logits[:, 1 - r]


def teacher_scores(ce, queries: list[str], docs: list[str], max_tokens: int = 8192, max_batch: int = 64) -> np.ndarray:
    """Raw relevance scores (:func:`relevance_logits`) of each pair, float64 ``[n]``; length-sorted batches."""
    import torch

    from irlens.runtime import plan_batches

    n = len(queries)
    out = np.zeros(n, dtype=np.float64)
    if n == 0:
        return out
    order, batches = plan_batches(np.asarray(ce.pair_lengths(queries, docs)), max_tokens, max_batch)
    with torch.inference_mode():
        for s, e in batches:
            idx = order[s:e]
            f = ce.features([queries[i] for i in idx], [docs[i] for i in idx])
            out[idx] = relevance_logits(ce, ce.logits(f)).double().cpu().numpy()
    return out


def pseudo_label(
    ce,
    tuples: list[tuple[str, str, str]],
    queries: dict[str, str],
    doc_texts: dict[str, str],
    max_length: int | None = 350,
    chunk: int = 2048,
    max_tokens: int = 8192,
    max_batch: int = 64,
    partial_out: str | Path | None = None,
    key_extra=None,
    progress: bool = True,
) -> np.ndarray:
    """Teacher margins ``CE(q, pos) − CE(q, neg)`` of ``tuples`` (float64 ``[n]``; see the module docstring).

    ``ce`` is a :class:`irlens.models.cross_encoder.CrossEncoder` (or any object with ``tokenizer``,
    ``num_labels``, ``relevant_label``, ``pair_lengths``, ``features`` and ``logits``).
    ``max_length`` None skips the per-text retokenisation. Within a chunk each distinct pair is
    scored once.
    """
    from tqdm import tqdm

    from irlens.resume import Partial, digest, fingerprint

    if chunk < 1:
        raise IrlensError(f"gpl pseudo-labels: chunk must be >= 1, got {chunk}")
    part = (
        Partial.for_output(partial_out, fingerprint("labels", digest(tuples), max_length, chunk, key_extra))
        if partial_out
        else None
    )
    cache_q: dict[str, str] = {}
    cache_d: dict[str, str] = {}

    def texts(ids, src, cache):
        todo = [i for i in dict.fromkeys(ids) if i not in cache]
        if todo:
            raw = [src[i] for i in todo]
            cache.update(zip(todo, retokenize(ce.tokenizer, raw, max_length) if max_length else raw))
        return [cache[i] for i in ids]

    margins = np.zeros(len(tuples), dtype=np.float64)
    bar = tqdm(total=len(tuples), desc="pseudo-label", unit="tuple", disable=not progress, mininterval=5)
    for ci, s in enumerate(range(0, len(tuples), chunk)):
        batch = tuples[s : s + chunk]
        got = part.load(f"chunk-{ci:05d}") if part else None
        if got is None or len(got) != len(batch):
            pairs = list(dict.fromkeys([(q, p) for q, p, _ in batch] + [(q, n) for q, _, n in batch]))
            scores = teacher_scores(
                ce,
                texts([q for q, _ in pairs], queries, cache_q),
                texts([d for _, d in pairs], doc_texts, cache_d),
                max_tokens,
                max_batch,
            )
            score = dict(zip(pairs, scores.tolist()))
            got = [score[(q, p)] - score[(q, n)] for q, p, n in batch]
            if part:
                part.save(f"chunk-{ci:05d}", got)
        margins[s : s + len(batch)] = got
        bar.update(len(batch))
    bar.close()
    if part and part.reused:
        log.info("resumed: %d chunks reused from %s", part.reused, part.dir)
    return margins


def write_training_data(path: str | Path, tuples: list[tuple[str, str, str]], margins) -> None:
    """``qid \\t pos \\t neg \\t margin`` lines (GPL's ``gpl-training-data.tsv``), atomically."""
    from irlens.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for (q, p, n), m in zip(tuples, margins):
            fh.write(f"{q}\t{p}\t{n}\t{float(m)!r}\n")


def read_training_data(path: str | Path) -> list[tuple[str, str, str, float]]:
    """Read ``gpl-training-data.tsv`` (a header line ``query-id ...`` or ``qid ...`` is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise IrlensError(
            f"{path}: file not found; run 'irlens gpl pseudo-labels' (or the gpl_pseudo_labels rule) first"
        )
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            if lineno == 1 and parts[0] in ("qid", "query-id", "query_id"):
                continue
            if len(parts) != 4:
                raise IrlensError(
                    f"{path}:{lineno}: expected 4 tab-separated columns (qid, pos, neg, margin), got {len(parts)}"
                )
            try:
                m = float(parts[3])
            except ValueError:
                raise IrlensError(f"{path}:{lineno}: margin '{parts[3]}' is not a number") from None
            if not np.isfinite(m):
                raise IrlensError(f"{path}:{lineno}: margin is {m}; the teacher produced a non-finite score")
            out.append((parts[0], parts[1], parts[2], m))
    return out
