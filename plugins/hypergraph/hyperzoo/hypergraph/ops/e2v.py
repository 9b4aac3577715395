"""``hypergraph.e2v`` -- hyperedges to nodes.

    sum:   x_v = Σ_{e∋v} a_{ve} y_e        mean:  x_v = Σ_{e∋v} a_{ve} y_e / Σ_{e∋v} a_{ve}
    max:   x_v = max_{e∋v} y_e   (elementwise)

``a`` are optional per-incidence weights (edge-major order, default 1). Isolated nodes get 0.
"""

from __future__ import annotations

import torch

from ..structure import Hypergraph
from ._common import check_aggregation, check_features, safe_inv


def e2v(y: torch.Tensor, hg: Hypergraph, aggr: str = "mean", weight: torch.Tensor | None = None) -> torch.Tensor:
    """(E, C) hyperedge features → (N, C) node features by ``aggr`` over each node's hyperedges."""
    check_features("hypergraph.e2v", y, hg, "hyperedges")
    check_aggregation("hypergraph.e2v", aggr, weight, hg)
    v, msg = hg.node_ids, y[hg.incidence_edge]
    out = y.new_zeros(hg.num_nodes, y.shape[1])
    if aggr == "max":
        return out.scatter_reduce(0, v[:, None].expand_as(msg), msg, "amax", include_self=False)
    a = torch.ones(hg.num_incidences, dtype=y.dtype, device=y.device) if weight is None else weight.to(y.dtype)
    out = out.index_add(0, v, msg * a[:, None])
    if aggr == "mean":
        out = out * safe_inv(y.new_zeros(hg.num_nodes).index_add(0, v, a))[:, None]
    return out
