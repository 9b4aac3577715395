"""Hand-derived backward passes for the reference's chunked and non-causal forms and for the feature maps.

The equations are those of :mod:`._core` (and :mod:`.nala`); only the work is arranged to run in as few passes over
the (B, H, N, ·) tensors as PyTorch allows on a CPU: the attention matrix of each chunk (N·C entries per head) is
kept for the backward, the normaliser's gradient rides as one extra column of the value gradient, and the feature maps'
derivatives are written out. Correctness: the chunked and non-causal forms are tested against the written-out
quadratic form (forward, float64, 1e-12) and against finite differences (``torch.autograd.gradcheck``).

Backward with d_i = den_i + eps, dn_i = do_i / d_i, dd_i = −(do_i·o_i)/d_i and dn⁺_i = [dn_i, dd_i]:

    non-causal:  dfq = dn⁺ [S; zᵀ]ᵀ,  [dS, dz] = fqᵀ dn⁺,  dfk = v dSᵀ + dz,  dv = fk dS
    chunk c:     dA = tril(dn⁺_c [v_c, 1]ᵀ),  dfq_c = dA fk_c + dn⁺_c [S_<c; z_<c]ᵀ,
                 [dS_<c, dz_<c] = fq_cᵀ dn⁺_c,  dS_c^tot = Σ_{c' > c} dS_<c' (+ dS_final),
                 dfk_c = dAᵀ fq_c + v_c dS_c^totᵀ + dz_c^tot,  dv_c = Aᵀ dn_c + fk_c dS_c^tot
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


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
    d = den + eps
    d.masked_fill_(d == 0, 1.0)      # a row with no weight at all (or a padding row, with eps = 0) outputs 0, not NaN
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


def _excl_cumsum(x: torch.Tensor, first: torch.Tensor | None) -> torch.Tensor:
    """Exclusive prefix sum over dim 2 (chunks), starting from ``first`` (or zero)."""
    out = x.cumsum(2).sub_(x)
    if first is not None:
        out += first.unsqueeze(2)
    return out


class Chunked(torch.autograd.Function):
    """Causal attention in chunks of C (N a multiple of C); returns (o, S, z)."""

    @staticmethod
    def forward(ctx, fq, fk, v, s0, z0, c, normalize, eps):
        b, h, n, f = fq.shape
        dv = v.shape[-1]
        nc = n // c
        qc, kc, vc = fq.view(b, h, nc, c, f), fk.view(b, h, nc, c, f), v.view(b, h, nc, c, dv)
        a = (qc @ kc.transpose(-1, -2)).tril_()
        scz = torch.cat([kc.transpose(-1, -2) @ vc, kc.sum(-2).unsqueeze(-1)], -1)   # chunk states [S_c, z_c]
        s0z = None if s0 is None else torch.cat([s0, z0.unsqueeze(-1)], -1)
        spz = _excl_cumsum(scz, s0z)                                    # [S_<c, z_<c]: (b, h, nc, f, dv+1)
        num = a @ vc
        num.view(-1, c, dv).baddbmm_(qc.reshape(-1, c, f), spz[..., :dv].reshape(-1, f, dv))
        den = a.sum(-1)
        den += (qc @ spz[..., dv:]).squeeze(-1)
        num, den = num.view(b, h, n, dv), den.view(b, h, n)
        o, d = _finish(num, den, normalize, eps)
        last = spz[:, :, -1] + scz[:, :, -1]
        ctx.save_for_backward(fq, fk, v, spz, o, d, a)      # a: (N/C)·C² = N·C per head, saves a recompute
        ctx.cfg = (c, normalize, s0 is not None)
        return o, last[..., :dv], last[..., dv]

    @staticmethod
    def backward(ctx, do, dsf, dzf):
        fq, fk, v, spz, o, d, a = ctx.saved_tensors
        c, normalize, has_s0 = ctx.cfg
        b, h, n, f = fq.shape
        dv = v.shape[-1]
        nc = n // c
        qc, kc, vc = fq.view(b, h, nc, c, f), fk.view(b, h, nc, c, f), v.view(b, h, nc, c, dv)
        g = _aug_grad(do, o, d, normalize).view(b, h, nc, c, dv + 1)
        gv, gd = g[..., :dv], g[..., dv]
        da = (gv @ vc.transpose(-1, -2))
        da += gd.unsqueeze(-1)
        da.tril_()
        dfq = da @ kc
        dfq.view(-1, c, f).baddbmm_(g.reshape(-1, c, dv + 1), spz.view(-1, f, dv + 1).transpose(-1, -2))
        dsz = qc.transpose(-1, -2) @ g                                   # (b, h, nc, f, dv+1): grads of S_<c, z_<c
        total = dsz.sum(2, keepdim=True)
        dsz_tot = dsz.cumsum(2).neg_().add_(total)                       # Σ over later chunks (exclusive)
        if dsf is not None or dzf is not None:
            extra = torch.cat([dsf if dsf is not None else spz.new_zeros(b, h, f, dv),
                               (dzf if dzf is not None else spz.new_zeros(b, h, f)).unsqueeze(-1)], -1)
            dsz_tot += extra.unsqueeze(2)
        ds_tot, dz_tot = dsz_tot[..., :dv], dsz_tot[..., dv]
        dfk = da.transpose(-1, -2) @ qc
        dfk.view(-1, c, f).baddbmm_(vc.reshape(-1, c, dv), ds_tot.reshape(-1, f, dv).transpose(-1, -2))
        dfk += dz_tot.unsqueeze(-2)
        dvv = a.transpose(-1, -2) @ gv
        dvv.view(-1, c, dv).baddbmm_(kc.reshape(-1, c, f), ds_tot.reshape(-1, f, dv))
        ds0 = dz0 = None
        if has_s0:
            tot = total.squeeze(2).clone()
            if dsf is not None:
                tot[..., :dv] += dsf
            if dzf is not None:
                tot[..., dv] += dzf
            ds0, dz0 = tot[..., :dv], tot[..., dv]
        return (dfq.view(b, h, n, f), dfk.view(b, h, n, f), dvv.view(b, h, n, dv), ds0, dz0, None, None, None)


def attend_fast(fq, fk, v, *, causal, chunk_size, initial_state, normalize, eps):
    """(o, S, z) by :class:`NonCausal` or :class:`Chunked` (padding N to a multiple of the chunk with zero features)."""
    s0, z0 = (None, None) if initial_state is None else initial_state
    if not causal:
        return NonCausal.apply(fq, fk, v, s0, z0, normalize, eps)
    n = fq.shape[2]
    c = max(1, min(chunk_size, n))
    pad = math.ceil(n / c) * c - n
    if pad:
        fq, fk, v = (F.pad(t, (0, 0, 0, pad)) for t in (fq, fk, v))
    fq, fk, v = fq.contiguous(), fk.contiguous(), v.contiguous()
    o, s, z = Chunked.apply(fq, fk, v, s0, z0, c, normalize, eps)
    return (o[:, :, :n] if pad else o), s, z


# -- feature maps with written-out derivatives --------------------------------------------------------------
class EluPlusOne(torch.autograd.Function):
    """φ(x) = elu(x) + 1;  φ'(x) = min(φ(x), 1)  (1 for x > 0, e^x = φ(x) otherwise)."""

    @staticmethod
    def forward(ctx, x):
        y = F.elu(x).add_(1.0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y.clamp(max=1.0)


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
