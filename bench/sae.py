"""Benchmark: latent retrieval through the in-process sparse index vs exact dense search, same corpus.

Run by hand (never in tests):

    OMP_NUM_THREADS=1 python bench/sae.py --model results/sae/minilm [--dataset scifact] [--rounds 3]

Contenders, in this one process, alternating, on the same queries and corpus, top-``depth`` each:
  * dense   — :func:`irlens.retrieval.search.dense_search` on the original embeddings (torch matmul),
  * latent  — :class:`irlens.sae.retrieval.LatentIndex` (SciPy CSR ``Q · Dᵀ`` over the top-k codes),
  * latent-dense — the same latent scores as a dense ``[nq, L] @ [L, nd]`` product (what the index saves).
  * latent-sqrt-cos — the same index with the recommended scoring (cosine of square-rooted codes).
Query encoding through the SAE is timed separately (``encode_s`` with the model's IHT refinement,
``encode_s_without_refinement`` without); the index is built once, timed as ``index_build_s``. Writes
results/bench/sae.json and ends with ``RESULT key=value ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from irlens.retrieval.encode import load_embeddings
from irlens.retrieval.search import dense_search
from irlens.sae.metrics import encode_array
from irlens.sae.model import TopKSAE
from irlens.sae.retrieval import LatentIndex, topk_rows

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "results/sae/minilm"), help="SAE folder from 'irlens sae train'")
    ap.add_argument(
        "--embeddings",
        default=str(REPO / "results/embeddings/minilm/scifact"),
        help="folder with corpus.npy and queries.npy",
    )
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "results/bench/sae.json"))
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    model, meta = TopKSAE.load(a.model)
    corpus, _, _ = load_embeddings(Path(a.embeddings) / "corpus.npy")
    queries, _, _ = load_embeddings(Path(a.embeddings) / "queries.npy")
    corpus, queries = np.array(corpus, np.float32), np.array(queries, np.float32)
    dv, di, _ = encode_array(model, corpus)  # with the model's refinement steps
    t0 = time.perf_counter()
    qv, qi, _ = encode_array(model, queries)
    encode_s = time.perf_counter() - t0
    steps, model.cfg.refine_steps = model.cfg.refine_steps, 0
    t0 = time.perf_counter()
    encode_array(model, queries)
    encode_plain_s = time.perf_counter() - t0
    model.cfg.refine_steps = steps
    t0 = time.perf_counter()
    index = LatentIndex(dv, di, model.cfg.n_latents)
    build_s = time.perf_counter() - t0
    index_sqrt = LatentIndex(dv, di, model.cfg.n_latents, normalize=True, power=0.5)
    zd = torch.from_numpy(model.scatter(torch.from_numpy(dv), torch.from_numpy(di)).detach().numpy())  # [nd, L]
    zq = torch.from_numpy(model.scatter(torch.from_numpy(qv), torch.from_numpy(qi)).detach().numpy())  # [nq, L]

    def dense():
        return dense_search(queries, corpus, a.depth)

    def latent():
        return index.search(qv, qi, a.depth)

    def latent_sqrt_cos():
        return index_sqrt.search(qv, qi, a.depth)

    def latent_dense():
        with torch.inference_mode():
            return topk_rows((zq @ zd.T).numpy(), a.depth)

    contenders = {"dense": dense, "latent": latent, "latent-sqrt-cos": latent_sqrt_cos, "latent-dense": latent_dense}
    times: dict[str, list[float]] = {k: [] for k in contenders}
    outs = {}
    for r in range(a.rounds):
        names = list(contenders) if r % 2 == 0 else list(reversed(contenders))
        for name in names:
            t0 = time.perf_counter()
            outs[name] = contenders[name]()
            times[name].append(time.perf_counter() - t0)
            print(f"round {r} {name}: {times[name][-1]:.3f}s", flush=True)
    best = {k: min(v) for k, v in times.items()}
    qps = {k: len(queries) / v for k, v in best.items()}
    same = float(np.mean([set(x[:10]) == set(y[:10]) for x, y in zip(outs["latent"][1], outs["latent-dense"][1])]))
    overlap10 = float(
        np.mean([len(set(x[:10]) & set(y[:10])) / 10 for x, y in zip(outs["latent"][1], outs["dense"][1])])
    )
    nnz_docs = int((dv > 0).sum())
    result = {
        "model": a.model,
        "sae": meta.get("sae"),
        "embeddings": a.embeddings,
        "queries": len(queries),
        "documents": len(corpus),
        "depth": a.depth,
        "threads": a.threads,
        "rounds": a.rounds,
        "seconds": times,
        "best_seconds": best,
        "queries_per_s": qps,
        "speedup_latent_vs_dense": best["dense"] / best["latent"],
        "speedup_latent_vs_latent_dense": best["latent-dense"] / best["latent"],
        "encode_s": encode_s,
        "encode_s_without_refinement": encode_plain_s,
        "refine_steps": steps,
        "index_build_s": build_s,
        "index_nnz": nnz_docs,
        "index_density": nnz_docs / (len(corpus) * model.cfg.n_latents),
        "latent_top10_equal_to_dense_latent_product": same,
        "latent_vs_dense_top10_overlap": overlap10,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0],
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"RESULT queries={len(queries)} docs={len(corpus)} dense_qps={qps['dense']:.0f} latent_qps={qps['latent']:.0f} "
        f"latent_dense_qps={qps['latent-dense']:.0f} speedup_latent_vs_dense={result['speedup_latent_vs_dense']:.3f} "
        f"latent_sqrt_cos_qps={qps['latent-sqrt-cos']:.0f} top10_overlap_with_dense={overlap10:.3f} "
        f"encode_s={encode_s:.3f} encode_s_no_refine={encode_plain_s:.3f}"
    )


if __name__ == "__main__":
    main()
