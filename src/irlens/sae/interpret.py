"""Interpreting SAE latents without an LLM (top-activating texts, frequent words, N2G patterns).

* :func:`top_activating` — per latent, the rows (documents or queries) on which it fires most, with values.
* :func:`token_log_odds` — words over-represented in a latent's top documents compared with the whole
  corpus: the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008)::

      δ_w = log((y_w + a_w) / (n + a − y_w − a_w)) − log((c_w + a_w) / (N + a − c_w − a_w))
      z_w = δ_w / sqrt(1/(y_w + a_w) + 1/(c_w + a_w))

  with ``y_w`` / ``n`` the count of word ``w`` / all words in the top documents, ``c_w`` / ``N`` the same
  in the corpus, and prior ``a_w = prior · c_w / N`` (``a = prior``). Words are ranked by ``z_w``.
* :func:`describe_latents` — both, for a list of latents, as a JSON-able record.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from irlens.errors import IrlensError
from irlens.sae.retrieval import sparse_codes

_WORD = re.compile(r"[a-z][a-z0-9\-]+")
STOPWORDS = frozenset(
    "a an and are as at be been but by can could did do does for from had has have he her his how i if in "
    "into is it its "
    "may more most no not of on or our she should so such than that the their them then there these they this those to "
    "was we were what when where which while who whom why will with would you your also other all any both each few "
    "some only own same very between during after before above below up down out over under again further once here "
    "about against because being having itself than too until via vs".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case words of two or more characters (letters, digits, hyphens), stop words removed."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def top_activating(
    vals: np.ndarray, idx: np.ndarray, n_latents: int, latents: list[int] | np.ndarray, n: int = 10
) -> dict[int, list[tuple[int, float]]]:
    """For each latent, up to ``n`` ``(row, value)`` pairs with the largest activations (value desc, row asc).

    ``vals, idx [rows, k]`` are the top-k codes of the rows. Rows where the latent does not fire are left out.
    """
    cols = sparse_codes(vals, idx, n_latents).tocsc()
    out = {}
    for lat in latents:
        lo, hi = cols.indptr[lat], cols.indptr[lat + 1]
        rows, v = cols.indices[lo:hi], cols.data[lo:hi]
        order = np.lexsort((rows, -v))[:n]
        out[int(lat)] = [(int(rows[o]), float(v[o])) for o in order]
    return out


def token_log_odds(
    top_texts: list[str], corpus_counts: Counter, prior: float = 100.0, min_count: int = 2, n: int = 15
) -> list[tuple[str, float, int]]:
    """Words of ``top_texts`` most over-represented relative to ``corpus_counts`` (see the module docstring).

    Returns up to ``n`` ``(word, z, count in top_texts)`` with ``count ≥ min_count``, by ``z`` descending.
    ``corpus_counts`` is a :class:`collections.Counter` of :func:`tokenize` over the corpus (the top
    documents included).
    """
    top = Counter(w for t in top_texts for w in tokenize(t))
    N = sum(corpus_counts.values())
    nt = sum(top.values())
    if not N or not nt:
        return []
    rows = []
    for w, y in top.items():
        if y < min_count:
            continue
        c = max(corpus_counts.get(w, 0), y)
        aw = prior * c / N
        d = np.log((y + aw) / (nt + prior - y - aw)) - np.log((c + aw) / (N + prior - c - aw))
        z = d / np.sqrt(1.0 / (y + aw) + 1.0 / (c + aw))
        rows.append((w, float(z), int(y)))
    rows.sort(key=lambda r: (-r[1], r[0]))
    return rows[:n]


def describe_latents(
    latents: list[int],
    doc_vals: np.ndarray,
    doc_idx: np.ndarray,
    doc_ids: list[str],
    doc_texts: list[str],
    n_latents: int,
    query_vals: np.ndarray | None = None,
    query_idx: np.ndarray | None = None,
    query_ids: list[str] | None = None,
    query_texts: list[str] | None = None,
    n: int = 10,
    words: int = 15,
) -> list[dict]:
    """Per latent: document frequency, top documents (and queries) with values and text, enriched words."""
    corpus_counts = Counter(w for t in doc_texts for w in tokenize(t))
    df = np.bincount(doc_idx[doc_vals > 0], minlength=n_latents)
    top_docs = top_activating(doc_vals, doc_idx, n_latents, latents, n)
    top_q = top_activating(query_vals, query_idx, n_latents, latents, n) if query_vals is not None else {}
    out = []
    for lat in latents:
        docs = top_docs[int(lat)]
        rec = {
            "latent": int(lat),
            "doc_freq": int(df[lat]),
            "top_documents": [{"id": doc_ids[r], "value": v, "text": doc_texts[r][:300]} for r, v in docs],
            "words": [
                {"word": w, "z": z, "count": c}
                for w, z, c in token_log_odds([doc_texts[r] for r, _ in docs], corpus_counts, n=words)
            ],
        }
        if top_q:
            rec["top_queries"] = [{"id": query_ids[r], "value": v, "text": query_texts[r]} for r, v in top_q[int(lat)]]
        out.append(rec)
    return out


def document_texts(corpus_path: str | Path, doc_ids: list[str], embeddings_json: str | Path) -> list[str]:
    """Texts (title + body) of ``doc_ids`` from a BEIR ``corpus.jsonl``; an :class:`IrlensError` when one of
    the first 50 ids is not in it (the corpus is not the one the embeddings in ``embeddings_json`` were made of)."""
    from irlens.data.beir import doc_text, read_corpus

    docs = read_corpus(corpus_path)
    missing = [d for d in doc_ids[:50] if d not in docs]
    if missing:
        raise IrlensError(
            f"{corpus_path}: document '{missing[0]}' of {embeddings_json} is not in this corpus; "
            "wrong --data for these embeddings?"
        )
    return [doc_text(docs[d]) for d in doc_ids]
