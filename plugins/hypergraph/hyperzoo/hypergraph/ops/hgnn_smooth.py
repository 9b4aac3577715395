"""``hypergraph.hgnn_smooth`` -- the HGNN propagation (Feng et al., AAAI 2019):

    X' = Dv^-1/2 H W De^-1 Hᵀ Dv^-1/2 X,      d(v) = Σ_{e∋v} w_e,   δ(e) = |e|

Computed as two gathers/scatters over the incidences (never the N×N matrix). Nodes with d(v) = 0:
``isolated="zero"`` gives zero rows (as DHG), ``"self_loop"`` keeps x_v (a weight-1 self-loop hyperedge).
``edge_weight`` (default ``hg.edge_weight``) may require grad.
"""

from __future__ import annotations

import torch

from ..structure import Hypergraph
from ._common import check_edge_weight, check_features, safe_inv


def hgnn_smooth(x: torch.Tensor, hg: Hypergraph, edge_weight: torch.Tensor | None = None,
                isolated: str = "zero") -> torch.Tensor:
    """Dv^-1/2 H W De^-1 Hᵀ Dv^-1/2 x for node features x of shape (N, C)."""
    check_features("hypergraph.hgnn_smooth", x, hg, "nodes")
    w = check_edge_weight("hypergraph.hgnn_smooth", edge_weight, hg, isolated).to(x.dtype)
    v, e = hg.node_ids, hg.incidence_edge
    dv = x.new_zeros(hg.num_nodes).index_add(0, v, w[e])
    dvis = safe_inv(dv, 0.5)
    y = x.new_zeros(hg.num_edges, x.shape[1]).index_add(0, e, (x * dvis[:, None])[v])
    y = y * (w / hg.edge_size.to(x.dtype))[:, None]
    out = x.new_zeros(hg.num_nodes, x.shape[1]).index_add(0, v, y[e]) * dvis[:, None]
    if isolated == "self_loop":
        out = out + x * (dv == 0).to(x.dtype)[:, None]
    return out
