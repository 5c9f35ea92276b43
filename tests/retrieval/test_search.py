"""Chunked exact search against brute force."""

import numpy as np
import pytest

from irlens.retrieval.search import dense_search


def brute(q, d, k, score):
    if score == "cos":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
    s = q @ d.T
    idx = np.lexsort((np.broadcast_to(np.arange(d.shape[0]), s.shape), -s), axis=1)[:, :k]
    return np.take_along_axis(s, idx, 1), idx


@pytest.mark.parametrize("score", ["dot", "cos"])
@pytest.mark.parametrize("qc,dc", [(1, 7), (5, 100), (64, 13), (3, 1000)])
def test_chunked_equals_brute_force(score, qc, dc):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(23, 16)).astype(np.float32)
    d = rng.normal(size=(211, 16)).astype(np.float32)
    s, i = dense_search(q, d, k=10, score=score, query_chunk=qc, corpus_chunk=dc)
    bs, bi = brute(q, d, 10, score)
    np.testing.assert_array_equal(i, bi)
    np.testing.assert_allclose(s, bs, rtol=1e-5, atol=1e-5)


def test_ties_broken_by_index_whatever_the_chunking():
    d = np.ones((50, 4), dtype=np.float32)  # every document scores the same
    q = np.ones((2, 4), dtype=np.float32)
    for dc in (3, 7, 50):
        _, i = dense_search(q, d, k=5, corpus_chunk=dc)
        np.testing.assert_array_equal(i, [[0, 1, 2, 3, 4]] * 2)


def test_k_larger_than_corpus():
    s, i = dense_search(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32), k=10)
    assert i.shape == (3, 3) and list(i[:, 0]) == [0, 1, 2]
