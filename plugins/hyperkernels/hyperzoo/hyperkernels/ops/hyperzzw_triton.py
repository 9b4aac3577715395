"""``hyperkernels.hyperzzw`` -- the Triton backend (same signature as the reference, ``hyperzzw.py``).

    kappa[n] = W ⊙ P_K(Z[n])      (the reference's context kernel: small pooling matrices, elementwise product)
    Y[n]     = kappa[n] ⋆ V[n]    (the per-sample depthwise convolution by the Triton kernel of ``dwconv_triton.py``,
                                   one program per (sample·channel, tile of outputs); float32 accumulation)

Global kernels longer than ``FFT_MIN_TAPS`` taps are left to the reference, which convolves them by FFT.
"""

from __future__ import annotations

import torch

from hyperzoo.core.dispatch import triton_supports

from .dwconv_triton import DTYPES, dwconv
from .hyperzzw import FFT_MIN_TAPS, context_kernel, uses_fft
from .hyperzzw import check as _check_hyperzzw


def hyperzzw(z: torch.Tensor, w: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
    """Y[n] = (W ⊙ P_K(Z[n])) ⋆ V[n] with the Triton depthwise kernel for the convolution."""
    _check_hyperzzw(z, w, v)
    return dwconv(z if v is None else v, context_kernel(z, w))


def supports(z, w, v=None) -> tuple[bool, str]:
    ok, why = triton_supports(z, w, v)
    if not ok:
        return ok, why
    if z.dtype not in DTYPES:
        return False, f"dtype {z.dtype} (float32, float16 or bfloat16 only)"
    if uses_fft(w):
        return False, f"kernel {tuple(w.shape[1:])} longer than {FFT_MIN_TAPS} taps: the reference convolves it by FFT"
    if z.numel() == 0:
        return False, "an empty input (the reference returns the empty result)"
    return True, "ok"
