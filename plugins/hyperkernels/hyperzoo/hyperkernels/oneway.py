"""A priori compressed convolutions (Boukraichi et al., arXiv 2304.04964): kernels as sums of products of one-way
filters."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._common import MaterialisedConv

__all__ = ["OneWayConv1d", "OneWayConv2d"]


class _OneWayConv(MaterialisedConv):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True, *, rank: int = 1):
        super().__init__()
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, bias)
        if rank < 1:
            raise ValueError(f"{type(self).__name__}: rank must be >= 1, got {rank}")
        self.rank = rank
        # one-way filters per output channel: channel filter c, and one spatial filter per axis
        fan_in = in_channels * math.prod(self.kernel_size)
        scale = (3.0 / fan_in) ** (1.0 / (2 * (self.dims + 1))) / rank ** (1.0 / (2 * (self.dims + 1)))
        self.channel = nn.Parameter(torch.empty(rank, out_channels, in_channels).uniform_(-1, 1) * scale)
        self.spatial = nn.ParameterList(
            nn.Parameter(torch.empty(rank, out_channels, k).uniform_(-1, 1) * scale) for k in self.kernel_size)

    @property
    def weight(self) -> torch.Tensor:
        """W[o, c, i(, j)] = Σ_r g[r, o, c] a[r, o, i] (b[r, o, j])."""
        if self.dims == 1:
            return torch.einsum("roc,roi->oci", self.channel, self.spatial[0])
        return torch.einsum("roc,roi,roj->ocij", self.channel, self.spatial[0], self.spatial[1])


class OneWayConv1d(_OneWayConv):
    """``nn.Conv1d`` whose 2-way kernel (C_in × K) per output channel is a sum of ``rank`` products of one-way filters:

        W[o, c, i] = Σ_r g_r[o, c] a_r[o, i]            parameters: rank · C_out (C_in + K) (+ bias)
    """

    dims = 1


class OneWayConv2d(_OneWayConv):
    """``nn.Conv2d`` whose 3-way kernel (C_in × K_h × K_w) per output channel is a sum of ``rank`` products of
    one-way filters (a priori compression, Boukraichi et al.):

        W[o, c, i, j] = Σ_r g_r[o, c] a_r[o, i] b_r[o, j]   parameters: rank · C_out (C_in + K_h + K_w) (+ bias)
    """

    dims = 2
