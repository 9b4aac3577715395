"""Weighted least squares with determinantal point processes and volume sampling (Nouy & Michel, 2023).

Approximate f in V_m = span(φ_1..φ_m) from n evaluations. With φ orthonormal in L²(μ) (here μ is a discrete
measure with masses μ_x on N candidate points), the optimal sampling density and weight are

    ρ(x) = μ_x · Σ_j φ_j(x)² / m,     w(x) = μ_x / ρ(x) = m / Σ_j φ_j(x)²,

and the weighted least-squares estimate is f̂ = argmin_{v ∈ V_m} Σ_i w(x_i) (f(x_i) − v(x_i))².

- ``projection_dpp``: m points from the projection DPP with kernel K = BBᵀ, B = diag(√μ)Φ (orthonormal columns):
  P(S) = det(K_S). Sequential sampling: pick x with probability ‖B_x‖²/r, then restrict B to the orthogonal
  complement of its row B_x (r → r − 1). Marginals P(x ∈ S) = K_xx = m ρ(x); m points are a.s. unisolvent.
- ``volume_sampling``: n ≥ m points with density ∝ det(Σ_i w(x_i) φ(x_i)φ(x_i)ᵀ) Π ρ(x_i), drawn as a
  projection DPP of m points together with n − m i.i.d. draws from ρ (the volume-rescaled sampling identity of
  Dereziński, Warmuth & Hsu); its weighted least squares is quasi-optimal in expectation already at n = m.
- ``least_squares_experiment``: E‖f − f̂‖²_μ / ‖f − P_{V_m} f‖²_μ vs n for volume sampling and for i.i.d.
  optimal sampling (n i.i.d. draws from ρ), on Legendre polynomials over a fine grid of [−1, 1].
"""

from __future__ import annotations

import numpy as np


def orthonormal_basis(features: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
    """Φ (N × m) orthonormal in L²(μ): Σ_x μ_x Φ_xᵀΦ_x = I, spanning the same space as ``features``."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < features.shape[1]:
        raise ValueError(f"features must be N × m with N >= m, got shape {features.shape}")
    mu = _mu(mu, features.shape[0])
    q, r = np.linalg.qr(np.sqrt(mu)[:, None] * features)
    if np.min(np.abs(np.diag(r))) < 1e-12 * np.max(np.abs(np.diag(r))):
        raise ValueError("features are linearly dependent on the candidate points; drop redundant columns")
    return q / np.sqrt(mu)[:, None]


def _mu(mu, n: int) -> np.ndarray:
    if mu is None:
        return np.full(n, 1.0 / n)
    mu = np.asarray(mu, dtype=np.float64)
    if mu.shape != (n,) or (mu < 0).any() or not np.isclose(mu.sum(), 1.0):
        raise ValueError(f"mu must be a probability vector of length {n}")
    return mu


def optimal_density(phi: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
    """ρ_x = μ_x Σ_j φ_j(x)² / m (sums to 1 for an orthonormal Φ)."""
    mu = _mu(mu, phi.shape[0])
    return mu * (phi**2).sum(1) / phi.shape[1]


def projection_dpp(phi: np.ndarray, mu: np.ndarray | None = None, rng=None) -> np.ndarray:
    """Indices of m points drawn from the projection DPP with kernel K = diag(√μ)ΦΦᵀdiag(√μ)."""
    rng = np.random.default_rng(rng)
    mu = _mu(mu, phi.shape[0])
    b = np.sqrt(mu)[:, None] * phi
    chosen = []
    for _ in range(phi.shape[1]):
        p = (b**2).sum(1)
        p = np.clip(p, 0.0, None)
        p[chosen] = 0.0
        x = int(rng.choice(len(p), p=p / p.sum()))
        chosen.append(x)
        u = b[x] / np.linalg.norm(b[x])
        # orthonormal basis of u's complement in R^r: the last r − 1 columns of a Householder-completed basis
        q, _ = np.linalg.qr(np.column_stack([u, np.eye(len(u))]))
        b = b @ q[:, 1:len(u)]
    return np.array(chosen)


def volume_sampling(phi: np.ndarray, n: int, mu: np.ndarray | None = None, rng=None) -> np.ndarray:
    """Indices of n ≥ m points from volume-rescaled sampling: a projection DPP ∪ (n − m) i.i.d. draws from ρ."""
    m = phi.shape[1]
    if n < m:
        raise ValueError(f"volume sampling needs n >= m = {m} points, got n = {n}")
    rng = np.random.default_rng(rng)
    rho = optimal_density(phi, mu)
    extra = rng.choice(phi.shape[0], size=n - m, p=rho / rho.sum())
    return np.concatenate([projection_dpp(phi, mu, rng), extra])


def weighted_least_squares(phi_samples: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Coefficients c minimising Σ_i w_i (f_i − Φ_i c)²."""
    sw = np.sqrt(np.asarray(weights, dtype=np.float64))
    coef, *_ = np.linalg.lstsq(sw[:, None] * phi_samples, sw * values, rcond=None)
    return coef


def least_squares_experiment(m: int = 10, ns=None, *, repeats: int = 200, grid: int = 2000, seed: int = 0,
                             target=None) -> list[dict[str, float]]:
    """Mean and median of ‖f − f̂‖²_μ / ‖f − P f‖²_μ over ``repeats`` draws, for each n and sampler."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-1.0, 1.0, grid)
    f = (1.0 / (1.0 + 25.0 * x**2)) if target is None else target(x)
    phi = orthonormal_basis(np.polynomial.legendre.legvander(x, m - 1))
    mu = np.full(grid, 1.0 / grid)
    best_coef = phi.T @ (mu * f)
    best = float(np.sum(mu * (f - phi @ best_coef) ** 2))
    w = 1.0 / (phi**2).sum(1) * m
    rho = optimal_density(phi, mu)
    rows = []
    for n in ns if ns is not None else (m, m + 2, int(1.5 * m), 2 * m, 4 * m):
        for name in ("volume", "iid-optimal"):
            ratios = []
            for _ in range(repeats):
                idx = volume_sampling(phi, n, mu, rng) if name == "volume" else rng.choice(grid, size=n, p=rho)
                coef = weighted_least_squares(phi[idx], f[idx], w[idx])
                ratios.append(float(np.sum(mu * (f - phi @ coef) ** 2)) / best)
            rows.append({"m": m, "n": n, "sampler": name, "mean_ratio": float(np.mean(ratios)),
                         "median_ratio": float(np.median(ratios)), "p90_ratio": float(np.quantile(ratios, 0.9))})
    return rows
