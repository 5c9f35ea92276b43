"""The real Snakemake workflow on the smoke preset, end to end, in a temporary copy of the repo."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, SNAKEMAKE, job_stats, make_smoke_workdir, smoke_snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def workdir(smoke_local):
    """The session's smoke workdir (conftest.smoke_local: the smoke DAG has run there with --cores 2)."""
    return smoke_local


def smk(wd, *args, check=True):
    return smoke_snakemake(wd, *args, check=check)


def test_lint_is_clean():
    p = subprocess.run(SNAKEMAKE + ["--lint"], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Congratulations" in p.stdout + p.stderr, p.stdout + p.stderr


def test_smoke_end_to_end(workdir):
    smk(workdir)
    with open(workdir / "reports/tables/retrieval.csv") as fh:
        rows = list(csv.DictReader(fh))
    # the SciFact-adapted model is evaluated on SciFact only (models.minilm-gpl-scifact.datasets)
    assert {(r["dataset"], r["retriever"]) for r in rows} == {
        (d, r) for d in ("scifact", "nfcorpus") for r in ("minilm", "bm25")
    } | {("scifact", "minilm-gpl-scifact")}
    for r in rows:
        assert 0.0 < float(r["nDCG@10"]) <= 1.0, r
        assert r["model"] in ("sentence-transformers/all-MiniLM-L6-v2", "bm25", "results/gpl/minilm-scifact/model")
    for sub in (
        "data/scifact/manifest.json",
        "embeddings/minilm/scifact/corpus.npy",
        "retrieval/nfcorpus/bm25/per_query.tsv",
    ):
        assert (workdir / "results" / sub).is_file()
    assert (workdir / "results/logs/encode/minilm/scifact/corpus.log").stat().st_size > 0
    # IG stage: sharded attribution merged, tables, views, word clouds
    import pandas as pd

    ig_sel = pd.read_parquet(workdir / "results/ig/pairs/scifact.parquet")  # shared by both models
    pairs = pd.read_parquet(workdir / "results/ig/minilm/scifact/all.pairs.parquet")
    assert len(pairs) == 2 * len(ig_sel) and set(pairs["side"]) == {"document", "query"}
    assert pairs["in_topk"].sum() == 2 * 3 * 2 and ig_sel["topk_minilm"].sum() == 2 * 3
    comp = pd.read_csv(workdir / "reports/tables/ig/completeness.csv")
    assert (comp["pairs"] == len(ig_sel)).all() and (comp["max_rel_error"] < 0.05).all()
    for f in (
        "reports/ig/minilm/scifact/views.html",
        "reports/figures/ig/scifact/heatmap-minilm-2.pdf",
        "reports/figures/ig/scifact/wordcloud-minilm.png",
        "reports/tables/ig/title_share.md",
        "reports/tables/ig/domain_terms.csv",
        "reports/tables/ig/paired_differences.csv",
        "reports/tables/ig/baselines-minilm-scifact.csv",
        "reports/figures/ig/faithfulness.pdf",
    ):
        assert (workdir / f).stat().st_size > 0, f
    # faithfulness: both models, both sides, three orders; IG - random paired on the same pairs
    faith = pd.read_csv(workdir / "reports/tables/ig/faithfulness.csv")
    assert set(faith["model"]) == {"minilm", "minilm-gpl-scifact"} and set(faith["side"]) == {"document", "query"}
    assert {"ig", "grad_input", "random", "ig − random"} <= set(faith["what"])
    # NIG stage: pairs, sharded attribution merged, Table 1, schemes, figures 2-4
    for d in ("nfcorpus", "scifact"):
        sel = pd.read_parquet(workdir / f"results/nig/minilm-ce/{d}/pairs.parquet")
        assert set(sel["label"]) <= {"relevant", "non-relevant"} and len(sel) <= 6
        for label in ("relevant", "non-relevant"):
            p = pd.read_parquet(workdir / f"results/nig/minilm-ce/{d}/{label}/all.pairs.parquet")
            assert len(p) == (sel["label"] == label).sum() and list(p["pair"]) == sorted(p["pair"])
    sets = pd.read_parquet(workdir / "results/nig/minilm-ce/schemes/sets.parquet")
    assert set(sets["level"]) == {0.01, 0.1, 1.0} and "F_A" in set(sets["scheme"])
    t1 = pd.read_csv(workdir / "reports/tables/nig/baselines.csv")
    assert {"original", "pad-all", "zero-query"} <= set(t1["baseline"])
    for f in ("fig2-intersections", "fig3-summary", "fig4-layers"):
        assert (workdir / f"reports/figures/nig/minilm-ce/{f}.pdf").stat().st_size > 0
    assert "in-domain" in (workdir / "reports/tables/nig/minilm-ce/schemes.md").read_text()
    # ablation: evaluation sets without the attributed queries, sharded repeats merged, Table 4, figure
    for d in ("nfcorpus", "scifact"):
        ev = pd.read_parquet(workdir / f"results/ablation/minilm-ce/{d}/evalset.parquet")
        assert ev["qid"].nunique() == 3 and not set(ev["qid"]) & set(
            pd.read_parquet(workdir / f"results/nig/minilm-ce/{d}/pairs.parquet")["qid"]
        )
    t4 = pd.read_csv(workdir / "reports/tables/ablation/minilm-ce/table4.csv")
    assert (
        len(t4) == 4 * 3 * 2
        and set(t4["eval_set"]) == {"scifact", "nfcorpus"}
        and (t4[t4["n_neurons"] > 0]["repeats"] == 3).all()
    )
    assert "Random baseline" in (workdir / "reports/tables/ablation/minilm-ce/table4.md").read_text()
    assert "\\toprule" in (workdir / "reports/tables/ablation/minilm-ce/table4.tex").read_text()
    assert (workdir / "reports/figures/ablation/minilm-ce/drops.pdf").stat().st_size > 0
    # dose-response of F_A over the relevant pairs NIG attributed (smoke: unjudged negatives left out)
    dose = pd.read_parquet(workdir / "results/ablation/minilm-ce/dose/F_A.parquet")
    assert list(dose["n"]) == [1, 10, 100] and (dose["repeats"] == 3).all() and dose["pairs"].iloc[0] > 0
    assert "3 draws per n" in (workdir / "reports/tables/ablation/minilm-ce/dose-F_A.md").read_text()
    assert (workdir / "reports/figures/ablation/minilm-ce/dose-F_A.png").stat().st_size > 0
    # GPL: adapted model (a sentence-transformers folder), evaluated beside its base, attributed by IG
    assert (workdir / "results/gpl/minilm-scifact/model/training.json").is_file()
    gpl = pd.read_csv(workdir / "reports/tables/gpl/base-vs-adapted.csv")
    assert len(gpl) >= 1 and gpl.filter(like="p").notna().any().any()
    assert (workdir / "results/retrieval/scifact/minilm-gpl-scifact/metrics.json").is_file()
    assert (workdir / "reports/figures/ig/scifact/wordcloud-diff-minilm-gpl-scifact.png").stat().st_size > 0
    # SAE: main, paper, paper-mse and the K sweep trained and evaluated; variants table + figure; latents page; control
    sae = pd.read_csv(workdir / "reports/tables/sae/minilm/variants.csv")
    assert list(sae["variant"]) == ["main", "main-s1", "paper", "paper-mse", "k4", "k16"]
    assert list(sae["k"]) == [8, 8, 8, 8, 4, 16] and list(sae["seed"]) == [42, 1, 42, 42, 42, 42]
    assert "### main over 2 seeds (42, 1)" in (workdir / "reports/tables/sae/minilm/variants.md").read_text()
    # the Claims table: one row per claim in order; the SAE claim carries main's spread over the 2 seeds
    claims = pd.read_csv(workdir / "reports/tables/claims.csv")
    assert [c.split(".")[0] for c in claims["claim"].drop_duplicates()] == list("1234567")
    (sae_claim,) = claims.loc[claims["claim"].str.startswith("6."), "uncertainty"]
    assert sae_claim.startswith("mean ± sd over 2 seeds")
    assert (
        (sae["l0"] <= sae["k"]).all() and sae["dense_ndcg@10"].nunique() == 1 and sae["recon_pct"].between(0, 200).all()
    )
    assert (sae.loc[sae["variant"] == "paper-mse", ["lambda", "lambda_latent"]] == 0).all().all()
    assert sae.loc[sae["variant"] == "paper", "lambda"].iloc[0] > 0 and sae["dead_pct"].notna().all()
    assert set(sae["codes"]) == {"encoder", "encoder; *_refined: refined (IHT, 5 steps)"}
    page = (workdir / "reports/sae/minilm/latents.html").read_text()
    assert page.count("<section") == 3 and "N2G" in page and "<script" not in page
    ctl = pd.read_csv(workdir / "reports/tables/sae/minilm/control.csv")
    assert set(ctl["kind"]) == {"latent", "random", "prf"} and set(ctl["value"]) == {0.0, 0.2}
    causal = pd.read_csv(workdir / "reports/tables/sae/minilm/causal.csv")
    assert list(causal["latent"]) == [r["latent"] for r in json.loads((workdir / "results/sae/minilm/main/latents.json")
                                                                      .read_text())["latents"]]  # fmt: skip
    for v in ("main", "paper", "k4"):  # every variant also as a SAELens folder
        assert (workdir / f"results/sae/minilm/{v}/saelens/cfg.json").is_file()
    for f in ("figures/sae/minilm/variants.pdf", "figures/sae/minilm/control.png"):
        assert (workdir / "reports" / f).stat().st_size > 0


def test_every_output_is_readable_by_others_under_umask_022(workdir):
    # the run's files as a colleague on shared storage sees them (`find results reports -perm -600 ! -perm -044`)
    unreadable = [
        str(p.relative_to(workdir))
        for top in ("results", "reports")
        for p in (workdir / top).rglob("*")
        if (p.is_file() and p.stat().st_mode & 0o044 != 0o044) or (p.is_dir() and p.stat().st_mode & 0o055 != 0o055)
    ]
    n = sum(1 for top in ("results", "reports") for p in (workdir / top).rglob("*"))
    assert n > 300
    assert not unreadable, f"{len(unreadable)} of {n} outputs not readable by group/others: {unreadable[:10]}"


def test_the_readme_notebook_code_runs_on_the_run_outputs(workdir):
    # README "From a notebook": its Python blocks, verbatim and in order, against this run's results
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 4
    code = "\n".join(blocks) + "\nprint('README-OK', means['ndcg@10'] > 0, a.rel_error < 0.05, len(table))\n"
    p = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert p.returncode == 0, p.stderr[-4000:]
    assert "README-OK True True" in p.stdout, p.stdout[-2000:]


def test_report_screenshot_script_fails_in_one_line_without_a_browser(tmp_path):
    # scripts/report-screenshot.sh (README): no report -> one line; no chromium -> one line naming the fix
    script = str(REPO / "scripts" / "report-screenshot.sh")
    env = {"PATH": "/usr/bin:/bin"}
    p = subprocess.run([script, str(tmp_path / "none.html")], capture_output=True, text=True, env=env)
    assert p.returncode == 1 and p.stderr.strip().count("\n") == 0 and "snakemake --report" in p.stderr
    html = tmp_path / "r.html"
    html.write_text("<html><body>report</body></html>")
    if shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome"):
        p = subprocess.run([script, str(html)], capture_output=True, text=True)
        assert p.returncode == 0 and (tmp_path / "r.png").stat().st_size > 0, p.stderr
    else:
        p = subprocess.run([script, str(html)], capture_output=True, text=True, env=env)
        assert p.returncode == 1 and "install it" in p.stderr and p.stderr.strip().count("\n") == 0


def test_second_run_does_nothing(workdir):
    p = smk(workdir, "--dry-run")
    assert "Nothing to be done" in p.stdout + p.stderr, p.stdout + p.stderr


def test_forceall_schedules_the_whole_dag_again(workdir, tmp_path):
    """``--forceall`` on the finished workdir plans exactly the jobs of a run from scratch (a dry run of an
    empty copy). That the regenerated tables are then identical is tested by running the DAG from scratch a
    second time: tests/test_slurm.py compares those tables with this workdir's, exactly."""
    forced = job_stats(smk(workdir, "--forceall", "--dry-run").stdout)
    fresh = job_stats(smoke_snakemake(make_smoke_workdir(tmp_path), "--dry-run").stdout)
    assert forced == fresh and sum(fresh.values()) > 50, (forced, fresh)
    assert {
        "data",
        "encode",
        "cross_encoder_train",
        "gpl_train",
        "ig_attribute",
        "nig_attribute",
        "ablation_run",
        "sae_train",
        "retrieval_table",
    } <= set(fresh), fresh


def test_deleting_one_output_rebuilds_only_dependents(workdir):
    (workdir / "results/retrieval/scifact/bm25/run.trec").unlink()
    p = smk(workdir, "--dry-run")
    out = p.stdout + p.stderr
    jobs = {}
    stats = out[out.index("Job stats:") :].splitlines()[3:]
    for line in stats:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    nig = {
        "nig_pairs": 1,
        "nig_attribute": 4,
        "nig_merge": 2,
        "nig_baselines": 1,
        "nig_schemes": 1,
        "nig_figures": 1,
    }  # scifact's pairs come from its BM25 run
    ablation = {
        "ablation_evalset": 1,
        "ablation_run": 4,
        "ablation_merge": 2,
        "ablation_table": 1,
        "ablation_figure": 1,
        "ablation_dose": 1,  # presets/smoke.yaml: F_A
    }  # new sets change every run
    assert jobs == {
        "retrieve_bm25": 1,
        "evaluate": 1,
        "retrieval_table": 1,
        "cross_encoder_rerank": 1,
        "cross_encoder_table": 1,
        **nig,
        **ablation,
        "report_claims": 1,  # reads the NIG intersections and Table 4
        "all": 1,
    }, out
    smk(workdir)
    p = smk(workdir, "--dry-run")
    assert "Nothing to be done" in p.stdout + p.stderr


def _start_and_wait_for_encoding(workdir):
    import time

    (workdir / "results/embeddings/minilm/nfcorpus/corpus.npy").unlink()
    log = workdir / "results/logs/encode/minilm/nfcorpus/corpus.log"
    log.unlink()
    cmd = SNAKEMAKE + ["--cores", "2", "--configfile", "presets/smoke.yaml", "ci.yaml"]
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and "encoding" in log.read_text()):
        time.sleep(0.1)
    assert proc.poll() is None, "snakemake finished before it could be killed"
    return proc


@pytest.mark.parametrize("victim", ["encode-job", "snakemake-and-job"])
def test_kill_9_during_encoding_then_rerun(workdir, victim):
    """kill -9 mid-encoding, either the encoding job alone (OOM killer, scancel) or Snakemake with its
    whole process group; the run then completes and the metrics are identical. Killing Snakemake
    itself leaves its directory lock, which `snakemake --unlock` removes (Snakemake's own rule)."""
    import signal

    import psutil

    metrics = workdir / "results/retrieval/nfcorpus/minilm/metrics.json"
    before = metrics.read_text()
    proc = _start_and_wait_for_encoding(workdir)
    if victim == "encode-job":
        jobs = [c for c in psutil.Process(proc.pid).children(recursive=True) if "encode" in " ".join(c.cmdline())]
        assert jobs
        for c in jobs:
            c.kill()
        assert proc.wait(timeout=120) != 0
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        smk(workdir, "--unlock")
    assert not (workdir / "results/embeddings/minilm/nfcorpus/corpus.npy").exists()
    smk(workdir)
    assert metrics.read_text() == before


def test_report_contains_the_table(workdir):
    smk(workdir, "--report", "report.html")
    html = (workdir / "report.html").read_text(errors="replace")
    assert "retrieval" in html.lower() and "all-MiniLM-L6-v2" in html
    assert "NIG (cross-encoder)" in html and "Ablation (cross-encoder)" in html and "GPL (domain adaptation)" in html
    assert "IG (bi-encoders)" in html and "wordcloud-minilm.png" in html
    assert "SAE (sparse autoencoders)" in html and "latents.html" in html
    # self-contained: nothing is fetched from the network when the file is opened (no CDN scripts/styles)
    external = re.findall(
        r'<(?:script|link|img|iframe)\b[^>]*?(?:src|href)\s*=\s*["\'](?:https?:)?//[^"\']+', html, flags=re.I
    )
    assert not external, external[:3]
    assert not re.findall(r'@import\s+url\(\s*["\']?(?:https?:)?//', html)
    # every figure the workflow writes (PNG) is in the report
    missing = [p.name for p in (workdir / "reports/figures").rglob("*.png") if p.name not in html]
    assert not missing, f"figures not in the report: {missing}"
