"""Infinitely wide *and* deep networks as classifiers (Radhakrishnan, Belkin & Uhler, "Wide and Deep Neural Networks
Achieve Optimality for Classification", arXiv 2204.14126, PNAS 2023): dual activations, the depth-L NNGP/NTK on the
sphere computed stably for thousands of layers, the depth-∞ limit classifiers, and the paper's 2-D Dirichlet task.

Provenance. Only the paper's abstract and the start of its introduction could be retrieved here (the ar5iv page's
opening); its body (theorems, the activations it proposes, the Dirichlet experiment's parameters, its figures) could
not. The abstract states the result: depending on the activation, infinitely wide and deep networks implement (1)
1-nearest neighbour, (2) majority vote, or (3) singular-kernel classifiers, a set that contains Bayes-optimal ones, and
it gives explicit activations that reach optimality. Everything below is derived here from the standard NNGP/NTK
recursion and checked numerically (tests/test_deep_limit.py); where the paper's own choice is unknown it says so.

Dual activation. Inputs on the unit sphere, no biases, φ normalised so that E[φ(z)²] = 1 (z ~ N(0, 1)). For
(u, v) ~ N(0, [[1, ξ], [ξ, 1]]):

    ǩ(ξ) = E[φ(u)φ(v)] = Σ_i a_i² ξ^i,   ǩ'(ξ) = E[φ'(u)φ'(v)] = Σ_i i a_i² ξ^{i−1},   ǩ(1) = Σ_i a_i² = 1,

with a_i the coefficients of φ in the normalised Hermite basis h_i = He_i/√i! (Mehler / Price). The duals here:

    relu    φ = √2 max(0, x):    ǩ = (√(1−ξ²) + (π − arccos ξ) ξ)/π,   ǩ' = (π − arccos ξ)/π        (arc-cosine)
    erf     φ = erf(x)/√κ, κ = (2/π) arcsin(2/3):   ǩ = (2/π) arcsin(2ξ/3)/κ,   ǩ' = (4/(3π))/(κ√(1 − 4ξ²/9))
    sine    φ = sin(x)/√(e⁻¹ sinh 1):   ǩ = sinh ξ / sinh 1,   ǩ' = cosh ξ / sinh 1
    hilbert φ = Σ_{k≥1} √(c(1−c)^{k−1}) h_k:   ǩ = cξ/(1 − (1−c)ξ),   ǩ' = c/(1 − (1−c)ξ)²     (c = HILBERT_C)
    hermite φ = Σ_i a_i h_i (any finite coefficients, normalised to Σ a_i² = 1):   ǩ = Σ a_i² ξ^i

Depth-L kernels (the NTK parameterisation's recursion of ops/nngp_ntk.py with σ_w² = 1/E[φ²], σ_b = 0, on unit
inputs, where every Σ^l(x, x) = 1): with ξ = ⟨x, x'⟩,

    Σ^(0) = Θ^(0) = ξ,   Σ^(l) = ǩ(Σ^(l−1)),   Θ^(l) = Σ^(l) + Θ^(l−1) · ǩ'(Σ^(l−1)),   so Θ^(L)(1) = Σ_{l≤L} ǩ'(1)^l.

Numerics for large L: each entry carries ξ_l and δ_l = 1 − ξ_l. Above ξ = 1/2 the iteration runs on δ
(δ_0 = ‖x − x'‖²/2 exactly, each dual has an accurate 1 − ǩ(1 − δ)), so nearby points keep their relative distance;
below |ξ| = 1e-15 the dual is its leading term c_m ξ^m and the entry is continued in closed form (no underflow:
ξ_L ~ c₁^L), as are coincident points (Σ = 1, Θ = Σ_l λ^l); Θ runs as a mantissa times e^E, rescaled every 32
layers. An odd ǩ (erf, sine, odd Hermite series) runs on |ξ| with δ = ‖x + x'‖²/2 for ξ < 0. Results are
(sign, log|·|) pairs. The classifier never forms the kernel's absolute scale: the training Gram is
divided by its (constant) diagonal, each test row by its largest entry (argmax is invariant to a positive row scale).

Depth-∞ taxonomy (derived; c_i = a_i², λ = ǩ'(1), the fixed points of ξ ↦ ǩ(ξ) on [−1, 1]):

* c₀ = 0 (E φ = 0), 0 < c₁ < 1: 0 attracts every |ξ| < 1, ξ = 1 repels (λ > 1). Σ^(L)(ξ) ~ c₁^L ψ(ξ) and
  Θ^(L)(ξ) ~ L c₁^L ψ(ξ), with ψ = lim_L Σ^(L)/c₁^L the Koenigs function of ǩ at 0 (ψ∘ǩ = c₁ψ, ψ'(0) = 1), while
  both Grams tend to the identity relative to their diagonal: the NNGP and the NTK classifier both tend to the
  *singular kernel classifier*  ŷ(x) = argmax_k Σ_{i: y_i = k} ψ(⟨x, x_i⟩). Near ξ = 1, ψ(1 − ε) ≍ ε^{−α/2}
  (up to a bounded log-periodic factor), i.e. ψ ≍ ‖x − x'‖^{−α} with α = 2 log(1/c₁)/log λ (`singular_exponent`):
  erf α = 0.89, sine α = 1.19.
* c₀ = c₁ = 0: the decay is super-exponential (ξ_L ~ ξ^{m^L}), the nearest training point's term dominates every
  other by an unbounded factor: *1-nearest neighbour* (for ξ ≥ 0; a negative ξ counts as |ξ| with sign (−1)^m).
* c₀ > 0 (E φ ≠ 0): if λ > 1 a fixed point ξ* ∈ (0, 1) attracts, the Gram tends to (1 − ξ*)I + ξ*11ᵀ and the
  test kernel to ξ* (NNGP), or to a constant over a diagonal growing as λ^L (NTK): *majority vote*. ReLU has
  λ = 1 and Σ^(L) → 1 everywhere: near 1, δ' = δ − aδ^{3/2} + O(δ²) with a = 2√2/(3π), so u = 1/√δ grows as
  u_L = u₀ + aL/2 + O(log L) and δ_L ≈ (4/(a²L²))(1 − 4u₀/(aL)), u₀ = 1/√δ₀ = √2/‖x − x'‖. The NNGP Gram is
  (1 − C/L²)11ᵀ + (C/L²)I + O(L⁻³), and the class scores are n_k/n + O(1/L)·Σ_i ‖x − x_i‖⁻¹(1[y_i = k] − n_k/n):
  majority vote at leading order, reached only once L ≫ n (before that the ‖x − x'‖⁻¹ term, a singular kernel
  with α = 1, dominates). Its NTK grows as L on the diagonal and, off it, as L/4 at leading order (θ_l = √(2δ_l)
  ~ 3π/l in ǩ' = 1 − θ_l/π, so Π(1 − 3/j) ~ (l/L)³ and Σ_l (l/L)³ ~ L/4): majority vote too.

Optimality. Devroye, Györfi & Krzyżak ("The Hilbert kernel regression estimate", J. Multivariate Anal. 1998; cited
from memory, not retrieved here) show
that the kernel rule with the singular Hilbert kernel ‖x − x'‖^{−d} on d-dimensional data, which interpolates, is
consistent; the plug-in classifier then reaches the Bayes rate as n → ∞. So an activation whose depth-∞ ψ behaves as
‖x − x'‖^{−d} near the diagonal gives a Bayes-optimal wide and deep network. The ``hilbert`` dual is built here for
d = 2 (the Dirichlet data lie on a 2-D patch of S²): its Koenigs function is exactly ψ(ξ) = ξ/(1 − ξ) =
2⟨x, x'⟩/‖x − x'‖² for every c ∈ (0, 1) (ψ(ǩ(ξ)) = cξ/(1 − ξ) = cψ(ξ)), and its Hermite coefficients a_k² = c(1−c)^{k−1}
are positive, so it is the dual of the activation φ above. `hermite_for_exponent(alpha)` gives a two-term activation
a₁h₁ + a_m h_m with any α > 2/(m − 1) (c₁ solves log(1/c₁) = (α/2) log(c₁ + m(1 − c₁))), whose ψ carries the
log-periodic factor. Whether these are the paper's activations could not be checked (its body was not retrievable).

The Dirichlet task (`dirichlet-2d`): two equiprobable classes, p ~ Dir(DIRICHLET_CONCENTRATIONS[k]) on the
2-simplex, x = √p (coordinate-wise) on the unit sphere S² (a bijection, so the Bayes rate is that of p). The Bayes
accuracy ∫ max_k π_k f_k(p) dp is a midpoint rule on the Duffy square (p₁ = u, p₂ = (1 − u)v, Jacobian 1 − u),
2000² nodes; the paper's own concentrations could not be retrieved, these are chosen here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

TINY = 1e-15                 # |ξ| below this: ǩ is its leading term c_m ξ^m (relative error ~1e-15)
NEAR = 0.5                   # ξ above this: iterate δ = 1 − ξ
HILBERT_C = 0.8              # c = ǩ'(0) of the hilbert dual (any c in (0, 1) gives ψ = ξ/(1 − ξ); c > 3/4 keeps
#                              E φ⁴ finite, so Monte-Carlo checks of its dual converge)
KERNELS = ("nngp", "ntk")
DIRICHLET_CONCENTRATIONS = ((1.5, 1.5, 1.5), (4.0, 2.0, 1.0))   # class 0, class 1 (equal priors)


# ---------------------------------------------------------------------------------------------------------- duals
def hermite_functions(x: torch.Tensor, degree: int) -> torch.Tensor:
    """(…, degree + 1): the normalised Hermite polynomials h_k = He_k/√k! at x, by h_{k+1} = (x h_k − √k h_{k−1})/√(k+1)
    (orthonormal under N(0, 1))."""
    out = [torch.ones_like(x), x]
    for k in range(1, degree):
        out.append((x * out[k] - math.sqrt(k) * out[k - 1]) / math.sqrt(k + 1))
    return torch.stack(out[: degree + 1], -1)


class DualActivation:
    """An activation φ with E[φ(z)²] = 1 and its dual ǩ (module docstring). Subclasses give ǩ, ǩ', the accurate
    1 − ǩ(1 − δ) and ǩ'(1 − δ) near ξ = 1, φ and φ', and c₀ = ǩ(0), c₁ = ǩ'(0), λ = ǩ'(1) and the lowest nonzero
    coefficient (m, c_m), m ≥ 1 (used when c₀ = 0)."""

    name = "dual"
    c0 = c1 = lam = 0.0
    odd = False   # ǩ odd (only odd Hermite degrees): the recursion runs on |ξ|
    lead: tuple[int, float] = (1, 0.0)

    def k(self, xi: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def kdot(self, xi: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def one_minus_k(self, delta: torch.Tensor) -> torch.Tensor:
        """1 − ǩ(1 − δ), accurate (relative) for small δ ≥ 0."""
        raise NotImplementedError

    def kdot_near_one(self, delta: torch.Tensor) -> torch.Tensor:
        return self.kdot(1.0 - delta)

    def phi(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def phi_prime(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def koenigs_closed_form(self, xi: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(sign, log|ψ|) of the Koenigs function where known in closed form, else None."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class ReLUDual(DualActivation):
    name = "relu"
    c0, c1, lam = 1.0 / math.pi, 0.5, 1.0

    def k(self, xi):
        return (torch.sqrt((1 - xi) * (1 + xi)).clamp_min(0) + (math.pi - torch.arccos(xi)) * xi) / math.pi

    def kdot(self, xi):
        return (math.pi - torch.arccos(xi)) / math.pi

    def one_minus_k(self, delta):
        # θ = arccos(1 − δ) = 2 arcsin √(δ/2);  π(1 − ǩ) = πδ − θδ + (θ − sin θ), the last by its series for θ < 1/2
        theta = 2 * torch.arcsin(torch.sqrt(delta / 2))
        t2 = theta * theta
        series = theta * t2 / 6 * (1 - t2 / 20 * (1 - t2 / 42 * (1 - t2 / 72 * (1 - t2 / 110))))
        tms = torch.where(theta < 0.5, series, theta - torch.sin(theta))
        return (math.pi * delta - theta * delta + tms) / math.pi

    def kdot_near_one(self, delta):
        return (math.pi - 2 * torch.arcsin(torch.sqrt(delta / 2))) / math.pi

    def phi(self, x):
        return math.sqrt(2) * x.clamp_min(0)

    def phi_prime(self, x):
        return math.sqrt(2) * (x > 0).to(x.dtype)


class ErfDual(DualActivation):
    name = "erf"
    odd = True
    kappa = 2 / math.pi * math.asin(2 / 3)
    c0, c1 = 0.0, 4 / (3 * math.pi) / kappa
    lam = 4 / math.pi / (math.sqrt(5) * kappa)
    lead = (1, 4 / (3 * math.pi) / kappa)

    def k(self, xi):
        return 2 / math.pi * torch.arcsin(2 * xi / 3) / self.kappa

    def kdot(self, xi):
        return 4 / (3 * math.pi) / (self.kappa * torch.sqrt(1 - 4 * xi * xi / 9))

    def one_minus_k(self, delta):
        # arcsin a − arcsin b = arcsin((a² − b²)/(a√(1−b²) + b√(1−a²))), a = 2/3, b = 2(1 − δ)/3, a² − b² = (a−b)(a+b)
        a, b = 2 / 3, 2 * (1 - delta) / 3
        num = (2 * delta / 3) * (a + b)
        den = a * torch.sqrt(1 - b * b) + b * math.sqrt(1 - a * a)
        return torch.arcsin(num / den) / math.asin(2 / 3)

    def phi(self, x):
        return torch.erf(x) / math.sqrt(self.kappa)

    def phi_prime(self, x):
        return 2 / math.sqrt(math.pi) * torch.exp(-x * x) / math.sqrt(self.kappa)


class SineDual(DualActivation):
    name = "sine"
    odd = True
    c0, c1, lam = 0.0, 1 / math.sinh(1), 1 / math.tanh(1)
    lead = (1, 1 / math.sinh(1))
    norm = math.exp(-1) * math.sinh(1)   # E[sin(z)²] = (1 − e⁻²)/2

    def k(self, xi):
        return torch.sinh(xi) / math.sinh(1)

    def kdot(self, xi):
        return torch.cosh(xi) / math.sinh(1)

    def one_minus_k(self, delta):
        return 2 * torch.cosh(1 - delta / 2) * torch.sinh(delta / 2) / math.sinh(1)

    def phi(self, x):
        return torch.sin(x) / math.sqrt(self.norm)

    def phi_prime(self, x):
        return torch.cos(x) / math.sqrt(self.norm)


class HermiteDual(DualActivation):
    """φ = Σ_i a_i h_i for finitely many coefficients ``coefficients`` {i: a_i} (normalised to Σ a_i² = 1)."""

    def __init__(self, coefficients: dict[int, float], name: str = "hermite"):
        if not isinstance(coefficients, dict) or not coefficients:
            raise ValueError(f"coefficients must be a non-empty dict {{degree: a_i}}; got {coefficients!r}")
        for i, a in coefficients.items():
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0 or not math.isfinite(a):
                raise ValueError(f"coefficients: degrees must be ints >= 0 and a_i finite; got {i!r}: {a!r}")
        total = sum(a * a for a in coefficients.values())
        if not total > 0:
            raise ValueError("coefficients: at least one a_i must be nonzero")
        self.degree = max(coefficients)
        self.a = np.zeros(self.degree + 1)
        for i, a in coefficients.items():
            self.a[i] = a / math.sqrt(total)
        self.c = self.a ** 2
        self.name = name
        self.c0, self.c1 = float(self.c[0]), float(self.c[1]) if self.degree >= 1 else 0.0
        self.lam = float(sum(i * ci for i, ci in enumerate(self.c)))
        nz = [i for i in range(1, self.degree + 1) if self.c[i] > 0]
        self.lead = (nz[0], float(self.c[nz[0]])) if nz else (1, 0.0)
        self.odd = bool(all(self.c[i] == 0 for i in range(0, self.degree + 1, 2)))

    def k(self, xi):
        out = torch.zeros_like(xi)
        for ci in self.c[::-1]:
            out = out * xi + float(ci)
        return out

    def kdot(self, xi):
        out = torch.zeros_like(xi)
        for i in range(self.degree, 0, -1):
            out = out * xi + float(i * self.c[i])
        return out

    def one_minus_k(self, delta):
        l1p = torch.log1p(-delta)
        out = torch.zeros_like(delta)
        for i in range(1, self.degree + 1):
            if self.c[i] > 0:
                out = out - float(self.c[i]) * torch.expm1(i * l1p)
        return out

    def phi(self, x):
        return hermite_functions(x, self.degree) @ torch.as_tensor(self.a, dtype=x.dtype)

    def phi_prime(self, x):   # h_k' = √k h_{k−1}
        coef = torch.as_tensor([math.sqrt(k + 1) * self.a[k + 1] for k in range(self.degree)] or [0.0],
                               dtype=x.dtype)
        return hermite_functions(x, max(self.degree - 1, 0))[..., : len(coef)] @ coef


class HilbertDual(HermiteDual):
    """ǩ(ξ) = cξ/(1 − (1−c)ξ): a_k² = c(1−c)^{k−1}, k ≥ 1; Koenigs function ψ(ξ) = ξ/(1 − ξ) exactly (α = 2).
    φ, φ' are evaluated from the Hermite series truncated where the tail Σ_{k>K} a_k² = (1−c)^K < 1e-17."""

    def __init__(self, c: float = HILBERT_C):
        if not 0 < c < 1:
            raise ValueError(f"the hilbert dual's c = ǩ'(0) must be in (0, 1); got {c!r}")
        terms = int(math.ceil(math.log(1e-17) / math.log(1 - c)))
        super().__init__({k: math.sqrt(c * (1 - c) ** (k - 1)) for k in range(1, terms + 1)}, name="hilbert")
        self.cc = c
        self.c0, self.c1, self.lam, self.lead = 0.0, c, 1 / c, (1, c)

    def k(self, xi):
        return self.cc * xi / (1 - (1 - self.cc) * xi)

    def kdot(self, xi):
        return self.cc / (1 - (1 - self.cc) * xi) ** 2

    def one_minus_k(self, delta):
        return delta / (self.cc + (1 - self.cc) * delta)

    def koenigs_closed_form(self, xi, delta):
        psi = xi / delta
        return torch.sign(psi), torch.log(psi.abs())


ACTIVATIONS = {"relu": ReLUDual, "erf": ErfDual, "sine": SineDual, "hilbert": HilbertDual}


def dual_activation(activation: str | DualActivation) -> DualActivation:
    """The dual of ``activation``: a name in ACTIVATIONS or a DualActivation (e.g. a HermiteDual)."""
    if isinstance(activation, DualActivation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a DualActivation "
                         f"(e.g. HermiteDual({{1: a1, 3: a3}})); got {activation!r}")
    return ACTIVATIONS[activation]()


def singular_exponent(activation: str | DualActivation) -> float:
    """α = 2 log(1/c₁)/log λ: the depth-∞ kernel ψ ≍ ‖x − x'‖^{−α} (c₀ = 0, 0 < c₁ < 1 only)."""
    d = dual_activation(activation)
    if not (d.c0 == 0 and 0 < d.c1 < 1):
        raise ValueError(f"{d.name}: the singular-kernel limit needs c0 = E[phi]^2 = 0 and 0 < c1 < 1; "
                         f"got c0 = {d.c0:.3g}, c1 = {d.c1:.3g}")
    return 2 * math.log(1 / d.c1) / math.log(d.lam)


def hermite_for_exponent(alpha: float, degree: int = 3) -> HermiteDual:
    """φ = a₁h₁ + a_m h_m (m = ``degree`` ≥ 3) whose depth-∞ kernel has ψ ≍ ‖x − x'‖^{−alpha}: c₁ = a₁² solves
    log(1/c₁) = (alpha/2) log(c₁ + m(1 − c₁)) (bisection; a root in (0, 1) exists for alpha > 2/(m − 1))."""
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 3:
        raise ValueError(f"degree must be an int >= 3 (m = 2 gives alpha > 2 only); got {degree!r}")
    if not (math.isfinite(alpha) and alpha > 2 / (degree - 1)):
        raise ValueError(f"alpha must be finite and > 2/(degree - 1) = {2 / (degree - 1):.3g}; got {alpha!r}")

    def f(c):
        return math.log(1 / c) - alpha / 2 * math.log(c + degree * (1 - c))

    lo, hi = 1e-12, 1 - 1e-12   # f(lo) > 0; f < 0 just below 1 when alpha > 2/(m − 1)
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    c1 = (lo + hi) / 2
    return HermiteDual({1: math.sqrt(c1), degree: math.sqrt(1 - c1)}, name=f"hermite(1,{degree}) alpha={alpha:g}")


# ------------------------------------------------------------------------------------------------------ recursion
def _unit_rows(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        raise ValueError(f"{name} must be a 2-D floating-point tensor (n, d); got {getattr(x, 'shape', type(x))}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values; clean or impute the inputs first")
    norm = x.double().norm(dim=1, keepdim=True)
    if (norm == 0).any():
        raise ValueError(f"{name} has all-zero rows: the kernels live on the unit sphere (rows are scaled to norm 1), "
                         f"so drop or shift those rows")
    return x.double() / norm


def _initial_state(x1: torch.Tensor, x2: torch.Tensor, odd: bool = False):
    """(sign, log|ξ|, δ) of ξ = ⟨x, x'⟩ for unit rows. δ = 1 − ξ = ‖x − x'‖²/2 exactly on the sphere: accurate for
    nearby points where 1 − ξ is not. ``odd`` (an odd ǩ: Σ^(L)(−ξ) = −Σ^(L)(ξ), Θ likewise): the state of |ξ|, with
    δ = ‖x + x'‖²/2 for ξ < 0, so that near-antipodal pairs are as accurate as near ones; the caller restores the
    sign (``_odd_sign``)."""
    xi = (x1 @ x2.T).clamp(-1.0, 1.0)
    delta = torch.cdist(x1, x2, compute_mode="donot_use_mm_for_euclid_dist").square() / 2
    if odd:
        anti = torch.cdist(x1, -x2, compute_mode="donot_use_mm_for_euclid_dist").square() / 2
        delta = torch.where(xi >= 0, delta, anti)
        xi = xi.abs()
    delta = torch.where(xi > NEAR, delta, 1.0 - xi)
    la = torch.where(xi > NEAR, torch.log1p(-delta), torch.log(xi.abs()))
    return torch.sign(torch.where(xi > NEAR, torch.ones_like(xi), xi)), la, delta


def _odd_sign(dual: DualActivation, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor | None:
    return torch.sign(a @ b.T) if dual.odd else None


def _signed_logaddexp(s1, l1, s2, l2):
    m = torch.maximum(l1, l2)
    finite = torch.isfinite(m)
    mm = torch.where(finite, m, torch.zeros_like(m))
    v = s1 * torch.exp(l1 - mm) + s2 * torch.exp(l2 - mm)
    return torch.where(finite, torch.sign(v), torch.zeros_like(v)), torch.where(finite, mm + torch.log(v.abs()), m)


def _step(dual: DualActivation, xi, dl):
    """One layer on 1-D entries with |ξ| ≥ TINY or ξ > 1/2: the new (ξ, δ) of Σ and ǩ' at the old Σ. Above ξ = 1/2
    the dual runs on δ (``one_minus_k``, ``kdot_near_one``), below it on ξ."""
    near = dl < NEAR
    if bool(near.all()):
        dn = dual.one_minus_k(dl)
        return 1.0 - dn, dn, dual.kdot_near_one(dl)
    km, kd = dual.k(torch.where(near, 0.0, xi)), dual.kdot(torch.where(near, 0.0, xi))
    new_xi, new_dl = km, 1.0 - km
    if bool(near.any()):
        d = dl[near]
        dn = dual.one_minus_k(d)
        new_xi[near], new_dl[near], kd[near] = 1.0 - dn, dn, dual.kdot_near_one(d)
    return new_xi, new_dl, kd


def _frozen_at_depth(dual: DualActivation, sgn, la, ts, tl, j):
    """Σ and Θ ``j`` (a tensor of ints ≥ 0) layers after entering the linear regime |ξ| < TINY, where ǩ(ξ) = c_m ξ^m:
    m = 1: Σ_j = c₁^j Σ₀, Θ_j = c₁^j (Θ₀ + j Σ₀);  m ≥ 2: Σ_j = c_m^{(m^j − 1)/(m − 1)} Σ₀^{m^j} and Θ_j/Σ_j = ρ_j,
    ρ_j = m ρ_{j−1} + 1 = m^j (ρ₀ + 1/(m − 1)) − 1/(m − 1)."""
    m, cm = dual.lead
    jf = j.to(la.dtype)
    if m == 1:
        s2, l2 = _signed_logaddexp(ts, tl, sgn, la + torch.log(jf))
        return sgn, la + jf * math.log(cm), s2, l2 + jf * math.log(cm)
    mj = torch.pow(float(m), jf)
    new_l = mj * la + (0.0 if cm == 1 else (mj - 1) / (m - 1) * math.log(cm))
    new_s = sgn if m % 2 else torch.where(j > 0, torch.ones_like(sgn), sgn)
    rho0 = torch.where(torch.isfinite(la), ts * sgn * torch.exp(tl - la), 0.0)   # Σ₀ = 0 stays 0
    r = rho0 + 1 / (m - 1) - torch.pow(float(m), -jf) / (m - 1)
    return new_s, new_l, new_s * torch.sign(r), new_l + jf * math.log(m) + torch.log(r.abs())


RENORM = 32   # layers between rescalings of the NTK's mantissa (Θ = θ·e^E; ǩ'(1)^32 stays far from overflow)


def _log_geometric(lam: float, depth: int) -> float:
    """log Σ_{l=0}^{depth} λ^l (the NTK on the diagonal), without overflow."""
    if abs(lam - 1) < 1e-15:
        return math.log(depth + 1)
    if lam > 1:
        return (depth + 1) * math.log(lam) + math.log1p(-lam ** -(depth + 1)) - math.log(lam - 1)
    return math.log1p(-lam ** (depth + 1)) - math.log1p(-lam)


def _iterate(dual: DualActivation, sgn, la, dl, depths: list[int], until_frozen: bool = False):
    """The recursion on flattened entries: {L: (sΣ, log|Σ|, sΘ, log|Θ|)} at ``depths``, or (with ``until_frozen``)
    (sign, log|ξ| at freezing − l₀ log c₁, l₀) once every entry with δ > 0 has entered the linear regime. Σ runs in
    plain floats (|ξ| ≥ TINY while active), Θ as a mantissa times e^E rescaled every RENORM layers; entries in the
    linear regime (c₀ = 0) leave the loop and are continued in closed form (``_frozen_at_depth``)."""
    shape = sgn.shape
    n = sgn.numel()
    xi = (sgn * torch.exp(la)).flatten()
    dl = dl.flatten().clone()
    xi = torch.where(dl < NEAR, 1.0 - dl, xi)
    th, ex = xi.clone(), torch.zeros_like(xi)
    f_s, f_l, f_ts, f_tl = (torch.zeros_like(xi) for _ in range(4))
    frozen_at = torch.full((n,), -1, dtype=torch.long)
    can_freeze = dual.c0 == 0 and dual.lead[1] > 0
    # coincident points (δ = 0) stay at Σ = 1, with Θ^(L)(1) = Σ_{l≤L} λ^l: in closed form, out of the loop
    coincident = dl == 0
    active = torch.nonzero(~coincident).flatten()

    def logs(idx):
        x, d, t, e = xi[idx], dl[idx], th[idx], ex[idx]
        return (torch.where(d < NEAR, 1.0, torch.sign(x)), torch.where(d < NEAR, torch.log1p(-d), torch.log(x.abs())),
                torch.sign(t), torch.log(t.abs()) + e)

    out = {}
    layer = 0
    while True:
        if can_freeze and active.numel():
            small = (xi[active].abs() < TINY) & (dl[active] >= NEAR)
            if bool(small.any()):
                idx = active[small]
                frozen_at[idx] = layer
                f_s[idx], f_l[idx], f_ts[idx], f_tl[idx] = logs(idx)
                active = active[~small]
        if until_frozen and active.numel() == 0:
            return (f_s.reshape(shape), (f_l - frozen_at.to(f_l.dtype) * math.log(dual.c1)).reshape(shape),
                    frozen_at.reshape(shape))
        if not until_frozen and layer in depths:
            ks = [torch.empty_like(xi) for _ in range(4)]
            for k, v in zip(ks, logs(active)):
                k[active] = v
            fz = frozen_at >= 0
            if bool(fz.any()):
                vals = _frozen_at_depth(dual, f_s[fz], f_l[fz], f_ts[fz], f_tl[fz], layer - frozen_at[fz])
                for k, v in zip(ks, vals):
                    k[fz] = v
            for k, v in zip(ks, (1.0, 0.0, 1.0, _log_geometric(dual.lam, layer))):
                k[coincident] = v
            out[layer] = tuple(k.reshape(shape) for k in ks)
            if layer == depths[-1]:
                return out
        if not until_frozen and active.numel() == 0:   # everything in closed form: on to the next depth
            layer = min(d for d in depths if d > layer)
            continue
        if active.numel():
            whole = active.numel() == n
            a = slice(None) if whole else active
            x1, d1, kd = _step(dual, xi[a], dl[a])
            t1 = x1 * torch.exp(-ex[a]) + th[a] * kd
            if (layer + 1) % RENORM == 0:
                nz = t1 != 0
                e1 = ex[a] + torch.where(nz, torch.log(t1.abs()), 0.0)
                t1 = torch.where(nz, torch.sign(t1), t1)
                ex[a] = e1
            xi[a], dl[a], th[a] = x1, d1, t1
        layer += 1
        if until_frozen and layer > 10_000_000:
            raise RuntimeError(f"koenigs: {active.numel()} entries not in the linear regime after 1e7 layers")


@dataclass
class LogKernels:
    """Depth-L kernels as sign · exp(log): ``nngp_sign``, ``nngp_log``, ``ntk_sign``, ``ntk_log`` (n1, n2)."""

    nngp_sign: torch.Tensor
    nngp_log: torch.Tensor
    ntk_sign: torch.Tensor
    ntk_log: torch.Tensor

    def values(self, kernel: str) -> torch.Tensor:
        """The kernel itself (may underflow to 0 at large depth: use the logs there)."""
        s, lg = (self.nngp_sign, self.nngp_log) if kernel == "nngp" else (self.ntk_sign, self.ntk_log)
        return s * torch.exp(lg)


def _check_depths(depths: int | Sequence[int]) -> list[int]:
    if isinstance(depths, (int, np.integer)) and not isinstance(depths, bool):
        depths = [int(depths)]
    depths = list(depths)
    if not depths or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in depths):
        raise ValueError(f"depths must be ints >= 0 (layers; use the limit functions for depth = inf); got {depths!r}")
    return sorted({int(d) for d in depths})


def _pair(x1, x2):
    a = _unit_rows(x1, "x1")
    b = a if x2 is None else _unit_rows(x2, "x2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of features; got {a.shape[1]} and {b.shape[1]}")
    return a, b


def deep_kernels(x1: torch.Tensor, x2: torch.Tensor | None = None, *, depths: int | Sequence[int],
                 activation: str | DualActivation = "erf") -> dict[int, LogKernels]:
    """{L: LogKernels} of the NNGP Σ^(L) and NTK Θ^(L) (module docstring) between the rows of x1 and x2 (each scaled
    to unit norm), for every L in ``depths``, from one pass of max(depths) layers. O(n1 n2 max(depths)) time at most;
    entries that reach the linear regime |ξ| < 1e-15 are finished in closed form."""
    dual = dual_activation(activation)
    depths = _check_depths(depths)
    a, b = _pair(x1, x2)
    res = _iterate(dual, *_initial_state(a, b, dual.odd), depths)
    sign = _odd_sign(dual, a, b)
    if sign is None:
        return {L: LogKernels(*v) for L, v in res.items()}
    return {L: LogKernels(v[0] * sign, v[1], v[2] * sign, v[3]) for L, v in res.items()}


def koenigs(x1: torch.Tensor, x2: torch.Tensor | None = None, *,
            activation: str | DualActivation = "erf") -> tuple[torch.Tensor, torch.Tensor]:
    """(sign, log|ψ|) of the depth-∞ singular kernel ψ(⟨x, x'⟩) = lim_L Σ^(L)/c₁^L (c₀ = 0, 0 < c₁ < 1): the closed
    form where the dual has one, else the recursion run until every entry is in its linear regime (|ξ_l| < 1e-15,
    where log ψ = log|ξ_l| − l log c₁ up to a relative error ~1e-15/(1 − c₁)). Coincident points get log ψ = +inf."""
    dual = dual_activation(activation)
    singular_exponent(dual)   # validates c₀ = 0, 0 < c₁ < 1
    a, b = _pair(x1, x2)
    sgn, la, dl = _initial_state(a, b, dual.odd)
    closed = dual.koenigs_closed_form(1.0 - dl, dl)
    if closed is not None:
        s, lg = closed
    else:
        s, lg, _ = _iterate(dual, sgn, la, dl, [], until_frozen=True)
    dup = dl == 0   # coincident (or, for an odd ǩ, antipodal) points
    s = torch.where(dup, torch.ones_like(s), s)
    sign = _odd_sign(dual, a, b)
    return (s if sign is None else s * sign), torch.where(dup, torch.full_like(lg, math.inf), lg)


def limit_kind(activation: str | DualActivation, kernel: str) -> str | None:
    """Which classifier the depth-∞ network is (module docstring): "singular-kernel", "1-nn", "majority-vote", or
    None where no limit is derived here (c₀ > 0 with λ < 1, or λ = 1 other than ReLU; a linear φ)."""
    d = dual_activation(activation)
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}; got {kernel!r}")
    if d.c0 == 0:
        if d.c1 >= 1 - 1e-12:
            return None   # linear φ: Σ^(L) = ξ at every depth
        return "singular-kernel" if d.c1 > 0 else "1-nn"
    if d.lam > 1 + 1e-12:
        return "majority-vote"
    if isinstance(d, ReLUDual):
        return "majority-vote"
    return None


# ---------------------------------------------------------------------------------------------------- classifier
def _row_normalised(sign: torch.Tensor, log: torch.Tensor) -> torch.Tensor:
    """sign · exp(log − max_row log): the kernel rows up to a positive factor per row (argmax-invariant)."""
    top = log.max(dim=1, keepdim=True).values
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    w = sign * torch.exp(log - top)
    # rows with a coincident training point under an infinite ψ: only those entries count
    inf = torch.isinf(log) & (log > 0)
    return torch.where(inf.any(1, keepdim=True), inf.to(w.dtype) * sign, w)


def _gram_normalised(k: LogKernels, kernel: str) -> torch.Tensor:
    s, lg = (k.nngp_sign, k.nngp_log) if kernel == "nngp" else (k.ntk_sign, k.ntk_log)
    diag = lg.diagonal().max()
    return s * torch.exp(lg - diag)


def _solve(gram: torch.Tensor, targets: torch.Tensor, ridge: float) -> torch.Tensor:
    try:
        return torch.linalg.solve(gram + ridge * torch.eye(len(gram), dtype=gram.dtype), targets)
    except torch.linalg.LinAlgError as err:
        raise ValueError(f"the training Gram matrix (divided by its diagonal) is singular with ridge = {ridge:g} "
                         f"(duplicate training points, or a low depth on low-dimensional data); set ridge > 0, "
                         f"e.g. 1e-8") from err


def kernel_scores(train: LogKernels, cross: LogKernels, targets: torch.Tensor, kernel: str,
                  ridge: float = 0.0) -> torch.Tensor:
    """Kernel regression (K + ridge·diag)⁻¹-weights on ``targets`` (n, k), evaluated at the test rows of ``cross``,
    each test row up to a positive factor. The training Gram is divided by its diagonal (all equal on the sphere)."""
    alpha = _solve(_gram_normalised(train, kernel), targets, ridge)
    s, lg = (cross.nngp_sign, cross.nngp_log) if kernel == "nngp" else (cross.ntk_sign, cross.ntk_log)
    return _row_normalised(s, lg) @ alpha


def limit_scores(x_train: torch.Tensor, y_onehot: torch.Tensor, x_test: torch.Tensor,
                 activation: str | DualActivation, kernel: str) -> torch.Tensor:
    """Scores (n_test, k) of the depth-∞ classifier (argmax = its prediction); refuses where ``limit_kind`` is None."""
    dual = dual_activation(activation)
    kind = limit_kind(dual, kernel)
    if kind is None:
        raise ValueError(f"no depth-inf classifier is derived for activation {dual.name!r} with kernel {kernel!r} "
                         f"(c0 = {dual.c0:.3g}, lambda = k'(1) = {dual.lam:.3g}); use a finite depth")
    if kind == "majority-vote":
        return y_onehot.sum(0, keepdim=True).expand(len(x_test), -1).clone()
    if kind == "singular-kernel":
        s, lg = koenigs(x_test, x_train, activation=dual)
        return _row_normalised(s, lg) @ y_onehot
    a, b = _unit_rows(x_test, "x_test"), _unit_rows(x_train, "x_train")
    xi = (a @ b.T).clamp(-1, 1)
    dist = torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
    closeness = torch.where(xi >= 0, -dist, -torch.cdist(a, -b, compute_mode="donot_use_mm_for_euclid_dist"))
    nearest = closeness.argmax(1)
    sign = torch.where(xi[torch.arange(len(a)), nearest] >= 0, 1.0, float((-1) ** dual.lead[0]))
    return y_onehot[nearest] * sign[:, None]


class DeepLimitClassifier(ClassifierMixin, BaseEstimator):
    """The infinitely wide network of ``depth`` hidden layers (None: the depth-∞ limit) trained to convergence on
    one-hot targets with the MSE (kernel regression with the NTK, ``kernel="ntk"``, or the NNGP posterior mean,
    ``"nngp"``; ``ridge`` relative to the Gram's diagonal), prediction by argmax. Inputs are scaled to unit norm
    (the kernels live on the sphere). ``activation``: a name in ACTIVATIONS or a DualActivation."""

    def __init__(self, *, activation: Any = "erf", kernel: str = "nngp", depth: int | None = 100, ridge: float = 0.0):
        self.activation, self.kernel, self.depth, self.ridge = activation, kernel, depth, ridge

    def _check(self) -> DualActivation:
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}; got {self.kernel!r}")
        if self.depth is not None and (isinstance(self.depth, bool) or not isinstance(self.depth, (int, np.integer))
                                       or self.depth < 0):
            raise ValueError(f"depth must be an int >= 0 or None (the depth-inf limit); got {self.depth!r}")
        if not (math.isfinite(self.ridge) and self.ridge >= 0):
            raise ValueError(f"ridge must be a finite number >= 0; got {self.ridge!r}")
        return dual_activation(self.activation)

    def fit(self, X, y):
        dual = self._check()
        x, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, idx = np.unique(y, return_inverse=True)
        self.X_fit_ = _unit_rows(torch.tensor(x), "X").numpy()
        self.targets_ = np.eye(len(self.classes_))[idx]
        if self.depth is None:
            if limit_kind(dual, self.kernel) is None:
                limit_scores(torch.as_tensor(self.X_fit_[:1]), torch.as_tensor(self.targets_[:1]),
                             torch.as_tensor(self.X_fit_[:1]), dual, self.kernel)   # raises the explanation
            self.dual_coef_ = self.targets_
            return self
        train = deep_kernels(torch.as_tensor(self.X_fit_), depths=[int(self.depth)], activation=dual)[int(self.depth)]
        self.dual_coef_ = _solve(_gram_normalised(train, self.kernel), torch.as_tensor(self.targets_),
                                 float(self.ridge)).numpy()
        return self

    def decision_scores(self, X) -> np.ndarray:
        """(n, classes) scores, each row up to a positive factor (argmax = the prediction)."""
        check_is_fitted(self, "dual_coef_")
        dual = self._check()
        x = torch.tensor(validate_data(self, X, reset=False, dtype=np.float64))
        xf = torch.as_tensor(self.X_fit_)
        if self.depth is None:
            return limit_scores(xf, torch.as_tensor(self.targets_), x, dual, self.kernel).numpy()
        cross = deep_kernels(x, xf, depths=[int(self.depth)], activation=dual)[int(self.depth)]
        s, lg = (cross.nngp_sign, cross.nngp_log) if self.kernel == "nngp" else (cross.ntk_sign, cross.ntk_log)
        return (_row_normalised(s, lg) @ torch.as_tensor(self.dual_coef_)).numpy()

    def predict(self, X):
        scores = self.decision_scores(X)
        return self.classes_[scores.argmax(1)]


def deep_limit_classifier(*, activation: str = "erf", kernel: str = "nngp", depth: int | None = 100,
                          ridge: float = 0.0) -> DeepLimitClassifier:
    """The registered ``deep-limit-classifier`` model (``depth=None``: the depth-∞ limit classifier)."""
    return DeepLimitClassifier(activation=activation, kernel=kernel, depth=depth, ridge=ridge)


# ------------------------------------------------------------------------------------------------- Dirichlet task
def dirichlet_data(n: int, rng: np.random.Generator,
                   concentrations: Sequence[Sequence[float]] = DIRICHLET_CONCENTRATIONS) -> tuple[np.ndarray, ...]:
    """(x = √p on S², labels, p): n points, class k w.p. 1/len(concentrations), p ~ Dir(concentrations[k])."""
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n!r}")
    y = rng.integers(0, len(concentrations), n)
    p = np.empty((n, len(concentrations[0])))
    for k, a in enumerate(concentrations):
        p[y == k] = rng.dirichlet(a, int((y == k).sum()))
    return np.sqrt(p), y, p


def _log_dirichlet(p: np.ndarray, a: Sequence[float]) -> np.ndarray:
    from scipy.special import gammaln

    a = np.asarray(a, dtype=np.float64)
    return gammaln(a.sum()) - gammaln(a).sum() + ((a - 1) * np.log(p)).sum(-1)


def dirichlet_bayes_rule(p: np.ndarray, concentrations=DIRICHLET_CONCENTRATIONS) -> np.ndarray:
    """argmax_k π_k f_k(p) (equal priors: the largest density)."""
    return np.stack([_log_dirichlet(p, a) for a in concentrations], -1).argmax(-1)


@functools.lru_cache(maxsize=16)
def dirichlet_bayes_accuracy(concentrations=DIRICHLET_CONCENTRATIONS, nodes: int = 2000) -> float:
    """∫ max_k π_k f_k(p) dp over the 2-simplex (three coordinates): midpoint rule with ``nodes``² points on the Duffy
    square, p = (u, (1 − u)v, (1 − u)(1 − v)), dp = (1 − u) du dv. Cached (``concentrations`` must be hashable:
    tuples)."""
    if any(len(a) != 3 for a in concentrations):
        raise ValueError("dirichlet_bayes_accuracy integrates over the 2-simplex: each concentration needs 3 entries")
    t = (np.arange(nodes) + 0.5) / nodes
    u, v = np.meshgrid(t, t, indexing="ij")
    p = np.stack([u, (1 - u) * v, (1 - u) * (1 - v)], -1)
    dens = np.stack([np.exp(_log_dirichlet(p, a)) for a in concentrations], -1) / len(concentrations)
    return float((dens.max(-1) * (1 - u)).sum() / nodes ** 2)


class Dirichlet2D:
    """``dirichlet-2d``: two equiprobable Dirichlet classes on the 2-simplex, embedded as x = √p on S² (module
    docstring); ``n_train`` training and ``n_test`` test points drawn with ``split_seed``. Reports the model's
    train/test accuracy beside the Bayes accuracy (quadrature, and the Bayes rule on this test sample), 1-NN and
    majority vote on the same split."""

    kind = "kernel-classification"
    trainer_keys = ()

    def __init__(self, *, n_train: int = 500, n_test: int = 2000, split_seed: int = 0):
        for name, v in (("n_train", n_train), ("n_test", n_test)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 2:
                raise ValueError(f"{name} must be an int >= 2; got {v!r}")
        self.n_train, self.n_test, self.split_seed = n_train, n_test, split_seed

    def model_defaults(self) -> dict[str, Any]:
        return {}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def splits(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(self.split_seed)
        return {"train": dirichlet_data(self.n_train, rng), "test": dirichlet_data(self.n_test, rng)}

    def run(self, model: Any, trainer: Any) -> dict[str, float]:
        s = self.splits()
        (x, y, _), (xt, yt, pt) = s["train"], s["test"]
        model.fit(x, y)
        nearest = np.argmin(((xt[:, None, :] - x[None, :, :]) ** 2).sum(-1), 1)
        return {"test_accuracy": float((model.predict(xt) == yt).mean()),
                "train_accuracy": float((model.predict(x) == y).mean()),
                "bayes_accuracy": dirichlet_bayes_accuracy(),
                "bayes_test_accuracy": float((dirichlet_bayes_rule(pt) == yt).mean()),
                "nearest_neighbor_accuracy": float((y[nearest] == yt).mean()),
                "majority_vote_accuracy": float((np.bincount(y, minlength=2).argmax() == yt).mean())}
