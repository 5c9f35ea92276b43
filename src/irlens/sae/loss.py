r"""Losses for training a TopK SAE on retrieval embeddings.

Reconstruction
    :func:`fvu` — fraction of variance unexplained, ``Σ‖x − x̂‖² / Σ‖x − x̄‖²`` (centred; the
    normalised MSE of ``openai/sparse_autoencoder``'s ``mse_scale`` and SAELens' explained variance).

Retrieval (reconstructed scores)
    :func:`retrieval_kl` — ``KL(softmax(s/τ) ‖ softmax(ŝ/τ))`` averaged over queries, where row ``i``
    of ``s`` holds the original dense scores ``q_i · d_j`` over query ``i``'s candidates (its top-n
    neighbours under the original dense model, optionally every other query's neighbours in the batch as
    in-batch negatives) and ``ŝ`` the same scores between reconstructions ``q̂_i · d̂_j``. It is 0 when
    ``ŝ = s`` (exact reconstruction) and, unlike the anchor's term below, a proper KL between two
    distributions that sum to 1.

Retrieval (latent scores)
    :func:`latent_scores` — sparse dot products ``z_q · z_d`` (optionally with L2-normalised codes and
    per-latent weights) — fed to the same KL (target: dense ``s``), to :func:`info_nce` (positive: the
    query's dense top-1 neighbour, candidates: all neighbours in the batch) These train the *encoder*
    (or :func:`score_fvu`, regression of the per-query centred scores) so that retrieval in latent space
    ranks like the dense model, which reconstruction alone does not
    ask for (``x̂_q · x̂_d = z_qᵀ W_decᵀ W_dec z_d + bias terms``, and ``W_decᵀ W_dec ≠ I``).

Anchor loss (``mode="embedding-scope"``)
    :func:`embedding_scope_loss` reproduces ``cxcscmu/embedding-scope`` ``source/trainer/v2410.py``
    ``measure()`` for each query and its ``n`` dense neighbours::

        MSE = mse(q̂, q) + mse(d̂, d)                       (means over elements, raw vectors)
        s_j = q · d_j · c,  ŝ_j = q̂ · d̂_j · c               c = 1/sqrt(D) in the final code, 1 before
        p_j = e^{s_j} / (e^{s_j} + Σ_l e^{s_l})             not a softmax: Σ_j p_j < 1
        KLD = F.kl_div(log p̂, p, reduction="sum")          "batchmean" in earlier commits
        total = MSE + KLD                                   weight 1 on each, no λ, no in-batch negatives

    kept verbatim (including the improper normalisation) so the two losses can be compared.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def fvu(
    x: torch.Tensor, x_hat: torch.Tensor, mean: torch.Tensor | None = None, denom: float | torch.Tensor | None = None
) -> torch.Tensor:
    """``Σ‖x − x̂‖² / Σ‖x − x̄‖²`` over rows of ``x, x̂ [n, d]``.

    ``mean`` (``[d]``) defaults to the rows' mean. ``denom``, when given, is the *per-row* variance
    ``mean_i ‖x_i − x̄‖²`` of a reference set (a fixed scale during training, as OpenAI's ``mse_scale``),
    so that the result is ``mean_i ‖x_i − x̂_i‖² / denom``.
    """
    err = (x - x_hat).pow(2).sum()
    if denom is not None:
        return err / x.shape[0] / denom
    m = x.mean(0, keepdim=True) if mean is None else mean.reshape(1, -1)
    return err / (x - m).pow(2).sum().clamp_min(1e-12)


def retrieval_kl(s: torch.Tensor, s_hat: torch.Tensor, tau: float, tau_hat: float | None = None) -> torch.Tensor:
    """``mean_i KL(softmax(s_i/τ) ‖ softmax(ŝ_i/τ̂))`` for score matrices ``[N, C]`` (C candidates per query).

    ``τ̂`` defaults to ``τ``. The target ``s`` is treated as a constant (no gradient).
    """
    p_log = F.log_softmax(s.detach() / tau, dim=-1)
    q_log = F.log_softmax(s_hat / (tau_hat or tau), dim=-1)
    return (p_log.exp() * (p_log - q_log)).sum(-1).mean()


def info_nce(scores: torch.Tensor, positive: torch.Tensor, tau: float) -> torch.Tensor:
    """``−mean_i log softmax(scores_i/τ)[positive_i]`` for ``scores [N, C]`` and ``positive [N]`` (column ids)."""
    return F.cross_entropy(scores / tau, positive)


def score_fvu(s: torch.Tensor, s_hat: torch.Tensor) -> torch.Tensor:
    """Shift-invariant score regression: ``Σ (ŝ_c − s_c)² / Σ s_c²`` with each row centred (``s_c = s − mean_row s``).

    For score matrices ``[N, C]``: the fraction of the (per-query centred) score variance that ``ŝ``
    does not explain, an FVU of the score matrix. It asks for the score *differences* of a query's
    candidates to be reproduced on the dense scale (no temperature, no free scale), which ranking
    losses such as :func:`retrieval_kl` leave open. 0 iff ``ŝ = s + c_i`` for each row.
    """
    t = s.detach()
    t = t - t.mean(-1, keepdim=True)
    h = s_hat - s_hat.mean(-1, keepdim=True)
    return (h - t).pow(2).sum() / t.pow(2).sum().clamp_min(1e-12)


def gram_fvu(z: torch.Tensor, x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """Latent isometry: ``Σ_ab (z_a·z_b − c_a·c_b)² / Σ_ab (c_a·c_b − mean)²`` over all pairs of a batch.

    ``z [B, L]`` codes, ``x [B, d]`` inputs, ``c = x − center`` (the pre-bias). Because
    ``x̂_a·x̂_b − b·(…) = z_aᵀ W_decᵀ W_dec z_b = z_a·z_b + Σ_{i≠j} z_a,i z_b,j (w_i·w_j)``, the latent dot
    product misses every cross term between different latents; in a plain TopK SAE on MiniLM those
    cross terms carry most of ``‖x̂ − b‖²``. This term asks the codes' Gram matrix to reproduce the
    centred inputs' Gram matrix, i.e. latent scores ``z_q·z_d`` to equal the centred dense scores
    ``(x_q − b)·(x_d − b)``, for every pair in the batch (no anchors or neighbours needed).
    """
    c = (x - center).detach()
    t = c @ c.T  # [B, B]
    return (z @ z.T - t).pow(2).sum() / (t - t.mean()).pow(2).sum().clamp_min(1e-12)


def candidate_scores(q: torch.Tensor, docs: torch.Tensor, in_batch: bool) -> torch.Tensor:
    """Scores of each query against its candidates.

    ``q [N, d]``, ``docs [N, n, d]`` (row ``i``: query ``i``'s neighbours). Without in-batch negatives:
    ``[N, n]`` with ``out[i, j] = q_i · docs[i, j]``. With them: ``[N, N·n]``, every query against every
    neighbour in the batch (query ``i``'s own neighbours are columns ``i·n … i·n + n − 1``).
    """
    if in_batch:
        return q @ docs.reshape(-1, docs.shape[-1]).T
    return torch.einsum("nd,nkd->nk", q, docs)


def latent_scores(
    zq: torch.Tensor, zd: torch.Tensor, normalize: bool = False, weights: torch.Tensor | None = None, power: float = 1.0
) -> torch.Tensor:
    """Latent retrieval scores ``Σ_i w_i z_q,i z_d,i`` for all pairs: ``zq [N, L]``, ``zd [M, L] → [N, M]``.

    ``power`` ≠ 1 first maps each active code to ``z^p`` (zeros stay zero; ``p = 0.5``: the √-codes of
    :class:`~irlens.sae.retrieval.LatentIndex`, with the gradient bounded by clamping at 1e-4);
    ``normalize`` then L2-normalises the codes (cosine in latent space); ``weights [L]`` scales each
    latent (e.g. IDF), applied on the query side.
    """
    zq, zd = score_codes(zq, normalize, power), score_codes(zd, normalize, power)
    if weights is not None:
        zq = zq * weights
    return zq @ zd.T


def score_codes(z: torch.Tensor, normalize: bool = False, power: float = 1.0) -> torch.Tensor:
    """Codes as the latent scores see them: ``z^p`` (:func:`power_codes`, when ``power`` ≠ 1), then
    L2-normalised along the last axis when ``normalize``."""
    if power != 1.0:
        z = power_codes(z, power)
    return F.normalize(z, dim=-1) if normalize else z


def power_codes(z: torch.Tensor, power: float) -> torch.Tensor:
    """``z^p`` where ``z > 0``, 0 elsewhere (codes are non-negative); clamped at 1e-4 so the gradient stays finite."""
    return torch.where(z > 0, z.clamp_min(1e-4).pow(power), torch.zeros_like(z))


def embedding_scope_loss(
    q: torch.Tensor,
    docs: torch.Tensor,
    q_hat: torch.Tensor,
    docs_hat: torch.Tensor,
    scale: float | None = None,
    reduction: str = "sum",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The anchor's ``(MSE, KLD)`` (module docstring), for ``q, q̂ [N, D]`` and ``docs, docs_hat [N, n, D]``.

    ``scale`` multiplies the dot products (default ``1/sqrt(D)``, the final code; ``1.0`` for the earlier
    commits); ``reduction`` is passed to ``F.kl_div`` (``"sum"`` final, ``"batchmean"`` earlier).
    """
    D = q.shape[-1]
    c = 1.0 / math.sqrt(D) if scale is None else scale
    mse = F.mse_loss(q_hat, q) + F.mse_loss(docs_hat, docs)
    buf = torch.exp(torch.matmul(q.unsqueeze(1), docs.transpose(1, 2)).squeeze(1) * c)  # [N, n]
    buf_sum = buf.sum(dim=1).view(-1, 1)
    buf_hat = torch.exp(torch.matmul(q_hat.unsqueeze(1), docs_hat.transpose(1, 2)).squeeze(1) * c)
    buf_hat_sum = buf_hat.sum(dim=1).view(-1, 1)
    tar = buf / (buf + buf_sum)
    ins = torch.log(buf_hat / (buf_hat + buf_hat_sum))
    kld = F.kl_div(ins, tar, reduction=reduction)
    return mse, kld
