"""``hyperkernels.dwconv`` -- depthwise convolution with "same" padding (the reference).

For x of shape (N, C, L) and a kernel w of shape (C, K) (shared) or (N, C, K) (one per sample), dilation d:

    y[n, c, t] = b[c] + sum_{j=0}^{K-1} w[c, j] x[n, c, t + d j - p],   p = d (K - 1) // 2,  x outside [0, L) = 0

and the same in 2D for images (N, C, H, W) with kernels (C, Kh, Kw) or (N, C, Kh, Kw). Shared kernels are
``F.conv1d/2d(x, w[:, None], b, padding="same", dilation=d, groups=C)``; per-sample kernels (the context-dependent
hyper-kernels of HyperZ·Z·W) fold the batch into the groups. The Triton backend (``dwconv_triton.py``) computes
the same sums directly, one program per (sample, channel, tile of outputs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fftconv import check_inputs


def _check(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dilation: int) -> int:
    dims = check_inputs("dwconv", x, weight)
    if bias is not None and (not isinstance(bias, torch.Tensor) or tuple(bias.shape) != (x.shape[1],)):
        raise ValueError(f"dwconv: bias must be a tensor of shape ({x.shape[1]},), got "
                         f"{tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__}")
    if not isinstance(dilation, int) or isinstance(dilation, bool) or dilation < 1:
        raise ValueError(f"dwconv: dilation must be a positive int, got {dilation!r}")
    return dims


def dwconv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
           dilation: int = 1) -> torch.Tensor:
    """y = b + Σ_j w_j · x[t + d·j − p] per channel ("same" padding); see the module docstring."""
    dims = _check(x, weight, bias, dilation)
    if x.shape[0] == 0:  # an empty batch: an empty result, still connected to every input for autograd
        y = x * weight.sum() * 0
        return y if bias is None else y + bias.view(1, -1, *([1] * dims))
    conv = F.conv1d if dims == 1 else F.conv2d
    pad = []
    for taps in reversed(weight.shape[-dims:]):  # F.pad order: last axis first; left = d(K-1)//2
        total = dilation * (taps - 1)
        pad += [total // 2, total - total // 2]
    x = F.pad(x, pad)
    n, c = x.shape[:2]
    if weight.dim() == dims + 1:
        return conv(x, weight.unsqueeze(1), bias, dilation=dilation, groups=c)
    y = conv(x.reshape(1, n * c, *x.shape[2:]), weight.reshape(n * c, 1, *weight.shape[2:]), None,
             dilation=dilation, groups=n * c)
    y = y.reshape(n, c, *y.shape[2:])
    if bias is not None:
        y = y + bias.view(1, c, *([1] * dims))
    return y
