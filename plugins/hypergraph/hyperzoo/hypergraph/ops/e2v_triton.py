"""``hypergraph.e2v`` Triton backend: the CSR backend with its products by the Triton row kernel
(:mod:`._csr_triton`). Same signature, same cached patterns; forward and backward are segment reductions."""

from __future__ import annotations

from . import e2v_csr
from ._csr_triton import mm, supports_with


def e2v(y, hg, aggr: str = "mean", weight=None):
    return e2v_csr.e2v(y, hg, aggr, weight, kernel=mm)


def supports(y, hg, aggr: str = "mean", weight=None) -> tuple[bool, str]:
    return supports_with(e2v_csr.supports(y, hg, aggr, weight), y, weight)
