"""Corpus sentences for SAE training (irlens.data.sentences)."""

from __future__ import annotations

import pytest

from irlens.data.sentences import sample_sentences, split_sentences
from irlens.errors import IrlensError

CORPUS = {
    "a": {
        "title": "T",
        "text": (
            "Vitamin C deficiency causes scurvy in sailors. It was common on long voyages at sea. "
            "Lime juice (rich in ascorbic acid) prevented it in most crews."
        ),
    },
    "b": {
        "title": "",
        "text": "Too short. Also short here. Mice lacking the gene developed tumours within six months of birth.",
    },
    "c": {"title": "Only a title", "text": "No."},
}


def test_split_keeps_sentences_of_six_to_forty_words():
    s = split_sentences(CORPUS["a"]["text"])
    assert s == [
        "Vitamin C deficiency causes scurvy in sailors.",
        "It was common on long voyages at sea.",
        "Lime juice (rich in ascorbic acid) prevented it in most crews.",
    ]
    assert split_sentences("e.g. the p. 5 value was low and stable in all of the groups.") == [
        "e.g. the p. 5 value was low and stable in all of the groups."
    ]
    assert split_sentences(" ".join(["word"] * 41) + ".") == []


def test_sample_caps_per_document_is_seeded_and_traceable():
    ids, texts = sample_sentences(CORPUS, per_doc=2, seed=0)
    assert [i.split("#")[0] for i in ids].count("a") == 2 and [i.split("#")[0] for i in ids].count("b") == 1
    assert "c" not in {i.split("#")[0] for i in ids}  # no sentence of 6-40 words
    for i, t in zip(ids, texts):
        did, j = i.split("#")
        assert split_sentences(CORPUS[did]["text"])[int(j)] == t
    assert sample_sentences(CORPUS, per_doc=2, seed=0) == (ids, texts)
    draws = {tuple(sample_sentences(CORPUS, per_doc=1, seed=s)[0]) for s in range(12)}
    assert len(draws) > 1  # the seed matters
    # one document's draw does not depend on the others
    assert sample_sentences({"a": CORPUS["a"]}, per_doc=2, seed=0)[0] == [i for i in ids if i.startswith("a#")]
    assert len(sample_sentences(CORPUS, per_doc=10, seed=0)[0]) == 4  # all sentences


def test_sample_errors_are_one_line():
    with pytest.raises(IrlensError, match="sentences per document must be >= 1"):
        sample_sentences(CORPUS, per_doc=0)
    with pytest.raises(IrlensError, match="no sentence of 6-40 words"):
        sample_sentences({"c": CORPUS["c"]}, per_doc=1)
