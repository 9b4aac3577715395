"""Sparse-CSR products shared by the ``*_csr`` backends.

Per-incidence values ``a`` (edge-major order) define two matrices with the same pattern as H:

    by_edge(a) ∈ R^{E×N},  by_edge(a)[e, v] = a_{ve}        by_node(a) = by_edge(a)ᵀ ∈ R^{N×E}

and :func:`spmm` computes ``A @ x`` with the backward ``Aᵀ @ g`` taken from the cached transpose pattern, so
every operator is one or two CSR products forward and as many backward.
"""

from __future__ import annotations

import warnings

import torch

from ..structure import Hypergraph

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def _csr(ptr: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    return torch.sparse_csr_tensor(ptr, cols, vals, shape, check_invariants=False)


def by_edge(hg: Hypergraph, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, Aᵀ)`` with A = by_edge(a) of shape (E, N)."""
    node_ptr, perm = hg.node_order
    cols_t = hg._cached("node_major_edges", lambda: hg.incidence_edge[perm])
    a = a.detach()
    return (_csr(hg.edge_ptr, hg.node_ids, a, (hg.num_edges, hg.num_nodes)),
            _csr(node_ptr, cols_t, a[perm], (hg.num_nodes, hg.num_edges)))


def by_node(hg: Hypergraph, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, Aᵀ)`` with A = by_node(a) of shape (N, E)."""
    fwd, bwd = by_edge(hg, a)
    return bwd, fwd


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a, a_t):
        ctx.a_t = a_t
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, g):
        return torch.sparse.mm(ctx.a_t, g.contiguous()), None, None


def spmm(pair: tuple[torch.Tensor, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``A @ x`` for ``pair = (A, Aᵀ)``, differentiable in ``x``."""
    a, a_t = pair
    return _SpMM.apply(x.contiguous(), a, a_t)
