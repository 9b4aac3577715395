"""``hyperkernels.fftconv`` -- long depthwise convolution by FFT (the reference).

For x of shape (N, C, L) and a kernel k of shape (C, K) (shared) or (N, C, K) (one per sample):

    causal:      y[n, c, t] = sum_{s=0}^{K-1} k[c, s] x[n, c, t - s]             (x[t < 0] = 0)
    non-causal:  y[n, c, t] = sum_{j=0}^{K-1} k[c, j] x[n, c, t + j - p],  p = (K - 1) // 2

Non-causal is ``F.conv1d(x, k[:, None], padding="same", groups=C)`` (a centred cross-correlation); causal is the
convolution of long-convolution sequence models (S4, H3, FlashButterfly), where k[0] weighs the current step.
Both are computed as one *linear* convolution: x and the kernel are zero-padded to n >= L + K - 1 before the FFT,
so nothing wraps around (a length-L circular FFT would mix the end of the sequence into its start).
Images (N, C, H, W) with kernels (C, Kh, Kw) or (N, C, Kh, Kw) are the 2D analogue (non-causal only), like
``F.conv2d(x, k[:, None], padding="same", groups=C)``. Cost O(L log L) per channel instead of O(L K).
"""

from __future__ import annotations

import torch

from hyperzoo.core.fft import next_fast_len


def check_inputs(name: str, x: torch.Tensor, k: torch.Tensor, *, causal: bool = False) -> int:
    """Shared validation (same errors for every backend); returns the number of spatial dims (1 or 2)."""
    for label, t in (("x", x), ("kernel", k)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: {label} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name}: {label} must be a floating-point tensor, got {t.dtype}; "
                            f"convert it with .float()")
    if x.dim() not in (3, 4):
        raise ValueError(f"{name}: x must be (N, C, L) or (N, C, H, W), got shape {tuple(x.shape)}")
    dims = x.dim() - 2
    if k.dim() not in (dims + 1, dims + 2):
        want = "(C, K) or (N, C, K)" if dims == 1 else "(C, Kh, Kw) or (N, C, Kh, Kw)"
        raise ValueError(f"{name}: for x of shape {tuple(x.shape)} the kernel must be {want}, "
                         f"got shape {tuple(k.shape)}")
    if k.shape[-dims - 1] != x.shape[1]:
        raise ValueError(f"{name}: kernel has {k.shape[-dims - 1]} channels but x has {x.shape[1]} "
                         f"(kernel shape {tuple(k.shape)}, x shape {tuple(x.shape)})")
    if k.dim() == dims + 2 and k.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: per-sample kernel has batch {k.shape[0]} but x has batch {x.shape[0]}")
    if x.shape[1] == 0:
        raise ValueError(f"{name}: x has no channels (shape {tuple(x.shape)}); depthwise ops need C >= 1")
    if any(s == 0 for s in k.shape[-dims:]) or any(s == 0 for s in x.shape[-dims:]):
        raise ValueError(f"{name}: empty spatial size (x {tuple(x.shape)}, kernel {tuple(k.shape)})")
    if x.dtype != k.dtype:
        raise TypeError(f"{name}: x is {x.dtype} but the kernel is {k.dtype}; cast one to the other")
    if x.device != k.device:
        raise ValueError(f"{name}: x is on {x.device} but the kernel on {k.device}")
    if causal and dims == 2:
        raise ValueError(f"{name}: causal=True is defined for sequences (N, C, L) only, not images")
    return dims


def fftconv(x: torch.Tensor, kernel: torch.Tensor, *, causal: bool = False) -> torch.Tensor:
    """Depthwise linear convolution by FFT; see the module docstring for the equations."""
    dims = check_inputs("fftconv", x, kernel, causal=causal)
    if x.shape[0] == 0:  # an empty batch: an empty result, still connected to both inputs for autograd
        return x * kernel.sum() * 0
    sizes = x.shape[-dims:]
    ks = kernel.shape[-dims:]
    n = [next_fast_len(s + q - 1) for s, q in zip(sizes, ks)]
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    k = kernel if causal else kernel.flip(list(range(-dims, 0)))  # correlation = convolution with k flipped
    fft_dims = tuple(range(-dims, 0))
    xf = torch.fft.rfftn(x.to(work), s=n, dim=fft_dims)
    kf = torch.fft.rfftn(k.to(work), s=n, dim=fft_dims)
    full = torch.fft.irfftn(xf * kf, s=n, dim=fft_dims)
    starts = [0] * dims if causal else [q - 1 - (q - 1) // 2 for q in ks]
    y = full
    for axis, (start, size) in enumerate(zip(starts, sizes)):
        y = y.narrow(axis - dims, start, size)
    return y.to(x.dtype)
