"""Triton CSR × dense product shared by the hypergraph operators' ``triton`` backends (segment reduction).

For a CSR matrix A (row pointers p, columns j, values a) and dense x (K × C), one program owns one row r and
BLOCK_C feature columns and streams the row's entries in BLOCK_K chunks, accumulating in registers:

    out[r, f] = Σ_{k = p_r}^{p_{r+1} − 1} a_k · x[j_k, f]

so each output row is written once and no atomics are needed (row-split SpMM: every incidence is read once per
feature block). The operators use it exactly where their CSR backends use ``embedding_bag``: the same cached
patterns and values, forward A x and backward Aᵀ g by the transposed pattern (:func:`._csr.spmm`).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hyperzoo.core.dispatch import triton_supports

BLOCK_K = 32


@triton.jit
def _row_kernel(PTR, COL, VAL, X, OUT, C, BLOCK_K: tl.constexpr, BLOCK_C: tl.constexpr):
    row = tl.program_id(0)
    feats = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    fmask = feats < C
    start = tl.load(PTR + row).to(tl.int64)
    end = tl.load(PTR + row + 1).to(tl.int64)
    acc = tl.zeros([BLOCK_C], dtype=OUT.dtype.element_ty)
    for k0 in range(start, end, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        kmask = ks < end
        cols = tl.load(COL + ks, mask=kmask, other=0).to(tl.int64)
        vals = tl.load(VAL + ks, mask=kmask, other=0.0)
        xv = tl.load(X + cols[:, None] * C + feats[None, :], mask=kmask[:, None] & fmask[None, :], other=0.0)
        acc += tl.sum(vals[:, None] * xv, axis=0)
    tl.store(OUT + row * C + feats, acc, mask=fmask)


def mm(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``a @ x`` for a CSR ``a`` (rows × K) and a contiguous dense ``x`` (K × C), by :func:`_row_kernel`."""
    rows, c = a.shape[0], x.shape[1]
    if rows == 0 or c == 0 or x.shape[0] == 0:
        return x.new_zeros(rows, c)
    x = x.contiguous()
    out = torch.empty(rows, c, dtype=x.dtype, device=x.device)
    block_c = min(128, triton.next_power_of_2(c))
    _row_kernel[(rows, triton.cdiv(c, block_c))](a.crow_indices(), a.col_indices(), a.values().to(x.dtype), x, out,
                                                 c, BLOCK_K=BLOCK_K, BLOCK_C=block_c)
    return out


def supports_with(csr_verdict: tuple[bool, str], x: torch.Tensor, *tensors) -> tuple[bool, str]:
    """The CSR backend's verdict, and every tensor on a device Triton runs on."""
    if not csr_verdict[0]:
        return csr_verdict
    return triton_supports(x, *(t for t in tensors if isinstance(t, torch.Tensor)))
