"""``core.rms_norm`` -- the reference implementation.

RMSNorm (Zhang & Sennrich, 2019) over the last dimension D:

    y = x / sqrt(mean_j x_j^2 + eps) * w

computed as (x/c) / sqrt(mean_j (x_j/c)^2 + eps/c^2) with c = max(max_j |x_j|, 1), the same value, so that
x^2 cannot overflow (float32 inputs beyond 1.8e19 would otherwise give 0).

It is core's demonstration operator: a pure-PyTorch reference (this file, CPU and GPU, autograd) and a fused
Triton backend beside it (``rms_norm_triton.py``) with the same signature, proven equal by
``hyperzoo.core.testing.check_parity``.
"""

from __future__ import annotations

import torch


def check_inputs(x: torch.Tensor, weight: torch.Tensor | None, eps: float) -> None:
    """Shared input validation of every implementation (clear errors, same for all backends)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"rms_norm: x must be a floating-point tensor, got {type(x).__name__} "
                        f"{getattr(x, 'dtype', '')}".rstrip())
    if x.dim() == 0 or x.shape[-1] == 0:
        raise ValueError(f"rms_norm: x must have a non-empty last dimension, got shape {tuple(x.shape)}")
    if weight is not None and tuple(weight.shape) != (x.shape[-1],):
        raise ValueError(f"rms_norm: weight must have shape ({x.shape[-1]},) to match x's last dimension, "
                         f"got {tuple(weight.shape)}")
    if not eps > 0:
        raise ValueError(f"rms_norm: eps must be > 0, got {eps}")


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """y = x / sqrt(mean(x², dim=-1) + eps) · weight (half precisions computed in float32, returned in x's dtype)."""
    check_inputs(x, weight, eps)
    xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    # the same function computed without overflow: with c = max(max_j |x_j|, 1) per row (no gradient through c),
    # y = (x/c) · (mean (x/c)² + eps/c²)^-½, so x² never overflows for |x| up to the dtype's largest value
    c = xf.detach().abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
    xs = xf / c
    y = xs * torch.rsqrt(xs.pow(2).mean(dim=-1, keepdim=True) + eps / (c * c))
    if weight is not None:
        y = y * weight.to(xf.dtype)
    return y.to(x.dtype)
