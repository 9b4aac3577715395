"""Shared brute-force references (float64 loops straight from the equations) for hyperkernels' tests."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch


def _kernel_of(k: np.ndarray, n: int) -> np.ndarray:
    return k[n] if k.ndim == 3 else k  # (C, K) shared or (N, C, K) per sample


def direct_1d(x, k, *, causal=False, dilation=1, bias=None):
    """y[n,c,t] = Σ_j k[c,j] x[n,c,t + d j − p] (p = d(K−1)//2), or causal Σ_s k[c,s] x[n,c,t−s]."""
    x, k = np.asarray(x, np.float64), np.asarray(k, np.float64)
    n_, c_, length = x.shape
    taps = k.shape[-1]
    y = np.zeros_like(x)
    p = dilation * (taps - 1) // 2
    for n in range(n_):
        kn = _kernel_of(k, n)
        for c in range(c_):
            for t in range(length):
                acc = 0.0
                for j in range(taps):
                    src = t - j if causal else t + dilation * j - p
                    if 0 <= src < length:
                        acc += kn[c, j] * x[n, c, src]
                y[n, c, t] = acc + (0.0 if bias is None else bias[c])
    return y


def direct_2d(x, k, *, dilation=1):
    """y[n,c,h,w] = Σ_{i,j} k[c,i,j] x[n,c,h + d i − p_h, w + d j − p_w]."""
    x, k = np.asarray(x, np.float64), np.asarray(k, np.float64)
    n_, c_, hh, ww = x.shape
    kh, kw = k.shape[-2:]
    ph, pw = dilation * (kh - 1) // 2, dilation * (kw - 1) // 2
    y = np.zeros_like(x)
    for n in range(n_):
        kn = k[n] if k.ndim == 4 else k
        for i in range(kh):
            for j in range(kw):
                for h in range(hh):
                    sh = h + dilation * i - ph
                    if not 0 <= sh < hh:
                        continue
                    for w in range(ww):
                        sw = w + dilation * j - pw
                        if 0 <= sw < ww:
                            y[n, :, h, w] += kn[:, i, j] * x[n, :, sh, sw]
    return y


def adaptive_pool_1d(z, size):
    """Adaptive average pooling by its definition: window i = [floor(iL/K), ceil((i+1)L/K))."""
    z = np.asarray(z, np.float64)
    length = z.shape[-1]
    out = np.zeros(z.shape[:-1] + (size,))
    for i in range(size):
        lo, hi = (i * length) // size, -((-(i + 1) * length) // size)
        out[..., i] = z[..., lo:hi].mean(-1)
    return out


@pytest.fixture
def direct():
    return SimpleNamespace(conv1d=direct_1d, conv2d=direct_2d, pool1d=adaptive_pool_1d)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
