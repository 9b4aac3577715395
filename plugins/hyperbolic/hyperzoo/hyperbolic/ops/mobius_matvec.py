"""``hyperbolic.mobius_matvec`` -- Möbius matrix-vector product (HNN, Ganea et al. 2018, eq. 27):

    M ⊗ x = (1/√c) tanh( ‖Mx‖/‖x‖ · artanh(√c‖x‖) ) · Mx / ‖Mx‖,     M ⊗ x = 0 where Mx = 0

``m`` is ``(out, in)`` and is applied to the last dimension of ``x`` (``x Mᵀ``), like ``nn.Linear``'s weight.
artanh(√c‖x‖) uses the accurate conformal denominator (see :mod:`hyperzoo.hyperbolic.functional`); the output
is kept strictly inside the ball. Autograd through these few per-row scalars saves ``x``, ``Mx`` and per-row
values only, so no hand-written backward is needed here.
"""

from __future__ import annotations

import torch

from .. import functional as F
from ..functional import _sqrt


def mobius_matvec(m: torch.Tensor, x: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    F._check_float(x, "x", "mobius_matvec")
    F._check_float(m, "m", "mobius_matvec")
    if m.dim() != 2 or m.shape[1] != x.shape[dim]:
        raise ValueError(f"mobius_matvec: m must be (out, in) with in = x.shape[{dim}] = {x.shape[dim]}, "
                         f"got m of shape {tuple(m.shape)}")
    cc = F.curvature(c, x)
    xm = x.movedim(dim, -1)
    den = F.conformal_denominator(xm, cc, -1, op="mobius_matvec")
    sc = _sqrt(cc)
    xn = F._norm(xm, -1)
    mx = xm @ m.to(x.dtype).t()
    mxn = F._norm(mx, -1)
    a = F.artanh_from(sc * xn, den)
    out = torch.tanh(mxn / xn * a) / (sc * mxn) * mx
    return F._keep_inside(out, cc, -1).movedim(-1, dim)
