"""Sparse-CSR products shared by the ``*_csr`` backends.

Per-incidence values ``a`` (edge-major order) define two matrices with the same pattern as H:

    by_edge(a) ∈ R^{E×N},  by_edge(a)[e, v] = a_{ve}        by_node(a) = by_edge(a)ᵀ ∈ R^{N×E}

and :func:`spmm` computes ``A @ x`` with the backward ``Aᵀ @ g`` taken from the cached transpose pattern, so
every operator is one or two CSR products forward and as many backward. Index arrays are int32 when they fit:
a product reads them as they are (``torch.sparse.mm`` converted int64 indices for MKL on every call).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from ..structure import Hypergraph

_BETA = "Sparse CSR tensor support is in beta state"

_INT32_MAX = 2**31 - 1


def index_dtype(*sizes: int) -> torch.dtype:
    """int32 when every size (rows, columns, nnz) fits, else int64."""
    return torch.int32 if max(sizes, default=0) <= _INT32_MAX else torch.int64


def csr(ptr: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A CSR tensor (no invariant checks: callers pass valid, sorted patterns)."""
    with warnings.catch_warnings():  # torch's beta notice is not something a user can act on
        warnings.filterwarnings("ignore", message=_BETA)
        return torch.sparse_csr_tensor(ptr, cols, vals, shape, check_invariants=False)


def _patterns(hg: Hypergraph) -> tuple[torch.Tensor, ...]:
    """``(edge_ptr, node_ids, node_ptr, node-major edge ids, perm)``, indices cast once per hypergraph."""
    def make():
        node_ptr, perm = hg.node_order
        it = index_dtype(hg.num_nodes, hg.num_edges, hg.num_incidences)
        return (hg.edge_ptr.to(it), hg.node_ids.to(it), node_ptr.to(it), hg.incidence_edge[perm].to(it), perm)

    return hg._cached("csr_patterns", make)


def by_edge(hg: Hypergraph, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, Aᵀ)`` with A = by_edge(a) of shape (E, N)."""
    edge_ptr, node_ids, node_ptr, cols_t, perm = _patterns(hg)
    a = a.detach()
    return (csr(edge_ptr, node_ids, a, (hg.num_edges, hg.num_nodes)),
            csr(node_ptr, cols_t, a[perm], (hg.num_nodes, hg.num_edges)))


def by_node(hg: Hypergraph, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, Aᵀ)`` with A = by_node(a) of shape (N, E)."""
    fwd, bwd = by_edge(hg, a)
    return bwd, fwd


def mm(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``a @ x`` for a CSR ``a`` and a dense ``x``: row r of the result is Σ_k a.values[k] x[a.cols[k]] over
    row r's entries, which is exactly ``embedding_bag`` in ``"sum"`` mode with per-sample weights (bags = rows).
    Measured on CPU, its kernel is 15-25% faster than ``torch.sparse.mm`` (MKL) on the benchmark hypergraphs and
    writes the result once (``torch.sparse.mm`` zero-fills a result and copies it)."""
    if x.shape[1] == 0 or a.shape[0] == 0 or x.shape[0] == 0:  # embedding_bag rejects empty tables
        return x.new_zeros(a.shape[0], x.shape[1])
    return F.embedding_bag(a.col_indices(), x, a.crow_indices(), mode="sum", per_sample_weights=a.values(),
                           include_last_offset=True)


class _SpMM(torch.autograd.Function):
    # The matrices come in one tuple, which autograd does not inspect (sparse tensors as direct inputs made
    # the backward measurably slower).
    @staticmethod
    def forward(ctx, x, pair, kernel):
        ctx.a_t, ctx.kernel = pair[1], kernel
        return kernel(pair[0], x)

    @staticmethod
    def backward(ctx, g):
        return ctx.kernel(ctx.a_t, g.contiguous()), None, None


def spmm(pair: tuple[torch.Tensor, torch.Tensor], x: torch.Tensor, kernel=mm) -> torch.Tensor:
    """``A @ x`` for ``pair = (A, Aᵀ)``, differentiable in ``x``. A symmetric A is passed as ``(A, A)``.
    ``kernel(csr, dense)`` is the product: :func:`mm` here, the Triton row kernel for the ``triton`` backends."""
    return _SpMM.apply(x.contiguous(), pair, kernel)
