"""Registered models: ``linear-transformer`` (sequences, one ``attention=`` argument switches the kernel) and
``nala-vit`` (a small hierarchical vision model, NaLa attention by default)."""

from __future__ import annotations

import torch
from torch import nn

from .layers import ATTENTIONS, Block

__all__ = ["LinearTransformer", "NaLaViT", "linear_transformer", "nala_vit"]


def _aux(blocks) -> dict[str, torch.Tensor]:
    total: dict[str, torch.Tensor] = {}
    for blk in blocks:
        for k, v in blk.auxiliary_losses().items():
            total[k] = total[k] + v if k in total else v
    return total


class LinearTransformer(nn.Module):
    """Sequence model. ``vocab_size=None``: inputs (B, C, L) floats → logits (B, num_classes) (mean-pooled, or the
    last token when causal); ``patch_size`` P > 1 makes each token P consecutive steps (B, ⌈L/P⌉, C·P), the last
    one zero-padded. ``vocab_size`` set: inputs (B, L) token ids → per-token logits (B, L, num_classes)."""

    def __init__(self, *, in_channels: int, num_classes: int, seq_len: int, width: int, depth: int, heads: int,
                 attention: str, causal: bool, mlp_ratio: float, mlp: str, num_experts: int, top_k: int,
                 balance_weight: float, num_features: int, num_bits: int, dropout: float, vocab_size: int | None,
                 patch_size: int = 1):
        super().__init__()
        if not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(f"patch_size must be a positive int (steps per token), got {patch_size!r}")
        if vocab_size and patch_size != 1:
            raise ValueError("patch_size > 1 groups float input steps; token ids (vocab_size set) need patch_size=1")
        self.vocab_size, self.causal, self.seq_len, self.patch_size = vocab_size, causal, seq_len, patch_size
        tokens = -(-seq_len // patch_size)
        self.embed = nn.Embedding(vocab_size, width) if vocab_size else nn.Linear(in_channels * patch_size, width)
        self.pos = nn.Parameter(torch.randn(tokens, width) * 0.5)   # positions as visible as the inputs
        self.blocks = nn.ModuleList(
            Block(width, heads, attention=attention, causal=causal, mlp_ratio=mlp_ratio, mlp=mlp,
                  num_experts=num_experts, top_k=top_k, balance_weight=balance_weight, num_features=num_features,
                  num_bits=num_bits, dropout=dropout, seed=i) for i in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.vocab_size:
            if x.dim() == 3 and x.shape[1] == 1:
                x = x[:, 0]
            if x.dim() != 2:
                raise ValueError(f"linear-transformer with vocab_size expects token ids (B, L), got {tuple(x.shape)}")
            h = self.embed(x.long())
        else:
            if x.dim() != 3:
                raise ValueError(f"linear-transformer expects (B, C, L) inputs, got {tuple(x.shape)}")
            if x.shape[2] > self.seq_len:
                raise ValueError(f"sequence of length {x.shape[2]} is longer than seq_len={self.seq_len}")
            p = self.patch_size
            if p > 1:
                b, c, n = x.shape
                x = torch.nn.functional.pad(x, (0, -n % p)).view(b, c, -1, p).permute(0, 2, 1, 3).reshape(b, -1, c * p)
            else:
                x = x.transpose(1, 2)
            h = self.embed(x)
        if h.shape[1] > self.pos.shape[0]:
            raise ValueError(f"sequence of length {h.shape[1]} is longer than seq_len={self.seq_len}")
        h = h + self.pos[: h.shape[1]]
        for blk in self.blocks:
            h = blk(h)
        h = self.norm(h)
        if self.vocab_size:
            return self.head(h)
        return self.head(h[:, -1] if self.causal else h.mean(1))

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        return _aux(self.blocks)


def linear_transformer(*, in_channels: int = 1, num_classes: int = 10, seq_len: int = 64, width: int = 64,
                       depth: int = 2, heads: int = 4, attention: str = "elu", causal: bool = False,
                       mlp_ratio: float = 2.0, mlp: str = "dense", num_experts: int = 2, top_k: int = 1,
                       balance_weight: float = 0.01, num_features: int = 64, num_bits: int = 16,
                       dropout: float = 0.0, vocab_size: int | None = None,
                       patch_size: int = 1) -> LinearTransformer:
    """A pre-norm transformer; ``attention`` in softmax, elu, relu, nala, favor, ecoformer, angular; ``mlp`` in
    dense, shiftadd (ShiftAddViT's MoE of multiplication and shift experts), snnk (random-feature layer);
    ``patch_size`` P: tokens of P consecutive input steps (e.g. 16 for mnist-seq: 49 tokens of 16 pixels)."""
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
    return LinearTransformer(in_channels=in_channels, num_classes=num_classes, seq_len=seq_len, width=width,
                             depth=depth, heads=heads, attention=attention, causal=causal, mlp_ratio=mlp_ratio,
                             mlp=mlp, num_experts=num_experts, top_k=top_k, balance_weight=balance_weight,
                             num_features=num_features, num_bits=num_bits, dropout=dropout, vocab_size=vocab_size,
                             patch_size=patch_size)


class NaLaViT(nn.Module):
    """Hierarchical vision model: a stride-2 conv stem, stages of attention blocks on the token grid (each stage
    opens with a depthwise 3×3 positional conv), stride-2 conv downsampling between stages, mean-pooled head."""

    def __init__(self, *, in_channels: int, num_classes: int, widths: list[int], depths: list[int], heads: int,
                 attention: str, mlp_ratio: float, mlp: str, num_features: int, num_bits: int, dropout: float):
        super().__init__()
        if len(widths) != len(depths) or not widths:
            raise ValueError(f"widths and depths must be non-empty lists of one length, got {widths}, {depths}")
        self.stem = nn.Conv2d(in_channels, widths[0], 3, stride=2, padding=1)
        self.downs, self.pos, self.stages = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for i, (w, d) in enumerate(zip(widths, depths)):
            self.downs.append(nn.Identity() if i == 0 else nn.Conv2d(widths[i - 1], w, 3, stride=2, padding=1))
            self.pos.append(nn.Conv2d(w, w, 3, padding=1, groups=w))
            self.stages.append(nn.ModuleList(
                Block(w, heads, attention=attention, mlp_ratio=mlp_ratio, mlp=mlp, num_features=num_features,
                      num_bits=num_bits, dropout=dropout, seed=10 * i + j) for j in range(d)))
        self.norm = nn.LayerNorm(widths[-1])
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"nala-vit expects images (B, C, H, W), got {tuple(x.shape)}")
        x = self.stem(x)
        for down, pos, blocks in zip(self.downs, self.pos, self.stages):
            x = down(x)
            x = x + pos(x)
            b, c, hh, ww = x.shape
            t = x.flatten(2).transpose(1, 2)
            for blk in blocks:
                t = blk(t)
            x = t.transpose(1, 2).reshape(b, c, hh, ww)
        return self.head(self.norm(x.flatten(2).mean(-1)))

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        return _aux([b for stage in self.stages for b in stage])


def nala_vit(*, in_channels: int = 1, num_classes: int = 10, image_size: list[int] | None = None,
             widths: list[int] | None = None, depths: list[int] | None = None, heads: int = 2,
             attention: str = "nala", mlp_ratio: float = 2.0, mlp: str = "dense", num_features: int = 64,
             num_bits: int = 16, dropout: float = 0.0) -> NaLaViT:
    """Small hierarchical vision transformer for ``digits-2d`` / ``mnist-2d`` (``image_size`` is accepted for the
    task's data-derived defaults; the model works at any size)."""
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
    return NaLaViT(in_channels=in_channels, num_classes=num_classes, widths=list(widths or [32, 64]),
                   depths=list(depths or [1, 1]), heads=heads, attention=attention, mlp_ratio=mlp_ratio, mlp=mlp,
                   num_features=num_features, num_bits=num_bits, dropout=dropout)
