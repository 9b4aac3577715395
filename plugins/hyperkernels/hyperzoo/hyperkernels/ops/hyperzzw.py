"""``hyperkernels.hyperzzw`` -- the HyperZ·Z·W operator of Terminator (Zhang, arXiv 2401.17948), reference.

A slow network produces a hyper-kernel W (one kernel per channel, shape (C, K) or (C, Kh, Kw)). The fast network's
hidden activations Z (N, C, L) or (N, C, H, W) make it context-dependent, sample by sample, and the result is
convolved with Z (or with another fast-branch tensor V of Z's shape):

    kappa[n] = W ⊙ P_K(Z[n])           P_K: adaptive average pooling of Z[n] to W's size
    Y[n]     = kappa[n] ⋆ V[n]          depthwise, "same" padding (``hyperkernels.dwconv`` semantics), V = Z by default

For a global hyper-kernel (K = L) P_K is the identity and kappa = W ⊙ Z: the "HyperZ·Z·W" product; the
convolution then runs by FFT (``hyperkernels.fftconv``, linear, not circular). For local kernels (K = 3, 5, 7, ...)
P_K summarises each sample's own context, so the kernel depends on that sample only (never on the batch).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .dwconv import dwconv
from .fftconv import check_inputs, fftconv

FFT_MIN_TAPS = 16  # kernels longer than this along some axis run by FFT in the reference (same result)


def uses_fft(w: torch.Tensor) -> bool:
    return max(w.shape[1:]) > FFT_MIN_TAPS


def check(z: torch.Tensor, w: torch.Tensor, v: torch.Tensor | None) -> int:
    dims = check_inputs("hyperzzw", z, w)
    if w.dim() != dims + 1:
        raise ValueError(f"hyperzzw: the hyper-kernel W must be shared by the batch, shape (C, *K), "
                         f"got {tuple(w.shape)}")
    if any(k > s for k, s in zip(w.shape[1:], z.shape[2:])):
        raise ValueError(f"hyperzzw: hyper-kernel size {tuple(w.shape[1:])} exceeds Z's size {tuple(z.shape[2:])}; "
                         f"a global kernel has Z's size, local kernels are smaller")
    if v is not None:
        if not isinstance(v, torch.Tensor) or v.shape != z.shape or v.dtype != z.dtype:
            raise ValueError(f"hyperzzw: V must match Z's shape {tuple(z.shape)} and dtype {z.dtype}, got "
                             f"{tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}")
    return dims


@functools.lru_cache(maxsize=64)
def _pool_matrix(length: int, size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(length, size) matrix of adaptive average pooling along one axis (window i = [⌊iL/K⌋, ⌈(i+1)L/K⌉))."""
    eye = torch.eye(length, dtype=torch.float64)[None]
    return F.adaptive_avg_pool1d(eye, size)[0].to(device, dtype)


def context_kernel(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """kappa[n] = W ⊙ P_K(Z[n]), shape (N, C, *K): the per-sample, context-dependent kernel."""
    pooled = z
    for axis, size in enumerate(w.shape[1:]):  # separable: pool each spatial axis with a small matrix
        length = z.shape[2 + axis]
        if size != length:
            pool = _pool_matrix(length, size, z.device, z.dtype)
            pooled = torch.matmul(pooled.transpose(2 + axis, -1), pool).transpose(2 + axis, -1)
    return pooled * w


def hyperzzw(z: torch.Tensor, w: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
    """Y[n] = (W ⊙ P_K(Z[n])) ⋆ V[n] (V = Z by default); see the module docstring."""
    check(z, w, v)
    kappa = context_kernel(z, w)
    v = z if v is None else v
    return fftconv(v, kappa) if uses_fft(w) else dwconv(v, kappa)
