"""``hyperbolic.midpoint`` -- weighted Möbius gyromidpoint (Ungar 2010; Poincaré ResNet's batch-norm mean):

    m = ½ ⊗ ( Σᵢ wᵢ λᵢ xᵢ / Σᵢ wᵢ (λᵢ − 1) ),   λᵢ = 2/(1 − c‖xᵢ‖²),   ½ ⊗ y = y / (1 + √(1 − c‖y‖²))

It equals the Einstein midpoint of the Klein model (k = 2x/(1 + c‖x‖²), γ = 1/√(1 − c‖k‖²),
m_K = Σ wγk / Σ wγ) mapped back to the ball. λᵢ uses the accurate conformal denominator; 1 − c‖y‖² is computed
from the stored y the same way and clamped at the dtype's tiny (y is a Klein point, ‖y‖ ≤ 1/√c up to rounding);
the result is kept strictly inside the ball. Cost: one pass over the points, O(N d).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .. import functional as F


def midpoint(x: torch.Tensor, weights: torch.Tensor | None = None, *, c: float | torch.Tensor = 1.0,
             reducedim: int | Sequence[int] = 0, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    F._check_float(x, "x", "midpoint")
    cc = F.curvature(c, x)
    dim = dim % x.dim()
    red = [reducedim] if isinstance(reducedim, int) else list(reducedim)
    red = [r % x.dim() for r in red]
    if dim in red:
        raise ValueError(f"midpoint: reducedim {red} contains the vector dimension {dim}")
    den = F.conformal_denominator(x, cc, dim, op="midpoint")
    lam = 2 / den
    if weights is None:
        w = torch.ones_like(lam)
    else:
        if not isinstance(weights, torch.Tensor):
            weights = torch.as_tensor(weights)
        w = weights.to(dtype=x.dtype, device=x.device).unsqueeze(-1)
        if dim != x.dim() - 1 and weights.dim() == x.dim() - 1:
            w = w.movedim(-1, dim)
        try:
            w = w.expand_as(lam)
        except RuntimeError as exc:
            raise ValueError(f"midpoint: weights of shape {tuple(weights.shape)} do not broadcast against x "
                             f"{tuple(x.shape)} without its vector dimension {dim}") from exc
        if not bool((w.detach() >= 0).all()):
            raise ValueError("midpoint: weights must be >= 0")
    num = (w * lam * x).sum(red, keepdim=True)
    tot = (w * (lam - 1)).sum(red, keepdim=True)
    if not bool((tot.detach() > 0).all()):
        raise ValueError("midpoint: the weights of some group sum to 0 (or every point is the origin with "
                         "weight only there); give each group a positive weight")
    y = num / tot
    # (clamped at tiny, not 0: where rounding puts y on or past the Klein boundary the clamp stops the gradient,
    # and √ at tiny keeps it finite)
    dy = F.conformal_denominator(y, cc, dim, op="midpoint", check=False).clamp_min(F._tiny(y))
    out = F._keep_inside(y / (1 + dy.sqrt()), cc, dim)
    return out if keepdim else out.squeeze(red)
