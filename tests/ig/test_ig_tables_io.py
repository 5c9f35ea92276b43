"""Package functions behind ``irlens ig merge/tables``: parquet round trip and the in-domain term tables."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from irlens.errors import IrlensError
from irlens.ig.analysis import domain_term_tables
from irlens.ig.ranking import read_tables, write_tables


def test_write_then_read_tables_round_trip(tmp_path):
    tables = {
        "pairs": pd.DataFrame({"qid": ["q1"], "docid": ["d1"], "rank": [1], "rel_error": [0.001]}),
        "words": pd.DataFrame({"qid": ["q1", "q1"], "norm": ["cat", "purr"], "score": [0.5, -0.25]}),
        "tokens": pd.DataFrame({"qid": ["q1"], "token": ["[CLS]"], "special": [True]}),
    }
    prefix = str(tmp_path / "sub" / "ig")
    write_tables(tables, prefix)
    names = sorted(p.name for p in (tmp_path / "sub").iterdir())
    assert names == ["ig.pairs.parquet", "ig.tokens.parquet", "ig.words.parquet"]
    back = read_tables(prefix)
    assert set(back) == set(tables)
    for name, df in tables.items():
        pd.testing.assert_frame_equal(back[name], df, check_exact=True)
    (tmp_path / "sub" / "ig.words.parquet").unlink()
    with pytest.raises(IrlensError, match=r"ig\.words\.parquet: IG table not found; run 'irlens ig attribute'"):
        read_tables(prefix)


def _words(dataset, norms):
    base = {"model": "m", "dataset": dataset, "side": "document", "score": 1.0}
    return pd.DataFrame([{**base, "norm": n} for n in norms])


def test_domain_term_tables_need_each_dataset_s_own_corpus_only():
    """Each dataset's terms come from its own corpus against general English: one corpus is enough, and a
    dataset of the IG tables without a --corpus is one clear error."""
    stats = {
        "bio": (Counter({"tumour": 50, "cells": 40, "the": 100}), Counter({"tumour": 9, "cells": 9, "the": 9})),
        "food": (Counter({"diet": 50, "vitamin": 30}), Counter({"diet": 9, "vitamin": 9})),
    }
    share, vocab = domain_term_tables(_words("bio", ["tumour", "the", "cells"]), stats, n=10)
    assert list(share["dataset"]) == ["bio"] and list(vocab.columns[:2]) == ["dataset", "term"]
    assert set(vocab["term"]) == {"tumour", "cells"}  # "the": a stopword; food's corpus is not used
    assert share.loc[0, "domain_word_share"] == pytest.approx(2 / 3)
    with pytest.raises(IrlensError, match="no --corpus news=<corpus.jsonl>"):
        domain_term_tables(_words("news", ["x"]), stats)
