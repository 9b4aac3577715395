"""``hypergraph.e2v`` CSR backend: x = by_node(a) y (mean: a normalised per node). Same signature."""

from __future__ import annotations

import torch

from ..structure import Hypergraph
from ._common import check_aggregation, check_features, csr_supports, safe_inv
from ._csr import by_node, mm, spmm


def e2v(y: torch.Tensor, hg: Hypergraph, aggr: str = "mean", weight: torch.Tensor | None = None, *,
        kernel=mm) -> torch.Tensor:
    check_features("hypergraph.e2v", y, hg, "hyperedges")
    check_aggregation("hypergraph.e2v", aggr, weight, hg)

    def make():
        a = torch.ones(hg.num_incidences, dtype=y.dtype, device=y.device) if weight is None else weight.to(y.dtype)
        if aggr == "mean":
            a = a * safe_inv(y.new_zeros(hg.num_nodes).index_add(0, hg.node_ids, a))[hg.node_ids]
        return by_node(hg, a)

    return spmm(make() if weight is not None else hg._cached(("by_node", aggr, y.dtype), make), y, kernel)


def supports(y, hg, aggr="mean", weight=None) -> tuple[bool, str]:
    if aggr == "max":
        return False, "aggr='max' (reference only)"
    return csr_supports(y, weight)
