"""TREC run files: ``qid Q0 docid rank score tag``."""

from __future__ import annotations

from pathlib import Path

from irlens.errors import IrlensError
from irlens.io import atomic_path

Run = dict[str, dict[str, float]]  # query id -> {doc id -> score}


def write_run(run: Run, path: str | Path, tag: str = "irlens") -> None:
    """Write ``run`` ranked by descending score (ties by doc id) atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for qid in run:
            ranked = sorted(run[qid].items(), key=lambda kv: (-kv[1], kv[0]))
            for rank, (did, s) in enumerate(ranked, 1):
                fh.write(f"{qid} Q0 {did} {rank} {s:.6f} {tag}\n")


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
