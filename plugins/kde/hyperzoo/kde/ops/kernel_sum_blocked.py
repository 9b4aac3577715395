"""``kde.kernel_sum`` -- blocked CPU/GPU backend without autograd (the fast path of ``KernelDensity``).

Same signature and result as :func:`hyperzoo.kde.ops.kernel_sum.kernel_sum`. With the data and queries centred
(in their own units, then scaled by 1/h: the absolute offset of the data never enters the rounding), one matrix
product of augmented operands gives the squared distances of a block,

    [y, ‖y‖², 1] · [−2x, 1, ‖x‖²]ᵀ = ‖y − x‖²,

then the profile is applied in place and the block is reduced by a matrix-vector product with the weights
(ones when unweighted). No max pass is needed: log K ≤ 0 and weights are rescaled to max 1, so every term is ≤ 1 and
cannot overflow. Queries whose whole sum underflows (farther than ~37 bandwidths from every point in float64,
~13 in float32) are recomputed with a max shift (s = M + log Σ exp(log K − M)), so the result stays exact there.

Only the Gaussian kernel uses the norm expansion; the other kernels take the spread-out path below with direct
differences in every block: the exponential and linear profiles take √r², which turns the expansion's absolute
rounding of r² into an error of up to √(u)·R in r at coincident points (2e-4 in log K was measured in float32 on
narrow data), and the compact profiles amplify it by 1/(1 − r²) at the edge of their support.

Precision. The norm expansion rounds ‖y‖², ‖x‖² and y·x, each of size R², where R is the radius (in bandwidths)
of the points around the centre; the computed r² is off by about u·(R_y² + R_x²) (u the unit roundoff: 6e-8 in
float32, 1.1e-16 in float64; the worst-case bound is γ_{d+4}·(R_y + R_x)², γ_k = k·u/(1 − k·u)), and log p̂ by
half that for the Gaussian. When one global centre keeps this estimate under ``SPREAD_TOL`` (3e-5 in float32:
R ≲ 16 bandwidths; 1e-11 in float64: R ≲ 200), every block uses it. Otherwise (spread-out data) the queries are
split at medians into spatially compact blocks, each block is centred on itself and sees only the data within
R_block + reach of its centre (farther points contribute < e^floor each: the clamp below), and a block whose local
estimate u·(R_block² + R_data²) still exceeds the tolerance (or any block of a compact kernel, whose log K
amplifies the rounding of r² by 1/(1 − r²) at the edge of its support) is computed by direct differences,
‖y − x‖/h by ``torch.cdist`` without the matmul expansion, whose rounding is relative (≈ (d + 3)·u·r²/2 in log K)
and does not depend on the spread at all.
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
# largest u·(R_y² + R_x²) (the norm expansion's rounding of r², in squared bandwidths) a block may use; above it the
# block is re-centred locally or computed by direct differences. float32: 3e-5 keeps standard-normal data at
# d = 16 and 64 on the one global centre (their estimate is 1.9e-5 and 2.0e-5 at Scott's bandwidth, n = 100k).
SPREAD_TOL = {torch.float16: 1e-2, torch.bfloat16: 1e-1, torch.float32: 3e-5, torch.float64: 1e-11}
MIN_BLOCK = 1        # query blocks of spread-out data are split at medians down to this size


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


def _augment(y: torch.Tensor, x: torch.Tensor, kernel: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented operands of centred, scaled points: ya @ xat is −½‖y − x‖² (Gaussian), ‖y − x‖² otherwise."""
    yy = (y * y).sum(1, keepdim=True)
    xx = (x * x).sum(1, keepdim=True)
    if kernel == "gaussian":
        ya = torch.cat([y, yy * -0.5, torch.ones_like(yy)], 1)
        xa = torch.cat([x, torch.ones_like(xx), xx * -0.5], 1)
    else:
        ya = torch.cat([y, yy, torch.ones_like(yy)], 1)
        xa = torch.cat([x * -2.0, torch.ones_like(xx), xx], 1)
    return ya, xa.t().contiguous()


def _scaled_weights(weights, dtype) -> tuple[torch.Tensor | None, float]:
    if weights is None:
        return None, 0.0
    w = weights.to(dtype)
    top = float(w.max())
    if top <= 0:
        raise ValueError("kernel_sum: weights are all zero")
    return w / top, math.log(top)


def _operands(queries, data, h, kernel, weights):
    """Augmented operands about the data mean c: y = (queries − c)/h, x = (data − c)/h (centre first, then scale)."""
    centre = data.mean(0)
    ya, xat = _augment((queries - centre) / h, (data - centre) / h, kernel)
    w, log_top = _scaled_weights(weights, queries.dtype)
    return ya, xat, w, log_top


def _norms(ya: torch.Tensor, xat: torch.Tensor, kernel: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Radii of the centred, scaled points, read off the norm columns of the operands."""
    sign = -2.0 if kernel == "gaussian" else 1.0
    return (ya[:, -2] * sign).clamp_min(0.0).sqrt(), (xat[-1] * sign).clamp_min(0.0).sqrt()


def reach_of(kernel: str, floor: float) -> float:
    """Distance (in bandwidths) beyond which a term is below e^floor (compact kernels: their support)."""
    return math.sqrt(-2.0 * floor) if kernel == "gaussian" else -floor if kernel == "exponential" else 1.0


def _accumulate(yb, tiles, y_max: float, kernel: str, floor: float, reach: float, buf) -> torch.Tensor:
    """Σ_i w_i K for the rows of ``yb`` over the data ``tiles`` [(operand, weights, radius)]: mm, profile, addmv."""
    acc = torch.zeros(yb.shape[0], dtype=yb.dtype, device=yb.device)
    full = buf[: yb.shape[0]]
    for xb, wb, x_max in tiles:
        s = full if xb.shape[1] == full.shape[1] else full[:, : xb.shape[1]]
        torch.mm(yb, xb, out=s)
        _apply_profile(s, kernel, None if y_max + x_max < reach else floor)
        acc.addmv_(s, wb)
    return acc


def _tiles(xat: torch.Tensor, w: torch.Tensor | None, x_norm: torch.Tensor, width: int | None = None) -> list:
    """Per data block: operand, weights, radius (sliced once: slicing in the inner loop cost ~5% at 256 × 256)."""
    width = DATA_BLOCK if width is None else width
    wv = torch.ones(xat.shape[1], dtype=xat.dtype, device=xat.device) if w is None else w
    return [(xb, wb, float(nb.max())) for xb, wb, nb in
            zip(xat.split(width, 1), wv.split(width), x_norm.split(width))]


@torch.no_grad()
def kernel_sum(queries: torch.Tensor, data: torch.Tensor, bandwidth: float | torch.Tensor, *,
               kernel: str = "gaussian", weights: torch.Tensor | None = None) -> torch.Tensor:
    """s_q = log Σ_i w_i K(‖y_q − x_i‖ / h): one augmented matmul, in-place profile, addmv per block."""
    check_inputs(queries, data, bandwidth, kernel, weights)
    h = float(bandwidth)
    if queries.shape[0] == 0:
        return torch.empty(0, dtype=queries.dtype, device=queries.device)
    ya, xat, w, log_top = _operands(queries, data, h, kernel, weights)
    y_norm, x_norm = _norms(ya, xat, kernel)
    unit = torch.finfo(ya.dtype).eps / 2
    if kernel != "gaussian" or unit * (float(y_norm.max()) ** 2 + float(x_norm.max()) ** 2) > SPREAD_TOL[ya.dtype]:
        return _spread_out(queries, data, h, kernel, weights)
    m, n = ya.shape[0], xat.shape[1]
    floor = FLOOR[ya.dtype]
    reach = reach_of(kernel, floor)
    out = torch.zeros(m, dtype=ya.dtype, device=ya.device)
    buf = torch.empty(min(QUERY_BLOCK, m), min(DATA_BLOCK, n), dtype=ya.dtype, device=ya.device)
    tiles = _tiles(xat, w, x_norm)
    for q0 in range(0, m, QUERY_BLOCK):
        yb = ya[q0:q0 + QUERY_BLOCK]
        out[q0:q0 + QUERY_BLOCK] = _accumulate(yb, tiles, float(y_norm[q0:q0 + QUERY_BLOCK].max()), kernel, floor,
                                               reach, buf)
    # Sums within n·e^floor / eps of zero may be dominated by clamped terms: recompute those exactly.
    low = torch.nonzero(out <= _doubtful(n, floor, ya.dtype, kernel)).flatten()
    out = out.log_().add_(log_top)
    if low.numel():
        out[low] = _shifted(ya[low], xat, w, kernel) + log_top
    return out


def _doubtful(n: int, floor: float, dtype, kernel: str) -> float:
    return n * math.exp(floor) / torch.finfo(dtype).eps if kernel in ("gaussian", "exponential") else 0.0


def compact_blocks(points: torch.Tensor, h: float, reach: float, unit: float, tol: float,
                    min_block: int) -> list[torch.Tensor]:
    """Query indices in spatially compact blocks: split at the median of the widest coordinate until a block has
    at most QUERY_BLOCK points and its local rounding estimate u·(R² + (R + reach)²) is within ``tol`` (R: half
    the diagonal of its bounding box, in bandwidths), or it has ``min_block`` points or fewer."""
    blocks, stack = [], [torch.arange(points.shape[0], device=points.device)]
    while stack:
        idx = stack.pop()
        p = points[idx]
        lo, hi = p.amin(0), p.amax(0)
        radius = 0.5 * float(((hi - lo) / h).norm())
        if idx.numel() <= min_block or (idx.numel() <= QUERY_BLOCK and
                                        unit * (radius**2 + (radius + reach) ** 2) <= tol):
            blocks.append(idx)
            continue
        order = torch.argsort(p[:, int(torch.argmax(hi - lo))])
        mid = idx.numel() // 2
        stack += [idx[order[:mid]], idx[order[mid:]]]
    return blocks


def _spread_out(queries, data, h: float, kernel: str, weights) -> torch.Tensor:
    """Spread-out data: compact query blocks, each centred on itself, against the data within reach; a block whose
    local rounding estimate still exceeds SPREAD_TOL uses direct differences (see the module docstring)."""
    from .kernel_sum import kernel_sum as reference

    dtype, (m, n) = queries.dtype, (queries.shape[0], data.shape[0])
    floor, unit, tol = FLOOR[dtype], torch.finfo(dtype).eps / 2, SPREAD_TOL[dtype]
    reach = reach_of(kernel, floor)
    w, log_top = _scaled_weights(weights, dtype)
    out = torch.zeros(m, dtype=dtype, device=queries.device)
    flat = torch.empty(QUERY_BLOCK * DATA_BLOCK, dtype=dtype, device=queries.device)
    # only the Gaussian's blocks use the local matmul, so only they are split below QUERY_BLOCK for accuracy (the
    # exponential's reach, 80 bandwidths in float32, never meets the estimate: its blocks take direct differences)
    local = kernel == "gaussian" and unit * reach**2 <= tol
    for idx in compact_blocks(queries, h, reach, unit, tol, MIN_BLOCK if local else QUERY_BLOCK):
        q = queries[idx]
        centre = 0.5 * (q.amin(0) + q.amax(0))    # the box's centre: every query within the split's radius
        y = (q - centre) / h
        y_max = float(y.norm(dim=1).max())
        dist = torch.cdist(centre[None], data, compute_mode="donot_use_mm_for_euclid_dist")[0].div_(h)
        near = torch.nonzero(dist <= (y_max + reach) * (1 + 1e-4)).flatten()
        if near.numel() == 0:
            continue                                                    # all terms < e^floor: recomputed below
        wn = None if w is None else w[near]
        x_max = float(dist[near].max())
        # compact kernels amplify the rounding of r² by 1/(1 − r²) at their edge: direct differences keep it
        # relative (their near sets are small: only points within R_block + 1 bandwidth)
        if local and unit * (y_max**2 + x_max**2) <= tol:
            ya, xat = _augment(y, (data[near] - centre) / h, kernel)
            width = max(DATA_BLOCK, QUERY_BLOCK * DATA_BLOCK // idx.numel())    # small blocks: wider tiles
            buf = flat[: idx.numel() * width].view(idx.numel(), width)
            out[idx] = _accumulate(ya, _tiles(xat, wn, dist[near], width), y_max, kernel, floor, reach, buf)
        else:
            out[idx] = _direct(q, data[near], h, wn, kernel, floor)
    # compact kernels: every point inside the support of a query is in its block's near set, so a zero is exact
    low = torch.nonzero(out <= _doubtful(n, floor, dtype, kernel)).flatten() if kernel in ("gaussian",
                                                                                            "exponential") else []
    out = out.log_().add_(log_top)
    if len(low):
        with torch.no_grad():
            out[low] = reference(queries[low], data, h, kernel=kernel, weights=weights)
    return out


def _direct(q: torch.Tensor, x: torch.Tensor, h: float, w, kernel: str, floor: float) -> torch.Tensor:
    """Σ_i w_i K by direct differences of the raw coordinates (``torch.cdist`` without the matmul expansion):
    the rounding of r is relative to r, whatever the spread."""
    acc = torch.zeros(q.shape[0], dtype=q.dtype, device=q.device)
    step = 4 * DATA_BLOCK
    ones = torch.ones(min(step, x.shape[0]), dtype=q.dtype, device=q.device) if w is None else None
    for j0 in range(0, x.shape[0], step):
        s = torch.cdist(q, x[j0:j0 + step], compute_mode="donot_use_mm_for_euclid_dist").div_(h)
        s.mul_(s)
        if kernel == "gaussian":
            s.mul_(-0.5)
        _apply_profile(s, kernel, floor)
        acc.addmv_(s, ones[: s.shape[1]] if w is None else w[j0:j0 + step])
    return acc


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
