"""Functional entry points: the dispatched operator and the normalised log density."""

from __future__ import annotations

import math

import torch

from .kernels import log_norm


def kernel_sum(queries: torch.Tensor, data: torch.Tensor, bandwidth: float | torch.Tensor, *,
               kernel: str = "gaussian", weights: torch.Tensor | None = None,
               backend: str | None = None) -> torch.Tensor:
    """log Σ_i w_i K(‖y_q − x_i‖/h), dispatched to the best backend (``backend=`` names one)."""
    from hyperzoo import core

    return core.get_operator("kde.kernel_sum")(queries, data, bandwidth, kernel=kernel, weights=weights,
                                               backend=backend)


@torch.no_grad()
def kernel_sum_centred(queries: torch.Tensor, data: torch.Tensor, bandwidth: float, *, dtype: torch.dtype,
                       kernel: str = "gaussian", weights: torch.Tensor | None = None,
                       backend: str | None = None) -> torch.Tensor:
    """:func:`kernel_sum` computed in ``dtype`` (float32) from float64 points, each block centred first in float64.

    Casting points that lie R bandwidths from the origin to float32 rounds each coordinate by u·R·h (u = 6e-8),
    which no backend can undo: at R = 5000 that is 3e-4 in log p̂. Here the offsets are cast instead: queries are
    split into spatially compact blocks (one block when the data mean is a good enough centre for all of them);
    each block and the data within reach of it (farther terms are below e^floor each) are centred on the block in
    float64, then cast, so the rounding is relative to the block's extent, not to where the data lie. A query whose
    sum over its block's data is too small for the omitted terms to be negligible is recomputed in float64.
    """
    from .ops.kernel_sum_blocked import FLOOR, SPREAD_TOL, compact_blocks, reach_of

    h = float(bandwidth)
    floor, unit, tol = FLOOR[dtype], torch.finfo(dtype).eps / 2, SPREAD_TOL[dtype]
    reach = reach_of(kernel, floor)
    w = None if weights is None else weights.to(dtype)
    centre = data.mean(0)
    x, y = data - centre, queries - centre
    radius_x = float(x.norm(dim=1).max()) / h
    radius_y = float(y.norm(dim=1).max()) / h if queries.shape[0] else 0.0
    if unit * (radius_x**2 + radius_y**2) <= tol:                      # compact: one centre for everything
        return kernel_sum(y.to(dtype), x.to(dtype), h, kernel=kernel, weights=w, backend=backend)
    del x, y                                                             # not needed per block
    out = torch.full((queries.shape[0],), -math.inf, dtype=dtype, device=queries.device)
    for idx in compact_blocks(queries, h, reach, unit, tol, 1):
        q = queries[idx]
        centre = 0.5 * (q.amin(0) + q.amax(0))
        y = q - centre
        near = torch.nonzero((data - centre).norm(dim=1) <= (float(y.norm(dim=1).max()) / h + reach) * h
                             * (1 + 1e-4)).flatten()
        if near.numel():
            out[idx] = kernel_sum(y.to(dtype), (data[near] - centre).to(dtype), h, kernel=kernel,
                                  weights=None if w is None else w[near], backend=backend)
    if kernel in ("gaussian", "exponential"):       # compact kernels: every point in a query's support was near
        max_w = 0.0 if weights is None else float(torch.log(weights.max()))
        doubtful = torch.nonzero(out <= math.log(data.shape[0]) + floor + max_w - math.log(torch.finfo(dtype).eps))
        if doubtful.numel():
            idx = doubtful.flatten()
            out[idx] = kernel_sum(queries[idx], data, h, kernel=kernel, weights=weights, backend=backend).to(dtype)
    return out


def log_density(queries: torch.Tensor, data: torch.Tensor, bandwidth: float | torch.Tensor, *,
                kernel: str = "gaussian", weights: torch.Tensor | None = None,
                backend: str | None = None) -> torch.Tensor:
    """log p̂(y) = log Σ_i w_i K(‖y − x_i‖/h) − log Σ_i w_i − d log h − log c_d (differentiable)."""
    d = data.shape[-1]
    total = math.log(data.shape[0]) if weights is None else torch.log(weights.sum())
    log_h = torch.log(bandwidth) if isinstance(bandwidth, torch.Tensor) else math.log(bandwidth)
    s = kernel_sum(queries, data, bandwidth, kernel=kernel, weights=weights, backend=backend)
    return s - total - d * log_h - log_norm(kernel, d)
