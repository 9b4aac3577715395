"""``linear_attention.angular`` -- ShiftAddViT's linear angular attention on binarised queries and keys (reference).

ShiftAddViT (You et al. 2023, arXiv 2306.06446), after Castling-ViT. Queries and keys are normalised and, with
``binary=True`` (default), binarised to u(x) = sgn(x)/√D (sgn(0) = +1; straight-through gradient of x/‖x‖), so
u(q)·u(k) = 1 − 2·Ham(sgn q, sgn k)/D is the cosine in Hamming space and the products reduce to additions. The
angular similarity 1 − θ/π (θ the angle between q and k) is linearised at its first order,

    sim(q, k) = 1/2 + u(q)·u(k)/π            ∈ [1/2 − 1/π, 1/2 + 1/π], always > 0,
    o_i = Σ_j sim(q_i, k_j) v_j / (Σ_j sim(q_i, k_j) + eps)                    (causal: j ≤ i)

which is linear attention with features φ_q = [u(q)/π, 1/2], φ_k = [u(k), 1] (F = D + 1). ``binary=False`` uses
the unit vectors u(x) = x/‖x‖ themselves. (The released ShiftAddViT code adds 0.5·v_i, the token's own value, and
L2-normalises the output instead of dividing by Σ_j sim; this operator keeps the normalised kernel form.)
"""

from __future__ import annotations

import math

import torch

from ._core import attend, check_options, check_qkv, check_state


def unit_codes(x: torch.Tensor, binary: bool = True) -> torch.Tensor:
    """u(x) = sgn(x)/√D (straight-through gradient of x/‖x‖) or x/‖x‖."""
    unit = x / (torch.linalg.vector_norm(x, dim=-1, keepdim=True) + torch.finfo(x.dtype).tiny)
    if not binary:
        return unit
    code = torch.where(x >= 0, 1.0, -1.0).to(x.dtype) / math.sqrt(x.shape[-1])
    return unit + (code - unit).detach()


def check_inputs(q, k, v, causal, mode, chunk_size, initial_state, eps, block_size: int = 1) -> None:
    op = "linear_attention.angular"
    check_qkv(op, q, k, v)
    check_options(op, causal=causal, mode=mode, chunk_size=chunk_size, n=q.shape[2], m=k.shape[2], eps=eps,
                  block_size=block_size)
    check_state(op, initial_state, q.shape[0], q.shape[1], q.shape[3] + 1, v.shape[3], q)


def angular(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False, binary: bool = True,
            mode: str = "chunk", chunk_size: int = 64, initial_state=None, output_final_state: bool = False,
            eps: float = 1e-6, block_size: int = 1):
    """Linear angular attention ``sim = 1/2 + u(q)·u(k)/π`` (see the module docstring)."""
    check_inputs(q, k, v, causal, mode, chunk_size, initial_state, eps, block_size)
    uq, uk = unit_codes(q, binary), unit_codes(k, binary)
    fq = torch.cat([uq / math.pi, torch.full_like(uq[..., :1], 0.5)], -1)
    fk = torch.cat([uk, torch.ones_like(uk[..., :1])], -1)
    return attend(fq, fk, v, causal=causal, mode=mode, chunk_size=chunk_size, initial_state=initial_state,
                  output_final_state=output_final_state, eps=eps, block_size=block_size)
