"""Benchmark: irlens encoding vs plain ``SentenceTransformer.encode`` on the same texts.

Run by hand (never in tests):  python bench/encode.py [--dataset scifact] [--n 1000] [--rounds 2]
Both contenders run in this one process, alternating, on the same model, texts and threads; the
result goes to results/bench/encode.json and a last line ``RESULT key=value ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

import numpy as np
import torch

from irlens.data.beir import doc_text, read_corpus
from irlens.models import load_bi_encoder
from irlens.retrieval.encode import encode_texts

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared/data/beir/scifact"), help="BEIR folder")
    ap.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    ap.add_argument("--n", type=int, default=1000, help="documents sampled (0: all)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--st-batch", type=int, default=32, help="SentenceTransformer.encode batch_size (its default: 32)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=str(REPO / "results/bench/encode.json"))
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    corpus = read_corpus(Path(a.data) / "corpus.jsonl")
    texts = [doc_text(d) for d in corpus.values()]
    if a.n and a.n < len(texts):
        texts = random.Random(0).sample(texts, a.n)
    model, resolved = load_bi_encoder(a.model, device="cpu")

    def irlens_run():
        return encode_texts(model, texts, progress=False)

    def st_run():
        return model.encode(texts, batch_size=a.st_batch, convert_to_numpy=True, show_progress_bar=False)

    times = {"irlens": [], "sentence_transformers": []}
    outs = {}
    st_run()  # warm-up (allocator, kernels)
    for r in range(a.rounds):
        for name, fn in (
            (("irlens", irlens_run), ("sentence_transformers", st_run))
            if r % 2 == 0
            else (("sentence_transformers", st_run), ("irlens", irlens_run))
        ):
            t0 = time.perf_counter()
            outs[name] = fn()
            times[name].append(time.perf_counter() - t0)
            print(f"round {r} {name}: {times[name][-1]:.2f}s", flush=True)
    best = {k: min(v) for k, v in times.items()}
    ratio = best["sentence_transformers"] / best["irlens"]
    diff = float(np.abs(outs["irlens"] - outs["sentence_transformers"]).max())
    result = {
        "model": resolved.id,
        "data": a.data,
        "n_texts": len(texts),
        "threads": a.threads,
        "rounds": a.rounds,
        "st_batch_size": a.st_batch,
        "seconds": times,
        "best_seconds": best,
        "texts_per_s": {k: len(texts) / v for k, v in best.items()},
        "speedup_irlens_vs_st": ratio,
        "max_abs_diff": diff,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"RESULT n={len(texts)} irlens_s={best['irlens']:.2f} st_s={best['sentence_transformers']:.2f} "
        f"speedup={ratio:.3f} max_abs_diff={diff:.2e}"
    )


if __name__ == "__main__":
    main()
