"""``hypergraph.v2e`` CSR backend: y = by_edge(a) x (mean: a normalised per hyperedge). Same signature."""

from __future__ import annotations

import torch

from ..structure import Hypergraph
from ._common import check_aggregation, check_features, csr_supports, safe_inv
from ._csr import by_edge, mm, spmm


def v2e(x: torch.Tensor, hg: Hypergraph, aggr: str = "mean", weight: torch.Tensor | None = None, *,
        kernel=mm) -> torch.Tensor:
    check_features("hypergraph.v2e", x, hg, "nodes")
    check_aggregation("hypergraph.v2e", aggr, weight, hg)

    def make():
        a = torch.ones(hg.num_incidences, dtype=x.dtype, device=x.device) if weight is None else weight.to(x.dtype)
        if aggr == "mean":
            a = a * safe_inv(x.new_zeros(hg.num_edges).index_add(0, hg.incidence_edge, a))[hg.incidence_edge]
        return by_edge(hg, a)

    return spmm(make() if weight is not None else hg._cached(("by_edge", aggr, x.dtype), make), x, kernel)


def supports(x, hg, aggr="mean", weight=None) -> tuple[bool, str]:
    if aggr == "max":
        return False, "aggr='max' (reference only)"
    return csr_supports(x, weight)
