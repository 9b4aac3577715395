"""``hyperkernels.dwconv`` -- the Triton backend (same signature as the reference; ``hyperzzw_triton.py`` builds on it).

One program per (sample·channel, tile of BLOCK outputs) sums the taps directly, so per-sample kernels cost the same
as shared ones (no batch-folded grouped convolution). Sequences run as images of height 1. With p = d(K−1)//2:

    forward  y[h, w]  = b + Σ_{i,j} k[i, j] · x[h + d·i − p_h, w + d·j − p_w]
    input    dx[h, w] = Σ_{i,j} k[i, j] · dy[h − d·i + p_h, w − d·j + p_w]      (the same kernel, taps reflected)
    weight   dk[i, j] = Σ_{h,w} dy[h, w] · x[h + d·i − p_h, w + d·j − p_w]      (one program per tap, summed over N
                                                                                 afterwards when k is shared)
Accumulation is in float32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hyperzoo.core.dispatch import triton_supports

from .dwconv import _check

MAX_TAPS = 64 * 64
DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@triton.jit
def _taps_kernel(X, K, B, Y, C, H, W, KH, KW, DIL, PH, PW, SIGN, K_BATCH_STRIDE,
                 HAS_BIAS: tl.constexpr, BLOCK: tl.constexpr):
    nc = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    hw = H * W
    inside = offs < hw
    h = offs // W
    w = offs % W
    n = nc // C
    c = nc % C
    x_base = X + nc * hw
    k_base = K + n * K_BATCH_STRIDE + c * KH * KW
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for i in range(0, KH):
        hh = h + SIGN * (i * DIL - PH)
        row_ok = inside & (hh >= 0) & (hh < H)
        for j in range(0, KW):
            ww = w + SIGN * (j * DIL - PW)
            ok = row_ok & (ww >= 0) & (ww < W)
            xv = tl.load(x_base + hh * W + ww, mask=ok, other=0.0).to(tl.float32)
            kv = tl.load(k_base + i * KW + j).to(tl.float32)
            acc += xv * kv
    if HAS_BIAS:
        acc += tl.load(B + c).to(tl.float32)
    tl.store(Y + nc * hw + offs, acc.to(Y.dtype.element_ty), mask=inside)


@triton.jit
def _weight_grad_kernel(X, DY, DK, H, W, KH, KW, DIL, PH, PW, BLOCK: tl.constexpr):
    nc = tl.program_id(0).to(tl.int64)
    tap = tl.program_id(1)
    i = tap // KW
    j = tap % KW
    hw = H * W
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, hw, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        inside = offs < hw
        hh = offs // W + i * DIL - PH
        ww = offs % W + j * DIL - PW
        ok = inside & (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W)
        xv = tl.load(X + nc * hw + hh * W + ww, mask=ok, other=0.0).to(tl.float32)
        dy = tl.load(DY + nc * hw + offs, mask=inside, other=0.0).to(tl.float32)
        acc += xv * dy
    tl.store(DK + nc * KH * KW + tap, tl.sum(acc, axis=0))


def _block(hw: int) -> int:
    return min(1024, max(16, triton.next_power_of_2(hw)))


def _taps(x: torch.Tensor, k: torch.Tensor, bias: torch.Tensor | None, dil: int, sign: int,
          per_sample: bool) -> torch.Tensor:
    n, c, h, w = x.shape
    kh, kw = k.shape[-2:]
    y = torch.empty_like(x)
    block = _block(h * w)
    grid = (n * c, triton.cdiv(h * w, block))
    _taps_kernel[grid](x, k, bias if bias is not None else k, y, c, h, w, kh, kw, dil, dil * (kh - 1) // 2,
                       dil * (kw - 1) // 2, sign, c * kh * kw if per_sample else 0,
                       HAS_BIAS=bias is not None, BLOCK=block)
    return y


class _DWConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k, bias, dil):
        per_sample = k.dim() == 4
        x, k = x.contiguous(), k.contiguous()
        ctx.save_for_backward(x, k)
        ctx.dil, ctx.per_sample, ctx.has_bias = dil, per_sample, bias is not None
        return _taps(x, k, bias.contiguous() if bias is not None else None, dil, 1, per_sample)

    @staticmethod
    def backward(ctx, dy):
        x, k = ctx.saved_tensors
        dy = dy.contiguous()
        dx = dk = db = None
        if ctx.needs_input_grad[0]:
            dx = _taps(dy, k, None, ctx.dil, -1, ctx.per_sample)
        if ctx.needs_input_grad[1]:
            n, c, h, w = x.shape
            kh, kw = k.shape[-2:]
            dk = torch.empty((n, c, kh, kw), device=x.device, dtype=torch.float32)
            _weight_grad_kernel[(n * c, kh * kw)](x, dy, dk, h, w, kh, kw, ctx.dil, ctx.dil * (kh - 1) // 2,
                                                  ctx.dil * (kw - 1) // 2, BLOCK=_block(h * w))
            dk = (dk if ctx.per_sample else dk.sum(0)).to(k.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = dy.sum(dim=(0, 2, 3))
        return dx, dk, db, None


def dwconv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
           dilation: int = 1) -> torch.Tensor:
    """y = b + Σ_j w_j · x[t + d·j − p] per channel ("same" padding), by direct Triton summation."""
    dims = _check(x, weight, bias, dilation)
    if dims == 2:
        return _DWConv.apply(x, weight, bias, dilation)
    y = _DWConv.apply(x.unsqueeze(2), weight.unsqueeze(-2), bias, dilation)
    return y.squeeze(2)


def supports(x, weight, bias=None, *, dilation: int = 1) -> tuple[bool, str]:
    ok, why = triton_supports(x, weight, bias)
    if not ok:
        return ok, why
    if x.dtype not in DTYPES:
        return False, f"dtype {x.dtype} (float32, float16 or bfloat16 only)"
    if weight.shape[-1] * (weight.shape[-2] if x.dim() == 4 else 1) > MAX_TAPS:
        return False, f"more than {MAX_TAPS} taps: use hyperkernels.fftconv for kernels this large"
    if x.numel() == 0:
        return False, "an empty input (the reference returns the empty result)"
    return True, "ok"
