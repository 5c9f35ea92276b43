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


def test_paper_preset_builds_the_full_dag(tmp_path):
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("workflow", "presets", "envs"):
        shutil.copytree(REPO / name, tmp_path / name)
    p = subprocess.run(
        SNAKEMAKE + ["-n", "-p", "--cores", "2", "--configfile", "presets/paper.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
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
