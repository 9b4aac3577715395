import pytest
import torch

from hyperzoo.hypergraph import Hypergraph


@pytest.fixture
def small_hg():
    """7 hyperedges on 10 nodes, weighted, node 9 isolated, sizes 1..4."""
    edges = [[0, 1, 2], [1, 3], [2, 3, 4, 5], [5, 6], [0, 6, 7], [8], [1, 4, 7, 8]]
    return Hypergraph.from_edges(edges, 10, edge_weight=[1.0, 2.0, 0.5, 1.5, 3.0, 1.0, 0.7])


@pytest.fixture
def dense_h():
    def make(hg):
        h = torch.zeros(hg.num_nodes, hg.num_edges, dtype=torch.float64)
        h[hg.node_ids, hg.incidence_edge] = 1.0
        return h
    return make
