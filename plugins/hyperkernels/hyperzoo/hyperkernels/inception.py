"""InceptionNeXt (Yu et al., CVPR 2024): the Inception depthwise token mixer."""

from __future__ import annotations

import torch
from torch import nn

from ._common import DepthwiseConv

__all__ = ["InceptionDWConv2d"]


class InceptionDWConv2d(nn.Module):
    """InceptionNeXt token mixer: a channel split into identity, k×k, 1×b and b×1 depthwise branches.

        g = int(C · r);  X = [X_id (C − 3g), X_hw (g), X_w (g), X_h (g)]
        Y = concat[X_id, DW_{k×k}(X_hw), DW_{1×b}(X_w), DW_{b×1}(X_h)]
    Parameters: g(k² + 1) + 2 g(b + 1) (with biases).
    """

    def __init__(self, channels: int, square_kernel: int = 3, band_kernel: int = 11, branch_ratio: float = 0.125):
        super().__init__()
        g = int(channels * branch_ratio)
        if g < 1 or 3 * g > channels:
            raise ValueError(f"InceptionDWConv2d: branch_ratio {branch_ratio} gives {g} channels per branch for "
                             f"{channels} channels; need 1 <= int(C·r) <= C/3")
        self.split = (channels - 3 * g, g, g, g)
        self.dw_hw = DepthwiseConv(g, (square_kernel, square_kernel))
        self.dw_w = DepthwiseConv(g, (1, band_kernel))
        self.dw_h = DepthwiseConv(g, (band_kernel, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_id, x_hw, x_w, x_h = torch.split(x, self.split, dim=1)
        return torch.cat([x_id, self.dw_hw(x_hw), self.dw_w(x_w), self.dw_h(x_h)], dim=1)
