"""SLIM-KL: the GSMP kernel's weights learned by quantized consensus ADMM across agents on ``torch.distributed``.

Suwandi et al., "Sparsity-Aware Distributed Learning for Gaussian Processes with Linear Multiple Kernel"
(arXiv 2309.08201). J agents each hold a data shard (X_j, y_j) and never share it; the global objective is the sum
of the local GP negative log-likelihoods (a product of local experts) with a sparsity penalty,

    min_{h ≥ 0}  Σ_j F_j(h),   F_j(h) = ½ y_jᵀK_j(h)⁻¹y_j + ½ log det K_j(h) + λ Σ_q θ_q,
    K_j(h) = Σ_q θ_q K_{j,q} + s I,      h = (θ_1 … θ_Q, s),

written as the consensus problem min Σ_j F_j(h_j) s.t. h_j = z and solved by ADMM (a diagonal penalty ρ,
duals λ_j):

    h_j ← argmin_{h ≥ 0} F_j(h) + λ_jᵀ(h − z) + ½ Σ_q ρ_q (h_q − z_q)²     (local, by DSCA, below)
    ĥ_j = Q(h_j)                                                       (quantised message, the only thing sent)
    z   ← max(0, mean_j(ĥ_j + λ_j/ρ))                                  (every agent computes it from the messages)
    λ_j ← λ_j + ρ(ĥ_j − z)

The coordinates of h live on very different scales (the noise variance's curvature n/2s² is ~10⁶ on a clean
signal), so one scalar ρ stalls; ρ_q = ``rho`` · mean_j c_jq / z_q follows the curvature of F at z
(see :func:`consensus_admm`).

**Local step (DSCA).** log det K_j is concave in h, so it is replaced by its tangent at the current h_t
(c_q = tr(K_t⁻¹K_{j,q}) + 2λ, c_s = tr(K_t⁻¹)), and yᵀK⁻¹y by the variational majoriser Σ_q (h_t,q)² f_q / h_q
(f_q = αᵀK_{j,q}α, f_s = αᵀα, α = K_t⁻¹y, tight at h_t). The surrogate separates per coordinate,
a_q/h + b_q h + ρ/2 (h − v_q)² with a_q = ½h_t,q² f_q, b_q = ½c_q, v = z − w_j, whose minimiser over h > 0 is the
unique positive root of ρh³ + (b_q − ρv_q)h² − a_q = 0 (one sign change; found by bisection). Each step decreases the
local augmented objective, and h stays ≥ 0.

**Quantisation (``bits`` = b).** Each agent sends the change of its message since its last one, in the ADMM metric,
d = √ρ ∘ (h_j − ĥ_j^prev) (so a coordinate with a large penalty, one near 0 or the noise, gets a fine grid; every
rank knows ρ), as b-bit codes on the uniform grid over [min d, max d] with unbiased stochastic rounding, plus the
two float64 range ends: ⌈(Q+1)·b/8⌉ + 16 bytes instead of 8(Q+1). The receivers add the decoded change to the previous
message, so the quantisation error is at most (max d − min d)/((2^b − 1)√ρ_q) in coordinate q and shrinks as the
iterates settle (the
consensus reaches the unquantised solution). The codes are packed into uint8 and exchanged with ``all_gather``;
``bits=None`` sends float64. The byte counts in the result are the payloads each agent put on the wire.

Runs in one process without ``torch.distributed`` (a single agent), or under ``torchrun`` with one rank per agent:
the process group must be initialised by the caller (gloo on CPU). :func:`centralised_sca` minimises the same
objective over all shards in one process (the majorisation of ``sca_weights`` summed over shards), the reference the
consensus must reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

VALID_BITS = (1, 2, 4, 8)


@dataclass
class ConsensusResult:
    """``weights`` θ (Q,), ``noise`` s, the global objective Σ_j F_j after each iteration (``objective``), the primal
    residual ‖h_j − z‖ (max over agents) per iteration, and the payload bytes sent per agent and in total."""

    weights: torch.Tensor
    noise: float
    objective: list[float] = field(default_factory=list)
    primal_residual: list[float] = field(default_factory=list)
    bytes_per_agent: int = 0
    bytes_total: int = 0
    iterations: int = 0


def _check_shard(comps: torch.Tensor, y: torch.Tensor) -> None:
    if comps.dim() != 3 or comps.shape[1] != comps.shape[2]:
        raise ValueError(f"comps must be the (Q, n, n) GSMP components of the local shard; got {tuple(comps.shape)}")
    if y.dim() != 1 or y.shape[0] != comps.shape[1]:
        raise ValueError(f"y must be 1-D with n = {comps.shape[1]} entries (the shard size); got {tuple(y.shape)}")
    if not (torch.isfinite(comps).all() and torch.isfinite(y).all()):
        raise ValueError("comps and y must be finite (no NaN/inf); clean the shard first")


def local_objective(comps: torch.Tensor, y: torch.Tensor, h: torch.Tensor, sparsity: float) -> float:
    """F_j(h) = ½ yᵀK⁻¹y + ½ log det K + λ Σθ (without the constant n/2 log 2π)."""
    n = y.shape[0]
    k = torch.einsum("q,qij->ij", h[:-1], comps) + h[-1] * torch.eye(n, dtype=y.dtype, device=y.device)
    chol = torch.linalg.cholesky(k)
    a = torch.cholesky_solve(y[:, None], chol)[:, 0]
    return float(0.5 * y @ a + torch.log(torch.diagonal(chol)).sum() + sparsity * h[:-1].sum())


def _moments(comps: torch.Tensor, y: torch.Tensor, h: torch.Tensor, sparsity: float):
    """(f, c): the data fits f_q = αᵀK_qα, f_s = αᵀα and the tangent costs c_q = tr(K⁻¹K_q) + 2λ, c_s = tr(K⁻¹)."""
    n = y.shape[0]
    k = torch.einsum("q,qij->ij", h[:-1], comps) + h[-1] * torch.eye(n, dtype=y.dtype, device=y.device)
    kinv = torch.cholesky_inverse(torch.linalg.cholesky(k))
    alpha = kinv @ y
    f = torch.cat([torch.einsum("i,qij,j->q", alpha, comps, alpha), (alpha @ alpha)[None]])
    c = torch.cat([torch.einsum("ij,qij->q", kinv, comps) + 2 * sparsity, torch.diagonal(kinv).sum()[None]])
    return f.clamp_min(0.0), c


def positive_cubic_root(a: torch.Tensor, b: torch.Tensor, rho: float, v: torch.Tensor,
                        iters: int = 100) -> torch.Tensor:
    """argmin_{h > 0} a/h + b h + ρ/2 (h − v)² for a ≥ 0, b > 0: the positive root of ρh³ + (b − ρv)h² − a = 0
    (0 when a = 0 and v ≤ b/ρ), by bisection on [0, max(v − b/ρ, 0) + (a/ρ)^{1/3}]."""
    lo = torch.zeros_like(a)
    hi = (v - b / rho).clamp_min(0.0) + (a / rho).pow(1.0 / 3.0) + 1e-300
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        g = rho * mid ** 3 + (b - rho * v) * mid ** 2 - a
        up = g > 0
        hi = torch.where(up, mid, hi)
        lo = torch.where(up, lo, mid)
    return 0.5 * (lo + hi)


def dsca_step(comps: torch.Tensor, y: torch.Tensor, h: torch.Tensor, v: torch.Tensor, rho: torch.Tensor,
              sparsity: float, noise_floor: float) -> torch.Tensor:
    """One DSCA step of argmin_{h ≥ 0} F_j(h) + ½ Σ_q ρ_q (h_q − v_q)² from h (module docstring; the cubic is
    divided by ρ_q, so each coordinate has its own penalty)."""
    f, c = _moments(comps, y, h, sparsity)
    new = positive_cubic_root(0.5 * h.square() * f / rho, 0.5 * c / rho, 1.0, v)
    new[-1] = new[-1].clamp_min(noise_floor)
    return new


def quantize(d: torch.Tensor, bits: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Unbiased stochastic rounding of d onto 2^b levels over [min d, max d]: (packed uint8 codes, (lo, hi))."""
    if bits not in VALID_BITS:
        raise ValueError(f"bits must be one of {VALID_BITS} (or None for float64 messages); got {bits!r}")
    lo, hi = d.min(), d.max()
    levels = 2 ** bits - 1
    span = (hi - lo) if hi > lo else torch.ones((), dtype=d.dtype)
    x = (d - lo) / span * levels
    floor = torch.floor(x)
    codes = (floor + (torch.rand(d.shape, generator=generator, dtype=d.dtype) < (x - floor))).clamp(0, levels)
    codes = codes.to(torch.uint8)
    per = 8 // bits
    pad = (-len(codes)) % per
    codes = torch.cat([codes, torch.zeros(pad, dtype=torch.uint8)]).view(-1, per)
    shifts = torch.arange(per, dtype=torch.uint8) * bits
    packed = (codes << shifts).sum(1).to(torch.uint8)
    return packed, torch.stack([lo, hi])


def dequantize(packed: torch.Tensor, rng: torch.Tensor, bits: int, size: int) -> torch.Tensor:
    """Inverse of :func:`quantize`: the grid values lo + code·(hi − lo)/(2^b − 1) of the first ``size`` codes."""
    per = 8 // bits
    shifts = torch.arange(per, dtype=torch.uint8) * bits
    codes = ((packed[:, None] >> shifts) & (2 ** bits - 1)).reshape(-1)[:size].to(rng.dtype)
    lo, hi = rng[0], rng[1]
    span = (hi - lo) if hi > lo else torch.ones((), dtype=rng.dtype)
    return lo + codes / (2 ** bits - 1) * span


def _world():
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist, dist.get_world_size(), dist.get_rank()
    return None, 1, 0


def consensus_admm(comps: torch.Tensor, y: torch.Tensor, *, rho: float = 0.5, warmup: int = 10,
                   bits: int | None = 8, sparsity: float = 0.0, max_iter: int = 300, inner_steps: int = 2,
                   tol: float = 1e-9, noise_floor: float = 1e-6, seed: int = 0) -> ConsensusResult:
    """SLIM-KL's quantized consensus ADMM on this agent's shard (``comps`` (Q, n_j, n_j), ``y`` (n_j,)); one agent
    per rank of the initialised ``torch.distributed`` group (or a single agent without one). Every rank returns the
    consensus z (weights, noise).

    The penalty is per coordinate, ρ_q = ``rho`` · mean_j c_jq(z) / z_q (the curvature scale of F at z: the
    coordinates of h differ by orders of magnitude, the noise variance most), re-estimated during the first
    ``warmup`` iterations (an all-reduce of the Q + 1 tangent costs, counted in the bytes) and fixed afterwards, so
    the iteration is plain ADMM from then on. Stops when the relative change of Σ_j F_j(z) and the primal residual
    max_j ‖ĥ_j − z‖ / ‖z‖ are both below ``tol`` (all-reduced, so every rank stops together)."""
    _check_shard(comps, y)
    if not rho > 0:
        raise ValueError(f"rho (the relative ADMM penalty) must be > 0; got {rho!r}")
    if bits is not None and bits not in VALID_BITS:
        raise ValueError(f"bits must be one of {VALID_BITS} or None (float64 messages); got {bits!r}")
    dist, world, rank = _world()
    q = comps.shape[0]
    size = q + 1
    dtype = y.dtype
    h = torch.cat([torch.full((q,), 1.0 / q, dtype=dtype), torch.tensor([0.1], dtype=dtype)])
    z = h.clone()
    lam = torch.zeros_like(h)                          # this agent's (unscaled) dual
    lam_sum = torch.zeros_like(h)                      # Σ_j λ_j, identical on every rank
    sent = torch.zeros(world, size, dtype=dtype)       # ĥ_j^prev of every agent, identical on every rank
    gen = torch.Generator().manual_seed(int(seed) * 1000003 + rank)
    result = ConsensusResult(weights=z[:-1], noise=float(z[-1]))
    penalty = torch.ones_like(h)
    prev_obj = math.inf
    for it in range(max_iter):
        if it < warmup:
            cbar = _moments(comps, y, z, sparsity)[1]
            if dist is not None:
                dist.all_reduce(cbar)
                result.bytes_per_agent += cbar.numel() * cbar.element_size()
            cbar = cbar / world
            penalty = float(rho) * cbar / z.clamp_min(noise_floor)
        for _ in range(inner_steps):
            h = dsca_step(comps, y, h, z - lam / penalty, penalty, sparsity, noise_floor)
        if bits is None:
            msg = h.clone()
            if dist is not None:
                gathered = [torch.empty_like(msg) for _ in range(world)]
                dist.all_gather(gathered, msg)
                msgs = torch.stack(gathered)
            else:
                msgs = msg[None]
            result.bytes_per_agent += msg.numel() * msg.element_size()
        else:
            scale = penalty.sqrt()       # quantise in the ADMM metric ‖·‖_ρ (the same ρ on every rank)
            packed, rng = quantize(scale * (h - sent[rank]), bits, gen)
            if dist is not None:
                gp = [torch.empty_like(packed) for _ in range(world)]
                gr = [torch.empty_like(rng) for _ in range(world)]
                dist.all_gather(gp, packed)
                dist.all_gather(gr, rng)
            else:
                gp, gr = [packed], [rng]
            msgs = sent + torch.stack([dequantize(p, r, bits, size) for p, r in zip(gp, gr)]) / scale
            result.bytes_per_agent += packed.numel() + rng.numel() * rng.element_size()
        sent = msgs
        z = (msgs.mean(0) + lam_sum / (world * penalty)).clamp_min(0.0)
        z[-1] = z[-1].clamp_min(noise_floor)
        lam = lam + penalty * (msgs[rank] - z)
        lam_sum = lam_sum + penalty * (msgs - z).sum(0)
        res = float((msgs - z).norm(dim=1).max()) / max(float(z.norm()), 1e-300)
        obj = torch.tensor([local_objective(comps, y, z, sparsity)], dtype=dtype)
        if dist is not None:
            dist.all_reduce(obj)
            result.bytes_per_agent += obj.element_size()
        obj = float(obj)
        result.objective.append(obj)
        result.primal_residual.append(res)
        result.iterations = it + 1
        if it >= warmup and abs(prev_obj - obj) <= tol * max(1.0, abs(obj)) and res <= tol:
            break
        prev_obj = obj
    result.weights, result.noise = z[:-1].clone(), float(z[-1])
    result.bytes_total = result.bytes_per_agent * world
    return result


def centralised_sca(comps_list: list[torch.Tensor], y_list: list[torch.Tensor], *, sparsity: float = 0.0,
                    max_iter: int = 5000, tol: float = 1e-12,
                    noise_floor: float = 1e-6) -> tuple[torch.Tensor, float, list[float]]:
    """The single-process minimiser of Σ_j F_j(h) over all shards: the SCA majorisation of ``sca_weights`` summed
    over shards, h ← h √(Σ_j f_j / Σ_j c_j) (a majorisation-minimisation step of the sum; monotone)."""
    if len(comps_list) != len(y_list) or not comps_list:
        raise ValueError("comps_list and y_list must be non-empty lists of the same length (one entry per shard)")
    for c, y in zip(comps_list, y_list):
        _check_shard(c, y)
    q, dtype = comps_list[0].shape[0], y_list[0].dtype
    h = torch.cat([torch.full((q,), 1.0 / q, dtype=dtype), torch.tensor([0.1], dtype=dtype)])
    hist = [sum(local_objective(c, y, h, sparsity) for c, y in zip(comps_list, y_list))]
    for _ in range(max_iter):
        f = torch.zeros_like(h)
        cost = torch.zeros_like(h)
        for c, y in zip(comps_list, y_list):
            fj, cj = _moments(c, y, h, sparsity)
            f, cost = f + fj, cost + cj
        h = h * torch.sqrt(f / cost)
        h[-1] = h[-1].clamp_min(noise_floor)
        hist.append(sum(local_objective(c, y, h, sparsity) for c, y in zip(comps_list, y_list)))
        if abs(hist[-2] - hist[-1]) <= tol * max(1.0, abs(hist[-1])):
            break
    return h[:-1], float(h[-1]), hist


def poe_predict(x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, weights: torch.Tensor, noise: float,
                means: torch.Tensor, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Product-of-experts prediction with the consensus kernel: each agent's GP posterior on its shard,
    μ_j = k_*jᵀ(K_j + sI)⁻¹y_j, σ_j² = k_** − k_*jᵀ(K_j + sI)⁻¹k_*j (+ s), combined over the ranks as
    σ⁻² = Σ_j σ_j⁻², μ = σ² Σ_j σ_j⁻² μ_j (all-reduced; a single agent returns its own posterior)."""
    from .ops.gsmp import gsmp

    k = gsmp(x, None, weights, means, scales) + noise * torch.eye(len(x), dtype=x.dtype)
    ks = gsmp(x_test, x, weights, means, scales)
    chol = torch.linalg.cholesky(k)
    mu = ks @ torch.cholesky_solve(y[:, None], chol)[:, 0]
    v = torch.linalg.solve_triangular(chol, ks.T, upper=False)
    var = (weights.sum() + noise - v.square().sum(0)).clamp_min(1e-12)
    prec = torch.stack([1.0 / var, mu / var])
    dist, _, _ = _world()
    if dist is not None:
        dist.all_reduce(prec)
    return prec[1] / prec[0], 1.0 / prec[0]
