"""``kde.kernel_sum`` -- fused Triton backend (FlashAttention-style tiling).

Same signature and result as :func:`hyperzoo.kde.ops.kernel_sum.kernel_sum`. One program owns BLOCK_M queries
and streams the data in BLOCK_N tiles: squared distances from one ``tl.dot`` (‖y‖² + ‖x‖² − 2 y·x, inputs
centred on the data mean in their own units and then scaled by 1/h, IEEE fp32 products), the profile, and an
online log-sum-exp

    M' = max(M, max_i ℓ_i),   A' = A·e^{M − M'} + Σ_i e^{ℓ_i − M'},   s = M + log A,

so distances, exponentials and the reduction never leave registers.

Spread-out data: the norm expansion rounds r² by about u·(R_y² + R_x²) (R: radii in bandwidths about the centre,
u = 6e-8), as in the blocked backend. The wrapper computes that estimate on the device (no host synchronisation)
and the kernel reads it as a flag: above ``SPREAD_TOL`` (3e-5) every tile takes direct differences
Σ_k ((y_k − x_k)/h)² of the raw float32 coordinates instead (a loop over the d features, twice the arithmetic of
the dot), whose rounding is relative to r and independent of the spread. Kernels other than the Gaussian always
take direct differences, as in the blocked backend (√r² profiles turn the expansion's rounding into up to √u·R
at coincident points; compact ones amplify it at their edge). (The query gradient below is formed
about the global centre, so on such data its relative error grows like u·R.) Gradient with respect to the queries
(Gaussian kernel): ∂s_q/∂y_q = (Σ_i p_qi x_i − y_q) / h² with p_qi = w_i K_qi e^{−s_q}, computed by a second
fused pass that accumulates P·X tile by tile (as attention accumulates P·V).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from hyperzoo.core.dispatch import triton_supports

from ..kernels import KERNELS
from .kernel_sum import check_inputs

MAX_D = 256
SPREAD_TOL = 3e-5          # as kernel_sum_blocked.SPREAD_TOL[torch.float32]
_KERNEL_ID = {name: i for i, name in enumerate(KERNELS)}


@triton.jit
def _log_k(r2, KERNEL: tl.constexpr):
    # ids follow hyperzoo.kde.kernels.KERNELS: gaussian, tophat, epanechnikov, exponential, linear, cosine
    neg_inf = float("-inf")
    if KERNEL == 0:
        out = -0.5 * r2
    elif KERNEL == 1:
        out = tl.where(r2 < 1.0, 0.0, neg_inf)
    elif KERNEL == 2:
        out = tl.where(r2 < 1.0, tl.log(tl.maximum(1.0 - r2, 1e-38)), neg_inf)
    elif KERNEL == 3:
        out = -tl.sqrt(r2)
    elif KERNEL == 4:
        out = tl.where(r2 < 1.0, tl.log(tl.maximum(1.0 - tl.sqrt(r2), 1e-38)), neg_inf)
    else:
        out = tl.where(r2 < 1.0, tl.log(tl.maximum(tl.cos(1.5707963267948966 * tl.sqrt(r2)), 1e-38)), neg_inf)
    return out


@triton.jit
def _tile(Y, X, YR, XR, LOGW, m, n, d, inv_h, wide, pid, start, yy, y, KERNEL: tl.constexpr, HAS_W: tl.constexpr,
          BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    rmask = rows < m
    cols = start + tl.arange(0, BLOCK_N)
    dims = tl.arange(0, BLOCK_D)
    cmask = cols < n
    x = tl.load(X + cols[:, None] * d + dims[None, :], mask=cmask[:, None] & (dims[None, :] < d), other=0.0)
    if wide != 0:
        # direct differences of the raw coordinates: rounding relative to r, whatever the spread
        r2 = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
        for k in range(0, d):
            yk = tl.load(YR + rows * d + k, mask=rmask, other=0.0)
            xk = tl.load(XR + cols * d + k, mask=cmask, other=0.0)
            diff = (yk[:, None] - xk[None, :]) * inv_h
            r2 += diff * diff
    else:
        xx = tl.sum(x * x, axis=1)
        dot = tl.dot(y, tl.trans(x), input_precision="ieee")
        r2 = tl.maximum(yy[:, None] + xx[None, :] - 2.0 * dot, 0.0)
    logk = _log_k(r2, KERNEL)
    if HAS_W:
        logk = logk + tl.load(LOGW + cols, mask=cmask, other=0.0)[None, :]
    logk = tl.where(cmask[None, :], logk, float("-inf"))
    return logk, x


@triton.jit
def _fwd_kernel(Y, X, YR, XR, LOGW, WIDE, OUT, m, n, d, inv_h, KERNEL: tl.constexpr, HAS_W: tl.constexpr,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, BLOCK_D)
    rmask = rows < m
    wide = tl.load(WIDE)
    y = tl.load(Y + rows[:, None] * d + dims[None, :], mask=rmask[:, None] & (dims[None, :] < d), other=0.0)
    yy = tl.sum(y * y, axis=1)
    best = tl.full([BLOCK_M], float("-inf"), tl.float32)
    acc = tl.zeros([BLOCK_M], tl.float32)
    for start in range(0, n, BLOCK_N):
        logk, x = _tile(Y, X, YR, XR, LOGW, m, n, d, inv_h, wide, pid, start, yy, y, KERNEL, HAS_W, BLOCK_M,
                        BLOCK_N, BLOCK_D)
        new = tl.maximum(best, tl.max(logk, axis=1))
        safe = tl.where(new == float("-inf"), 0.0, new)
        acc = acc * tl.exp(best - safe) + tl.sum(tl.exp(logk - safe[:, None]), axis=1)
        best = new
    out = tl.where(acc > 0, best + tl.log(acc), float("-inf"))
    tl.store(OUT + rows, out, mask=rmask)


@triton.jit
def _bwd_kernel(Y, X, YR, XR, LOGW, WIDE, S, PX, m, n, d, inv_h, KERNEL: tl.constexpr, HAS_W: tl.constexpr,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, BLOCK_D)
    rmask = rows < m
    wide = tl.load(WIDE)
    y = tl.load(Y + rows[:, None] * d + dims[None, :], mask=rmask[:, None] & (dims[None, :] < d), other=0.0)
    yy = tl.sum(y * y, axis=1)
    s = tl.load(S + rows, mask=rmask, other=0.0)
    px = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    for start in range(0, n, BLOCK_N):
        logk, x = _tile(Y, X, YR, XR, LOGW, m, n, d, inv_h, wide, pid, start, yy, y, KERNEL, HAS_W, BLOCK_M,
                        BLOCK_N, BLOCK_D)
        p = tl.exp(logk - s[:, None])
        px += tl.dot(p, x, input_precision="ieee")
    tl.store(PX + rows[:, None] * d + dims[None, :], px, mask=rmask[:, None] & (dims[None, :] < d))


def _launch(kernel_fn, ctx_tensors, kernel, *extra):
    y, x, yr, xr, logw, wide, inv_h = ctx_tensors
    m, d = y.shape
    block_d = max(16, triton.next_power_of_2(d))
    block_m, block_n = (32, 64) if block_d <= 64 else (16, 32)
    grid = (triton.cdiv(m, block_m),)
    kernel_fn[grid](y, x, yr, xr, logw if logw is not None else y, wide, *extra, m, x.shape[0], d, inv_h,
                    KERNEL=_KERNEL_ID[kernel], HAS_W=logw is not None, BLOCK_M=block_m, BLOCK_N=block_n,
                    BLOCK_D=block_d)


class _KernelSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, queries, data, h, kernel, weights):
        xr = data.float().contiguous()
        yr = queries.detach().float().contiguous()
        centre = xr.mean(0)
        x = ((xr - centre) / h).contiguous()          # centre in the data's units first, then scale
        y = ((yr - centre) / h).contiguous()
        # the norm expansion's rounding estimate u·(R_y² + R_x²), as a device flag (read by the kernel, no sync)
        unit = torch.finfo(torch.float32).eps / 2
        spread = unit * ((y * y).sum(1).max() + (x * x).sum(1).max())
        wide = (spread > SPREAD_TOL).to(torch.int32).reshape(1)
        if kernel != "gaussian":      # √r² and compact profiles amplify the expansion's rounding: always direct
            wide = torch.ones(1, dtype=torch.int32, device=y.device)
        logw = None if weights is None else torch.log(weights.float()).contiguous()
        out = torch.empty(y.shape[0], device=y.device, dtype=torch.float32)
        tensors = (y, x, yr, xr, logw, wide, 1.0 / h)
        _launch(_fwd_kernel, tensors, kernel, out)
        ctx.save_for_backward(y, x, yr, xr, wide, out)
        ctx.logw, ctx.h, ctx.kernel, ctx.dtype = logw, h, kernel, queries.dtype
        return out.to(queries.dtype)

    @staticmethod
    def backward(ctx, grad):
        y, x, yr, xr, wide, s = ctx.saved_tensors
        px = torch.empty_like(y)
        _launch(_bwd_kernel, (y, x, yr, xr, ctx.logw, wide, 1.0 / ctx.h), ctx.kernel, s, px)
        gy = grad.float()[:, None] * (px - y) / ctx.h
        return gy.to(ctx.dtype), None, None, None, None


def kernel_sum(queries: torch.Tensor, data: torch.Tensor, bandwidth: float | torch.Tensor, *,
               kernel: str = "gaussian", weights: torch.Tensor | None = None) -> torch.Tensor:
    """s_q = log Σ_i w_i K(‖y_q − x_i‖ / h), fused in one Triton pass over the data per query tile."""
    check_inputs(queries, data, bandwidth, kernel, weights)
    if queries.shape[0] == 0:
        return torch.empty(0, dtype=queries.dtype, device=queries.device)
    return _KernelSum.apply(queries, data, float(bandwidth), kernel, weights)


def supports(queries, data, bandwidth, *, kernel: str = "gaussian", weights=None) -> tuple[bool, str]:
    ok, why = triton_supports(queries, data, *(t for t in (bandwidth, weights) if isinstance(t, torch.Tensor)))
    if not ok:
        return ok, why
    if queries.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        return False, f"dtype {queries.dtype} (float32, float16 or bfloat16; fp32 accumulation)"
    if queries.dim() != 2 or queries.shape[-1] > MAX_D:
        return False, f"feature dimension {queries.shape[-1]} > {MAX_D} (one query tile must fit a program)"
    grads = [t.requires_grad for t in (data, bandwidth, weights) if isinstance(t, torch.Tensor)]
    if torch.is_grad_enabled() and any(grads):
        return False, "gradients with respect to data, bandwidth or weights (only queries; use the reference)"
    if torch.is_grad_enabled() and queries.requires_grad and kernel != "gaussian":
        return False, f"query gradients of the {kernel} kernel (Gaussian only; use the reference)"
    return True, "ok"


del math
