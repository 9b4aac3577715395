"""Registered model factories (explicit keyword arguments) and the models they build.

Node-classification models map ``(x, hg)`` to logits (N, classes); ENC models map ``(x, hg)`` to logits per
incidence (nnz, classes); ``softhgnn`` maps images (B, 1, H, W) to logits; ``dht`` maps a batch of graphs.
"""

from __future__ import annotations

import torch
from torch import nn

from .functional import v2e
from .layers import DHTConv, HGNNConv, HGNNPConv, HyperDrop, SoftHyperedges, UniGCNConv, dual_hypergraph_transform
from .structure import Hypergraph

__all__ = ["HGNN", "HGNNP", "UniGCN", "NodeMLP", "SoftHGNNClassifier", "DHTClassifier", "ENCHead",
           "hgnn", "hgnnp", "unigcn", "node_mlp", "lighthgnn", "lighthgnn_plus", "conhd", "softhgnn", "dht",
           "reconstructor"]


class _TwoLayer(nn.Module):
    conv: type = HGNNConv

    def __init__(self, in_channels: int, hid_channels: int, num_classes: int, use_bn: bool = False,
                 dropout: float = 0.5, isolated: str = "zero"):
        super().__init__()
        self.layers = nn.ModuleList([
            self.conv(in_channels, hid_channels, use_bn=use_bn, dropout=dropout, isolated=isolated),
            self.conv(hid_channels, num_classes, use_bn=use_bn, is_last=True, isolated=isolated),
        ])

    def forward(self, x: torch.Tensor, hg: Hypergraph) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, hg)
        return x


class HGNN(_TwoLayer):
    """Two HGNN convolutions (the paper's and DHG's node classifier)."""

    conv = HGNNConv


class HGNNP(_TwoLayer):
    """Two HGNN+ convolutions."""

    conv = HGNNPConv


class UniGCN(_TwoLayer):
    """Two UniGCN convolutions."""

    conv = UniGCNConv


class NodeMLP(nn.Module):
    """The structure-blind baseline: Linear → ReLU → dropout → Linear on node features (ignores ``hg``)."""

    def __init__(self, in_channels: int, hid_channels: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_channels, hid_channels), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hid_channels, num_classes))

    def forward(self, x: torch.Tensor, hg: Hypergraph | None = None) -> torch.Tensor:
        return self.net(x)


class ENCHead(nn.Module):
    """Edge-dependent node classification with a node encoder: logits of incidence (v, e) from
    [h_v, mean_{u∈e} h_u] (WHATsNet's baseline protocol for node-level HNNs)."""

    def __init__(self, encoder: nn.Module, hid_channels: int, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Linear(2 * hid_channels, hid_channels), nn.ReLU(),
                                  nn.Linear(hid_channels, num_classes))

    def forward(self, x: torch.Tensor, hg: Hypergraph) -> torch.Tensor:
        h = self.encoder(x, hg)
        return self.head(torch.cat([h[hg.node_ids], v2e(h, hg, "mean")[hg.incidence_edge]], dim=-1))


class _HGNNPEncoder(nn.Module):
    def __init__(self, in_channels: int, width: int, depth: int, dropout: float, isolated: str):
        super().__init__()
        self.layers = nn.ModuleList(HGNNPConv(in_channels if i == 0 else width, width, dropout=dropout,
                                              isolated=isolated) for i in range(depth))

    def forward(self, x: torch.Tensor, hg: Hypergraph) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, hg)
        return x


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


class DHTClassifier(nn.Module):
    """Graph classification by edge representation learning: DHT → DHT convs → HyperDrop → DHT conv → mean/max
    readout of the kept edges → MLP. Input: a batch ``(edge_index, num_nodes, edge_attr, graph_of_edge,
    num_graphs)`` of disjoint graphs."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 64, ratio: float = 0.5,
                 dropout: float = 0.1):
        super().__init__()
        self.conv1 = DHTConv(in_channels, width, dropout=dropout)
        self.conv2 = DHTConv(width, width, dropout=dropout)
        self.drop = HyperDrop(width, ratio)
        self.conv3 = DHTConv(width, width, dropout=dropout)
        self.head = nn.Sequential(nn.Linear(4 * width, width), nn.ReLU(), nn.Linear(width, num_classes))

    @staticmethod
    def readout(e: torch.Tensor, graph: torch.Tensor, num_graphs: int) -> torch.Tensor:
        mean = torch.zeros(num_graphs, e.shape[1], dtype=e.dtype, device=e.device).index_add(0, graph, e)
        mean = mean / torch.bincount(graph, minlength=num_graphs).clamp_min(1)[:, None]
        mx = torch.full((num_graphs, e.shape[1]), -torch.inf, dtype=e.dtype, device=e.device)
        mx = mx.scatter_reduce(0, graph[:, None].expand_as(e), e, "amax").nan_to_num(neginf=0.0)
        return torch.cat([mean, mx], dim=1)

    def forward(self, edge_index: torch.Tensor, num_nodes: int, edge_attr: torch.Tensor,
                graph_of_edge: torch.Tensor, num_graphs: int) -> torch.Tensor:
        hg = dual_hypergraph_transform(edge_index, num_nodes)
        e = self.conv2(self.conv1(edge_attr, hg), hg)
        r1 = self.readout(e, graph_of_edge, num_graphs)
        keep, e = self.drop(e, hg, graph_of_edge)
        hg = dual_hypergraph_transform(edge_index[:, keep], num_nodes)
        e = self.conv3(e, hg)
        return self.head(torch.cat([r1, self.readout(e, graph_of_edge[keep], num_graphs)], dim=1))


# -- factories ----------------------------------------------------------------------------------------------
def hgnn(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5,
         use_bn: bool = False, isolated: str = "self_loop") -> HGNN:
    """HGNN node classifier (2 layers). ``isolated="self_loop"``: nodes in no hyperedge keep their own features
    (the cora hypergraphs have 320–1,274 such nodes; ``"zero"`` is DHG's default and leaves them featureless)."""
    return HGNN(in_channels, width, num_classes, use_bn=use_bn, dropout=dropout, isolated=isolated)


def hgnnp(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5, use_bn: bool = False,
          isolated: str = "self_loop", incidence_head: bool = False, depth: int = 2) -> nn.Module:
    """HGNN+ node classifier; with ``incidence_head=True`` (ENC tasks) an ``depth`` HGNN+ encoder + ENC head."""
    if incidence_head:
        return ENCHead(_HGNNPEncoder(in_channels, width, depth, dropout, isolated), width, num_classes)
    return HGNNP(in_channels, width, num_classes, use_bn=use_bn, dropout=dropout, isolated=isolated)


def unigcn(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5,
           use_bn: bool = False, isolated: str = "self_loop") -> UniGCN:
    """UniGCN node classifier (2 layers)."""
    return UniGCN(in_channels, width, num_classes, use_bn=use_bn, dropout=dropout, isolated=isolated)


def node_mlp(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5) -> NodeMLP:
    """MLP on node features only (the baseline every hypergraph model must beat)."""
    return NodeMLP(in_channels, width, num_classes, dropout)


def lighthgnn(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5,
              lam: float = 0.5, tau: float = 1.0) -> nn.Module:
    """LightHGNN: an MLP student distilled from an HGNN teacher (soft-label KL)."""
    from .lighthgnn import LightHGNN

    return LightHGNN(in_channels, num_classes, width=width, dropout=dropout, lam=lam, tau=tau)


def lighthgnn_plus(*, in_channels: int, num_classes: int, width: int = 32, dropout: float = 0.5,
                   lam: float = 0.5, tau: float = 1.0, hc_weight: float = 1.0, noise: float = 1.0) -> nn.Module:
    """LightHGNN+: LightHGNN plus the high-order constraint on reliability-sampled hyperedges."""
    from .lighthgnn import LightHGNN

    return LightHGNN(in_channels, num_classes, width=width, dropout=dropout, lam=lam, tau=tau,
                     hc_weight=hc_weight, noise=noise)


def conhd(*, in_channels: int, num_classes: int, width: int = 64, depth: int = 2, block: str = "isab",
          variant: str = "gd", heads: int = 4, num_inducing: int = 4, dropout: float = 0.1) -> nn.Module:
    """CoNHD for edge-dependent node classification (``block``: ``"unp"``/``"isab"``;
    ``variant``: ``"gd"``/``"admm"``)."""
    from .conhd import CoNHD

    return CoNHD(in_channels, num_classes, width=width, depth=depth, block=block, variant=variant,
                 heads=heads, num_inducing=num_inducing, dropout=dropout)


def softhgnn(*, in_channels: int, num_classes: int, image_size: list[int], patch_size: int = 2, width: int = 64,
             depth: int = 2, num_edges: int = 16, top_k: int | None = 8, balance_weight: float = 0.01,
             dropout: float = 0.1) -> SoftHGNNClassifier:
    """A small SoftHGNN vision classifier (patch tokens, soft hyperedges)."""
    return SoftHGNNClassifier(in_channels, num_classes, list(image_size), patch_size, width, depth, num_edges, top_k,
                              balance_weight, dropout)


def dht(*, in_channels: int, num_classes: int, width: int = 64, ratio: float = 0.5,
        dropout: float = 0.1) -> DHTClassifier:
    """DHT + HyperDrop graph classifier."""
    return DHTClassifier(in_channels, num_classes, width, ratio, dropout)


def reconstructor(*, max_subclique_drop: int = 1, n_estimators: int = 200, threshold: float = 0.5,
                  random_state: int = 0) -> nn.Module:
    """Hyperedge reconstruction from a projected graph (candidate cliques + a learned scorer)."""
    from .reconstruction import HyperedgeReconstructor

    return HyperedgeReconstructor(max_subclique_drop=max_subclique_drop, n_estimators=n_estimators,
                                  threshold=threshold, random_state=random_state)
