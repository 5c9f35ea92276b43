"""NIG pipeline pieces: pair selection, schemes / intersections / fusion by hand, the `irlens nig` CLI
(sharded == unsharded, schemes, figures, Table 1) and its one-line errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from irlens.cli import main
from irlens.data.beir import load_beir
from irlens.errors import IrlensError
from irlens.nig.pairs import candidate_pairs, select_pairs
from irlens.nig.schemes import (
    base_schemes,
    intersection_table,
    layer_distribution,
    pretty,
    scheme_sets,
    set_size,
    sets_table,
    top_set,
)


# ------------------------------------------------------------------------------------------ schemes
def test_top_set_and_sizes():
    v = np.array([0.5, -3.0, 2.0, 2.0, 0.1, 7.0, -0.2, 1.0, 0.0, 4.0])
    assert set_size(10, 10) == 1 and set_size(10, 30) == 3 and set_size(10, 0.01) == 1
    assert top_set(v, 30).tolist() == [2, 5, 9]  # 7, 4, then the first of the tied 2.0s
    assert top_set(v, 30, rank_by="abs").tolist() == [1, 5, 9]  # |−3| beats 2
    with pytest.raises(IrlensError, match="rank_by"):
        top_set(v, 10, rank_by="rank")


def test_fusion_and_intersections_by_hand():
    # 10 neurons; P/N for an in-domain dataset "ms" and two OOD datasets
    P_ms = np.arange(10.0)  # top-20 %: {8, 9}
    N_ms = np.arange(10.0)[::-1].copy()  # top-20 %: {0, 1}
    P_a = np.array([0, 0, 0, 0, 0, 0, 0, 5, 0, 9.0])  # {7, 9}
    P_b = np.array([0, 0, 0, 0, 0, 0, 0, 5, 9, 0.0])  # {7, 8}
    N_a = np.array([9, 0, 5, 0, 0, 0, 0, 0, 0, 0.0])  # {0, 2}
    means = {
        ("ms", "relevant"): P_ms,
        ("ms", "non-relevant"): N_ms,
        ("a", "relevant"): P_a,
        ("b", "relevant"): P_b,
        ("a", "non-relevant"): N_a,
    }
    values = base_schemes(means)
    assert list(values.columns) == ["P:ms", "P:a", "P:b", "N:ms", "N:a", "F:ms", "F:a", "F_A"]
    np.testing.assert_allclose(values["F:ms"], 4.5)  # (i + 9 − i) / 2
    np.testing.assert_allclose(values["F_A"], (P_ms + N_ms + P_a + P_b + N_a) / 5)
    sets = scheme_sets(values, ["ms", "a", "b"], ["a", "b"], levels=(20,))
    assert sets["AND_A:P"][20].tolist() == []  # {8,9} ∩ {7,9} ∩ {7,8}
    assert sets["AND_O:P"][20].tolist() == [7]  # {7,9} ∩ {7,8}
    assert sets["AND_A:N"][20].tolist() == [0]  # {0,1} ∩ {0,2}; b has no N scheme
    assert "F:b" not in sets and sets["F:ms"][20].tolist() == [0, 1]  # all tied: lowest indices
    t = intersection_table(values, ["ms", "a", "b"], ["a", "b"], levels=(20,))
    row = lambda curve: t.loc[t["curve"] == curve, "pct"].item()  # noqa: E731
    assert row("P_ms ∩ P_a") == 50.0 and row("P_a ∩ P_b") == 50.0 and row("P_ms ∩ P_b") == 50.0
    assert row("∩_A P") == 0.0 and row("∩_O P") == 50.0 and row("∩_A N") == 50.0
    assert row("P_ms ∩ N_ms") == 0.0 and row("P_a ∩ N_a") == 0.0
    kinds = dict(zip(t["curve"], t["kind"]))
    assert kinds["P_ms ∩ P_a"] == "ID/OOD" and kinds["P_a ∩ P_b"] == "OOD/OOD"
    neurons = pd.DataFrame(
        {
            "layer": [0] * 5 + [1] * 5,
            "component": ["query", "key", "value", "intermediate", "output"] * 2,
            "unit": [0] * 10,
            "module": ["m"] * 10,
        }
    )
    st = sets_table(sets, neurons, values)
    assert set(st.loc[st["scheme"] == "P:a", "neuron"]) == {7, 9}
    assert st.loc[st["scheme"] == "AND_O:P", "value"].isna().all()
    dist = layer_distribution(np.array([7, 8, 9, 0]), neurons)
    assert dist.loc[1].tolist() == [0, 0, 1, 1, 1] and dist.loc[0, "query"] == 1
    assert pretty("AND_O:N") == "∩_O N" and pretty("P:scifact") == "P_scifact" and pretty("F_A") == "F_A"


def _write_set(prefix, per_pair_values, source="qrels"):
    """A merged NIG set ``<prefix>.{npy,neurons.parquet,pairs.parquet}`` (what 'irlens nig merge' writes)."""
    v = np.asarray(per_pair_values, dtype=np.float32)
    n = v.shape[1]
    np.save(f"{prefix}.npy", v)
    pd.DataFrame({"layer": [0] * n, "component": ["query"] * n, "unit": range(n), "module": ["m"] * n}).to_parquet(
        f"{prefix}.neurons.parquet", index=False
    )
    pd.DataFrame(
        {
            "pair": range(len(v)),
            "source": source,
            "f_input": 0.9,
            "f_baseline": 0.5,
            "rel_error": 0.001,
            "steps": 8,
            "rule": "richardson",
            "seconds": 0.1,
        }
    ).to_parquet(f"{prefix}.pairs.parquet", index=False)
    return str(prefix)


@pytest.fixture
def unjudged_sets(tmp_path):
    """ms (ID) and b (OOD) have judged non-relevant pairs; a (OOD) has unjudged BM25 passages instead."""
    one = lambda *idx: [[5.0 if i in idx else 0.0 for i in range(10)]] * 2  # noqa: E731 - two identical pairs
    specs = [
        (_write_set(tmp_path / "ms-P", one(8, 9)), "ms", "relevant"),
        (_write_set(tmp_path / "ms-N", one(0, 1)), "ms", "non-relevant"),
        (_write_set(tmp_path / "a-P", one(7, 9)), "a", "relevant"),
        (_write_set(tmp_path / "a-N", one(1, 2), source="bm25-unjudged"), "a", "non-relevant"),
        (_write_set(tmp_path / "b-P", one(7, 8)), "b", "relevant"),
        (_write_set(tmp_path / "b-N", one(0, 2)), "b", "non-relevant"),
    ]
    return tmp_path, specs


def test_unjudged_non_relevant_sets_stay_out_of_n_based_schemes_by_default(unjudged_sets):
    from irlens.io import read_json
    from irlens.nig.schemes import compute_schemes, write_schemes

    tmp, specs = unjudged_sets
    r = compute_schemes(specs, ["ms"], levels=(20,))  # default: exclude, as the paper does
    assert {"N:a", "F:a"}.isdisjoint(r.values.columns) and {"P:a", "N:ms", "N:b", "F:b"} <= set(r.values.columns)
    assert r.sets["AND_A:N"][20].tolist() == [0]  # N_ms {0,1} ∩ N_b {0,2}; N_a {1,2} is not a member
    assert r.sets["AND_O:N"][20].tolist() == [0, 2]  # N_b alone
    assert r.unjudged_negatives == "exclude" and r.unjudged == [] and list(r.left_out) == ["a:non-relevant"]
    mean = lambda *idx: np.array([5.0 if i in idx else 0.0 for i in range(10)])  # noqa: E731
    base = [mean(8, 9), mean(7, 9), mean(7, 8), mean(0, 1), mean(0, 2)]  # P_ms, P_a, P_b, N_ms, N_b: no N_a
    np.testing.assert_allclose(r.values["F_A"], np.mean(base, axis=0))
    assert r.counts == {(d, lb): 2 for d, lb in r.counts} and ("a", "non-relevant") not in r.counts
    assert not (r.intersections["curve"].str.contains("N_a")).any()
    write_schemes(r, tmp / "out", tmp / "tables")
    roles = read_json(tmp / "out" / "roles.json")
    assert roles["unjudged_negatives"] == "exclude" and roles["left_out"] == {
        "a:non-relevant": r.left_out["a:non-relevant"]
    }
    assert "N:a" not in roles["schemes"] and "AND_A:N" in roles["schemes"]
    md = (tmp / "tables" / "schemes.md").read_text()
    assert "left out of the N-based schemes as in the paper: a" in md and "N from unjudged" not in md


def test_unjudged_non_relevant_sets_are_kept_and_labelled_with_include(unjudged_sets):
    from irlens.io import read_json
    from irlens.nig.schemes import UNJUDGED_NOTE, compute_schemes, unjudged_members, write_schemes

    tmp, specs = unjudged_sets
    r = compute_schemes(specs, ["ms"], levels=(20,), unjudged_negatives="include")
    assert r.unjudged == ["a"] and r.left_out == {}
    assert {"N:a", "F:a"} <= set(r.values.columns)
    assert r.sets["AND_A:N"][20].tolist() == []  # {0,1} ∩ {1,2} ∩ {0,2}
    assert r.sets["AND_O:N"][20].tolist() == [2]  # N_a {1,2} ∩ N_b {0,2}
    assert unjudged_members("F_A", r) == ["a"] and unjudged_members("AND_O:F", r) == ["a"]
    assert unjudged_members("AND_A:P", r) == [] and unjudged_members("N:b", r) == []
    write_schemes(r, tmp / "out", tmp / "tables")
    assert read_json(tmp / "out" / "roles.json")["unjudged"] == ["a"]
    t = pd.read_csv(tmp / "tables" / "schemes.csv").fillna("")
    marked = dict(zip(t["scheme"], t[UNJUDGED_NOTE]))
    assert marked["N_a"] == "a" and marked["∩_A N"] == "a" and marked["F_A"] == "a" and marked["P_a"] == ""
    assert f"{UNJUDGED_NOTE}: a" in (tmp / "tables" / "intersections.md").read_text()
    comp = pd.read_csv(tmp / "tables" / "completeness.csv")
    assert comp.loc[(comp["dataset"] == "a") & (comp["label"] == "non-relevant"), "source"].item() != "qrels"


def test_schemes_need_the_source_of_non_relevant_pairs(unjudged_sets):
    from irlens.nig.schemes import compute_schemes

    tmp, specs = unjudged_sets
    prefix = specs[3][0]
    pd.read_parquet(f"{prefix}.pairs.parquet").drop(columns="source").to_parquet(f"{prefix}.pairs.parquet")
    with pytest.raises(IrlensError, match="no source column.*rerun 'irlens nig attribute'"):
        compute_schemes(specs, ["ms"], levels=(20,))
    with pytest.raises(IrlensError, match="unjudged_negatives 'keep'"):
        compute_schemes(specs[:1], ["ms"], unjudged_negatives="keep")


def test_baseline_rows_report_the_mean_absolute_difference_beside_the_signed_mean():
    from irlens.nig.attribute import baseline_rows

    diffs = {"original": np.array([0.8, -0.8]), "pad-all": np.array([0.6, -0.6, 0.2, -0.2]), "pad": np.array([0.1])}
    t = pd.DataFrame(baseline_rows("d", "relevant", diffs)).set_index("baseline")
    assert t.loc["pad-all", "mean P(rel) - P(non-rel)"] == pytest.approx(0.0, abs=1e-12)  # cancels
    assert t.loc["pad-all", "mean |P(rel) - P(non-rel)|"] == pytest.approx(0.4)  # far from neutral
    assert t.loc["pad", "mean |P(rel) - P(non-rel)|"] == pytest.approx(0.1)
    assert t["pairs"].tolist() == [2, 4, 1] and np.isnan(t["relative to original"]).all()  # original mean is 0
    cols = list(t.reset_index().columns)
    assert cols.index("mean |P(rel) - P(non-rel)|") == cols.index("mean P(rel) - P(non-rel)") + 1


# ---------------------------------------------------------------------------------------- selection
class FakeCE:
    """Relevance is a lookup by document id, so selection can be checked by hand."""

    def __init__(self, p):
        self.p = p

    def features(self, queries, docs):
        return docs

    def logits(self, docs):
        return docs

    def relevance(self, docs):
        import torch

        return torch.tensor(
            [self.p[next(k for k, t in self.texts.items() if t == d)] for d in docs], dtype=torch.float64
        )


def test_select_pairs_keeps_correct_ones(tiny_beir):
    from irlens.data.beir import doc_text

    ds = load_beir(tiny_beir, ["test"])
    run = {"q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0}, "q2": {"d2": 5.0, "d5": 4.0}, "6": {"d4": 2.0, "6": 1.0}}
    cand = candidate_pairs(ds, "test", run, negatives_depth=2)
    assert sorted(map(tuple, cand[cand.target == 0][["qid", "doc_id"]].values)) == [
        ("6", "6"),
        ("q1", "d2"),
        ("q2", "d5"),
    ]
    assert (cand[cand.target == 0]["source"] == "bm25-unjudged").all()
    ce = FakeCE({"d1": 0.9, "d5": 0.2, "d2": 0.7, "d4": 0.6, "6": 0.1, "d3": 0.5})
    ce.texts = {d: doc_text(ds.corpus[d]) for d in ds.corpus}
    df = select_pairs(ce, ds, "test", n_per_label=10, seed=0, bm25_run=run, negatives_depth=2)
    rel = set(map(tuple, df[df.label == "relevant"][["qid", "doc_id"]].values))
    non = set(map(tuple, df[df.label == "non-relevant"][["qid", "doc_id"]].values))
    assert rel == {("q1", "d1"), ("q2", "d2"), ("6", "d4")}  # (q1, d5) has P = 0.2: misclassified
    assert non == {("q2", "d5"), ("6", "6")}  # (q1, d2) has P = 0.7: misclassified
    assert df.attrs["selection"]["relevant"] == {"candidates": 4, "scored": 4, "correct": 3, "kept": 3}
    again = select_pairs(ce, ds, "test", n_per_label=2, seed=0, bm25_run=run, negatives_depth=2)
    assert len(again) == 4 and again.equals(
        select_pairs(ce, ds, "test", n_per_label=2, seed=0, bm25_run=run, negatives_depth=2)
    )


def test_judged_non_relevant_pairs_are_used_when_present(tmp_path):
    from conftest import write_beir_folder

    folder = write_beir_folder(
        tmp_path / "z", {"a": ("", "x"), "b": ("", "y")}, {"q": "x"}, {"test": [("q", "a", 1), ("q", "b", 0)]}
    )
    cand = candidate_pairs(load_beir(folder, ["test"]), "test", None, 10)
    assert cand[["doc_id", "target", "source"]].values.tolist() == [["a", 1, "qrels"], ["b", 0, "qrels"]]


# ---------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def nig_inputs(tiny_beir, tiny_ce, tmp_path):
    pairs = pd.DataFrame(
        {
            "dataset": "tiny",
            "pair": range(6),
            "qid": ["q1", "q1", "q2", "6", "q1", "q2"],
            "doc_id": ["d1", "d5", "d2", "d4", "d3", "d4"],
            "target": [1, 1, 1, 1, 0, 0],
            "label": ["relevant"] * 4 + ["non-relevant"] * 2,
            "source": ["qrels"] * 4 + ["bm25-unjudged"] * 2,
            "p_relevant": 0.5,
        }
    )
    path = tmp_path / "pairs.parquet"
    pairs.to_parquet(path, index=False)
    common = [
        "--model",
        str(tiny_ce),
        "--data",
        str(tiny_beir),
        "--dataset",
        "tiny",
        "--pairs",
        str(path),
        "--steps",
        "8",
        "--rule",
        "richardson",
        "--threads",
        "1",
    ]
    return tmp_path, common, path


def test_sharded_equals_unsharded_and_downstream(nig_inputs, tiny_beir, tiny_ce):
    tmp, common, pairs = nig_inputs
    for label in ("relevant", "non-relevant"):
        assert main(["nig", "attribute", *common, "--label", label, "--out", str(tmp / label / "all")]) == 0
        for s in range(2):
            assert (
                main(
                    [
                        "nig",
                        "attribute",
                        *common,
                        "--label",
                        label,
                        "--shard",
                        str(s),
                        "--shards",
                        "2",
                        "--out",
                        str(tmp / label / f"s{s}"),
                    ]
                )
                == 0
            )
        assert (
            main(
                [
                    "nig",
                    "merge",
                    "--inputs",
                    str(tmp / label / "s0"),
                    str(tmp / label / "s1"),
                    "--out",
                    str(tmp / label / "merged"),
                ]
            )
            == 0
        )
        a, b = np.load(tmp / label / "all.npy"), np.load(tmp / label / "merged.npy")
        assert a.shape == ((4 if label == "relevant" else 2), 2 * (4 * 32 + 64 + 32)) and np.array_equal(a, b)
        ta, tb = (
            pd.read_parquet(tmp / label / "all.pairs.parquet"),
            pd.read_parquet(tmp / label / "merged.pairs.parquet"),
        )
        pd.testing.assert_frame_equal(ta.drop(columns="seconds"), tb.drop(columns="seconds"))
        assert (ta["rel_error"] < 0.05).all()
    assert (ta["source"] == ("qrels" if label == "relevant" else "bm25-unjudged")).all()  # carried from the pairs
    # schemes over two "datasets" (the same sets under two names, one in-domain); the non-relevant pairs are
    # unjudged BM25 passages: left out by default, kept and labelled with --unjudged-negatives include
    sets = [f"--set={tmp / l / 'all'}:{d}:{l}" for d in ("tiny", "twin") for l in ("relevant", "non-relevant")]
    out, tables = tmp / "schemes", tmp / "tables"
    dirs = ["--out-dir", str(out), "--tables-dir", str(tables)]
    assert main(["nig", "schemes", *sets, "--in-domain", "tiny", *dirs]) == 0
    st = pd.read_parquet(out / "sets.parquet")
    assert not st["scheme"].str.match(r"N:|F:|AND_.:[NF]").any() and {"P:twin", "AND_A:P", "F_A"} <= set(st["scheme"])
    assert main(["nig", "figures", "--schemes-dir", str(out), "--out-dir", str(tmp / "figs-p")]) == 0  # P only
    assert main(["nig", "schemes", *sets, "--in-domain", "tiny", "--unjudged-negatives", "include", *dirs]) == 0
    assert "N from unjudged BM25 passages: tiny, twin" in (tables / "schemes.md").read_text()
    values = pd.read_parquet(out / "values.parquet")
    np.testing.assert_allclose(values["P:tiny"], np.load(tmp / "relevant" / "all.npy").astype(np.float64).mean(0))
    st = pd.read_parquet(out / "sets.parquet")
    assert {"P:tiny", "N:twin", "F:tiny", "AND_A:P", "AND_O:N", "AND_A:F", "F_A"} <= set(st["scheme"])
    inter = pd.read_parquet(out / "intersections.parquet")
    same = inter[(inter["curve"] == "P_tiny ∩ P_twin")]
    assert (same["pct"] == 100.0).all() and (same["kind"] == "ID/OOD").all()  # identical schemes
    md = (tables / "schemes.md").read_text()
    assert "∩_O P" in md and "in-domain: tiny" in md
    assert "rel. error" in (tables / "completeness.md").read_text()
    for name in ("schemes.md", "intersections.md", "completeness.md"):  # valid tables: `|` in a cell is escaped
        rows = [ln for ln in (tables / name).read_text().splitlines() if ln.startswith("|")]
        assert len({len(re.split(r"(?<!\\)\|", r)) for r in rows}) == 1, name
    figs = tmp / "figs"
    assert main(["nig", "figures", "--schemes-dir", str(out), "--out-dir", str(figs)]) == 0
    for f in ("fig2-intersections", "fig3-summary", "fig4-layers"):
        assert (figs / f"{f}.png").stat().st_size > 1000 and (figs / f"{f}.pdf").is_file()
    # Table 1
    rc = main(
        [
            "nig",
            "baselines",
            "--model",
            str(tiny_ce),
            "--pairs",
            str(pairs),
            "--data",
            str(tiny_beir),
            "--threads",
            "1",
            "--md",
            str(tmp / "t1.md"),
            "--csv",
            str(tmp / "t1.csv"),
        ]
    )
    assert rc == 0
    t1 = pd.read_csv(tmp / "t1.csv")
    assert set(t1["baseline"]) == {"original", "pad-all", "pad-query", "pad", "zero-all", "zero-query"}
    assert (t1["mean |P(rel) - P(non-rel)|"] >= t1["mean P(rel) - P(non-rel)"].abs() - 1e-12).all()
    assert (t1.loc[t1["baseline"] == "original", "relative to original"] == 1.0).all()


def test_cli_errors_are_one_line(nig_inputs, tmp_path, capsys):
    tmp, common, pairs = nig_inputs
    bad = [a if a != str(pairs) else str(tmp / "missing.parquet") for a in common]
    assert main(["nig", "attribute", *bad, "--label", "relevant", "--out", str(tmp / "x")]) == 2
    assert "missing.parquet: pairs table not found" in capsys.readouterr().err
    assert main(["nig", "merge", "--inputs", str(tmp / "nope"), "--out", str(tmp / "m")]) == 2
    assert "nope.npy: NIG shard not found" in capsys.readouterr().err
    assert main(["nig", "schemes", "--set", "justaprefix", "--out-dir", str(tmp), "--tables-dir", str(tmp)]) == 2
    assert "expected <prefix>:<dataset>:<label>" in capsys.readouterr().err
    assert (
        main(["nig", "attribute", *common, "--label", "relevant", "--baseline", "mask", "--out", str(tmp / "x")]) == 2
    )
    err = capsys.readouterr().err
    assert "baseline 'mask'" in err and err.count("\n") == 1
    assert not list(tmp.glob("x.*"))


def test_merge_shards_orders_pairs_and_rejects_a_layout_mismatch(tmp_path):
    from irlens.nig.pairs import merge_shards

    neurons = pd.DataFrame(
        {"layer": [0, 0, 1], "component": ["query", "key", "query"], "unit": [0, 0, 0], "module": ["a", "b", "c"]}
    )
    for name, pairs in (("s0", [2, 0]), ("s1", [3, 1])):
        np.save(tmp_path / f"{name}.npy", np.array([[p, p, p] for p in pairs], dtype=np.float32))
        neurons.to_parquet(tmp_path / f"{name}.neurons.parquet", index=False)
        table = pd.DataFrame({"pair": pairs, "qid": [f"q{p}" for p in pairs]})
        table.to_parquet(tmp_path / f"{name}.pairs.parquet", index=False)
    table = merge_shards([str(tmp_path / "s1"), str(tmp_path / "s0")], str(tmp_path / "m"))
    assert table["pair"].tolist() == [0, 1, 2, 3] and table["qid"].tolist() == ["q0", "q1", "q2", "q3"]
    assert np.load(tmp_path / "m.npy")[:, 0].tolist() == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "m.pairs.parquet"), table)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "m.neurons.parquet"), neurons)
    neurons.assign(unit=[0, 1, 0]).to_parquet(tmp_path / "s1.neurons.parquet", index=False)
    with pytest.raises(IrlensError, match="neuron layout differs"):
        merge_shards([str(tmp_path / "s0"), str(tmp_path / "s1")], str(tmp_path / "x"))
    assert not list(tmp_path.glob("x.*"))
