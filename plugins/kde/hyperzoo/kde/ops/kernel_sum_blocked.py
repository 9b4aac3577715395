"""``kde.kernel_sum`` -- blocked CPU/GPU backend without autograd (the fast path of ``KernelDensity``).

Same signature and result as :func:`hyperzoo.kde.ops.kernel_sum.kernel_sum`. With the data and queries scaled
by 1/h and centred, one matrix product of augmented operands gives the squared distances of a block,

    [y, ‖y‖², 1] · [−2x, 1, ‖x‖²]ᵀ = ‖y − x‖²,

then the profile is applied in place and the block is reduced by a matrix-vector product with the weights
(ones when unweighted). No max pass is needed: log K ≤ 0 and weights are rescaled to max 1, so every term is ≤ 1 and
cannot overflow. Queries whose whole sum underflows (farther than ~37 bandwidths from every point in float64,
~13 in float32) are recomputed with a max shift (s = M + log Σ exp(log K − M)), so the result stays exact there.
"""

from __future__ import annotations

import math

import torch

from .kernel_sum import check_inputs

# 256 × 256 blocks (512 KB in float64) stay in the 1 MB L2 cache between the matmul, the exp and the reduction;
# with the reduction as a BLAS matrix-vector product (addmv) they ran 13% faster than 256 × 1024 blocks reduced
# by .sum(1) (2 MB, spills to L3), at the same matmul floor (docs/results/kde.md, "Block shape")
QUERY_BLOCK = 256
DATA_BLOCK = 256
FLOOR = {torch.float16: -10.0, torch.bfloat16: -80.0, torch.float32: -80.0, torch.float64: -700.0}


def _apply_profile(s: torch.Tensor, kernel: str, floor: float | None) -> torch.Tensor:
    """In place: the block from the matmul (−½r² for the Gaussian, r² otherwise) → K, not log.

    Exponents are clamped at ``floor`` so that exp never produces subnormals (13x slower on CPU); the error
    this admits is at most n·e^floor, and queries whose sum is that small are recomputed exactly. ``floor`` is
    None when the block provably stays above it ((‖y‖ + ‖x‖)²/2 < −floor), which saves a pass.
    """
    if kernel == "gaussian":
        return (s if floor is None else s.clamp_min_(floor)).exp_()
    s.clamp_min_(0.0)
    if kernel == "exponential":
        s.sqrt_().neg_()
        return (s if floor is None else s.clamp_min_(floor)).exp_()
    if kernel == "tophat":
        return s.lt_(1.0)
    if kernel == "epanechnikov":
        return s.neg_().add_(1.0).clamp_min_(0.0)
    if kernel == "linear":
        return s.sqrt_().neg_().add_(1.0).clamp_min_(0.0)
    inside = s < 1.0
    return s.sqrt_().mul_(math.pi / 2).cos_().mul_(inside)


def _log_profile(s: torch.Tensor, kernel: str) -> torch.Tensor:
    """The block from the matmul → log K (for the max-shifted recomputation)."""
    from ..kernels import log_profile

    return s if kernel == "gaussian" else log_profile(s.clamp_min_(0.0), kernel)


def _operands(queries, data, h, kernel, weights):
    """Augmented operands: ya @ xat is −½‖y − x‖²/h² for the Gaussian, ‖y − x‖²/h² otherwise."""
    y = queries / h
    x = data / h
    centre = x.mean(0)
    y = y - centre
    x = x - centre
    yy = (y * y).sum(1, keepdim=True)
    xx = (x * x).sum(1, keepdim=True)
    if kernel == "gaussian":
        ya = torch.cat([y, yy * -0.5, torch.ones_like(yy)], 1)
        xa = torch.cat([x, torch.ones_like(xx), xx * -0.5], 1)
    else:
        ya = torch.cat([y, yy, torch.ones_like(yy)], 1)
        xa = torch.cat([x * -2.0, torch.ones_like(xx), xx], 1)
    if weights is None:
        return ya, xa.t().contiguous(), None, 0.0
    w = weights.to(queries.dtype)
    top = float(w.max())
    if top <= 0:
        raise ValueError("kernel_sum: weights are all zero")
    return ya, xa.t().contiguous(), (w / top), math.log(top)


@torch.no_grad()
def kernel_sum(queries: torch.Tensor, data: torch.Tensor, bandwidth: float | torch.Tensor, *,
               kernel: str = "gaussian", weights: torch.Tensor | None = None) -> torch.Tensor:
    """s_q = log Σ_i w_i K(‖y_q − x_i‖ / h): one augmented matmul, in-place profile, addmv per block."""
    check_inputs(queries, data, bandwidth, kernel, weights)
    h = float(bandwidth)
    ya, xat, w, log_top = _operands(queries, data, h, kernel, weights)
    m, n = ya.shape[0], xat.shape[1]
    floor = FLOOR[ya.dtype]
    # radii of the centred, scaled points: a block needs no clamp when (max‖y‖ + max‖x‖)² / 2 < −floor
    # (read off the norm columns of the operands: −½‖·‖² for the Gaussian, ‖·‖² otherwise)
    y_norm = (ya[:, -2] * (-2.0 if kernel == "gaussian" else 1.0)).clamp_min(0.0).sqrt()
    x_norm = (xat[-1] * (-2.0 if kernel == "gaussian" else 1.0)).clamp_min(0.0).sqrt()
    reach = -floor if kernel == "exponential" else math.sqrt(-2.0 * floor)
    out = torch.zeros(m, dtype=ya.dtype, device=ya.device)
    buf = torch.empty(min(QUERY_BLOCK, m), min(DATA_BLOCK, n), dtype=ya.dtype, device=ya.device)
    wv = torch.ones(n, dtype=ya.dtype, device=ya.device) if w is None else w
    # per data block: operand, weights, radius (sliced once: slicing in the inner loop cost ~5% at 256 × 256)
    blocks = [(xb, wb, float(nb.max())) for xb, wb, nb in
              zip(xat.split(DATA_BLOCK, 1), wv.split(DATA_BLOCK), x_norm.split(DATA_BLOCK))]
    for q0 in range(0, m, QUERY_BLOCK):
        yb = ya[q0:q0 + QUERY_BLOCK]
        acc = out[q0:q0 + QUERY_BLOCK]
        y_max = float(y_norm[q0:q0 + QUERY_BLOCK].max())
        full = buf[: yb.shape[0]]
        for xb, wb, x_max in blocks:
            s = full if xb.shape[1] == full.shape[1] else full[:, : xb.shape[1]]
            torch.mm(yb, xb, out=s)
            _apply_profile(s, kernel, None if y_max + x_max < reach else floor)
            acc.addmv_(s, wb)
    # Sums within n·e^floor / eps of zero may be dominated by clamped terms: recompute those exactly.
    doubtful = n * math.exp(floor) / torch.finfo(ya.dtype).eps if kernel in ("gaussian", "exponential") else 0.0
    low = torch.nonzero(out <= doubtful).flatten()
    out = out.log_().add_(log_top)
    if low.numel():
        out[low] = _shifted(ya[low], xat, w, kernel) + log_top
    return out


def _shifted(ya: torch.Tensor, xat: torch.Tensor, w, kernel: str) -> torch.Tensor:
    """Exact max-shifted log-sum-exp (two passes) for the few queries whose plain sum underflowed."""
    n = xat.shape[1]
    log_w = None if w is None else torch.log(w)
    out = torch.empty(ya.shape[0], dtype=ya.dtype, device=ya.device)
    for q0 in range(0, ya.shape[0], QUERY_BLOCK):
        yb = ya[q0:q0 + QUERY_BLOCK]

        def block(yb: torch.Tensor, j0: int) -> torch.Tensor:
            s = _log_profile(yb @ xat[:, j0:j0 + DATA_BLOCK], kernel)
            return s if log_w is None else s + log_w[j0:j0 + DATA_BLOCK]

        best = torch.stack([block(yb, j0).max(1).values for j0 in range(0, n, DATA_BLOCK)], 1).max(1).values
        shift = torch.where(torch.isfinite(best), best, torch.zeros_like(best))
        total = sum(block(yb, j0).sub_(shift[:, None]).exp_().sum(1) for j0 in range(0, n, DATA_BLOCK))
        out[q0:q0 + QUERY_BLOCK] = total.log_() + shift
    return out


def supports(queries, data, bandwidth, *, kernel: str = "gaussian", weights=None) -> tuple[bool, str]:
    tensors = [t for t in (queries, data, bandwidth, weights) if isinstance(t, torch.Tensor)]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False, "inputs require grad (this backend has no autograd; the reference has)"
    return True, "ok"
