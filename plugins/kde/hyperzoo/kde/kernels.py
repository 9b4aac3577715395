"""Radial kernel profiles K(r) with K(0) = 1, their normalisation in d dimensions, and radius sampling.

A kernel density estimate with bandwidth h and weights w_i (W = Σ w_i) is

    p̂(y) = 1 / (W · h^d · c_d) · Σ_i w_i K(‖y − x_i‖ / h),     c_d = ∫_{R^d} K(‖u‖) du = S_{d−1} ∫_0^∞ K(r) r^{d−1} dr,

with S_{d−1} = 2 π^{d/2} / Γ(d/2) the area of the unit sphere. Profiles (scikit-learn's names):

    gaussian      K = exp(−r²/2)              c_d = (2π)^{d/2}
    tophat        K = 1[r < 1]                c_d = V_d = π^{d/2} / Γ(d/2 + 1)
    epanechnikov  K = (1 − r²)·1[r < 1]       c_d = V_d · 2 / (d + 2)
    exponential   K = exp(−r)                 c_d = S_{d−1} · Γ(d)
    linear        K = (1 − r)·1[r < 1]        c_d = V_d / (d + 1)
    cosine        K = cos(πr/2)·1[r < 1]      c_d = S_{d−1} ∫_0^1 cos(πr/2) r^{d−1} dr  (Gauss–Legendre quadrature)
"""

from __future__ import annotations

import math

import numpy as np

KERNELS = ("gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine")
COMPACT = frozenset({"tophat", "epanechnikov", "linear", "cosine"})


def check_kernel(kernel: str) -> str:
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    return kernel


def log_profile(r2, kernel: str):
    """log K(r) from the squared scaled distance r² (a torch tensor; −inf outside a compact support)."""
    import torch

    if kernel == "gaussian":
        return r2 * -0.5
    if kernel == "exponential":
        return -r2.clamp_min(0).sqrt()
    inside = r2 < 1
    neg_inf = torch.full_like(r2, -math.inf)
    if kernel == "tophat":
        return torch.where(inside, torch.zeros_like(r2), neg_inf)
    if kernel == "epanechnikov":
        return torch.where(inside, torch.log1p(-r2.clamp(0, 1)), neg_inf)
    r = r2.clamp(0, 1).sqrt()
    if kernel == "linear":
        return torch.where(inside, torch.log1p(-r), neg_inf)
    if kernel == "cosine":
        return torch.where(inside, torch.log(torch.cos(r * (math.pi / 2))), neg_inf)
    check_kernel(kernel)
    raise AssertionError("unreachable")


def log_sphere_area(d: int) -> float:
    """log S_{d−1} = log(2 π^{d/2} / Γ(d/2))."""
    return math.log(2.0) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d)


def log_norm(kernel: str, d: int) -> float:
    """log c_d, the integral of K(‖u‖) over R^d (see the module docstring)."""
    check_kernel(kernel)
    if d < 1:
        raise ValueError(f"dimension must be >= 1, got {d}")
    log_ball = 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)
    if kernel == "gaussian":
        return 0.5 * d * math.log(2 * math.pi)
    if kernel == "tophat":
        return log_ball
    if kernel == "epanechnikov":
        return log_ball + math.log(2.0 / (d + 2))
    if kernel == "exponential":
        return log_sphere_area(d) + math.lgamma(d)
    if kernel == "linear":
        return log_ball - math.log(d + 1)
    nodes, weights = np.polynomial.legendre.leggauss(96)
    r = 0.5 * (nodes + 1.0)
    integral = 0.5 * float(np.sum(weights * np.cos(0.5 * math.pi * r) * r ** (d - 1)))
    return log_sphere_area(d) + math.log(integral)


def second_moment(kernel: str, d: int) -> float:
    """E‖u‖² / d for u drawn from the normalised kernel: the per-coordinate variance a draw adds (× h²)."""
    check_kernel(kernel)
    if kernel == "gaussian":
        return 1.0
    if kernel == "exponential":
        return (d + 1.0)  # r ~ Gamma(d, 1): E r² = d(d + 1)
    nodes, weights = np.polynomial.legendre.leggauss(96)
    r = 0.5 * (nodes + 1.0)
    prof = {"tophat": np.ones_like(r), "epanechnikov": 1 - r**2, "linear": 1 - r,
            "cosine": np.cos(0.5 * math.pi * r)}[kernel]
    num = np.sum(weights * prof * r ** (d + 1))
    den = np.sum(weights * prof * r ** (d - 1))
    return float(num / den) / d


def sample_radii(kernel: str, d: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Radii r = ‖u‖ of n draws u from the normalised kernel: density ∝ K(r) r^{d−1}.

    Gaussian: r = ‖N(0, I_d)‖; exponential: r ~ Gamma(d, 1); compact kernels: r = U^{1/d} (density ∝ r^{d−1} on
    [0, 1]) accepted with probability K(r) ≤ 1 (rejection sampling).
    """
    check_kernel(kernel)
    if kernel == "gaussian":
        return np.sqrt(rng.chisquare(d, size=n))
    if kernel == "exponential":
        return rng.gamma(d, 1.0, size=n)
    out = np.empty(0)
    while out.size < n:
        r = rng.random(2 * (n - out.size) + 16) ** (1.0 / d)
        keep = {"tophat": np.ones_like(r), "epanechnikov": 1 - r**2, "linear": 1 - r,
                "cosine": np.cos(0.5 * math.pi * r)}[kernel]
        out = np.concatenate([out, r[rng.random(r.size) < keep]])
    return out[:n]
