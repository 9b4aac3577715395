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
    """Validation shared by every implementation: clear errors, the same for all backends.

    Shapes, dtypes, devices and a number bandwidth are checked on the host. The values (NaN or infinity in the
    queries or data, negative or non-finite weights, a tensor bandwidth) are reduced on the tensors' device into
    one flag vector that is read once: on the CPU that costs one pass over the inputs (about n·d + m·d, next to
    the n·m·d of the sum); on a GPU it is the one host synchronisation of a call (the earlier code could make
    two, for a tensor bandwidth and for the weights, and did not check NaN at all).
    """
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
    checks: list = []              # (flag tensor on the inputs' device, message if it is set)
    if isinstance(bandwidth, torch.Tensor):
        if bandwidth.numel() != 1:
            raise ValueError(f"kernel_sum: bandwidth must be a scalar, got shape {tuple(bandwidth.shape)}")
        b = bandwidth.detach().reshape(())
        checks.append((~(torch.isfinite(b) & (b > 0)),
                       lambda: f"kernel_sum: bandwidth must be a finite number > 0, got {float(b)}"))
    else:
        h = float(bandwidth)
        if not (h > 0 and math.isfinite(h)):
            raise ValueError(f"kernel_sum: bandwidth must be a finite number > 0, got {h}")
    check_kernel(kernel)
    if weights is not None:
        if not isinstance(weights, torch.Tensor) or tuple(weights.shape) != (data.shape[0],):
            raise ValueError(f"kernel_sum: weights must be a tensor of shape ({data.shape[0]},), got "
                             f"{tuple(getattr(weights, 'shape', ()))}")
        checks.append(((weights < 0).any(), lambda: "kernel_sum: weights must be >= 0"))
        checks.append((~torch.isfinite(weights).all(), lambda: "kernel_sum: weights contain NaN or infinity"))
    checks.append((~torch.isfinite(queries).all(), lambda: (
        f"kernel_sum: queries contain NaN or infinity (first in row {_first_bad_row(queries)}); remove or impute "
        "those points before evaluating")))
    checks.append((~torch.isfinite(data).all(), lambda: (
        f"kernel_sum: data contain NaN or infinity (first in row {_first_bad_row(data)}); remove or impute those "
        "points before fitting")))
    flags = torch.stack([flag.to(queries.device) for flag, _ in checks]).tolist()   # the one host read
    for is_bad, (_, message) in zip(flags, checks):
        if is_bad:
            raise ValueError(message())


def _first_bad_row(t: torch.Tensor) -> int:
    return int(torch.nonzero(~torch.isfinite(t).all(1))[0])


# queries × data points × features per block of the reference (2^22: 32 MB in float64)
BLOCK_ELEMENTS = 1 << 22


def kernel_sum(queries: torch.Tensor, data: torch.Tensor, bandwidth: float | torch.Tensor, *,
               kernel: str = "gaussian", weights: torch.Tensor | None = None) -> torch.Tensor:
    """s_q = log Σ_i w_i K(‖y_q − x_i‖ / h), blocked over queries and data, direct differences (no norm
    expansion): chunks of queries small enough that every data block holds at least 256 points."""
    check_inputs(queries, data, bandwidth, kernel, weights)
    m, d = queries.shape
    n = data.shape[0]
    q_block = max(1, min(m, BLOCK_ELEMENTS // (max(1, d) * min(n, 256))))
    d_block = max(1, BLOCK_ELEMENTS // (q_block * max(1, d)))
    log_w = None if weights is None else torch.log(weights.to(queries.dtype))
    out = []
    for q0 in range(0, m, q_block):
        yq = queries[q0:q0 + q_block]
        parts = []
        for start in range(0, n, d_block):
            diff = (yq[:, None, :] - data[None, start:start + d_block, :]) / bandwidth
            logk = log_profile((diff * diff).sum(-1), kernel)
            if log_w is not None:
                logk = logk + log_w[start:start + d_block]
            parts.append(torch.logsumexp(logk, dim=1))
        out.append(parts[0] if len(parts) == 1 else torch.logsumexp(torch.stack(parts, dim=1), dim=1))
    return torch.cat(out) if out else queries.new_empty(0)
