"""hyperzoo.kernels -- infinite-width network kernels (analytic NNGP/NTK, empirical NTK), kernel regression with the
gradient-descent-time predictor, the simulated quantum ZZ feature-map kernel, and the GSMP spectral-mixture kernel,
with scikit-learn estimators.

    from hyperzoo.kernels import NTKClassifier, nngp_ntk
    nngp, ntk = nngp_ntk(x1, x2, depth=3, activation="relu")
    clf = NTKClassifier(depth=3).fit(x_train, y_train)

The package imports lazily (listing plugins must not import torch): names load on first access.
"""

from __future__ import annotations

from hyperzoo.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nngp_ntk": "functional",
    "empirical_ntk": "functional",
    "quantum_zz_kernel": "functional",
    "gsmp": "functional",
    "kernel_regression": "functional",
    "dual_coefficients": "functional",
    "NTKRegressor": "estimators",
    "NTKClassifier": "estimators",
    "QuantumKernelSVC": "estimators",
    "GSMPRegressor": "estimators",
    "sca_weights": "estimators",
    "feature_states": "quantum",
    "adhoc_data": "quantum",
    "NTKMLP": "layers",
    "local_nngp_ntk": "cntk",
    "LocalCNN": "cntk",
    "LocalNTKRegressor": "cntk",
    "DeepKernelMachine": "dkm",
    "DeepLimitClassifier": "deep_limit",
    "consensus_admm": "slim_kl",
})
