"""Universal random features (URF, Scalable Neural Network Kernels, arXiv 2310.13225): f(wᵀx + b) ≈ Φ(x)ᵀΨ(w, b).

An activation f with a spectral representation f(z) = ∫ e^{iξz} dμ(ξ) (μ a finite measure: f is the Fourier
transform of μ) is linearised in two steps (this project's reading of the paper's URF construction, a Fourier
transform followed by the Gaussian trick; the paper's text could not be consulted here, so the sampling details
are ours and are checked against the exact activation, not against the authors' code):

1. Fourier: f(wᵀx + b) = E_{ξ∼p}[ (dμ/dp)(ξ) · e^{iξb} · e^{iξ·xᵀw} ]   (ξ drawn from p = μ/|μ|, weight |μ|·sgn).
2. The Gaussian trick, which holds for complex arguments (E_ω e^{ωᵀa} = e^{aᵀa/2} is entire in a): with
   c = (iξ)^½ (the principal root), u = c·x, v = c·w (so uᵀv = iξ·xᵀw),

       e^{iξ·xᵀw} = E_{ω∼N(0, I)}[ exp(c·ωᵀx − iξ‖x‖²/2) · exp(c·ωᵀw − iξ‖w‖²/2) ].

With m draws (ξ_l, ω_l) (ω_l orthogonal in blocks of D as in FAVOR+, independent of ξ):

    Φ(x)_l = exp(c_l ω_lᵀx − iξ_l‖x‖²/2) / √m,      Ψ(w, b)_l = a_l e^{iξ_l b} exp(c_l ω_lᵀw − iξ_l‖w‖²/2) / √m,

an unbiased estimate f(wᵀx + b) = E[Re Φ(x)ᵀΨ(w, b)], whose error shrinks as m^-½ (the variance is finite:
|Φ_l Ψ_l| = exp(√(|ξ_l|/2)·ω_lᵀ(x + w))·|a_l|/m). The features are complex; :func:`real_features` stacks
[Re Φ, Im Φ] and [Re Ψ, −Im Ψ] so that the estimate is one real dot product (2m features). Unlike FAVOR+'s
exp-features they are not positive, so they linearise a feed-forward layer (SNNK) rather than an attention map.

The softmax kernel is the special case ξ = −i (μ a point mass on the imaginary axis): c = 1 and Φ is FAVOR+'s
positive map exp(ωᵀx − ‖x‖²/2). Spectral measures given here (:data:`SPECTRA`):

- ``"cos"``: f(z) = cos z, μ = (δ₁ + δ₋₁)/2;
- ``"gaussian"``: f(z) = exp(−z²/2), μ = N(0, 1);
- ``"sinc"``: f(z) = sin(z)/z, μ = U(−1, 1).
"""

from __future__ import annotations

import math

import torch

from .ops.favor import gaussian_projection

SPECTRA = ("cos", "gaussian", "sinc")


def activation(name: str, z: torch.Tensor) -> torch.Tensor:
    """The exact f(z) of a spectrum in :data:`SPECTRA`."""
    if name == "cos":
        return torch.cos(z)
    if name == "gaussian":
        return torch.exp(-0.5 * z * z)
    if name == "sinc":
        return torch.sinc(z / math.pi)
    raise ValueError(f"urf: activation must be one of {SPECTRA}, got {name!r}")


def sample_spectrum(name: str, m: int, *,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(ξ, a): m frequencies ξ_l ∼ p and weights a_l = dμ/dp(ξ_l) (float64) with f(z) = E[a e^{iξz}]."""
    if isinstance(m, bool) or not hasattr(m, "__index__") or int(m) < 1:
        raise ValueError(f"urf: the number of features m must be a positive int, got {m!r}")
    m = int(m)
    if name == "cos":
        xi = torch.where(torch.rand(m, generator=generator, dtype=torch.float64) < 0.5, -1.0, 1.0)
    elif name == "gaussian":
        xi = torch.randn(m, generator=generator, dtype=torch.float64)
    elif name == "sinc":
        xi = torch.rand(m, generator=generator, dtype=torch.float64) * 2 - 1
    else:
        raise ValueError(f"urf: activation must be one of {SPECTRA}, got {name!r}")
    return xi, torch.ones(m, dtype=torch.float64)


class URF:
    """m universal random features (ξ_l, ω_l) for activation ``name`` on inputs of dimension ``dim``."""

    def __init__(self, name: str, dim: int, m: int, *, orthogonal: bool = True, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.name = name
        self.xi, self.a = sample_spectrum(name, m, generator=g)
        self.omega = gaussian_projection(m, dim, orthogonal=orthogonal, generator=g, dtype=torch.float64)

    @property
    def m(self) -> int:
        return self.xi.shape[0]

    def _phase(self, x: torch.Tensor) -> torch.Tensor:
        cdt = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        c = torch.sqrt(1j * self.xi.to(cdt)).to(x.device)              # (iξ)^½, principal root
        wx = (x @ self.omega.to(x).T).to(cdt)                           # (…, m)
        sq = (x * x).sum(-1, keepdim=True).to(cdt)
        return c * wx - 0.5j * self.xi.to(x.device, cdt) * sq

    def phi(self, x: torch.Tensor) -> torch.Tensor:
        """Φ(x) (…, m), complex: exp(c ωᵀx − iξ‖x‖²/2)/√m."""
        return torch.exp(self._phase(x)) / math.sqrt(self.m)

    def psi(self, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        """Ψ(w, b) (…, m), complex: a e^{iξb} exp(c ωᵀw − iξ‖w‖²/2)/√m."""
        ph = self._phase(w)
        if b is not None:
            ph = ph + 1j * self.xi.to(w.device, ph.dtype) * b.unsqueeze(-1).to(ph.dtype)
        return self.a.to(w.device, ph.dtype) * torch.exp(ph) / math.sqrt(self.m)

    def real_features(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None):
        """Real (…, 2m) maps [Re Φ, Im Φ] and [Re Ψ, −Im Ψ]: their dot product is Re Φᵀ Ψ."""
        p, q = self.phi(x), self.psi(w, b)
        return torch.cat([p.real, p.imag], -1), torch.cat([q.real, -q.imag], -1)

    def estimate(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        """The estimate of f(xᵢᵀw_j + b_j), shape (n, k) for x (n, D), w (k, D), b (k,)."""
        fx, fw = self.real_features(x, w, b)
        return fx @ fw.T
