"""CPU allocator tuning (irlens.runtime.tune_cpu_allocator): time, page faults and bit-identity.

Run by hand (never in tests), on an otherwise idle machine:

    python bench/allocator.py [--threads 2] [--rounds 3]

The settings are per process (glibc mallopt, PyTorch's THP switch is read once), so every measurement
is a fresh child process; ``default`` (untuned) and ``tuned`` children alternate in rounds so that load
drifts hit both alike. Two workloads of the embedded run, both with MiniLM (all-MiniLM-L6-v2):

* ``encode``: the 256 longest SciFact documents (256 tokens each) through
  :func:`irlens.retrieval.encode_texts` at the default token budget;
* ``train``: 6 AdamW steps of a 2-logit MiniLM cross-encoder on 32 (query, document) pairs of
  length 64, forward + backward (the cross-encoder / GPL / IG kind of work).

Each child reports its wall time (after model load), minor page faults (``getrusage``) and the sha256 of
its outputs (embeddings; final weights), which must be equal between the two settings. Writes
results/bench/allocator.json and ends with ``RESULT key=value ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "results/bench/allocator.json"
CORPUS = REPO.parent / "shared/data/beir/scifact/corpus.jsonl"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _texts(n: int) -> list[str]:
    docs = [json.loads(line) for line in CORPUS.open()]
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in docs]
    return sorted(texts, key=len, reverse=True)[:n]


def child(workload: str, tuned: bool, threads: int) -> dict:
    from irlens.runtime import tune_cpu_allocator

    state = tune_cpu_allocator(tuned)  # before torch is imported
    import hashlib
    import resource

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    if workload == "encode":
        from irlens.models import load_bi_encoder
        from irlens.retrieval.encode import encode_texts

        model = load_bi_encoder(MINILM)[0]
        texts = _texts(256)
        f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        out = encode_texts(model, texts, progress=False)
        digest = hashlib.sha256(np.ascontiguousarray(out).tobytes()).hexdigest()
    else:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from irlens.models.resolve import resolve_model

        path = resolve_model(MINILM).path
        torch.manual_seed(0)
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        model.train()
        texts = _texts(32)
        feats = tok(
            [t[:80] for t in texts],
            texts,
            truncation="only_second",
            max_length=64,
            padding="max_length",
            return_tensors="pt",
        )
        labels = torch.arange(32) % 2
        opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
        f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        for _ in range(6):
            loss = torch.nn.functional.cross_entropy(model(**feats).logits, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        h = hashlib.sha256()
        for p in model.parameters():
            h.update(p.detach().numpy().tobytes())
        digest = h.hexdigest()
    seconds = time.perf_counter() - t0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    return {
        "workload": workload,
        "tuned": tuned,
        "state": state,
        "seconds": seconds,
        "minor_faults": faults,
        "sha256": digest,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", choices=["encode", "train"])
    ap.add_argument("--tuned", type=int, default=0)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, bool(a.tuned), a.threads)))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("THP_MEM_ALLOC_ENABLE", None)
    runs = []
    for r in range(a.rounds):
        for workload in ("encode", "train"):
            for tuned in (0, 1) if r % 2 == 0 else (1, 0):
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    workload,
                    "--tuned",
                    str(tuned),
                    "--threads",
                    str(a.threads),
                ]
                res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                row = json.loads(res.stdout.strip().splitlines()[-1])
                row["round"] = r
                runs.append(row)
                print(
                    f"round {r} {workload:6s} {'tuned' if tuned else 'default':7s} {row['seconds']:7.2f} s  "
                    f"{row['minor_faults']:>9d} faults  {row['sha256'][:12]}",
                    flush=True,
                )
    summary = {}
    for workload in ("encode", "train"):
        d = sorted(x["seconds"] for x in runs if x["workload"] == workload and not x["tuned"])
        t = sorted(x["seconds"] for x in runs if x["workload"] == workload and x["tuned"])
        shas = {x["sha256"] for x in runs if x["workload"] == workload}
        summary[workload] = {
            "default_median_s": d[len(d) // 2],
            "tuned_median_s": t[len(t) // 2],
            "speedup": d[len(d) // 2] / t[len(t) // 2],
            "default_faults": min(x["minor_faults"] for x in runs if x["workload"] == workload and not x["tuned"]),
            "tuned_faults": min(x["minor_faults"] for x in runs if x["workload"] == workload and x["tuned"]),
            "bit_identical": len(shas) == 1,
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"threads": a.threads, "rounds": a.rounds, "summary": summary, "runs": runs}, indent=2) + "\n"
    )
    print(
        "RESULT "
        + " ".join(f"{w}_speedup={s['speedup']:.3f} {w}_identical={s['bit_identical']}" for w, s in summary.items())
    )


if __name__ == "__main__":
    main()
