"""GPL trial on SciFact: each step through the CLI (skipped when its output exists), then base vs adapted.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/gpl_trial.py \
        --work results/gpl-trial/tq --backend train-queries --steps 100 --batch 8 --max-length 128

Defaults: all-MiniLM-L6-v2 (student and dense miner, its corpus embeddings from the retrieval stage
reused), BM25 as second miner, the pipeline's cross-encoder results/cross_encoder/minilm-ce/model as
teacher (pairs cut to 64 tokens, as it was trained), 1 thread. Writes results/bench/gpl_trial.json and
prints one ``RESULT`` line (seconds per training step, nDCG@10 base / adapted, paired t-test p).
Steps whose output exists are not rerun (delete the work folder to start over); the training step
resumes from its checkpoint if it was killed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def step(name: str, out: Path, argv: list[str], timings: dict) -> None:
    from irlens.cli import main

    if out.exists():
        print(f"[{name}] {out} exists, skipped", flush=True)
        return
    t = time.time()
    rc = main(argv)
    if rc:
        sys.exit(f"[{name}] failed with status {rc}")
    timings[name] = round(time.time() - t, 1)
    print(f"[{name}] {timings[name]} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="results/gpl-trial/tq")
    ap.add_argument("--data", default="results/data/scifact")
    ap.add_argument("--base", default="sentence-transformers/all-MiniLM-L6-v2")
    ap.add_argument("--base-emb", default="results/embeddings/minilm/scifact/corpus.npy")
    ap.add_argument("--base-per-query", default="results/retrieval/scifact/minilm/per_query.tsv")
    ap.add_argument("--teacher", default="results/cross_encoder/minilm-ce/model")
    ap.add_argument("--ce-max-length", type=int, default=64)
    ap.add_argument("--backend", default="train-queries", choices=["train-queries", "ict"])
    ap.add_argument("--passages", type=int, default=2000, help="ict: passages sampled (1 query each)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--warmup-steps", type=int, default=10)
    ap.add_argument("--rescale-range", type=float, nargs=2)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    w, d = Path(a.work), a.data
    th = ["--threads", str(a.threads)]
    timings: dict = {}
    q = ["--backend", a.backend] + (["--qpp", "1", "--passages", str(a.passages)] if a.backend == "ict" else [])
    step(
        "queries",
        w / "qrels.tsv",
        [
            "gpl",
            "queries",
            *q,
            "--data",
            d,
            "--out-queries",
            str(w / "queries.jsonl"),
            "--out-qrels",
            str(w / "qrels.tsv"),
            *th,
        ],
        timings,
    )
    step(
        "negatives",
        w / "hard-negatives.jsonl",
        [
            "gpl",
            "negatives",
            "--data",
            d,
            "--queries",
            str(w / "queries.jsonl"),
            "--qrels",
            str(w / "qrels.tsv"),
            "--miners",
            a.base,
            "bm25",
            "--corpus-emb",
            f"{a.base}={a.base_emb}",
            "--device",
            "cpu",
            "--out",
            str(w / "hard-negatives.jsonl"),
            *th,
        ],
        timings,
    )
    step(
        "pseudo-labels",
        w / "gpl-training-data.tsv",
        [
            "gpl",
            "pseudo-labels",
            "--data",
            d,
            "--queries",
            str(w / "queries.jsonl"),
            "--negatives",
            str(w / "hard-negatives.jsonl"),
            "--teacher",
            a.teacher,
            "--steps",
            str(a.steps),
            "--batch",
            str(a.batch),
            "--ce-max-length",
            str(a.ce_max_length),
            "--device",
            "cpu",
            "--out",
            str(w / "gpl-training-data.tsv"),
            *th,
        ],
        timings,
    )
    rescale = ["--rescale-range", *map(str, a.rescale_range)] if a.rescale_range else []
    step(
        "train",
        w / "model",
        [
            "gpl",
            "train",
            "--base",
            a.base,
            "--data",
            d,
            "--queries",
            str(w / "queries.jsonl"),
            "--training-data",
            str(w / "gpl-training-data.tsv"),
            "--steps",
            str(a.steps),
            "--batch",
            str(a.batch),
            "--max-length",
            str(a.max_length),
            "--warmup-steps",
            str(a.warmup_steps),
            *rescale,
            "--checkpoint-every",
            "25",
            "--out",
            str(w / "model"),
            *th,
        ],
        timings,
    )
    for side in ("queries", "corpus"):
        step(
            f"encode-{side}",
            w / "emb" / f"{side}.npy",
            [
                "encode",
                "--data",
                d,
                "--model",
                str(w / "model"),
                "--side",
                side,
                "--device",
                "cpu",
                "--out",
                str(w / "emb" / f"{side}.npy"),
                *th,
            ],
            timings,
        )
    step(
        "retrieve",
        w / "run.trec",
        [
            "retrieve",
            "--method",
            "dense",
            "--data",
            d,
            "--split",
            "test",
            "--corpus-emb",
            str(w / "emb" / "corpus.npy"),
            "--query-emb",
            str(w / "emb" / "queries.npy"),
            "--score",
            "dot",
            "--out",
            str(w / "run.trec"),
            *th,
        ],
        timings,
    )
    step(
        "evaluate",
        w / "per_query.tsv",
        [
            "evaluate",
            "--data",
            d,
            "--split",
            "test",
            "--run",
            str(w / "run.trec"),
            "--out",
            str(w / "metrics.json"),
            "--per-query",
            str(w / "per_query.tsv"),
            "--dataset",
            "scifact",
            "--retriever",
            "minilm-gpl",
        ],
        timings,
    )

    from irlens.gpl.compare import comparison_table

    df = comparison_table([("scifact", f"base={a.base_per_query}", f"adapted={w / 'per_query.tsv'}")])
    print(df.to_string(index=False))
    rec = json.loads((w / "model" / "training.json").read_text())
    margins = [float(l.split("\t")[3]) for l in (w / "gpl-training-data.tsv").read_text().splitlines()]
    nd = df[df["metric"] == "ndcg@10"].iloc[0]
    out = {
        "settings": vars(a),
        "timings_s": timings,
        "seconds_per_step": rec["seconds_per_step"],
        "resumed_at_step": rec["resumed_at_step"],
        "loss_first": rec["loss_first"],
        "loss_last_mean": rec["loss_last_mean"],
        "margins": {
            "mean": sum(margins) / len(margins),
            "positive_share": sum(m > 0 for m in margins) / len(margins),
            "min": min(margins),
            "max": max(margins),
        },
        "comparison": df.to_dict(orient="records"),
    }
    Path("results/bench").mkdir(parents=True, exist_ok=True)
    Path("results/bench/gpl_trial.json").write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"RESULT backend={a.backend} steps={a.steps} batch={a.batch} max_length={a.max_length} "
        f"s_per_step={rec['seconds_per_step']} "
        f"ndcg10_base={nd['base']:.4f} ndcg10_adapted={nd['adapted']:.4f} diff={nd['diff']:+.4f} p={nd['p']:.3g} "
        f"better={nd['better']} worse={nd['worse']} n={nd['n']}"
    )


if __name__ == "__main__":
    main()
