"""SoftHGNN: a small vision classifier on patch tokens and soft hyperedges (images (B, C, H, W) -> logits)."""

from __future__ import annotations

import torch
from torch import nn

from .layers import SoftHyperedges

__all__ = ["SoftHGNNClassifier"]


class SoftHGNNClassifier(nn.Module):
    """A small vision model: patch tokens → ``depth`` SoftHGNN blocks (soft hyperedges + MLP) → mean pool → logits.
    Reports the load-balancing regulariser through ``auxiliary_losses()``."""

    def __init__(self, in_channels: int, num_classes: int, image_size: list[int], patch: int = 2, dim: int = 64,
                 depth: int = 2, num_edges: int = 16, top_k: int | None = 8, balance_weight: float = 0.01,
                 dropout: float = 0.1):
        super().__init__()
        h, w = image_size
        if h % patch or w % patch:
            raise ValueError(f"image_size {image_size} is not divisible by patch={patch}")
        self.embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, (h // patch) * (w // patch), dim))
        self.blocks = nn.ModuleList(SoftHyperedges(dim, num_edges, top_k, dropout) for _ in range(depth))
        self.mlps = nn.ModuleList(nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(),
                                                nn.Linear(2 * dim, dim)) for _ in range(depth))
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))
        self.balance_weight = balance_weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        for block, mlp in zip(self.blocks, self.mlps):
            t = block(t)
            t = t + mlp(t)
        return self.head(t.mean(1))

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        if not self.balance_weight:
            return {}
        return {"load_balance": self.balance_weight * sum(b.load_balance_loss() for b in self.blocks)}
