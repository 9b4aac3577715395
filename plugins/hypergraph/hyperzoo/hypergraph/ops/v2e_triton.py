"""``hypergraph.v2e`` Triton backend: the CSR backend with its products by the Triton row kernel
(:mod:`._csr_triton`). Same signature, same cached patterns; forward and backward are segment reductions."""

from __future__ import annotations

from . import v2e_csr
from ._csr_triton import mm, supports_with


def v2e(x, hg, aggr: str = "mean", weight=None):
    return v2e_csr.v2e(x, hg, aggr, weight, kernel=mm)


def supports(x, hg, aggr: str = "mean", weight=None) -> tuple[bool, str]:
    return supports_with(v2e_csr.supports(x, hg, aggr, weight), x, weight)
