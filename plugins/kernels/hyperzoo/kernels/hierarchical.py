"""Hierarchical polynomials (Nichani, Damian & Lee, "Learning Hierarchical Polynomials with Three-Layer Neural
Networks", 2023): the target f*(x) = g(p(x)), x ~ N(0, I_d), with p a degree-2 polynomial and g a cubic,

    p(x) = (xᵀAx − tr A) / √(2‖A‖_F²)   (E p = 0, E p² = 1; A a fixed random symmetric matrix),   g(z) = z³,

so f* has degree 6. Kernel methods (NTK/NNGP regression) need n ≳ d^6-ish samples to fit a generic degree-6
polynomial; a three-layer network trained layer-wise first learns the feature p (the degree-2 part of f*, since
E[g'(p)] = 3 ≠ 0), from n ≈ d² samples, then the 1-D link g on top of it.

:class:`LayerwiseThreeLayerNet` is that network, f(x) = Σ_j a_j relu(u_j h(x) + b_j), h(x) = vᵀ((Wx)² − μ):
the first layer W (``width`` units, W ~ N(0, I/d), quadratic activation, so its features span the quadratics once
width ≥ d(d+1)/2; with ReLU the second layer fits the low-degree part of f* itself, not p, at these small d)
and the third layer's input weights (u_j ~ N(0, 1), b_j ~ U(−3, 3), ``num_features`` units) stay at their random
initialisation; on the first half of the data the second-layer weights v are trained to convergence on the squared
loss with weight decay (a ridge regression of y
on (Wx)², ridge ``ridge``·n), h is standardised, and on the second half the output weights a are fitted by ridge
regression (the layer-wise, sample-split procedure of the paper, with its one gradient step on the second layer
replaced by training that layer to convergence).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

KNOT_RANGE = 3.0      # output units' biases b_j ~ U(−KNOT_RANGE, KNOT_RANGE) (kinks of the 1-D fit of g)
OUTPUT_RIDGE = 1e-3   # ridge of the output layer, times the sample count


def hierarchical_target(x: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p(x), f*(x) = p(x)³) for the symmetric matrix ``a`` (module docstring)."""
    if x.ndim != 2 or a.shape != (x.shape[1], x.shape[1]):
        raise ValueError(f"x must be (n, d) and a (d, d); got {x.shape} and {a.shape}")
    p = (np.einsum("ni,ij,nj->n", x, a, x) - np.trace(a)) / np.sqrt(2 * (a ** 2).sum())
    return p, p ** 3


class LayerwiseThreeLayerNet(RegressorMixin, BaseEstimator):
    """The layer-wise trained three-layer network of the hierarchical-polynomial experiment (module
    docstring): ``width`` first-layer units, a width-1 learned feature h, ``num_features`` output units."""

    def __init__(self, *, width: int = 300, num_features: int = 400, ridge: float = 1e-2, random_state: int = 0):
        self.width, self.num_features, self.ridge, self.random_state = width, num_features, ridge, random_state

    def _phi(self, x: np.ndarray) -> np.ndarray:
        return (x @ self.w1_.T) ** 2 - self.mu1_

    def feature(self, X) -> np.ndarray:
        """The learned (standardised) feature h(x), ≈ ±p(x) once enough data is seen."""
        check_is_fitted(self, "a_")
        x = validate_data(self, X, reset=False, dtype=np.float64)
        return self._h(x)

    def _h(self, x: np.ndarray) -> np.ndarray:
        return (self._phi(x) @ self.v_ - self.h_mean_) / self.h_std_

    def _psi(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(np.outer(self._h(x), self.u_) + self.b_, 0.0) - self.mu3_

    def fit(self, X, y):
        for name in ("width", "num_features"):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"{name} must be an integer >= 1; got {v!r}")
        if not self.ridge > 0:
            raise ValueError(f"ridge must be > 0; got {self.ridge!r}")
        x, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if len(x) < 4:
            raise ValueError(f"n_samples = {len(x)}: need at least 4 samples (two halves for the two stages)")
        rng = np.random.default_rng(self.random_state)
        d, n1 = x.shape[1], len(x) // 2
        self.w1_ = rng.standard_normal((self.width, d)) / np.sqrt(d)
        self.mu1_ = 0.0
        f1 = (x[:n1] @ self.w1_.T) ** 2
        self.mu1_ = f1.mean(0)
        f1 = f1 - self.mu1_
        y1 = y[:n1] - y[:n1].mean()
        self.v_ = np.linalg.solve(f1.T @ f1 + self.ridge * n1 * np.eye(self.width), f1.T @ y1)
        h1 = f1 @ self.v_
        self.h_mean_, self.h_std_ = float(h1.mean()), float(h1.std()) or 1.0
        self.u_ = rng.standard_normal(self.num_features)
        self.b_ = rng.uniform(-KNOT_RANGE, KNOT_RANGE, self.num_features)
        self.mu3_ = 0.0
        x2, y2 = x[n1:], y[n1:]
        f3 = np.maximum(np.outer(self._h(x2), self.u_) + self.b_, 0.0)
        self.mu3_ = f3.mean(0)
        f3 = f3 - self.mu3_
        self.y_mean_ = float(y2.mean())
        gram = f3.T @ f3 + OUTPUT_RIDGE * len(x2) * np.eye(self.num_features)
        self.a_ = np.linalg.solve(gram, f3.T @ (y2 - self.y_mean_))
        return self

    def predict(self, X):
        check_is_fitted(self, "a_")
        x = validate_data(self, X, reset=False, dtype=np.float64)
        return self._psi(x) @ self.a_ + self.y_mean_


def layerwise_three_layer(*, width: int = 300, num_features: int = 400, ridge: float = 1e-2,
                          random_state: int = 0) -> LayerwiseThreeLayerNet:
    """The registered ``layerwise-three-layer`` model."""
    return LayerwiseThreeLayerNet(width=width, num_features=num_features, ridge=ridge, random_state=random_state)


class HierarchicalPolynomial:
    """``hierarchical-polynomial``: n_train samples of f*(x) = p(x)³ in ``dim`` dimensions (no label noise), a
    fixed random A per ``split_seed``, 4000 test points; normalised test MSE E(f − f*)²/Var f* (1 = predicting the
    mean) and, for models with a learned feature, |corr(h, p)|."""

    kind = "kernel-regression"
    trainer_keys = ()

    def __init__(self, *, n_train: int = 1000, dim: int = 8, split_seed: int = 0):
        if n_train < 4 or dim < 2:
            raise ValueError(f"need n_train >= 4 and dim >= 2; got {n_train}, {dim}")
        self.n_train, self.dim, self.split_seed = n_train, dim, split_seed

    def model_defaults(self) -> dict[str, Any]:
        return {}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        rng = np.random.default_rng(self.split_seed)
        a = rng.standard_normal((self.dim, self.dim))
        a = (a + a.T) / 2
        x, xt = rng.standard_normal((self.n_train, self.dim)), rng.standard_normal((4000, self.dim))
        (_, y), (pt, yt) = hierarchical_target(x, a), hierarchical_target(xt, a)
        model.fit(x, y)
        var = float(yt.var())
        out = {"test_nmse": float(((model.predict(xt) - yt) ** 2).mean() / var),
               "train_nmse": float(((model.predict(x) - y) ** 2).mean() / float(y.var()))}
        if hasattr(model, "feature"):
            out["feature_correlation"] = float(abs(np.corrcoef(model.feature(xt), pt)[0, 1]))
        return out
