"""Interval bound propagation (IBP) through ``nn.Sequential`` stacks of ``Linear`` / ``ReLU`` / ``Flatten``.

A box is ``(mid, rad)``: every point ``mid + u ⊙ rad`` with ``|u| <= 1``. ``Linear`` maps boxes with
``hypernets.interval_linear`` (weights may be boxes too); a monotone activation maps the bounds:
``[relu(mid − rad), relu(mid + rad)]``. The propagated box contains the image of every point of the input box
(the test samples points and checks), and shrinks to the point map as the radii go to 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from hyperzoo.core import get_operator

__all__ = ["interval_sequential", "interval_linear"]


def interval_linear(x_mid, x_rad, w_mid, w_rad, b_mid=None, b_rad=None):
    """The dispatched ``hypernets.interval_linear`` operator (Triton on CUDA, else the reference)."""
    return get_operator("hypernets.interval_linear")(x_mid, x_rad, w_mid, w_rad, b_mid, b_rad)


def _relu(mid: torch.Tensor, rad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = torch.relu(mid - rad), torch.relu(mid + rad)
    return (hi + lo) / 2, (hi - lo) / 2


def interval_sequential(module: nn.Sequential, x_mid: torch.Tensor, x_rad: torch.Tensor,
                        weights: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Propagate the box ``(x_mid, x_rad)`` through ``module``.

    ``weights`` maps ``module``'s parameter names (``"0.weight"``, ...) to ``(mid, rad)`` boxes; parameters not in it
    are the module's own (points). Inputs are ``(N, features)`` (or ``(N, ...)`` before a ``Flatten``).
    """
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"interval bound propagation needs an nn.Sequential of Linear/ReLU/Flatten, got "
                        f"{type(module).__name__}")
    weights = dict(weights or {})
    mid, rad = x_mid, x_rad

    def box(name: str, layer: nn.Linear, p: str) -> tuple[torch.Tensor, torch.Tensor] | tuple[None, None]:
        key = f"{name}.{p}"
        if key in weights:
            return weights[key]
        t = getattr(layer, p)
        return (None, None) if t is None else (t, torch.zeros_like(t))

    for name, layer in module.named_children():
        if isinstance(layer, nn.Linear):
            w_mid, w_rad = box(name, layer, "weight")
            b_mid, b_rad = box(name, layer, "bias")
            mid, rad = interval_linear(mid, rad, w_mid, w_rad, b_mid, b_rad)
        elif isinstance(layer, nn.ReLU):
            mid, rad = _relu(mid, rad)
        elif isinstance(layer, nn.Flatten):
            mid, rad = layer(mid), layer(rad)
        elif isinstance(layer, (nn.Identity, nn.Dropout)):
            continue
        else:
            raise NotImplementedError(f"interval bound propagation does not know layer {name!r} "
                                      f"({type(layer).__name__}); use Linear, ReLU, Flatten, Identity, Dropout")
    return mid, rad
