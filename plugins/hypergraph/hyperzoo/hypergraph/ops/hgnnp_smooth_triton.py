"""``hypergraph.hgnnp_smooth`` Triton backend: the CSR backend with its products by the Triton row kernel
(:mod:`._csr_triton`). Same signature, same cached patterns; forward and backward are segment reductions."""

from __future__ import annotations

from . import hgnnp_smooth_csr
from ._csr_triton import mm, supports_with


def hgnnp_smooth(x, hg, edge_weight=None, isolated: str = "zero"):
    return hgnnp_smooth_csr.hgnnp_smooth(x, hg, edge_weight, isolated, kernel=mm)


def supports(x, hg, edge_weight=None, isolated: str = "zero") -> tuple[bool, str]:
    return supports_with(hgnnp_smooth_csr.supports(x, hg, edge_weight, isolated), x, edge_weight)
