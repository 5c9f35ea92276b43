"""Quadrature rules for path integrals over α ∈ [0, 1].

Integrated Gradients needs ∫₀¹ ∂F/∂x(x′ + α(x − x′)) dα. A rule is a set of nodes ``alphas`` and weights
``weights`` with Σ w_k g(α_k) ≈ ∫₀¹ g(α) dα. All rules here integrate constants exactly (Σ w = 1); note
that Captum's ``riemann_trapezoid`` does not (its weights add up to (n−1)/n).

- ``gauss-legendre``: nodes ½(1 + ξ_k), weights ½ω_k from ``numpy.polynomial.legendre.leggauss``; exact for
  polynomials of degree 2n − 1, the default.
- ``riemann-left`` / ``riemann-right`` / ``riemann-middle``: n equal cells, the gradient taken at the left
  end, right end or midpoint of each cell.
- ``riemann-trapezoid``: n points ``linspace(0, 1, n)``, end weights halved, weights adding up to 1.
- ``gauss-lobatto``: Gauss–Lobatto nodes (both ends included) and weights, exact for polynomials of degree
  2n − 3 (n ≥ 2; n = 2 is the trapezoid rule, n = 3 Simpson's). The ends being nodes makes composite rules
  share points between neighbouring panels, and a gradient pass at α also gives the score s(α) — the
  adaptive IG of :class:`irlens.ig.bi_encoder.BiEncoderIG` is built on it.
- ``gauss-legendre-centred``: Gauss–Legendre in t after the substitution α = φ(t) = t + c·sin(2πt)/(2π)
  (c = 0.5), weights multiplied by φ′(t) = 1 + c·cos(2πt). φ is analytic and monotone, so the rule keeps
  Gauss–Legendre's convergence, but its nodes are 3× denser in the middle of the path than at the ends.
  For IG from a [PAD] baseline at the embedding output of LayerNorm encoders the score changes mostly
  around α ≈ 0.3–0.7 (measured on MiniLM, see docs/stages/ig.md), where plain Gauss–Legendre is sparsest.

Neuron IG (conductance) is a Stieltjes integral ∫ g dy along the path, discretised on the uniform grid
α_k = k/N (k = 0…N, both ends included) by the rules of :data:`STIELTJES_RULES`:

- ``left``   Σ_k g_k · (y_{k+1} − y_k)                  first order (Captum's LayerConductance with
                                                         ``riemann_trapezoid`` computes exactly this);
- ``right``  Σ_k g_{k+1} · (y_{k+1} − y_k)              first order;
- ``trapezoid`` Σ_k ½(g_k + g_{k+1}) · (y_{k+1} − y_k)  second order, same points, no extra cost;
- ``richardson`` (4·T_N − T_{N/2}) / 3 where T is the trapezoid sum on the grid and on every second
  point of it: fourth order, still on the same N + 1 points (N even).

:func:`stieltjes_window_matrix` turns a rule into a matrix over a window of consecutive grid points, so
that a streamed computation adds every segment exactly once.
"""

from __future__ import annotations

import numpy as np

from irlens.errors import IrlensError

#: Rules for ∫ g(α) dα (Integrated Gradients).
METHODS = (
    "gauss-legendre",
    "gauss-legendre-centred",
    "gauss-lobatto",
    "riemann-left",
    "riemann-right",
    "riemann-middle",
    "riemann-trapezoid",
)
CENTRE = 0.5
#: Rules for the Stieltjes sum Σ g dy on the uniform grid (Neuron IG / conductance).
STIELTJES_RULES = ("left", "right", "trapezoid", "richardson")


def centre_warp(t, c: float = CENTRE):
    """φ(t) = t + c·sin(2πt)/(2π): maps [0, 1] onto itself, denser in the middle (monotone for c < 1)."""
    t = np.asarray(t, dtype=np.float64)
    return t + c * np.sin(2 * np.pi * t) / (2 * np.pi)


def gauss_lobatto(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Lobatto nodes and weights on [0, 1] (``n`` ≥ 2 points, ends included; exact to degree 2n − 3).

    Interior nodes are the roots of P′_{n−1} on [−1, 1]; every weight is 2 / (n(n − 1) P_{n−1}(x)²), halved by
    the map to [0, 1]. Nodes are symmetric about ½ (the middle one is exactly ½ for odd n)."""
    n = int(n)
    if n < 2:
        raise IrlensError(f"quadrature 'gauss-lobatto': needs at least 2 steps, got {n}")
    P = np.polynomial.legendre.Legendre.basis(n - 1)
    inner = np.sort(P.deriv().roots().real) if n > 2 else np.empty(0)
    x = np.concatenate([[-1.0], inner, [1.0]])
    x = 0.5 * (x - x[::-1])  # exact symmetry (and an exact 0 in the middle for odd n)
    w = 2.0 / (n * (n - 1) * P(x) ** 2)
    return 0.5 * (x + 1.0), 0.5 * w


def quadrature(method: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (``float64 [n]`` each) of rule ``method`` with ``n`` points on [0, 1]."""
    n = int(n)
    least = 2 if method in ("riemann-trapezoid", "gauss-lobatto") else 1
    if n < least:
        raise IrlensError(f"quadrature '{method}': needs at least {least} steps, got {n}")
    if method == "gauss-legendre":
        x, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (x + 1.0), 0.5 * w
    if method == "gauss-legendre-centred":
        x, w = np.polynomial.legendre.leggauss(n)
        t = 0.5 * (x + 1.0)
        return centre_warp(t), 0.5 * w * (1.0 + CENTRE * np.cos(2 * np.pi * t))
    if method == "gauss-lobatto":
        return gauss_lobatto(n)
    if method == "riemann-left":
        return np.arange(n) / n, np.full(n, 1.0 / n)
    if method == "riemann-right":
        return (np.arange(n) + 1.0) / n, np.full(n, 1.0 / n)
    if method == "riemann-middle":
        return (np.arange(n) + 0.5) / n, np.full(n, 1.0 / n)
    if method == "riemann-trapezoid":
        w = np.full(n, 1.0 / (n - 1))
        w[[0, -1]] *= 0.5
        return np.linspace(0.0, 1.0, n), w
    raise IrlensError(f"unknown quadrature '{method}'; choose one of {', '.join(METHODS)}")


def stieltjes_segments(rule: str, steps: int, lo: int, hi: int) -> list[tuple[int, int, float, str]]:
    """Segments ``(a, b, weight, kind)`` of ``rule`` on the grid 0…``steps`` whose right end b lies in
    [lo, hi]; ``richardson`` is 4/3 of the fine trapezoid minus 1/3 of the trapezoid on every second point."""
    if rule not in STIELTJES_RULES:
        raise IrlensError(f"Stieltjes rule '{rule}': choose one of {', '.join(STIELTJES_RULES)}")
    fine = "trapezoid" if rule == "richardson" else rule
    w_fine = 4.0 / 3.0 if rule == "richardson" else 1.0
    out = [(b - 1, b, w_fine, fine) for b in range(max(lo, 1), hi + 1)]
    if rule == "richardson":  # the trapezoid sum on every second point, weight −1/3
        out += [(b - 2, b, -1.0 / 3.0, "trapezoid") for b in range(max(lo, 2), hi + 1) if b % 2 == 0 and b <= steps]
    return out


def stieltjes_window_matrix(rule: str, steps: int, window: list[int], start: int) -> np.ndarray:
    """A [P, P] matrix over the window's grid points such that Σ_k g_k·(A y)_k is ``rule``'s sum over the
    segments ending in this window (points ≥ ``start``); each segment is counted in exactly one window.

    Segment (a, b) with weight w adds w·½(g_a + g_b)(y_b − y_a) (trapezoid), w·g_a(y_b − y_a) (left)
    or w·g_b(y_b − y_a) (right)."""
    pos = {k: i for i, k in enumerate(window)}
    A = np.zeros((len(window), len(window)))
    for a, b, w, kind in stieltjes_segments(rule, steps, start, window[-1]):
        ia, ib = pos[a], pos[b]
        wa = {"left": w, "right": 0.0, "trapezoid": 0.5 * w}[kind]
        wb = w - wa
        A[ia, ib] += wa
        A[ia, ia] -= wa
        A[ib, ib] += wb
        A[ib, ia] -= wb
    return A
