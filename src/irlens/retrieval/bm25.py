"""BM25 through bm25s (Lucene variant), with Snowball stemming and English stopwords by default."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def bm25_search(
    doc_texts: list[str],
    query_texts: list[str],
    k: int,
    k1: float = 0.9,
    b: float = 0.4,
    method: str = "lucene",
    stemmer: str | None = "english",
    stopwords: str | None = "en",
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Index ``doc_texts`` and return ``(scores [nq, k'], indices [nq, k'])`` for ``query_texts``.

    Tokenisation: bm25s default (lower-case, ``\\b\\w\\w+\\b``), stopwords removed, Snowball stem.
    Rows are sorted by descending score, ties by ascending index.
    """
    import bm25s

    stem = None
    if stemmer:
        import Stemmer

        if stemmer not in Stemmer.algorithms():
            from irlens.errors import IrlensError

            raise IrlensError(
                f"BM25 stemmer '{stemmer}' unknown; choose a Snowball language ({', '.join(Stemmer.algorithms())}) "
                "or 'none'"
            )
        stem = Stemmer.Stemmer(stemmer)
    corpus_tokens = bm25s.tokenize(doc_texts, stopwords=stopwords, stemmer=stem, show_progress=False)
    retriever = bm25s.BM25(method=method, k1=k1, b=b)
    retriever.index(corpus_tokens, show_progress=False)
    q_tokens = bm25s.tokenize(query_texts, stopwords=stopwords, stemmer=stem, return_ids=False, show_progress=False)
    vocab = corpus_tokens.vocab
    q_tokens = [[t for t in q if t in vocab] for q in q_tokens]
    k = min(k, len(doc_texts))
    scores = np.zeros((len(query_texts), k), dtype=np.float32)
    idx = np.zeros((len(query_texts), k), dtype=np.int64)
    nonempty = [i for i, q in enumerate(q_tokens) if q]
    if len(nonempty) < len(q_tokens):
        log.warning("%d queries have no indexed term; they get an empty ranking", len(q_tokens) - len(nonempty))
    if nonempty:
        res, sc = retriever.retrieve([q_tokens[i] for i in nonempty], k=k, show_progress=False, n_threads=threads)
        scores[nonempty], idx[nonempty] = sc, res
    order = np.lexsort((idx, -scores), axis=1)
    scores, idx = np.take_along_axis(scores, order, 1), np.take_along_axis(idx, order, 1)
    empty = np.array([not q for q in q_tokens])
    idx[empty] = -1
    return scores, idx
