"""DHT / HyperDrop graph classification: edge representation learning on the dual hypergraph."""

from __future__ import annotations

import torch
from torch import nn

from .layers import DHTConv, HyperDrop, dual_hypergraph_transform

__all__ = ["DHTClassifier"]


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
        keep, e = self.drop(e, hg, graph_of_edge, num_graphs)
        hg = dual_hypergraph_transform(edge_index[:, keep], num_nodes, validate=False)  # checked above
        e = self.conv3(e, hg)
        return self.head(torch.cat([r1, self.readout(e, graph_of_edge[keep], num_graphs)], dim=1))
