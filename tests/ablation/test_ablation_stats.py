"""Statistics of Table 4 without any model: multiple-testing corrections (by hand, against statsmodels and
scipy), the paired effect size, zero-variance t-tests, power; and the table itself from merged per-query
tables built by hand (correction over the whole table, undefined tests, the CSV columns, the caption)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from irlens.ablation.stats import (
    adjust,
    benjamini_hochberg,
    holm,
    min_detectable_d_z,
    n_for_power,
    paired_effect,
    paired_power,
    paired_ttest,
)
from irlens.ablation.study import ORIGINAL, RANDOM, SCHEME, merge, summarise
from irlens.cli import main
from irlens.errors import IrlensError

P = [0.01, 0.04, 0.03, float("nan"), 0.005]


# ----------------------------------------------------------------------------------- corrections
def test_holm_and_bh_by_hand_nan_aware():
    # non-NaN sorted: 0.005, 0.01, 0.03, 0.04 (m = 4; the NaN does not count)
    # Holm: 4·0.005 = 0.02, 3·0.01 = 0.03, 2·0.03 = 0.06, max(1·0.04, 0.06) = 0.06
    np.testing.assert_allclose(holm(P), [0.03, 0.06, 0.06, np.nan, 0.02], rtol=1e-12)
    # BH: 4/1·0.005 = 0.02, 4/2·0.01 = 0.02, 4/3·0.03 = 0.04, 4/4·0.04 = 0.04 (then running min from the top)
    np.testing.assert_allclose(benjamini_hochberg(P), [0.02, 0.04, 0.04, np.nan, 0.02], rtol=1e-12)
    # capped at 1; ties keep equal values
    np.testing.assert_allclose(holm([0.5, 0.5, 0.9]), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(benjamini_hochberg([0.5, 0.5, 0.9]), [0.75, 0.75, 0.9])
    assert np.isnan(holm([np.nan, np.nan])).all() and len(holm([])) == 0
    np.testing.assert_allclose(adjust(P, "none"), P)
    np.testing.assert_allclose(adjust(P, "bh"), benjamini_hochberg(P))
    with pytest.raises(IrlensError, match="expected one of holm, bh, none"):
        adjust(P, "bonferroni")
    with pytest.raises(IrlensError, match=r"must lie in \[0, 1\]"):
        holm([0.1, 1.5])


def test_holm_properties_on_random_pvalues():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.uniform(0, 1, rng.integers(1, 30)) ** rng.uniform(0.2, 3)
        p[rng.uniform(size=len(p)) < 0.1] = np.nan
        adj, ok = holm(p), ~np.isnan(p)
        assert (np.isnan(adj) == ~ok).all()
        assert (adj[ok] >= p[ok] - 1e-15).all() and (adj[ok] <= 1).all()
        order = np.argsort(p[ok], kind="stable")
        assert (np.diff(adj[ok][order]) >= 0).all()  # monotone in the raw order
        bh = benjamini_hochberg(p)
        assert (bh[ok] >= p[ok] - 1e-15).all() and (bh[ok] <= adj[ok] + 1e-15).all()  # BH never above Holm
        assert (np.diff(bh[ok][order]) >= 0).all()


def test_bh_matches_scipy():
    p = np.random.default_rng(1).uniform(0, 0.2, 25)
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p), rtol=1e-12)


# ----------------------------------------------------------------------------- t-test and effect
def test_paired_effect_by_hand():
    a = np.array([0.5, 0.6, 0.7, 0.8])
    b = np.array([0.4, 0.6, 0.5, 0.7])
    d = b - a  # [-0.1, 0, -0.2, -0.1]: mean -0.1, sd sqrt(0.02 / 3)
    sd = math.sqrt(0.02 / 3)
    half = stats.t.ppf(0.975, 3) * sd / 2
    r = paired_ttest(a, b)
    assert r["mean_diff"] == pytest.approx(-0.1) and r["sd_diff"] == pytest.approx(sd)
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(-0.1 - half), pytest.approx(-0.1 + half))
    assert r["d_z"] == pytest.approx(-0.1 / sd) and r["df"] == 3 and r["defined"] and r["note"] == ""
    ci90 = paired_effect(a, b, confidence=0.9)
    assert ci90["ci_high"] - ci90["ci_low"] == pytest.approx(2 * stats.t.ppf(0.95, 3) * sd / 2)
    assert r["p"] == pytest.approx(stats.ttest_rel(b, a).pvalue) and d.mean() == pytest.approx(r["mean_diff"])


@pytest.mark.parametrize(
    "a, b",
    [
        ([1.0, 2.0, 3.0], [0.0, 1.0, 2.0]),  # scipy: t = -inf, p = 0
        ([0.9, 0.8, 0.7, 0.6], [0.8, 0.7, 0.6, 0.5]),  # constant up to float noise: scipy gives p ~ 1e-30
    ],
)
def test_constant_nonzero_difference_is_undefined_not_p0(a, b):
    r = paired_ttest(a, b)
    assert math.isnan(r["p"]) and math.isnan(r["t"]) and not r["defined"]
    assert "constant and non-zero" in r["note"]
    assert r["mean_diff"] == pytest.approx(-1.0 if a[0] == 1.0 else -0.1)
    assert math.isnan(r["d_z"]) and math.isnan(r["ci_low"]) and math.isnan(r["ci_high"])


def test_no_change_and_one_query():
    same = paired_ttest([0.5, 0.7], [0.5, 0.7])
    want = {"t": 0.0, "p": 1.0, "defined": True, "d_z": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    assert {k: same[k] for k in want} == want
    assert same["note"].startswith("no change")
    one = paired_ttest([0.5], [0.2])
    assert math.isnan(one["p"]) and not one["defined"] and "fewer than 2" in one["note"]
    assert one["mean_diff"] == pytest.approx(-0.3) and one["n"] == 1
    with pytest.raises(IrlensError, match="no queries"):
        paired_ttest([], [])


# ----------------------------------------------------------------------------------------- power
def test_n_for_power_known_values():
    # G*Power, "means: difference between two dependent means", two tails, α = .05, power .8
    assert [n_for_power(d) for d in (0.2, 0.5, 0.8, 1.0)] == [199, 34, 15, 10]
    assert paired_power(0.5, 34) >= 0.8 > paired_power(0.5, 33)
    assert n_for_power(-0.5) == 34  # two-sided: the sign does not matter
    assert paired_power(0.0, 10) == pytest.approx(0.05)  # no effect: power = α
    assert n_for_power(0.0) == math.inf and math.isnan(n_for_power(float("nan")))
    assert n_for_power(1e-4, max_n=1000) == math.inf
    assert n_for_power(0.5, power=0.9) > 34 and n_for_power(0.5, alpha=0.01) > 34
    d = min_detectable_d_z(34)
    assert 0.49 < d < 0.5 and n_for_power(d) == 34


def test_power_where_scipy_nct_gives_nan():
    # scipy's nct returns NaN at small df and large noncentrality (e.g. n = 4, d_z = 6); the fallback integral
    # must agree with a simulation of the t statistic
    rng = np.random.default_rng(0)
    for n, d in [(2, 6.0), (4, 4.0), (5, 8.0), (3, 8.0)]:
        x = rng.normal(d, 1.0, size=(200_000, n))
        t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(n))
        sim = float((np.abs(t) > stats.t.ppf(0.975, n - 1)).mean())
        got = paired_power(d, n)
        assert not math.isnan(got) and got == pytest.approx(sim, abs=0.005)
    assert min_detectable_d_z(3) == pytest.approx(3.26, abs=0.01)


# ----------------------------------------------------------------------------------------- Table 4
ORIG = np.array([0.9, 0.8, 0.7, 0.6])
# per-query differences pruned − original of each (evaluation set, scheme) at level 1 %
DIFFS = {
    ("id", "P:x"): [-0.30, -0.31, -0.29, -0.30],  # p ≈ 5.6e-6
    ("id", "N:x"): [-0.05, -0.20, -0.10, -0.15],  # p ≈ 0.0305: ≤ 0.05 raw and after BH, not after Holm
    ("ood", "P:x"): [-0.1, -0.1, -0.1, -0.1],  # constant: t-test undefined
    ("ood", "N:x"): [0.05, -0.05, 0.10, 0.0],  # p ≈ 0.495
}
NOISE = [[0.01, -0.02, 0.0, 0.01], [0.0, 0.02, -0.01, -0.02], [-0.03, 0.0, 0.01, 0.0]]  # 3 random repeats


def _rows(kind, scheme, level, repeat, vals, n):
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


def merged_table(ev: str) -> pd.DataFrame:
    """What ``irlens ablation merge`` writes for one evaluation set: the original, two schemes at 1 % (and an
    empty intersection), 3 random repeats each."""
    parts = [_rows(ORIGINAL, "", np.nan, -1, ORIG, 0)]
    for scheme in ("P:x", "N:x"):
        parts.append(_rows(SCHEME, scheme, 1.0, -1, ORIG + DIFFS[(ev, scheme)], 5))
        parts += [_rows(RANDOM, scheme, 1.0, r, ORIG + np.array(z), 5) for r, z in enumerate(NOISE)]
    parts.append(_rows(SCHEME, "AND_A:P", 1.0, -1, ORIG, 0))
    parts += [_rows(RANDOM, "AND_A:P", 1.0, r, ORIG, 0) for r in range(3)]
    return merge(parts, repeats=3)


def raw_p() -> dict:
    return {k: stats.ttest_rel(ORIG + np.array(d), ORIG).pvalue for k, d in DIFFS.items() if k != ("ood", "P:x")}


@pytest.fixture
def merged(tmp_path):
    out = []
    for ev in ("id", "ood"):
        merged_table(ev).to_parquet(tmp_path / f"{ev}.parquet")
        out += ["--input", f"{ev}={tmp_path / f'{ev}.parquet'}"]
    return out


def _table(tmp_path, merged, *extra):
    args = ["ablation", "table", *merged, "--role", "id=ID", "--md", str(tmp_path / "t.md")]
    args += ["--csv", str(tmp_path / "t.csv"), "--tex", str(tmp_path / "t.tex"), *extra]
    assert main(args) == 0
    csv = pd.read_csv(tmp_path / "t.csv").set_index(["eval_set", "scheme"])
    return csv, (tmp_path / "t.md").read_text(), (tmp_path / "t.tex").read_text()


def _md_cell(md: str, scheme: str, ev: str) -> str:
    row = next(line for line in md.splitlines() if line.startswith(f"| {scheme} | {ev}"))
    return row.split(" | ")[2]


def test_table4_holm_over_the_whole_table_by_hand(tmp_path, merged):
    csv, md, tex = _table(tmp_path, merged)  # default: holm
    p = raw_p()
    (k1, p1), (k2, p2), (k3, p3) = sorted(p.items(), key=lambda kv: kv[1])
    # m = 3 defined tests over both evaluation sets (the empty set and the undefined test do not count)
    want = {k1: 3 * p1, k2: max(3 * p1, 2 * p2), k3: max(3 * p1, 2 * p2, p3)}
    for k, v in want.items():
        assert csv.loc[k, "p"] == pytest.approx(p[k], rel=1e-5)
        assert csv.loc[k, "p_adj"] == pytest.approx(v, rel=1e-5)
    assert (csv["correction"] == "holm").all() and (csv["tests"] == 3).all()
    assert p[("id", "N:x")] < 0.05 < csv.loc[("id", "N:x"), "p_adj"]  # significant only before correction
    assert list(csv.loc[csv["significant"]].index) == [("id", "P:x")]
    assert "\\*" in _md_cell(md, "P_x", "id (ID)") and "\\*" not in _md_cell(md, "N_x", "id (ID)")
    assert "Holm correction over all 3 defined t-tests" in md
    assert tex.count("$^{*}$") == 1  # P_x id only
    # empirical p: one-sided, (1 + #repeats dropping at least as much) / (1 + 3); Holm over the 4 non-empty cells
    assert csv.loc[("id", "P:x"), "empirical_p"] == pytest.approx(1 / 4)
    assert csv.loc[("id", "P:x"), "empirical_p_adj"] == pytest.approx(min(1.0, 4 * 0.25))


def test_table4_bh_and_none(tmp_path, merged):
    p = raw_p()
    bh, _, _ = _table(tmp_path, merged, "--correction", "bh")
    ps = sorted(p.values())
    assert bh.loc[("id", "N:x"), "p_adj"] == pytest.approx(min(3 / 2 * ps[1], ps[2]), rel=1e-5)
    assert set(bh.loc[bh["significant"]].index) == {("id", "P:x"), ("id", "N:x")}
    none, md, _ = _table(tmp_path, merged, "--correction", "none")
    assert none.loc[("id", "N:x"), "p_adj"] == pytest.approx(p[("id", "N:x")], rel=1e-5)
    assert "**not corrected**" in md
    assert main(["ablation", "figure", *merged, "--correction", "bh", "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig.png").stat().st_size > 1000


def test_table4_undefined_test_is_said_not_p0(tmp_path, merged):
    csv, md, tex = _table(tmp_path, merged)
    r = csv.loc[("ood", "P:x")]
    assert np.isnan(r["p"]) and np.isnan(r["p_adj"]) and not r["significant"] and not r["test_defined"]
    assert "constant" in r["test_note"] and np.isnan(r["d_z"]) and np.isnan(r["n_needed"])
    cell = _md_cell(md, "P_x", "ood")
    assert "t-test undefined" in cell and "\\*" not in cell and "p 0.000" not in cell and "Δ -0.100" in cell
    assert "$^{\\dagger}$" in tex


def test_table4_effect_sizes_power_and_caption(tmp_path, merged):
    csv, md, _ = _table(tmp_path, merged)
    want = {"p", "p_adj", "ci_low", "ci_high", "d_z", "n_needed", "empirical_p", "empirical_p_adj", "mean_diff"}
    assert want <= set(csv.columns)
    d = np.array(DIFFS[("id", "N:x")])
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    r = csv.loc[("id", "N:x")]
    assert (r["mean_diff"], r["ci_low"], r["ci_high"]) == (
        pytest.approx(d.mean()),
        pytest.approx(d.mean() - half, rel=1e-5),
        pytest.approx(d.mean() + half, rel=1e-5),
    )
    assert r["d_z"] == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-5)
    assert r["n_needed"] == n_for_power(d.mean() / d.std(ddof=1))
    assert np.isnan(csv.loc[("id", "AND_A:P"), "p_adj"])  # empty set: not a test
    cell = _md_cell(md, "N_x", "id (ID)")
    assert f"Δ {d.mean():+.3f} [{d.mean() - half:+.3f}, {d.mean() + half:+.3f}]" in cell and "emp. p 0.250" in cell
    row = next(line for line in md.splitlines() if line.startswith("| N_x | id"))
    assert row.rstrip(" |").endswith(f"4 ({int(r['n_needed'])})")  # queries used (needed for 80 % power)
    for phrase in (
        "two-sided paired Student's t-test",
        "vs the unpruned original model on the same queries",
        "**one-sided** empirical p-value",
        "(1 + number of random repeats whose drop is ≥ the scheme's drop) / (1 + repeats)",
        "1/4 = 0.250",
        "**Small sample**: 4 queries per evaluation set (df = 3)",
    ):
        assert phrase in md, phrase


def test_summary_carries_effect_and_flags_undefined():
    st = summarise(merged_table("ood"), "ood").set_index("scheme")
    assert not st.loc["P:x", "test_defined"] and np.isnan(st.loc["P:x", "p"])
    assert st.loc["P:x", "mean_diff"] == pytest.approx(-0.1)
    assert st.loc["N:x", "test_defined"] and st.loc["N:x", "p"] == pytest.approx(raw_p()[("ood", "N:x")])
