"""``hypergraph.hgnnp_smooth`` -- the HGNN+ two-stage mean propagation (Gao et al., TPAMI 2022):

    X' = Dv^-1 H W De^-1 Hᵀ X      (mean over each hyperedge's nodes, then a w-weighted mean over each node's
                                    hyperedges; d(v) = Σ_{e∋v} w_e, δ(e) = |e|)

Nodes with d(v) = 0: ``isolated="zero"`` gives zero rows (as DHG), ``"self_loop"`` keeps x_v.
"""

from __future__ import annotations

import torch

from ..structure import Hypergraph
from ._common import check_edge_weight, check_features, safe_inv


def hgnnp_smooth(x: torch.Tensor, hg: Hypergraph, edge_weight: torch.Tensor | None = None,
                 isolated: str = "zero") -> torch.Tensor:
    """Dv^-1 H W De^-1 Hᵀ x for node features x of shape (N, C)."""
    check_features("hypergraph.hgnnp_smooth", x, hg, "nodes")
    w = check_edge_weight("hypergraph.hgnnp_smooth", edge_weight, hg, isolated).to(x.dtype)
    v, e = hg.node_ids, hg.incidence_edge
    dv = x.new_zeros(hg.num_nodes).index_add(0, v, w[e])
    y = x.new_zeros(hg.num_edges, x.shape[1]).index_add(0, e, x[v])
    y = y * (w / hg.edge_size.to(x.dtype))[:, None]
    out = x.new_zeros(hg.num_nodes, x.shape[1]).index_add(0, v, y[e]) * safe_inv(dv)[:, None]
    if isolated == "self_loop":
        out = out + x * (dv == 0).to(x.dtype)[:, None]
    return out
