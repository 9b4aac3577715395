"""FlashButterfly long convolutions (Fu et al., "Simple Hardware-Efficient Long Convolutions for Sequence Modeling",
ICML 2023): a directly learned kernel kept smooth by squashing and smoothing, applied by FFT."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._common import _check_input, _op, _size_tuple

__all__ = ["squash", "smooth", "LongConv"]


def squash(k: torch.Tensor, lam: float) -> torch.Tensor:
    """Soft threshold: sign(k) · max(|k| − λ, 0) (sparsifies a learned long kernel)."""
    return torch.sign(k) * F.relu(k.abs() - lam)


def smooth(k: torch.Tensor, width: int) -> torch.Tensor:
    """Moving average over the last axis with an odd ``width`` ("same" length; zero padding)."""
    if width <= 1:
        return k
    shape = k.shape
    flat = k.reshape(-1, 1, shape[-1])
    return F.avg_pool1d(flat, width, stride=1, padding=width // 2, count_include_pad=True).reshape(shape)


class LongConv(nn.Module):
    """FlashButterfly long convolution with a directly learned kernel kept smooth by squashing (and smoothing).

        k̃ = smooth_p(squash_λ(K)),    y = k̃ ⋆ u + D ⊙ u         (``hyperkernels.fftconv``; causal by default)

    K has one kernel of the sequence's length per channel; D is a per-channel skip.
    """

    def __init__(self, channels: int, length: int, *, causal: bool = True, squash_lambda: float = 1e-3,
                 smooth_width: int = 1, dims: int = 1):
        super().__init__()
        if smooth_width < 1 or smooth_width % 2 == 0:
            raise ValueError(f"LongConv: smooth_width must be a positive odd int, got {smooth_width}")
        if squash_lambda < 0:
            raise ValueError(f"LongConv: squash_lambda must be >= 0, got {squash_lambda}")
        self.size = _size_tuple(length, dims, "LongConv length")
        self.channels, self.causal, self.dims = channels, causal, dims
        self.squash_lambda, self.smooth_width = squash_lambda, smooth_width
        taps = math.prod(self.size)
        self.kernel = nn.Parameter(torch.randn(channels, *self.size) / math.sqrt(taps))
        self.skip = nn.Parameter(torch.randn(channels))

    def effective_kernel(self) -> torch.Tensor:
        return smooth(squash(self.kernel, self.squash_lambda), self.smooth_width)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        _check_input("LongConv", u, self.dims, self.channels, self.size)
        y = _op("fftconv")(u, self.effective_kernel().to(u.dtype), causal=self.causal)
        return y + self.skip.view(-1, *([1] * self.dims)) * u
