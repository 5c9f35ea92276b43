"""SAE training step and code refinement: dense vs sparse (CSR) products, plain vs accelerated IHT.

Run by hand (never in tests), on an otherwise idle machine:

    python bench/sae_step.py [--threads 2] [--steps 40]

One process, side by side, alternating the contenders in rounds so that load drifts hit both alike:

* **training step** of the recommended configuration (4,096 latents, K = 64, 256 reconstruction rows +
  32 anchors × 8 neighbours = 544 rows of width 384, latent KL loss, AuxK, fused Adam): ``dense`` is the
  pre-sparse formulation written out here (dense pre-activations with autograd, dense ``z``,
  ``z @ W_decᵀ``), ``sparse`` is :meth:`TopKSAE.forward_codes` + the training loss as
  :func:`irlens.sae.train.train_sae` runs it;
* **refinement** of the codes of ``--rows`` inputs: 150 plain IHT steps (the old default) vs 40 steps with
  momentum 0.9 (the new default), with the reconstruction error each reaches.

``--device cuda`` (bench/device.sh) runs the same on the GPU, ``--d-model`` sets the width; the JSON then
also holds steps/s and the sparse step's estimated fraction of the fp32 peak (bench/devkit.py).

Random unit-norm inputs (the timing does not depend on the data). Writes results/bench/sae_step.json and
ends with ``RESULT key=value ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import devkit  # bench/devkit.py (the script's folder is on sys.path)
import numpy as np
import torch

from irlens.sae.config import TrainConfig
from irlens.sae.model import TopKSAE
from irlens.sae.train import batch_losses

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "results/bench/sae_step.json"


def dense_losses(model: TopKSAE, cfg: TrainConfig, xb: torch.Tensor, nr: int, nq: int) -> torch.Tensor:
    """The training loss through dense products (the formulation before irlens.sae.sparse)."""
    a = (xb - model.b_pre) @ model.W_enc.T + model.b_enc  # [B, L] with autograd
    vals, idx = torch.topk(a, cfg.k, dim=-1)
    z = torch.zeros_like(a).scatter(1, idx, torch.relu(vals))  # dense codes
    xh = z @ model.W_dec.T + model.b_pre
    parts = batch_losses(model, cfg, xb, xh, (torch.relu(vals), idx), a.detach(), nr, nq, 1.0)
    return sum(parts.values()), z


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40, help="timed training steps per contender and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=2000, help="inputs refined per refinement call")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--d-model", type=int, default=384, help="embedding width (384: MiniLM; 768: BGE-base)")
    ap.add_argument("--out-dir", default=None, help="write sae_step.json here (default results/bench/)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = a.device
    cfg = TrainConfig.recommended()
    d, P = a.d_model, 13_162
    g = torch.Generator(device=dev).manual_seed(0)
    X = torch.nn.functional.normalize(torch.randn(P, d, generator=g, device=dev), dim=1)
    nr, nq = cfg.batch, cfg.batch_queries
    B = nr + nq * (1 + cfg.n)

    models = {}
    for name in ("dense", "sparse"):
        m = TopKSAE(cfg.sae_config(d), seed=0).to(dev)
        m.init_pre_bias(X[:4000])
        models[name] = (m, torch.optim.Adam(m.parameters(), lr=1e-3, eps=6.25e-10, fused=True))

    def step(name: str) -> None:
        m, opt = models[name]
        xb = X[torch.randint(0, P, (B,), generator=g, device=dev)]
        if name == "dense":
            loss, z = dense_losses(m, cfg, xb, nr, nq)
        else:
            vals, idx, xh, pre = m.forward_codes(xb)
            loss = sum(batch_losses(m, cfg, xb, xh, (vals, idx), pre, nr, nq, 1.0).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        m.project_decoder_grad()
        opt.step()
        m.normalize_decoder()
        if name == "dense":
            m.update_fired(z.detach())
        else:
            m.update_fired_codes(vals.detach(), idx)

    times = {"dense": [], "sparse": []}
    for name in times:
        for _ in range(5):
            step(name)  # warm-up
    for _ in range(a.rounds):
        for name in times:
            devkit.sync(dev)
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step(name)
            devkit.sync(dev)
            times[name].append((time.perf_counter() - t0) / a.steps)
    step_ms = {k: 1000 * float(np.median(v)) for k, v in times.items()}

    # refinement: plain 150 steps vs accelerated 40 steps, on the sparse model's dictionary
    m = models["sparse"][0].eval()
    xr = X[: a.rows]
    fvu_den = float((xr - xr.mean(0)).pow(2).sum(1).mean())
    refine = {}
    for label, steps, mom in (("plain-150", 150, 0.0), ("momentum0.9-40", 40, 0.9)):
        m.cfg.refine_step, m.cfg.refine_momentum = 3.0, mom
        m.encode_topk(xr[:64], refine_steps=2)  # warm-up
        devkit.sync(dev)
        t0 = time.perf_counter()
        v, i = m.encode_topk(xr, refine_steps=steps)
        devkit.sync(dev)
        secs = time.perf_counter() - t0
        with torch.no_grad():
            fvu = float((m.decode(m.scatter(v, i)) - xr).pow(2).sum(1).mean()) / fvu_den
        refine[label] = {"seconds": round(secs, 3), "fvu": round(fvu, 5)}
    v0, i0 = m.encode_topk(xr, refine_steps=0)
    with torch.no_grad():
        refine["encoder-only"] = {
            "seconds": None,
            "fvu": round(float((m.decode(m.scatter(v0, i0)) - xr).pow(2).sum(1).mean()) / fvu_den, 5),
        }

    # FLOP estimate of a sparse step: the dense encoder product B x d x n_latents (forward, and the W_enc gradient;
    # the input needs none) plus the sparse decoder, x3 for forward + backward
    flops = 2 * B * d * cfg.n_latents * 2 + 6 * B * (cfg.k + cfg.aux_k) * d
    peak = devkit.frac_peak(flops, step_ms["sparse"] / 1000, dev, "fp32")
    out = {
        "device": dev,
        "device_name": devkit.device_name(dev),
        "d_model": d,
        "steps_per_s": {k: round(1000 / v, 1) for k, v in step_ms.items()},
        "flops_est_sparse_step": flops,
        "sparse_step_peak": peak,
        "threads": a.threads,
        "batch_rows": B,
        "n_latents": cfg.n_latents,
        "k": cfg.k,
        "torch": torch.__version__,
        "load_avg": os.getloadavg()[0],
        "step_ms": {k: round(v, 2) for k, v in step_ms.items()},
        "step_ms_rounds": {k: [round(1000 * x, 2) for x in v] for k, v in times.items()},
        "step_speedup": round(step_ms["dense"] / step_ms["sparse"], 2),
        "refine": refine,
        "refine_speedup": round(refine["plain-150"]["seconds"] / refine["momentum0.9-40"]["seconds"], 2),
        "refine_rows": a.rows,
    }
    out_path = Path(a.out_dir) / "sae_step.json" if a.out_dir else OUT
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1), file=sys.stderr if a.out_dir else sys.stdout)
    print(
        f"RESULT sae device={dev} d_model={d} n_latents={cfg.n_latents} k={cfg.k} batch_rows={B} "
        f"steps_per_s_sparse={out['steps_per_s']['sparse']} steps_per_s_dense={out['steps_per_s']['dense']} "
        f"sparse_frac_peak_fp32={devkit.fmt(peak['frac_peak'])} "
        f"step_dense_ms={step_ms['dense']:.1f} step_sparse_ms={step_ms['sparse']:.1f} "
        f"step_speedup={out['step_speedup']} "
        f"refine_plain150_s={refine['plain-150']['seconds']} refine_mom40_s={refine['momentum0.9-40']['seconds']} "
        f"refine_speedup={out['refine_speedup']} "
        f"fvu_plain150={refine['plain-150']['fvu']} fvu_mom40={refine['momentum0.9-40']['fvu']}"
    )


if __name__ == "__main__":
    main()
