"""In-domain terms against general English (wordfreq): the formula, the filters, real SciFact text, and that a
dataset's list does not depend on which other datasets are configured."""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from itertools import islice

import pandas as pd
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from irlens.data.beir import doc_text
from irlens.ig.analysis import domain_share, domain_term_tables, domain_terms, reference_name, word_stats

from conftest import REPO, SHARED_BEIR

#: the words the old reference (the other configured datasets) put at the top of SciFact's list
FUNCTION_WORDS = {"we", "that", "here", "is", "by", "show"}
BIOMEDICAL = {"cells", "protein", "patients", "clinical", "disease", "cancer", "expression", "gene", "mice", "tumor"}


def _stats(name: str, docs: int):
    path = SHARED_BEIR / name / "corpus.jsonl"
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {path}")
        pytest.skip(f"{path} not present")
    with open(path, encoding="utf-8") as fh:
        return word_stats(doc_text(json.loads(line)) for line in islice(fh, docs))


@pytest.fixture(scope="module")
def scifact():
    return _stats("scifact", 3000)


@pytest.fixture(scope="module")
def nfcorpus():
    return _stats("nfcorpus", 1500)


def _words(dataset, norms):
    base = {"model": "m", "dataset": dataset, "side": "document", "score": 1.0}
    return pd.DataFrame([{**base, "norm": n} for n in norms])


def test_scifact_terms_are_biomedical_not_function_words(scifact):
    top = domain_terms(*scifact, n=100)
    terms = set(top["term"])
    assert len(top) == 100
    assert not terms & ENGLISH_STOP_WORDS
    assert not terms & FUNCTION_WORDS
    assert len(terms & BIOMEDICAL) >= 3, sorted(terms)
    assert all(re.fullmatch(r"[^\W\d_]{3,}", t) for t in terms)
    assert (top["doc_freq"] >= 5).all() and (top["log2_ratio"] > 0).all()
    assert top["log2_ratio"].is_monotonic_decreasing


def test_a_dataset_s_terms_do_not_depend_on_the_other_datasets(scifact, nfcorpus):
    words = _words("scifact", ["cells", "we", "mice"])
    _, alone = domain_term_tables(words, {"scifact": scifact}, n=100)
    _, with_other = domain_term_tables(words, {"scifact": scifact, "nfcorpus": nfcorpus}, n=100)
    pd.testing.assert_frame_equal(alone, with_other)
    both = pd.concat([words, _words("nfcorpus", ["diet"])], ignore_index=True)
    _, vocab = domain_term_tables(both, {"scifact": scifact, "nfcorpus": nfcorpus}, n=100)
    pd.testing.assert_frame_equal(vocab[vocab["dataset"] == "scifact"].reset_index(drop=True), alone)
    assert set(vocab.loc[vocab["dataset"] == "nfcorpus", "term"]) & {"dietary", "intake", "diet"}


def test_reference_is_recorded_in_the_tables_and_the_caption(scifact):
    from importlib.metadata import version

    ref = reference_name()
    assert ref == f"wordfreq {version('wordfreq')} en, 'large' wordlist"
    share, vocab = domain_term_tables(_words("scifact", ["cells"]), {"scifact": scifact}, n=10)
    assert (share["reference"] == ref).all() and (vocab["reference"] == ref).all()
    caption = " ".join((REPO / "workflow/report/ig_tables.rst").read_text().split())
    assert ref in caption, "workflow/report/ig_tables.rst names another wordfreq version than the one installed"


def test_formula_and_filters_by_hand():
    from wordfreq import word_frequency

    counts = Counter({"nucleosome": 30, "cells": 600, "the": 40_000, "house": 1, "p53": 200, "ab": 200, "histone": 20})
    counts["filler"] = 1_000_000 - sum(counts.values())  # N = 10^6: counts are per million
    doc_freq = Counter({w: 10 for w in counts})
    doc_freq["histone"] = 2
    top = domain_terms(counts, doc_freq, n=10, min_df=5, smoothing=10.0)
    # "the": stopword; "p53": not alphabetic; "ab": < 3 letters; "histone": in 2 < 5 documents; "house": score < 0
    assert set(top["term"]) <= {"nucleosome", "cells", "filler"} and {"nucleosome", "cells"} <= set(top["term"])
    row = top.set_index("term").loc["cells"]
    en = 1e6 * word_frequency("cells", "en", wordlist="large")
    assert row["per_million"] == pytest.approx(600) and row["count"] == 600 and row["doc_freq"] == 10
    assert row["reference_per_million"] == pytest.approx(en) and en > 0
    assert row["log2_ratio"] == pytest.approx(math.log2((600 + 10) / (en + 10)))
    assert domain_terms(counts, doc_freq, n=1)["term"].tolist() == top["term"].tolist()[:1]
    assert "histone" in set(domain_terms(counts, doc_freq, n=10, min_df=2)["term"])


def test_domain_share_ignores_truncated_words():
    base = {"model": "m", "dataset": "d", "side": "document", "qid": "q", "docid": "a", "in_title": False}
    rows = [("tumour", 2.0, False), ("the", 1.0, False), ("treat", 1.0, True)]
    w = pd.DataFrame([{**base, "norm": n, "score": s, "truncated": t} for n, s, t in rows])
    d = domain_share(w, {"tumour", "treat"}).iloc[0]
    assert d["domain_word_share"] == pytest.approx(1 / 3)
    assert d["domain_positive_share"] == pytest.approx(2 / 4)
    old = domain_share(w.drop(columns="truncated"), {"tumour"}).iloc[0]  # tables written before the column
    assert old["domain_word_share"] == pytest.approx(1 / 3)


def test_cli_defaults_are_the_package_defaults():
    from irlens.cli import build_parser
    from irlens.ig.analysis import DOMAIN_MIN_DF, DOMAIN_SMOOTHING

    args = "ig tables --ig p --corpus a=b --completeness c --title-share t --domain d".split()
    a = build_parser().parse_args(args)
    assert (a.domain_min_df, a.domain_smoothing) == (DOMAIN_MIN_DF, DOMAIN_SMOOTHING)
