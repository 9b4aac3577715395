"""``core.rms_norm`` -- fused Triton backend (one program per row, forward and backward kernels).

Same signature and semantics as :func:`hyperzoo.core.ops.rms_norm.rms_norm`. Backward, with r = (mean x² + eps)^-½
and g = dy·w:

    dx = r·g − x·r³·mean_j(g_j x_j) = r·(g − x̂·mean_j(g_j x̂_j)),  x̂ = x·r,     dw = Σ_rows dy·x̂

r is computed from x/c, c = max(max_j |x_j|, 1), like the reference, so large inputs neither overflow nor underflow.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..dispatch import triton_supports
from .rms_norm import check_inputs

MAX_D = 65536


@triton.jit
def _fwd_kernel(X, W, Y, RSTD, D, eps, HAS_W: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < D
    x = tl.load(X + row * D + cols, mask=mask, other=0.0).to(tl.float32)
    c = tl.maximum(tl.max(tl.abs(x), axis=0), 1.0)  # scale so that x² cannot overflow (see the reference)
    xs = x / c
    rstd = (1.0 / c) / tl.sqrt(tl.sum(xs * xs, axis=0) / D + eps / (c * c))
    y = x * rstd
    if HAS_W:
        y = y * tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(Y + row * D + cols, y.to(Y.dtype.element_ty), mask=mask)
    tl.store(RSTD + row, rstd)


@triton.jit
def _bwd_kernel(X, W, DY, DX, DW_ROWS, RSTD, D, HAS_W: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < D
    x = tl.load(X + row * D + cols, mask=mask, other=0.0).to(tl.float32)
    dy = tl.load(DY + row * D + cols, mask=mask, other=0.0).to(tl.float32)
    r = tl.load(RSTD + row)
    g = dy
    if HAS_W:
        g = dy * tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(DW_ROWS + row * D + cols, dy * x * r, mask=mask)
    xhat = x * r
    c = tl.sum(g * xhat, axis=0) / D
    dx = r * (g - xhat * c)  # = r·g − x·r³·mean(g·x), without r³ (it underflows for large x)
    tl.store(DX + row * D + cols, dx.to(DX.dtype.element_ty), mask=mask)


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps):
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).contiguous()
        rows, d = x2.shape
        w = weight.contiguous() if weight is not None else x2  # dummy pointer when there is no weight
        y = torch.empty_like(x2)
        rstd = torch.empty(rows, device=x.device, dtype=torch.float32)
        block = triton.next_power_of_2(d)
        _fwd_kernel[(rows,)](x2, w, y, rstd, d, eps, HAS_W=weight is not None, BLOCK=block)
        ctx.save_for_backward(x2, weight, rstd)
        ctx.shape = shape
        return y.reshape(shape)

    @staticmethod
    def backward(ctx, dy):
        x2, weight, rstd = ctx.saved_tensors
        rows, d = x2.shape
        dy2 = dy.reshape(rows, d).contiguous()
        dx = torch.empty_like(x2)
        has_w = weight is not None
        dw_rows = torch.empty((rows, d), device=x2.device, dtype=torch.float32) if has_w else dx
        _bwd_kernel[(rows,)](x2, weight if has_w else x2, dy2, dx, dw_rows, rstd, d, HAS_W=has_w,
                             BLOCK=triton.next_power_of_2(d))
        dw = dw_rows.sum(0).to(weight.dtype) if has_w and ctx.needs_input_grad[1] else None
        return dx.reshape(ctx.shape), dw, None


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """y = x / sqrt(mean(x², dim=-1) + eps) · weight, fused in one Triton pass per row."""
    check_inputs(x, weight, eps)
    return _RMSNorm.apply(x, weight, float(eps))


def supports(x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6) -> tuple[bool, str]:
    ok, why = triton_supports(x, weight)
    if not ok:
        return ok, why
    if x.shape[-1] > MAX_D:
        return False, f"last dimension {x.shape[-1]} > {MAX_D} (one row must fit one program)"
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        return False, f"dtype {x.dtype} (float32, float16 or bfloat16 only)"
    return True, "ok"
