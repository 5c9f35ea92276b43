"""Train a :class:`~irlens.sae.model.TopKSAE` on cached embeddings (corpus + training queries).

One step draws ``batch`` rows of the reconstruction pool (every corpus and training-query vector) and
``batch_queries`` anchors (training queries, optionally documents as pseudo-queries) with their ``n``
nearest corpus neighbours under the original dense model (dot product, precomputed once per dataset).
All of them are encoded; the loss (``TrainConfig.loss``) is

``"fvu-kl"`` (default)::

    FVU(all rows) + aux_coef·AuxK + λ·KL(softmax(s/τ) ‖ softmax(ŝ/τ)) + λ_lat·L_lat(s, z_q·z_d)
        + λ_gram·GramFVU(Z Zᵀ, (X − b)(X − b)ᵀ)

with ``s`` the dense scores of each anchor against its neighbours (plus the batch's other neighbours
when ``in_batch``), ``ŝ`` the same on reconstructions and ``L_lat`` a KL (temperature ``tau_latent``),
InfoNCE or score FVU on latent scores (see :mod:`irlens.sae.loss`);

``"embedding-scope"``: the anchor's ``MSE + KLD`` on anchors and neighbours only (no reconstruction
batch is drawn: an epoch is one pass over the anchors), plus ``aux_coef·AuxK``.

An epoch is one pass over the reconstruction pool (``"fvu-kl"``) in a seeded shuffled order; the
learning rate warms up linearly, then follows a cosine to 0. Adam (eps 6.25e-10, as OpenAI). After
each ``backward`` the decoder gradient is projected, after each step the decoder is renormalised.
Same config and data ⇒ identical weights on CPU.

``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, resolved by :func:`irlens.models.encoder.pick_device`)
holds the pool, the model and every batch; the shuffles and augmentation draws stay on the CPU, so a
CUDA run sees the same rows in the same order as a CPU run (its sums differ in float32 rounding only).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from irlens.errors import IrlensError
from irlens.io import atomic_dir
from irlens.models.encoder import pick_device
from irlens.sae import loss as L
from irlens.sae.config import TrainConfig
from irlens.sae.model import TopKSAE

log = logging.getLogger("irlens")


@dataclass
class TrainData:
    """What a training run sees: a pool of vectors and (anchor, neighbours) index pairs into it."""

    x: np.ndarray  # [P, d] float32: every corpus and training-query vector
    anchors: np.ndarray  # [A] int64: rows of x used as queries in the retrieval losses
    neighbours: np.ndarray  # [A, n] int64: rows of x, each anchor's dense top-n (corpus of its dataset)
    description: dict = field(default_factory=dict)


def build_train_data(parts: list[dict], n: int, doc_anchors: bool = False) -> TrainData:
    """Pool the parts and precompute dense neighbours.

    Each part is ``{"name": str, "corpus": [Nd, d], "queries": [Nq, d] or None}``; the queries are the
    training queries (the caller leaves out evaluation queries). Neighbours of a query are its top-``n``
    corpus rows of the same part by dot product; with ``doc_anchors`` each document is also an anchor
    whose neighbours are its top-``n`` other documents.
    """
    from irlens.retrieval.search import dense_search

    xs, anchors, neigh, desc = [], [], [], []
    offset = 0
    for part in parts:
        corpus = np.asarray(part["corpus"], dtype=np.float32)
        queries = part.get("queries")
        queries = (
            np.zeros((0, corpus.shape[1]), np.float32) if queries is None else np.asarray(queries, dtype=np.float32)
        )
        if corpus.shape[0] <= n:
            raise IrlensError(f"{part['name']}: corpus has {corpus.shape[0]} rows, need more than n={n} neighbours")
        if xs and corpus.shape[1] != xs[0].shape[1]:
            raise IrlensError(
                f"{part['name']}: embedding width {corpus.shape[1]} differs from {xs[0].shape[1]} of the first part"
            )
        c0, q0 = offset, offset + corpus.shape[0]
        xs += [corpus, queries]
        if len(queries):
            _, idx = dense_search(queries, corpus, n)
            anchors.append(np.arange(q0, q0 + len(queries)))
            neigh.append(idx + c0)
        if doc_anchors:
            _, idx = dense_search(corpus, corpus, n + 1)
            self_row = np.arange(len(corpus))[:, None]
            keep = idx != self_row
            idx = np.stack([row[m][:n] for row, m in zip(idx, keep)])  # drop the document itself
            anchors.append(np.arange(c0, q0))
            neigh.append(idx + c0)
        desc.append(
            {
                "name": part["name"],
                "corpus": int(corpus.shape[0]),
                "queries": int(len(queries)),
                **{k: v for k, v in part.items() if k not in ("name", "corpus", "queries")},
            }
        )
        offset = q0 + len(queries)
    x = np.concatenate(xs)
    a = np.concatenate(anchors) if anchors else np.zeros(0, np.int64)
    nb = np.concatenate(neigh) if neigh else np.zeros((0, n), np.int64)
    return TrainData(
        x=x,
        anchors=a.astype(np.int64),
        neighbours=nb.astype(np.int64),
        description={"parts": desc, "rows": int(len(x)), "anchors": int(len(a)), "doc_anchors": doc_anchors, "n": n},
    )


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def train_sae(
    data: TrainData,
    cfg: TrainConfig,
    progress: bool = True,
    model: TopKSAE | None = None,
    device: str | None = None,
) -> tuple[TopKSAE, dict]:
    """Train a TopK SAE on ``data``; returns ``(model in eval mode, training record)``.

    ``model``: continue from this model (its shape must match ``cfg``) instead of a fresh one with the
    geometric-median pre-bias. ``device``: where to train (``auto``, ``cpu``, ``cuda``, ``cuda:N``); None
    trains where the given model is, a fresh one on the CPU. The model comes back where it was given (a
    fresh one: on the CPU); the record holds plain numbers.
    """
    if cfg.uses_anchors and len(data.anchors) == 0:
        raise IrlensError(
            "SAE training: the retrieval loss needs training queries (or anchors='queries+docs'), none given"
        )
    if cfg.uses_anchors and data.neighbours.shape[1] < cfg.n:
        raise IrlensError(
            f"SAE training: data has {data.neighbours.shape[1]} neighbours per anchor, config asks n={cfg.n}"
        )
    home = model.b_pre.device if model is not None else torch.device("cpu")  # where the model goes back to
    dev = torch.device(pick_device(device) if device is not None else home)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)  # augmentation draws (CPU generator on every device)
    X = torch.from_numpy(np.ascontiguousarray(data.x, dtype=np.float32)).to(dev)  # [P, d]
    P, d = X.shape
    if model is None:
        model = TopKSAE(cfg.sae_config(d), seed=cfg.seed).to(dev)
        model.init_pre_bias(X, seed=cfg.seed)
    elif (model.cfg.d_model, model.cfg.n_latents, model.cfg.k) != (d, cfg.n_latents, cfg.k):
        raise IrlensError(
            f"SAE training: the given model ({model.cfg}) does not match the data width {d} "
            f"and config n_latents={cfg.n_latents}, k={cfg.k}"
        )
    model.to(dev)
    var = float((X - X.mean(0)).pow(2).sum(1).mean())  # per-row variance of the pool: the FVU scale
    anchors = torch.from_numpy(data.anchors)
    neigh = torch.from_numpy(data.neighbours[:, : cfg.n].copy())
    A = len(anchors)
    es = cfg.loss == "embedding-scope"
    nr = 0 if es else cfg.batch
    nq = min(cfg.batch_queries, A) if cfg.uses_anchors else 0
    steps_per_epoch = math.ceil(A / max(1, nq)) if es else math.ceil(P / cfg.batch)
    total = cfg.epochs * steps_per_epoch
    # fused: one kernel for the whole update (measured 4x faster than the default per-tensor loop on CPU)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=6.25e-10, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, total, cfg.warmup_steps))
    log.info(
        "SAE training: %d rows (d=%d), %d anchors x %d neighbours; %d latents, k=%d; loss %s (lam=%g, tau=%g, "
        "lam_latent=%g %s, tau_latent=%g, latent_norm=%s, in_batch=%s, lam_gram=%g); %d epochs x %d steps on %s",
        P,
        d,
        A,
        cfg.n,
        cfg.n_latents,
        cfg.k,
        cfg.loss,
        cfg.lam,
        cfg.tau,
        cfg.lam_latent,
        cfg.latent_loss,
        cfg.tau_latent,
        cfg.latent_norm,
        cfg.in_batch,
        cfg.lam_gram,
        cfg.epochs,
        steps_per_epoch,
        dev,
    )
    history = []
    t0 = time.perf_counter()
    a_order, a_pos = rng.permutation(A) if A else np.zeros(0, np.int64), 0
    model.train()
    for epoch in range(cfg.epochs):
        order = rng.permutation(P)
        sums: dict[str, torch.Tensor] = {}  # float64 on the device: no host sync per step, same sums as floats
        for s in range(steps_per_epoch):
            rows = [torch.from_numpy(order[s * nr : (s + 1) * nr])] if nr else []
            if nq:
                if a_pos + nq > A:
                    a_order, a_pos = rng.permutation(A), 0
                pick = torch.from_numpy(a_order[a_pos : a_pos + nq])
                a_pos += nq
                rows += [anchors[pick], neigh[pick].reshape(-1)]
            idx = torch.cat(rows).to(dev)
            xb = X[idx]  # [B, d]
            if cfg.augment != "none" and nr:
                xb = torch.cat([augment_rows(xb[:nr], X, cfg, gen), xb[nr:]])
            vals, codes_idx, xh, pre = model.forward_codes(xb)
            parts = batch_losses(model, cfg, xb, xh, (vals, codes_idx), pre, len(idx) - nq * (1 + cfg.n), nq, var)
            total_loss = sum(parts.values())
            opt.zero_grad(set_to_none=True)
            total_loss.backward()
            model.project_decoder_grad()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            model.normalize_decoder()
            model.update_fired_codes(vals.detach(), codes_idx)
            for k_, v in parts.items():
                sums[k_] = sums.get(k_, 0.0) + v.detach().double()
        rec = {
            "epoch": epoch + 1,
            **{k_: float(v) / steps_per_epoch for k_, v in sums.items()},
            "dead": int(model.dead_mask.sum()),
            "lr": sched.get_last_lr()[0],
            "seconds": round(time.perf_counter() - t0, 2),
        }
        history.append(rec)
        if progress and ((epoch + 1) % cfg.log_every == 0 or epoch + 1 == cfg.epochs):
            log.info(
                "epoch %d/%d: %s",
                epoch + 1,
                cfg.epochs,
                " ".join(
                    f"{k_}={v:.4g}" if isinstance(v, float) else f"{k_}={v}" for k_, v in rec.items() if k_ != "epoch"
                ),
            )
    model.eval()
    train_seconds = round(time.perf_counter() - t0, 2)
    from irlens.sae.metrics import pool_dead

    record = {
        "train": asdict(cfg),
        "data": data.description,
        "history": history,
        "train_seconds": train_seconds,
        # dead latents over what the SAE was trained on (the evaluation set's count is in 'sae evaluate')
        "pool": pool_dead(model, data.x),
        "steps": total,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(dev),
    }
    return model.to(home), record


def augment_rows(xb: torch.Tensor, X: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Replace a random ``aug_prob`` share of the rows ``xb [b, d]`` by new points of the same norm.

    ``mixup``: ``(1 − λ) x + λ x_j`` with ``x_j`` a random pool row and ``λ ~ U(0, aug_strength)``;
    ``noise``: ``x + ε`` with ``ε`` a random direction of norm ``aug_strength``. Either is rescaled to
    ``‖x‖`` (retrieval embeddings live on the sphere). The SAE reconstructs the new point.
    """
    b, dev = xb.shape[0], xb.device  # draws on the CPU generator ``gen``, then moved: the same on every device
    pick = (torch.rand(b, generator=gen) < cfg.aug_prob).to(dev)  # [b]
    if cfg.augment == "mixup":
        partner = X[torch.randint(0, X.shape[0], (b,), generator=gen).to(X.device)].to(dev)
        lam = torch.rand(b, 1, generator=gen).to(dev) * cfg.aug_strength
        new = (1 - lam) * xb + lam * partner
    else:
        eps = torch.randn(xb.shape, generator=gen).to(dev)
        new = xb + cfg.aug_strength * eps / torch.linalg.vector_norm(eps, dim=1, keepdim=True)
    new = new * (
        torch.linalg.vector_norm(xb, dim=1, keepdim=True)
        / torch.linalg.vector_norm(new, dim=1, keepdim=True).clamp_min(1e-12)
    )
    return torch.where(pick[:, None], new, xb)


def batch_losses(
    model: TopKSAE, cfg: TrainConfig, xb, xh, codes, pre, nr: int, nq: int, var: float
) -> dict[str, torch.Tensor]:
    """Loss terms of one batch: rows ``[0, nr)`` reconstruction, then ``nq`` anchors, then their neighbours.

    ``codes``: the sparse codes ``(vals [B, k], idx [B, k])``; dense ``z`` rows are formed only where a
    loss needs them (the latent-score loss: anchor and neighbour rows; the Gram term: all rows)."""
    vals, cidx = codes
    out: dict[str, torch.Tensor] = {}
    if cfg.aux_coef > 0:
        out["auxk"] = cfg.aux_coef * model.aux_loss(xb, xh, pre)
    if nq:
        d = xb.shape[1]
        q, docs = xb[nr : nr + nq], xb[nr + nq :].reshape(nq, cfg.n, d)
        qh, dh = xh[nr : nr + nq], xh[nr + nq :].reshape(nq, cfg.n, d)
    if cfg.loss == "embedding-scope":
        mse, kld = L.embedding_scope_loss(q, docs, qh, dh, scale=cfg.es_scale, reduction=cfg.es_reduction)
        out["mse"], out["kld"] = mse, kld
        return out
    out["fvu"] = L.fvu(xb, xh, denom=var)
    if cfg.lam_gram > 0:
        out["gram"] = cfg.lam_gram * L.gram_fvu(model.scatter(vals, cidx), xb, model.b_pre)
    if nq and cfg.lam > 0:
        s = L.candidate_scores(q, docs, cfg.in_batch)
        s_hat = L.candidate_scores(qh, dh, cfg.in_batch)
        out["kl"] = cfg.lam * L.retrieval_kl(s, s_hat, cfg.tau)
    if nq and cfg.lam_latent > 0:
        z = model.scatter(vals[nr:], cidx[nr:])  # [nq·(1 + n), L]: anchors, then their neighbours
        zq, zd = z[:nq], z[nq:].reshape(nq, cfg.n, -1)
        if cfg.in_batch:
            s_lat = L.latent_scores(zq, zd.reshape(nq * cfg.n, -1), normalize=cfg.latent_norm, power=cfg.latent_power)
        else:
            s_lat = torch.einsum(
                "nl,nkl->nk",
                L.score_codes(zq, cfg.latent_norm, cfg.latent_power),
                L.score_codes(zd, cfg.latent_norm, cfg.latent_power),
            )
        if cfg.latent_loss == "kl":
            s = L.candidate_scores(q, docs, cfg.in_batch)
            out["lat"] = cfg.lam_latent * L.retrieval_kl(s, s_lat, cfg.tau, cfg.tau_latent)
        elif cfg.latent_loss == "mse":
            out["lat"] = cfg.lam_latent * L.score_fvu(L.candidate_scores(q, docs, cfg.in_batch), s_lat)
        else:
            # the dense top-1 neighbour's column, on the scores' device
            pos = torch.arange(nq, device=s_lat.device) * (cfg.n if cfg.in_batch else 0)
            out["lat"] = cfg.lam_latent * L.info_nce(s_lat, pos, cfg.tau_latent)
    return out


def save_model(model: TopKSAE, record: dict, folder: str | Path) -> None:
    """Write the model folder atomically: a temp folder next to ``folder``, renamed onto it when complete."""
    with atomic_dir(folder, suffix="") as tmp:
        model.save(tmp, extra=record)
