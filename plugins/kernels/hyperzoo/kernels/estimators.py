"""scikit-learn estimators on the kernels: NTK/NNGP regression and classification, the quantum-kernel SVC, GSMP GP
regression. Each passes ``sklearn.utils.estimator_checks.check_estimator`` (tests/test_estimators.py).

Computation is in float64 torch on ``device`` (``"cpu"`` default); fitted state is plain NumPy arrays.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

KERNELS = ("ntk", "nngp")


def _t(a: np.ndarray, device: str) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=device)


class _NTKBase(BaseEstimator):
    def __init__(self, *, kernel: str = "ntk", activation: str = "relu", depth: int = 2,
                 weight_variance: float = 2.0, bias_variance: float = 0.1, ridge: float = 1e-6,
                 time: float | None = None, lr: float = 1.0, device: str = "cpu"):
        self.kernel, self.activation, self.depth = kernel, activation, depth
        self.weight_variance, self.bias_variance, self.ridge = weight_variance, bias_variance, ridge
        self.time, self.lr, self.device = time, lr, device

    def _gram(self, a: np.ndarray, b: np.ndarray | None = None) -> torch.Tensor:
        from .functional import nngp_ntk

        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}; got {self.kernel!r}")
        nngp, ntk = nngp_ntk(_t(a, self.device), None if b is None else _t(b, self.device), depth=self.depth,
                             activation=self.activation, weight_variance=self.weight_variance,
                             bias_variance=self.bias_variance)
        return ntk if self.kernel == "ntk" else nngp

    def _fit_targets(self, x: np.ndarray, targets: np.ndarray) -> None:
        from .functional import dual_coefficients

        self.X_fit_ = x
        k = self._gram(x)
        alpha = dual_coefficients(k, _t(targets, self.device), ridge=float(self.ridge), time=self.time,
                                  lr=float(self.lr))
        self.dual_coef_ = alpha.cpu().numpy()

    def _decision(self, x: np.ndarray) -> np.ndarray:
        return (self._gram(x, self.X_fit_) @ _t(self.dual_coef_, self.device)).cpu().numpy()


class NTKRegressor(RegressorMixin, _NTKBase):
    """Kernel regression with the analytic NTK (``kernel="ntk"``) or NNGP (``"nngp"``) of a ``depth``-hidden-layer
    ReLU/erf network: the infinitely wide network trained to convergence (``time=None``, + ``ridge``), or the mean
    prediction after gradient-flow time ``time`` at learning rate ``lr`` (docs/plugins/kernels.md)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True   # y of shape (n, k): k regressions on one Gram matrix
        return tags

    def fit(self, X, y):
        x, y = validate_data(self, X, y, y_numeric=True, multi_output=True, dtype=np.float64)
        self._fit_targets(x, y)
        return self

    def predict(self, X):
        check_is_fitted(self, "dual_coef_")
        return self._decision(validate_data(self, X, reset=False, dtype=np.float64))


class NTKClassifier(ClassifierMixin, _NTKBase):
    """NTK/NNGP kernel regression on one-hot targets (the wide network trained on MSE), prediction by argmax."""

    def fit(self, X, y):
        x, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, idx = np.unique(y, return_inverse=True)
        onehot = np.eye(len(self.classes_))[idx]
        self._fit_targets(x, onehot)
        return self

    def decision_function(self, X):
        check_is_fitted(self, "dual_coef_")
        out = self._decision(validate_data(self, X, reset=False, dtype=np.float64))
        return out[:, 1] - out[:, 0] if len(self.classes_) == 2 else out

    def predict(self, X):
        check_is_fitted(self, "dual_coef_")
        out = self._decision(validate_data(self, X, reset=False, dtype=np.float64))
        return self.classes_[out.argmax(1)]


class QuantumKernelSVC(ClassifierMixin, BaseEstimator):
    """scikit-learn's SVC on the precomputed ZZ-feature-map quantum kernel (arXiv 1804.11326), simulated exactly
    (``shots=None``) or with shot noise (the Gram matrices are then estimated, seeded by ``random_state``)."""

    def __init__(self, *, reps: int = 2, entanglement: str = "full", shots: int | None = None, C: float = 1.0,
                 random_state: int = 0, device: str = "cpu"):
        self.reps, self.entanglement, self.shots, self.C = reps, entanglement, shots, C
        self.random_state, self.device = random_state, device

    def _gram(self, a: np.ndarray, b: np.ndarray | None, generator: torch.Generator | None) -> np.ndarray:
        from .functional import quantum_zz_kernel

        k = quantum_zz_kernel(_t(a, self.device), None if b is None else _t(b, self.device), reps=self.reps,
                              entanglement=self.entanglement, shots=self.shots, generator=generator)
        return k.cpu().numpy()

    def fit(self, X, y):
        from sklearn.svm import SVC

        x, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        self._generator = torch.Generator().manual_seed(int(self.random_state))
        k = self._gram(x, None, self._generator)
        if self.shots is not None:
            k = (k + k.T) / 2
            np.fill_diagonal(k, 1.0)
        self.svc_ = SVC(kernel="precomputed", C=self.C).fit(k, y)
        self.X_fit_ = x
        return self

    def decision_function(self, X):
        check_is_fitted(self, "svc_")
        x = validate_data(self, X, reset=False, dtype=np.float64)
        return self.svc_.decision_function(self._gram(x, self.X_fit_, self._generator))

    def predict(self, X):
        check_is_fitted(self, "svc_")
        x = validate_data(self, X, reset=False, dtype=np.float64)
        return self.svc_.predict(self._gram(x, self.X_fit_, self._generator))


class GSMPRegressor(RegressorMixin, BaseEstimator):
    """Gaussian-process regression with the GSMP kernel: ``num_components`` components on a fixed frequency grid
    (μ_q evenly spaced in [0, max_frequency] in 1-D, a scrambled Sobol grid in P-D; σ_q = max_frequency /
    num_components), and sparse weights θ ≥ 0 (plus the noise variance) learned by successive convex
    approximation (see :func:`sca_weights`). Targets are standardised."""

    def __init__(self, *, num_components: int = 50, max_frequency: float | None = None, sparsity: float = 0.0,
                 max_iter: int = 200, tol: float = 1e-7, random_state: int = 0, device: str = "cpu"):
        self.num_components, self.max_frequency, self.sparsity = num_components, max_frequency, sparsity
        self.max_iter, self.tol, self.random_state, self.device = max_iter, tol, random_state, device

    def _grid(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q, p = int(self.num_components), x.shape[1]
        if q < 1:
            raise ValueError(f"num_components must be >= 1; got {self.num_components!r}")
        fmax = self.max_frequency
        if fmax is None:   # half the inverse median spacing per dimension (a Nyquist-like bound)
            spans = []
            for col in x.T:
                u = np.unique(col)
                spans.append(0.5 / np.median(np.diff(u)) if len(u) > 1 else 1.0)
            fmax = float(np.min(spans))
        if not fmax > 0:
            raise ValueError(f"max_frequency must be > 0; got {fmax!r}")
        if p == 1:
            means = np.linspace(0.0, fmax, q)[:, None]
        else:
            engine = torch.quasirandom.SobolEngine(p, scramble=True, seed=int(self.random_state))
            means = engine.draw(q, dtype=torch.float64).numpy() * fmax
        return means, np.full((q, p), fmax / q)

    def fit(self, X, y):
        from .functional import gsmp

        x, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std()) or 1.0
        self.means_, self.scales_ = self._grid(x)
        xt = _t(x, self.device)
        comps = gsmp(xt, None, torch.ones(len(self.means_), dtype=torch.float64, device=self.device),
                     _t(self.means_, self.device), _t(self.scales_, self.device), components=True)
        yt = _t((y - self.y_mean_) / self.y_std_, self.device)
        theta, noise, history = sca_weights(comps, yt, sparsity=float(self.sparsity), max_iter=int(self.max_iter),
                                            tol=float(self.tol))
        self.weights_, self.noise_, self.objective_history_ = theta.cpu().numpy(), float(noise), history
        self.n_iter_ = len(history) - 1
        k = torch.einsum("q,qij->ij", theta, comps) + noise * torch.eye(len(x), dtype=torch.float64,
                                                                        device=self.device)
        self.alpha_ = torch.linalg.solve(k, yt).cpu().numpy()
        self.X_fit_ = x
        return self

    def predict(self, X):
        from .functional import gsmp

        check_is_fitted(self, "alpha_")
        x = validate_data(self, X, reset=False, dtype=np.float64)
        k = gsmp(_t(x, self.device), _t(self.X_fit_, self.device), _t(self.weights_, self.device),
                 _t(self.means_, self.device), _t(self.scales_, self.device))
        return (k @ _t(self.alpha_, self.device)).cpu().numpy() * self.y_std_ + self.y_mean_


def negative_log_likelihood(comps: torch.Tensor, y: torch.Tensor, theta: torch.Tensor, noise: float) -> float:
    """½ yᵀK⁻¹y + ½ log det K + n/2 log 2π with K = Σ_q θ_q K_q + noise I."""
    n = y.shape[0]
    k = torch.einsum("q,qij->ij", theta, comps) + noise * torch.eye(n, dtype=y.dtype, device=y.device)
    chol = torch.linalg.cholesky(k)
    a = torch.cholesky_solve(y[:, None], chol)[:, 0]
    return float(0.5 * y @ a + torch.log(torch.diagonal(chol)).sum() + 0.5 * n * math.log(2 * math.pi))


def sca_weights(comps: torch.Tensor, y: torch.Tensor, *, sparsity: float = 0.0, max_iter: int = 200,
                tol: float = 1e-7, noise_floor: float = 1e-6) -> tuple[torch.Tensor, float, list[float]]:
    """Sparse θ ≥ 0 and noise variance s of K(θ) = Σ_q θ_q K_q + s I by successive convex approximation of

        F(θ, s) = ½ yᵀK⁻¹y + ½ log det K + λ Σ_q θ_q      (λ = ``sparsity``).

    log det K is concave in (θ, s): it is replaced by its tangent at the current point, giving the convex
    surrogate ½ yᵀK⁻¹y + ½ Σ_q c_q θ_q + ½ c_s s with c_q = tr(K_t⁻¹K_q) + 2λ, c_s = tr(K_t⁻¹). The surrogate is
    minimised over a variational bound of yᵀK⁻¹y = min_{Σu_q = y} Σ_q u_qᵀ(θ_q K_q)⁻¹u_q, tight at
    u_q = θ_q K_q α (α = K_t⁻¹ y), in closed form: θ_q ← θ_q √(αᵀK_qα / c_q), s ← s √(αᵀα / c_s). Both steps are
    majorisations, so F decreases monotonically, θ stays ≥ 0, and a component whose data fit αᵀK_qα is below its
    cost c_q shrinks towards 0 (sparsity). Stops when F changes by less than ``tol`` (relative).
    """
    q, n = comps.shape[0], y.shape[0]
    theta = torch.full((q,), 1.0 / q, dtype=y.dtype, device=y.device)
    noise = 0.1
    eye = torch.eye(n, dtype=y.dtype, device=y.device)
    history = [negative_log_likelihood(comps, y, theta, noise) + sparsity * float(theta.sum())]
    for _ in range(max_iter):
        k = torch.einsum("q,qij->ij", theta, comps) + noise * eye
        chol = torch.linalg.cholesky(k)
        kinv = torch.cholesky_inverse(chol)
        alpha = kinv @ y
        fit = torch.einsum("i,qij,j->q", alpha, comps, alpha)
        cost = torch.einsum("ij,qij->q", kinv, comps) + 2 * sparsity
        theta = theta * torch.sqrt(fit.clamp_min(0.0) / cost)
        noise = max(noise * math.sqrt(float(alpha @ alpha) / float(torch.diagonal(kinv).sum())), noise_floor)
        history.append(negative_log_likelihood(comps, y, theta, noise) + sparsity * float(theta.sum()))
        if abs(history[-2] - history[-1]) <= tol * max(1.0, abs(history[-1])):
            break
    return theta, noise, history
