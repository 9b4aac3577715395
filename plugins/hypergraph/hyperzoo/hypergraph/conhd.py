"""CoNHD -- Co-Representation Neural Hypergraph Diffusion (Zheng et al., CIKM 2025).

One state per incidence, h_{v,e} (a node's representation *within* hyperedge e). Each layer diffuses
within every hyperedge (the set {h_{u,e} : u ∈ e}) and within every node (the set {h_{v,f} : f ∋ v}) through
permutation-equivariant set operators φ_E, φ_V, and combines them with the initial state h⁰:

    GD:    h ← W [h ‖ φ_E(h) ‖ φ_V(h) ‖ h⁰]
    ADMM:  z_E ← φ_E(2h − z_E) + z_E − h,   z_V ← φ_V(2h − z_V) + z_V − h,   h ← W [z_E ‖ z_V ‖ h⁰]

Set operators: UNP (mean-based, out_i = MLP₂[x_i ‖ mean_j MLP₁ x_j]) or ISAB (attention through m inducing
points: H = MAB(I, X), out = MAB(X, H)). Sets are segments of the incidence list, so everything runs with plain
PyTorch scatter ops on CPU or GPU (the official code needs DGL + CUDA).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .structure import Hypergraph

__all__ = ["CoNHD", "UNPBlock", "ISABBlock", "segment_mean", "segment_softmax"]


def segment_mean(x: torch.Tensor, group: torch.Tensor, num_groups: int) -> torch.Tensor:
    """(G, ...) mean of the rows of x in each group."""
    s = x.new_zeros((num_groups, *x.shape[1:])).index_add(0, group, x)
    n = torch.bincount(group, minlength=num_groups).clamp_min(1).to(x.dtype)
    return s / n.view(-1, *([1] * (x.dim() - 1)))


def segment_softmax(s: torch.Tensor, group: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Softmax of s (nnz, ...) over the rows of each group."""
    idx = group.view(-1, *([1] * (s.dim() - 1))).expand_as(s)
    mx = s.new_zeros((num_groups, *s.shape[1:])).scatter_reduce(0, idx, s, "amax", include_self=False)
    e = torch.exp(s - mx[group].detach())
    return e / s.new_zeros((num_groups, *s.shape[1:])).index_add(0, group, e)[group]


def _mlp(i: int, h: int, o: int, drop: float) -> nn.Module:
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Dropout(drop), nn.Linear(h, o))


class UNPBlock(nn.Module):
    """Mean-based equivariant set block: out_i = MLP₂([x_i ‖ mean_{j∈set(i)} MLP₁(x_j)])."""

    def __init__(self, dim: int, dropout: float = 0.0):
        super().__init__()
        self.inner, self.outer = _mlp(dim, dim, dim, dropout), _mlp(2 * dim, dim, dim, dropout)

    def forward(self, x: torch.Tensor, group: torch.Tensor, num_groups: int) -> torch.Tensor:
        return self.outer(torch.cat([x, segment_mean(self.inner(x), group, num_groups)[group]], dim=-1))


class ISABBlock(nn.Module):
    """Induced set attention (Set Transformer) on variable-size sets: H_s = MAB(I, X_s), out = MAB(X_s, H_s),
    with MAB(Q, K) = O + ReLU(W_o O), O = Q W_q + softmax(Q W_q (K W_k)ᵀ / √d) K W_v (multi-head).

    All sets at once: per-head scores are elementwise products summed within each head, the softmax of
    MAB(I, X_s) runs over each set's members (:func:`segment_softmax`), that of MAB(X_s, H_s) over the m
    inducing summaries of the member's own set."""

    def __init__(self, dim: int, heads: int = 4, num_inducing: int = 4):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.h, self.scale = heads, 1.0 / math.sqrt(dim)
        self.inducing = nn.Parameter(torch.empty(num_inducing, dim))
        nn.init.xavier_uniform_(self.inducing)
        self.q0, self.k0, self.v0, self.o0 = (nn.Linear(dim, dim) for _ in range(4))
        self.q1, self.k1, self.v1, self.o1 = (nn.Linear(dim, dim) for _ in range(4))

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.view(*t.shape[:-1], self.h, t.shape[-1] // self.h)

    def forward(self, x: torch.Tensor, group: torch.Tensor, num_groups: int) -> torch.Tensor:
        n, d = x.shape
        # MAB(I, X_s): inducing point j attends over the members i of set s.
        q = self._heads(self.q0(self.inducing))                                 # (m, h, dh)
        k, v = self._heads(self.k0(x)), self._heads(self.v0(x))                # (n, h, dh)
        a = segment_softmax(torch.einsum("nhd,mhd->nmh", k, q) * self.scale, group, num_groups)  # (n, m, h)
        att = x.new_zeros(num_groups, q.numel()).index_add(0, group, (a.unsqueeze(-1) * v.unsqueeze(1)).reshape(n, -1))
        hset = (q + att.view(num_groups, *q.shape)).view(num_groups, -1, d)
        hset = hset + F.relu(self.o0(hset))                                      # (G, m, d)
        # MAB(X_s, H_s): member i attends over the m summaries of its set.
        q = self._heads(self.q1(x))                                              # (n, h, dh)
        k, v = self._heads(self.k1(hset))[group], self._heads(self.v1(hset))[group]  # (n, m, h, dh)
        a = torch.softmax((q.unsqueeze(1) * k).sum(-1) * self.scale, dim=1)      # (n, m, h)
        out = (q + (a.unsqueeze(-1) * v).sum(1)).view(n, d)
        return out + F.relu(self.o1(out))


class _SetOperator(nn.Module):
    def __init__(self, dim: int, block: str, depth: int, heads: int, num_inducing: int, dropout: float):
        super().__init__()
        if block == "unp":
            self.blocks = nn.ModuleList(UNPBlock(dim) for _ in range(depth))
        elif block == "isab":
            self.blocks = nn.ModuleList(ISABBlock(dim, heads, num_inducing) for _ in range(depth))
        else:
            raise ValueError(f"block must be 'unp' (mean-based) or 'isab' (attention), got {block!r}")
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, group: torch.Tensor, num_groups: int) -> torch.Tensor:
        for b in self.blocks:
            x = b(x, group, num_groups)
        return self.drop(x)


class CoNHD(nn.Module):
    """CoNHD for edge-dependent node classification: ``forward(x, hg)`` → logits per incidence (nnz, classes).

    ``depth`` diffusion steps share one layer's weights (as the official default); ``variant`` is
    ``"gd"`` or ``"admm"``; ``block`` is ``"unp"`` or ``"isab"``.
    """

    def __init__(self, in_channels: int, num_classes: int, *, width: int = 64, depth: int = 2,
                 block: str = "isab", variant: str = "gd", heads: int = 4, num_inducing: int = 4,
                 dropout: float = 0.1, set_depth: int = 2):
        super().__init__()
        if variant not in ("gd", "admm"):
            raise ValueError(f"variant must be 'gd' (gradient descent) or 'admm', got {variant!r}")
        self.variant, self.depth = variant, depth
        self.lin_in = nn.Linear(in_channels, width)
        self.phi_edge = _SetOperator(width, block, set_depth, heads, num_inducing, dropout)
        self.phi_node = _SetOperator(width, block, set_depth, heads, num_inducing, dropout)
        self.update = nn.Linear((4 if variant == "gd" else 3) * width, width)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(width, num_classes))

    def co_representations(self, x: torch.Tensor, hg: Hypergraph) -> torch.Tensor:
        """The final h_{v,e} (nnz, width), in the hypergraph's incidence order."""
        e, v = hg.incidence_edge, hg.node_ids
        h0 = F.relu(self.lin_in(x))[v]
        h, z_e, z_v = h0, h0, h0
        for _ in range(self.depth):
            if self.variant == "gd":
                parts = [h, self.phi_edge(h, e, hg.num_edges), self.phi_node(h, v, hg.num_nodes), h0]
            else:
                z_e = self.phi_edge(2 * h - z_e, e, hg.num_edges) + z_e - h
                z_v = self.phi_node(2 * h - z_v, v, hg.num_nodes) + z_v - h
                parts = [z_e, z_v, h0]
            h = self.norm(self.update(torch.cat(parts, dim=-1)))
        return h

    def forward(self, x: torch.Tensor, hg: Hypergraph) -> torch.Tensor:
        return self.head(self.co_representations(x, hg))
