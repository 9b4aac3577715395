r"""``hyperbolic.poincare_fc`` -- the Poincaré fully connected layer of HNN++ (Shimizu et al. 2021, eqs. 6-9):

    y = F(x) = w / (1 + √(1 + c‖w‖²)),   w_k = sinh(√c v_k(x))/√c,
    v_k(x) = (2‖z_k‖/√c) asinh( √c λ_x ⟨x, z_k⟩/‖z_k‖ · cosh(2√c r_k) − (λ_x − 1) sinh(2√c r_k) )

``x`` (..., n) points of the ball, ``z`` (n, m) hyperplane orientations (HypLL's layout), ``r`` (m,) offsets or
None. λ_x = 2/δ(x) comes from the accurate conformal denominator, so points up to the largest float below the
boundary radius give finite outputs; the elementwise head (after ``x @ z``) is the operator
``hyperbolic.poincare_fc_head`` (hand-written backward, Triton backend). ``z = ½·I`` (n ≤ m, zero r) is exactly
the identity map. Output kept strictly inside the ball. Cost: one (N×n)·(n×m) product plus O(N m).
"""

from __future__ import annotations

import torch

from .. import functional as F
from ..functional import _sqrt


def _head():
    from hyperzoo import core

    return core.get_operator("hyperbolic.poincare_fc_head")


def check_inputs(x: torch.Tensor, z: torch.Tensor, r: torch.Tensor | None) -> None:
    F._check_float(x, "x", "poincare_fc")
    F._check_float(z, "z", "poincare_fc")
    if z.dim() != 2 or z.shape[0] != x.shape[-1]:
        raise ValueError(f"poincare_fc: z must be (in, out) with in = x.shape[-1] = {x.shape[-1]}, "
                         f"got {tuple(z.shape)}")
    if r is not None and tuple(r.shape) != (z.shape[1],):
        raise ValueError(f"poincare_fc: r must have shape ({z.shape[1]},), got {tuple(r.shape)}")


def poincare_fc(x: torch.Tensor, z: torch.Tensor, r: torch.Tensor | None = None, *,
                c: float | torch.Tensor = 1.0) -> torch.Tensor:
    check_inputs(x, z, r)
    cc = F.curvature(c, x)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    den = F.conformal_denominator(x2, cc, -1, op="poincare_fc")
    alpha = _sqrt(cc) * 2 / den
    beta = (2 - den) / den
    p = x2 @ z
    zn = F._norm(z, 0).squeeze(0)
    y = _head()(p, alpha, beta, zn, r, c=cc)
    return F._keep_inside(y, cc, -1).reshape(*lead, z.shape[1])
