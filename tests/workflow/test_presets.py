"""Presets build their DAG: the paper preset (models and datasets of the three papers) dry-runs to the full
set of stages without any model or dataset being present."""

import shutil
import subprocess
import sys

import pytest

from conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]

pytestmark = pytest.mark.workflow


def _job_counts(out: str) -> dict[str, int]:
    jobs = {}
    for line in out[out.index("Job stats:") :].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def _dry_run(tmp_path, preset: str) -> str:
    """``snakemake -n -p`` of ``preset`` over config.yaml in a copy of the workflow; its output (exit 0 asserted)."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("workflow", "presets", "envs"):
        shutil.copytree(REPO / name, tmp_path / name)
    p = subprocess.run(
        SNAKEMAKE + ["-n", "-p", "--cores", "2", "--configfile", preset],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    return out


def test_paper_preset_builds_the_full_dag(tmp_path):
    out = _dry_run(tmp_path, "presets/paper.yaml")
    jobs = _job_counts(out)
    # every stage is in the DAG, at the paper's scale
    for rule in (
        "data",
        "encode",
        "retrieve_dense",
        "retrieve_bm25",
        "gpl_queries",
        "gpl_train",
        "gpl_evaluate",
        "ig_attribute",
        "ig_wordclouds",
        "cross_encoder_rerank",
        "nig_attribute",
        "nig_schemes",
        "ablation_run",
        "ablation_table",
        "sae_train",
        "sae_interpret",
        "sae_control",
    ):
        assert jobs.get(rule, 0) > 0, (rule, jobs)
    assert "cross_encoder_train" not in jobs  # a given reranker (monoBERT) is not trained
    assert jobs["data"] == 5 and jobs["gpl_train"] == 2 and jobs["sae_train"] == 8
    assert jobs["ig_attribute"] == 3 * 2 * 8  # models x datasets x shards
    assert "--dataset msmarco" in out and "BAAI/bge-base-en-v1.5" in out and "140000" in out


def test_study_preset_is_sized_for_power_and_builds_its_dag(tmp_path):
    """presets/study.yaml: every size its comments claim is the n_for_power of a medium effect at the level the
    report uses, and the overlay validates and dry-runs with the embedded default's data."""
    import yaml

    from irlens.ablation.stats import n_for_power
    from irlens.config import merge

    base = yaml.safe_load((REPO / "config.yaml").read_text())
    study = yaml.safe_load((REPO / "presets/study.yaml").read_text())
    cfg = merge(base, study)
    ab = cfg["ablation"]
    levels = ab["levels"] or cfg["nig"]["levels"]
    cells = len(ab["schemes"]) * len(levels) * len(ab["eval_sets"])
    # Table 4 is Holm-corrected over its cells: 80 % power for d_z = 0.5 at Holm's first step
    assert ab["queries"] >= n_for_power(0.5, 0.8, 0.05 / cells) and ab["queries"] >= 60, (ab["queries"], cells)
    assert ab["repeats"] >= 50 and ab["depth"] >= 20
    # claims 2-3 read 95 % CIs of per-query paired differences
    assert cfg["ig"]["queries"] >= n_for_power(0.5, 0.8, 0.05)
    assert len(set(cfg["sae"]["seeds"]) - {cfg["seed"]}) >= 2  # a spread needs >= 3 runs of main
    out = _dry_run(tmp_path, "presets/study.yaml")
    jobs = _job_counts(out)
    assert jobs["sae_train"] == 1 + 4 + 2 + 4  # main, 4 seed replicas, paper, paper-mse, K sweep
    assert "--queries 69 " in out and "--queries 34 " in out
