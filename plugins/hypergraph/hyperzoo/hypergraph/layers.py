"""Hypergraph layers built on the operators.

HGNN-family convolutions take ``(x, hg)`` with node features x (N, C); their parameters are named like DHG's
(``theta``, ``bn``) so a DHG checkpoint loads into them unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .functional import e2v, hgnn_smooth, hgnnp_smooth, v2e
from .ops._common import safe_inv
from .structure import Hypergraph, check_isolated

__all__ = ["HGNNConv", "HGNNPConv", "UniGCNConv", "SoftHyperedges", "dual_hypergraph_transform", "DHTConv",
           "HyperDrop"]


class _Conv(nn.Module):
    """θ, then a propagation, then (unless last) ReLU → BatchNorm → dropout, in DHG's order.

    ``isolated``: nodes in no hyperedge get zero rows (``"zero"``, DHG's behaviour) or keep their transformed
    features (``"self_loop"``, as if each had a singleton hyperedge of weight 1).
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, use_bn: bool = False,
                 dropout: float = 0.5, is_last: bool = False, isolated: str = "zero"):
        super().__init__()
        check_isolated(isolated, type(self).__name__)
        self.is_last, self.isolated = is_last, isolated
        self.bn = nn.BatchNorm1d(out_channels) if use_bn else None
        self.drop = nn.Dropout(dropout)
        self.theta = nn.Linear(in_channels, out_channels, bias=bias)

    def propagate(self, x: torch.Tensor, hg: Hypergraph) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, hg: Hypergraph) -> torch.Tensor:
        x = self.propagate(self.theta(x), hg)
        if not self.is_last:
            x = F.relu(x)
            if self.bn is not None:
                x = self.bn(x)
            x = self.drop(x)
        return x


class HGNNConv(_Conv):
    """HGNN (Feng et al., AAAI 2019): X' = σ(Dv^-1/2 H W De^-1 Hᵀ Dv^-1/2 X Θ)."""

    def propagate(self, x: torch.Tensor, hg: Hypergraph) -> torch.Tensor:
        return hgnn_smooth(x, hg, None, self.isolated)


class HGNNPConv(_Conv):
    """HGNN+ (Gao et al., TPAMI 2022): X' = σ(Dv^-1 H W De^-1 Hᵀ X Θ)."""

    def propagate(self, x: torch.Tensor, hg: Hypergraph) -> torch.Tensor:
        return hgnnp_smooth(x, hg, None, self.isolated)


class UniGCNConv(_Conv):
    """UniGCN (Huang & Yang, IJCAI 2021):

        h_e = w_e · mean_{j∈e} x_j Θ,    x'_i = σ( d_i^-1/2 Σ_{e∋i} d̃_e^-1/2 h_e ),   d̃_e = mean_{i∈e} d_i
    """

    def propagate(self, x: torch.Tensor, hg: Hypergraph) -> torch.Tensor:
        dv = hg.weighted_node_degree.to(x.dtype)
        d_tilde = torch.zeros_like(hg.edge_weight, dtype=x.dtype).index_add(0, hg.incidence_edge, dv[hg.node_ids])
        d_tilde = d_tilde / hg.edge_size.to(x.dtype)
        h = v2e(x, hg, "mean") * (hg.edge_weight.to(x.dtype) * safe_inv(d_tilde, 0.5))[:, None]
        out = e2v(h, hg, "sum") * safe_inv(dv, 0.5)[:, None]
        if self.isolated == "self_loop":  # a singleton hyperedge {i}: d_i = d̃_e = 1, so x'_i = x_i Θ
            out = out + x * (dv == 0).to(x.dtype)[:, None]
        return out


# -- SoftHGNN ---------------------------------------------------------------------------------------------------
class SoftHyperedges(nn.Module):
    """Soft hyperedges from learnable prototypes (SoftHGNN), for token sets x of shape (B, n, d).

    Prototypes p_j = p̄_j + Δ_j(mean_i x_i) (static plus a context offset). Participation of token i in
    hyperedge j, normalised over hyperedges so each token's weights sum to 1:

        A_ij = softmax_j( ⟨q(x_i), k(p_j)⟩ / √d )

    Only the ``top_k`` hyperedges with the largest total participation s_j = Σ_i A_ij are kept per sample
    (the mask keeps exactly k). Messages: e_j = Σ_i A_ij v(x_i) / Σ_i A_ij, x'_i = x_i + o(Σ_j A_ij e_j).
    The load-balancing regulariser L = m Σ_j p̄_j² − 1, p̄_j = mean_{b,i} A_ij, is 0 exactly when hyperedges are
    used uniformly and, unlike a count-based balance, has a gradient in A.
    """

    def __init__(self, dim: int, num_edges: int = 16, top_k: int | None = 8, dropout: float = 0.0):
        super().__init__()
        if top_k is not None and not 1 <= top_k <= num_edges:
            raise ValueError(f"top_k must be in [1, num_edges={num_edges}], got {top_k}")
        self.num_edges, self.top_k, self.scale = num_edges, top_k, 1.0 / math.sqrt(dim)
        self.prototypes = nn.Parameter(torch.randn(num_edges, dim) * dim ** -0.5)
        self.context = nn.Linear(dim, num_edges * dim)
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.last_participation: torch.Tensor | None = None

    def participation(self, x: torch.Tensor) -> torch.Tensor:
        """A (B, n, m): rows sum to 1 over hyperedges."""
        b, _, d = x.shape
        protos = self.prototypes + self.context(x.mean(1)).view(b, self.num_edges, d)
        return torch.softmax(self.q(x) @ self.k(protos).transpose(1, 2) * self.scale, dim=-1)

    def topk_mask(self, a: torch.Tensor) -> torch.Tensor:
        """(B, m) boolean mask of the ``top_k`` hyperedges by total participation Σ_i A_ij."""
        if self.top_k is None:
            return torch.ones(a.shape[0], a.shape[2], dtype=torch.bool, device=a.device)
        idx = a.sum(1).topk(self.top_k, dim=-1).indices
        return torch.zeros(a.shape[0], a.shape[2], dtype=torch.bool, device=a.device).scatter(1, idx, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"SoftHyperedges expects tokens (B, n, d), got shape {tuple(x.shape)}")
        a = self.participation(x)
        self.last_participation = a
        a = a * self.topk_mask(a)[:, None, :]
        edges = (a.transpose(1, 2) @ self.v(x)) / a.sum(1).clamp_min(1e-6)[..., None]
        return self.norm(x + self.drop(self.o(a @ edges)))

    def load_balance_loss(self, a: torch.Tensor | None = None) -> torch.Tensor:
        """m Σ_j p̄_j² − 1 with p̄_j the mean participation in hyperedge j (0 when perfectly balanced)."""
        a = self.last_participation if a is None else a
        if a is None:
            raise RuntimeError("call the layer first (or pass the participation tensor)")
        p = a.mean(dim=(0, 1))
        return self.num_edges * (p * p).sum() - 1.0


# -- DHT / HyperDrop ------------------------------------------------------------------------------------------
def dual_hypergraph_transform(edge_index: torch.Tensor, num_nodes: int,
                              edge_attr: torch.Tensor | None = None, *, validate: bool = True) -> Hypergraph:
    """DHT (Jo et al., NeurIPS 2021): graph edges become hypergraph nodes and each graph node becomes the
    hyperedge of its incident edges (incidence Mᵀ of the graph's node–edge incidence M). Graph nodes without
    edges give no hyperedge. ``edge_attr`` (M, F) becomes the node features. The result is valid by
    construction for a valid ``edge_index``; ``validate=False`` skips checking ``edge_index`` (one host read)
    when the caller already did, e.g. for a subset of checked edges."""
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, M), got {tuple(edge_index.shape)}")
    m = edge_index.shape[1]
    if validate and m:
        lo, hi, loops = torch.stack([edge_index.min(), edge_index.max(),
                                     (edge_index[0] == edge_index[1]).sum()]).tolist()  # one host read
        if lo < 0 or hi >= num_nodes:
            raise ValueError(f"edge_index holds node ids outside [0, {num_nodes})")
        if loops:
            raise ValueError("edge_index holds self-loops; DHT needs each edge to join two distinct nodes")
    ends = edge_index.t().reshape(-1)                       # node of each (edge, endpoint)
    edge_of = torch.arange(m, device=edge_index.device).repeat_interleave(2)
    order = torch.argsort(ends, stable=True)
    counts = torch.bincount(ends, minlength=num_nodes)
    counts = counts[counts > 0]
    ptr = torch.zeros(counts.numel() + 1, dtype=torch.long, device=edge_index.device)
    ptr[1:] = counts.cumsum(0)
    return Hypergraph(m, ptr, edge_of[order], x=edge_attr, check_invariants=False)


class DHTConv(HGNNConv):
    """Edge message passing on the dual hypergraph (EHGNN): E' = σ(Dv^-1/2 Mᵀ De^-1 M Dv^-1/2 E Θ), i.e. HGNN on
    the DHT of the graph, where the dual's nodes are the graph's edges."""


class HyperDrop(nn.Module):
    """HyperDrop: score the dual hypergraph's nodes (the graph's edges) with s = tanh(HGNN(E) p / ‖p‖) and keep
    the ⌈ratio·|E_g|⌉ best-scoring edges of every graph g (gated by their score)."""

    def __init__(self, channels: int, ratio: float = 0.5):
        super().__init__()
        if not 0 < ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        self.ratio = ratio
        self.score = nn.Linear(channels, 1, bias=False)

    def forward(self, e: torch.Tensor, hg: Hypergraph, graph_of_edge: torch.Tensor,
                num_graphs: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(kept_edge_ids, gated_features)``, kept ids sorted per graph by score (no host sync when
        ``num_graphs`` is given)."""
        s = torch.tanh(hgnn_smooth(self.score(e), hg).squeeze(-1) / self.score.weight.norm())
        if num_graphs is None:
            num_graphs = int(graph_of_edge.max()) + 1 if graph_of_edge.numel() else 0
        counts = torch.bincount(graph_of_edge, minlength=num_graphs)
        order = torch.argsort(graph_of_edge * 3.0 - s.detach(), stable=True)  # by graph, then score (s in [-1, 1])
        starts = counts.cumsum(0) - counts
        graph_sorted = graph_of_edge[order]
        rank = torch.arange(order.numel(), device=order.device) - starts[graph_sorted]
        keep = rank < torch.ceil(self.ratio * counts.to(torch.float64))[graph_sorted]   # the ⌈ratio·|E_g|⌉ best
        idx = order[keep]
        return idx, e[idx] * s[idx, None]
