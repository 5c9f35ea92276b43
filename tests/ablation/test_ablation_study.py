"""The ablation study: evaluation sets, the cached/batched mask scorer (equal to masks one at a time),
shard-independent random masks, statistics by hand, Table 4 and the CLI (sharded == unsharded)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irlens.ablation import NeuronMask, apply_mask
from irlens.ablation.study import ORIGINAL, RANDOM, SCHEME, merge, plan, random_drops, summarise
from irlens.cli import main
from irlens.errors import IrlensError


@pytest.fixture(scope="module")
def tiny_ce_dir(tmp_path_factory):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from conftest import copy_minilm_tokenizer

    out = copy_minilm_tokenizer(tmp_path_factory.mktemp("tiny-ce"))
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=2,
    )
    m = BertForSequenceClassification(cfg)
    with torch.no_grad():  # larger weights: masks visibly change the scores
        for n, p in m.named_parameters():
            if "encoder" in n and n.endswith("weight") and "LayerNorm" not in n:
                p.mul_(3.0)
            if n.startswith("classifier"):
                p.mul_(100.0)
    m.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_ce(tiny_ce_dir):
    from irlens.models import load_cross_encoder

    ce, _ = load_cross_encoder(str(tiny_ce_dir), device="cpu", max_length=32)
    return ce


PAIRS_Q = [
    "why do cats purr",
    "why do cats purr",
    "dog barking",
    "dog barking",
    "fish in water",
    "fish in water",
    "cats",
    "a much longer query about dogs and cats and fish",
]
PAIRS_D = [
    "Cats purr and sleep.",
    "Dogs bark at the mailman all day long.",
    "Dogs bark.",
    "Birds sing in the morning.",
    "Fish swim in water all day.",
    "Cats and dogs.",
    "x",
    "y z",
]


def _one_by_one(ce, masks):
    out = []
    for m in masks:
        with apply_mask(ce.model, m):
            out.append(ce.score(PAIRS_Q, PAIRS_D, max_batch=3))
    return np.array(out)


def test_scorer_equals_masks_one_at_a_time(tiny_ce):
    from irlens.ablation.scorer import MaskedScorer

    L = "bert.encoder.layer"
    masks = [
        NeuronMask({f"{L}.2.intermediate.dense": [1, 5, 9]}, "top layer"),  # runs from the cached layer 2
        NeuronMask({f"{L}.1.attention.self.value": [0, 31], f"{L}.2.output.dense": [4]}, "from layer 1"),
        NeuronMask({}, "empty"),
        NeuronMask({f"{L}.0.attention.self.query": [3]}, "layer 0"),
        NeuronMask({f"{L}.2.intermediate.dense": [2]}, "top again"),
    ]
    ref = _one_by_one(tiny_ce, masks)
    assert np.abs(ref[0] - ref[2]).max() > 1e-3  # the masks do something
    for max_rows, cache in [(64, 2048), (5, 2048), (3, 0), (1, 2048)]:
        sc = MaskedScorer(tiny_ce, PAIRS_Q, PAIRS_D, max_rows=max_rows, cache_mb=cache)
        got = sc.score(masks)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
        np.testing.assert_allclose(sc.original(), ref[2], rtol=0, atol=1e-5)
        assert [sc.start_layer(m) for m in masks] == [2, 1, 3, 0, 2]
        assert sc.prefix_cache is (True if cache else None)
    # the model is the original again: no hooks, all layers
    assert len(tiny_ce.model.bert.encoder.layer) == 3
    ours = [
        h
        for m in tiny_ce.model.modules()
        for h in m._forward_hooks.values()
        if getattr(h, "__module__", "").startswith("irlens")
    ]
    assert not ours  # (transformers keeps its own inert output-capturing hooks)


def _sets_table(widths):
    rows = []
    for scheme, picks in {"P:x": [("m0", 1), ("m1", 2)], "N:x": [("m1", 0)], "AND_A:P": []}.items():
        for lv in (0.1, 1.0):
            for m, u in picks if lv == 1.0 else picks[:1]:
                rows.append({"scheme": scheme, "level": lv, "module": m, "unit": u})
    return pd.DataFrame(rows, columns=["scheme", "level", "module", "unit"])


def test_plan_random_masks_are_shard_independent_and_matched():
    widths = {"m0": 16, "m1": 8}
    sets = _sets_table(widths)
    full = plan(sets, ["P:x", "N:x", "AND_A:P"], [0.1, 1.0], widths, repeats=5, seed=3)
    parts = [
        plan(sets, ["P:x", "N:x", "AND_A:P"], [0.1, 1.0], widths, repeats=5, seed=3, shard=s, shards=3)
        for s in range(3)
    ]
    key = lambda sp: (sp.kind, sp.scheme, str(sp.level), sp.repeat)  # noqa: E731
    assert sorted(map(key, full)) == sorted(key(sp) for p in parts for sp in p)
    by = {key(sp): sp.mask.units for p in parts for sp in p}
    assert all(by[key(sp)] == sp.mask.units for sp in full)
    assert full[0].kind == ORIGINAL and full[0].mask.size == 0
    schemes = {(sp.scheme, sp.level): sp.mask for sp in full if sp.kind == SCHEME}
    assert schemes[("AND_A:P", 1.0)].size == 0  # an empty intersection stays empty
    for sp in full:
        if sp.kind == RANDOM:
            assert sp.mask.counts() == schemes[(sp.scheme, sp.level)].counts()
    reps = [sp.mask.units for sp in full if sp.kind == RANDOM and sp.scheme == "P:x" and sp.level == 1.0]
    assert len({str(u) for u in reps}) > 1  # drawn anew per repeat
    with pytest.raises(IrlensError, match="ablation schemes Q:y are not in the NIG sets"):
        plan(sets, ["Q:y"], [1.0], widths, 2, 0)
    with pytest.raises(IrlensError, match="levels \\[0.5\\]"):
        plan(sets, ["P:x"], [0.5], widths, 2, 0)


def _per_query(kind, scheme, level, repeat, vals, n=0):
    return pd.DataFrame(
        {
            "kind": kind,
            "scheme": scheme,
            "level": level,
            "repeat": repeat,
            "n_neurons": n,
            "qid": [f"q{i}" for i in range(len(vals))],
            "ndcg": vals,
        }
    )


def test_summary_by_hand():
    orig = [1.0, 0.5, 0.5, 1.0]  # mean 0.75
    parts = [
        _per_query(ORIGINAL, "", np.nan, -1, orig),
        _per_query(SCHEME, "P:x", 1.0, -1, [0.5, 0.5, 0.25, 0.5], 3),
    ]  # mean 0.4375
    rnd = [
        [1.0, 0.5, 0.5, 1.0],
        [0.75, 0.5, 0.5, 1.0],
        [1.0, 0.25, 0.5, 1.0],
        [0.25, 0.25, 0.25, 0.25],
    ]  # drops 0, 8.33, 8.33, 66.67
    parts += [_per_query(RANDOM, "P:x", 1.0, r, v, 3) for r, v in enumerate(rnd)]
    df = merge(parts[::-1], repeats=4)
    assert df["kind"].iloc[0] == ORIGINAL
    st = summarise(df, "ev").iloc[0]
    assert st["drop_pct"] == pytest.approx((0.75 - 0.4375) / 0.75 * 100)
    drops = np.array([0, 0.0625 / 0.75 * 100, 0.0625 / 0.75 * 100, 0.5 / 0.75 * 100])
    assert st["random_drop_mean"] == pytest.approx(drops.mean())
    assert st["random_drop_sd"] == pytest.approx(drops.std(ddof=1))
    assert st["empirical_p"] == pytest.approx((1 + 1) / (1 + 4))  # one repeat (66.7 %) drops more than 41.7 %
    assert st["z"] == pytest.approx((st["drop_pct"] - drops.mean()) / drops.std(ddof=1))
    assert st["repeats"] == 4 and st["n_neurons"] == 3
    rd = random_drops(df)
    np.testing.assert_allclose(sorted(rd["drop_pct"]), sorted(drops))
    with pytest.raises(IrlensError, match="expected 5 random repeats"):
        merge(parts, repeats=5)
    with pytest.raises(IrlensError, match="same mask appears in two shards"):
        merge(parts + parts[-1:])


def test_table4_marks_biggest_and_second(tmp_path):
    from irlens.ablation.report import write_table4

    rows = []
    for s, d, p in [("P:x", 5.0, 0.2), ("N:x", 20.0, 0.001), ("F:x", 10.0, 0.5), ("AND_A:P", 0.0, 1.0)]:
        rows.append(
            {
                "eval_set": "ev",
                "scheme": s,
                "level": 1.0,
                "n_neurons": 0 if s == "AND_A:P" else 7,
                "queries": 40,
                "drop_pct": d,
                "mean_diff": -d / 200,
                "ci_low": -d / 100,
                "ci_high": 0.0,
                "d_z": -d / 40,
                "p": p,  # Holm over the 3 non-empty cells: only N:x stays <= 0.05
                "random_drop_mean": 1.0,
                "random_drop_sd": 0.5,
                "empirical_p": 0.02,
                "random_significant": 1,
                "repeats": 50,
            }
        )
    write_table4(pd.DataFrame(rows), tmp_path / "t.md", tmp_path / "t.csv", tmp_path / "t.tex", roles={"ev": "ID"})
    md, tex = (tmp_path / "t.md").read_text(), (tmp_path / "t.tex").read_text()
    assert "**20.00**\\*" in md and "<u>10.00</u>" in md and "0.00 (empty set)" in md and "ev (ID)" in md
    assert "\\textbf{20.00}$^{*}$" in tex and "\\underline{10.00}" in tex and "$\\cap_{A} P$" in tex
    assert len(pd.read_csv(tmp_path / "t.csv")) == 4 and md.count("\\*") == 2  # N:x, and the legend


def test_evalset_leaves_out_attributed_queries(tiny_beir):
    from irlens.ablation.evalset import build_eval_set
    from irlens.data.beir import load_beir

    ds = load_beir(tiny_beir, ["test"])
    ev = build_eval_set(ds, "test", 0, 2, seed=0, exclude_qids={"q2"})
    assert set(ev["qid"]) == {"q1", "6"}
    q1 = ev[ev["qid"] == "q1"]
    assert q1[q1["source"] == "qrels"]["doc_id"].tolist() == ["d1", "d5"]  # every relevant passage
    assert len(q1) <= 4 and not q1["doc_id"].duplicated().any()
    assert (ev[ev["source"] == "bm25"]["grade"] == 0).all() or set(ev["grade"]) <= {0, 1, 2}
    capped = build_eval_set(ds, "test", 0, 2, seed=0, max_relevant=1)
    assert capped[(capped["qid"] == "q1") & (capped["source"] == "qrels")]["doc_id"].tolist() == [
        "d5"
    ]  # the grade-2 one
    with pytest.raises(IrlensError, match="no judged query left"):
        build_eval_set(ds, "test", 0, 2, seed=0, exclude_qids={"q1", "q2", "6"})


def test_cli_sharded_equals_unsharded_table_and_figure(tiny_beir, tiny_ce_dir, tmp_path, capsys):
    from irlens.attribution.neurons import neuron_layout, neuron_table
    from irlens.models import load_cross_encoder

    ce, _ = load_cross_encoder(str(tiny_ce_dir), device="cpu", max_length=32)
    nt = neuron_table(neuron_layout(ce.model)).reset_index()
    rng = np.random.default_rng(0)
    rows = []
    for scheme in ("P:tiny", "N:tiny", "F_A"):
        pick = nt.iloc[np.sort(rng.choice(len(nt), 12, replace=False))]
        for lv, k in ((0.1, 3), (1.0, 12)):
            rows.append(pick.head(k).assign(scheme=scheme, level=lv, value=1.0))
    sets = pd.concat(rows, ignore_index=True)
    sets_path = tmp_path / "sets.parquet"
    sets.to_parquet(sets_path, index=False)
    ev = tmp_path / "ev.parquet"
    assert (
        main(
            [
                "ablation",
                "evalset",
                "--data",
                str(tiny_beir),
                "--dataset",
                "tiny",
                "--split",
                "test",
                "--depth",
                "3",
                "--out",
                str(ev),
            ]
        )
        == 0
    )
    common = [
        "--model",
        str(tiny_ce_dir),
        "--max-length",
        "32",
        "--threads",
        "1",
        "--data",
        str(tiny_beir),
        "--evalset",
        str(ev),
        "--sets",
        str(sets_path),
        "--schemes",
        "P:tiny",
        "N:tiny",
        "F_A",
        "--levels",
        "0.1",
        "1",
        "--repeats",
        "4",
        "--max-rows",
        "8",
    ]
    assert main(["ablation", "run", *common, "--out", str(tmp_path / "all.parquet")]) == 0
    for s in range(3):
        assert (
            main(
                [
                    "ablation",
                    "run",
                    *common,
                    "--shard",
                    str(s),
                    "--shards",
                    "3",
                    "--out",
                    str(tmp_path / f"s{s}.parquet"),
                ]
            )
            == 0
        )
    assert (
        main(
            [
                "ablation",
                "merge",
                "--inputs",
                *[str(tmp_path / f"s{s}.parquet") for s in range(3)],
                "--repeats",
                "4",
                "--out",
                str(tmp_path / "merged.parquet"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "ablation",
                "merge",
                "--inputs",
                str(tmp_path / "all.parquet"),
                "--repeats",
                "4",
                "--out",
                str(tmp_path / "all-merged.parquet"),
            ]
        )
        == 0
    )
    a, b = pd.read_parquet(tmp_path / "all-merged.parquet"), pd.read_parquet(tmp_path / "merged.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == (1 + 3 * 2 * (1 + 4)) * 3  # (original + schemes x levels x (scheme + 4 random)) x 3 queries
    assert a[a["kind"] == RANDOM]["ndcg"].std() > 0  # masks change rankings
    tab = [
        "--input",
        f"tiny={tmp_path / 'merged.parquet'}",
        "--input",
        f"twin={tmp_path / 'merged.parquet'}",
        "--role",
        "tiny=ID",
    ]
    assert (
        main(
            [
                "ablation",
                "table",
                *tab,
                "--md",
                str(tmp_path / "t4.md"),
                "--csv",
                str(tmp_path / "t4.csv"),
                "--tex",
                str(tmp_path / "t4.tex"),
            ]
        )
        == 0
    )
    t4 = pd.read_csv(tmp_path / "t4.csv")
    assert len(t4) == 2 * 3 * 2 and set(t4["repeats"]) == {4} and t4["p"].dropna().between(0, 1).all()
    assert (t4["p_adj"].dropna() >= t4["p"].dropna() - 1e-12).all() and set(t4["correction"]) == {"holm"}
    assert main(["ablation", "figure", *tab[:4], "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig.png").stat().st_size > 1000 and (tmp_path / "fig.pdf").is_file()
    # one-line errors, nothing half-written
    capsys.readouterr()
    assert (
        main(["ablation", "run", *[c if c != "F_A" else "Z:z" for c in common], "--out", str(tmp_path / "bad.parquet")])
        == 2
    )
    err = capsys.readouterr().err
    assert "ablation schemes Z:z are not in the NIG sets" in err and err.count("\n") == 1
    assert not (tmp_path / "bad.parquet").exists()
    assert (
        main(["ablation", "merge", "--inputs", str(tmp_path / "s1.parquet"), "--out", str(tmp_path / "m.parquet")]) == 2
    )
    assert "no original-model rows" in capsys.readouterr().err


def test_per_query_ndcg_by_hand():
    from irlens.ablation.study import per_query_ndcg

    ev = pd.DataFrame({"qid": ["b", "b", "a", "a", "a"], "doc_id": ["x", "y", "x", "y", "z"], "grade": [1, 0, 2, 0, 1]})
    got = per_query_ndcg(ev, np.array([[0.0, 1.0, 3.0, 2.0, 1.0], [1.0, 0.0, 1.0, 2.0, 3.0]]))
    ideal_a = 2 + 1 / np.log2(3)  # trec_eval's nDCG: linear gains (the grade), log2(rank + 1) discount
    np.testing.assert_allclose(got[0], [(2 + 1 / np.log2(4)) / ideal_a, 1 / np.log2(3)])  # qids sorted: a, b
    np.testing.assert_allclose(got[1], [(1 + 2 / np.log2(4)) / ideal_a, 1.0])


def test_intersections_of_left_out_set_kinds_are_refused_not_empty_masks():
    # nig.unjudged_negatives: exclude leaves no N or F set: AND_A:N must be an error, not a silent empty mask
    from irlens.ablation.study import scheme_masks

    unit = {"layer": 0, "component": "ffn", "unit": 0, "module": "m"}
    sets = pd.DataFrame([{**unit, "scheme": s, "level": 1.0, "value": 1.0} for s in ("P:a", "P:b", "F_A")])
    assert len(scheme_masks(sets, ["P:a", "AND_A:P", "AND_O:P", "F_A"], [1.0])) == 4  # empty P intersections: ok
    for bad in ("AND_A:N", "AND_O:F", "N:a"):
        with pytest.raises(IrlensError, match="not in the NIG sets"):
            scheme_masks(sets, ["P:a", bad], [1.0])


def test_dose_response_ranked_by_true_single_neuron_effects_beats_random(tiny_ce):
    """Rank the neurons of two modules by their true effect (zeroing each one alone, brute force): dose 1 of that
    ranking hurts at least as much as any single random neuron in the same module (empirical p at its floor),
    the random baseline is seeded, and a count beyond the ranking is refused."""
    import pandas as pd

    from irlens.ablation.dose import dose_response
    from irlens.ablation.scorer import MaskedScorer
    from irlens.errors import IrlensError

    sc = MaskedScorer(tiny_ce, PAIRS_Q, PAIRS_D, cache_mb=0)
    L = "bert.encoder.layer"
    module = f"{L}.2.intermediate.dense"
    width = sc.widths[module]
    singles = [NeuronMask({module: [u]}, f"u{u}") for u in range(width)]
    effect = (sc.score(singles) - sc.original()[None, :]).mean(1)  # mean score change of each neuron alone
    ranked = pd.DataFrame({"module": module, "unit": np.argsort(effect, kind="stable")})  # most harmful first
    t = dose_response(sc, ranked, counts=(1, 3, 10, 10_000), repeats=9, seed=4)
    assert list(t["n"]) == [1, 3, 10] and (t["repeats"] == 9).all() and (t["pairs"] == len(PAIRS_Q)).all()
    assert t.loc[0, "delta"] == pytest.approx(effect.min(), abs=1e-6)
    # no single random neuron hurts more than the worst one; a draw of that same neuron ties (counted, ≤)
    import zlib

    same = sum(
        int(np.random.default_rng([4, zlib.crc32(b"dose"), 1, r]).choice(width, size=1, replace=False)[0])
        == int(ranked["unit"].iloc[0])
        for r in range(9)
    )
    assert t.loc[0, "empirical_p"] == pytest.approx((1 + same) / 10)
    assert (t["delta"] <= t["random_mean"] + 1e-9).all()
    # the whole curve, one test: the ranked mean Δ over the counts vs each draw's curve (draw r at every n)
    assert t["curve_delta"].nunique() == 1 and t["curve_delta"].iloc[0] == pytest.approx(t["delta"].mean(), abs=1e-12)
    assert t["curve_random"].iloc[0] == pytest.approx(t["random_mean"].mean(), abs=1e-12)
    assert t["curve_p"].iloc[0] in [k / 10 for k in range(1, 11)]
    again = dose_response(sc, ranked, counts=(1, 3, 10), repeats=9, seed=4)
    pd.testing.assert_frame_equal(again, t)
    assert not dose_response(sc, ranked, counts=(3,), repeats=9, seed=5).equals(t.iloc[[1]].reset_index(drop=True))
    with pytest.raises(IrlensError, match="no count"):
        dose_response(sc, ranked, counts=(width + 1,))
