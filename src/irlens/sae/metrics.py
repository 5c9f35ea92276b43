"""Reconstruction metrics of an SAE over a full pass.

* FVU ``Σ‖x − x̂‖² / Σ‖x − x̄‖²`` (centred; explained variance = 1 − FVU),
* mean cosine ``cos(x, x̂)`` and mean norm ratio ``‖x̂‖ / ‖x‖``,
* L0: mean number of non-zero latents per row (≤ k for TopK; fewer when ReLU zeroes some of the k),
* dead latents: share of latents that never fire on the whole pass (:func:`pool_dead`: on the training pool).
"""

from __future__ import annotations

import numpy as np
import torch

from irlens.sae.model import TopKSAE


@torch.no_grad()
def encode_array(
    model: TopKSAE, x: np.ndarray, chunk: int = 4096, refine_steps: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes and reconstructions of every row: ``(values [n, k] float32, indices [n, k] int64, x̂ [n, d] float32)``.

    ``refine_steps``: IHT steps after the encoder (default: the model's ``refine_steps``; 0: the encoder's codes)."""
    vals, idxs, recs = [], [], []
    for s in range(0, len(x), chunk):
        xb = torch.from_numpy(np.array(x[s : s + chunk], dtype=np.float32))  # a copy: x may be a read-only map
        v, i = model.encode_topk(xb, refine_steps=refine_steps)
        recs.append(model.decode(model.scatter(v, i)).numpy())
        vals.append(v.numpy())
        idxs.append(i.numpy())
    k, d = model.cfg.k, model.cfg.d_model
    if not vals:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64), np.zeros((0, d), np.float32)
    return np.concatenate(vals), np.concatenate(idxs), np.concatenate(recs)


def reconstruction_metrics(x: np.ndarray, x_hat: np.ndarray, vals: np.ndarray, idx: np.ndarray, n_latents: int) -> dict:
    """FVU, cosine, norm ratio, L0 and dead-latent share of one pass (``x, x̂ [n, d]``, codes ``[n, k]``)."""
    x = np.asarray(x, dtype=np.float64)
    xh = np.asarray(x_hat, dtype=np.float64)
    err = ((x - xh) ** 2).sum()
    var = ((x - x.mean(0)) ** 2).sum()
    nx, nxh = np.linalg.norm(x, axis=1), np.linalg.norm(xh, axis=1)
    cos = (x * xh).sum(1) / np.maximum(nx * nxh, 1e-12)
    fired = vals > 0
    counts = np.bincount(idx[fired], minlength=n_latents)
    return {
        "fvu": float(err / var) if var > 0 else float("nan"),
        "cosine": float(cos.mean()),
        "norm_ratio": float((nxh / np.maximum(nx, 1e-12)).mean()),
        "l0": float(fired.sum(1).mean()),
        "dead_pct": float(100.0 * (counts == 0).mean()),
        "rows": int(len(x)),
    }


def fire_counts(vals: np.ndarray, idx: np.ndarray, n_latents: int) -> np.ndarray:
    """``[L]`` number of rows on which each latent fired (its document frequency)."""
    return np.bincount(idx[vals > 0], minlength=n_latents)


def codes_label(refine_steps: int) -> str:
    """Which codes a result uses: ``"encoder"`` (the encoder's top-k, as the paper) or ``"refined (IHT, N steps)"``."""
    return f"refined (IHT, {refine_steps} steps)" if refine_steps > 0 else "encoder"


def pool_dead(model: TopKSAE, x: np.ndarray, chunk: int = 4096) -> dict:
    """Latents that never fire on ``x [n, d]`` (the training pool) with the encoder's codes (those training
    used): ``{"rows", "dead", "dead_pct", "codes": "encoder"}``."""
    counts = np.zeros(model.cfg.n_latents, np.int64)
    device = model.b_pre.device  # rows go where the model is (a model trained on the GPU is counted there)
    with torch.no_grad():
        for s in range(0, len(x), chunk):
            xb = torch.from_numpy(np.array(x[s : s + chunk], dtype=np.float32)).to(device)
            v, i = model.encode_topk(xb, refine_steps=0)
            counts += fire_counts(v.cpu().numpy(), i.cpu().numpy(), model.cfg.n_latents)
    dead = int((counts == 0).sum())
    return {"rows": int(len(x)), "dead": dead, "dead_pct": 100.0 * dead / model.cfg.n_latents, "codes": "encoder"}
