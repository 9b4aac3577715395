"""Fused Triton backends of ``linear_attention.linear`` and ``linear_attention.nala`` (forward and backward kernels).

Same signatures and results as the references (:mod:`.linear`, :mod:`.nala`), ``mode="chunk"`` only. One program
owns one (batch·head, value block) pair and walks the sequence in chunks of ``BT`` tokens, keeping the running state
S (F × BV) and normaliser z (F) in registers from chunk to chunk; nothing of size N×N or N×F×Dv is ever written.

Forward, chunk c (fq = φ(q), fk = φ(k) computed in registers from the loaded tiles, A = tril(fq fkᵀ)):

    num_c = A v_c + fq S,   den_c = A 1 + fq z,   o_c = num_c / (den_c + eps),   S += fkᵀ v_c,   z += fkᵀ 1

(non-causal: a first pass accumulates S, z over all keys, a second writes o = fq S / (fq z + eps)). Backward, with
d_i = den_i + eps, dn_i = do_i / d_i and dd_i = −(do_i·o_i)/d_i:

    dfq_i = Σ_{j≤i} (dn_i·v_j + dd_i) fk_j + S_{<c} dn_i + dd_i z_{<c}                  (forward pass over chunks)
    dfk_j = Σ_{i≥j} (v_j·dn_i + dd_i) fq_i + dS_{>c} v_j + dz_{>c},   dv_j = Σ_{i≥j} (fq_i·fk_j) dn_i + dS_{>c}ᵀ fk_j
                                                                                         (reverse pass over chunks)

with dS = Σ fq_iᵀ dn_i (+ the final state's gradient), whose total is the initial state's gradient. The element-wise
feature maps of ``linear`` (elu+1, relu, identity) are applied in the kernels, and their derivatives φ'(x) applied to
dfq, dfk afterwards. NaLa's map is row-wise (norm, power, normalisation): its features are computed by PyTorch (with
autograd) and handed to the same kernels as an identity map.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hyperzoo.core.dispatch import triton_supports

from . import linear as _lin
from . import nala as _nala
from ._core import safe_denominator

MAX_F = 256
_FMAP = {"identity": 0, "elu": 1, "relu": 2}


@triton.jit
def _phi(x, FMAP: tl.constexpr):
    if FMAP == 1:
        y = tl.where(x > 0, x + 1.0, tl.exp(tl.minimum(x, 0.0)))
    elif FMAP == 2:
        y = tl.maximum(x, 0.0)
    else:
        y = x
    return y


@triton.jit
def _inv_denominator(den, eps):
    """1/(den + eps), and 0 for a weightless row (below the smallest normal float32), as the reference's +inf."""
    d = den + eps
    return tl.where(d < 1.1754943508222875e-38, 0.0, 1.0 / d)


@triton.jit
def _load_feat(X, base, t0, n, f, stride_t, FMAP: tl.constexpr, BT: tl.constexpr, BF: tl.constexpr):
    rows = t0 + tl.arange(0, BT)
    cols = tl.arange(0, BF)
    mask = (rows[:, None] < n) & (cols[None, :] < f)
    x = tl.load(X + base + rows[:, None] * stride_t + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    return tl.where(mask, _phi(x, FMAP), 0.0)


@triton.jit
def _load_v(V, base, t0, n, dv, v0, BT: tl.constexpr, BV: tl.constexpr):
    rows = t0 + tl.arange(0, BT)
    cols = v0 + tl.arange(0, BV)
    mask = (rows[:, None] < n) & (cols[None, :] < dv)
    return tl.load(V + base + rows[:, None] * dv + cols[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _fwd_kernel(Q, K, V, O, DEN, S0, Z0, SF, ZF, n, m, f, dv, eps,
                FMAP: tl.constexpr, CAUSAL: tl.constexpr, NORMALIZE: tl.constexpr, HAS_S0: tl.constexpr,
                STORE_SF: tl.constexpr, BT: tl.constexpr, BF: tl.constexpr, BV: tl.constexpr):
    pv = tl.program_id(0)
    bh = tl.program_id(1)
    v0 = pv * BV
    qb, kb = bh * n * f, bh * m * f
    vb, ob = bh * m * dv, bh * n * dv
    fi = tl.arange(0, BF)
    vi = v0 + tl.arange(0, BV)
    smask = (fi[:, None] < f) & (vi[None, :] < dv)
    if HAS_S0:
        s = tl.load(S0 + bh * f * dv + fi[:, None] * dv + vi[None, :], mask=smask, other=0.0).to(tl.float32)
        z = tl.load(Z0 + bh * f + fi, mask=fi < f, other=0.0).to(tl.float32)
    else:
        s = tl.zeros((BF, BV), dtype=tl.float32)
        z = tl.zeros((BF,), dtype=tl.float32)
    ti = tl.arange(0, BT)
    if not CAUSAL:
        for t0 in range(0, m, BT):
            fk = _load_feat(K, kb, t0, m, f, f, FMAP, BT, BF)
            vt = _load_v(V, vb, t0, m, dv, v0, BT, BV)
            s += tl.dot(tl.trans(fk), vt, input_precision="ieee")
            z += tl.sum(fk, axis=0)
    for t0 in range(0, n, BT):
        fq = _load_feat(Q, qb, t0, n, f, f, FMAP, BT, BF)
        num = tl.dot(fq, s, input_precision="ieee")
        den = tl.sum(fq * z[None, :], axis=1)
        if CAUSAL:
            fk = _load_feat(K, kb, t0, m, f, f, FMAP, BT, BF)
            vt = _load_v(V, vb, t0, m, dv, v0, BT, BV)
            a = tl.dot(fq, tl.trans(fk), input_precision="ieee")
            a = tl.where(ti[:, None] >= ti[None, :], a, 0.0)
            num += tl.dot(a, vt, input_precision="ieee")
            den += tl.sum(a, axis=1)
            s += tl.dot(tl.trans(fk), vt, input_precision="ieee")
            z += tl.sum(fk, axis=0)
        rows = t0 + ti
        if NORMALIZE:
            o = num * _inv_denominator(den, eps)[:, None]
        else:
            o = num
        omask = (rows[:, None] < n) & (vi[None, :] < dv)
        tl.store(O + ob + rows[:, None] * dv + vi[None, :], o.to(O.dtype.element_ty), mask=omask)
        if pv == 0:
            tl.store(DEN + bh * n + rows, den, mask=rows < n)
    if STORE_SF:
        tl.store(SF + bh * f * dv + fi[:, None] * dv + vi[None, :], s, mask=smask)
        if pv == 0:
            tl.store(ZF + bh * f + fi, z, mask=fi < f)


@triton.jit
def _load_dn(DO, DEN, DD, bh, t0, n, dv, v0, eps, pv, NORMALIZE: tl.constexpr, BT: tl.constexpr,
             BV: tl.constexpr):
    rows = t0 + tl.arange(0, BT)
    do = _load_v(DO, bh * n * dv, t0, n, dv, v0, BT, BV)
    if NORMALIZE:
        dn = do * _inv_denominator(tl.load(DEN + bh * n + rows, mask=rows < n, other=1.0), eps)[:, None]
        dd = tl.load(DD + bh * n + rows, mask=rows < n, other=0.0)
        dd = tl.where(pv == 0, dd, 0.0)           # the normaliser's term is counted by one value block only
    else:
        dn = do
        dd = tl.zeros((BT,), dtype=tl.float32)
    return dn, dd


@triton.jit
def _bwd_kernel(Q, K, V, DO, DEN, DD, S0, Z0, DSF, DZF, DFQ, DFK, DV_, DS0, DZ0, n, m, f, dv, eps,
                FMAP: tl.constexpr, CAUSAL: tl.constexpr, NORMALIZE: tl.constexpr, HAS_S0: tl.constexpr,
                HAS_DSF: tl.constexpr, BT: tl.constexpr, BF: tl.constexpr, BV: tl.constexpr):
    pv = tl.program_id(0)
    bh = tl.program_id(1)
    v0 = pv * BV
    qb, kb = bh * n * f, bh * m * f
    vb = bh * m * dv
    fi = tl.arange(0, BF)
    vi = v0 + tl.arange(0, BV)
    ti = tl.arange(0, BT)
    smask = (fi[:, None] < f) & (vi[None, :] < dv)
    first = pv == 0
    if HAS_S0:
        s = tl.load(S0 + bh * f * dv + fi[:, None] * dv + vi[None, :], mask=smask, other=0.0).to(tl.float32)
        z = tl.load(Z0 + bh * f + fi, mask=fi < f, other=0.0).to(tl.float32)
    else:
        s = tl.zeros((BF, BV), dtype=tl.float32)
        z = tl.zeros((BF,), dtype=tl.float32)
    if HAS_DSF:
        ds = tl.load(DSF + bh * f * dv + fi[:, None] * dv + vi[None, :], mask=smask, other=0.0).to(tl.float32)
        dz = tl.load(DZF + bh * f + fi, mask=fi < f, other=0.0).to(tl.float32)
        dz = tl.where(first, dz, 0.0)
    else:
        ds = tl.zeros((BF, BV), dtype=tl.float32)
        dz = tl.zeros((BF,), dtype=tl.float32)
    # partial gradients of this value block: DFQ/DFK are (NV, B*H, N, F), summed over NV by the caller
    pq = (pv * tl.num_programs(1) + bh) * n * f
    pk = (pv * tl.num_programs(1) + bh) * m * f
    if CAUSAL:
        for t0 in range(0, n, BT):       # forward pass: dfq
            fk = _load_feat(K, kb, t0, m, f, f, FMAP, BT, BF)
            vt = _load_v(V, vb, t0, m, dv, v0, BT, BV)
            dn, dd = _load_dn(DO, DEN, DD, bh, t0, n, dv, v0, eps, pv, NORMALIZE, BT, BV)
            g = tl.dot(dn, tl.trans(vt), input_precision="ieee") + dd[:, None]
            g = tl.where(ti[:, None] >= ti[None, :], g, 0.0)
            dfq = tl.dot(g, fk, input_precision="ieee") + tl.dot(dn, tl.trans(s), input_precision="ieee")
            dfq += dd[:, None] * z[None, :]
            rows = t0 + ti
            tl.store(DFQ + pq + rows[:, None] * f + fi[None, :], dfq,
                     mask=(rows[:, None] < n) & (fi[None, :] < f))
            s += tl.dot(tl.trans(fk), vt, input_precision="ieee")
            z += tl.sum(fk, axis=0)
        nchunks = tl.cdiv(n, BT)
        for c in range(0, nchunks):      # reverse pass: dfk, dv
            t0 = (nchunks - 1 - c) * BT
            fq = _load_feat(Q, qb, t0, n, f, f, FMAP, BT, BF)
            fk = _load_feat(K, kb, t0, m, f, f, FMAP, BT, BF)
            vt = _load_v(V, vb, t0, m, dv, v0, BT, BV)
            dn, dd = _load_dn(DO, DEN, DD, bh, t0, n, dv, v0, eps, pv, NORMALIZE, BT, BV)
            upper = ti[:, None] <= ti[None, :]                  # (j, i): i >= j
            p = tl.dot(vt, tl.trans(dn), input_precision="ieee") + dd[None, :]
            p = tl.where(upper, p, 0.0)
            dfk = tl.dot(p, fq, input_precision="ieee") + tl.dot(vt, tl.trans(ds), input_precision="ieee")
            dfk += dz[None, :]
            a = tl.where(upper, tl.dot(fk, tl.trans(fq), input_precision="ieee"), 0.0)
            dvt = tl.dot(a, dn, input_precision="ieee") + tl.dot(fk, ds, input_precision="ieee")
            rows = t0 + ti
            tl.store(DFK + pk + rows[:, None] * f + fi[None, :], dfk,
                     mask=(rows[:, None] < m) & (fi[None, :] < f))
            tl.store(DV_ + vb + rows[:, None] * dv + vi[None, :], dvt.to(DV_.dtype.element_ty),
                     mask=(rows[:, None] < m) & (vi[None, :] < dv))
            ds += tl.dot(tl.trans(fq), dn, input_precision="ieee")
            dz += tl.sum(fq * dd[:, None], axis=0)
    else:
        for t0 in range(0, m, BT):       # the full state S, z
            fk = _load_feat(K, kb, t0, m, f, f, FMAP, BT, BF)
            vt = _load_v(V, vb, t0, m, dv, v0, BT, BV)
            s += tl.dot(tl.trans(fk), vt, input_precision="ieee")
            z += tl.sum(fk, axis=0)
        for t0 in range(0, n, BT):       # dfq = dn Sᵀ + dd z;  dS, dz
            fq = _load_feat(Q, qb, t0, n, f, f, FMAP, BT, BF)
            dn, dd = _load_dn(DO, DEN, DD, bh, t0, n, dv, v0, eps, pv, NORMALIZE, BT, BV)
            dfq = tl.dot(dn, tl.trans(s), input_precision="ieee") + dd[:, None] * z[None, :]
            rows = t0 + ti
            tl.store(DFQ + pq + rows[:, None] * f + fi[None, :], dfq,
                     mask=(rows[:, None] < n) & (fi[None, :] < f))
            ds += tl.dot(tl.trans(fq), dn, input_precision="ieee")
            dz += tl.sum(fq * dd[:, None], axis=0)
        for t0 in range(0, m, BT):       # dfk = dS v + dz, dv = fk dS
            fk = _load_feat(K, kb, t0, m, f, f, FMAP, BT, BF)
            vt = _load_v(V, vb, t0, m, dv, v0, BT, BV)
            dfk = tl.dot(vt, tl.trans(ds), input_precision="ieee") + dz[None, :]
            dvt = tl.dot(fk, ds, input_precision="ieee")
            rows = t0 + ti
            tl.store(DFK + pk + rows[:, None] * f + fi[None, :], dfk,
                     mask=(rows[:, None] < m) & (fi[None, :] < f))
            tl.store(DV_ + vb + rows[:, None] * dv + vi[None, :], dvt.to(DV_.dtype.element_ty),
                     mask=(rows[:, None] < m) & (vi[None, :] < dv))
    tl.store(DS0 + bh * f * dv + fi[:, None] * dv + vi[None, :], ds, mask=smask)
    if first:
        tl.store(DZ0 + bh * f + fi, dz, mask=fi < f)


def _blocks(f: int, dv: int, chunk: int) -> tuple[int, int, int]:
    bt = min(64, max(16, triton.next_power_of_2(chunk)))   # any chunk gives the same result; 16..64 fit
    return bt, max(16, triton.next_power_of_2(f)), max(16, min(64, triton.next_power_of_2(dv)))


def _dphi(x: torch.Tensor, fmap: str) -> torch.Tensor:
    if fmap == "elu":
        return torch.where(x > 0, torch.ones((), dtype=x.dtype, device=x.device), torch.exp(x.clamp_max(0)))
    if fmap == "relu":
        return (x > 0).to(x.dtype)
    return None


class _LinearAttn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, s0, z0, fmap, causal, normalize, chunk, eps):
        b, h, n, f = q.shape
        m, dv = k.shape[2], v.shape[3]
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        bt, bf, bv = _blocks(f, dv, chunk)
        nv = triton.cdiv(dv, bv)
        o = torch.empty(b, h, n, dv, device=q.device, dtype=q.dtype)
        den = torch.empty(b, h, n, device=q.device, dtype=torch.float32)
        sf = torch.empty(b, h, f, dv, device=q.device, dtype=torch.float32)
        zf = torch.empty(b, h, f, device=q.device, dtype=torch.float32)
        has_s0 = s0 is not None
        s0c = s0.contiguous() if has_s0 else sf
        z0c = z0.contiguous() if has_s0 else zf
        _fwd_kernel[(nv, b * h)](q, k, v, o, den, s0c, z0c, sf, zf, n, m, f, dv, float(eps),
                                 FMAP=_FMAP[fmap], CAUSAL=causal, NORMALIZE=normalize, HAS_S0=has_s0,
                                 STORE_SF=True, BT=bt, BF=bf, BV=bv)
        ctx.save_for_backward(q, k, v, o, den, s0c if has_s0 else None, z0c if has_s0 else None)
        ctx.cfg = (fmap, causal, normalize, chunk, float(eps), has_s0)
        ctx.mark_non_differentiable(den)
        return o, sf.to(q.dtype), zf.to(q.dtype)

    @staticmethod
    def backward(ctx, do, dsf, dzf):
        q, k, v, o, den, s0, z0 = ctx.saved_tensors
        fmap, causal, normalize, chunk, eps, has_s0 = ctx.cfg
        b, h, n, f = q.shape
        m, dv = k.shape[2], v.shape[3]
        bt, bf, bv = _blocks(f, dv, chunk)
        nv = triton.cdiv(dv, bv)
        do = do.contiguous()
        dd = (-(do.float() * o.float()).sum(-1) / safe_denominator(den, eps)).contiguous() if normalize else den
        has_dsf = dsf is not None or dzf is not None
        dsf = (torch.zeros(b, h, f, dv, device=q.device) if dsf is None else dsf.float()).contiguous()
        dzf = (torch.zeros(b, h, f, device=q.device) if dzf is None else dzf.float()).contiguous()
        dfq = torch.empty(nv, b, h, n, f, device=q.device, dtype=torch.float32)
        dfk = torch.empty(nv, b, h, m, f, device=q.device, dtype=torch.float32)
        dvv = torch.empty_like(v)
        ds0 = torch.empty(b, h, f, dv, device=q.device, dtype=torch.float32)
        dz0 = torch.empty(b, h, f, device=q.device, dtype=torch.float32)
        _bwd_kernel[(nv, b * h)](q, k, v, do, den, dd, s0 if has_s0 else ds0, z0 if has_s0 else dz0, dsf, dzf,
                                 dfq, dfk, dvv, ds0, dz0, n, m, f, dv, eps, FMAP=_FMAP[fmap], CAUSAL=causal,
                                 NORMALIZE=normalize, HAS_S0=has_s0, HAS_DSF=has_dsf, BT=bt, BF=bf, BV=bv)
        dq, dk = dfq.sum(0), dfk.sum(0)
        gq, gk = _dphi(q, fmap), _dphi(k, fmap)
        if gq is not None:
            dq, dk = dq * gq, dk * gk
        ds0_, dz0_ = (ds0.to(q.dtype), dz0.to(q.dtype)) if has_s0 else (None, None)
        return dq.to(q.dtype), dk.to(k.dtype), dvv, ds0_, dz0_, None, None, None, None, None


def _run(q, k, v, fmap, causal, normalize, chunk_size, initial_state, output_final_state, eps):
    s0, z0 = (None, None) if initial_state is None else initial_state
    o, sf, zf = _LinearAttn.apply(q, k, v, s0, z0, fmap, causal, normalize, chunk_size, eps)
    return (o, (sf, zf)) if output_final_state else o


def linear(q, k, v, *, feature_map: str = "elu", causal: bool = False, mode: str = "chunk", chunk_size: int = 64,
           initial_state=None, output_final_state: bool = False, normalize: bool = True, eps: float = 1e-6,
           block_size: int = 1):
    """Fused Triton linear attention (same contract as the reference; token-causal only, see ``supports_linear``)."""
    _lin.check_inputs(q, k, v, feature_map, causal, mode, chunk_size, initial_state, eps, block_size)
    _token_causal(block_size)
    return _run(q, k, v, feature_map, causal, normalize, chunk_size, initial_state, output_final_state, eps)


def nala(q, k, v, *, causal: bool = False, max_power: float = 3.0, norm_scale: float | None = None,
         mode: str = "chunk", chunk_size: int = 64, initial_state=None, output_final_state: bool = False,
         eps: float = 1e-6, block_size: int = 1):
    """NaLa: PyTorch feature maps (autograd) into the fused Triton kernels (same contract as the reference)."""
    _nala.check_inputs(q, k, v, causal, mode, chunk_size, initial_state, max_power, norm_scale, eps, block_size)
    _token_causal(block_size)
    fq, fk = _nala.query_features(q, max_power, norm_scale), _nala.key_features(k)
    return _run(fq, fk, v, "identity", causal, True, chunk_size, initial_state, output_final_state, eps)


def _token_causal(block_size: int) -> None:
    if block_size != 1:
        raise ValueError(f"the Triton kernels mask token by token: block_size={block_size} (blockwise-causal) runs in "
                         "the reference (backend='reference')")


def _supports(q, k, v, f, mode, initial_state, block_size=1):
    if block_size != 1:
        return False, f"block_size={block_size} (blockwise-causal runs in the reference)"
    ok, why = triton_supports(q, k, v, *(initial_state or ()))
    if not ok:
        return ok, why
    if mode != "chunk":
        return False, f"mode={mode!r} (the Triton kernels implement the chunked causal and the non-causal paths)"
    if q.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        return False, f"dtype {q.dtype} (float32, float16 or bfloat16 only)"
    if f > MAX_F or v.shape[-1] > 4096:
        return False, f"feature dimension {f} > {MAX_F} (the state must fit one program)"
    return True, "ok"


def supports_linear(q, k, v, *, mode: str = "chunk", initial_state=None, block_size: int = 1, **kw):
    return _supports(q, k, v, q.shape[-1], mode, initial_state, block_size)


def supports_nala(q, k, v, *, mode: str = "chunk", initial_state=None, block_size: int = 1, **kw):
    return _supports(q, k, v, 2 * q.shape[-1], mode, initial_state, block_size)
