"""Kernel density estimators in large dimensions (Biroli & Mézard, arXiv 2408.05807): bandwidth regimes.

n points y_i ~ N(0, σ² I_d), n = e^{αd} with α = log(n)/d fixed as d → ∞, Gaussian kernel of bandwidth h,
query x ~ N(0, σ² I_d). The estimator is a random-energy-model partition function,

    Z = Σ_i exp(−‖x − y_i‖² / 2h²) = Σ_i exp(−d r_i / 2h²),   r_i = ‖x − y_i‖² / d.

The number of points at scaled squared distance r is e^{d(α − I(r))}, with I the large-deviation rate of r.
By Gärtner–Ellis with λ = −1/(2h²) and u = 1 − 2λσ² = 1 + σ²/h², the tilted rate at the saddle point is

    I(u) = ½ log u − (u − 1) / (2u²),

and the closest points sit at r_min where I = α. The regimes (derived here; the paper's text could not be read
from this workplace, so every threshold is validated by simulation and by a scipy non-central χ² computation
in the tests):

- h_G = σ / √(u_G − 1) with I(u_G) = α: below it the saddle point reaches r_min and Z *condenses* on a few
  points (extreme-value statistics). The participation ratio Y₂ = Σ K_i² / (Σ K_i)² is O(1) there, with
  E[Y₂] = 1 − (h/h_G)² (Poisson–Dirichlet with parameter m = h²/h_G²), and → 0 above h_G.
- h_CLT = √2 · h_G: Σ K_i² condenses at bandwidth h/√2, so below h_CLT the variance of Z is dominated by rare
  points and the CLT fails; between h_G and h_CLT, Z is α-stable with index μ = (h/h_G)² ∈ (1, 2).
- KL per dimension, KL(ρ‖ρ̂)/d:  above h_G  ½ log(1 + h²/σ²) − h² / (2(σ² + h²))  (KL to N(0, (σ² + h²) I));
  below h_G  ½ log(h²/σ²) − ½ + α + r_min / (2h²)  with r_min = σ² (u_G + 1) / u_G².
  It is minimised at h_KL = √r_min = σ √(u_G + 1) / u_G < h_G: the KL-optimal bandwidth lies in the
  condensed regime. Example α = 0.25, σ = 1: h_G = 0.947, h_CLT = 1.339, h_KL = 0.834.

At finite d the transition is smoothed and shifted: the minimum distance has O(log d / d) corrections (as
the REM ground state has), which pull the empirical KL minimum up towards and above h_G at d = 16–48.
"""

from __future__ import annotations

import math

import numpy as np


def _rate(u: float) -> float:
    return 0.5 * math.log(u) - (u - 1.0) / (2.0 * u * u)


def _u_g(alpha: float) -> float:
    if not (alpha > 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha = log(n)/d must be a finite number > 0, got {alpha}")
    from scipy.optimize import brentq

    hi = 2.0
    while _rate(hi) < alpha:
        hi *= 2.0
    return brentq(lambda u: _rate(u) - alpha, 1.0 + 1e-15, hi, xtol=1e-15, rtol=1e-15, maxiter=500)


def _sigma(sigma: float) -> float:
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma}")
    return float(sigma)


def h_gauss(alpha: float, sigma: float = 1.0) -> float:
    """h_G(α): below it the estimate is dominated by a few points (condensation), σ/√(u_G − 1)."""
    return _sigma(sigma) / math.sqrt(_u_g(alpha) - 1.0)


def h_clt(alpha: float, sigma: float = 1.0) -> float:
    """h_CLT(α) = √2 · h_G(α): below it the central limit theorem for the estimate breaks down."""
    return math.sqrt(2.0) * h_gauss(alpha, sigma)


def h_kl(alpha: float, sigma: float = 1.0) -> float:
    """The KL-optimal bandwidth for Gaussian data, σ √(u_G + 1) / u_G (< h_G)."""
    u = _u_g(alpha)
    return _sigma(sigma) * math.sqrt(u + 1.0) / u


def kl_per_dim(h: float | np.ndarray, alpha: float, sigma: float = 1.0) -> np.ndarray:
    """The d → ∞ limit of KL(ρ‖ρ̂)/d for Gaussian data at bandwidth h (see the module docstring)."""
    sigma = _sigma(sigma)
    h = np.asarray(h, dtype=float)
    u = _u_g(alpha)
    hg = sigma / math.sqrt(u - 1.0)
    r_min = sigma**2 * (u + 1.0) / u**2
    s2, h2 = sigma**2, h**2
    annealed = 0.5 * np.log1p(h2 / s2) - h2 / (2 * (s2 + h2))
    frozen = 0.5 * np.log(h2 / s2) - 0.5 + alpha + r_min / (2 * h2)
    return np.where(h >= hg, annealed, frozen)


def participation_theory(h: float | np.ndarray, alpha: float, sigma: float = 1.0) -> np.ndarray:
    """The d → ∞ limit of E[Y₂]: 1 − (h/h_G)² below h_G, 0 above."""
    ratio = np.asarray(h, dtype=float) / h_gauss(alpha, sigma)
    return np.clip(1.0 - ratio**2, 0.0, 1.0)


def simulate_regimes(alpha: float = 0.25, dims=(16, 32, 48), h_ratios=None, *, sigma: float = 1.0,
                     n_queries: int = 256, seed: int = 0, device: str = "cpu",
                     max_points: int = 2_000_000) -> list[dict[str, float]]:
    """Simulate the Gaussian KDE at n = round(e^{αd}) points for each d and bandwidths h = ratio·h_G.

    Per (d, h): the mean participation ratio Y₂ = exp(s(h/√2) − 2 s(h)) (Σ K² is the kernel sum at h/√2),
    its spread, and the Monte-Carlo KL per dimension (1/d)·mean_q[log ρ(x_q) − log ρ̂(x_q)] over fresh
    queries x_q ~ ρ. Returns one row per (d, h) with the theory beside it.
    """
    import torch

    from .functional import kernel_sum

    if h_ratios is None:
        h_ratios = np.round(np.geomspace(0.5, 2.5, 15), 4)
    hg = h_gauss(alpha, sigma)
    rng = torch.Generator().manual_seed(seed)
    rows = []
    for d in dims:
        n = int(round(math.exp(alpha * d)))
        if n > max_points:
            raise ValueError(f"d={d} at alpha={alpha} needs n={n:,} points (> max_points={max_points:,}); "
                             "lower d or alpha, or raise max_points")
        if n < 2:
            raise ValueError(f"d={d} at alpha={alpha} gives n={n} points; raise d or alpha")
        data = (torch.randn(n, d, generator=rng, dtype=torch.float64) * sigma).to(device)
        queries = (torch.randn(n_queries, d, generator=rng, dtype=torch.float64) * sigma).to(device)
        log_rho = (-0.5 * (queries**2).sum(1) / sigma**2 - 0.5 * d * math.log(2 * math.pi * sigma**2)).cpu()
        for ratio in h_ratios:
            h = float(ratio) * hg
            s = kernel_sum(queries, data, h).cpu()
            s_half = kernel_sum(queries, data, h / math.sqrt(2.0)).cpu()
            y2 = torch.exp(s_half - 2 * s)
            log_p = s - math.log(n) - 0.5 * d * math.log(2 * math.pi * h * h)
            kl = float((log_rho - log_p).mean()) / d
            rows.append({"d": d, "n": n, "h_ratio": float(ratio), "h": h, "participation": float(y2.mean()),
                         "participation_std": float(y2.std()), "kl_per_dim": kl,
                         "kl_per_dim_se": float((log_rho - log_p).std()) / d / math.sqrt(n_queries),
                         "participation_theory": float(participation_theory(h, alpha, sigma)),
                         "kl_per_dim_theory": float(kl_per_dim(h, alpha, sigma))})
    return rows
