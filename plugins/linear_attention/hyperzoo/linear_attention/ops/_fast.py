"""Hand-derived backward passes for the reference's chunked and non-causal forms and for the feature maps.

The equations are those of :mod:`._core` (and :mod:`.nala`); only the work is arranged to run in as few passes over
the (B, H, N, ·) tensors as PyTorch allows on a CPU: the non-causal normaliser's gradient rides as one extra column
of the value gradient; the causal form keeps S and z apart (every batched matmul C, F or Dv wide), scans its chunk
states in place and recomputes each chunk's attention block and prefix states in the backward instead of saving
them (lower peak memory for two batched matmuls); the feature maps' derivatives are written out. Correctness: the
chunked and non-causal forms are tested against the written-out quadratic form (forward, float64, 1e-12) and
against finite differences (``torch.autograd.gradcheck``).

Backward with d_i = den_i + eps, dn_i = do_i / d_i, dd_i = −(do_i·o_i)/d_i and dn⁺_i = [dn_i, dd_i]:

    non-causal:  dfq = dn⁺ [S; zᵀ]ᵀ,  [dS, dz] = fqᵀ dn⁺,  dfk = v dSᵀ + dz,  dv = fk dS
    chunk c:     dA = tril(dn_c v_cᵀ + dd_c 1ᵀ),  dfq_c = dA fk_c + dn_c S_<cᵀ + dd_c z_<cᵀ,
                 dS_<c = fq_cᵀ dn_c,  dz_<c = fq_cᵀ dd_c,  dS_c^tot = Σ_{c' > c} dS_<c' (+ dS_final),
                 dfk_c = dAᵀ fq_c + v_c dS_c^totᵀ + dz_c^tot,  dv_c = Aᵀ dn_c + fk_c dS_c^tot
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._core import safe_denominator


def _aug_grad(do: torch.Tensor, o: torch.Tensor, d: torch.Tensor, normalize: bool) -> torch.Tensor:
    """dn⁺ = [do / d, −(do·o)/d] (…, N, Dv + 1); without normalisation [do, 0]."""
    dv = do.shape[-1]
    out = do.new_empty(do.shape[:-1] + (dv + 1,))
    if normalize:
        torch.div(do, d.unsqueeze(-1), out=out[..., :dv])
        out[..., dv] = -torch.linalg.vecdot(do, o) / d
    else:
        out[..., :dv] = do
        out[..., dv] = 0.0
    return out


def _finish(num: torch.Tensor, den: torch.Tensor, normalize: bool, eps: float):
    d = safe_denominator(den, eps)   # +inf for a weightless row (or a padding row, with eps = 0): it outputs 0
    if normalize:
        num.div_(d.unsqueeze(-1))
    return num, d


class NonCausal(torch.autograd.Function):
    """o = fq (fkᵀ v + S0) / (fq (fkᵀ 1 + z0) + eps); returns (o, S, z)."""

    @staticmethod
    def forward(ctx, fq, fk, v, s0, z0, normalize, eps):
        s = fk.transpose(-1, -2) @ v
        z = fk.sum(-2)
        if s0 is not None:
            s, z = s + s0, z + z0
        num = fq @ s
        den = (fq @ z.unsqueeze(-1)).squeeze(-1)
        o, d = _finish(num, den, normalize, eps)
        ctx.save_for_backward(fq, fk, v, s, z, o, d)
        ctx.normalize, ctx.has_s0 = normalize, s0 is not None
        return o, s, z

    @staticmethod
    def backward(ctx, do, dsf, dzf):
        fq, fk, v, s, z, o, d = ctx.saved_tensors
        g = _aug_grad(do, o, d, ctx.normalize)                           # (…, N, Dv+1)
        dfq = g @ torch.cat([s, z.unsqueeze(-1)], -1).transpose(-1, -2)
        dsz = fq.transpose(-1, -2) @ g                                   # (…, F, Dv+1)
        ds, dz = dsz[..., :-1], dsz[..., -1]
        if dsf is not None:
            ds = ds + dsf
        if dzf is not None:
            dz = dz + dzf
        dfk = v @ ds.transpose(-1, -2)
        dfk += dz.unsqueeze(-2)
        dv = fk @ ds
        return dfq, dfk, dv, (ds if ctx.has_s0 else None), (dz if ctx.has_s0 else None), None, None


def _exclusive_scan_(x: torch.Tensor, start: torch.Tensor | None, reverse: bool = False) -> torch.Tensor:
    """In place over dim 2 (chunks): x_i ← start + Σ_{i' < i} x_i' (``reverse``: Σ over i' > i); returns the total,
    start + Σ_i x_i. Slice copies and additions through two (B, H, ·) buffers: no second (B, H, N/C, ·) tensor, and
    PyTorch's cumsum along a non-last dimension walks memory with a large stride (~4× slower here)."""
    carry = torch.zeros_like(x[:, :, 0]) if start is None else start.to(x.dtype).clone()
    held = torch.empty_like(carry)
    for i in (range(x.shape[2] - 1, -1, -1) if reverse else range(x.shape[2])):
        held.copy_(x[:, :, i])
        x[:, :, i].copy_(carry)
        carry.add_(held)
    return carry


def _mask_(a: torch.Tensor, whole_chunks: bool) -> torch.Tensor:
    """The intra-chunk causal mask, in place: lower triangle (token-causal), or none when a chunk is one block."""
    return a if whole_chunks else a.tril_()


class Chunked(torch.autograd.Function):
    """Causal attention in chunks of C (N a multiple of C); returns (o, S, z). States S (F × Dv) and z (F) are kept
    apart (no (Dv + 1)-wide augmented blocks: every batched matmul is C/F/Dv wide). Only the features, v, o and the
    normaliser are saved: the backward recomputes the chunk blocks A and the prefix states S_<c (two batched
    matmuls, ~1/7 of its work) and frees each (N, ·) buffer once its last use is done, so that its peak holds
    five gradient-sized buffers besides what the forward saved."""

    @staticmethod
    def forward(ctx, fq, fk, v, s0, z0, c, normalize, eps, whole_chunks):
        b, h, n, f = fq.shape
        dv = v.shape[-1]
        nc = n // c
        qc, kc, vc = fq.view(b, h, nc, c, f), fk.view(b, h, nc, c, f), v.view(b, h, nc, c, dv)
        a = _mask_(qc @ kc.transpose(-1, -2), whole_chunks)
        sp, zp = kc.transpose(-1, -2) @ vc, kc.sum(-2)                 # chunk states S_c, z_c, then in place the
        s_last, z_last = _exclusive_scan_(sp, s0), _exclusive_scan_(zp, z0)   # prefix states S_<c, z_<c
        num = a @ vc
        num.view(-1, c, dv).baddbmm_(qc.reshape(-1, c, f), sp.view(-1, f, dv))
        den = a.sum(-1)
        den += (qc @ zp.unsqueeze(-1)).squeeze(-1)
        num, den = num.view(b, h, n, dv), den.view(b, h, n)
        o, d = _finish(num, den, normalize, eps)
        ctx.save_for_backward(fq, fk, v, s0, zp, o, d)
        ctx.cfg = (c, normalize, s0 is not None, whole_chunks)
        return o, s_last, z_last

    @staticmethod
    def backward(ctx, do, dsf, dzf):
        fq, fk, v, s0, zp, o, d = ctx.saved_tensors
        c, normalize, has_s0, whole_chunks = ctx.cfg
        b, h, n, f = fq.shape
        dv = v.shape[-1]
        nc = n // c
        qc, kc, vc = fq.view(b, h, nc, c, f), fk.view(b, h, nc, c, f), v.view(b, h, nc, c, dv)
        if normalize:                                                    # dn = do / d, dd = −(do·o)/d
            gv = (do / d.unsqueeze(-1)).view(b, h, nc, c, dv)
            gd = (torch.linalg.vecdot(do, o).div_(d).neg_()).view(b, h, nc, c)
        else:
            gv, gd = do.contiguous().view(b, h, nc, c, dv), None
        ds = qc.transpose(-1, -2) @ gv                                   # (b, h, nc, f, dv): grads of S_<c, then
        ds0 = _exclusive_scan_(ds, dsf, reverse=True)                    # their sums over later chunks (+ final's)
        if gd is not None:
            dz = (qc.transpose(-1, -2) @ gd.unsqueeze(-1)).squeeze(-1)   # (b, h, nc, f): grads of z_<c, then sums
        else:
            dz = qc.new_zeros(b, h, nc, f)
        dz0 = _exclusive_scan_(dz, dzf, reverse=True)
        a = _mask_(qc @ kc.transpose(-1, -2), whole_chunks)              # recomputed chunk blocks
        dvv = a.transpose(-1, -2) @ gv
        del a
        dvv.view(-1, c, dv).baddbmm_(kc.reshape(-1, c, f), ds.view(-1, f, dv))
        sp = kc.transpose(-1, -2) @ vc                                   # recomputed prefix states S_<c
        _exclusive_scan_(sp, s0)
        dfq = gv @ sp.transpose(-1, -2)
        del sp
        da = gv @ vc.transpose(-1, -2)
        if gd is not None:
            da += gd.unsqueeze(-1)
            dfq.addcmul_(gd.unsqueeze(-1), zp.unsqueeze(-2))
        _mask_(da, whole_chunks)
        del gv
        dfq.view(-1, c, f).baddbmm_(da.view(-1, c, c), kc.reshape(-1, c, f))
        dfk = da.transpose(-1, -2) @ qc
        del da
        dfk.view(-1, c, f).baddbmm_(vc.reshape(-1, c, dv), ds.view(-1, f, dv).transpose(-1, -2))
        dfk += dz.unsqueeze(-2)
        if not has_s0:
            ds0 = dz0 = None
        return (dfq.view(b, h, n, f), dfk.view(b, h, n, f), dvv.view(b, h, n, dv), ds0, dz0, None, None, None,
                None)


def attend_fast(fq, fk, v, *, causal, chunk_size, initial_state, normalize, eps, block_size=1):
    """(o, S, z) by :class:`NonCausal` or :class:`Chunked` (padding N to a multiple of the chunk with zero features).
    Blockwise-causal (``block_size`` > 1) runs in chunks of one block each, unmasked within a chunk."""
    s0, z0 = (None, None) if initial_state is None else initial_state
    if not causal:
        return NonCausal.apply(fq, fk, v, s0, z0, normalize, eps)
    n = fq.shape[2]
    c = block_size if block_size > 1 else max(1, min(chunk_size, n))
    pad = math.ceil(n / c) * c - n
    if pad:
        fq, fk, v = (F.pad(t, (0, 0, 0, pad)) for t in (fq, fk, v))
    fq, fk, v = fq.contiguous(), fk.contiguous(), v.contiguous()
    o, s, z = Chunked.apply(fq, fk, v, s0, z0, c, normalize, eps, block_size > 1)
    return (o[:, :, :n] if pad else o), s, z


# -- feature maps with written-out derivatives --------------------------------------------------------------
class EluPlusOne(torch.autograd.Function):
    """φ(x) = elu(x) + 1 = max(x, 0) + exp(min(x, 0));  φ'(x) = min(φ(x), 1)  (1 for x > 0, e^x = φ(x) otherwise).
    Computed as exp(min(x, 0)) + max(x, 0), not elu(x) + 1: expm1(x) + 1 cancels to 0 for x below ≈ −17 in float32
    (found by the fuzz suite: such a query then attended to nothing)."""

    @staticmethod
    def forward(ctx, x):
        y = x.clamp(min=0).add_(x.clamp(max=0).exp_())
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return torch.clamp(y, max=1.0).mul_(g)


class SignSplit(torch.autograd.Function):
    """φ_k(k) = [k⁺ ; k⁻];  dk = g⁺ where k > 0, −g⁻ where k ≤ 0 (written into one preallocated buffer each way)."""

    @staticmethod
    def forward(ctx, k):
        ctx.save_for_backward(k)
        d = k.shape[-1]
        out = k.new_empty(k.shape[:-1] + (2 * d,))
        torch.clamp(k, min=0, out=out[..., :d])
        torch.clamp(k, max=0, out=out[..., d:]).neg_()
        return out

    @staticmethod
    def backward(ctx, g):
        (k,) = ctx.saved_tensors
        d = k.shape[-1]
        gp, gn = g[..., :d], g[..., d:]
        m = torch.gt(k, 0, out=torch.empty_like(k))                      # 1(k > 0) as floats (no torch.where)
        return m.mul_(torch.add(gp, gn)).sub_(gn)                         # (g⁺ + g⁻)·1(k>0) − g⁻


class NaLaQuery(torch.autograd.Function):
    """φ_q(q) = ‖q‖·[a·1(q>0); a·1(q<0)]/‖a‖ with a_j = |q_j|^p / r^p (= |q̂_j|^p), r = ‖q‖,
    p = 1 + (p_max − 1) tanh(r/s).

    Backward with y = c·a (c = r/‖a‖; y_j is the nonzero one of the two output halves at j, recovered as their
    sum), g_j the matching half of the output gradient, G = Σ_j g_j y_j, ∂a_j/∂q_j = p a_j / q_j,
    ∂a_j/∂r = −p a_j / r, ∂a_j/∂p = a_j log(a_j) / p and dp/dr = (p_max − 1)(1 − tanh²(r/s)) / s:
        ∂L/∂a = c (g − (g·â) â)   (so Σ_j ∂L/∂a_j a_j = 0: the r-terms through a cancel),
        g·â = G / (c ‖a‖) = G / r,   ∂L/∂a_j a_j = g_j y_j − (g·â) y_j² / r,
        ∂L/∂r = g·â + (dp/dr)/p · Σ_j ∂L/∂a_j a_j log a_j,
        ∂L/∂q_j = p ∂L/∂a_j a_j / q_j + ∂L/∂r q_j / r       (0 where q_j = 0, as a_j = 0 there).
    One transcendental pass each way (the power forward, the log backward) and two buffers of (…, D) backward.
    """

    @staticmethod
    def forward(ctx, q, max_power, scale):
        tiny = torch.finfo(q.dtype).tiny
        d = q.shape[-1]
        r = torch.linalg.vector_norm(q, dim=-1, keepdim=True)
        t = torch.tanh(r / scale)
        p = t * (max_power - 1.0) + 1.0
        out = q.new_empty(q.shape[:-1] + (2 * d,))
        pos, neg = out[..., :d], out[..., d:]
        torch.abs(q, out=neg).mul_(1.0 / (r + tiny)).pow_(p)              # a = |q̂|^p (0^p = 0 as p >= 1), held in neg
        an = torch.linalg.vector_norm(neg, dim=-1, keepdim=True)           # ‖a‖
        torch.gt(q, 0, out=pos).mul_(neg)                                  # a⁺ = a·1(q > 0)
        neg.sub_(pos)                                                      # a⁻ = a − a⁺ (a = 0 where q = 0)
        c = r / (an + tiny)
        out.mul_(c)
        ctx.save_for_backward(q, out, r, t, p, an, c)
        ctx.cfg = (max_power, scale)
        return out

    @staticmethod
    def backward(ctx, gout):
        q, out, r, t, p, an, c = ctx.saved_tensors
        max_power, scale = ctx.cfg
        tiny = torch.finfo(q.dtype).tiny
        d = q.shape[-1]
        gy = torch.mul(gout[..., :d], out[..., :d]).addcmul_(gout[..., d:], out[..., d:])   # g_j y_j
        y = torch.add(out[..., :d], out[..., d:])                          # y_j = c a_j
        inv_r = 1.0 / (r + tiny)
        ga = gy.sum(-1, keepdim=True) * inv_r                              # g·â = G / (c ‖a‖) = G / r
        loga = torch.clamp(y, min=tiny).log_().sub_(torch.log(c.clamp_min(tiny)))   # log a_j (a_j = 0: × 0 below)
        x = y.mul_(y).mul_(ga * inv_r).neg_().add_(gy)                     # ∂L/∂a_j a_j = g_j y_j − (g·â) y_j² / r
        s2 = loga.mul_(x).sum(-1, keepdim=True)
        dpdr = (max_power - 1.0) * (1.0 - t * t) / scale
        dr = ga + dpdr * s2 / p
        dq = x.mul_(p).div_(q).nan_to_num_(nan=0.0)                        # 0/0 where q_j = 0 (a_j = 0)
        return dq.addcmul_(q, dr / (r + tiny)), None, None
