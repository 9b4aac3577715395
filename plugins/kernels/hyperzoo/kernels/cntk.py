"""Hierarchical local kernels: the NNGP/NTK of deep CNNs with non-overlapping patches (arXiv 2208.01003, Cagnetta,
Favero, Frossard, Wyart, "What can be learnt with wide convolutional neural networks?").

The network on a 1-D signal x ∈ R^d: ``depth`` = L convolutional layers of filter size = stride = s (patches do not
overlap), width C → ∞, NTK parameterisation, weights shared across positions, then a dense readout over the
P_L = d/s^L remaining positions:

    h¹_i  = σ_w/√s  Σ_a W¹_a x_{s i + a} + σ_b b¹                       (i = 0 .. d/s − 1)
    h^{l+1}_j = σ_w/√(sC) Σ_a W^{l+1}_a φ(h^l_{s j + a}) + σ_b b^{l+1}
    f     = σ_w/√(P_L C) Σ_j w_j·φ(h^L_j) + σ_b b

Its kernels only couple equal positions (distinct positions reach the output through independent weights, so
weight sharing does not change the limit) and follow a tree: with x_i the i-th patch,

    Σ¹_i = σ_w² x_i·x'_i / s + σ_b²,                  Θ¹_i = Σ¹_i
    Σ^{l+1}_j = σ_w² mean_a E[φφ](Σ^l_{sj+a}) + σ_b²
    Θ^{l+1}_j = mean_a σ_w² E[φ'φ'](Σ^l_{sj+a}) Θ^l_{sj+a} + Σ^{l+1}_j

and the readout is the same step with the mean over all P_L positions: NNGP = Σ^{out}, NTK = Θ^{out}. The dual
activations E[φφ], E[φ'φ'] are those of ``kernels.nngp_ntk`` (ReLU arc-cosine, erf arcsine). With s = d and L = 1
this is the one-hidden-layer fully connected kernel. Cost O(n₁ n₂ d) time and memory.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .estimators import NTKRegressor, _t
from .ops.nngp_ntk import dual, dual_diag


def _check(x1: torch.Tensor, x2: torch.Tensor | None, kernel_size: int, depth: int) -> torch.Tensor:
    from .ops.nngp_ntk import check_inputs

    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"kernel_size must be an int >= 1 (the patch size s); got {kernel_size!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an int >= 1 (convolutional layers); got {depth!r}")
    x2 = check_inputs(x1, x2, depth, "relu", 1.0, 0.0)
    d = x1.shape[1]
    if d % kernel_size ** depth:
        raise ValueError(f"the input size d = {d} must be divisible by kernel_size**depth = {kernel_size}**{depth} = "
                         f"{kernel_size ** depth} (non-overlapping patches at every layer); pad or crop the inputs")
    return x2


def local_nngp_ntk(x1: torch.Tensor, x2: torch.Tensor | None = None, *, kernel_size: int, depth: int = 1,
                   activation: str = "relu", weight_variance: float = 2.0,
                   bias_variance: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(NNGP, NTK), each (n1, n2), of the ``depth``-layer CNN with patches of ``kernel_size`` (module docstring)."""
    same = x2 is None
    x2 = _check(x1, x2, kernel_size, depth)
    if activation not in ("relu", "erf"):
        raise ValueError(f"activation must be one of ('relu', 'erf'); got {activation!r}")
    vw, vb, s = float(weight_variance), float(bias_variance), kernel_size
    p1, p2 = x1.reshape(x1.shape[0], -1, s), x2.reshape(x2.shape[0], -1, s)
    sig = vw * torch.einsum("ips,jps->ijp", p1, p2) / s + vb                   # (n1, n2, P)
    d1 = vw * p1.square().sum(-1) / s + vb                                      # (n1, P)
    d2 = d1 if same else vw * p2.square().sum(-1) / s + vb
    eye = torch.eye(x1.shape[0], dtype=torch.bool, device=x1.device)[:, :, None] if same else None
    if eye is not None:
        sig = torch.where(eye, d1[:, None, :].expand_as(sig), sig)
    theta = sig
    for layer in range(depth):
        off = sig if eye is None else torch.where(eye, torch.zeros_like(sig), sig)
        ulps = 4.0 + (s if layer == 0 and x1.dtype == torch.float64 else 0)   # as kernels.nngp_ntk
        k, kdot = dual(activation, d1[:, None, :], off, d2[None, :, :], ulps=ulps)
        kd1, kdotd = dual_diag(activation, d1)
        kd2 = kd1 if same else dual_diag(activation, d2)[0]
        if eye is not None:   # the self-Gram's diagonal: ρ = 1 closed forms, as in kernels.nngp_ntk
            k = torch.where(eye, kd1[:, None, :].expand_as(k), k)
            kdot = torch.where(eye, kdotd[:, None, :].expand_as(kdot), kdot)
        group = s if layer + 1 < depth else sig.shape[-1]        # the next layer's patch, or the whole readout
        pool = lambda t, g=group: t.reshape(*t.shape[:-1], -1, g).mean(-1)   # noqa: E731
        sig = vw * pool(k) + vb
        theta = pool(vw * kdot * theta) + sig
        d1 = vw * pool(kd1) + vb
        d2 = d1 if same else vw * pool(kd2) + vb
    return sig[..., 0], theta[..., 0]


class LocalCNN(nn.Module):
    """The finite network of :func:`local_nngp_ntk`: weight-shared convolutions with filter = stride =
    ``kernel_size``, ``width`` channels, NTK parameterisation (W, b ~ N(0, 1)), a dense readout."""

    def __init__(self, in_features: int, *, kernel_size: int, depth: int = 1, width: int = 256,
                 activation: str = "relu", weight_variance: float = 2.0, bias_variance: float = 0.0):
        super().__init__()
        if in_features % kernel_size ** depth:
            raise ValueError(f"in_features = {in_features} must be divisible by kernel_size**depth = "
                             f"{kernel_size ** depth}")
        if activation not in ("relu", "erf"):
            raise ValueError(f"activation must be 'relu' or 'erf'; got {activation!r}")
        self.s, self.depth, self.width = kernel_size, depth, width
        self.vw, self.vb = float(weight_variance), float(bias_variance)
        self.activation = torch.relu if activation == "relu" else torch.erf
        fan = [kernel_size] + [kernel_size * width] * (depth - 1)
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(width, f)) for f in fan)
        self.biases = nn.ParameterList(nn.Parameter(torch.randn(width)) for _ in fan)
        self.positions = in_features // kernel_size ** depth
        self.readout = nn.Parameter(torch.randn(self.positions * width))
        self.readout_bias = nn.Parameter(torch.randn(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.features(x)
        out = math.sqrt(self.vw / a.shape[1]) * a @ self.readout + math.sqrt(self.vb) * self.readout_bias
        return out[:, None]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """φ(h^L) flattened over (positions, channels): (n, P_L · width), the readout's input."""
        h = x.reshape(x.shape[0], -1, self.s)                                    # (n, P, s)
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            if layer:
                a = self.activation(h)
                h = a.reshape(a.shape[0], -1, self.s * self.width)                # s adjacent positions, all channels
            h = math.sqrt(self.vw / h.shape[-1]) * h @ w.T + math.sqrt(self.vb) * b
        return self.activation(h).reshape(x.shape[0], -1)


class LocalNTKRegressor(NTKRegressor):
    """Kernel regression with the hierarchical local NTK/NNGP (:func:`local_nngp_ntk`) of a ``depth``-layer CNN with
    patches of ``kernel_size``; otherwise as :class:`NTKRegressor` (``ridge``, gradient-flow ``time``)."""

    def __init__(self, *, kernel: str = "ntk", kernel_size: int = 2, activation: str = "relu", depth: int = 1,
                 weight_variance: float = 2.0, bias_variance: float = 0.1, ridge: float = 1e-6,
                 time: float | None = None, lr: float = 1.0, device: str = "cpu"):
        super().__init__(kernel=kernel, activation=activation, depth=depth, weight_variance=weight_variance,
                         bias_variance=bias_variance, ridge=ridge, time=time, lr=lr, device=device)
        self.kernel_size = kernel_size

    def _gram(self, a: np.ndarray, b: np.ndarray | None = None) -> torch.Tensor:
        if self.kernel not in ("ntk", "nngp"):
            raise ValueError(f"kernel must be one of ('ntk', 'nngp'); got {self.kernel!r}")
        nngp, ntk = local_nngp_ntk(_t(a, self.device), None if b is None else _t(b, self.device),
                                   kernel_size=self.kernel_size, depth=self.depth, activation=self.activation,
                                   weight_variance=self.weight_variance, bias_variance=self.bias_variance)
        return ntk if self.kernel == "ntk" else nngp


def local_ntk_regressor(*, kernel: str = "ntk", kernel_size: int = 2, activation: str = "relu", depth: int = 1,
                        weight_variance: float = 2.0, bias_variance: float = 0.1,
                        ridge: float = 1e-6) -> LocalNTKRegressor:
    """Registered model ``local-ntk-regressor``: kernel regression with the hierarchical local (CNN) NTK/NNGP.
    (σ_b² > 0 by default: without a bias the ReLU kernels on a sphere lack the odd harmonics of degree ≥ 3, and a
    student then plateaus on a generic teacher.)"""
    return LocalNTKRegressor(kernel=kernel, kernel_size=kernel_size, activation=activation, depth=depth,
                             weight_variance=weight_variance, bias_variance=bias_variance, ridge=ridge)


# ---- the teacher-student experiment -----------------------------------------------------------------------------
def local_laplace(x1: np.ndarray, x2: np.ndarray, kernel_size: int) -> np.ndarray:
    """The teacher's covariance: the mean over patches of the Laplace kernel, (1/P) Σ_i exp(−‖x_i − x'_i‖)."""
    p1 = x1.reshape(x1.shape[0], -1, kernel_size)
    p2 = x2.reshape(x2.shape[0], -1, kernel_size)
    dist = np.sqrt(np.maximum(((p1[:, None] - p2[None]) ** 2).sum(-1), 0.0))
    return np.exp(-dist).mean(-1)


def patch_sphere_data(n: int, in_features: int, kernel_size: int, rng: np.random.Generator) -> np.ndarray:
    """n points whose patches each lie on the unit sphere of R^kernel_size (uniformly), scaled by √kernel_size so
    that ‖x‖² = d (the fully connected kernels then see ‖x‖²/d = 1)."""
    x = rng.standard_normal((n, in_features // kernel_size, kernel_size))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return (x * math.sqrt(kernel_size)).reshape(n, in_features)


class TeacherStudentLocal:
    """Teacher–student regression (arXiv 2208.01003): a Gaussian-random-field teacher with the local Laplace
    covariance over patches of ``kernel_size``, on ``n_train`` + ``n_test`` points of the product of patch spheres in
    R^``in_features``; the student (an estimator) is fitted on the noiseless labels. Metric: test MSE. The learning
    curve (test MSE vs n_train, exponent β of MSE ∝ n^−β) is the benchmark's loop over n_train."""

    kind = "kernel-regression"
    trainer_keys = ()

    def __init__(self, *, n_train: int = 256, n_test: int = 1000, in_features: int = 8, kernel_size: int = 2,
                 split_seed: int = 0):
        if n_train < 2 or n_test < 1:
            raise ValueError(f"need n_train >= 2 and n_test >= 1; got {n_train}, {n_test}")
        if kernel_size < 1 or in_features % kernel_size:
            raise ValueError(f"in_features = {in_features} must be a multiple of kernel_size = {kernel_size}")
        if n_train + n_test > 8000:
            raise ValueError(f"n_train + n_test = {n_train + n_test} > 8000: the teacher is sampled jointly by a "
                             f"Cholesky factorisation of that size; lower n_test")
        self.n_train, self.n_test, self.in_features = n_train, n_test, in_features
        self.kernel_size, self.split_seed = kernel_size, split_seed

    def model_defaults(self) -> dict:
        return {}

    def trainer_defaults(self) -> dict:
        return {}

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.split_seed)
        n = self.n_train + self.n_test
        x = patch_sphere_data(n, self.in_features, self.kernel_size, rng)
        k = local_laplace(x, x, self.kernel_size)
        chol = np.linalg.cholesky(k + 1e-10 * np.eye(n))
        return x, chol @ rng.standard_normal(n)

    def run(self, model, trainer) -> dict[str, float]:
        x, y = self.data()
        tr, te = slice(0, self.n_train), slice(self.n_train, None)
        model.fit(x[tr], y[tr])
        mse = float(((model.predict(x[te]) - y[te]) ** 2).mean())
        return {"test_mse": mse, "test_mse_over_variance": mse / float(y[te].var())}
