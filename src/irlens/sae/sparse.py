"""Sparse forward/backward for TopK codes: the SAE's decoder and encoder touch only the ``k`` chosen latents.

A TopK SAE's codes have ``k ≪ L`` non-zeros per row, yet ``z @ W_decᵀ`` and the dense backward of
``a = (x − b_pre) W_encᵀ + b_enc`` each cost a full ``[n, L] × [L, d]`` product. The two autograd
functions here do the same maths with compressed-sparse-row (CSR) products instead, whose cost is
``n·k·d`` rather than ``n·L·d`` (bench/sae_step.py measures the training step):

* :func:`sparse_decode` — ``x̂[n] = Σ_j v[n, j] · W_dec[:, i[n, j]]``; backward
  ``∂v[n, j] = g[n] · W_dec[:, i[n, j]]`` (a sampled dense–dense product) and
  ``∂W_dec = (Zᵀ g)ᵀ`` with ``Z`` the CSR matrix of the codes.
* :func:`gather_linear` — the pre-activations ``a[n, i[n, j]] = x_c[n] · W[i[n, j]] + b[i[n, j]]`` at
  the chosen latents only. Its forward returns values the caller already has (the dense
  pre-activations it ran TopK on, computed without autograd); the backward is
  ``∂x_c = G W``, ``∂W = Gᵀ x_c``, ``∂b = Σ`` per latent, with ``G`` the CSR matrix of the incoming
  gradient. Mathematically identical to differentiating the dense pre-activations, whose gradient is zero
  outside the TopK set.

Both accept any ``idx [n, k]`` of distinct latents per row (TopK guarantees it).
"""

from __future__ import annotations

import warnings

import torch

# torch marks CSR as beta and warns once per process; the ops used here (CSR @ dense, sampled_addmm) are
# checked against the dense maths in tests/test_sae.py.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def codes_csr(vals: torch.Tensor, idx: torch.Tensor, n_cols: int) -> torch.Tensor:
    """``(values [n, k], indices [n, k]) → [n, n_cols]`` CSR matrix (k entries per row)."""
    n, k = idx.shape
    crow = torch.arange(0, n * k + 1, k, dtype=torch.int64, device=idx.device)
    return torch.sparse_csr_tensor(
        crow, idx.reshape(-1).to(torch.int64), vals.reshape(-1), (n, n_cols), check_invariants=False
    )


class _SparseDecode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, vals, idx, w_dec):  # vals [n, k], idx [n, k], w_dec [d, L]
        z = codes_csr(vals, idx, w_dec.shape[1])
        ctx.save_for_backward(vals, idx, w_dec)
        return z @ w_dec.t()  # [n, d]

    @staticmethod
    def backward(ctx, g):  # g [n, d]
        vals, idx, w_dec = ctx.saved_tensors
        g = g.contiguous()
        L = w_dec.shape[1]
        g_vals = g_w = None
        if ctx.needs_input_grad[0]:
            pattern = codes_csr(torch.zeros_like(vals), idx, L)
            g_vals = torch.sparse.sampled_addmm(pattern, g, w_dec, beta=0.0).values().reshape(vals.shape)
        if ctx.needs_input_grad[2]:
            g_w = (codes_csr(vals, idx, L).t() @ g).t()  # [d, L]
        return g_vals, None, g_w


class _GatherLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xc, w, b, idx, values):  # xc [n, d], w [L, d], b [L], idx [n, k], values [n, k]
        ctx.save_for_backward(xc, w, idx)
        ctx.n_latents = w.shape[0]
        return values.clone()

    @staticmethod
    def backward(ctx, g):  # g [n, k]
        xc, w, idx = ctx.saved_tensors
        G = codes_csr(g.contiguous(), idx, ctx.n_latents)  # [n, L]
        g_xc = G @ w if ctx.needs_input_grad[0] else None  # [n, d]
        g_w = G.t() @ xc if ctx.needs_input_grad[1] else None  # [L, d]
        g_b = (
            torch.zeros(ctx.n_latents, dtype=g.dtype, device=g.device).index_add_(0, idx.reshape(-1), g.reshape(-1))
            if ctx.needs_input_grad[2]
            else None
        )
        return g_xc, g_w, g_b, None, None


def sparse_decode(vals: torch.Tensor, idx: torch.Tensor, w_dec: torch.Tensor) -> torch.Tensor:
    """``W_dec z`` for codes ``(vals [n, k], idx [n, k])`` and ``w_dec [d, L]``: ``[n, d]``, differentiable in
    ``vals`` and ``w_dec``."""
    return _SparseDecode.apply(vals, idx, w_dec)


def gather_linear(
    xc: torch.Tensor, w: torch.Tensor, b: torch.Tensor, idx: torch.Tensor, values: torch.Tensor
) -> torch.Tensor:
    """Pre-activations ``xc[n] · w[idx[n, j]] + b[idx[n, j]]`` at ``idx [n, k]`` (``w [L, d]``, ``b [L]``).

    ``values [n, k]`` must be those numbers, already computed (e.g. gathered from the dense
    pre-activations); the forward returns them, the backward sends gradients to ``xc``, ``w`` and ``b``
    through the chosen latents only.
    """
    return _GatherLinear.apply(xc, w, b, idx, values)
