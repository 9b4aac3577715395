r"""``hyperbolic.poincare_conv2d`` -- the Poincaré ResNet convolution (van Spengler, Berkhout, Mettes 2023): per
output location, β-concatenate the k×k patch of input points and apply the HNN++ Poincaré FC layer:

    t = β · log₀(x) per pixel,  β = B(C k²/2, ½) / B(C/2, ½)          (β-scaling, HNN++ eq. 13)
    v = unfold(t)  (zero padding = the origin),  u = exp₀(v),  y = poincare_fc(u; z, r)

without materialising the unfolded tensor. With ρ = √c‖v‖ the unfolded point satisfies
λ_u⟨u, z_k⟩ = sinh(2ρ)/ρ · ⟨v, z_k⟩ and λ_u − 1 = cosh(2ρ), so

    p = conv2d(t, Z)  (Z = zᵀ reshaped to (out, C, k, k)),   ‖v‖² = boxsum_{k×k}(‖t‖²)
    alpha = √c sinh(2ρ)/ρ,   beta = cosh(2ρ),   y = poincare_fc_head(p, alpha, beta, ‖z_k‖, r)

i.e. one Euclidean convolution, one k×k box sum of a single channel and the fused head: memory of the order of
a Euclidean convolution instead of HypLL's C·k²-times larger unfolded tensor (and its autograd copies). Clamp
(documented): ρ is capped at 20 — an unfolded point closer than 1e-17 to the boundary, which no float32/float64
point represents (float32 patches never get there: artanh of the largest float32 below 1 is 8.7).
``z`` is (C·k², out) in ``F.unfold``'s (channel, row, column) order, HypLL's layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as tnf

from .. import functional as F
from ..functional import _sqrt
from .poincare_fc import _head

RHO_MAX = 20.0


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def check_inputs(x, z, r, kernel_size) -> tuple[int, int]:
    F._check_float(x, "x", "poincare_conv2d")
    F._check_float(z, "z", "poincare_conv2d")
    if x.dim() != 4:
        raise ValueError(f"poincare_conv2d: x must be (B, C, H, W) with points along C, got {tuple(x.shape)}")
    kh, kw = _pair(kernel_size)
    if z.dim() != 2 or z.shape[0] != x.shape[1] * kh * kw:
        raise ValueError(f"poincare_conv2d: z must be (C·kh·kw, out) = ({x.shape[1] * kh * kw}, out) for C = "
                         f"{x.shape[1]} and kernel {kh}x{kw}, got {tuple(z.shape)}")
    if r is not None and tuple(r.shape) != (z.shape[1],):
        raise ValueError(f"poincare_conv2d: r must have shape ({z.shape[1]},), got {tuple(r.shape)}")
    return kh, kw


def patch_tangent(x, c, kh, kw, stride, padding):
    """t = β log₀(x) (per pixel) and ‖v‖² per output location (the box sum)."""
    beta = F.beta_ratio(x.shape[1] * kh * kw, x.shape[1])
    xl = x.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)   # points last, contiguous
    tl_ = F.logmap0(xl, c=c) * beta
    sq = F._sqnorm(tl_, -1).permute(0, 3, 1, 2)
    t = tl_.permute(0, 3, 1, 2)
    ones = torch.ones(1, 1, kh, kw, dtype=x.dtype, device=x.device)
    v2 = tnf.conv2d(sq, ones, stride=stride, padding=padding)
    return t, v2


def conv_factors(v2: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha = √c sinh(2ρ)/ρ and beta = cosh(2ρ), ρ = √c‖v‖ ≤ RHO_MAX (ρ ≥ tiny: sinh(2ρ)/ρ → 2 exactly)."""
    rho = (c * v2).clamp_min(F._tiny(v2)).sqrt().clamp_max(RHO_MAX)
    return (2 * _sqrt(c)) * (torch.sinh(2 * rho) / (2 * rho)), torch.cosh(2 * rho)


def poincare_conv2d(x: torch.Tensor, z: torch.Tensor, r: torch.Tensor | None = None, *,
                    c: float | torch.Tensor = 1.0, kernel_size: int | tuple[int, int] = 3,
                    stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0) -> torch.Tensor:
    kh, kw = check_inputs(x, z, r, kernel_size)
    cc = F.curvature(c, x)
    out = z.shape[1]
    t, v2 = patch_tangent(x, cc, kh, kw, stride, padding)
    weight = z.t().reshape(out, x.shape[1], kh, kw)
    p = tnf.conv2d(t, weight, stride=stride, padding=padding)
    b, _, ho, wo = p.shape
    alpha, beta = conv_factors(v2, cc)
    p2 = p.permute(0, 2, 3, 1).reshape(-1, out)
    y = _head()(p2, alpha.reshape(-1, 1), beta.reshape(-1, 1), F._norm(z, 0).squeeze(0), r, c=cc)
    y = F._keep_inside(y, cc, -1)
    return y.reshape(b, ho, wo, out).permute(0, 3, 1, 2)
