"""``hypergraph.v2e`` -- nodes to hyperedges.

    sum:   y_e = Σ_{v∈e} a_{ve} x_v        mean:  y_e = Σ_{v∈e} a_{ve} x_v / Σ_{v∈e} a_{ve}
    max:   y_e = max_{v∈e} x_v   (elementwise)

``a`` are optional per-incidence weights (edge-major order, default 1); a hyperedge whose weights sum to 0 gets 0.
"""

from __future__ import annotations

import torch

from ..structure import Hypergraph
from ._common import check_aggregation, check_features, safe_inv


def v2e(x: torch.Tensor, hg: Hypergraph, aggr: str = "mean", weight: torch.Tensor | None = None) -> torch.Tensor:
    """(N, C) node features → (E, C) hyperedge features by ``aggr`` over each hyperedge's nodes."""
    check_features("hypergraph.v2e", x, hg, "nodes")
    check_aggregation("hypergraph.v2e", aggr, weight, hg)
    e, msg = hg.incidence_edge, x[hg.node_ids]
    out = x.new_zeros(hg.num_edges, x.shape[1])
    if aggr == "max":
        return out.scatter_reduce(0, e[:, None].expand_as(msg), msg, "amax", include_self=False)
    a = torch.ones(hg.num_incidences, dtype=x.dtype, device=x.device) if weight is None else weight.to(x.dtype)
    out = out.index_add(0, e, msg * a[:, None])
    if aggr == "mean":
        out = out * safe_inv(x.new_zeros(hg.num_edges).index_add(0, e, a))[:, None]
    return out
