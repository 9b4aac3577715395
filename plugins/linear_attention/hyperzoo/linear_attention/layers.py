"""Drop-in attention modules ``(B, N, dim) -> (B, N, dim)`` and transformer blocks; one argument switches attention.

``attention=`` choices (:data:`ATTENTIONS`):

- ``"softmax"``: ``F.scaled_dot_product_attention`` (exact softmax attention, O(N²)).
- ``"elu"``, ``"relu"``: kernelized linear attention with φ = elu+1 or relu (``linear_attention.linear``).
- ``"nala"``: norm-aware linear attention (``linear_attention.nala``) with the NaLaFormer block's extras on by default:
  rotary positions on q, k (norm-preserving, so the norm-aware kernel sees the same norms), a depthwise positional
  convolution on V added to the output, and an output gate o ⊙ σ(W_g x).
- ``"favor"``: Performer FAVOR+ with ``num_features`` positive orthogonal random features.
- ``"ecoformer"``: EcoFormer, q and k hashed by one :class:`~hyperzoo.linear_attention.hashing.KernelHash` to
  ``num_bits``-bit codes (fitted on the first training batch), attention by ``linear_attention.hamming``.
- ``"angular"``: ShiftAddViT's linear angular attention on binarised q, k (``linear_attention.angular``).

Causal modules (``causal=True``) can decode token by token: ``forward(x, state=..., return_state=True)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hyperzoo import core

from .hashing import KernelHash
from .ops.favor import gaussian_projection
from .shiftadd import ShiftAddMoE
from .snnk import SNNK

ATTENTIONS = ("softmax", "elu", "relu", "nala", "favor", "ecoformer", "angular")
MLPS = ("dense", "shiftadd", "snnk")


def rotary(x: torch.Tensor, offset: int = 0, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding on (B, H, N, D) (pairs (x_2i, x_2i+1) rotated by (offset + t)·base^(−2i/D))."""
    d = x.shape[-1] // 2 * 2
    if d == 0:
        return x
    t = torch.arange(offset, offset + x.shape[2], device=x.device, dtype=torch.float32)
    freq = base ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)
    ang = (t[:, None] * freq[None]).to(x.dtype)
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., 0:d:2], x[..., 1:d:2]
    rot = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).flatten(-2)
    return torch.cat([rot, x[..., d:]], -1)


class Attention(nn.Module):
    """Multi-head attention ``(B, N, dim) -> (B, N, dim)`` with a choice of kernel (see the module docstring)."""

    def __init__(self, dim: int, heads: int = 4, *, attention: str = "elu", causal: bool = False,
                 num_features: int = 64, num_bits: int = 16, chunk_size: int = 64, rope: bool | None = None,
                 pos_conv: bool | None = None, gate: bool | None = None, kernel_size: int = 3, seed: int = 0):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.attention, self.causal, self.chunk_size = attention, causal, chunk_size
        nala = attention == "nala"
        self.rope = nala if rope is None else rope
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.gate = nn.Linear(dim, dim) if (nala if gate is None else gate) else None
        self.pos_conv = None
        if nala if pos_conv is None else pos_conv:
            self.pos_conv = nn.Conv1d(dim, dim, kernel_size, groups=dim, padding=0)
            self.kernel_size = kernel_size
        if attention == "favor":
            g = torch.Generator().manual_seed(seed)
            self.register_buffer("projection", gaussian_projection(num_features, self.head_dim, generator=g))
        if attention == "ecoformer":
            self.hasher = KernelHash(heads, self.head_dim, num_bits=num_bits, seed=seed)

    def _pos(self, v: torch.Tensor) -> torch.Tensor:
        """Depthwise positional conv on V (B, N, dim) over the token order (left-padded when causal)."""
        k = self.kernel_size
        x = F.pad(v.transpose(1, 2), (k - 1, 0) if self.causal else ((k - 1) // 2, k // 2))
        return self.pos_conv(x).transpose(1, 2)

    def forward(self, x: torch.Tensor, *, state=None, offset: int = 0,
                return_state: bool = False):
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"Attention expects (B, N, dim={self.dim}) inputs, got {tuple(x.shape)}")
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.rope:
            q, k = rotary(q, offset), rotary(k, offset)
        kw = dict(causal=self.causal, initial_state=state, output_final_state=return_state)
        new_state = None
        if self.attention == "softmax":
            if state is not None or return_state:
                raise ValueError("softmax attention keeps no recurrent state; use a linear attention for decoding")
            o = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        else:
            kw["chunk_size"] = self.chunk_size
            if n == 1 and state is not None:
                kw["mode"] = "recurrent"
            if self.attention in ("elu", "relu"):
                o = core.get_operator("linear_attention.linear")(q, k, v, feature_map=self.attention, **kw)
            elif self.attention == "nala":
                o = core.get_operator("linear_attention.nala")(q, k, v, **kw)
            elif self.attention == "favor":
                o = core.get_operator("linear_attention.favor")(q, k, v, self.projection, **kw)
            elif self.attention == "angular":
                o = core.get_operator("linear_attention.angular")(q, k, v, **kw)
            else:
                if self.training and not bool(self.hasher.fitted):
                    self.hasher.fit(torch.cat([q, k], 2))
                o = core.get_operator("linear_attention.hamming")(self.hasher(q), self.hasher(k), v, **kw)
            if return_state:
                o, new_state = o
        o = o.transpose(1, 2).reshape(b, n, self.dim)
        if self.pos_conv is not None:
            if state is not None or return_state:
                raise ValueError("the positional convolution needs the whole sequence; build the layer with "
                                 "pos_conv=False to decode token by token")
            o = o + self._pos(v.transpose(1, 2).reshape(b, n, self.dim))
        if self.gate is not None:
            o = o * torch.sigmoid(self.gate(x))
        o = self.out(o)
        return (o, new_state) if return_state else o


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1, self.fc2, self.drop = nn.Linear(dim, hidden), nn.Linear(hidden, dim), nn.Dropout(dropout)

    def forward(self, x):
        return self.fc2(self.drop(F.gelu(self.fc1(x))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm x), then x + mlp(norm x); ``mlp`` in :data:`MLPS`."""

    def __init__(self, dim: int, heads: int, *, attention: str = "elu", causal: bool = False, mlp_ratio: float = 2.0,
                 mlp: str = "dense", num_experts: int = 2, top_k: int = 1, balance_weight: float = 0.01,
                 num_features: int = 64, num_bits: int = 16, dropout: float = 0.0, seed: int = 0):
        super().__init__()
        if mlp not in MLPS:
            raise ValueError(f"mlp must be one of {MLPS}, got {mlp!r}")
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, attention=attention, causal=causal, num_features=num_features,
                              num_bits=num_bits, seed=seed)
        if mlp == "dense":
            self.mlp = MLP(dim, hidden, dropout)
        elif mlp == "shiftadd":
            self.mlp = ShiftAddMoE(dim, hidden, num_experts=num_experts, top_k=top_k, balance_weight=balance_weight)
        else:
            self.mlp = SNNK(dim, dim, hidden, num_features=num_features, seed=seed)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        aux = getattr(self.mlp, "auxiliary_losses", None)
        return aux() if callable(aux) else {}


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["ATTENTIONS", "MLPS", "Attention", "Block", "MLP", "rotary", "count_parameters"]
