"""Base vs adapted IG on the same pairs (issue 22): shared pair selection, normalised word scores, paired
per-query differences with bootstrap CIs, and the positional control of the title share."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from irlens.cli import main
from irlens.retrieval.trec import write_run


def _runs(tiny_beir, tmp):
    """Two runs ranking the tiny corpus in opposite orders (so their top-2 differ)."""
    from irlens.data.beir import load_beir

    ds = load_beir(tiny_beir)
    docs = sorted(ds.corpus)
    paths = {}
    for label, order in (("base", docs), ("adapted", docs[::-1])):
        run = {q: {d: float(len(order) - i) for i, d in enumerate(order)} for q in ds.queries}
        write_run(run, tmp / f"{label}.trec")
        paths[label] = tmp / f"{label}.trec"
    return paths


def _attribute(tiny_beir, model, run, label, pairs, out, *extra):
    args = ["ig", "attribute", "--data", str(tiny_beir), "--dataset", "tiny", "--run", str(run), "--model"]
    args += [str(model), "--label", label, "--score", "dot", "--pairs", str(pairs), "--sides", "document,query"]
    args += ["--steps", "4", "--threads", "1", "--out", str(out), *extra]
    assert main(args) == 0


def test_every_model_attributes_the_same_pairs(tiny_beir, tiny_st_model, tmp_path):
    runs = _runs(tiny_beir, tmp_path)
    pairs = tmp_path / "pairs.parquet"
    spec = [f"{k}={v}" for k, v in runs.items()]
    assert (
        main(
            ["ig", "pairs", "--data", str(tiny_beir), "--run", *spec, "--queries", "0", "--top-k", "2"]
            + ["--out", str(pairs)]
        )
        == 0
    )
    p = pd.read_parquet(pairs)
    # q1: top-2 of base (6, d1) ∪ top-2 of adapted (d5, d4) ∪ judged relevant (d1, d5)
    assert set(p.loc[p["qid"] == "q1", "docid"]) == {"6", "d1", "d5", "d4"}
    q1 = p[p["qid"] == "q1"].set_index("docid")
    assert q1.loc["d1", "topk_base"] and not q1.loc["d1", "topk_adapted"] and q1.loc["d1", "relevant"]
    assert q1.loc["d4", "rank_adapted"] == 2 and q1.loc["d4", "rank_base"] == 0 and not q1.loc["d4", "relevant"]
    # q2's relevant d2 is in neither top-2: attributed all the same
    assert p.loc[(p["qid"] == "q2") & (p["docid"] == "d2"), "relevant"].item()

    for label, run in runs.items():
        _attribute(tiny_beir, tiny_st_model, run, label, pairs, tmp_path / label)
    got = {lab: pd.read_parquet(tmp_path / f"{lab}.pairs.parquet") for lab in runs}
    keys = {lab: set(zip(g["qid"], g["docid"])) for lab, g in got.items()}
    assert keys["base"] == keys["adapted"] == set(zip(p["qid"], p["docid"]))
    a = got["adapted"][got["adapted"]["side"] == "document"].set_index(["qid", "docid"])
    assert a.loc[("q1", "d4"), "in_topk"] and not a.loc[("q1", "d1"), "in_topk"] and a.loc[("q1", "d1"), "relevant"]
    assert a.loc[("q1", "d5"), "rank"] == 1  # the model's own top-1 (what the instance views show)

    # sharding over queries still gives the unsharded tables
    for i in range(2):
        _attribute(
            tiny_beir,
            tiny_st_model,
            runs["base"],
            "base",
            pairs,
            tmp_path / f"s{i}",
            "--shard",
            str(i),
            "--shards",
            "2",
        )
    assert (
        main(["ig", "merge", "--inputs", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "merged")])
        == 0
    )
    for name in ("pairs", "words"):
        one = pd.read_parquet(tmp_path / f"base.{name}.parquet").drop(columns=["seconds"], errors="ignore")
        merged = pd.read_parquet(tmp_path / f"merged.{name}.parquet").drop(columns=["seconds"], errors="ignore")
        pd.testing.assert_frame_equal(one, merged, check_exact=True)

    # paired differences: every query, over the shared pairs
    rc = main(
        ["ig", "tables", "--ig", str(tmp_path / "base"), str(tmp_path / "adapted"), "--corpus"]
        + [f"tiny={tiny_beir / 'corpus.jsonl'}", "--domain-terms", "20", "--domain-min-df", "1"]
        + ["--completeness", str(tmp_path / "c"), "--title-share", str(tmp_path / "t"), "--domain"]
        + [str(tmp_path / "d"), "--paired", str(tmp_path / "pd"), "--bootstrap", "200"]
    )
    assert rc == 0
    d = pd.read_csv(tmp_path / "pd.csv")
    assert set(d["model"]) == {"adapted"} and set(d["base"]) == {"base"}
    title = d[d["measure"] == "title_positive_share"].iloc[0]
    assert title["queries"] == 3 and title["ci_low"] <= title["difference"] <= title["ci_high"]
    assert "domain_positive_share" in set(d["measure"])  # no untitled document among these pairs: no pseudo row
    t = pd.read_csv(tmp_path / "t.csv")
    assert (t["pseudo_title_words"] == 1).all() and (t["pairs_without_title"] == 0).all()  # tiny titles: 1 word
    assert "bootstrap 95% CI (200 resamples" in (tmp_path / "pd.md").read_text()


def _scaled(model, factor):
    import torch

    class Scale(torch.nn.Module):
        def forward(self, features):
            features["sentence_embedding"] = features["sentence_embedding"] * factor
            return features

    m = copy.deepcopy(model)
    m.append(Scale())
    return m


@pytest.fixture(scope="module")
def tiny(tiny_st_model):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_st_model), device="cpu")


def _rankings(model, corpus, score="dot", sides=("document",)):
    from irlens.data.beir import BeirDataset
    from irlens.ig import BiEncoderIG
    from irlens.ig.ranking import attribute_rankings

    ds = BeirDataset(corpus=corpus, queries={"q": "why do cats purr"}, qrels={"test": {"q": {"a": 1}}})
    run = {"q": {d: float(-i) for i, d in enumerate(corpus)}}
    ig = BiEncoderIG(model, score=score, steps=8)
    labels = {"model": "m", "dataset": "d"}
    return attribute_rankings(ig, ds, run, ["q"], len(corpus), sides, labels=labels, progress=False)


CORPUS = {
    "a": {"title": "Cats purring", "text": "Cats purr when they are content."},
    "b": {"title": "", "text": "Dogs bark loudly at the mailman every morning."},
}


def test_scaled_dot_model_has_the_same_normalised_words_and_zero_difference(tiny):
    """Embeddings × √10 multiply every dot-product score, and so every attribution, by 10; the normalised
    word scores (÷ s(x) − s(x′)) do not move, so the word-cloud difference of the model with itself × 10 is 0."""
    from irlens.ig.analysis import word_difference

    w = _rankings(tiny, CORPUS)["words"]
    w10 = _rankings(_scaled(tiny, np.sqrt(10.0)), CORPUS)["words"]
    np.testing.assert_allclose(w10["score"], 10 * w["score"], rtol=1e-5, atol=1e-9)  # raw scores scale
    np.testing.assert_allclose(w10["score_norm"], w["score_norm"], rtol=1e-5, atol=1e-9)
    diff = word_difference(w, w10)
    assert len(diff) > 5 and np.abs(diff.to_numpy()).max() < 1e-6
    assert np.abs(word_difference(w, w).to_numpy()).max() == 0


def test_word_difference_uses_only_the_pairs_both_attributed():
    from irlens.ig.analysis import word_difference

    def words(rows):
        return pd.DataFrame(
            [
                {
                    "model": m,
                    "dataset": "d",
                    "side": "document",
                    "qid": "q",
                    "docid": doc,
                    "norm": n,
                    "score": s,
                    "score_norm": s,
                }
                for m, doc, n, s in rows
            ]
        )

    base = words([("b", "x", "cat", 1.0), ("b", "y", "dog", 5.0)])
    other = words([("o", "x", "cat", 3.0), ("o", "z", "fish", 7.0)])  # y and z: one model only
    assert word_difference(base, other).to_dict() == {"cat": 2.0}


def test_untitled_document_gets_a_pseudo_title_share_on_its_first_n_words(tiny):
    from irlens.ig.analysis import pair_shares, title_share

    w = _rankings(tiny, CORPUS)["words"]
    t = title_share(w, pseudo_n={"d": 2}).iloc[0]
    assert t["pairs_with_title"] == 1 and t["pairs_without_title"] == 1 and t["pseudo_title_words"] == 2
    b = w[w["docid"] == "b"].sort_values("word_index")
    pos = np.clip(b["score_norm"].to_numpy(), 0, None)
    assert pos.sum() > 0
    assert t["pseudo_title_positive_share"] == pytest.approx(pos[:2].sum() / pos.sum())
    assert t["pseudo_title_word_share"] == pytest.approx(2 / len(b))
    s = pair_shares(w, pseudo_n={"d": 2}).set_index("docid")
    assert s.loc["b", "pseudo_title_positive_share"] == pytest.approx(t["pseudo_title_positive_share"])
    assert np.isnan(s.loc["a", "pseudo_title_positive_share"]) and not np.isnan(s.loc["a", "title_positive_share"])


def test_paired_differences_per_query_with_seeded_bootstrap():
    from irlens.ig.analysis import paired_differences
    from irlens.stats import bootstrap_mean_ci

    rows = []
    for qid, pairs in {"q1": [0.1, 0.3], "q2": [0.2], "q3": [0.4, 0.4, 0.1]}.items():
        for i, v in enumerate(pairs):
            for model, shift in (("base", 0.0), ("gpl", 0.05 * (1 + i))):
                rows.append(
                    {
                        "model": model,
                        "dataset": "d",
                        "side": "document",
                        "qid": qid,
                        "docid": f"{qid}-{i}",
                        "title_positive_share": v + shift,
                    }
                )
    rows.append(
        {"model": "gpl", "dataset": "d", "side": "document", "qid": "q4", "docid": "x", "title_positive_share": 0.9}
    )  # base did not attribute it: left out
    df = paired_differences(pd.DataFrame(rows), "base", n_boot=500, seed=1)
    (r,) = df.to_dict("records")
    per_query = [np.mean([0.05, 0.10]), 0.05, np.mean([0.05, 0.10, 0.15])]
    assert r["queries"] == 3 and r["pairs"] == 6 and r["model"] == "gpl"
    assert r["difference"] == pytest.approx(np.mean(per_query))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(bootstrap_mean_ci(np.array(per_query), n_boot=500, seed=1))
    assert min(per_query) - 1e-12 <= r["ci_low"] <= r["difference"] <= r["ci_high"] <= max(per_query) + 1e-12
    assert paired_differences(pd.DataFrame(rows), "base", n_boot=500, seed=1).equals(df)


def test_title_stripped_side_gives_the_first_n_words_share_of_the_same_titled_documents(tiny):
    from irlens.ig.analysis import pair_shares, paired_differences, title_share

    w = _rankings(tiny, CORPUS, sides=("document", "untitled"))["words"]
    ua = w[(w["side"] == "untitled") & (w["docid"] == "a")].sort_values("word_index")
    assert ua["word"].tolist() == ["Cats", "purr", "when", "they", "are", "content."] and not ua["in_title"].any()
    t = title_share(w, pseudo_n={"d": 2}).iloc[0]
    pos = np.clip(ua["score_norm"].to_numpy(), 0, None)
    assert t["untitled_pairs"] == 1  # only the titled document: the control of its title share
    assert t["untitled_first_n_positive_share"] == pytest.approx(pos[:2].sum() / pos.sum())
    assert t["untitled_first_n_word_share"] == pytest.approx(2 / 6)
    shares = pair_shares(w, pseudo_n={"d": 2})
    both = pd.concat([shares, shares.assign(model="m2")])
    d = paired_differences(both, "m", n_boot=50)
    assert set(d["measure"]) >= {"title_positive_share", "pseudo_title_positive_share"}
    assert (d["difference"] == 0).all() and set(d["side"]) == {"document", "untitled"}
