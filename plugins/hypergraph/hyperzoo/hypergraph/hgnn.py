"""The HGNN family as node classifiers: HGNN, HGNN+ and UniGCN (two layers), the node MLP, and the ENC head.

Node-classification models map ``(x, hg)`` to logits (N, classes); ENC models map ``(x, hg)`` to logits per
incidence (nnz, classes).
"""

from __future__ import annotations

import torch
from torch import nn

from .functional import v2e
from .layers import HGNNConv, HGNNPConv, UniGCNConv
from .structure import Hypergraph

__all__ = ["HGNN", "HGNNP", "UniGCN", "NodeMLP", "ENCHead"]


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
