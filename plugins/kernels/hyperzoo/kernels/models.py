"""Registered estimator factories (explicit keyword arguments; configs round-trip through JSON). Tasks move an
estimator to the run's device through ``set_params(device=...)``."""

from __future__ import annotations

from typing import Any

from .estimators import GSMPRegressor, NTKClassifier, NTKRegressor, QuantumKernelSVC


def ntk_regressor(*, kernel: str = "ntk", activation: str = "relu", depth: int = 2, weight_variance: float = 2.0,
                  bias_variance: float = 0.1, ridge: float = 1e-6, time: float | None = None,
                  learning_rate: float = 1.0) -> NTKRegressor:
    """Kernel regression with the analytic NTK or NNGP (``kernel``), to convergence or at gradient-flow ``time``."""
    return NTKRegressor(kernel=kernel, activation=activation, depth=depth, weight_variance=weight_variance,
                        bias_variance=bias_variance, ridge=ridge, time=time, lr=learning_rate)


def ntk_classifier(*, kernel: str = "ntk", activation: str = "relu", depth: int = 2, weight_variance: float = 2.0,
                   bias_variance: float = 0.1, ridge: float = 1e-6, time: float | None = None,
                   learning_rate: float = 1.0) -> NTKClassifier:
    """NTK/NNGP kernel regression on one-hot targets, argmax prediction."""
    return NTKClassifier(kernel=kernel, activation=activation, depth=depth, weight_variance=weight_variance,
                         bias_variance=bias_variance, ridge=ridge, time=time, lr=learning_rate)


def quantum_svc(*, reps: int = 2, entanglement: str = "full", shots: int | None = None, C: float = 1.0,
                random_state: int = 0) -> QuantumKernelSVC:
    """SVC on the simulated ZZ-feature-map quantum kernel (one qubit per feature, at most 12)."""
    return QuantumKernelSVC(reps=reps, entanglement=entanglement, shots=shots, C=C, random_state=random_state)


def gsmp_regressor(*, num_components: int = 50, max_frequency: float | None = None, sparsity: float = 0.0,
                   max_iter: int = 200, random_state: int = 0) -> GSMPRegressor:
    """GP regression with the GSMP kernel, sparse θ ≥ 0 by successive convex approximation."""
    return GSMPRegressor(num_components=num_components, max_frequency=max_frequency, sparsity=sparsity,
                         max_iter=max_iter, random_state=random_state)


def rbf_svc(*, C: float = 10.0, gamma: float | str = "scale") -> Any:
    """The baseline: scikit-learn's SVC with the RBF kernel exp(−γ‖x − x'‖²) ("scale": γ = 1/(d·Var x))."""
    from sklearn.svm import SVC

    return SVC(kernel="rbf", C=C, gamma=gamma)
