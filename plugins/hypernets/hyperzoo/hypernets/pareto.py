"""Building blocks of Stein variational Pareto set learning: SVGD, hypervolume and IGD.

**SVGD** (Liu & Wang 2016). Particles ``x_1..x_n`` move along

    φ(x_i) = (1/n) Σ_j [ k(x_j, x_i) ∇_{x_j} log p(x_j) + ∇_{x_j} k(x_j, x_i) ],   k(x, y) = exp(−‖x − y‖² / h)

(the first term pulls particles to high density, the second repels them from each other); ``h`` defaults to the
median heuristic ``med(‖x_i − x_j‖²) / log(n + 1)``. Cost ``O(n² d)``.

**Hypervolume** of a set of points (minimisation) with reference point ``r``: the measure of
``∪_i [f_i, r]``. In 2-D an exact sweep over the non-dominated points sorted by the first objective,
``Σ_k (r_1 − f_{k,1}) (f_{k−1,2} − f_{k,2})``; ``O(n log n)``. **IGD**: the mean distance from each reference front
point to its nearest found point.

The surrogates, the preference-conditioned hypernetwork and the ZDT/DTLZ problems are in
:mod:`hyperzoo.hypernets.psl`.
"""

from __future__ import annotations

import math

import torch

__all__ = ["rbf_kernel", "svgd_direction", "hypervolume_2d", "igd"]


def rbf_kernel(x: torch.Tensor, bandwidth: float | None = None) -> tuple[torch.Tensor, float]:
    """``K_ij = exp(−‖x_i − x_j‖² / h)`` and ``h`` (median heuristic when ``bandwidth`` is None)."""
    if x.dim() != 2:
        raise ValueError(f"particles must be 2-D (n, d), got shape {tuple(x.shape)}")
    d2 = torch.cdist(x, x).square()
    if bandwidth is None:
        n = x.shape[0]
        med = float(d2[~torch.eye(n, dtype=torch.bool, device=x.device)].median()) if n > 1 else 1.0
        bandwidth = max(med / math.log(n + 1), 1e-12)
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    return torch.exp(-d2 / bandwidth), float(bandwidth)


def svgd_direction(x: torch.Tensor, grad_logp: torch.Tensor, bandwidth: float | None = None) -> torch.Tensor:
    """The SVGD update direction ``φ(x_i)`` for every particle (see the module docstring)."""
    if grad_logp.shape != x.shape:
        raise ValueError(f"grad_logp has shape {tuple(grad_logp.shape)}, particles {tuple(x.shape)}; they must match")
    k, h = rbf_kernel(x, bandwidth)
    n = x.shape[0]
    # ∇_{x_j} k(x_j, x_i) = −(2/h) (x_j − x_i) k_ji; summed over j: (2/h) (x_i Σ_j k_ij − Σ_j k_ij x_j)
    repulse = (2.0 / h) * (x * k.sum(1, keepdim=True) - k @ x)
    return (k @ grad_logp + repulse) / n


def _pareto_2d(points: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    p = points[(points < ref).all(-1)]
    if len(p) == 0:
        return p
    p = p[torch.argsort(p[:, 0])]
    keep, best = [], math.inf
    for row in p:
        if float(row[1]) < best:
            keep.append(row)
            best = float(row[1])
    return torch.stack(keep)


def hypervolume_2d(points: torch.Tensor, ref: torch.Tensor | tuple[float, float]) -> float:
    """Exact hypervolume dominated by ``points (n, 2)`` (minimisation) up to ``ref``."""
    points = torch.as_tensor(points, dtype=torch.float64)
    ref = torch.as_tensor(ref, dtype=torch.float64)
    if points.dim() != 2 or points.shape[1] != 2 or ref.shape != (2,):
        raise ValueError(f"hypervolume_2d takes points (n, 2) and a reference point (2,), got "
                         f"{tuple(points.shape)} and {tuple(ref.shape)}")
    front = _pareto_2d(points, ref)
    total, prev = 0.0, float(ref[1])
    for f1, f2 in front.tolist():
        total += (float(ref[0]) - f1) * (prev - f2)
        prev = f2
    return total


def igd(found: torch.Tensor, front: torch.Tensor) -> float:
    """Inverted generational distance: mean over ``front`` of the distance to the nearest ``found`` point."""
    found, front = torch.as_tensor(found, dtype=torch.float64), torch.as_tensor(front, dtype=torch.float64)
    if found.dim() != 2 or front.dim() != 2 or found.shape[1] != front.shape[1]:
        raise ValueError(f"igd takes (n, m) and (k, m) point sets, got {tuple(found.shape)} and {tuple(front.shape)}")
    return float(torch.cdist(front, found).min(1).values.mean())
