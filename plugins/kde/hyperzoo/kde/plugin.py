"""The kde plugin's registrations (no math, no torch import): see docs/plugins/kde.md."""

from __future__ import annotations

from hyperzoo import core

_OPS = "hyperzoo.kde.ops."
_M = "hyperzoo.kde.models:"
_T = "hyperzoo.kde.tasks:"
DENSITY, REGIMES = "density", "density-regimes"
PRIVATE_SIM, PRIVATE_CLS = "private-similarity", "private-classification"


@core.hookimpl
def hyperzoo_register(registrar) -> None:
    registrar.operator("kde.kernel_sum", _OPS + "kernel_sum:kernel_sum",
                       doc="log Σ_i w_i K(‖y_q − x_i‖/h) per query (log-space stable), six radial kernels")
    registrar.backend("kde.kernel_sum", "blocked", _OPS + "kernel_sum_blocked:kernel_sum", priority=5,
                      supports=_OPS + "kernel_sum_blocked:supports",
                      tolerances={"float64": (1e-10, 1e-10), "float32": (1e-5, 1e-5)})
    registrar.backend("kde.kernel_sum", "triton", _OPS + "kernel_sum_triton:kernel_sum", priority=10,
                      is_available="hyperzoo.core.dispatch:triton_available",
                      supports=_OPS + "kernel_sum_triton:supports",
                      tolerances={"float32": (1e-4, 1e-4), "float16": (1e-2, 1e-2), "bfloat16": (2e-2, 2e-2)})

    registrar.model("kde", _M + "kde", fits=[DENSITY, REGIMES])
    registrar.model("dp-kernel-sum", _M + "dp_kernel_sum", fits=[PRIVATE_SIM])
    registrar.model("dp-distance-sum", _M + "dp_distance_sum", fits=[PRIVATE_SIM])
    registrar.model("dp-similarity-classifier", _M + "dp_similarity_classifier", fits=[PRIVATE_CLS])

    registrar.task("density-gaussian", _T + "DensityGaussian", kind=DENSITY)
    registrar.task("density-digits", _T + "DensityDigits", kind=DENSITY)
    registrar.task("kde-regimes", _T + "KDERegimes", kind=REGIMES)
    registrar.task("dp-similarity", _T + "DPSimilarity", kind=PRIVATE_SIM)
    registrar.task("dp-classify-digits", _T + "DPClassifyDigits", kind=PRIVATE_CLS)
