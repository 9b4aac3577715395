"""``linear_attention.nala`` -- NaLa, norm-aware linear attention (reference).

NaLaFormer (Meng et al. 2025, arXiv 2506.21137). Each query and key row is split into its norm and its direction,
x = ‖x‖·x̂. What this operator computes (layout ``(B, H, N, D)``):

    query power      p(q) = 1 + (p_max − 1)·tanh(‖q‖ / s)                     (s = ``norm_scale``, default √D)
    query map        u(q) = [ (x̂⁺)^p(q) ; (x̂⁻)^p(q) ] with x̂ = q/‖q‖,  x⁺ = max(x, 0), x⁻ = max(−x, 0)
                     φ_q(q) = ‖q‖ · u(q) / ‖u(q)‖                                (norm-preserving: ‖φ_q(q)‖ = ‖q‖)
    key map          φ_k(k) = [ k⁺ ; k⁻ ]                                        (norm-preserving: ‖φ_k(k)‖ = ‖k‖)
    attention        o_i = Σ_j (φ_q(q_i)·φ_k(k_j)) v_j / (Σ_j φ_q(q_i)·φ_k(k_j) + eps)   (causal: j ≤ i)

Both maps are non-negative and keep both signs (the positive and negative parts are concatenated, so the feature
dimension is 2D). The similarity is φ_q·φ_k = ‖q‖‖k‖·cos(u(q), [k̂⁺; k̂⁻]): only coordinates where q and k have the
same sign contribute, so opposite directions are suppressed to zero (the cosine inhibition), and no coordinate is
thrown away as ReLU/elu maps do. The power grows with the query norm: a long query sharpens its direction
(p → p_max), which lowers the entropy of its attention row as the norm of a softmax query does; a short query
(p → 1) gives the plain norm-preserving map. The query norm itself cancels in the row normalisation; it acts only
through p(q), and p saturates at p_max for ‖q‖ ≫ s.

Reading of the paper: the equations above are this project's reading of the paper's norm×direction
decomposition, query-norm-aware power kernel and sign-split norm-preserving map (the exact form of the power
function and the key-side map could not be read; see docs/plugins/linear_attention.md). Same causal forms,
states and options (``block_size``: blockwise-causal) as ``linear_attention.linear``; the state has feature
dimension 2D.
"""

from __future__ import annotations

import math

import torch

from ._core import attend, check_options, check_qkv, check_state
from ._fast import NaLaQuery, SignSplit


def _pos_pow(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """max(x, 0)^p, with finite gradients in x and p at x = 0 (x^p = e^{p log x} for x > 0, else 0)."""
    pos = x > 0
    tiny = torch.finfo(x.dtype).tiny
    return torch.where(pos, torch.exp(p * torch.log(x.clamp_min(tiny))), torch.zeros((), dtype=x.dtype))


def query_power(q: torch.Tensor, max_power: float = 3.0, norm_scale: float | None = None) -> torch.Tensor:
    """p(q) = 1 + (p_max − 1) tanh(‖q‖ / s), shape ``(..., 1)``."""
    s = math.sqrt(q.shape[-1]) if norm_scale is None else norm_scale
    r = torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    return 1.0 + (max_power - 1.0) * torch.tanh(r / s)


def query_features(q: torch.Tensor, max_power: float = 3.0, norm_scale: float | None = None) -> torch.Tensor:
    """φ_q(q) = ‖q‖ · u / ‖u‖ with u = [(q̂⁺)^p ; (q̂⁻)^p], shape ``(..., 2D)`` (hand-written backward)."""
    s = math.sqrt(q.shape[-1]) if norm_scale is None else norm_scale
    return NaLaQuery.apply(q, float(max_power), float(s))


def query_features_autograd(q: torch.Tensor, max_power: float = 3.0, norm_scale: float | None = None) -> torch.Tensor:
    """:func:`query_features` by plain autograd (the check for the hand-written backward)."""
    tiny = torch.finfo(q.dtype).tiny
    r = torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    d = q / (r + tiny)
    p = query_power(q, max_power, norm_scale)
    u = torch.cat([_pos_pow(d, p), _pos_pow(-d, p)], dim=-1)
    return u * (r / (torch.linalg.vector_norm(u, dim=-1, keepdim=True) + tiny))


def key_features(k: torch.Tensor) -> torch.Tensor:
    """φ_k(k) = [k⁺ ; k⁻], shape ``(..., 2D)``."""
    return SignSplit.apply(k)


def attention_weights(q: torch.Tensor, k: torch.Tensor, *, causal: bool = False, max_power: float = 3.0,
                      norm_scale: float | None = None, eps: float = 0.0) -> torch.Tensor:
    """The explicit (B, H, N, M) NaLa attention matrix (rows sum to 1 up to ``eps``); for tests and inspection."""
    a = query_features(q, max_power, norm_scale) @ key_features(k).transpose(-1, -2)
    if causal:
        a = a.masked_fill(~torch.ones(a.shape[-2:], dtype=torch.bool, device=a.device).tril(), 0.0)
    return a / (a.sum(-1, keepdim=True) + eps)


def check_inputs(q, k, v, causal, mode, chunk_size, initial_state, max_power, norm_scale, eps,
                 block_size: int = 1) -> None:
    op = "linear_attention.nala"
    check_qkv(op, q, k, v)
    check_options(op, causal=causal, mode=mode, chunk_size=chunk_size, n=q.shape[2], m=k.shape[2], eps=eps,
                  block_size=block_size)
    if not max_power >= 1:
        raise ValueError(f"{op}: max_power must be >= 1 (p(q) ranges over [1, max_power]), got {max_power}")
    if norm_scale is not None and not norm_scale > 0:
        raise ValueError(f"{op}: norm_scale must be > 0 (or None for √D), got {norm_scale}")
    check_state(op, initial_state, q.shape[0], q.shape[1], 2 * q.shape[3], v.shape[3], q)


def nala(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False, max_power: float = 3.0,
         norm_scale: float | None = None, mode: str = "chunk", chunk_size: int = 64, initial_state=None,
         output_final_state: bool = False, eps: float = 1e-6, block_size: int = 1):
    """Norm-aware linear attention (see the module docstring); feature dimension 2D."""
    check_inputs(q, k, v, causal, mode, chunk_size, initial_state, max_power, norm_scale, eps, block_size)
    return attend(query_features(q, max_power, norm_scale), key_features(k), v, causal=causal, mode=mode,
                  chunk_size=chunk_size, initial_state=initial_state, output_final_state=output_final_state,
                  eps=eps, block_size=block_size)
