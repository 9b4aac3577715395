"""``kde.kernel_sum`` -- the reference implementation.

For queries y_q (m × d), data x_i (n × d), weights w_i ≥ 0 (default 1) and bandwidth h > 0:

    s_q = log Σ_i w_i · K(‖y_q − x_i‖ / h)

with K a radial profile with K(0) = 1 (:mod:`hyperzoo.kde.kernels`). The result is in log space so that it
neither overflows nor underflows: the log-sum-exp of log w_i + log K(r_qi) over data blocks. A query outside
the support of every point of a compact kernel gets −inf. The density estimate is
p̂(y) = exp(s − log W − d·log h − log c_d).

This reference is plain PyTorch (CPU and GPU, autograd through queries, data, bandwidth and weights). The
blocked CPU backend (``kernel_sum_blocked.py``) and the fused Triton backend (``kernel_sum_triton.py``) have
the same signature and are proven equal to it by ``hyperzoo.core.testing.check_parity``.
"""

from __future__ import annotations

import math

import torch

from ..kernels import check_kernel, log_profile


def check_inputs(queries, data, bandwidth, kernel: str, weights) -> None:
    """Validation shared by every implementation: clear errors, the same for all backends."""
    for name, t in (("queries", queries), ("data", data)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"kernel_sum: {name} must be a floating-point tensor, got "
                            f"{type(t).__name__} {getattr(t, 'dtype', '')}".rstrip())
        if t.dim() != 2:
            raise ValueError(f"kernel_sum: {name} must be 2-D (points × features), got shape {tuple(t.shape)}")
    if queries.shape[1] != data.shape[1]:
        raise ValueError(f"kernel_sum: queries have {queries.shape[1]} features but data have {data.shape[1]}; "
                         "query with points of the dimension the data were fitted with")
    if queries.dtype != data.dtype or queries.device != data.device:
        raise ValueError(f"kernel_sum: queries ({queries.dtype}, {queries.device}) and data ({data.dtype}, "
                         f"{data.device}) must share dtype and device")
    if data.shape[0] == 0:
        raise ValueError("kernel_sum: data is empty; fit with at least one point")
    h = float(bandwidth.detach()) if isinstance(bandwidth, torch.Tensor) else float(bandwidth)
    if not (h > 0 and math.isfinite(h)):
        raise ValueError(f"kernel_sum: bandwidth must be a finite number > 0, got {h}")
    check_kernel(kernel)
    if weights is not None:
        if not isinstance(weights, torch.Tensor) or tuple(weights.shape) != (data.shape[0],):
            raise ValueError(f"kernel_sum: weights must be a tensor of shape ({data.shape[0]},), got "
                             f"{tuple(getattr(weights, 'shape', ()))}")
        if bool((weights < 0).any()):
            raise ValueError("kernel_sum: weights must be >= 0")


def kernel_sum(queries: torch.Tensor, data: torch.Tensor, bandwidth: float | torch.Tensor, *,
               kernel: str = "gaussian", weights: torch.Tensor | None = None) -> torch.Tensor:
    """s_q = log Σ_i w_i K(‖y_q − x_i‖ / h), blocked over the data, direct differences (no norm expansion)."""
    check_inputs(queries, data, bandwidth, kernel, weights)
    m, d = queries.shape
    block = max(1, (1 << 22) // max(1, m * d))
    log_w = None if weights is None else torch.log(weights.to(queries.dtype))
    parts = []
    for start in range(0, data.shape[0], block):
        diff = (queries[:, None, :] - data[None, start:start + block, :]) / bandwidth
        logk = log_profile((diff * diff).sum(-1), kernel)
        if log_w is not None:
            logk = logk + log_w[start:start + block]
        parts.append(torch.logsumexp(logk, dim=1))
    return torch.logsumexp(torch.stack(parts, dim=1), dim=1)
