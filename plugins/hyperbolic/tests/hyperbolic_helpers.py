"""Shared test helpers (a uniquely named module: the repository root's conftest.py shadows a plugin's)."""

import torch


def ball_points(n, d, *, scale=0.8, dtype=torch.float64, seed=0, c=1.0):
    """Points spread over the ball (tangent norms ~ scale·√d at the origin)."""
    from hyperzoo.hyperbolic import expmap0

    g = torch.Generator().manual_seed(seed)
    return expmap0(torch.randn(n, d, generator=g, dtype=dtype) * scale, c=c)
