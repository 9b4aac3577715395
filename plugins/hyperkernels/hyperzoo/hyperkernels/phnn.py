"""Parameterised hypercomplex convolutions (PHNNs, Grassucci et al., IEEE TNNLS 2022): W = Σ_i A_i ⊗ F_i."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._common import MaterialisedConv

__all__ = ["PHConv1d", "PHConv2d"]


class _PHConv(MaterialisedConv):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True, *, n: int = 4):
        super().__init__()
        if n < 1 or in_channels % n or out_channels % n:
            raise ValueError(f"{type(self).__name__}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by n ({n})")
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, bias)
        self.n = n
        self.A = nn.Parameter(torch.empty(n, n, n))
        nn.init.xavier_uniform_(self.A)
        self.F = nn.Parameter(torch.empty(n, out_channels // n, in_channels // n, *self.kernel_size))
        bound = math.sqrt(6.0 / (in_channels * math.prod(self.kernel_size) / n + out_channels / n)) / n
        nn.init.uniform_(self.F, -bound, bound)

    @property
    def weight(self) -> torch.Tensor:
        """W = Σ_i A_i ⊗ F_i (Kronecker product over the (out, in) channel axes)."""
        n, (o, c) = self.n, self.F.shape[1:3]
        w = torch.einsum("iab,ipq...->apbq...", self.A, self.F)
        return w.reshape(n * o, n * c, *self.kernel_size)


class PHConv1d(_PHConv):
    """Parameterised hypercomplex 1D convolution: W = Σ_{i=1}^{n} A_i ⊗ F_i, A_i ∈ R^{n×n},
    F_i ∈ R^{C_out/n × C_in/n × K}. Parameters n³ + C_out C_in K / n (+ bias): about 1/n of ``nn.Conv1d``'s."""

    dims = 1


class PHConv2d(_PHConv):
    """Parameterised hypercomplex 2D convolution (PHNNs): W = Σ_{i=1}^{n} A_i ⊗ F_i; n = 4 with A fixed to the
    Hamilton-product matrices is the quaternion convolution. About 1/n of ``nn.Conv2d``'s parameters."""

    dims = 2
