"""``hypergraph.hgnn_smooth`` CSR backend: X' = by_node(b) (by_edge(a) X) with a_{ve} = d(v)^-1/2 / |e| and
b_{ve} = d(v)^-1/2 w_e. Same signature."""

from __future__ import annotations

import torch

from ..structure import Hypergraph
from ._common import check_edge_weight, check_features, csr_supports, safe_inv
from ._csr import by_edge, by_node, spmm


def hgnn_smooth(x: torch.Tensor, hg: Hypergraph, edge_weight: torch.Tensor | None = None,
                isolated: str = "zero") -> torch.Tensor:
    check_features("hypergraph.hgnn_smooth", x, hg, "nodes")
    w = check_edge_weight("hypergraph.hgnn_smooth", edge_weight, hg, isolated).to(x.dtype)

    def make():
        v, e = hg.node_ids, hg.incidence_edge
        dv = x.new_zeros(hg.num_nodes).index_add(0, v, w[e])
        dvis = safe_inv(dv, 0.5)[v]
        return (by_edge(hg, dvis / hg.edge_size.to(x.dtype)[e]), by_node(hg, dvis * w[e]),
                (dv == 0).nonzero().flatten())

    first, second, iso = make() if edge_weight is not None else hg._cached(("hgnn_csr", x.dtype), make)
    out = spmm(second, spmm(first, x))
    if isolated == "self_loop":
        out = out.index_add_(0, iso, x.index_select(0, iso))  # isolated rows only
    return out


def supports(x, hg, edge_weight=None, isolated="zero") -> tuple[bool, str]:
    return csr_supports(x, edge_weight)
