"""The engine shared by every linear-attention operator: input checks and the three equal forms.

Given non-negative features ``fq = φ(Q)`` of shape ``(B, H, N, F)``, ``fk = φ(K)`` of shape ``(B, H, M, F)`` and values
``V`` of shape ``(B, H, M, Dv)``, kernelized attention is

    o_i = Σ_j (fq_i·fk_j) v_j / (Σ_j fq_i·fk_j + eps)          (non-causal, j over all M keys)
    o_i = Σ_{j≤i} (fq_i·fk_j) v_j / (Σ_{j≤i} fq_i·fk_j + eps)  (causal, N = M)

and, with ``block_size=b > 1``, blockwise-causal: j runs over every key whose block ⌊j/b⌋ is at most the query's
⌊i/b⌋ (bidirectional within a block, causal between blocks; fla#411); b = 1 is token-causal.

with an optional initial state ``(S0, z0)`` (``S0`` ``(B, H, F, Dv)``, ``z0`` ``(B, H, F)``) standing for the keys seen
before: it adds ``fq_i S0`` to the numerator and ``fq_i·z0`` to the denominator. The final state is
``S = S0 + Σ_j fk_jᵀ v_j``, ``z = z0 + Σ_j fk_j``. Three forms compute the same thing:

- ``quadratic``: the masked N×M matrix written out (the oracle; O(N²)).
- ``chunk``: causal in chunks of C tokens: matmuls within a chunk (a C×C masked block), a running state between
  chunks (exclusive prefix sum of the chunk states); non-causal is the associative φ(Q)(φ(K)ᵀV). O(N·C·F + N·F·Dv).
- ``recurrent``: one token at a time, S ← S + fk_tᵀ v_t (decoding). O(N·F·Dv), sequential. Blockwise-causal: one
  block at a time (its outputs once the whole block is in the state).

``normalize=False`` drops the denominator (o_i = numerator), as linear attention with an identity map usually does.
A row whose denominator is below the smallest normal float32 (float64: its own) is weightless: it outputs 0 and
passes no gradient (with ``eps = 0`` a row of underflowed features would otherwise give 0/0, or a 1/d that
overflows in the backward).
The chunked and non-causal forms run with hand-derived backward passes (``_fast.py``); the quadratic and recurrent
forms are plain autograd.
"""

from __future__ import annotations

import math

import torch

MODES = ("chunk", "recurrent", "quadratic")


def check_qkv(op: str, q, k, v, *, same_dim: bool = True) -> None:
    """Shapes ``(B, H, N, D)``; clear errors naming the argument and the expected shape."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{op}: {name} must be a torch.Tensor of shape (B, H, N, D), got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{op}: {name} must be a floating-point tensor, got {t.dtype}")
        if t.dim() != 4:
            raise ValueError(f"{op}: {name} must have shape (B, H, N, D) (batch, heads, tokens, head dim), "
                             f"got {t.dim()}-D shape {tuple(t.shape)}; reshape (B, N, H*D) inputs with "
                             f"x.view(B, N, H, D).transpose(1, 2)")
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(f"{op}: q, k and v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not q.device == k.device == v.device:
        raise ValueError(f"{op}: q, k and v must be on one device, got {q.device}, {k.device}, {v.device}")
    if q.shape[:2] != k.shape[:2] or k.shape[:2] != v.shape[:2]:
        raise ValueError(f"{op}: q, k and v must share batch and heads (B, H): got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)} (mismatched heads?)")
    if k.shape[2] != v.shape[2]:
        raise ValueError(f"{op}: k and v must have the same number of tokens: k has {k.shape[2]}, v has {v.shape[2]}")
    if same_dim and q.shape[3] != k.shape[3]:
        raise ValueError(f"{op}: q and k must have the same head dim D: q {tuple(q.shape)} vs k {tuple(k.shape)}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        # one reduction pass: a NaN or inf anywhere makes the sum non-finite (a finite overflow re-checks exactly)
        if t.numel() and not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{op}: {name} contains NaN or infinite values; check the layer producing it "
                             f"(e.g. a diverged training step or an uninitialised buffer)")


def check_options(op: str, *, causal: bool, mode: str, chunk_size: int, n: int, m: int, eps: float,
                  block_size: int = 1) -> None:
    if mode not in MODES:
        raise ValueError(f"{op}: mode must be one of {MODES}, got {mode!r}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"{op}: chunk_size must be a positive int, got {chunk_size!r}")
    if not isinstance(block_size, int) or isinstance(block_size, bool) or block_size < 1:
        raise ValueError(f"{op}: block_size must be a positive int (1: token-causal), got {block_size!r}")
    if block_size > 1 and not causal:
        raise ValueError(f"{op}: block_size={block_size} is blockwise-causal attention: pass causal=True (non-causal "
                         "attention already sees every key)")
    if causal and n != m:
        raise ValueError(f"{op}: causal attention needs as many queries as keys, got {n} queries and {m} keys")
    if not eps >= 0:
        raise ValueError(f"{op}: eps must be >= 0, got {eps}")


def check_state(op: str, state, b: int, h: int, f: int, dv: int, like: torch.Tensor) -> None:
    if state is None:
        return
    if not (isinstance(state, (tuple, list)) and len(state) == 2):
        raise TypeError(f"{op}: initial_state must be a pair (S, z) with S (B, H, F, Dv) = ({b}, {h}, {f}, {dv}) "
                        f"and z (B, H, F) = ({b}, {h}, {f}), as returned with output_final_state=True")
    s, z = state
    if tuple(s.shape) != (b, h, f, dv) or tuple(z.shape) != (b, h, f):
        raise ValueError(f"{op}: initial_state must be (S, z) with S of shape {(b, h, f, dv)} and z of shape "
                         f"{(b, h, f)} (F = feature dimension of this operator), got S {tuple(s.shape)}, "
                         f"z {tuple(z.shape)}")
    if s.dtype != like.dtype or z.dtype != like.dtype:
        raise TypeError(f"{op}: initial_state must have the inputs' dtype {like.dtype}, got {s.dtype}, {z.dtype}")


def safe_denominator(den: torch.Tensor, eps: float) -> torch.Tensor:
    """d = den + eps, with +inf where d is below the smallest normal float32 (float64: its own): such a row has no
    weight (or its features underflowed), so it outputs 0 and passes no gradient instead of 0/0, or a 1/d that
    overflows in the backward."""
    d = den + eps
    tiny = torch.finfo(torch.float64 if d.dtype == torch.float64 else torch.float32).tiny
    return d.masked_fill(d < tiny, math.inf)


def _finish(num, den, normalize: bool, eps: float):
    if not normalize:
        return num
    return num / safe_denominator(den, eps).unsqueeze(-1)


def attend(fq: torch.Tensor, fk: torch.Tensor, v: torch.Tensor, *, causal: bool = False, mode: str = "chunk",
           chunk_size: int = 64, initial_state=None, output_final_state: bool = False, normalize: bool = True,
           eps: float = 1e-6, block_size: int = 1):
    """Kernelized attention on given features (see the module docstring). Returns ``o`` or ``(o, (S, z))``."""
    s0, z0 = (None, None) if initial_state is None else initial_state
    if mode == "chunk":
        from ._fast import attend_fast

        o, s, z = attend_fast(fq, fk, v, causal=causal, chunk_size=chunk_size, initial_state=initial_state,
                              normalize=normalize, eps=eps, block_size=block_size)
        return (o, (s, z)) if output_final_state else o
    if mode == "quadratic":
        num, den = _quadratic(fq, fk, v, fq, causal, s0, z0, block_size)
    else:
        num, den = _recurrent(fq, fk, v, fq, causal, s0, z0, block_size)
    o = _finish(num, den, normalize, eps)
    if not output_final_state:
        return o
    s = fk.transpose(-1, -2) @ v
    z = fk.sum(-2)
    if s0 is not None:
        s, z = s + s0, z + z0
    return o, (s, z)


def _quadratic(fq, fk, v, fd, causal, s0, z0, block_size=1):
    a = fq @ fk.transpose(-1, -2)
    ad = a if fd is fq else fd @ fk.transpose(-1, -2)
    if causal:
        blocks = torch.arange(a.shape[-1], device=a.device) // block_size
        mask = blocks[None, :] <= blocks[:, None]                        # key block ≤ query block
        a, ad = a.masked_fill(~mask, 0.0), ad.masked_fill(~mask, 0.0)
    num, den = a @ v, ad.sum(-1)
    if s0 is not None:
        num = num + fq @ s0
        den = den + (fd @ z0.unsqueeze(-1)).squeeze(-1)
    return num, den


def _recurrent(fq, fk, v, fd, causal, s0, z0, block_size=1):
    b, h, n, f = fq.shape
    dv = v.shape[-1]
    s = fq.new_zeros(b, h, f, dv) if s0 is None else s0
    z = fq.new_zeros(b, h, f) if z0 is None else z0
    if not causal:
        for t in range(fk.shape[2]):
            s = s + fk[:, :, t, :, None] * v[:, :, t, None, :]
            z = z + fk[:, :, t]
        return fq @ s, (fd @ z.unsqueeze(-1)).squeeze(-1)
    nums, dens = [], []
    for start in range(0, n, block_size):                               # token-causal: blocks of one token
        for t in range(start, min(start + block_size, n)):
            s = s + fk[:, :, t, :, None] * v[:, :, t, None, :]
            z = z + fk[:, :, t]
        for t in range(start, min(start + block_size, n)):
            nums.append((fq[:, :, t, None, :] @ s).squeeze(-2))
            dens.append((fd[:, :, t] * z).sum(-1))
    return torch.stack(nums, 2), torch.stack(dens, 2)
