"""Functional entry points: the dispatched operators (``backend=`` names one; the reference otherwise)."""

from __future__ import annotations

import torch


def _op(name: str):
    from hyperzoo import core

    return core.get_operator(name)


def nngp_ntk(x1: torch.Tensor, x2: torch.Tensor | None = None, *, depth: int = 1, activation: str = "relu",
             weight_variance: float = 2.0, bias_variance: float = 0.0,
             backend: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(NNGP, NTK) Gram blocks of an infinitely wide ``depth``-hidden-layer network (see ops/nngp_ntk.py)."""
    return _op("kernels.nngp_ntk")(x1, x2, depth=depth, activation=activation, weight_variance=weight_variance,
                                   bias_variance=bias_variance, backend=backend)


def empirical_ntk(model: torch.nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                  implementation: str = "jacobian", backend: str | None = None) -> torch.Tensor:
    """Θ̂(x1, x2) = J(x1) J(x2)ᵀ of ``model``, (n1, n2, O, O); ``implementation`` "jacobian", "implicit" or
    "structured" (see ops/empirical_ntk.py)."""
    return _op("kernels.empirical_ntk")(model, x1, x2, implementation=implementation, backend=backend)


def quantum_zz_kernel(x1: torch.Tensor, x2: torch.Tensor | None = None, *, reps: int = 2,
                      entanglement: str = "full", shots: int | None = None,
                      generator: torch.Generator | None = None, backend: str | None = None) -> torch.Tensor:
    """|⟨Φ(x)|Φ(x')⟩|² of the ZZ feature map, simulated on statevectors (see ops/quantum_zz_kernel.py)."""
    return _op("kernels.quantum_zz_kernel")(x1, x2, reps=reps, entanglement=entanglement, shots=shots,
                                            generator=generator, backend=backend)


def gsmp(x1: torch.Tensor, x2: torch.Tensor | None, weights: torch.Tensor, means: torch.Tensor,
         scales: torch.Tensor, *, components: bool = False, backend: str | None = None) -> torch.Tensor:
    """The GSMP kernel Σ_q θ_q Π_p exp(−2π²τ_p²σ_qp²) cos(2πτ_pμ_qp) (see ops/gsmp.py)."""
    return _op("kernels.gsmp")(x1, x2, weights, means, scales, components=components, backend=backend)


def kernel_regression(k_train: torch.Tensor, y: torch.Tensor, k_test: torch.Tensor, *,
                      ridge: float = 0.0) -> torch.Tensor:
    """Kernel ridge regression mean: k_test (K + ridge I)⁻¹ y (the NNGP posterior mean; t → ∞ of the NTK flow)."""
    return k_test @ dual_coefficients(k_train, y, ridge=ridge)


def dual_coefficients(k_train: torch.Tensor, y: torch.Tensor, *, ridge: float = 0.0,
                      time: float | None = None, lr: float = 1.0) -> torch.Tensor:
    """α with prediction f(x) = k(x, X) α.

    ``time=None``: α = (K + ridge I)⁻¹ y. Otherwise the mean prediction of a wide network trained by gradient flow
    for time t with learning rate η on L = 1/(2n) Σ‖f(x_i) − y_i‖² (Lee et al. 2019, eq. 10; f₀ has mean 0):

        f_t(x) = Θ(x, X) Θ⁻¹ (I − exp(−η t Θ / n)) y,   so α_t = V diag((1 − e^{−η t λ / n}) / λ) Vᵀ y

    with Θ = V diag(λ) Vᵀ (a zero eigenvalue contributes its limit η t / n). t → ∞ recovers (Θ + ridge I)⁻¹ y.
    """
    n = k_train.shape[0]
    if k_train.shape != (n, n):
        raise ValueError(f"k_train must be square (n, n); got {tuple(k_train.shape)}")
    if y.shape[0] != n:
        raise ValueError(f"y must have n = {n} rows to match k_train; got {tuple(y.shape)}")
    if not ridge >= 0:
        raise ValueError(f"ridge must be >= 0; got {ridge!r}")
    k = k_train + ridge * torch.eye(n, dtype=k_train.dtype, device=k_train.device)
    if time is None:
        return torch.linalg.lstsq(k, y).solution if ridge == 0 else torch.linalg.solve(k, y)
    if not (time >= 0 and lr > 0):
        raise ValueError(f"time must be >= 0 and lr > 0; got time={time!r}, lr={lr!r}")
    lam, v = torch.linalg.eigh(k)
    lam = lam.clamp_min(0.0)
    rate = lr * time / n
    small = lam * rate < 1e-12
    g = torch.where(small, torch.full_like(lam, rate), -torch.expm1(-rate * lam) / torch.where(small, 1.0, lam))
    return v @ (g[:, None] * (v.T @ y)) if y.dim() == 2 else v @ (g * (v.T @ y))
