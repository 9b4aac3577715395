"""``hypernets.interval_linear`` -- a linear layer in midpoint-radius interval arithmetic (reference).

Inputs are boxes ``x ∈ [x_mid − x_rad, x_mid + x_rad]`` (rows of ``(N, in)``), weights are boxes
``W ∈ [W_mid − W_rad, W_mid + W_rad]`` ``(out, in)`` and so is the bias. The image of every choice of points in those
boxes lies in the box (Rump's midpoint-radius product, exact for point weights, sound in general)

    y_mid = x_mid W_midᵀ + b_mid
    y_rad = x_rad (|W_mid| + W_rad)ᵀ + |x_mid| W_radᵀ + b_rad

Interval bound propagation (IBP) through a hypernetwork and a target network chains this with monotone
activations (``relu(lo), relu(hi)``). Every radius must be ``>= 0``. Cost: three ``N × in × out`` products.
"""

from __future__ import annotations

import torch

__all__ = ["interval_linear", "check_inputs"]


def check_inputs(x_mid, x_rad, w_mid, w_rad, b_mid=None, b_rad=None) -> None:
    """Raise a clear error for shapes, dtypes or radii that the operator cannot take."""
    named = {"x_mid": x_mid, "x_rad": x_rad, "w_mid": w_mid, "w_rad": w_rad, "b_mid": b_mid, "b_rad": b_rad}
    for name, t in named.items():
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"interval_linear: {name} must be a tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"interval_linear: {name} must be floating-point, got {t.dtype}")
        if t.dtype != x_mid.dtype:
            raise TypeError(f"interval_linear: {name} has dtype {t.dtype} but x_mid has {x_mid.dtype}; cast them alike")
    if x_mid.dim() != 2:
        raise ValueError(f"interval_linear: x_mid must be 2-D (N, in), got shape {tuple(x_mid.shape)}")
    if x_rad.shape != x_mid.shape:
        raise ValueError(f"interval_linear: x_rad has shape {tuple(x_rad.shape)}, x_mid {tuple(x_mid.shape)}; "
                         "they must match")
    if w_mid.dim() != 2 or w_mid.shape[1] != x_mid.shape[1]:
        raise ValueError(f"interval_linear: w_mid must be (out, {x_mid.shape[1]}) for inputs with "
                         f"{x_mid.shape[1]} features, got {tuple(w_mid.shape)}")
    if w_rad.shape != w_mid.shape:
        raise ValueError(f"interval_linear: w_rad has shape {tuple(w_rad.shape)}, w_mid {tuple(w_mid.shape)}; "
                         "they must match")
    if (b_mid is None) != (b_rad is None):
        raise ValueError("interval_linear: give both b_mid and b_rad, or neither")
    if b_mid is not None and (b_mid.shape != (w_mid.shape[0],) or b_rad.shape != (w_mid.shape[0],)):
        raise ValueError(f"interval_linear: b_mid and b_rad must have shape ({w_mid.shape[0]},), got "
                         f"{tuple(b_mid.shape)} and {tuple(b_rad.shape)}")
    for name in ("x_rad", "w_rad", "b_rad"):
        t = named[name]
        if t is not None and t.numel() and bool((t.detach() < 0).any()):
            raise ValueError(f"interval_linear: {name} holds negative radii (min {float(t.detach().min()):.3g}); "
                             "a radius is a half-width and must be >= 0")


def interval_linear(x_mid: torch.Tensor, x_rad: torch.Tensor, w_mid: torch.Tensor, w_rad: torch.Tensor,
                    b_mid: torch.Tensor | None = None, b_rad: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y_mid, y_rad)`` of the box image of ``x ↦ W x + b`` (see the module docstring for the equations)."""
    check_inputs(x_mid, x_rad, w_mid, w_rad, b_mid, b_rad)
    y_mid = x_mid @ w_mid.T
    y_rad = x_rad @ (w_mid.abs() + w_rad).T + x_mid.abs() @ w_rad.T
    if b_mid is not None:
        y_mid = y_mid + b_mid
        y_rad = y_rad + b_rad
    return y_mid, y_rad
