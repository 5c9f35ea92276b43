"""SAE causal checks (irlens.sae.causal): zeroing an inactive latent changes nothing; a latent that carries the
query-document match is causal against frequency-matched random latents, a latent interchangeable with its
match is not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irlens.errors import IrlensError
from irlens.sae.causal import causal_rows, matched_latent, target_drops, zero_latent
from irlens.sae.codes import decode_codes
from irlens.sae.config import SAEConfig
from irlens.sae.model import TopKSAE


def _identity_sae(d: int = 8) -> TopKSAE:
    m = TopKSAE(SAEConfig(d_model=d, n_latents=d, k=3), seed=0)
    with torch.no_grad():
        m.W_dec.copy_(torch.eye(d))
        m.b_pre.zero_()
    return m


def test_zeroing_a_latent_that_is_not_active_changes_nothing():
    m = _identity_sae()
    vals = np.array([[0.9, 0.5, 0.2], [0.7, 0.3, 0.0]], np.float32)
    idx = np.array([[0, 1, 2], [3, 4, 5]])
    out = zero_latent(vals, idx, 6)  # latent 6 is in no row
    assert np.array_equal(out, vals)
    assert np.array_equal(decode_codes(m, out, idx), decode_codes(m, vals, idx))
    # an active one is removed from its row only; per-row latents too
    np.testing.assert_array_equal(zero_latent(vals, idx, 1), np.array([[0.9, 0, 0.2], [0.7, 0.3, 0]], np.float32))
    np.testing.assert_array_equal(
        zero_latent(vals, idx, np.array([2, 3])), np.array([[0.9, 0.5, 0], [0, 0.3, 0]], np.float32)
    )


def test_drops_by_hand():
    q = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    d = np.array([[3.0, 0.0], [2.0, 1.0], [1.0, 2.0]], np.float32)
    # replace document 0 by (0.5, 0): query 0 scores 3 -> 0.5 (drop 2.5, rank 1 -> 3: 2 and 1 beat 0.5);
    # query 1 scores 0 -> 0 (drop 0, rank 3 -> 3)
    score, rank = target_drops(q, d, np.array([0]), np.array([[0.5, 0.0]], np.float32))
    assert score.tolist() == pytest.approx([2.5, 0.0]) and rank.tolist() == [2.0, 0.0]


def test_matched_latent_prefers_similar_frequency_and_value_and_is_seeded():
    freq = np.array([100, 90, 10, 120, 80, 0, 0, 0])
    vals, idx = np.array([0.5, 0.4, 0.3, 0.2, 0.6]), np.array([0, 1, 2, 3, 4])
    picks = {matched_latent(vals, idx, 0, freq, np.random.default_rng(s)) for s in range(20)}
    # frequency and value within a factor 2 of (100, 0.5): 1 and 4; never 3 (0.2 is 2.5x weaker), 2 (10) nor 0
    assert picks == {1, 4}
    assert matched_latent(vals[[0, 2]], idx[[0, 2]], 0, freq, np.random.default_rng(0)) == 2  # nearest if none close
    # nearest in |log f ratio| + |log v ratio|: 3 (0.18 + 0.92) beats 2 (2.30 + 0.51)
    assert matched_latent(vals[[0, 2, 3]], idx[[0, 2, 3]], 0, freq, np.random.default_rng(0)) == 3
    # where the latent is not active in the row, only the frequency counts: 1, 3 and 4 are within a factor 2
    picks = {matched_latent(vals[1:], idx[1:], 0, freq, np.random.default_rng(s)) for s in range(30)}
    assert picks == {1, 3, 4}
    assert matched_latent(vals[:1], idx[:1], 0, freq, np.random.default_rng(0)) == -1


def _codes(rows):
    vals = np.array([[v for _, v in r] for r in rows], np.float32)
    idx = np.array([[j for j, _ in r] for r in rows])
    return vals, idx


def test_a_latent_that_carries_the_match_is_causal_and_an_interchangeable_one_is_not():
    m = _identity_sae()
    rng = np.random.default_rng(0)
    docs = []
    for i in range(40):  # latent 0 in half the documents (strongly), 1 and 2 as noise of similar frequency
        if i % 2 == 0:
            docs.append([(0, 1.0 + rng.random()), (1 + i % 4 // 2, 0.3), (6, 0.5)])
        else:
            docs.append([(1, 0.4 + rng.random()), (2, 0.3), (7, 0.5)])
    for i in range(40, 60):  # latents 6 and 7 fire together with equal values: interchangeable
        docs.append([(6, 1.0), (7, 1.0), (3 + i % 3, 0.1 + 0.01 * i)])  # 3-5: rare, never matched
    dv, di = _codes(docs)
    queries = [[(0, 1.0), (6, 0.8), (7, 0.8)] for _ in range(6)] + [[(3, 0.2), (6, 1.0), (7, 1.0)] for _ in range(6)]
    qv, qi = _codes(queries)
    t = causal_rows(m, dv, di, qv, qi, [0, 6], targets=10, repeats=3, seed=1, n_boot=500).set_index("latent")
    assert t.loc[0, "causal"] and t.loc[0, "ci_low"] > 0 and t.loc[0, "score_drop"] > t.loc[0, "score_drop_random"]
    assert t.loc[0, "rank_drop"] > 0 and t.loc[0, "queries"] == 6 and t.loc[0, "targets"] == 10
    # zeroing 6 or its twin 7 (same frequency, same values) moves the scores by exactly as much
    assert not t.loc[6, "causal"] and t.loc[6, "difference"] == pytest.approx(0.0, abs=1e-6)
    assert t.loc[6, "random_value_ratio"] == pytest.approx(1.0)  # the twin has the same value in every document
    # the same seed gives the same table
    again = causal_rows(m, dv, di, qv, qi, [0, 6], targets=10, repeats=3, seed=1, n_boot=500).set_index("latent")
    assert again.equals(t)


def test_a_latent_no_query_activates_is_reported_not_tested():
    m = _identity_sae()
    dv, di = _codes([[(0, 1.0), (1, 0.5), (2, 0.1)]] * 3)
    qv, qi = _codes([[(3, 1.0), (4, 0.5), (5, 0.1)]])
    t = causal_rows(m, dv, di, qv, qi, [0])
    assert t.loc[0, "queries"] == 0 and not t.loc[0, "causal"] and np.isnan(t.loc[0, "difference"])
    with pytest.raises(IrlensError, match="outside"):
        causal_rows(m, dv, di, qv, qi, [99])


# ------------------------------------------------------------------ held-out pattern deletion (N2G words)
def _count_act(word: str):
    """Latent 0's activation = 1 + occurrences of ``word``; latent 1 = 1 (texts → [n, 2], like activation_fn)."""

    def act(texts):
        return np.array([[1.0 + t.lower().split().count(word), 1.0] for t in texts])

    return act


DOCS = [
    "the cat sat on a mat with another cat today",  # 2 cats of 10 words: act 3 → 1 without them
    "a cat and a dog met in the old park",  # 1 cat: act 2 → 1
    "one cat saw the dog across the wide road",
    "my cat likes the dog next door very much",
    "her cat chased a dog up the tall green tree",
    "no such animal appears in this text at all",  # contains no pattern: never a test document
    "the cat the cat the cat the cat",  # only 4 other words for 4 cats: still usable
]


def _firing_codes(n: int):
    vals = np.linspace(1.0, 0.5, n, dtype=np.float32)[:, None]  # latent 0 fires on every document, decreasing
    return vals, np.zeros((n, 1), np.int64)


def test_deleting_the_words_that_carry_the_activation_supports_the_pattern_by_hand():
    from irlens.sae.causal import pattern_rows

    vals, idx = _firing_codes(len(DOCS))
    df = pattern_rows(_count_act("cat"), DOCS, vals, idx, [0], {0: [["cat"]]}, docs=10, repeats=3, seed=1)
    r = df.iloc[0]
    # by hand: per document 1 − 1/(1 + cats); random deletions remove no cat, so their drop is 0
    want = np.mean([1 - 1 / 3, 1 - 1 / 2, 1 - 1 / 2, 1 - 1 / 2, 1 - 1 / 2, 1 - 1 / 5])
    assert r["pattern_docs"] == 6
    assert r["pattern_drop"] == pytest.approx(want)
    assert r["pattern_drop_random"] == pytest.approx(0.0)
    assert r["pattern_difference"] == pytest.approx(want)
    assert r["pattern_ci_low"] > 0 and r["pattern_supported"] == True  # noqa: E712 (a bool, not None)
    # every difference positive: the exact sign-flip p is its floor 2^-6, Holm over one latent leaves it
    assert r["pattern_p"] == pytest.approx(2.0**-6) and r["pattern_p_holm"] == pytest.approx(2.0**-6)


def test_a_pattern_that_does_not_drive_the_latent_is_not_supported():
    from irlens.sae.causal import pattern_rows

    vals, idx = _firing_codes(len(DOCS))
    # "dog" is in four documents but the activation counts cats: deleting it changes nothing, nor do random words
    # that are not cats... except when a random draw hits a cat, which makes the random drop larger
    docs = DOCS + [f"a dog number {i} and a cat in a small house" for i in range(3)]  # 7 documents with "dog"
    vals, idx = _firing_codes(len(docs))
    df = pattern_rows(_count_act("cat"), docs, vals, idx, [0], {0: [["dog"]]}, docs=10, repeats=3, seed=1)
    r = df.iloc[0]
    assert r["pattern_docs"] == 7 and r["pattern_p_floor"] == pytest.approx(2.0**-7)
    assert r["pattern_drop"] == pytest.approx(0.0)
    assert r["pattern_difference"] <= 0 and r["pattern_p"] > 0.5
    assert r["pattern_supported"] == False  # noqa: E712 (a verdict, not None: 7 documents could have shown it)
    # with 4 documents the smallest reachable p is 1/16 > 0.05: no verdict either way (None), not "unsupported"
    vals, idx = _firing_codes(len(DOCS))
    df = pattern_rows(_count_act("cat"), DOCS, vals, idx, [0], {0: [["dog"]]}, docs=10, repeats=3, min_docs=3)
    assert df.iloc[0]["pattern_docs"] == 4 and df.iloc[0]["pattern_supported"] is None


def test_pattern_documents_exclude_the_n2g_examples_and_too_few_are_not_tested():
    from irlens.sae.causal import pattern_rows

    vals, idx = _firing_codes(len(DOCS))
    act = _count_act("cat")
    # the first two documents were N2G's examples: held out means without them
    df = pattern_rows(act, DOCS, vals, idx, [0], {0: [["cat"]]}, exclude={0: {0, 1}}, docs=10, repeats=2)
    assert df.iloc[0]["pattern_docs"] == 4
    # min_docs 5: four documents are too few; the row says so (None = not tested) instead of a verdict
    assert df.iloc[0]["pattern_supported"] is None
    # no pattern, or a latent that fires nowhere: not tested, 0 documents
    df = pattern_rows(act, DOCS, vals, idx, [0, 1], {0: []}, docs=10, repeats=2)
    assert list(df["pattern_docs"]) == [0, 0] and list(df["pattern_supported"]) == [None, None]


def test_random_deletions_are_seeded_remove_as_many_words_and_never_a_pattern_word():
    from irlens.sae.causal import pattern_variants

    words = "the cat sat on a mat with another cat and a dog".split()
    a = pattern_variants(words, [["cat"], ["dog", "zebra"]], np.random.default_rng(3), 4)
    b = pattern_variants(words, [["cat"], ["dog", "zebra"]], np.random.default_rng(3), 4)
    assert a == b
    without, rand, k = a
    assert without == "the sat on a mat with another and a dog"  # only the contained pattern's words go
    assert k == 2
    for t in rand:
        assert len(t.split()) == len(words) - 2 and t.split().count("cat") == 2
    assert pattern_variants(words, [["zebra"]], np.random.default_rng(0), 2) is None
    with pytest.raises(IrlensError):
        from irlens.sae.causal import pattern_rows

        pattern_rows(_count_act("cat"), DOCS, *_firing_codes(len(DOCS)), [0], {0: [["cat"]]}, repeats=0)
