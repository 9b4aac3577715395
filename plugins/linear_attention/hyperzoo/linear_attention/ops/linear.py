"""``linear_attention.linear`` -- kernelized linear attention with a pluggable feature map (reference).

Katharopoulos et al. 2020, "Transformers are RNNs". With a non-negative feature map φ applied row-wise to the queries
and keys (layout ``(B, H, N, D)``):

    o_i = φ(q_i)ᵀ Σ_j φ(k_j) v_jᵀ / (φ(q_i)ᵀ Σ_j φ(k_j) + eps)          non-causal: φ(Q)(φ(K)ᵀV), O(N·D·Dv)
    o_i = φ(q_i)ᵀ S_i / (φ(q_i)ᵀ z_i + eps),  S_i = S_0 + Σ_{j≤i} φ(k_j) v_jᵀ,  z_i = z_0 + Σ_{j≤i} φ(k_j)   causal

Feature maps: ``"elu"`` φ(x) = elu(x) + 1 (the paper's), ``"relu"`` φ(x) = max(x, 0), ``"identity"`` φ(x) = x (use
with ``normalize=False``: the denominator of an identity map can vanish). Causal attention runs in the chunked form
(``mode="chunk"``, default), the recurrent form (``mode="recurrent"``, decoding) or the written-out masked quadratic
form (``mode="quadratic"``); all are equal. ``block_size=b`` (with ``causal=True``) makes it blockwise-causal: a
query sees every key of its own block of b tokens and of the blocks before (bidirectional within a block).
``initial_state=(S0, z0)`` continues from earlier tokens and ``output_final_state=True`` returns ``(o, (S, z))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._core import attend, check_options, check_qkv, check_state
from ._fast import EluPlusOne

FEATURE_MAPS = ("elu", "relu", "identity")


def apply_feature_map(x: torch.Tensor, name: str) -> torch.Tensor:
    """φ(x) for one of :data:`FEATURE_MAPS`."""
    if name == "elu":
        return EluPlusOne.apply(x)
    if name == "relu":
        return F.relu(x)
    if name == "identity":
        return x
    raise ValueError(f"linear_attention.linear: feature_map must be one of {FEATURE_MAPS}, got {name!r}")


def check_inputs(q, k, v, feature_map: str, causal: bool, mode: str, chunk_size: int, initial_state, eps,
                 block_size: int = 1) -> None:
    op = "linear_attention.linear"
    check_qkv(op, q, k, v)
    if feature_map not in FEATURE_MAPS:
        raise ValueError(f"{op}: feature_map must be one of {FEATURE_MAPS}, got {feature_map!r}")
    check_options(op, causal=causal, mode=mode, chunk_size=chunk_size, n=q.shape[2], m=k.shape[2], eps=eps,
                  block_size=block_size)
    check_state(op, initial_state, q.shape[0], q.shape[1], q.shape[3], v.shape[3], q)


def linear(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, feature_map: str = "elu", causal: bool = False,
           mode: str = "chunk", chunk_size: int = 64, initial_state=None, output_final_state: bool = False,
           normalize: bool = True, eps: float = 1e-6, block_size: int = 1):
    """Linear attention ``o = φ(Q)(φ(K)ᵀV) / (φ(Q)φ(K)ᵀ1)`` (causal: prefix sums); see the module docstring."""
    check_inputs(q, k, v, feature_map, causal, mode, chunk_size, initial_state, eps, block_size)
    fq, fk = apply_feature_map(q, feature_map), apply_feature_map(k, feature_map)
    return attend(fq, fk, v, causal=causal, mode=mode, chunk_size=chunk_size, initial_state=initial_state,
                  output_final_state=output_final_state, normalize=normalize, eps=eps, block_size=block_size)
