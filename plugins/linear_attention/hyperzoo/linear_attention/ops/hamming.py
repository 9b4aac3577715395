"""``linear_attention.hamming`` -- EcoFormer's attention as a product of binary codes (reference).

EcoFormer (Liu et al. 2022, arXiv 2209.09004). Queries and keys are hashed to b-bit codes h ∈ {−1, +1}^b (see
``hyperzoo.linear_attention.hashing.KernelHash``); for such codes the inner product counts agreements,

    hᵀh′ = b − 2·Ham(h, h′)        exactly,

so a similarity that decreases with the Hamming distance is linear in the codes and attention costs O(N·b·Dv).
Two self terms (``self_term``):

- ``"sum"`` (default, the kernel form): sim(h, h′) = hᵀh′ + b + 1 = 2(b − Ham) + 1 ≥ 1 for every pair, and

      o_i = Σ_j sim(h_i, h′_j) v_j / (Σ_j sim(h_i, h′_j) + eps)

  a proper attention: weights positive, each row sums to 1. In feature form φ_q = [h, b + 1], φ_k = [h′, 1].
- ``"value"`` (the released EcoFormer code): the constant b + 1 is added to the denominator for every key but to the
  numerator only with the token's own value,

      o_i = (Σ_j (h_iᵀh′_j) v_j + (b + 1) v_i) / (Σ_j h_iᵀh′_j + (b + 1)·n_i + eps)

  with n_i the number of keys attended (M, or i + 1 causally, plus those carried by ``initial_state``). The
  denominator is ≥ n_i > 0, but the weights of a row do not sum to 1. Needs as many queries as keys.

The default is ``"sum"`` because it is the attention the paper's kernel defines (positive weights summing to 1,
the same operator causally and non-causally); ``"value"`` reproduces the released model. State: F = b + 1 (the last
feature counts tokens). Same causal forms and options as ``linear_attention.linear``.
"""

from __future__ import annotations

import torch

from ._core import attend, check_options, check_qkv, check_state

SELF_TERMS = ("sum", "value")


def check_codes(op: str, name: str, h: torch.Tensor) -> None:
    if h.numel() and not bool((h.detach().abs() == 1).all()):
        bad = h.detach()[h.detach().abs() != 1].flatten()[:3].tolist()
        raise ValueError(f"{op}: {name} must hold binary codes in {{-1, +1}} (e.g. torch.sign of a hash "
                         f"projection, or KernelHash(...)(x)); found values such as {bad}")


def check_inputs(hq, hk, v, causal, mode, chunk_size, initial_state, self_term, eps, block_size: int = 1) -> None:
    op = "linear_attention.hamming"
    check_qkv(op, hq, hk, v)
    check_codes(op, "hq", hq)
    check_codes(op, "hk", hk)
    if self_term not in SELF_TERMS:
        raise ValueError(f"{op}: self_term must be one of {SELF_TERMS}, got {self_term!r}")
    if self_term == "value" and hq.shape[2] != hk.shape[2]:
        raise ValueError(f"{op}: self_term='value' adds each token's own value, so it needs as many queries as "
                         f"keys; got {hq.shape[2]} and {hk.shape[2]} (use self_term='sum')")
    check_options(op, causal=causal, mode=mode, chunk_size=chunk_size, n=hq.shape[2], m=hk.shape[2], eps=eps,
                  block_size=block_size)
    check_state(op, initial_state, hq.shape[0], hq.shape[1], hq.shape[3] + 1, v.shape[3], hq)


def hamming(hq: torch.Tensor, hk: torch.Tensor, v: torch.Tensor, *, causal: bool = False, self_term: str = "sum",
            mode: str = "chunk", chunk_size: int = 64, initial_state=None, output_final_state: bool = False,
            eps: float = 1e-6, block_size: int = 1):
    """Attention on b-bit codes ``hq``, ``hk`` (B, H, N, b) in {−1, +1}; see the module docstring."""
    check_inputs(hq, hk, v, causal, mode, chunk_size, initial_state, self_term, eps, block_size)
    b = hq.shape[-1]
    one = hk.new_ones(hk.shape[:-1] + (1,))
    fk = torch.cat([hk, one], -1)
    kw = dict(causal=causal, mode=mode, chunk_size=chunk_size, initial_state=initial_state, block_size=block_size)
    fq = torch.cat([hq, torch.full_like(hq[..., :1], b + 1.0)], -1)
    if self_term == "sum":
        return attend(fq, fk, v, output_final_state=output_final_state, eps=eps, **kw)
    fq_num = torch.cat([hq, torch.zeros_like(hq[..., :1])], -1)
    num = attend(fq_num, fk, v, output_final_state=output_final_state, normalize=False, **kw)
    num, state = num if output_final_state else (num, None)
    s0 = None if initial_state is None else (initial_state[1].unsqueeze(-1), initial_state[1])
    den = attend(fq, fk, one, causal=causal, mode=mode, chunk_size=chunk_size, initial_state=s0, normalize=False,
                 block_size=block_size)
    o = (num + (b + 1.0) * v) / (den + eps)
    return (o, state) if output_final_state else o
