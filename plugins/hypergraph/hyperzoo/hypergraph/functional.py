"""The operators as plain functions that dispatch (``backend=`` picks one: ``"reference"``, ``"csr"``)."""

from __future__ import annotations

from typing import Any

from hyperzoo import core


def v2e(x, hg, aggr: str = "mean", weight=None, *, backend: str | None = None) -> Any:
    """Nodes → hyperedges (see ``hyperzoo.hypergraph.ops.v2e``)."""
    return core.get_operator("hypergraph.v2e")(x, hg, aggr, weight, backend=backend)


def e2v(y, hg, aggr: str = "mean", weight=None, *, backend: str | None = None) -> Any:
    """Hyperedges → nodes (see ``hyperzoo.hypergraph.ops.e2v``)."""
    return core.get_operator("hypergraph.e2v")(y, hg, aggr, weight, backend=backend)


def hgnn_smooth(x, hg, edge_weight=None, isolated: str = "zero", *, backend: str | None = None) -> Any:
    """Dv^-1/2 H W De^-1 Hᵀ Dv^-1/2 X (see ``hyperzoo.hypergraph.ops.hgnn_smooth``)."""
    return core.get_operator("hypergraph.hgnn_smooth")(x, hg, edge_weight, isolated, backend=backend)


def hgnnp_smooth(x, hg, edge_weight=None, isolated: str = "zero", *, backend: str | None = None) -> Any:
    """Dv^-1 H W De^-1 Hᵀ X (see ``hyperzoo.hypergraph.ops.hgnnp_smooth``)."""
    return core.get_operator("hypergraph.hgnnp_smooth")(x, hg, edge_weight, isolated, backend=backend)
