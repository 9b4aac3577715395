"""``hypergraph.hgnnp_smooth`` CSR backend: X' = by_node(w_e / d(v)) (by_edge(1/|e|) X). Same signature."""

from __future__ import annotations

import torch

from ..structure import Hypergraph
from ._common import check_edge_weight, check_features, csr_supports, safe_inv
from ._csr import by_edge, by_node, mm, spmm


def hgnnp_smooth(x: torch.Tensor, hg: Hypergraph, edge_weight: torch.Tensor | None = None,
                 isolated: str = "zero", *, kernel=mm) -> torch.Tensor:
    check_features("hypergraph.hgnnp_smooth", x, hg, "nodes")
    w = check_edge_weight("hypergraph.hgnnp_smooth", edge_weight, hg, isolated).to(x.dtype)

    def make():
        v, e = hg.node_ids, hg.incidence_edge
        dv = x.new_zeros(hg.num_nodes).index_add(0, v, w[e])
        return (by_edge(hg, 1.0 / hg.edge_size.to(x.dtype)[e]), by_node(hg, w[e] * safe_inv(dv)[v]),
                (dv == 0).nonzero().flatten())

    first, second, iso = make() if edge_weight is not None else hg._cached(("hgnnp_csr", x.dtype), make)
    out = spmm(second, spmm(first, x, kernel), kernel)
    if isolated == "self_loop":
        out = out.index_add_(0, iso, x.index_select(0, iso))  # isolated rows only
    return out


def supports(x, hg, edge_weight=None, isolated="zero") -> tuple[bool, str]:
    return csr_supports(x, edge_weight)
