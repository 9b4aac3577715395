"""Shared float64 oracles for linear_attention's tests: the written-out masked quadratic forms."""

from types import SimpleNamespace

import pytest
import torch


def explicit(fq, fk, v, *, causal=False, eps=1e-6, s0=None, z0=None, normalize=True, block=1):
    """o_i = Σ_j A_ij v_j / (Σ_j A_ij + eps), A = fq fkᵀ, by loops over i, j; causal: j up to the end of i's block of
    ``block`` tokens (1: j ≤ i)."""
    b, h, n, _ = fq.shape
    m = fk.shape[2]
    out = torch.zeros(b, h, n, v.shape[-1], dtype=torch.float64)
    for i in range(n):
        num = torch.zeros(b, h, v.shape[-1], dtype=torch.float64)
        den = torch.zeros(b, h, dtype=torch.float64)
        for j in range(min(m, (i // block + 1) * block) if causal else m):
            a = (fq[:, :, i] * fk[:, :, j]).sum(-1)
            num += a[..., None] * v[:, :, j]
            den += a
        if s0 is not None:
            num += (fq[:, :, i, :, None] * s0).sum(-2)
            den += (fq[:, :, i] * z0).sum(-1)
        out[:, :, i] = num / (den + eps)[..., None] if normalize else num
    return out


def brute_state(fk, v, s0=None, z0=None):
    s = sum(fk[:, :, j, :, None] * v[:, :, j, None, :] for j in range(fk.shape[2]))
    z = fk.sum(2)
    return (s if s0 is None else s + s0), (z if z0 is None else z + z0)


def qkv(b=2, h=3, n=11, d=4, dv=5, m=None, dtype=torch.float64, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, n, d, generator=g, dtype=dtype) * scale
    k = torch.randn(b, h, n if m is None else m, d, generator=g, dtype=dtype) * scale
    v = torch.randn(b, h, n if m is None else m, dv, generator=g, dtype=dtype)
    return q, k, v


@pytest.fixture
def oracle():
    return SimpleNamespace(explicit=explicit, state=brute_state, qkv=qkv)
