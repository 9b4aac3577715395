"""Registered estimator factories (explicit keyword arguments; configs round-trip through JSON)."""

from __future__ import annotations

from .estimator import KernelDensity
from .private import PrivateDistanceSum, PrivateKernelSum, PrivateSimilarityClassifier


def kde(*, bandwidth: float | str = "scott", kernel: str = "gaussian", algorithm: str = "exact", rtol: float = 1e-6,
        grid_size: int | None = None, leaf_size: int = 256, dtype: str = "float64",
        backend: str | None = None) -> KernelDensity:
    """``KernelDensity`` (the task moves it to the run's device)."""
    return KernelDensity(bandwidth=bandwidth, kernel=kernel, algorithm=algorithm, rtol=rtol, grid_size=grid_size,
                         leaf_size=leaf_size, dtype=dtype, backend=backend)


def dp_kernel_sum(*, kernel: str = "gaussian", bandwidth: float = 1.0, epsilon: float = 1.0, n_features: int = 1024,
                  projection_dim: int | None = None, random_state: int | None = 0) -> PrivateKernelSum:
    """ε-DP kernel sums by random features (+ optional JL projection)."""
    return PrivateKernelSum(kernel=kernel, bandwidth=bandwidth, epsilon=epsilon, n_features=n_features,
                            projection_dim=projection_dim, random_state=random_state)


def dp_distance_sum(*, metric: str = "l1", bounds: list[float] | None = None, epsilon: float = 1.0, levels: int = 12,
                    projection_dim: int = 64, flat: bool = False, random_state: int | None = 0) -> PrivateDistanceSum:
    """ε-DP ℓ1/ℓ2 distance sums by dyadic trees over one-dimensional projections (bounds default [0, 1])."""
    return PrivateDistanceSum(metric=metric, bounds=tuple(bounds) if bounds is not None else (0.0, 1.0),
                              epsilon=epsilon, levels=levels, projection_dim=projection_dim, flat=flat,
                              random_state=random_state)


def dp_similarity_classifier(*, kernel: str = "gaussian", bandwidth: float = 1.0, epsilon: float = 1.0,
                             n_features: int = 1024, projection_dim: int | None = None,
                             random_state: int | None = 0) -> PrivateSimilarityClassifier:
    """ε-DP classification by average kernel similarity to each class."""
    return PrivateSimilarityClassifier(kernel=kernel, bandwidth=bandwidth, epsilon=epsilon, n_features=n_features,
                                       projection_dim=projection_dim, random_state=random_state)
