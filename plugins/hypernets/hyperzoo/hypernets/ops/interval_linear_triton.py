"""``hypernets.interval_linear`` -- Triton backend: both outputs of the midpoint-radius product in one tiled pass.

Same signature and semantics as :func:`hyperzoo.hypernets.ops.interval_linear.interval_linear`. One program per
``(BLOCK_M × BLOCK_N)`` output tile loads each ``x_mid``/``x_rad``/``W_mid``/``W_rad`` tile once and accumulates

    y_mid += x_mid W_midᵀ,      y_rad += x_rad (|W_mid| + W_rad)ᵀ + |x_mid| W_radᵀ

(the reference reads the weights three times). The backward is the closed form, in cuBLAS products
(``sign(0) = 0``, as autograd's ``abs``):

    dx_mid = g_mid W_mid + sign(x_mid) ⊙ (g_rad W_rad)        dx_rad = g_rad (|W_mid| + W_rad)
    dW_mid = g_midᵀ x_mid + sign(W_mid) ⊙ (g_radᵀ x_rad)      dW_rad = g_radᵀ (|x_mid| + x_rad)
    db_mid = Σ_rows g_mid                                       db_rad = Σ_rows g_rad
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hyperzoo.core.dispatch import triton_supports

from .interval_linear import check_inputs

__all__ = ["interval_linear", "supports"]


@triton.jit
def _fwd_kernel(XM, XR, WM, WR, BM, BR, YM, YR, N, K, M,
                HAS_B: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    pid_n = tl.program_id(0)
    pid_m = tl.program_id(1)
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    outs = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    acc_m = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    acc_r = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        xmask = (rows[:, None] < N) & (ks[None, :] < K)
        wmask = (ks[:, None] < K) & (outs[None, :] < M)
        xm = tl.load(XM + rows[:, None] * K + ks[None, :], mask=xmask, other=0.0).to(tl.float32)
        xr = tl.load(XR + rows[:, None] * K + ks[None, :], mask=xmask, other=0.0).to(tl.float32)
        wm = tl.load(WM + outs[None, :] * K + ks[:, None], mask=wmask, other=0.0).to(tl.float32)   # (K, M) = Wᵀ
        wr = tl.load(WR + outs[None, :] * K + ks[:, None], mask=wmask, other=0.0).to(tl.float32)
        acc_m += tl.dot(xm, wm, input_precision="ieee")
        acc_r += tl.dot(xr, tl.abs(wm) + wr, input_precision="ieee")
        acc_r += tl.dot(tl.abs(xm), wr, input_precision="ieee")
    if HAS_B:
        acc_m += tl.load(BM + outs, mask=outs < M, other=0.0).to(tl.float32)[None, :]
        acc_r += tl.load(BR + outs, mask=outs < M, other=0.0).to(tl.float32)[None, :]
    omask = (rows[:, None] < N) & (outs[None, :] < M)
    tl.store(YM + rows[:, None] * M + outs[None, :], acc_m.to(YM.dtype.element_ty), mask=omask)
    tl.store(YR + rows[:, None] * M + outs[None, :], acc_r.to(YR.dtype.element_ty), mask=omask)


def _block(n: int, cap: int) -> int:
    return max(16, min(cap, triton.next_power_of_2(max(n, 1))))


class _IntervalLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_mid, x_rad, w_mid, w_rad, b_mid, b_rad):
        xm, xr, wm, wr = (t.contiguous() for t in (x_mid, x_rad, w_mid, w_rad))
        n, k = xm.shape
        m = wm.shape[0]
        ym = torch.empty((n, m), device=xm.device, dtype=xm.dtype)
        yr = torch.empty_like(ym)
        has_b = b_mid is not None
        bm = b_mid.contiguous() if has_b else ym
        br = b_rad.contiguous() if has_b else ym
        bn, bmm, bk = _block(n, 64), _block(m, 64), _block(k, 32)
        grid = (triton.cdiv(n, bn), triton.cdiv(m, bmm))
        _fwd_kernel[grid](xm, xr, wm, wr, bm, br, ym, yr, n, k, m, HAS_B=has_b, BLOCK_N=bn, BLOCK_M=bmm,
                          BLOCK_K=bk)
        ctx.save_for_backward(xm, xr, wm, wr)
        ctx.has_b = has_b
        return ym, yr

    @staticmethod
    def backward(ctx, g_mid, g_rad):
        xm, xr, wm, wr = ctx.saved_tensors
        g_mid = torch.zeros((xm.shape[0], wm.shape[0]), device=xm.device, dtype=xm.dtype) if g_mid is None else g_mid
        g_rad = torch.zeros_like(g_mid) if g_rad is None else g_rad
        need = ctx.needs_input_grad
        dxm = g_mid @ wm + xm.sign() * (g_rad @ wr) if need[0] else None
        dxr = g_rad @ (wm.abs() + wr) if need[1] else None
        dwm = g_mid.T @ xm + wm.sign() * (g_rad.T @ xr) if need[2] else None
        dwr = g_rad.T @ (xm.abs() + xr) if need[3] else None
        dbm = g_mid.sum(0) if ctx.has_b and need[4] else None
        dbr = g_rad.sum(0) if ctx.has_b and need[5] else None
        return dxm, dxr, dwm, dwr, dbm, dbr


def interval_linear(x_mid, x_rad, w_mid, w_rad, b_mid=None, b_rad=None):
    """``(y_mid, y_rad)``: the midpoint-radius interval product, one fused Triton pass (forward)."""
    check_inputs(x_mid, x_rad, w_mid, w_rad, b_mid, b_rad)
    return _IntervalLinear.apply(x_mid, x_rad, w_mid, w_rad, b_mid, b_rad)


def supports(x_mid, x_rad, w_mid, w_rad, b_mid=None, b_rad=None) -> tuple[bool, str]:
    ok, why = triton_supports(*(t for t in (x_mid, x_rad, w_mid, w_rad, b_mid, b_rad) if t is not None))
    if not ok:
        return ok, why
    if x_mid.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        return False, f"dtype {x_mid.dtype} (float32, float16 or bfloat16 only)"
    if x_mid.dim() != 2 or w_mid.dim() != 2:
        return False, "2-D inputs and weights only"
    return True, "ok"
