"""Core's baseline models. Each takes ``width`` so a benchmark can match another model's parameter count.

Inputs are channels-first: sequences ``(N, C, L)``, images ``(N, C, H, W)``; outputs are logits ``(N, classes)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .validate import positive_int as _positive

__all__ = ["mlp", "cnn", "lstm", "transformer", "count_parameters"]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class MLP(nn.Module):
    def __init__(self, in_features: int, num_classes: int, width: int, depth: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        size = in_features
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.GELU(), nn.Dropout(dropout)]
            size = width
        layers.append(nn.Linear(size, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def mlp(*, in_features: int, num_classes: int, width: int = 128, depth: int = 2, dropout: float = 0.0) -> MLP:
    """Multi-layer perceptron on the flattened input: ``depth`` hidden layers of ``width`` units (GELU)."""
    return MLP(_positive("in_features", in_features), _positive("num_classes", num_classes),
               _positive("width", width), depth, dropout)


class CNN(nn.Module):
    def __init__(self, dims: int, in_channels: int, num_classes: int, width: int, depth: int, kernel_size: int,
                 dropout: float):
        super().__init__()
        conv, norm, pool = (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d) if dims == 1 else (
            nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)
        blocks: list[nn.Module] = []
        channels = in_channels
        for i in range(depth):
            blocks += [conv(channels, width, kernel_size, padding=kernel_size // 2), norm(width), nn.GELU()]
            if i < depth - 1:
                blocks.append(pool(2, ceil_mode=True))
            channels = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.head(h.flatten(2).mean(-1))


def cnn(*, in_channels: int, num_classes: int, seq_len: int | None = None, image_size: Sequence[int] | None = None,
        width: int = 64, depth: int = 3, kernel_size: int = 3, dropout: float = 0.0) -> CNN:
    """Conv (1D for sequences, 2D for images) + batch norm + GELU blocks with 2x max-pooling, global mean pool."""
    if seq_len is None and image_size is None:
        raise ValueError("cnn needs seq_len (1D) or image_size (2D); a task supplies one of them")
    dims = 1 if image_size is None else 2
    return CNN(dims, _positive("in_channels", in_channels), _positive("num_classes", num_classes),
               _positive("width", width), _positive("depth", depth), _positive("kernel_size", kernel_size), dropout)


class LSTM(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, width: int, depth: int, dropout: float):
        super().__init__()
        self.rnn = nn.LSTM(in_channels, width, num_layers=depth, batch_first=True,
                           dropout=dropout if depth > 1 else 0.0)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.transpose(1, 2))
        return self.head(out[:, -1])


def lstm(*, in_channels: int, num_classes: int, width: int = 64, depth: int = 1, dropout: float = 0.0) -> LSTM:
    """LSTM over the sequence (N, C, L); the last hidden state feeds a linear classifier."""
    return LSTM(_positive("in_channels", in_channels), _positive("num_classes", num_classes),
                _positive("width", width), _positive("depth", depth), dropout)


class EncoderBlock(nn.Module):
    """Pre-norm transformer encoder block; attention by ``F.scaled_dot_product_attention``."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.proj(att.transpose(1, 2).reshape(n, length, width))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, seq_len: int, width: int, depth: int, heads: int,
                 dropout: float):
        super().__init__()
        self.embed = nn.Linear(in_channels, width)
        self.pos = nn.Parameter(torch.randn(1, seq_len, width) / math.sqrt(width))
        self.blocks = nn.Sequential(*[EncoderBlock(width, heads, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.pos.shape[1]:
            raise ValueError(f"transformer was built for sequences of length {self.pos.shape[1]}, got {x.shape[-1]}")
        h = self.blocks(self.embed(x.transpose(1, 2)) + self.pos)
        return self.head(self.norm(h).mean(1))


def transformer(*, in_channels: int, num_classes: int, seq_len: int, width: int = 64, depth: int = 2,
                heads: int = 4, dropout: float = 0.0) -> Transformer:
    """Transformer encoder (pre-norm, SDPA attention, learned positions) over the sequence, mean-pooled."""
    if _positive("width", width) % _positive("heads", heads):
        raise ValueError(f"width ({width}) must be divisible by heads ({heads})")
    return Transformer(_positive("in_channels", in_channels), _positive("num_classes", num_classes),
                       _positive("seq_len", seq_len), width, _positive("depth", depth), heads, dropout)
