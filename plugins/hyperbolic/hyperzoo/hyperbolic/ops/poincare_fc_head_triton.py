"""``hyperbolic.poincare_fc_head`` -- fused Triton backend (one program per row: forward, and a backward that
recomputes the forward from p, alpha, beta as the reference's hand-written backward does).

Same signature, equations and clamps as :mod:`.poincare_fc_head` (see its docstring); float32 arithmetic.
Per-row partial sums for ∂ζ and ∂r are written to an (N, m) buffer and reduced with ``sum(0)`` (deterministic).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hyperzoo.core.dispatch import triton_supports

from ..functional import _sqrt
from .poincare_fc_head import _curv, check_inputs, head_math

MAX_M = 8192


@triton.jit
def _asinh(x):
    ax = tl.abs(x)
    # asinh(|x|) = log(|x| + sqrt(x² + 1)), with a series-accurate form near 0: log1p(|x| + x²/(1 + sqrt(1 + x²)))
    s = tl.sqrt(ax * ax + 1.0)
    small = ax + ax * ax / (1.0 + s)
    big = tl.log(ax + s)
    # log1p(y) for small y: y - y²/2 + y³/3 (|y| < 1e-3), else log(1 + y)
    lp = tl.where(small < 1e-3, small - small * small * 0.5 + small * small * small / 3.0, tl.log(1.0 + small))
    v = tl.where(ax < 0.5, lp, big)
    return tl.where(x < 0, -v, v)


@triton.jit
def _row_forward(p, alpha, beta, zn, ch, sh, mask, sc):
    big_a = alpha * p * (ch / zn) - beta * sh
    a = 2.0 * zn * _asinh(big_a)
    absa = tl.where(mask, tl.abs(a), 0.0)
    big_m = tl.max(absa, axis=0)
    e_pos = tl.exp(absa - big_m)
    e_neg = tl.exp(-absa - big_m)
    sgn = tl.where(a < 0, -1.0, 1.0)
    wp = tl.where(mask, sgn * 0.5 * (e_pos - e_neg), 0.0)
    q = tl.sum(wp * wp, axis=0)
    e = tl.exp(-big_m)
    big_r = tl.sqrt(e * e + q)
    return big_a, e_pos, e_neg, wp, e, big_r


@triton.jit
def _fwd_kernel(P, ALPHA, BETA, ZN, CH, SH, Y, M, sc, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < M
    p = tl.load(P + row * M + cols, mask=mask, other=0.0).to(tl.float32)
    zn = tl.load(ZN + cols, mask=mask, other=1.0).to(tl.float32)
    ch = tl.load(CH + cols, mask=mask, other=1.0).to(tl.float32)
    sh = tl.load(SH + cols, mask=mask, other=0.0).to(tl.float32)
    alpha = tl.load(ALPHA + row).to(tl.float32)
    beta = tl.load(BETA + row).to(tl.float32)
    big_a, e_pos, e_neg, wp, e, big_r = _row_forward(p, alpha, beta, zn, ch, sh, mask, sc)
    y = wp / (sc * (e + big_r))
    tl.store(Y + row * M + cols, y.to(Y.dtype.element_ty), mask=mask)


@triton.jit
def _bwd_kernel(P, ALPHA, BETA, ZN, CH, SH, GY, GP, GALPHA, GBETA, GZ_ROWS, GR_ROWS, M, sc,
                BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < M
    p = tl.load(P + row * M + cols, mask=mask, other=0.0).to(tl.float32)
    gy = tl.load(GY + row * M + cols, mask=mask, other=0.0).to(tl.float32)
    zn = tl.load(ZN + cols, mask=mask, other=1.0).to(tl.float32)
    ch = tl.load(CH + cols, mask=mask, other=1.0).to(tl.float32)
    sh = tl.load(SH + cols, mask=mask, other=0.0).to(tl.float32)
    alpha = tl.load(ALPHA + row).to(tl.float32)
    beta = tl.load(BETA + row).to(tl.float32)
    big_a, e_pos, e_neg, wp, e, big_r = _row_forward(p, alpha, beta, zn, ch, sh, mask, sc)
    s = e + big_r
    g = tl.sum(gy * wp, axis=0)
    ga = (gy / s - wp * (g / (s * s * big_r))) * (0.5 * (e_pos + e_neg)) / sc
    ga = tl.where(mask, ga, 0.0)
    gbig = ga * 2.0 * zn / tl.sqrt(big_a * big_a + 1.0)
    chz = ch / zn
    gp = gbig * alpha * chz
    tl.store(GP + row * M + cols, gp.to(GP.dtype.element_ty), mask=mask)
    tl.store(GALPHA + row, tl.sum(gbig * p * chz, axis=0))
    tl.store(GBETA + row, -tl.sum(gbig * sh, axis=0))
    gz = ga * 2.0 * _asinh(big_a) - gbig * alpha * p * chz / zn
    tl.store(GZ_ROWS + row * M + cols, gz, mask=mask)
    gr = 2.0 * sc * (gbig * alpha * p * sh / zn - gbig * beta * ch)
    tl.store(GR_ROWS + row * M + cols, gr, mask=mask)


def _tables(z_norm, r, sc):
    if r is None:
        return torch.ones_like(z_norm), torch.zeros_like(z_norm)
    return torch.cosh(2 * sc * r), torch.sinh(2 * sc * r)


class _HeadTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p, alpha, beta, z_norm, r, c):
        n, m = p.shape
        sc = float(_sqrt(c))
        p_, a_, b_ = p.contiguous(), alpha.contiguous(), beta.contiguous()
        zn = z_norm.contiguous()
        ch, sh = _tables(zn, r, sc)
        y = torch.empty_like(p_)
        if n:
            _fwd_kernel[(n,)](p_, a_, b_, zn, ch.contiguous(), sh.contiguous(), y, m, sc,
                              BLOCK=triton.next_power_of_2(m))
        ctx.save_for_backward(p_, a_, b_, zn, r)
        ctx.has_r, ctx.sc = r is not None, sc
        return y

    @staticmethod
    def backward(ctx, gy):
        p, alpha, beta, zn, r = ctx.saved_tensors
        r = r if ctx.has_r else None
        n, m = p.shape
        sc = ctx.sc
        ch, sh = _tables(zn, r, sc)
        gp = torch.empty_like(p)
        galpha = torch.empty((n, 1), device=p.device, dtype=torch.float32)
        gbeta = torch.empty((n, 1), device=p.device, dtype=torch.float32)
        gz_rows = torch.empty((n, m), device=p.device, dtype=torch.float32)
        gr_rows = torch.empty((n, m), device=p.device, dtype=torch.float32)
        if n:
            _bwd_kernel[(n,)](p, alpha, beta, zn, ch.contiguous(), sh.contiguous(), gy.contiguous(), gp, galpha,
                              gbeta, gz_rows, gr_rows, m, sc, BLOCK=triton.next_power_of_2(m))
        gz = gz_rows.sum(0).to(zn.dtype)
        gr = gr_rows.sum(0).to(r.dtype) if ctx.has_r else None
        return gp, galpha.to(alpha.dtype), gbeta.to(beta.dtype), gz, gr, None


def poincare_fc_head(p: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, z_norm: torch.Tensor,
                     r: torch.Tensor | None = None, *, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Fused HNN++ head (see :func:`hyperzoo.hyperbolic.ops.poincare_fc_head.poincare_fc_head`)."""
    check_inputs(p, alpha, beta, z_norm, r)
    cc = _curv(c, p)
    return _HeadTriton.apply(p, alpha, beta, z_norm, r, cc)


def supports(p, alpha, beta, z_norm, r=None, *, c=1.0) -> tuple[bool, str]:
    ok, why = triton_supports(p, alpha, beta, z_norm, r)
    if not ok:
        return ok, why
    if p.dtype != torch.float32:
        return False, f"dtype {p.dtype} (float32 only)"
    if p.dim() != 2 or p.shape[1] > MAX_M:
        return False, f"p must be (N, m) with m <= {MAX_M}"
    if isinstance(c, torch.Tensor) and (c.requires_grad or c.numel() != 1):
        return False, "a curvature that requires grad (or is not a scalar) runs the reference (autograd through c)"
    return True, "ok"


__all__ = ["poincare_fc_head", "supports", "head_math"]
