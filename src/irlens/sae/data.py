"""Embedding inputs of SAE training and evaluation: cached ``corpus.npy`` / ``queries.npy`` folders.

A folder is what ``irlens retrieval encode`` writes (e.g. ``results/embeddings/minilm/scifact/``):
``corpus.npy`` + ``corpus.json`` and, optionally, ``queries.npy`` + ``queries.json`` (ids in the sidecar).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irlens.errors import IrlensError


def load_embeddings_file(path: str | Path) -> tuple[np.ndarray, list[str], dict]:
    """``(matrix, ids, metadata)`` of one cached ``<side>.npy`` (ids and metadata from its ``<side>.json``
    sidecar); a missing file is an :class:`~irlens.errors.IrlensError` that names the encode step."""
    from irlens.retrieval.encode import load_embeddings

    path = Path(path)
    if not path.is_file():
        raise IrlensError(f"{path}: embeddings not found; run 'irlens retrieval encode' (the encode rule) first")
    return load_embeddings(path)


def load_train_part(
    folder: str | Path, exclude_qids: set[str] | None = None, name: str | None = None, sentences: bool = False
) -> dict:
    """One training part: the folder's corpus and its queries except ``exclude_qids`` (evaluation queries).

    ``sentences``: also the folder's ``sentences.npy`` (corpus sentences, ``irlens retrieval encode --side
    sentences``), appended to the queries: extra pseudo-queries for reconstruction and the retrieval losses.
    """
    folder = Path(folder)
    corpus, doc_ids, meta = load_embeddings_file(folder / "corpus.npy")
    part = {
        "name": name or folder.name,
        "corpus": corpus,
        "queries": None,
        "model": (meta.get("model") or {}).get("id"),
        "folder": str(folder),
    }
    if (folder / "queries.npy").is_file():
        q, qids, _ = load_embeddings_file(folder / "queries.npy")
        keep = np.array([i for i, qid in enumerate(qids) if qid not in (exclude_qids or set())], dtype=np.int64)
        part["queries"] = q[keep]
        part["queries_excluded"] = int(len(qids) - len(keep))
    if sentences:
        sv, _, _ = load_embeddings_file(folder / "sentences.npy")
        if sv.shape[1] != corpus.shape[1]:
            raise IrlensError(
                f"{folder / 'sentences.npy'}: width {sv.shape[1]} differs from the corpus' {corpus.shape[1]}; "
                f"re-encode with the same model"
            )
        part["queries"] = sv if part["queries"] is None else np.concatenate([part["queries"], sv])
        part["sentences"] = int(len(sv))
    return part


def load_eval_set(
    folder: str | Path, qrels_path: str | Path
) -> tuple[np.ndarray, list[str], np.ndarray, list[str], dict]:
    """``(corpus, doc_ids, queries, query_ids, qrels)``: the folder's corpus and its queries judged in
    ``qrels_path``."""
    from irlens.data.beir import read_qrels

    folder = Path(folder)
    corpus, doc_ids, _ = load_embeddings_file(folder / "corpus.npy")
    q, qids, _ = load_embeddings_file(folder / "queries.npy")
    qrels = read_qrels(qrels_path)
    keep = [i for i, qid in enumerate(qids) if qrels.get(qid)]
    if not keep:
        raise IrlensError(
            f"{qrels_path}: no judged query is in {folder / 'queries.json'}; wrong qrels for these embeddings?"
        )
    return corpus, doc_ids, q[np.array(keep)], [qids[i] for i in keep], qrels
