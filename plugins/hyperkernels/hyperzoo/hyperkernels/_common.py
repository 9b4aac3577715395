"""Building blocks shared by hyperkernels' layer families: input checks, size tuples, the registered operators,
a 1x1 channel mix, coordinate grids, a depthwise convolution through ``hyperkernels.dwconv`` and the base of the
convolutions whose weight is materialised from factors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo import core

__all__ = ["Pointwise", "coordinate_grid", "DepthwiseConv", "MaterialisedConv"]


def _op(name: str):
    return core.get_operator(f"hyperkernels.{name}")


def _size_tuple(size: int | Sequence[int], dims: int, what: str) -> tuple[int, ...]:
    sizes = (size,) * dims if isinstance(size, int) else tuple(size)
    if len(sizes) != dims or not all(isinstance(s, int) and s >= 1 for s in sizes):
        raise ValueError(f"{what} must be {dims} positive int(s), got {size!r}")
    return sizes


class Pointwise(nn.Module):
    """1x1 convolution over channels, y[n, :, ...] = A x[n, :, ...] + a, as one matrix product (for any layout
    (N, C, *spatial)); initialised like ``nn.Conv1d(C_in, C_out, 1)``."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        bound = 1 / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels).uniform_(-bound, bound))
        self.register_parameter("bias", nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias
                                else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(self.weight, x.flatten(2))
        if self.bias is not None:
            y = y + self.bias[:, None]
        return y.view(x.shape[0], -1, *x.shape[2:])


def _check_input(layer: str, x: torch.Tensor, dims: int, channels: int, size: tuple[int, ...] | None = None) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{layer}: input must be a floating-point tensor, got "
                        f"{getattr(x, 'dtype', type(x).__name__)}")
    layout = "(N, C, L)" if dims == 1 else "(N, C, H, W)"
    if x.dim() != dims + 2:
        raise ValueError(f"{layer}: expected input {layout}, got shape {tuple(x.shape)}")
    if x.shape[1] != channels:
        raise ValueError(f"{layer}: expected {channels} input channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    if size is not None and tuple(x.shape[2:]) != size:
        raise ValueError(f"{layer}: built for inputs of size {size}, got {tuple(x.shape[2:])}; "
                         f"build the model with seq_len/image_size of your data")


def coordinate_grid(size: Sequence[int]) -> torch.Tensor:
    """Normalised coordinates in [-1, 1]^D of a grid of ``size``: shape (D, *size)."""
    axes = [torch.linspace(-1.0, 1.0, s) if s > 1 else torch.zeros(1) for s in size]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


class DepthwiseConv(nn.Module):
    """Depthwise conv through ``hyperkernels.dwconv`` ("same" padding), initialised like ``nn.Conv2d``."""

    def __init__(self, channels: int, kernel_size: Sequence[int], dilation: int = 1, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, *kernel_size))
        bound = 1 / math.sqrt(math.prod(kernel_size))
        nn.init.uniform_(self.weight, -bound, bound)
        self.register_parameter("bias", nn.Parameter(torch.empty(channels).uniform_(-bound, bound)) if bias else None)
        self.dilation = dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _op("dwconv")(x, self.weight, self.bias, dilation=self.dilation)


class MaterialisedConv(nn.Module):
    """A drop-in for ``nn.Conv1d/2d`` whose weight is built from factors; ``weight`` is the dense kernel."""

    dims: int

    def _setup(self, in_channels: int, out_channels: int, kernel_size, stride, padding, dilation, bias: bool):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _size_tuple(kernel_size, self.dims, "kernel_size")
        self.stride, self.padding, self.dilation = stride, padding, dilation
        fan_in = in_channels * math.prod(self.kernel_size)
        self.register_parameter(
            "bias", nn.Parameter(torch.empty(out_channels).uniform_(-1, 1) / math.sqrt(fan_in)) if bias else None)

    @property
    def weight(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(type(self).__name__, x, self.dims, self.in_channels)
        conv = F.conv1d if self.dims == 1 else F.conv2d
        return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
