"""``irlens ablation dose``: the dose-response of one NIG scheme on the pairs NIG attributed for it (table, figure,
one-line errors), and the package pieces it is built from (ranking = the scheme's top-X % sets, members, P(target),
the correction over the counts)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from irlens.ablation.dose import (
    TargetScorer,
    correct_counts,
    scheme_members,
    scheme_ranking,
    smallest_adjusted_p,
)
from irlens.cli import main
from irlens.errors import IrlensError

#: the NIG pairs of the tiny dataset (queries and passages of conftest.tiny_beir)
RELEVANT = [("q1", "d1"), ("q1", "d5"), ("q2", "d2")]
NON_RELEVANT = [("q2", "d3"), ("6", "d1")]


@pytest.fixture(scope="module")
def strong_ce(tmp_path_factory):
    """A tiny 2-layer reranker with enlarged weights, so zeroing a few units visibly moves P(relevant)."""
    from conftest import make_tiny_ce

    return make_tiny_ce(tmp_path_factory.mktemp("dose-ce"), seed=1, scale=3.0)


def _nig_outputs(tmp_path, ce_dir) -> tuple:
    """What the NIG stage leaves for one tiny dataset: schemes/values.parquet + roles.json and the merged pairs
    tables of both labels (and one of a dataset no scheme was built from)."""
    from irlens.attribution.neurons import neuron_layout, neuron_table
    from irlens.models import load_cross_encoder

    ce, _ = load_cross_encoder(str(ce_dir), device="cpu", max_length=32)
    nt = neuron_table(neuron_layout(ce.model)).reset_index()
    rng = np.random.default_rng(3)
    values = nt.copy()
    for s in ("P:tiny", "N:tiny"):
        values[s] = rng.normal(size=len(nt))
    values["F:tiny"] = values["F_A"] = 0.5 * (values["P:tiny"] + values["N:tiny"])
    sd = tmp_path / "schemes"
    sd.mkdir()
    values.to_parquet(sd / "values.parquet", index=False)
    roles = {"levels": [1.0, 10.0], "rank_by": "value", "pairs": {"tiny:relevant": 3, "tiny:non-relevant": 2}}
    (sd / "roles.json").write_text(json.dumps(roles))
    pairs = []
    for ds, label, rows in (("tiny", "relevant", RELEVANT), ("tiny", "non-relevant", NON_RELEVANT)):
        p = tmp_path / ds / label / "all.pairs.parquet"
        p.parent.mkdir(parents=True)
        df = pd.DataFrame(rows, columns=["qid", "doc_id"]).assign(dataset=ds, label=label)
        df.insert(0, "pair", range(len(df)))
        df.to_parquet(p, index=False)
        pairs.append(str(p))
    other = tmp_path / "other.pairs.parquet"  # a set no scheme averages: skipped
    pd.DataFrame({"dataset": ["ghost"], "pair": [0], "qid": ["x"], "doc_id": ["y"], "label": ["relevant"]}).to_parquet(
        other, index=False
    )
    return ce, values, sd, pairs + [str(other)]


def _args(ce_dir, sd, pairs, beir, out, scheme="F_A", extra=()):
    return [
        "ablation",
        "dose",
        "--model",
        str(ce_dir),
        "--max-length",
        "32",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--schemes-dir",
        str(sd),
        "--scheme",
        scheme,
        "--pairs",
        *pairs,
        "--data",
        f"tiny={beir}",
        "--counts",
        "1",
        "3",
        "10",
        "100000",
        "--repeats",
        "4",
        "--max-rows",
        "7",
        "--out",
        str(out / "dose.parquet"),
        "--md",
        str(out / "dose.md"),
        "--csv",
        str(out / "dose.csv"),
        "--figure",
        str(out / "dose"),
        *extra,
    ]


def _p_target(ce, pairs, beir, mask=None) -> np.ndarray:
    """P(target label) of each pair, one pair at a time, with ``mask`` applied: the quantity NIG explains."""
    import torch

    from irlens.ablation import apply_mask
    from irlens.data.beir import doc_text, load_beir

    ds = load_beir(beir, [])
    out = []
    for q, d, target in pairs:
        feats = ce.features([ds.queries[q]], [doc_text(ds.corpus[d])])
        with torch.inference_mode():
            if mask is None:
                logits = ce.model(**feats).logits
            else:
                with apply_mask(ce.model, mask):
                    logits = ce.model(**feats).logits
        p = torch.softmax(logits.double(), -1)[0]
        out.append(float(p[1] if target == 1 else p[0]))
    return np.array(out)


def test_cli_dose_table_by_hand_and_figure(strong_ce, tiny_beir, tmp_path):
    from irlens.ablation import NeuronMask
    from irlens.ablation.stats import holm

    ce, values, sd, pairs = _nig_outputs(tmp_path, strong_ce)
    out = tmp_path / "out"
    assert main(_args(strong_ce, sd, pairs, tiny_beir, out)) == 0
    t = pd.read_parquet(out / "dose.parquet")
    assert list(t.columns) == [
        "scheme",
        "n",
        "pct_neurons",
        "delta",
        "random_mean",
        "random_sd",
        "empirical_p",
        "repeats",
        "pairs",
        "curve_delta",
        "curve_random",
        "curve_p",
        "p_adjusted",
        "significant",
    ]
    assert list(t["n"]) == [1, 3, 10]  # 100000 > the neurons: dropped
    assert (t["scheme"] == "F_A").all() and (t["repeats"] == 4).all() and (t["pairs"] == 5).all()
    assert np.allclose(t["pct_neurons"], 100 * t["n"] / len(values))
    np.testing.assert_allclose(t["p_adjusted"], holm(t["empirical_p"].to_numpy()))
    assert t["empirical_p"].between(1 / 5, 1).all() and (t["significant"] == (t["p_adjusted"] <= 0.05)).all()
    # Δ by hand: the 10 largest F_A values zeroed; P(relevant) of relevant pairs, P(non-relevant) of the others
    both = [(q, d, 1) for q, d in RELEVANT] + [(q, d, 0) for q, d in NON_RELEVANT]
    top = values.iloc[np.argsort(-values["F_A"].to_numpy(), kind="stable")[:10]]
    per_pair = _p_target(ce, both, tiny_beir, NeuronMask.from_neurons(top)) - _p_target(ce, both, tiny_beir)
    # every pair moves (~1e-4), so a wrong sign for the non-relevant pairs would miss by far more than 1e-7
    assert np.abs(per_pair).min() > 5e-5, per_pair
    assert t.loc[t["n"] == 10, "delta"].item() == pytest.approx(per_pair.mean(), abs=1e-7)
    # table, caption with what the sample can show, figure, timing
    md = (out / "dose.md").read_text()
    assert "5 pairs NIG attributed" in md and "4 draws per n" in md and "floor 0.2" in md
    assert "Whole curve, one test" in md and t["curve_p"].nunique() == 1
    assert "no count can reach p ≤ 0.05" in md and "tiny:relevant, tiny:non-relevant" in md.replace("\\", "")
    assert len(pd.read_csv(out / "dose.csv")) == 3
    assert (out / "dose.png").stat().st_size > 5000 and (out / "dose.pdf").stat().st_size > 0
    timing = json.loads((out / "dose.json").read_text())
    assert (
        timing["masks"] == 3 * 5
        and timing["pairs"] == 5
        and timing["members"] == ["tiny:relevant", "tiny:non-relevant"]
    )
    # P:tiny re-scores the relevant pairs only; the same seed gives the same random baseline
    p_out = tmp_path / "p"
    assert main(_args(strong_ce, sd, pairs, tiny_beir, p_out, scheme="P:tiny")) == 0
    tp = pd.read_parquet(p_out / "dose.parquet")
    assert (tp["pairs"] == 3).all() and (tp["scheme"] == "P:tiny").all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: _set(a, "--scheme", "AND_A:P"), "an intersection of top-X % sets has no ranking of its own"),
        (lambda a: _set(a, "--scheme", "P:ghost"), "'P:ghost': not a scheme of these NIG values"),
        (lambda a: _set(a, "--data", "tiny"), "--data 'tiny': expected <dataset>=<path>"),
        (lambda a: _set(a, "--data", "ghost=/nowhere"), "no --data <dataset>=<folder> for tiny"),
        (lambda a: _set(a, "--repeats", "0"), "--repeats must be >= 1"),
        (lambda a: _set(a, "--counts", "0"), "--counts must be positive integers"),
        (lambda a: _drop_pairs(a, "non-relevant"), "no NIG pairs for tiny:non-relevant among --pairs"),
        (lambda a: _set(a, "--schemes-dir", "/nowhere"), "roles.json: NIG scheme roles not found"),
    ],
)
def test_cli_dose_bad_input_is_one_line(strong_ce, tiny_beir, tmp_path, capsys, change, message):
    _, _, sd, pairs = _nig_outputs(tmp_path, strong_ce)
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(change(_args(strong_ce, sd, pairs, tiny_beir, out))) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()  # nothing half-written


def _set(args: list, flag: str, value: str) -> list:
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


def _drop_pairs(args: list, label: str) -> list:
    return [a for a in args if f"/{label}/" not in a]


# ------------------------------------------------------------------------------------ package pieces
def test_ranking_prefix_is_the_scheme_set_at_every_level():
    """The top set_size(level) rows of the ranking are exactly top_set(level), by value and by |value|, ties
    included, so the curve passes through Table 4's sets."""
    from irlens.nig.schemes import set_size, top_set

    rng = np.random.default_rng(0)
    n = 997
    v = np.round(rng.normal(size=n), 1)  # many ties
    values = pd.DataFrame({"layer": 0, "component": "ffn", "unit": np.arange(n), "module": "m", "F_A": v})
    for rank_by in ("value", "abs"):
        r = scheme_ranking(values, "F_A", rank_by)
        assert list(r["rank"]) == list(range(1, n + 1)) and sorted(r["neuron"]) == list(range(n))
        for lv in (0.1, 1.0, 5.0, 50.0):
            k = set_size(n, lv)
            assert sorted(r["neuron"].iloc[:k]) == list(top_set(v, lv, rank_by)), (rank_by, lv)
    with pytest.raises(IrlensError, match="no ranking of its own"):
        scheme_ranking(values, "AND_O:P")
    with pytest.raises(IrlensError, match="choose one of F_A"):
        scheme_ranking(values, "unit")


def test_scheme_members():
    sets = ["a:relevant", "a:non-relevant", "b:relevant"]  # b's non-relevant set was left out
    assert scheme_members("F_A", sets) == sets
    assert scheme_members("P:a", sets) == ["a:relevant"]
    assert scheme_members("F:a", sets) == ["a:relevant", "a:non-relevant"]
    assert scheme_members("F:b", sets) == ["b:relevant"]
    for bad, msg in (("N:b", "averages none"), ("AND_A:P", "no ranking"), ("X:a", "no ranking")):
        with pytest.raises(IrlensError, match=msg):
            scheme_members(bad, sets)


class _Fixed:
    """A stand-in MaskedScorer: fixed ranking scores (log P(relevant), or logits for 1-logit heads)."""

    def __init__(self, scores):
        self.s = np.asarray(scores, dtype=np.float64)
        self.n, self.widths = len(self.s), {"m": 4}

    def original(self):
        return self.s

    def score(self, masks, progress=False):
        return np.stack([self.s - 0.1 * (i + 1) for i in range(len(masks))])


def test_target_scorer_explains_the_label_nig_explained():
    two = TargetScorer(_Fixed(np.log([0.9, 0.2])), [1, 0], num_labels=2)
    np.testing.assert_allclose(two.original(), [0.9, 0.8])
    one = TargetScorer(_Fixed([0.0, 2.0]), [1, 0], num_labels=1)
    np.testing.assert_allclose(one.original(), [0.5, 1 / (1 + np.exp(2.0))])
    # a lower relevance score lowers P(relevant) of a relevant pair and raises P(non-relevant) of the other
    d = two.score([None]) - two.original()
    assert d[0, 0] < 0 < d[0, 1]
    with pytest.raises(IrlensError, match="one target"):
        TargetScorer(_Fixed([0.0, 1.0]), [1], num_labels=2)


def test_correction_over_counts_and_its_floor():
    t = pd.DataFrame({"empirical_p": [1 / 200, 1 / 200, 0.5], "n": [1, 2, 5]})
    c = correct_counts(t, "holm")
    np.testing.assert_allclose(c["p_adjusted"], [3 / 200, 3 / 200, 0.5])
    assert list(c["significant"]) == [True, True, False]
    assert list(correct_counts(t, "none")["p_adjusted"]) == list(t["empirical_p"])
    assert smallest_adjusted_p(20, 10, "holm") == pytest.approx(10 / 21)
    assert smallest_adjusted_p(199, 10, "holm") == pytest.approx(0.05)
    assert smallest_adjusted_p(20, 10, "none") == pytest.approx(1 / 21)


def test_whole_curve_p_by_hand():
    """Three counts, two random draws: the curve statistic is the mean over counts, draw r's curve is its draw at
    every n; p = (1 + #draw curves ≤ the ranked curve) / 3."""
    from irlens.ablation.dose import dose_response

    class Fixed:  # delta of each mask fixed by its name: top-n → −n, random-n#r → −n·(0.5 if r == 0 else 2)
        widths = {"m": 100}

        def original(self):
            return np.zeros(1)

        def score(self, masks):
            out = []
            for mk in masks:
                n = len(mk.units["m"])
                r = mk.name.split("#")[1] if "#" in mk.name else None
                out.append([-n * (1.0 if r is None else (0.5 if r == "0" else 2.0))])
            return np.array(out)

    ranked = pd.DataFrame({"module": "m", "unit": np.arange(100)})
    t = dose_response(Fixed(), ranked, counts=(1, 2, 5), repeats=2, seed=0)
    assert t["curve_delta"].iloc[0] == pytest.approx(-8 / 3)
    assert t["curve_random"].iloc[0] == pytest.approx((-4 / 3 - 16 / 3) / 2)
    assert t["curve_p"].iloc[0] == pytest.approx((1 + 1) / 3)  # draw 1 (−16/3) hurts more, draw 0 does not
