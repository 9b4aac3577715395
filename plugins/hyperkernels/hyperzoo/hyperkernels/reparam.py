"""RepLKNet / UniRepLKNet (Ding et al., CVPR 2022 / 2024): dilated re-parameterised large-kernel depthwise
convolution, trained as several branches and merged into one kernel for inference."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import DepthwiseConv

__all__ = ["DILATED_BRANCHES", "DilatedReparamConv", "dilate_kernel"]


DILATED_BRANCHES = {
    5: ((3, 3), (1, 2)),
    7: ((5, 3, 3), (1, 2, 3)),
    9: ((5, 5, 3, 3), (1, 2, 3, 4)),
    11: ((5, 5, 3, 3, 3), (1, 2, 3, 4, 5)),
    13: ((5, 7, 3, 3, 3), (1, 2, 3, 4, 5)),
    15: ((5, 7, 3, 3, 3), (1, 2, 3, 5, 7)),
    17: ((5, 9, 3, 3, 3), (1, 2, 4, 5, 7)),
}


def _fuse_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv followed by eval-mode BN as one conv: w' = w γ/σ, b' = β + (b − μ) γ/σ, σ = sqrt(var + eps)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return weight * scale.view(-1, *([1] * (weight.dim() - 1))), bn.bias + (b - bn.running_mean) * scale


def dilate_kernel(k: torch.Tensor, dilation: int) -> torch.Tensor:
    """The dense kernel of a dilated one: size d(K−1)+1 per axis, taps at multiples of d, zeros between."""
    if dilation == 1:
        return k
    dims = k.dim() - 1
    size = [dilation * (s - 1) + 1 for s in k.shape[1:]]
    out = k.new_zeros(k.shape[0], *size)
    out[(slice(None), *([slice(None, None, dilation)] * dims))] = k
    return out


def _pad_to(k: torch.Tensor, size: int) -> torch.Tensor:
    pad = []
    for s in reversed(k.shape[1:]):
        pad += [(size - s) // 2, (size - s) - (size - s) // 2]
    return F.pad(k, pad)


class DilatedReparamConv(nn.Module):
    """UniRepLKNet's dilated re-parameterised large-kernel depthwise conv (RepLKNet's large+small kernel when the
    table has one dilation-1 branch).

        train:  y = BN_0(DW_K(x)) + Σ_i BN_i(DW_{k_i, dilation r_i}(x))
        merged: y = DW_K(x; W) + b,  W = W̄_0 + Σ_i pad_K(dilate_{r_i}(W̄_i)),  b = Σ b̄_i
    where W̄, b̄ are each branch with its eval-mode batch norm folded in. :meth:`reparameterize` switches to the
    merged single kernel (inference); outputs are equal in eval mode (up to float rounding).
    """

    def __init__(self, channels: int, kernel_size: int = 7, *, dims: int = 2,
                 branches: Sequence[tuple[int, int]] | None = None):
        super().__init__()
        if branches is None:
            if kernel_size not in DILATED_BRANCHES:
                raise ValueError(f"DilatedReparamConv: no default branches for kernel_size {kernel_size}; "
                                 f"choose one of {sorted(DILATED_BRANCHES)} or pass branches=[(k, r), ...]")
            branches = list(zip(*DILATED_BRANCHES[kernel_size]))
        for k, r in branches:
            if r * (k - 1) + 1 > kernel_size or k % 2 == 0:
                raise ValueError(f"DilatedReparamConv: branch kernel {k} (odd) with dilation {r} spans "
                                 f"{r * (k - 1) + 1} > kernel_size {kernel_size}")
        if kernel_size % 2 == 0:
            raise ValueError(f"DilatedReparamConv: kernel_size must be odd, got {kernel_size}")
        self.dims, self.kernel_size, self.branches = dims, kernel_size, [tuple(b) for b in branches]
        bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.large = DepthwiseConv(channels, (kernel_size,) * dims, bias=False)
        self.large_bn = bn(channels)
        self.small = nn.ModuleList(DepthwiseConv(channels, (k,) * dims, r, bias=False) for k, r in self.branches)
        self.small_bn = nn.ModuleList(bn(channels) for _ in self.branches)
        self.merged: DepthwiseConv | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged is not None:
            return self.merged(x)
        y = self.large_bn(self.large(x))
        for conv, bn in zip(self.small, self.small_bn):
            y = y + bn(conv(x))
        return y

    @torch.no_grad()
    def merged_kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W, b) of the single equivalent large kernel (uses the batch norms' running statistics)."""
        w, b = _fuse_bn(self.large.weight, None, self.large_bn)
        for conv, bn in zip(self.small, self.small_bn):
            wi, bi = _fuse_bn(conv.weight, None, bn)
            w = w + _pad_to(dilate_kernel(wi, conv.dilation), self.kernel_size)
            b = b + bi
        return w, b

    def reparameterize(self) -> DilatedReparamConv:
        """Replace the branches by the merged large kernel (for inference); returns self."""
        if self.merged is None:
            w, b = self.merged_kernel()
            merged = DepthwiseConv(w.shape[0], tuple(w.shape[1:])).to(w.device, w.dtype)
            merged.weight.data.copy_(w)
            merged.bias.data.copy_(b)
            self.merged = merged
            del self.large, self.large_bn, self.small, self.small_bn
        return self
