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


def log_density(queries: torch.Tensor, data: torch.Tensor, bandwidth: float | torch.Tensor, *,
                kernel: str = "gaussian", weights: torch.Tensor | None = None,
                backend: str | None = None) -> torch.Tensor:
    """log p̂(y) = log Σ_i w_i K(‖y − x_i‖/h) − log Σ_i w_i − d log h − log c_d (differentiable)."""
    d = data.shape[-1]
    total = math.log(data.shape[0]) if weights is None else torch.log(weights.sum())
    log_h = torch.log(bandwidth) if isinstance(bandwidth, torch.Tensor) else math.log(bandwidth)
    s = kernel_sum(queries, data, bandwidth, kernel=kernel, weights=weights, backend=backend)
    return s - total - d * log_h - log_norm(kernel, d)
