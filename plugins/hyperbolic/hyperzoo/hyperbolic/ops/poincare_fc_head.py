r"""``hyperbolic.poincare_fc_head`` -- the elementwise part of the HNN++ Poincaré fully connected layer, after the
matrix product (shared by ``poincare_fc`` and ``poincare_conv2d``; the hot path the Triton backend fuses).

HNN++ (Shimizu, Mukuta, Harada 2021, eqs. 6-9) for a point x, hyperplane orientations z_k (columns, ‖z_k‖ = ζ_k)
and offsets r_k:

    v_k(x) = (2ζ_k/√c) asinh( √c λ_x ⟨x, z_k⟩/ζ_k · cosh(2√c r_k) − (λ_x − 1) sinh(2√c r_k) )
    w_k    = sinh(√c v_k) / √c,         y = w / (1 + √(1 + c‖w‖²))

The head takes the product ``p = ⟨x, z_k⟩`` (N, m) and the per-row factors ``alpha = √c λ_x`` and
``beta = λ_x − 1`` (N, 1) (the convolution passes its own closed forms), so

    A_k = alpha p_k cosh(2√c r_k)/ζ_k − beta sinh(2√c r_k),     a_k = √c v_k = 2 ζ_k asinh(A_k)

and evaluates y without overflow by a per-row shift M = max_k |a_k| (exact algebra, all exponents ≤ 0):

    w'_k = e^{−M} sinh(a_k),   Q = Σ w'²,   E = e^{−M},   R = √(E² + Q),   y_k = w'_k / (√c (E + R))

(so 1 − c‖y‖² = 2E/(E + R) > 0 for every finite input). Backward (hand-written; saves p, alpha, beta only and
recomputes the rest, instead of autograd's ~12 saved (N, m) intermediates), with G = Σ_k gy_k w'_k,
C_k = e^{−M} cosh(a_k):

    ∂L/∂a_k = (gy_k/(E + R) − w'_k G / ((E + R)² R)) · C_k / √c
    ∂L/∂A_k = ∂L/∂a_k · 2ζ_k / √(1 + A_k²),      ∂L/∂ζ_k (direct) = Σ_rows ∂L/∂a_k · 2 asinh(A_k)
    ∂L/∂p = ∂L/∂A · alpha ch/ζ,   ∂L/∂alpha = Σ_k ∂L/∂A_k p_k ch_k/ζ_k,   ∂L/∂beta = −Σ_k ∂L/∂A_k sh_k
    ∂L/∂ζ_k −= Σ_rows ∂L/∂A_k alpha p_k ch_k/ζ_k²,  ∂L/∂r_k = 2√c Σ_rows ∂L/∂A_k (alpha p_k sh_k/ζ_k − beta ch_k)

A curvature that requires grad is differentiated by autograd through the same forward formulas (the
hand-written backward treats c as a constant). Cost O(N m) time, O(N m) saved memory (p only).
"""

from __future__ import annotations

import torch


def check_inputs(p: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, z_norm: torch.Tensor,
                 r: torch.Tensor | None) -> None:
    if p.dim() != 2:
        raise ValueError(f"poincare_fc_head: p must be (N, m), got {tuple(p.shape)}")
    n, m = p.shape
    for name, t, shape in (("alpha", alpha, (n, 1)), ("beta", beta, (n, 1)), ("z_norm", z_norm, (m,))):
        if tuple(t.shape) != shape:
            raise ValueError(f"poincare_fc_head: {name} must have shape {shape}, got {tuple(t.shape)}")
    if r is not None and tuple(r.shape) != (m,):
        raise ValueError(f"poincare_fc_head: r must have shape ({m},), got {tuple(r.shape)}")


def _curv(c: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    from ..functional import curvature

    return curvature(c, like)


def head_math(p, alpha, beta, z_norm, r, c):
    """The forward formulas (differentiable by autograd); returns y and the intermediates the backward reuses."""
    sc = c.sqrt()
    if r is None:
        ch, sh = torch.ones_like(z_norm), torch.zeros_like(z_norm)
    else:
        ch, sh = torch.cosh(2 * sc * r), torch.sinh(2 * sc * r)
    big_a = alpha * p * (ch / z_norm) - beta * sh
    a = 2 * z_norm * torch.asinh(big_a)
    absa = a.abs()
    big_m = absa.amax(-1, keepdim=True)
    e_pos, e_neg = torch.exp(absa - big_m), torch.exp(-absa - big_m)
    wp = torch.sign(a) * 0.5 * (e_pos - e_neg)
    q = (wp * wp).sum(-1, keepdim=True)
    e = torch.exp(-big_m)
    big_r = torch.sqrt(e * e + q)
    y = wp / (sc * (e + big_r))
    return y, (ch, sh, big_a, a, e_pos, e_neg, wp, e, big_r)


class _Head(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p, alpha, beta, z_norm, r, c):
        y, _ = head_math(p, alpha, beta, z_norm, r, c)
        ctx.save_for_backward(p, alpha, beta, z_norm, r)
        ctx.has_r, ctx.c = r is not None, c
        return y

    @staticmethod
    def backward(ctx, gy):
        p, alpha, beta, z_norm, r = ctx.saved_tensors
        c = ctx.c
        r = r if ctx.has_r else None
        _, (ch, sh, big_a, a, e_pos, e_neg, wp, e, big_r) = head_math(p, alpha, beta, z_norm, r, c)
        sc = c.sqrt()
        s = e + big_r
        g = (gy * wp).sum(-1, keepdim=True)
        ga = (gy / s - wp * (g / (s * s * big_r))) * (0.5 * (e_pos + e_neg)) / sc
        gbig = ga * 2 * z_norm / torch.hypot(big_a, torch.ones_like(big_a))
        chz = ch / z_norm
        gp = gbig * alpha * chz
        galpha = (gbig * p * chz).sum(-1, keepdim=True)
        gbeta = -(gbig * sh).sum(-1, keepdim=True)
        gz = (ga * 2 * torch.asinh(big_a)).sum(0) - (gbig * alpha * p).sum(0) * chz / z_norm
        gr = None
        if ctx.has_r and ctx.needs_input_grad[4]:
            gr = 2 * sc * ((gbig * alpha * p).sum(0) * sh / z_norm - (gbig * beta).sum(0) * ch)
        return gp, galpha, gbeta, gz, gr, None


def poincare_fc_head(p: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, z_norm: torch.Tensor,
                     r: torch.Tensor | None = None, *, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """y (N, m) from p = ⟨x, z_k⟩ (N, m), alpha = √c λ_x, beta = λ_x − 1 (N, 1), ζ = ‖z_k‖ (m,), offsets r (m,)."""
    check_inputs(p, alpha, beta, z_norm, r)
    cc = _curv(c, p)
    if isinstance(cc, torch.Tensor):   # a learnable (or per-element) curvature: autograd through the formulas
        return head_math(p, alpha, beta, z_norm, r, cc)[0]
    return _Head.apply(p, alpha, beta, z_norm, r, cc)
