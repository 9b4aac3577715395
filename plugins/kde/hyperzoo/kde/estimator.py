"""``KernelDensity``: a scikit-learn compatible kernel density estimator on PyTorch.

    p̂(y) = 1 / (W h^d c_d) · Σ_i w_i K(‖y − x_i‖ / h)          (kernels and c_d: hyperzoo.kde.kernels)

Algorithms: ``"exact"`` (blocked sums through the ``kde.kernel_sum`` operator, log-space stable, float64 by
default), ``"grid"`` (binned FFT for d ≤ 3, O((Δ/h)²) error, like KDEpy's FFTKDE) and ``"tree"`` (leaf bounds
prune far data with a guaranteed relative error ``rtol`` on the density).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .kernels import KERNELS, check_kernel, log_norm, sample_radii

ALGORITHMS = ("exact", "grid", "tree")
RULES = ("scott", "silverman", "kl-optimal")
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def bandwidth_rule(rule: str, n: float, d: int, x: np.ndarray | None = None) -> float:
    """The bandwidth a rule gives for n points in d dimensions (data assumed standardised, as scikit-learn does).

    scott: n^(−1/(d+4));  silverman: (n (d+2) / 4)^(−1/(d+4))  (scikit-learn's ``bandwidth_``, scipy's factor);
    kl-optimal: σ √(u_G + 1)/u_G with α = log(n)/d and σ² the data's mean per-coordinate variance
    (Biroli & Mézard's Gaussian-data theory; see :mod:`hyperzoo.kde.regimes`).
    """
    if rule == "scott":
        return float(n ** (-1.0 / (d + 4)))
    if rule == "silverman":
        return float((n * (d + 2) / 4.0) ** (-1.0 / (d + 4)))
    if rule == "kl-optimal":
        from .regimes import h_kl

        if x is None or n < 2:
            raise ValueError("bandwidth='kl-optimal' needs at least 2 data points")
        sigma = float(np.sqrt(np.mean(np.var(x, axis=0))))
        if sigma <= 0:
            raise ValueError("bandwidth='kl-optimal': the data have zero variance")
        return h_kl(math.log(n) / d, sigma)
    raise ValueError(f"bandwidth must be a number > 0 or one of {', '.join(RULES)}; got {rule!r}")


class KernelDensity(BaseEstimator):
    """Kernel density estimation (scikit-learn API: ``fit``, ``score_samples``, ``score``, ``sample``).

    Args:
        bandwidth: h > 0, or ``"scott"``, ``"silverman"`` (scikit-learn's rules) or ``"kl-optimal"``.
        kernel: gaussian, tophat, epanechnikov, exponential, linear or cosine.
        algorithm: ``"exact"``, ``"grid"`` (d ≤ 3) or ``"tree"`` (relative error ≤ ``rtol``).
        rtol: relative error bound of ``algorithm="tree"`` (0 = exact).
        grid_size: grid points per dimension for ``"grid"`` (default 4096 / 512 / 96 for d = 1 / 2 / 3).
        leaf_size: points per leaf for ``"tree"``.
        device: ``"cpu"``, ``"cuda"``, ...; dtype: the arithmetic, ``"float64"`` (default) or ``"float32"`` (the
            points stay in float64: each block is centred in float64 before the cast, so float32 stays accurate on
            data far from the origin or spanning thousands of bandwidths).
        backend: force a ``kde.kernel_sum`` backend (``"reference"``, ``"blocked"``, ``"triton"``).
    """

    fits = ("density", "density-regimes")

    def __init__(self, *, bandwidth: float | str = 1.0, kernel: str = "gaussian", algorithm: str = "exact",
                 rtol: float = 1e-6, grid_size: int | None = None, leaf_size: int = 256, device: str = "cpu",
                 dtype: str = "float64", backend: str | None = None):
        self.bandwidth = bandwidth
        self.kernel = kernel
        self.algorithm = algorithm
        self.rtol = rtol
        self.grid_size = grid_size
        self.leaf_size = leaf_size
        self.device = device
        self.dtype = dtype
        self.backend = backend

    # -- fitting ---------------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        check_kernel(self.kernel)
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}; got {self.algorithm!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be 'float64' or 'float32'; got {self.dtype!r}")
        if isinstance(self.bandwidth, str):
            if self.bandwidth not in RULES:
                raise ValueError(f"bandwidth must be a number > 0 or one of {', '.join(RULES)}; "
                                 f"got {self.bandwidth!r}")
        elif not (isinstance(self.bandwidth, Real) and self.bandwidth > 0 and math.isfinite(self.bandwidth)):
            raise ValueError(f"bandwidth must be a finite number > 0 or a rule name; got {self.bandwidth!r}")
        if not (isinstance(self.rtol, Real) and 0 <= self.rtol < 1):
            raise ValueError(f"rtol must be in [0, 1); got {self.rtol!r}")

    def fit(self, X, y=None, sample_weight=None) -> KernelDensity:
        """Store the data (and normalised weights) and fix ``bandwidth_``; builds the grid or tree if asked."""
        self._check_params()
        X = validate_data(self, X, dtype=np.float64, order="C")
        n, d = X.shape
        weights = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
            if sw.sum() <= 0:
                raise ValueError("sample_weight sums to zero; give at least one point a positive weight")
            weights = sw
        n_eff = n if weights is None else float(weights.sum() ** 2 / (weights**2).sum())
        self.bandwidth_ = (bandwidth_rule(self.bandwidth, n_eff, d, X) if isinstance(self.bandwidth, str)
                           else float(self.bandwidth))
        self._set_data(X, weights)
        return self

    def _set_data(self, X: np.ndarray, weights: np.ndarray | None) -> None:
        dtype, device = DTYPES[self.dtype], torch.device(self.device)
        # the points are kept in float64 whatever ``dtype`` (float32 is the arithmetic: each block is centred in
        # float64 first, see functional.kernel_sum_centred); like scikit-learn's KernelDensity, keep a reference
        # to X where no conversion is needed (no copy)
        self.data_ = torch.as_tensor(X if X.flags.writeable else X.copy(), dtype=torch.float64, device=device)
        self.weights_ = None if weights is None else torch.tensor(weights, dtype=torch.float64, device=device)
        w_total = X.shape[0] if weights is None else float(weights.sum())
        self.log_norm_ = math.log(w_total) + X.shape[1] * math.log(self.bandwidth_) + log_norm(self.kernel, X.shape[1])
        self.grid_ = self.tree_ = None
        if self.algorithm == "grid":
            from .grid import Grid

            self.grid_ = Grid(self.data_.to(dtype), None if self.weights_ is None else self.weights_.to(dtype),
                              self.bandwidth_, self.kernel, self.grid_size)
        elif self.algorithm == "tree":
            from .tree import Tree

            self.tree_ = Tree(self.data_, self.weights_, self.leaf_size)

    # -- evaluation ------------------------------------------------------------------------------------------
    def _kernel_sum(self, queries: torch.Tensor, data: torch.Tensor, h: float, *, kernel: str, weights=None):
        """The kernel sum of float64 queries and data, computed in ``dtype`` (returned as float64)."""
        from .functional import kernel_sum, kernel_sum_centred

        if self.dtype == "float64":
            return kernel_sum(queries, data, h, kernel=kernel, weights=weights, backend=self.backend)
        return kernel_sum_centred(queries, data, h, dtype=DTYPES[self.dtype], kernel=kernel, weights=weights,
                                  backend=self.backend).to(queries.dtype)

    @torch.no_grad()
    def log_density(self, queries: torch.Tensor) -> torch.Tensor:
        """log p̂ at a tensor of queries on the estimator's device, in its ``dtype``."""
        queries = queries.to(torch.float64)
        if self.algorithm == "grid":
            out, inside = self.grid_.log_density_at(queries.to(DTYPES[self.dtype]))
            if not bool(inside.all()):
                outside = ~inside
                out[outside] = self._kernel_sum(queries[outside], self.data_, self.bandwidth_, kernel=self.kernel,
                                                weights=self.weights_) - self.log_norm_
            return out
        if self.algorithm == "tree":
            s = self.tree_.log_kernel_sum(queries, self.bandwidth_, self.kernel, float(self.rtol), self._kernel_sum)
        else:
            s = self._kernel_sum(queries, self.data_, self.bandwidth_, kernel=self.kernel, weights=self.weights_)
        return s.to(DTYPES[self.dtype]) - self.log_norm_

    def score_samples(self, X) -> np.ndarray:
        """Log density at each row of X (normalised: densities integrate to 1)."""
        check_is_fitted(self, "data_")
        X = validate_data(self, X, dtype=np.float64, order="C", reset=False)
        queries = torch.as_tensor(X, dtype=torch.float64).to(self.data_.device)
        return self.log_density(queries).double().cpu().numpy()

    def score(self, X, y=None) -> float:
        """Total log-likelihood of X."""
        return float(np.sum(self.score_samples(X)))

    def sample(self, n_samples: int = 1, random_state=None) -> np.ndarray:
        """Draws from p̂: a data point (chosen ∝ w_i) plus h·u with u from the normalised kernel."""
        check_is_fitted(self, "data_")
        if not (isinstance(n_samples, (int, np.integer)) and n_samples >= 1):
            raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}")
        rng = np.random.default_rng(check_random_state(random_state).randint(2**31))
        data = self.data_.double().cpu().numpy()
        n, d = data.shape
        p = None if self.weights_ is None else (w := self.weights_.double().cpu().numpy()) / w.sum()
        idx = rng.choice(n, size=n_samples, p=p)
        direction = rng.standard_normal((n_samples, d))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        radius = sample_radii(self.kernel, d, n_samples, rng)
        return data[idx] + self.bandwidth_ * radius[:, None] * direction

    # -- saving without pickle -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Parameters and fitted data as tensors, numbers and strings (torch.save / weights_only=True safe)."""
        state: dict[str, Any] = {"params": {k: v for k, v in self.get_params().items()}}
        if hasattr(self, "data_"):
            state.update(data=self.data_.cpu(), weights=self.weights_.cpu() if self.weights_ is not None else None,
                         bandwidth_=float(self.bandwidth_), n_features_in_=int(self.n_features_in_))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> KernelDensity:
        unknown = set(state.get("params", {})) - set(self.get_params())
        if unknown:
            raise ValueError(f"state holds unknown KernelDensity parameters {sorted(unknown)}")
        self.set_params(**state.get("params", {}))
        self._check_params()
        if "data" in state:
            self.bandwidth_ = float(state["bandwidth_"])
            self.n_features_in_ = int(state["n_features_in_"])
            w = state.get("weights")
            self._set_data(state["data"].double().numpy(), None if w is None else w.double().numpy())
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


__all__ = ["KernelDensity", "bandwidth_rule", "KERNELS", "ALGORITHMS"]
