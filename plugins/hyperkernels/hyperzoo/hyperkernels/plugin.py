"""hyperkernels' registrations (no torch import here: listing stays light)."""

from __future__ import annotations

from hyperzoo import core

SEQ, IMG = "sequence-classification", "image-classification"
_OPS = "hyperzoo.hyperkernels.ops."
_M = "hyperzoo.hyperkernels.models:"
_TRITON = dict(is_available="hyperzoo.core.dispatch:triton_available",
               tolerances={"float32": (1e-4, 1e-4), "float16": (1e-2, 1e-2), "bfloat16": (2e-2, 2e-2)})


@core.hookimpl
def hyperzoo_register(registrar) -> None:
    registrar.operator("hyperkernels.fftconv", _OPS + "fftconv:fftconv",
                       doc="depthwise linear conv by FFT: causal y_t = Σ_s k_s x_{t-s}, or centred (conv1d 'same')")
    registrar.operator("hyperkernels.dwconv", _OPS + "dwconv:dwconv",
                       doc="depthwise conv, 'same' padding: y_t = b + Σ_j w_j x_{t + d j - p}, shared or per-sample w")
    registrar.operator("hyperkernels.hyperzzw", _OPS + "hyperzzw:hyperzzw",
                       doc="HyperZ·Z·W: Y[n] = (W ⊙ pool_K(Z[n])) ⋆ V[n], V = Z by default")
    registrar.backend("hyperkernels.dwconv", "triton", _OPS + "dwconv_triton:dwconv", priority=10,
                      supports=_OPS + "dwconv_triton:supports", **_TRITON)
    registrar.backend("hyperkernels.hyperzzw", "triton", _OPS + "hyperzzw_triton:hyperzzw", priority=10,
                      supports=_OPS + "hyperzzw_triton:supports", **_TRITON)

    registrar.model("terminator", _M + "terminator", fits=[SEQ])
    registrar.model("terminator2d", _M + "terminator2d", fits=[IMG])
    registrar.model("longconv", _M + "longconv", fits=[SEQ])
    registrar.model("inceptionnext", _M + "inceptionnext", fits=[IMG])
    registrar.model("unireplknet", _M + "unireplknet", fits=[IMG])

    registrar.optimizer("kar3", "hyperzoo.hyperkernels.optim:kar3")
