"""The Claims table (``irlens report claims``): synthetic stage tables → the expected verdicts."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from irlens.cli import main
from irlens.errors import IrlensError
from irlens.report.claims import (
    CONTRADICTED,
    DESCRIPTIVE,
    DESCRIPTIVE_SINGLE,
    INCONCLUSIVE,
    NOT_RUN,
    SUPPORTED,
    claim_ablation,
    claim_control,
    claim_domain,
    claim_gpl,
    claim_nig,
    claim_sae,
    claim_title,
    claims_table,
    overlap_p,
)


def _csv(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _gpl_row(dataset, diff, t, p, n=50, stronger="true"):
    return {
        "dataset": dataset,
        "metric": "ndcg@10",
        "base_model": "minilm",
        "adapted_model": f"minilm-gpl-{dataset}",
        "base": 0.5,
        "adapted": 0.5 + diff,
        "diff": diff,
        "t": t,
        "p": p,
        "n": n,
        "teacher_ndcg@10": 0.6,
        "student_ndcg@10": 0.5,
        "teacher_diff": 0.1,
        "teacher_ci_low": 0.05,
        "teacher_ci_high": 0.15,
        "teacher_n": 40,
        "teacher_stronger": stronger,
    }


def test_gpl_verdicts(tmp_path):
    rows = [
        _gpl_row("a", 0.05, 5.0, 1e-5),
        _gpl_row("b", -0.05, -5.0, 1e-5),
        _gpl_row("c", 0.01, 0.5, 0.6),
        _gpl_row("z", 0.0, 0.0, 1.0),  # no change at all
        {**_gpl_row("d", 0.05, 5.0, 1e-5, stronger="false"), "teacher_ndcg@10": 0.4, "teacher_diff": -0.1},
        {**_gpl_row("e", 0.05, 5.0, 1e-5), "metric": "mrr@10"},
    ]
    got = claim_gpl(_csv(tmp_path / "g.csv", rows))
    assert len(got) == 5  # nDCG@10 rows only
    v = [r["verdict"] for r in got]
    assert v[:4] == [SUPPORTED, CONTRADICTED, INCONCLUSIVE, INCONCLUSIVE]
    assert "95% CI n/a, p 1.000" in got[3]["uncertainty"] and math.isinf(got[3]["n_needed"])
    assert v[4].startswith("untestable here: teacher weaker than student") and "teacher 0.400 vs student 0.500" in v[4]
    assert math.isnan(got[0]["n_needed"]) and got[2]["n_needed"] > 50  # d_z = 0.5/√50: needs more queries
    assert "95% CI [+" in got[0]["uncertainty"] and "Holm over 5" in got[0]["uncertainty"]


def _ig_row(measure, side, d, lo, hi, model="adapted"):
    return {
        "dataset": "scifact",
        "side": side,
        "measure": measure,
        "base": "base",
        "model": model,
        "queries": 30,
        "pairs": 90,
        "base_mean": 0.2,
        "model_mean": 0.2 + d,
        "difference": d,
        "ci_low": lo,
        "ci_high": hi,
        "bootstrap": 2000,
        "seed": 42,
    }


def test_ig_domain_and_title_verdicts(tmp_path):
    rows = [
        _ig_row("domain_positive_share", "document", 0.05, 0.02, 0.08),
        _ig_row("domain_positive_share", "query", -0.05, -0.08, -0.02),
        _ig_row("domain_positive_share", "document", 0.01, -0.02, 0.04, model="other"),
        _ig_row("title_positive_share", "document", 0.01, -0.02, 0.04),
        _ig_row("pseudo_title_positive_share", "document", 0.002, -0.01, 0.01),
        _ig_row("pseudo_title_positive_share", "untitled", 0.003, -0.01, 0.02),
    ]
    path = _csv(tmp_path / "paired.csv", rows)
    dom = claim_domain(path)
    assert [r["verdict"] for r in dom] == [SUPPORTED, CONTRADICTED, INCONCLUSIVE]
    assert dom[2]["n_needed"] > 30
    assert len(claim_domain(path, adapted=["adapted"])) == 2
    (title,) = claim_title(path)
    assert title["verdict"] == INCONCLUSIVE and title["n_needed"] > 30
    assert "positional control" in title["uncertainty"] and "untitled first-n Δ +0.0030" in title["uncertainty"]


def test_a_title_shift_that_position_alone_matches_is_not_supported(tmp_path):
    title = _ig_row("title_positive_share", "document", 0.031, 0.015, 0.048)
    overlapping = _ig_row("pseudo_title_positive_share", "untitled", 0.021, 0.017, 0.024)
    (got,) = claim_title(_csv(tmp_path / "a.csv", [title, overlapping]))
    assert got["verdict"] == f"{INCONCLUSIVE}: position alone rises too (the CIs overlap)"
    # position rises, but clearly less than the title share: still supported
    below = _ig_row("pseudo_title_positive_share", "untitled", 0.005, 0.002, 0.008)
    (got,) = claim_title(_csv(tmp_path / "b.csv", [title, below]))
    assert got["verdict"] == SUPPORTED
    # position does not rise significantly: supported
    flat = _ig_row("pseudo_title_positive_share", "untitled", 0.02, -0.001, 0.04)
    (got,) = claim_title(_csv(tmp_path / "c.csv", [title, flat]))
    assert got["verdict"] == SUPPORTED


def test_nig_is_descriptive_against_chance(tmp_path):
    rows = [
        {"label": "relevant", "kind": "ID/OOD", "curve": "P_a ∩ P_b", "1%": 20.0, "5%": 30.0},
        {"label": "relevant", "kind": "OOD/OOD", "curve": "P_b ∩ P_c", "1%": 5.0, "5%": 10.0},
    ]
    (r,) = claim_nig(_csv(tmp_path / "inter.csv", rows))
    assert r["verdict"] == DESCRIPTIVE and "20.0% at 1% (chance 1%, ×20.0)" in r["effect"]
    none = claim_nig(_csv(tmp_path / "ood.csv", rows[1:]))
    assert none[0]["verdict"].startswith("untestable here")


def test_overlap_p_is_the_hypergeometric_upper_tail():
    # two 2-neuron sets out of 10, one random: P(both shared) = 1 / C(10, 2) = 1/45;
    # P(at least one shared) = 1 - C(8, 2) / C(10, 2) = 17/45; P(>= 0) = 1
    assert overlap_p(2, 10, 2) == pytest.approx(1 / 45)
    assert overlap_p(1, 10, 2) == pytest.approx(17 / 45)
    assert overlap_p(0, 10, 2) == pytest.approx(1.0)


def test_nig_overlap_is_tested_against_random_sets_when_the_neuron_count_is_there(tmp_path):
    # 1000 neurons: the 1% sets have 10 neurons, the 5% sets 50
    above = {"label": "relevant", "kind": "ID/OOD", "curve": "P_a ∩ P_b", "neurons": 1000, "1%": 40.0, "5%": 30.0}
    chance = {**above, "curve": "P_a ∩ P_c", "1%": 0.0, "5%": 6.0}
    got = claim_nig(_csv(tmp_path / "inter.csv", [above, chance]))
    assert [r["verdict"] for r in got] == [SUPPORTED, INCONCLUSIVE]
    # Holm over the 4 (pair, level) tests: the smallest raw p is multiplied by 4
    raw = overlap_p(15, 1000, 50)
    assert raw < 1e-6 and "< 0.001 at 5%" in got[0]["uncertainty"]  # 4 x raw is still below 0.001
    assert "1.000 at 1%" in got[1]["uncertainty"] and "random sets of 1000 neurons" in got[1]["uncertainty"]


def _abl_row(scheme, diff, p_adj, emp, n_needed=80.0):
    return {
        "eval_set": "scifact",
        "scheme": scheme,
        "level": 1.0,
        "n_neurons": 10,
        "mean_diff": diff,
        "ci_low": diff - 0.01,
        "ci_high": diff + 0.01,
        "d_z": -0.3,
        "p": p_adj,
        "p_adj": p_adj,
        "empirical_p_adj": emp,
        "correction": "holm",
        "n_needed": n_needed,
        "test_defined": True,
    }


def test_ablation_needs_a_drop_beyond_random(tmp_path):
    sup = claim_ablation(_csv(tmp_path / "s.csv", [_abl_row("P", -0.05, 0.01, 0.02), _abl_row("N", -0.01, 0.5, 0.5)]))
    assert sup[0]["verdict"] == SUPPORTED and "1 of 2 cells drop significantly after holm" in sup[0]["uncertainty"]
    # significant t-test but no better than random: inconclusive, with the fewest queries needed
    inc = claim_ablation(
        _csv(tmp_path / "i.csv", [_abl_row("P", -0.05, 0.01, 0.3, 120.0), _abl_row("N", -0.01, 0.5, 0.5, 900.0)])
    )
    assert inc[0]["verdict"] == INCONCLUSIVE and inc[0]["n_needed"] == 120.0


def test_sae_claim_reports_mean_and_sd_over_main_and_its_seed_replicas(tmp_path):
    rows = [
        {
            "variant": v,
            "seed": seed,
            "dense_ndcg@10": 0.6,
            "latent_ndcg@10": 0.6 * p / 100,
            "latent_pct": p,
            "recon_pct": r,
        }
        for v, seed, p, r in (
            ("main", 42, 90.0, 98.0),
            ("main-s1", 1, 94.0, 97.0),
            ("main-s2", 2, 92.0, 99.0),
            ("paper", 42, 80.0, 96.0),
            ("k16", 42, 70.0, 90.0),
            ("main-sweep", 42, 10.0, 10.0),
        )
    ]
    (got,) = claim_sae(_csv(tmp_path / "v.csv", rows))
    # hand-computed: latent 90, 94, 92 -> mean 92, sd 2; reconstruction 98, 97, 99 -> 98 ± 1
    assert "latent nDCG@10 = 92.0 ± 2.0% of dense 0.600" in got["effect"], got
    assert "reconstruction 98.0 ± 1.0%" in got["effect"]
    assert got["uncertainty"] == "mean ± sd over 3 seeds; latent range 90.0–94.0%"
    assert got["verdict"].startswith("descriptive") and "3 seeds" in got["verdict"]
    # the other variants (not seed replicas: main-sweep is not main-s<digits>) give the range
    assert got["evidence"] == "variant main (other variants: latent 10.0–80.0% of dense)"


def test_sae_and_control_are_descriptive(tmp_path):
    v = _csv(
        tmp_path / "v.csv",
        [
            {"variant": "k32", "dense_ndcg@10": 0.6, "latent_ndcg@10": 0.3, "latent_pct": 50.0, "recon_pct": 90.0},
            {"variant": "main", "dense_ndcg@10": 0.6, "latent_ndcg@10": 0.45, "latent_pct": 75.0, "recon_pct": 95.0},
        ],
    )
    (got,) = claim_sae(v)
    assert got["evidence"] == "variant main (other variants: latent 50.0–50.0% of dense)"
    assert "75.0% of dense" in got["effect"] and got["verdict"] == DESCRIPTIVE_SINGLE
    rows = [
        {
            "kind": "latent",
            "latent": lat,
            "op": "add",
            "value": val,
            "targets": 20,
            "p@10": p,
            "mrr@10": 0,
            "ndcg@10": 0.5,
        }
        for lat in (1, 2)
        for val, p in ((0.0, 0.1), (0.2, 0.3), (0.4, 0.6))
    ] + [{"kind": "prf", "latent": -1, "op": "add", "value": 0.0, "targets": 0, "p@10": 0, "mrr@10": 0, "ndcg@10": 0.5}]
    (c,) = claim_control(_csv(tmp_path / "c.csv", rows))
    assert "target P@10 0.100 → 0.600" in c["effect"] and "2 latents, add 0 → 0.4" in c["evidence"]
    assert "random latent" not in c["effect"]
    # the random-latent control: other latents amplified, scored on the same targets (mean over latents at 0.4)
    rnd = [{**r, "kind": "random", "p@10": r["p@10"] / 3} for r in rows if r["kind"] == "latent"]
    rnd[2]["p@10"], rnd[5]["p@10"] = 0.1, 0.2
    (c,) = claim_control(_csv(tmp_path / "c2.csv", rows + rnd))
    assert "target P@10 0.100 → 0.600" in c["effect"]
    assert "a random latent of similar frequency amplified instead: target P@10 → 0.150" in c["effect"]


def test_missing_or_unconfigured_is_not_run(tmp_path):
    df = claims_table(gpl=tmp_path / "absent.csv")
    assert set(df["verdict"]) == {NOT_RUN}
    assert len(df) == 7
    assert df["evidence"].iloc[0].startswith("table missing") and df["evidence"].iloc[1] == "stage not configured"


def test_malformed_table_is_one_error_line(tmp_path):
    bad = _csv(tmp_path / "bad.csv", [{"x": 1}])
    with pytest.raises(IrlensError, match=r"bad\.csv: not a base-vs-adapted table .*no column dataset"):
        claim_gpl(bad)
    rows = [{**_abl_row("P", -0.05, 0.01, 0.02), "p_adj": "oops"}]
    with pytest.raises(IrlensError, match=r"t4\.csv: column p_adj holds a value that is not a number"):
        claim_ablation(_csv(tmp_path / "t4.csv", rows))
    with pytest.raises(IrlensError, match="no level column"):
        claim_nig(_csv(tmp_path / "n.csv", [{"label": "relevant", "kind": "ID/OOD", "curve": "x"}]))


def test_cli_writes_markdown_and_csv(tmp_path, capsys):
    g = _csv(tmp_path / "g.csv", [_gpl_row("a", 0.05, 5.0, 1e-5)])
    md, csv = tmp_path / "claims.md", tmp_path / "claims.csv"
    assert main(["report", "claims", "--gpl", str(g), "--nig", "--md", str(md), "--csv", str(csv)]) in (0, None)
    out = pd.read_csv(csv)
    assert out["verdict"].tolist()[0] == SUPPORTED and len(out) == 7
    text = md.read_text()
    assert text.startswith("## Claims") and "Verdicts:" in text
    bad = _csv(tmp_path / "bad.csv", [{"x": 1}])
    assert main(["report", "claims", "--ablation", str(bad), "--md", str(md), "--csv", str(csv)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.csv" in err[0]


def test_set_size_is_the_nig_stage_rule():
    from irlens.nig.schemes import set_size as nig_set_size
    from irlens.report.claims import set_size

    for n in (1, 7, 100, 1536, 23040, 99999):
        for lv in (0.01, 0.1, 0.5, 1.0, 5.0, 100.0):
            assert set_size(n, lv) == nig_set_size(n, lv), (n, lv)
