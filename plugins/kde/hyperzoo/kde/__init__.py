"""hyperzoo.kde -- exact and fast kernel density estimation, high-dimensional bandwidth regimes,
differentially private similarity sums, and DPP / volume-sampling weighted least squares.

    from hyperzoo.kde import KernelDensity
    kde = KernelDensity(bandwidth="scott").fit(x)
    log_density = kde.score_samples(y)

The package imports lazily (listing plugins must not import torch): names load on first access.
"""

from __future__ import annotations

from hyperzoo.core.lazy import lazy_exports

_LAZY = {
    "KernelDensity": "estimator",
    "bandwidth_rule": "estimator",
    "kernel_sum": "functional",
    "log_density": "functional",
    "KERNELS": "kernels",
    "regimes": None,
    "private": None,
    "dpp": None,
    "h_gauss": "regimes",
    "h_clt": "regimes",
    "h_kl": "regimes",
    "simulate_regimes": "regimes",
    "PrivateKernelSum": "private",
    "PrivateDistanceSum": "private",
    "PrivateSimilarityClassifier": "private",
    "NoisyRandomFeatures": "private",
    "audit_laplace": "private",
    "projection_dpp": "dpp",
    "volume_sampling": "dpp",
    "weighted_least_squares": "dpp",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY)
