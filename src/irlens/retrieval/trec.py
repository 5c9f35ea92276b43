"""TREC run files: ``qid Q0 docid rank score tag``, and the one ranking order of a run (:func:`trec_order`).

Scores are written with full double precision (``repr(float(score))``, the shortest text that reads back
as the same float, so a run read back is the run written): rounding to 6 decimals turned scores that differ
by less than 1e-6 (e.g. cosines, whose float32 step is 6e-8) into ties, which trec_eval breaks by docno.
Every place that ranks a run dict uses :func:`trec_order`, trec_eval's own order, so the rank column, IG's
top-k, NIG's negatives, the reranker's head and the metrics all see one ranking.
"""

from __future__ import annotations

from array import array
from pathlib import Path

from irlens.errors import IrlensError
from irlens.io import atomic_path

Run = dict[str, dict[str, float]]  # query id -> {doc id -> score}


def trec_order(docs: dict[str, float]) -> list[tuple[str, float]]:
    """``(docid, score)`` in trec_eval's ranking order: score descending, then docno descending.

    trec_eval (and pytrec_eval, checked in tests/retrieval/test_trec.py) holds a score as a C ``float``, so
    it compares scores rounded to float32 (0.5 and 0.5 + 1e-8 tie) and breaks ties by ``strcmp`` of the
    docnos, larger first; Python's ``str`` order is the byte order of their UTF-8 encoding. This does the
    same, so a ranking read here (IG's top-k, NIG's negatives, the reranker's head, the rank column of a run
    file) is the one trec_eval scores. The returned scores are the given ones, not rounded.
    """
    ids = list(docs)
    sims = array("f", docs.values())  # the float32 scores trec_eval compares
    order = sorted(range(len(ids)), key=ids.__getitem__, reverse=True)
    order.sort(key=lambda i: -sims[i])  # stable: ties stay in docno-descending order
    return [(ids[i], docs[ids[i]]) for i in order]


def write_run(run: Run, path: str | Path, tag: str = "irlens") -> None:
    """Write ``run`` in :func:`trec_order` atomically, scores at full precision (they read back exactly)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for qid in run:
            for rank, (did, s) in enumerate(trec_order(run[qid]), 1):
                fh.write(f"{qid} Q0 {did} {rank} {float(s)!r} {tag}\n")


def read_run(path: str | Path) -> Run:
    """``{qid: {docid: score}}`` of a TREC run file (one-line errors name the file and line)."""
    path = Path(path)
    if not path.is_file():
        raise IrlensError(f"{path}: run file not found")
    run: Run = {}
    lineno = 0
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 6:
                    raise IrlensError(
                        f"{path}:{lineno}: expected 6 columns 'qid Q0 docid rank score tag', got {len(parts)}"
                    )
                try:
                    run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
                except ValueError:
                    raise IrlensError(f"{path}:{lineno}: score '{parts[4]}' is not a number") from None
    except UnicodeDecodeError:
        raise IrlensError(f"{path}:{lineno + 1}: not UTF-8 text; expected a TREC run file") from None
    return run


def run_from_topk(qids: list[str], doc_ids: list[str], scores, indices) -> Run:
    """Build a run from ``[nq, k]`` score/index arrays; index ``-1`` marks an empty slot."""
    run: Run = {}
    for qi, qid in enumerate(qids):
        run[qid] = {doc_ids[j]: float(s) for s, j in zip(scores[qi], indices[qi]) if j >= 0}
    return run
