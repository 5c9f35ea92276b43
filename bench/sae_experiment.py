"""SAE experiment on the cached MiniLM embeddings: train, then dense vs reconstructed vs latent retrieval.

Run by hand (never in tests), one configuration per call:

    OMP_NUM_THREADS=1 python bench/sae_experiment.py --name plain --set epochs=30 --set lam=0
    python bench/sae_experiment.py --table          # print every recorded configuration

The recommended configuration (irlens.sae.config.RECOMMENDED) is

    python bench/sae_experiment.py --name latcos0.1-qd-e60 --set lam_latent=0.1 --set latent_norm=true \
        --set anchors=queries+docs --set batch_queries=32 --refine 40 --refine-step 3 --refine-momentum 0.9

(``--eval-model DIR`` re-evaluates a saved model; ``--emb DIR`` reads a snapshot of the embeddings;
``--holdout 200`` leaves 200 judged SciFact train queries out of training and also reports retrieval on
them: a validation set, so settings can be chosen without looking at the test queries.)

Training data (no test leakage): SciFact corpus (5,183) + SciFact queries *not* in
qrels/test.tsv (809) + NFCorpus corpus (3,633) + all NFCorpus queries (3,237). Evaluation: the 300
SciFact test queries (qrels /work/shared/data/beir/scifact/qrels/test.tsv) over the SciFact corpus.
Each run appends one JSON line (config, training record, metrics) to results/sae/experiments.jsonl
and ends with ``RESULT key=value ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from irlens.data.beir import read_qrels
from irlens.io import setup_logging
from irlens.sae.config import TrainConfig
from irlens.sae.data import load_eval_set, load_train_part
from irlens.sae.model import TopKSAE
from irlens.sae.retrieval import evaluate_sae
from irlens.sae.train import build_train_data, save_model, train_sae

REPO = Path(__file__).resolve().parents[1]
EMB = REPO / "results/embeddings/minilm"
QRELS = REPO.parent / "shared/data/beir/scifact/qrels/test.tsv"
TRAIN_QRELS = REPO.parent / "shared/data/beir/scifact/qrels/train.tsv"  # queries that are in the training data
LOG = REPO / "results/sae/experiments.jsonl"


def parse_set(items: list[str]) -> dict:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        if k not in fields:
            raise SystemExit(f"unknown TrainConfig field {k!r}")
        out[k] = (
            json.loads(v)
            if v
            not in (
                "kl",
                "infonce",
                "mse",
                "fvu-kl",
                "embedding-scope",
                "queries",
                "queries+docs",
                "sum",
                "batchmean",
                "none",
                "mixup",
                "noise",
            )
            else v
        )
    return out


def holdout_qids(n: int) -> set[str]:
    """``n`` SciFact train queries (with judgements), picked with a fixed seed: the validation set."""
    if n <= 0:
        return set()
    qids = sorted(read_qrels(TRAIN_QRELS))
    if n > len(qids):
        raise SystemExit(f"--holdout {n}: only {len(qids)} judged SciFact train queries")
    return set(np.random.default_rng(0).choice(qids, n, replace=False).tolist())


def table() -> None:
    rows = [json.loads(l) for l in LOG.read_text().splitlines() if l.strip()]
    print(
        f"{'name':<24} {'refine':>6} {'FVU':>6} {'FVU-q':>6} {'L0':>5} {'dead%':>6} {'dense':>6} {'recon':>6} "
        f"{'r%':>5} {'raw%':>5} {'latent':>6} {'l%':>5} {'cos%':>5} {'idf%':>5} {'cidf%':>5} {'sqrt%':>5} "
        f"{'proj%':>5} {'train_s':>7}"
    )
    for r in rows:
        for m in [r["metrics"]] + ([r["metrics_refined"]] if "metrics_refined" in r else []):
            rec = m["reconstruction"]["all"]
            ret, ra = m["retrieval"], m["ratio_ndcg@10"]
            pct = lambda k, ra=ra: f"{100 * ra[k]:5.1f}" if k in ra else f"{'-':>5}"  # noqa: E731
            ref = f"{m.get('refine_steps', 0)}x{m.get('refine_step', 1.5):g}" if m.get("refine_steps") else "0"
            print(
                f"{r['name']:<24} {ref:>6} {rec['fvu']:6.3f} {m['reconstruction']['queries']['fvu']:6.3f} "
                f"{rec['l0']:5.1f} {rec['dead_pct']:6.2f} {ret['dense']['ndcg@10']:6.4f} "
                f"{ret['reconstructed']['ndcg@10']:6.4f} {pct('reconstructed')} {pct('reconstructed-raw')} "
                f"{ret['latent']['ndcg@10']:6.4f} {pct('latent')} {pct('latent-cos')} {pct('latent-idf')} "
                f"{pct('latent-cos-idf')} {pct('latent-sqrt-cos')} {pct('latent-projected-query')} "
                f"{r['train_seconds']:7.0f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name")
    ap.add_argument("--set", action="append", default=[], help="TrainConfig field=value (JSON value)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", help="model folder to write")
    ap.add_argument("--table", action="store_true")
    ap.add_argument(
        "--train-eval", action="store_true", help="also evaluate on the SciFact train queries (seen in training)"
    )
    ap.add_argument(
        "--holdout",
        type=int,
        default=0,
        help=(
            "leave this many SciFact train queries (seeded pick) out of training and evaluate on them too: "
            "a validation set for choosing settings without the test queries"
        ),
    )
    ap.add_argument("--emb", default=str(EMB), help="folder with scifact/ and nfcorpus/ embedding folders")
    ap.add_argument(
        "--sentences",
        action="store_true",
        help=(
            "also train on <emb>/<dataset>/sentences.npy (irlens retrieval encode --side sentences), "
            "as the workflow does"
        ),
    )
    ap.add_argument(
        "--extra-queries",
        action="append",
        default=[],
        help=(
            "DATASET=FILE.npy: extra query-like training vectors (e.g. encoded corpus sentences) "
            "added to that part's queries"
        ),
    )
    ap.add_argument(
        "--eval-model", help="evaluate this saved model (its config and training record) instead of training"
    )
    ap.add_argument(
        "--refine", type=int, default=50, help="also evaluate with this many IHT refinement steps (0: skip)"
    )
    ap.add_argument(
        "--refine-step", type=float, default=None, help="IHT step in units of 1/‖W_dec‖² (default: the model's)"
    )
    ap.add_argument("--refine-momentum", type=float, default=None, help="IHT momentum in [0, 1) (default: the model's)")
    a = ap.parse_args()
    if a.table:
        return table()
    setup_logging()
    torch.set_num_threads(a.threads)
    emb = Path(a.emb)
    if a.eval_model:
        model, record = TopKSAE.load(a.eval_model)
        cfg = TrainConfig(**record["train"])
    else:
        cfg = TrainConfig(**parse_set(a.set))
        test_qids = set(read_qrels(QRELS))
        parts = [
            load_train_part(emb / "scifact", exclude_qids=test_qids | holdout_qids(a.holdout), sentences=a.sentences),
            load_train_part(emb / "nfcorpus", sentences=a.sentences),
        ]
        for spec in a.extra_queries:
            ds, _, path = spec.partition("=")
            part = next(p for p in parts if p["name"] == ds)
            extra = np.load(path).astype(np.float32)
            part["queries"] = extra if part["queries"] is None else np.concatenate([part["queries"], extra])
            part["extra_queries"] = f"{path} ({len(extra)})"
        data = build_train_data(parts, n=cfg.n, doc_anchors=cfg.anchors == "queries+docs")
        model, record = train_sae(data, cfg)
        if a.save:
            save_model(model, record, a.save)
    corpus, doc_ids, queries, qids, qrels = load_eval_set(emb / "scifact", QRELS)
    t0 = time.perf_counter()
    model.cfg.refine_steps = 0  # first the encoder's own codes
    metrics = evaluate_sae(model, corpus, doc_ids, queries, qids, qrels)
    if a.train_eval:
        model.cfg.refine_steps = 0
        c2, d2, q2, qi2, qr2 = load_eval_set(emb / "scifact", TRAIN_QRELS)
        tr = evaluate_sae(model, c2, d2, q2, qi2, qr2, latent_variants=(("latent", False, "none"),))
        metrics["train_queries"] = {"retrieval": tr["retrieval"], "ratio_ndcg@10": tr["ratio_ndcg@10"]}
        print("train queries:", json.dumps({k: round(v, 4) for k, v in tr["ratio_ndcg@10"].items()}))
    if a.holdout:
        if a.eval_model and record["data"]["parts"][0].get("queries_excluded", 0) < 300 + a.holdout:
            raise SystemExit(f"--holdout {a.holdout}: {a.eval_model} was trained with those queries")
        with tempfile.TemporaryDirectory() as tmp:
            qrels_val = read_qrels(TRAIN_QRELS)
            keep = holdout_qids(a.holdout)
            path = Path(tmp) / "val.tsv"
            path.write_text(
                "query-id\tcorpus-id\tscore\n"
                + "".join(f"{q}\t{d}\t{r}\n" for q in sorted(keep) for d, r in qrels_val[q].items())
            )
            c3, d3, q3, qi3, qr3 = load_eval_set(emb / "scifact", path)
        steps = model.cfg.refine_steps
        model.cfg.refine_steps = 0
        val0 = evaluate_sae(model, c3, d3, q3, qi3, qr3)
        metrics["validation_unrefined"] = {
            "queries": len(qi3),
            "retrieval": val0["retrieval"],
            "ratio_ndcg@10": val0["ratio_ndcg@10"],
            "refine_steps": 0,
        }
        print(
            "validation, encoder codes (held-out SciFact train queries):",
            json.dumps({k: round(v, 4) for k, v in val0["ratio_ndcg@10"].items()}),
        )
        model.cfg.refine_steps = a.refine
        if a.refine_momentum is not None:
            model.cfg.refine_momentum = a.refine_momentum
        if a.refine_step:
            model.cfg.refine_step = a.refine_step
        val = evaluate_sae(model, c3, d3, q3, qi3, qr3)
        model.cfg.refine_steps = steps
        metrics["validation"] = {
            "queries": len(qi3),
            "retrieval": val["retrieval"],
            "ratio_ndcg@10": val["ratio_ndcg@10"],
            "refine_steps": a.refine,
        }
        print(
            f"validation, {a.refine} refinement steps (held-out SciFact train queries):",
            json.dumps({k: round(v, 4) for k, v in val["ratio_ndcg@10"].items()}),
        )
    refined = None
    if a.refine:
        model.cfg.refine_steps = a.refine
        if a.refine_step:
            model.cfg.refine_step = a.refine_step
        if a.refine_momentum is not None:
            model.cfg.refine_momentum = a.refine_momentum
        t1 = time.perf_counter()
        refined = evaluate_sae(model, corpus, doc_ids, queries, qids, qrels)
        refined["eval_seconds"] = round(time.perf_counter() - t1, 1)
    row = {
        "name": a.name or "unnamed",
        "config": dataclasses.asdict(cfg),
        "train_seconds": record["train_seconds"],
        "eval_seconds": round(time.perf_counter() - t0, 1),
        "data": record["data"],
        "history_last": record["history"][-1],
        "metrics": metrics,
        "threads": a.threads,
        "load": os.getloadavg()[0],
    }
    if refined is not None:
        row["metrics_refined"] = refined
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    rec, ra = metrics["reconstruction"]["all"], metrics["ratio_ndcg@10"]
    print(json.dumps({k: v["ndcg@10"] for k, v in metrics["retrieval"].items()}, indent=1))
    if refined is not None:
        rr = refined["ratio_ndcg@10"]
        print(
            f"refined ({a.refine} IHT steps, step {model.cfg.refine_step:g}): "
            f"fvu={refined['reconstruction']['all']['fvu']:.4f} recon_ratio={rr['reconstructed']:.4f} "
            f"recon_raw_ratio={rr.get('reconstructed-raw', rr['reconstructed']):.4f} "
            f"latent_ratio={rr['latent']:.4f} latent_sqrt_cos_ratio={rr['latent-sqrt-cos']:.4f}"
        )
    print(
        f"RESULT name={row['name']} fvu={rec['fvu']:.4f} l0={rec['l0']:.1f} dead_pct={rec['dead_pct']:.2f} "
        f"dense={metrics['retrieval']['dense']['ndcg@10']:.4f} recon_ratio={ra['reconstructed']:.4f} "
        f"latent_ratio={ra['latent']:.4f} "
        f"latent_cos_ratio={ra['latent-cos']:.4f} latent_idf_ratio={ra['latent-idf']:.4f} "
        f"train_s={record['train_seconds']:.0f}"
    )


if __name__ == "__main__":
    main()
