"""Registered models of hyperkernels (factories take explicit keyword arguments; inputs are channels-first).

``terminator`` / ``terminator2d`` (HyperZ·Z·W slow-fast network, no residual connections), ``longconv``
(FlashButterfly long convolutions), ``inceptionnext`` (Inception depthwise blocks), ``unireplknet`` (dilated
re-parameterised large-kernel blocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo.core.validate import fraction as _fraction
from hyperzoo.core.validate import positive_int as _positive

from ._common import _check_input
from .butterfly import LongConv
from .inception import InceptionDWConv2d
from .reparam import DilatedReparamConv
from .slowfast import TerminatorBlock

__all__ = ["Terminator", "LongConvNet", "LargeKernelNet", "terminator", "terminator2d", "longconv", "inceptionnext",
           "unireplknet", "feedback_error"]


def feedback_error(kernels: Sequence[torch.Tensor]) -> torch.Tensor:
    """Local feedback error of the slow networks: Σ_{i<j} mean((Σ_c W_i[c] − Σ_c W_j[c])²) over block pairs."""
    sums = [k.sum(0) for k in kernels]
    total = sums[0].new_zeros(())
    for a, b in combinations(sums, 2):
        total = total + F.mse_loss(a, b)
    return total


class Terminator(nn.Module):
    """Terminator: a stem, ``depth`` :class:`TerminatorBlock` s (no residual connections), a classifier on the
    mean and the max over positions (standardised features carry their information in their spread, which a
    mean alone averages away).

    ``auxiliary_losses()`` returns ``{"feedback": λ · feedback_error}`` (λ = ``feedback_weight``), the local
    feedback error tying the blocks' channel-summed global hyper-kernels; core's trainer adds it to the loss.
    """

    def __init__(self, *, dims: int, in_channels: int, num_classes: int, size: Sequence[int], width: int, depth: int,
                 stem_kernel: int, local_sizes: Sequence[int], slow_width: int, slow_depth: int, omega: float,
                 groups: int, dropout: float, feedback_weight: float):
        super().__init__()
        self.dims, self.in_channels, self.size = dims, in_channels, tuple(size)
        self.feedback_weight = feedback_weight
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.stem = conv(in_channels, width, stem_kernel, padding="same")
        self.blocks = nn.ModuleList(
            TerminatorBlock(width, width, self.size, dims=dims, local_sizes=local_sizes, slow_width=slow_width,
                            slow_depth=slow_depth, omega=omega, groups=groups, dropout=dropout)
            for _ in range(depth))
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input("terminator", x, self.dims, self.in_channels, self.size)
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        h = h.flatten(2)
        return self.head(torch.cat([h.mean(-1), h.amax(-1)], dim=1))

    def slow_parameters(self) -> list[nn.Parameter]:
        """The slow networks' parameters (hyper-kernel generators); every other parameter is fast."""
        return [p for b in self.blocks for p in b.slow_parameters()]

    def feedback_error(self) -> torch.Tensor:
        """The local feedback error of the blocks' global hyper-kernels, computed afresh by their slow nets."""
        return feedback_error([b.global_kernel() for b in self.blocks])

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        """``{"feedback": λ · feedback_error}``, from the hyper-kernels the last forward computed when they are
        still current (core's trainer calls this right after the forward), else afresh."""
        kernels = [b.take_forward_kernel() for b in self.blocks]
        if self.feedback_weight == 0 or len(self.blocks) < 2:
            return {}
        kernels = [b.global_kernel() if k is None else k for b, k in zip(self.blocks, kernels)]
        return {"feedback": self.feedback_weight * feedback_error(kernels)}


def _terminator(dims, in_channels, num_classes, size, width, depth, stem_kernel, local_sizes, slow_width, slow_depth,
                omega, groups, dropout, feedback_weight) -> Terminator:
    if not feedback_weight >= 0:
        raise ValueError(f"feedback_weight must be >= 0, got {feedback_weight}")
    if width % groups:
        raise ValueError(f"width ({width}) must be divisible by groups ({groups})")
    return Terminator(dims=dims, in_channels=_positive("in_channels", in_channels),
                      num_classes=_positive("num_classes", num_classes), size=size, width=_positive("width", width),
                      depth=_positive("depth", depth), stem_kernel=_positive("stem_kernel", stem_kernel),
                      local_sizes=[_positive("local_sizes[i]", k) for k in local_sizes],
                      slow_width=_positive("slow_width", slow_width), slow_depth=slow_depth, omega=omega,
                      groups=_positive("groups", groups), dropout=_fraction("dropout", dropout),
                      feedback_weight=float(feedback_weight))


def terminator(*, in_channels: int, num_classes: int, seq_len: int, width: int = 24, depth: int = 3,
               stem_kernel: int = 3, local_sizes: Sequence[int] = (3, 5, 7, 9), slow_width: int = 16,
               slow_depth: int = 2, omega: float = 0.5, groups: int = 4, dropout: float = 0.1,
               feedback_weight: float = 0.1) -> Terminator:
    """Terminator for pixel-level sequences (N, C, L): global + local HyperZ·Z·W branches, no residuals."""
    return _terminator(1, in_channels, num_classes, [_positive("seq_len", seq_len)], width, depth, stem_kernel,
                       local_sizes, slow_width, slow_depth, omega, groups, dropout, feedback_weight)


def terminator2d(*, in_channels: int, num_classes: int, image_size: Sequence[int], width: int = 32, depth: int = 3,
                 stem_kernel: int = 3, local_sizes: Sequence[int] = (3, 5, 7), slow_width: int = 16,
                 slow_depth: int = 2, omega: float = 0.5, groups: int = 4, dropout: float = 0.1,
                 feedback_weight: float = 0.1) -> Terminator:
    """Terminator for images (N, C, H, W): 2D hyper-kernels (global by 2D FFT), no residuals."""
    if len(image_size) != 2:
        raise ValueError(f"image_size must be [H, W], got {image_size!r}")
    return _terminator(2, in_channels, num_classes, [_positive("image_size[i]", s) for s in image_size], width, depth,
                       stem_kernel, local_sizes, slow_width, slow_depth, omega, groups, dropout, feedback_weight)


class _ChannelLayerNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, -1)).transpose(1, -1)


class _LongConvBlock(nn.Module):
    """x + Dropout(GLU(W · Dropout(GELU(LongConv(LN(x))))))"""

    def __init__(self, width: int, length: int, causal: bool, squash_lambda: float, smooth_width: int,
                 dropout: float):
        super().__init__()
        self.norm = _ChannelLayerNorm(width)
        self.conv = LongConv(width, length, causal=causal, squash_lambda=squash_lambda, smooth_width=smooth_width)
        self.out = nn.Conv1d(width, 2 * width, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(F.gelu(self.conv(self.norm(x))))
        return x + self.dropout(F.glu(self.out(h), dim=1))


class LongConvNet(nn.Module):
    """Encoder, ``depth`` pre-norm residual long-convolution blocks, mean pool, classifier."""

    def __init__(self, in_channels: int, num_classes: int, seq_len: int, width: int, depth: int, causal: bool,
                 squash_lambda: float, smooth_width: int, dropout: float):
        super().__init__()
        self.in_channels, self.seq_len = in_channels, seq_len
        self.encoder = nn.Conv1d(in_channels, width, 1)
        self.blocks = nn.Sequential(*[_LongConvBlock(width, seq_len, causal, squash_lambda, smooth_width, dropout)
                                      for _ in range(depth)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input("longconv", x, 1, self.in_channels, (self.seq_len,))
        h = self.blocks(self.encoder(x))
        return self.head(self.norm(h.mean(-1)))


def longconv(*, in_channels: int, num_classes: int, seq_len: int, width: int = 64, depth: int = 4,
             causal: bool = True, squash_lambda: float = 1e-3, smooth_width: int = 1,
             dropout: float = 0.1) -> LongConvNet:
    """FlashButterfly long-convolution sequence model (learned kernels, squashed/smoothed, by FFT)."""
    return LongConvNet(_positive("in_channels", in_channels), _positive("num_classes", num_classes),
                       _positive("seq_len", seq_len), _positive("width", width), _positive("depth", depth), causal,
                       squash_lambda, smooth_width, _fraction("dropout", dropout))


class _SqueezeExcite(nn.Module):
    """x ⊙ σ(W_2 ReLU(W_1 mean_hw(x))) (per sample)."""

    def __init__(self, channels: int, ratio: float = 0.25):
        super().__init__()
        hidden = max(1, int(channels * ratio))
        self.down, self.up = nn.Conv2d(channels, hidden, 1), nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.up(F.relu(self.down(x.mean((2, 3), keepdim=True)))))


class _MetaNeXtBlock(nn.Module):
    """x + γ ⊙ MLP(Norm(Mixer(x))), MLP = 1x1 conv (C → rC), GELU, 1x1 conv (rC → C); γ starts at ``init_scale``."""

    def __init__(self, width: int, mixer: nn.Module, mlp_ratio: int, dropout: float, se: bool,
                 init_scale: float = 1e-2):
        super().__init__()
        self.mixer = mixer
        self.norm = nn.BatchNorm2d(width)
        self.se = _SqueezeExcite(width) if se else nn.Identity()
        self.mlp = nn.Sequential(nn.Conv2d(width, mlp_ratio * width, 1), nn.GELU(), nn.Dropout(dropout),
                                 nn.Conv2d(mlp_ratio * width, width, 1))
        self.gamma = nn.Parameter(torch.full((width, 1, 1), init_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.mlp(self.se(self.norm(self.mixer(x))))


class LargeKernelNet(nn.Module):
    """Stem, stages of token-mixer blocks with 2x2 strided downsampling between them, mean pool, classifier."""

    def __init__(self, in_channels: int, num_classes: int, image_size: Sequence[int], widths: Sequence[int],
                 depths: Sequence[int], make_mixer, mlp_ratio: int, dropout: float, se: bool):
        super().__init__()
        if len(widths) != len(depths) or not widths:
            raise ValueError(f"widths {list(widths)} and depths {list(depths)} must be non-empty and of equal length")
        self.in_channels, self.image_size = in_channels, tuple(image_size)
        stride = 2 if min(image_size) >= 16 else 1
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, stride=stride, padding=1),
                                  nn.BatchNorm2d(widths[0]), nn.GELU())
        layers: list[nn.Module] = []
        for i, (w, d) in enumerate(zip(widths, depths)):
            if i > 0:
                layers += [nn.Conv2d(widths[i - 1], w, 2, stride=2), nn.BatchNorm2d(w)]
            layers += [_MetaNeXtBlock(w, make_mixer(w), mlp_ratio, dropout, se) for _ in range(d)]
        self.stages = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(widths[-1])
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(type(self).__name__, x, 2, self.in_channels)
        h = self.stages(self.stem(x))
        return self.head(self.norm(h.mean((2, 3))))

    def reparameterize(self) -> LargeKernelNet:
        """Merge every re-parameterisable conv into its single inference kernel (call in eval mode)."""
        for m in self.modules():
            if isinstance(m, DilatedReparamConv):
                m.reparameterize()
        return self


def _check_sizes(widths: Sequence[int], depths: Sequence[int], image_size: Sequence[int]) -> None:
    for name, values in (("widths", widths), ("depths", depths), ("image_size", image_size)):
        for v in values:
            _positive(f"{name}[i]", v)
    if len(image_size) != 2:
        raise ValueError(f"image_size must be [H, W], got {image_size!r}")


def inceptionnext(*, in_channels: int, num_classes: int, image_size: Sequence[int],
                  widths: Sequence[int] = (32, 64), depths: Sequence[int] = (2, 2), square_kernel: int = 3,
                  band_kernel: int = 7, branch_ratio: float = 0.125, mlp_ratio: int = 4,
                  dropout: float = 0.0) -> LargeKernelNet:
    """InceptionNeXt (MetaNeXt blocks with the Inception depthwise token mixer), sized for digits / MNIST."""
    _check_sizes(widths, depths, image_size)
    return LargeKernelNet(_positive("in_channels", in_channels), _positive("num_classes", num_classes), image_size,
                          widths, depths, lambda w: InceptionDWConv2d(w, square_kernel, band_kernel, branch_ratio),
                          _positive("mlp_ratio", mlp_ratio), _fraction("dropout", dropout), se=False)


def unireplknet(*, in_channels: int, num_classes: int, image_size: Sequence[int],
                widths: Sequence[int] = (32, 64), depths: Sequence[int] = (2, 2), kernel_size: int = 7,
                mlp_ratio: int = 4, dropout: float = 0.0) -> LargeKernelNet:
    """UniRepLKNet (dilated re-parameterised large-kernel blocks with SE), sized for digits / MNIST.
    Call ``model.reparameterize()`` after training for the single-kernel inference form."""
    _check_sizes(widths, depths, image_size)
    return LargeKernelNet(_positive("in_channels", in_channels), _positive("num_classes", num_classes), image_size,
                          widths, depths, lambda w: DilatedReparamConv(w, kernel_size),
                          _positive("mlp_ratio", mlp_ratio), _fraction("dropout", dropout), se=True)
