"""Package functions behind ``irlens ig merge/tables``: parquet round trip and the domain-term reference."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from irlens.errors import IrlensError
from irlens.ig.analysis import domain_term_tables, domain_terms
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


def test_domain_term_tables_reference_is_the_other_datasets():
    counts = {
        "bio": Counter({"tumour": 50, "cell": 40, "the": 100}),
        "food": Counter({"diet": 50, "vitamin": 30, "the": 100}),
        "news": Counter({"election": 40, "the": 100, "cell": 1}),
    }
    words = pd.concat([_words("food", ["diet", "the"]), _words("bio", ["tumour", "the", "cell"])], ignore_index=True)
    share, vocab = domain_term_tables(words, counts, n=10)
    assert list(share["dataset"]) == ["bio", "food"]  # sorted datasets of ``words``
    assert list(vocab.columns[:2]) == ["dataset", "term"]
    for ds in ("bio", "food"):
        ref = sum((c for n, c in counts.items() if n != ds), start=Counter())
        expected = domain_terms(counts[ds], ref, n=10)
        got = vocab[vocab["dataset"] == ds].drop(columns="dataset").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected)
    bio = vocab[vocab["dataset"] == "bio"]
    assert set(bio["term"]) == {"tumour", "cell"} and (bio["reference_count"] == [0, 1]).all()  # bio itself excluded
    assert share.set_index("dataset").loc["bio", "domain_word_share"] == pytest.approx(2 / 3)
    with pytest.raises(IrlensError, match="no --corpus news2=<corpus.jsonl>"):
        domain_term_tables(_words("news2", ["x"]), counts)
    with pytest.raises(IrlensError, match="need a reference corpus"):
        domain_term_tables(_words("bio", ["x"]), {"bio": counts["bio"]})
