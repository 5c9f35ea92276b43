"""IG beyond the maths: words, tables, sharding, CLI outputs and errors (tiny model, tiny dataset)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irlens.cli import main
from irlens.ig import TokenAttribution
from irlens.ig.analysis import aggregate_words, completeness_summary, domain_share, title_share
from irlens.ig.words import merge_words, norm_word
from irlens.retrieval.trec import write_run


def _attr(text, pieces, scores):
    """A TokenAttribution over [CLS] pieces [SEP] with offsets found in ``text``."""
    offsets, pos = [(0, 0)], 0
    for p in pieces:
        start = text.index(p, pos)
        offsets.append((start, start + len(p)))
        pos = start + len(p)
    offsets.append((0, 0))
    n = len(pieces) + 2
    return TokenAttribution(
        side="document",
        text=text,
        input_ids=np.zeros(n, dtype=np.int64),
        tokens=["[CLS]", *pieces, "[SEP]"],
        offsets=np.array(offsets),
        special=np.array([True] + [False] * len(pieces) + [True]),
        scores=np.array([0.5, *scores, -0.25]),
        score=1.0,
        baseline_score=0.0,
        steps=8,
        method="gauss-legendre",
        baseline="pad",
    )


def test_merge_words_sums_pieces_drops_specials_flags_title():
    text = "Purring cats. Cats purr, covid-19!"
    a = _attr(
        text,
        ["Pu", "rring", "cats", ".", "Cats", "pu", "rr", ",", "covid", "-", "19", "!"],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    )
    rows = merge_words(a, title_chars=len("Purring cats."))
    assert [r["word"] for r in rows] == ["Purring", "cats.", "Cats", "purr,", "covid-19!"]
    assert [r["score"] for r in rows] == [3, 7, 5, 21, 42]
    assert [r["norm"] for r in rows] == ["purring", "cats", "cats", "purr", "covid-19"]
    assert [r["in_title"] for r in rows] == [True, True, False, False, False]
    assert sum(r["score"] for r in rows) == a.scores.sum() - 0.5 + 0.25  # specials dropped


def test_norm_word():
    assert norm_word("(Hello)") == "hello" and norm_word("p53,") == "p53" and norm_word("--") == ""


def _words(rows):
    base = {"model": "m", "dataset": "d", "side": "document", "qid": "q", "rank": 1}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_title_share_by_hand():
    w = _words(
        [
            {"docid": "a", "norm": "t1", "in_title": True, "score": 3.0},
            {"docid": "a", "norm": "x", "in_title": False, "score": 1.0},
            {"docid": "a", "norm": "y", "in_title": False, "score": -2.0},
            {"docid": "a", "norm": "z", "in_title": False, "score": 0.0},
            {"docid": "b", "norm": "t2", "in_title": True, "score": -1.0},
            {"docid": "b", "norm": "x", "in_title": False, "score": 1.0},
        ]
    )
    t = title_share(w).iloc[0]
    assert t["pairs_with_title"] == 2
    assert t["title_positive_share"] == pytest.approx((3 / 4 + 0 / 1) / 2)
    assert t["title_abs_share"] == pytest.approx((3 / 6 + 1 / 2) / 2)
    assert t["title_word_share"] == pytest.approx((1 / 4 + 1 / 2) / 2)


def test_domain_share():
    w = _words(
        [
            {"docid": "a", "norm": n, "in_title": False, "score": s}
            for n, s in [("tumour", 2.0), ("the", 1.0), ("cell", -1.0), ("of", 1.0)]
        ]
    )
    d = domain_share(w, {"tumour", "cell"}).iloc[0]
    assert d["domain_word_share"] == 0.5
    assert d["domain_positive_share"] == pytest.approx(2 / 4)
    assert d["domain_abs_share"] == pytest.approx(3 / 5)


def test_aggregate_and_completeness_summary():
    w = _words(
        [
            {"docid": d, "norm": n, "in_title": False, "score": s}
            for d, n, s in [("a", "x", 1.0), ("b", "x", 2.0), ("b", "x", 0.5), ("a", "", 9.0)]
        ]
    )
    agg = aggregate_words(w)
    assert agg.set_index("norm").loc["x", ["score", "count", "pairs"]].tolist() == [3.5, 3, 2]
    pairs = pd.DataFrame(
        {
            "model": "m",
            "dataset": "d",
            "side": "document",
            "rel_error": [0.001, 0.02, 0.005, 0.0],
            "steps": [8, 16, 8, 8],
            "converged": [True, False, True, True],
        }
    )
    s = completeness_summary(pairs).iloc[0]
    assert s["pairs"] == 4 and s["share_err_le_0.01"] == 0.75 and s["max_rel_error"] == 0.02 and s["mean_steps"] == 10


# ------------------------------------------------------------------------------------ CLI, sharding
@pytest.fixture
def ig_inputs(tiny_beir, tiny_st_model, tmp_path):
    from irlens.data.beir import load_beir

    ds = load_beir(tiny_beir)
    run = {q: {d: float(len(d) + i) for i, d in enumerate(sorted(ds.corpus))} for q in ds.queries}
    write_run(run, tmp_path / "run.trec")
    common = [
        "--data",
        str(tiny_beir),
        "--dataset",
        "tiny",
        "--run",
        str(tmp_path / "run.trec"),
        "--model",
        str(tiny_st_model),
        "--label",
        "tiny",
        "--score",
        "dot",
    ]
    return tmp_path, common


def _attribute(common, out, *extra):
    args = [
        "ig",
        "attribute",
        *common,
        "--queries",
        "0",
        "--top-k",
        "3",
        "--steps",
        "8",
        "--tol",
        "0.01",
        "--max-steps",
        "32",
        "--threads",
        "1",
        "--out",
        str(out),
        *extra,
    ]
    assert main(args) == 0


def test_sharded_equals_unsharded(ig_inputs):
    tmp, common = ig_inputs
    _attribute(common, tmp / "one")
    for i in range(2):
        _attribute(common, tmp / f"s{i}", "--shard", str(i), "--shards", "2")
    assert main(["ig", "merge", "--inputs", str(tmp / "s0"), str(tmp / "s1"), "--out", str(tmp / "merged")]) == 0
    for name in ("pairs", "words", "tokens"):
        a = pd.read_parquet(tmp / f"one.{name}.parquet").drop(columns=["seconds"], errors="ignore")
        b = pd.read_parquet(tmp / f"merged.{name}.parquet").drop(columns=["seconds"], errors="ignore")
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    pairs = pd.read_parquet(tmp / "one.pairs.parquet")
    assert sorted(pairs["qid"].unique()) == ["6", "q1", "q2"] and set(pairs["side"]) == {"document", "query"}
    assert (pairs.groupby(["qid", "side"]).size() == 3).all()
    # word scores of a pair add up to its token scores minus the special tokens
    toks = pd.read_parquet(tmp / "one.tokens.parquet")
    words = pd.read_parquet(tmp / "one.words.parquet")
    key = ["qid", "docid", "side"]
    lhs = words.groupby(key)["score"].sum()
    rhs = toks[~toks["special"]].groupby(key)["score"].sum()
    np.testing.assert_allclose(lhs.sort_index().to_numpy(), rhs.sort_index().to_numpy(), rtol=1e-9, atol=1e-12)


def test_views_wordclouds_tables(ig_inputs, tiny_beir):
    tmp, common = ig_inputs
    _attribute(common, tmp / "one")
    html = tmp / "views.html"
    assert (
        main(
            [
                "ig",
                "views",
                "--ig",
                str(tmp / "one"),
                "--label",
                "tiny",
                "--dataset",
                "tiny",
                "--html",
                str(html),
                "--heatmaps",
                str(tmp / "h1.png"),
                str(tmp / "h2.png"),
            ]
        )
        == 0
    )
    page = html.read_text()
    assert "purr" in page and "<script" not in page and "http" not in page.replace("http-equiv", "")
    assert (tmp / "h1.png").stat().st_size > 1000 and (tmp / "h2.pdf").is_file()
    outs = [str(tmp / "wc-a.png"), str(tmp / "wc-b.png")]
    assert (
        main(
            [
                "ig",
                "wordclouds",
                "--ig",
                str(tmp / "one"),
                str(tmp / "one"),
                "--labels",
                "a",
                "b",
                "--dataset",
                "tiny",
                "--out",
                *outs,
                "--diff-out",
                str(tmp / "diff.png"),
            ]
        )
        == 0
    )
    assert all((tmp / f).is_file() for f in ("wc-a.png", "wc-b.pdf", "diff.png"))
    other = tmp / "other.jsonl"
    other.write_text('{"_id": "x", "title": "", "text": "diet and nutrition of children"}\n')
    rc = main(
        [
            "ig",
            "tables",
            "--ig",
            str(tmp / "one"),
            "--corpus",
            f"tiny={tiny_beir / 'corpus.jsonl'}",
            f"other={other}",
            "--domain-terms",
            "20",
            "--domain-min-df",
            "1",
            "--completeness",
            str(tmp / "c"),
            "--title-share",
            str(tmp / "t"),
            "--domain",
            str(tmp / "d"),
        ]
    )
    assert rc == 0
    comp = pd.read_csv(tmp / "c.csv")
    assert set(comp["side"]) == {"document", "query"} and (comp["pairs"] == 9).all()
    assert (tmp / "t.md").is_file() and (tmp / "d_vocabulary.csv").is_file()
    vocab, share = pd.read_csv(tmp / "d_vocabulary.csv"), pd.read_csv(tmp / "d.csv")
    assert set(vocab["dataset"]) == {"tiny"} and {"cats", "purr"} <= set(vocab["term"])  # 'other' is not used
    assert share["reference"].str.startswith("wordfreq ").all() and vocab["reference"].nunique() == 1
    assert "general English: wordfreq " in (tmp / "d.md").read_text()


def test_baselines_table(ig_inputs, tmp_path):
    tmp, common = ig_inputs
    assert (
        main(
            [
                "ig",
                "baselines",
                *common,
                "--pairs",
                "2",
                "--baselines",
                "pad,mask",
                "--md",
                str(tmp / "b.md"),
                "--csv",
                str(tmp / "b.csv"),
            ]
        )
        == 0
    )
    b = pd.read_csv(tmp / "b.csv")
    assert list(b["baseline"]) == ["pad", "pad", "mask", "mask"] and (b["pairs"] == 2).all()


def test_run_with_unknown_document_is_one_clear_error(ig_inputs, capsys):
    tmp, common = ig_inputs
    bad = tmp / "bad.trec"
    bad.write_text("q1 Q0 nosuchdoc 1 9.0 x\n")
    args = [*common]
    args[args.index("--run") + 1] = str(bad)
    assert main(["ig", "attribute", *args, "--top-k", "1", "--queries", "0", "--out", str(tmp / "x")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("irlens ig attribute: error: ")]
    assert "nosuchdoc" in line and "corpus.jsonl" in line
    assert not list(tmp.glob("x.*"))


def test_empty_query_is_one_clear_error(ig_inputs, tiny_beir, capsys):
    tmp, common = ig_inputs
    q = tiny_beir / "queries.jsonl"
    q.write_text(q.read_text().replace("dog barking", " "))
    assert main(["ig", "attribute", *common, "--top-k", "1", "--queries", "0", "--out", str(tmp / "x")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("irlens ig attribute: error: ")]
    assert "'q2' has empty text" in line


def test_merge_words_flags_only_a_last_word_cut_inside():
    cut = merge_words(_attr("Cats purr. Treatment helps", ["Cats", "purr", ".", "Treat"], [1, 2, 3, 4]))
    assert [(r["norm"], r["truncated"]) for r in cut] == [("cats", False), ("purr", False), ("treat", True)]
    punct = merge_words(_attr("cats cells. More", ["cats", "cells"], [1, 2]))  # only '.' lost: same word
    assert [r["truncated"] for r in punct] == [False, False]
    whole = merge_words(_attr("cats treat", ["cats", "treat"], [1, 2]))
    assert [r["truncated"] for r in whole] == [False, False]
