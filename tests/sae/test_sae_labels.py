"""Issue 22 item 6: the SAE results say which codes they use (encoder top-k as the paper, or IHT-refined),
dead latents are counted on the training pool, N2G precision is measured at the latent's real base rate,
and the workflow declares the paper's loss and its MSE-only ablation as variants."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from irlens.io import write_json
from irlens.sae.config import RECOMMENDED, SAEConfig, TrainConfig
from irlens.sae.model import TopKSAE

from conftest import REPO

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _planted(refine_steps: int = 0) -> TopKSAE:
    """d = 4, L = 4, k = 1: latent j reads (and writes) basis direction j; no biases."""
    m = TopKSAE(SAEConfig(d_model=4, n_latents=4, k=1, refine_steps=refine_steps, refine_step=1.0), seed=0)
    with torch.no_grad():
        m.W_enc.copy_(torch.eye(4))
        m.W_dec.copy_(torch.eye(4))
        m.b_enc.zero_()
        m.b_pre.zero_()
    return m.eval()


def _eval_set(rng, n_docs=40, n_q=6):
    """Vectors on directions 0–2 only (latent 3 never fires here); queries = noisy copies of documents 0..n_q-1."""
    docs = np.zeros((n_docs, 4), np.float32)
    docs[np.arange(n_docs), np.arange(n_docs) % 3] = 1.0
    docs[:, :3] += 0.3 * rng.random((n_docs, 3)).astype(np.float32)
    queries = docs[:n_q] + 0.05 * rng.random((n_q, 4)).astype(np.float32) * np.array([1, 1, 1, 0], np.float32)
    doc_ids = [f"d{i}" for i in range(n_docs)]
    qids = [f"q{i}" for i in range(n_q)]
    qrels = {q: {f"d{i}": 1} for i, q in enumerate(qids)}
    return docs, doc_ids, queries, qids, qrels


# ------------------------------------------------------------------------------------ 1. codes labelled
def test_variants_table_reports_latent_retrieval_with_encoder_and_refined_codes(tmp_path):
    from irlens.sae.report import variants_table, write_variants_table
    from irlens.sae.retrieval import evaluate_sae

    rng = np.random.default_rng(0)
    docs, doc_ids, queries, qids, qrels = _eval_set(rng)
    evals = {}
    for name, steps in (("refined", 3), ("plain", 0)):
        e = evaluate_sae(_planted(steps), docs, doc_ids, queries, qids, qrels, depth=10)
        e["train"] = {"k": 1, "lam": 1.0, "lam_latent": 0.0, "aux_coef": 1 / 32}
        write_json(tmp_path / f"{name}.json", e)
        evals[name] = tmp_path / f"{name}.json"
    ev = json.loads((tmp_path / "refined.json").read_text())
    assert ev["codes"] == "refined (IHT, 3 steps)" and "latent-encoder" in ev["retrieval"]
    assert json.loads((tmp_path / "plain.json").read_text())["codes"] == "encoder"
    df = variants_table(evals).set_index("variant")
    # both codes for the refining model: unsuffixed = encoder codes (the paper's), *_refined = IHT codes
    assert df.loc["refined", "codes"] == "encoder; *_refined: refined (IHT, 3 steps)"
    assert df.loc["plain", "codes"] == "encoder"
    assert df.loc["refined", "latent_ndcg@10"] == pytest.approx(ev["retrieval"]["latent-encoder"]["ndcg@10"])
    assert df.loc["refined", "latent_refined_ndcg@10"] == pytest.approx(ev["retrieval"]["latent"]["ndcg@10"])
    assert np.isnan(df.loc["plain", "latent_refined_pct"])
    assert df.loc["refined", "loss"] == "FVU + AuxK + 1·KL(reconstructed scores)"
    write_variants_table(variants_table(evals), tmp_path / "t.md", tmp_path / "t.csv", title="t")
    md = (tmp_path / "t.md").read_text()
    assert "latent_pct" in md and "latent_refined_pct" in md and "encoder's top-k codes" in md


# ------------------------------------------------------------------------------------ 2. dead latents
def test_dead_latents_are_counted_on_the_training_pool_not_the_evaluation_set(tmp_path):
    from irlens.sae.metrics import pool_dead
    from irlens.sae.report import variants_table
    from irlens.sae.retrieval import evaluate_sae

    rng = np.random.default_rng(1)
    docs, doc_ids, queries, qids, qrels = _eval_set(rng)
    train = np.concatenate([docs, np.array([[0, 0, 0, 1.0]], np.float32)])  # latent 3 fires on this training row only
    m = _planted()
    pool = pool_dead(m, train)
    assert pool["dead"] == 0 and pool["rows"] == len(train) and pool["codes"] == "encoder"
    assert pool_dead(m, docs)["dead"] == 1  # on the evaluation documents latent 3 never fires
    e = evaluate_sae(m, docs, doc_ids, queries, qids, qrels, depth=10)
    e["train_pool"] = pool  # what 'sae evaluate' copies from the model's training record
    write_json(tmp_path / "e.json", e)
    row = variants_table({"main": tmp_path / "e.json"}).iloc[0]
    assert row["dead_pct"] == 0.0 and row["dead_pct_eval"] == pytest.approx(25.0)


def test_training_records_dead_latents_over_its_pool():
    from irlens.sae.train import TrainData, train_sae

    x = np.random.default_rng(2).standard_normal((120, 6)).astype(np.float32)
    data = TrainData(x=x, anchors=np.zeros(0, np.int64), neighbours=np.zeros((0, 8), np.int64))
    m, rec = train_sae(data, TrainConfig(n_latents=16, k=2, epochs=1, batch=32, warmup_steps=1), progress=False)
    fired = np.zeros(16, bool)
    with torch.no_grad():
        v, i = m.encode_topk(torch.from_numpy(x), refine_steps=0)
    fired[i[v > 0].numpy()] = True
    assert rec["pool"]["rows"] == 120 and rec["pool"]["dead"] == int((~fired).sum())


# ------------------------------------------------------------------------------------ 3. N2G base rate
def test_n2g_precision_is_measured_at_the_real_base_rate(monkeypatch):
    from irlens.sae import n2g

    n = 1000
    fires = np.zeros(n, bool)
    fires[:10] = True  # the latent fires on 1 % of documents
    match = np.zeros(n, bool)
    match[:100] = True  # the pattern matches 10 %, every firing document among them
    texts = [("alpha " if match[i] else "") + f"doc {i}" for i in range(n)]
    doc_ids = [f"d{i}" for i in range(n)]
    # codes: k = 2; latent 7 fires on the first 10 documents (activation descending), latent 0 everywhere
    vals = np.ones((n, 2), np.float32)
    idx = np.zeros((n, 2), np.int64)
    idx[:, 1] = 1
    idx[:10, 1] = 7
    vals[:10, 1] = np.linspace(1.0, 0.5, 10)
    monkeypatch.setattr(n2g, "explain_latent", lambda latent, top, act: {"patterns": [["alpha"]], "examples": []})
    recs = [{"latent": 7, "top_documents": [{"id": "d0"}, {"id": "d1"}]}]
    n2g.add_explanations(recs, None, texts, doc_ids, vals, idx, n_examples=2, n_eval=8, seed=0)
    s = recs[0]["n2g"]["score"]
    # over the 998 other documents: 98 match, 8 of them fire
    assert s["precision"] == pytest.approx(8 / 98) and s["recall"] == pytest.approx(1.0)
    assert s["base_rate"] == pytest.approx(8 / 998) and s["pattern_rate"] == pytest.approx(98 / 998)
    assert s["precision_balanced"] > 0.5  # what a 1:1 balanced set says
    m = n2g.mean_scores(recs)
    assert m["precision"] == pytest.approx(8 / 98) and "precision_balanced" in m and "base_rate" in m


# ------------------------------------------------------------------------------------ 4. paper variants
def test_config_declares_the_papers_loss_and_its_mse_ablation():
    import yaml

    from irlens.sae.report import loss_label

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())["sae"]
    v = cfg["variants"]
    assert "lambda_off" not in cfg and set(v) >= {"paper", "paper-mse"}
    main = {**RECOMMENDED, **cfg["settings"]}
    paper = TrainConfig(**{**main, **v["paper"]})
    mse = TrainConfig(**{**main, **v["paper-mse"]})
    assert paper.lam > 0 and paper.lam_latent == 0 and paper.loss == "fvu-kl" and paper.refine_steps == 0
    assert mse.lam == 0 and mse.lam_latent == 0 and mse.lam_gram == 0 and mse.refine_steps == 0
    assert loss_label(vars(paper)) == "FVU + AuxK + 1·KL(reconstructed scores)"
    assert loss_label(vars(mse)) == "FVU + AuxK"
    # the paper variants differ only in the KL weight (and what it needs), not in shape or schedule
    same = ("n_latents", "k", "epochs", "batch", "lr", "seed")
    assert all(getattr(paper, f) == getattr(mse, f) for f in same)


# ------------------------------------------------------------------------------------ 3. spread over seeds
def test_variants_table_summarises_main_over_its_seed_replicas(tmp_path):
    from irlens.sae.report import seed_summary, variants_table, write_variants_table
    from irlens.sae.retrieval import evaluate_sae

    rng = np.random.default_rng(2)
    docs, doc_ids, queries, qids, qrels = _eval_set(rng)
    base = evaluate_sae(_planted(), docs, doc_ids, queries, qids, qrels, depth=10)
    evals = {}
    for name, seed, pct in (("main", 42, 0.90), ("main-s1", 1, 0.94), ("main-s2", 2, 0.92), ("paper", 42, 0.5)):
        e = json.loads(json.dumps(base))
        e["train"] = {"k": 1, "lam": 1.0, "seed": seed}
        e["ratio_ndcg@10"]["latent"] = pct  # the retention a training run reached
        write_json(tmp_path / f"{name}.json", e)
        evals[name] = tmp_path / f"{name}.json"
    df = variants_table(evals)
    assert list(df["seed"]) == [42, 1, 2, 42]
    s = seed_summary(df).set_index("column")
    # hand-computed over main, main-s1, main-s2 (paper left out): 90, 94, 92 -> mean 92, sd 2
    assert s.loc["latent_pct", "n"] == 3
    assert s.loc["latent_pct", "mean"] == pytest.approx(92.0) and s.loc["latent_pct", "sd"] == pytest.approx(2.0)
    assert (s.loc["latent_pct", "min"], s.loc["latent_pct", "max"]) == pytest.approx((90.0, 94.0))
    write_variants_table(df, tmp_path / "t.md", tmp_path / "t.csv", title="t")
    md = (tmp_path / "t.md").read_text()
    assert "### main over 3 seeds (42, 1, 2)" in md
    # one run: no seed section (a single run has no spread to show)
    write_variants_table(df[df["variant"].isin(["main", "paper"])], tmp_path / "u.md", tmp_path / "u.csv", "u")
    assert "### main over" not in (tmp_path / "u.md").read_text()
    one = seed_summary(df[df["variant"] == "main"]).set_index("column")
    assert one.loc["latent_pct", "n"] == 1 and np.isnan(one.loc["latent_pct", "sd"])
