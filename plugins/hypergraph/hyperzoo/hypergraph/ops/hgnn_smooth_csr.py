"""``hypergraph.hgnn_smooth`` CSR backend, same signature as the reference. Two paths, one result:

* one product: X' = Θ X with Θ = Dv^-1/2 H W De^-1 Hᵀ Dv^-1/2 (plus Θ[v, v] = 1 for isolated nodes under
  ``isolated="self_loop"``) cached as an N×N CSR. Θ is symmetric, so the backward is Θ g with the same matrix;
* two products: X' = by_node(b) (by_edge(a) X), a_{ve} = d(v)^-1/2 / |e|, b_{ve} = d(v)^-1/2 w_e.

Size rule (:func:`use_theta`): Θ is used for the hypergraph's own weights when Σ_e |e|² ≤ 4·nnz(H). Σ_e |e|²
bounds nnz(Θ) (without isolated nodes) and is free to compute; the two-product path handles 2·nnz(H) entries per
product plus an E×C intermediate and a second call, so within that bound one product wins (cocitation-cora:
Σ|e|² = 3.4·nnz(H), nnz(Θ) = 2.2·nnz(H): 1.3x faster), while hypergraphs with larger hyperedges keep two
products: Θ holds 6-7x the incidences there and is as fast (coauthorship-cora, 8.8) or 2x slower (the 55k
synthetic, 7.1); ``python benchmarks/hypergraph.py --parts paths``. An explicit
``edge_weight`` always takes the two-product path, uncached. Caches live on the (immutable) Hypergraph, keyed by
dtype and, for Θ, the ``isolated`` option; ``hg.to(device)`` and ``hg.with_edge_weight`` start empty ones.
"""

from __future__ import annotations

import warnings

import torch

from ..structure import Hypergraph
from ._common import check_edge_weight, check_features, csr_supports, safe_inv
from ._csr import _BETA, by_edge, by_node, csr, index_dtype, mm, spmm

THETA_FACTOR = 4  # Θ path when Σ_e |e|² ≤ THETA_FACTOR · nnz(H)


def use_theta(hg: Hypergraph) -> bool:
    """Whether :func:`hgnn_smooth` multiplies by the cached N×N Θ (the size rule above)."""
    def make():
        size = hg.edge_size
        return int((size * size).sum()) <= THETA_FACTOR * hg.num_incidences
    return hg._cached("hgnn_use_theta", make)


def theta(hg: Hypergraph, dtype: torch.dtype, isolated: str) -> torch.Tensor:
    """Θ (``hg.smoothing_matrix``) as an N×N CSR of ``dtype`` with int32 indices when they fit."""
    with warnings.catch_warnings():  # torch's CSR beta notice is not something a user can act on
        warnings.filterwarnings("ignore", message=_BETA)
        t = hg.smoothing_matrix(isolated=isolated, dtype=dtype).to_sparse_csr()
    it = index_dtype(hg.num_nodes, t.values().numel())
    return csr(t.crow_indices().to(it), t.col_indices().to(it), t.values(), (hg.num_nodes, hg.num_nodes))


def hgnn_smooth(x: torch.Tensor, hg: Hypergraph, edge_weight: torch.Tensor | None = None,
                isolated: str = "zero", *, kernel=mm) -> torch.Tensor:
    check_features("hypergraph.hgnn_smooth", x, hg, "nodes")
    w = check_edge_weight("hypergraph.hgnn_smooth", edge_weight, hg, isolated)
    if edge_weight is None:
        return smooth(x, hg, isolated, "theta" if use_theta(hg) else "incidence", kernel)
    return _two_products(x, hg, w, isolated, False, kernel)


def smooth(x: torch.Tensor, hg: Hypergraph, isolated: str, path: str, kernel=mm) -> torch.Tensor:
    """Θ x with the hypergraph's own weights through one ``path``: ``"theta"`` (one product with the cached
    N×N Θ) or ``"incidence"`` (two cached products through H); :func:`hgnn_smooth` picks by :func:`use_theta`."""
    if path == "theta":
        t = hg._cached(("hgnn_theta", x.dtype, isolated), lambda: theta(hg, x.dtype, isolated))
        return spmm((t, t), x, kernel)
    return _two_products(x, hg, hg.edge_weight, isolated, True, kernel)


def _two_products(x: torch.Tensor, hg: Hypergraph, w: torch.Tensor, isolated: str, cached: bool,
                  kernel=mm) -> torch.Tensor:
    def make():
        wx = w.to(x.dtype)
        v, e = hg.node_ids, hg.incidence_edge
        dv = x.new_zeros(hg.num_nodes).index_add(0, v, wx[e])
        dvis = safe_inv(dv, 0.5)[v]
        return (by_edge(hg, dvis / hg.edge_size.to(x.dtype)[e]), by_node(hg, dvis * wx[e]),
                (dv == 0).nonzero().flatten())

    first, second, iso = hg._cached(("hgnn_csr", x.dtype), make) if cached else make()
    out = spmm(second, spmm(first, x, kernel), kernel)
    if isolated == "self_loop":
        out = out.index_add_(0, iso, x.index_select(0, iso))  # isolated rows only
    return out


def supports(x, hg, edge_weight=None, isolated="zero") -> tuple[bool, str]:
    return csr_supports(x, edge_weight)
