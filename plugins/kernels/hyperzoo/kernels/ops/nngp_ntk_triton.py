"""``kernels.nngp_ntk`` -- fused Triton backend: one program per (BLOCK_M × BLOCK_N) tile of the Gram matrix loads
Σ⁰ = σ_w² x1·x2ᵀ/d + σ_b² (one float64-accumulated matmul, rounded once, as in the reference) and runs the whole
dual recursion in registers, writing NNGP and NTK once.

Same signature and semantics as :func:`hyperzoo.kernels.ops.nngp_ntk.nngp_ntk`, for float32 inputs. The diagonal
recursions Σ^l(x, x) (O(n · depth)) come from the reference's ``diag_recursion``; on the self-Gram diagonal the ρ = 1
closed forms are used, as in the reference. arccos has no Triton primitive: it is the Abramowitz–Stegun 4.4.46
polynomial, arccos(|ρ|) = √(1 − |ρ|) Σ_{k≤7} a_k |ρ|^k (|error| ≤ 2·10⁻⁸), reflected for ρ < 0; arcsin(z) = π/2 −
arccos(z). Backward: the reference's vjp (recomputed under autograd), so gradients equal the reference's by
construction; the forward is what is fused."""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from hyperzoo.core.dispatch import triton_supports

from .nngp_ntk import _gram, check_inputs, diag_recursion
from .nngp_ntk import nngp_ntk as _reference

PI = math.pi


@triton.jit
def _acos_w(x, w):
    """arccos(x) given w = 1 − |x| computed accurately by the caller (the polynomial's √(1 − |x|) factor would
    otherwise carry √ε of rounding near |x| = 1)."""
    a = tl.abs(x)
    p = -0.0012624911
    p = p * a + 0.0066700901
    p = p * a - 0.0170881256
    p = p * a + 0.0308918810
    p = p * a - 0.0501743046
    p = p * a + 0.0889789874
    p = p * a - 0.2145988016
    p = p * a + 1.5707963050
    r = tl.sqrt(tl.maximum(w, 0.0)) * p
    return tl.where(x < 0, 3.141592653589793 - r, r)


@triton.jit
def _acos(x):
    return _acos_w(x, 1.0 - tl.abs(x))


@triton.jit
def _kernel(S0, D1, D2, G, T, n1, n2, depth, vw, vb,
            RELU: tl.constexpr, SAME: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rmask = rows < n1
    cmask = cols < n2
    s = tl.load(S0 + rows[:, None] * n2 + cols[None, :], mask=rmask[:, None] & cmask[None, :], other=0.0)
    diag = (rows[:, None] == cols[None, :]) & SAME
    s1 = tl.load(D1 + rows, mask=rmask, other=1.0)
    s2 = tl.load(D2 + cols, mask=cmask, other=1.0)
    s = tl.where(diag, s1[:, None] + 0.0 * s, s)
    theta = s
    for layer in range(depth):
        s1 = tl.load(D1 + layer * n1 + rows, mask=rmask, other=1.0)
        s2 = tl.load(D2 + layer * n2 + cols, mask=cmask, other=1.0)
        a11 = s1[:, None] + 0.0 * s
        a22 = s2[None, :] + 0.0 * s
        if RELU:
            norm = tl.sqrt(a11) * tl.sqrt(a22)
            pos = norm > 0.0
            rho = tl.where(pos, s / tl.where(pos, norm, 1.0), 0.0)
            rho = tl.minimum(tl.maximum(rho, -1.0), 1.0)
            # the reference's snap: within 4 ulps of ±1 is ±1
            rho = tl.where(tl.abs(rho) >= 1.0 - 4.76837158203125e-07, tl.where(rho > 0, 1.0, -1.0), rho)
            ang = _acos(rho)
            k = norm * (tl.sqrt(tl.maximum((1.0 - rho) * (1.0 + rho), 0.0)) + (3.141592653589793 - ang) * rho) \
                / 6.283185307179586
            kdot = (3.141592653589793 - ang) / 6.283185307179586
            k = tl.where(diag, a11 / 2, k)
            kdot = tl.where(diag, 0.5, kdot)
        else:
            # as the reference: r = hypot(√(1 + 2Σ₁₁ + 2Σ₂₂), 2√Σ₁₁√Σ₂₂√(1 − ρ²)), no cancellation or overflow
            pq = tl.sqrt(1.0 + 2.0 * a11) * tl.sqrt(1.0 + 2.0 * a22)
            z = tl.minimum(tl.maximum(2.0 * s / pq, -1.0), 1.0)
            norm = tl.sqrt(a11) * tl.sqrt(a22)
            pos = norm > 0.0
            rho = tl.where(pos, s / tl.where(pos, norm, 1.0), 0.0)
            rho = tl.minimum(tl.maximum(rho, -1.0), 1.0)
            # the reference's snap: within 4 ulps of ±1 is ±1
            rho = tl.where(tl.abs(rho) >= 1.0 - 4.76837158203125e-07, tl.where(rho > 0, 1.0, -1.0), rho)
            h1 = tl.sqrt(1.0 + 2.0 * a11 + 2.0 * a22)
            h2 = 2.0 * norm * tl.sqrt(tl.maximum((1.0 - rho) * (1.0 + rho), 0.0))
            hi = tl.maximum(h1, h2)
            lo = tl.minimum(h1, h2)
            r = hi * tl.sqrt(1.0 + (lo / hi) * (lo / hi))
            # 1 − |z| = r² / (pq (pq + 2|Σ₁₂|)), from the accurate r (no cancellation at |z| → 1)
            rq = r / pq
            w = rq * rq * (pq / (pq + 2.0 * tl.abs(s)))
            k = (2.0 / 3.141592653589793) * (1.5707963267948966 - _acos_w(z, w))
            kdot = (4.0 / 3.141592653589793) / r
            zd = 2.0 * a11 / (1.0 + 2.0 * a11)
            k = tl.where(diag, (2.0 / 3.141592653589793) * (1.5707963267948966 - _acos(zd)), k)
            kdot = tl.where(diag, (4.0 / 3.141592653589793) / tl.sqrt(1.0 + 4.0 * a11), kdot)
        s = vw * k + vb
        theta = theta * (vw * kdot) + s
    out = rows[:, None] * n2 + cols[None, :]
    omask = rmask[:, None] & cmask[None, :]
    tl.store(G + out, s.to(G.dtype.element_ty), mask=omask)
    tl.store(T + out, theta.to(T.dtype.element_ty), mask=omask)


def _forward(x1, x2, same, depth, activation, vw, vb):
    d1 = torch.stack(diag_recursion(x1, depth, activation, vw, vb)).contiguous()
    d2 = d1 if same else torch.stack(diag_recursion(x2, depth, activation, vw, vb)).contiguous()
    n1, n2, d = x1.shape[0], x2.shape[0], x1.shape[1]
    # Σ⁰ = σ_w² x1·x2ᵀ/d + σ_b² with the products accumulated in float64 and rounded once, exactly as the reference
    # (near ρ = 1 the kernels turn a rounding of ε in x·x' into √ε, for erf at large Σ into O(1): a float32 tl.dot
    # differed from the reference by 5x on the NTK of equal rows at |x| ~ 1e4)
    s0 = (float(vw) * _gram(x1, x2) / d + float(vb)).contiguous()
    g = torch.empty(n1, n2, dtype=x1.dtype, device=x1.device)
    t = torch.empty_like(g)
    bm = bn = 32
    grid = (triton.cdiv(n1, bm), triton.cdiv(n2, bn))
    _kernel[grid](s0, d1, d2, g, t, n1, n2, depth, float(vw), float(vb), RELU=activation == "relu", SAME=same,
                  BLOCK_M=bm, BLOCK_N=bn)
    return g, t


class _NNGPNTK(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x1, x2, same, depth, activation, vw, vb):
        ctx.save_for_backward(x1, x2)
        ctx.args = (same, depth, activation, vw, vb)
        return _forward(x1.detach(), x2.detach(), same, depth, activation, vw, vb)

    @staticmethod
    def backward(ctx, dg, dt):
        x1, x2 = ctx.saved_tensors
        same, depth, activation, vw, vb = ctx.args
        with torch.enable_grad():
            a = x1.detach().requires_grad_(ctx.needs_input_grad[0] or same)
            b = a if same else x2.detach().requires_grad_(ctx.needs_input_grad[1])
            g, t = _reference(a, None if same else b, depth=depth, activation=activation, weight_variance=vw,
                              bias_variance=vb)
            inputs = [a] if same else [v for v in (a, b) if v.requires_grad]
            grads = torch.autograd.grad((g, t), inputs, (dg, dt), allow_unused=True)
        if same:
            return grads[0], None, None, None, None, None, None
        it = iter(grads)
        ga = next(it) if a.requires_grad else None
        gb = next(it) if b.requires_grad else None
        return ga, gb, None, None, None, None, None


def nngp_ntk(x1: torch.Tensor, x2: torch.Tensor | None = None, *, depth: int = 1, activation: str = "relu",
             weight_variance: float = 2.0, bias_variance: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(NNGP, NTK) by the fused kernel (see the module docstring)."""
    same = x2 is None
    x2 = check_inputs(x1, x2, depth, activation, weight_variance, bias_variance)
    return _NNGPNTK.apply(x1, x2, same, depth, activation, float(weight_variance), float(bias_variance))


def supports(x1: torch.Tensor, x2: torch.Tensor | None = None, **kwargs) -> tuple[bool, str]:
    ok, why = triton_supports(x1, *(() if x2 is None else (x2,)))
    if not ok:
        return ok, why
    if x1.dtype != torch.float32:
        return False, f"dtype {x1.dtype}: the fused kernel computes in float32 (float64 runs the reference)"
    return True, ""
