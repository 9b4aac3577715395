"""``linear_attention.favor`` -- Performer's FAVOR+: softmax attention by positive (orthogonal) random features.

Choromanski et al. 2021, "Rethinking Attention with Performers". The softmax kernel SM(x, y) = exp(xᵀy) is an
expectation over ω ~ N(0, I_D) of positive features,

    exp(xᵀy) = E_ω[ exp(ωᵀx − ‖x‖²/2) · exp(ωᵀy − ‖y‖²/2) ],    φ(x) = exp(Ωx − ‖x‖²/2) / √m,

with Ω (m, D) the stacked ω's (``projection``). FAVOR+ draws them orthogonal in blocks of D (QR of a Gaussian
matrix, rows rescaled to χ_D-distributed norms), which lowers the variance at equal m. With x̃ = x·scale^½
(``scale`` default D^-½, so x̃_qᵀx̃_k = qᵀk/√D):

    o_i = Σ_j φ(q̃_i)·φ(k̃_j) v_j / (Σ_j φ(q̃_i)·φ(k̃_j) + eps)        (causal: j ≤ i),   O(N·m·Dv)

an unbiased estimate of softmax attention's numerator and denominator. Each query row is stabilised by
subtracting its largest exponent (a per-query factor that cancels in the row normalisation); non-causal keys
without states are shifted by one constant per (batch, head) (causal outputs must not depend on later keys, and
states stay in absolute units so that they compose across calls). The error of φ(x)·φ(y) shrinks as m^-½.
Range: in absolute units (causal, or states in or out) a key's features exp(ωᵀk̃ − ‖k̃‖²/2) underflow to 0 once
‖k̃‖²/2 − ωᵀk̃ exceeds the dtype's exponent range (≈ 87 in float32, ≈ 708 in float64), i.e. for keys of norm
≳ 13 (float32) after the scale; such a key then carries no weight. Normalise keys (or use float64) there. With
``eps = 0``, a query whose weights on every key underflow (a subnormal denominator, e.g. ‖q‖ ≈ 200 against a lone
dissimilar key in float32) gets a non-finite gradient (do/den overflows before it is multiplied back by the tiny
weights); keep ``eps > 0`` (the default 1e-6 bounds 1/den).
"""

from __future__ import annotations

import math

import torch

from ._core import attend, check_options, check_qkv, check_state


def gaussian_projection(num_features: int, dim: int, *, orthogonal: bool = True,
                        generator: torch.Generator | None = None, dtype=torch.float32, device=None) -> torch.Tensor:
    """Ω (num_features, dim): i.i.d. N(0, 1) rows, or orthogonal blocks of ``dim`` rows with χ_dim norms."""
    if num_features < 1 or dim < 1:
        raise ValueError(f"gaussian_projection: num_features and dim must be >= 1, got {num_features}, {dim}")
    kw = dict(generator=generator, dtype=torch.float64)
    if not orthogonal:
        return torch.randn(num_features, dim, **kw).to(dtype=dtype, device=device)
    blocks = []
    for _ in range(math.ceil(num_features / dim)):
        qmat, r = torch.linalg.qr(torch.randn(dim, dim, **kw))
        qmat = qmat * torch.sign(torch.diagonal(r)).unsqueeze(0)   # Haar-distributed orthogonal matrix
        blocks.append(qmat.T)
    omega = torch.cat(blocks)[:num_features]
    norms = torch.linalg.vector_norm(torch.randn(num_features, dim, **kw), dim=-1, keepdim=True)
    return (omega * norms).to(dtype=dtype, device=device)


def positive_features(x: torch.Tensor, projection: torch.Tensor, *, stabilize: str | None = None) -> torch.Tensor:
    """φ(x) = exp(Ωx − ‖x‖²/2)/√m. ``stabilize="row"`` subtracts each row's max exponent, ``"all"`` the max over
    the last two dimensions (tokens and features); both are constant factors that cancel in attention's ratio."""
    wx = x @ projection.transpose(-1, -2).to(x.dtype)
    expo = wx - 0.5 * (x * x).sum(-1, keepdim=True)
    if stabilize == "row":
        expo = expo - expo.amax(-1, keepdim=True).detach()
    elif stabilize == "all":
        expo = expo - expo.amax((-1, -2), keepdim=True).detach()
    return torch.exp(expo) / math.sqrt(projection.shape[0])


def check_inputs(q, k, v, projection, causal, mode, chunk_size, initial_state, eps, block_size: int = 1) -> None:
    op = "linear_attention.favor"
    check_qkv(op, q, k, v)
    if not isinstance(projection, torch.Tensor) or projection.dim() != 2 or projection.shape[1] != q.shape[3]:
        raise ValueError(f"{op}: projection must be a (num_features, D) = (m, {q.shape[3]}) tensor, e.g. "
                         f"gaussian_projection(m, {q.shape[3]}); got "
                         f"{tuple(projection.shape) if isinstance(projection, torch.Tensor) else type(projection)}")
    check_options(op, causal=causal, mode=mode, chunk_size=chunk_size, n=q.shape[2], m=k.shape[2], eps=eps,
                  block_size=block_size)
    check_state(op, initial_state, q.shape[0], q.shape[1], projection.shape[0], v.shape[3], q)


def favor(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, projection: torch.Tensor, *, causal: bool = False,
          scale: float | None = None, mode: str = "chunk", chunk_size: int = 64, initial_state=None,
          output_final_state: bool = False, eps: float = 1e-6, block_size: int = 1):
    """FAVOR+ attention with random features ``projection`` (m, D); see the module docstring."""
    check_inputs(q, k, v, projection, causal, mode, chunk_size, initial_state, eps, block_size)
    s = math.sqrt(q.shape[-1] ** -0.5 if scale is None else scale)
    fq = positive_features(q * s, projection, stabilize="row")
    # keys: one shift per (batch, head) keeps large-norm keys from underflowing; it cancels in the ratio, but a
    # state must stay in absolute units to compose across calls, and a causal output must not depend on later
    # keys (through eps), so no shift when causal or when states go in or out
    plain = causal or initial_state is not None or output_final_state
    fk = positive_features(k * s, projection, stabilize=None if plain else "all")
    return attend(fq, fk, v, causal=causal, mode=mode, chunk_size=chunk_size, initial_state=initial_state,
                  output_final_state=output_final_state, eps=eps, block_size=block_size)
