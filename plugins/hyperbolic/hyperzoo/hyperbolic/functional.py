r"""Poincaré-ball operations with curvature ``c > 0`` (the ball ``{x : c‖x‖² < 1}`` of radius ``1/√c``).

Names follow geoopt's (``mobius_add``, ``expmap0``, ``logmap0``, ``expmap``, ``logmap``, ``dist``, ``dist0``,
``project``, ``gyration``, ``parallel_transport``, ``mobius_scalar_mul``, ``mobius_matvec``, ...), but the
curvature is passed as ``c=`` (geoopt's ``k = -c``). ``c`` may be a float or a tensor (learnable); it is cast to
the input's dtype and device, so a float32 curvature never meets float64 points (HypLL#62).

Numerics (the reason this module exists). Every formula is written in terms of the conformal denominator

    δ(x) = 1 − c‖x‖²       (λ_x = 2 / δ(x))

and that quantity is computed accurately: near the boundary ``1 − c‖x‖²`` cancels catastrophically in the
input's precision (at ‖x‖ = 1 − 2⁻²⁴ a float32 sum of squares has no correct digit of it left), so for float32 rows
with ``c‖x‖² > 1/2`` the sum of squares is recomputed in float64 from the stored float32 components (each square
and the sum are then exact to ~1e-16) and δ is rounded once back to float32. The value is exact; the gradient
is the analytic ``−2c x`` (straight-through). On CUDA the whole sum runs in float64 (no host sync).

The identities used so nothing else cancels (all terms non-negative):

    δ(x ⊕ y)·D = δ(x) δ(y)      with  D = 1 + 2c⟨x,y⟩ + c²‖x‖²‖y‖² = δ(x)δ(y) + c‖x + y‖²
    x ⊕ y = (δ(x)(x + y) + c‖x + y‖² x) / D
    d(x, y) = (1/√c) arcosh(1 + 2c‖x − y‖² / (δ(x) δ(y))),  arcosh(1 + z) = log1p(z + √(z² + 2z))
    artanh(r) = log1p(r) − ½ log(1 − r²)   with 1 − r² = δ taken from the accurate value

Clamps (documented, the only ones): outputs are kept strictly inside the ball by scaling any point whose norm
exceeds ``r_max/√c`` with ``r_max = 1 − 2·eps(dtype)`` (float32: 1 − 2⁻²², float64: 1 − 2⁻⁵¹) back to that
radius; this moves a point by at most 2 ulps and only where the exact result is closer to the boundary than
the dtype can represent (e.g. ``tanh`` of a tangent norm above ~8 in float32). Divisions by a norm use
``max(‖v‖, tiny)`` (``tiny`` = the dtype's smallest normal), which only matters at exactly zero. Inputs outside
the ball (or NaN) raise :class:`BallError` naming the operation and how to fix it; ``project(x, c=c)`` maps them
in when the caller asks for it explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = [
    "BallError", "curvature", "conformal_denominator", "lambda_x", "project", "check_point",
    "mobius_add", "mobius_sub", "mobius_scalar_mul", "mobius_matvec", "gyration", "parallel_transport",
    "parallel_transport0", "expmap0", "logmap0", "expmap", "logmap", "dist", "dist0", "artanh_from",
    "midpoint", "frechet_mean", "beta_concat", "beta_split", "beta_ratio", "norm_max",
]


class BallError(ValueError):
    """Points that should lie in the Poincaré ball do not (or are NaN)."""


# -- curvature and the accurate conformal denominator --------------------------------------------------------------
def curvature(c: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``c`` as a tensor in ``like``'s dtype and device; raises unless every value is finite and ``> 0``."""
    if isinstance(c, torch.Tensor):
        if c.is_complex() or not c.is_floating_point():
            c = c.to(like.dtype)
        bad = not bool(torch.isfinite(c).all() and (c > 0).all())
        value = c.detach().flatten()[:4].tolist()
        c = c.to(dtype=like.dtype, device=like.device)
    else:
        value = c
        bad = not (isinstance(c, (int, float)) and math.isfinite(c) and c > 0)
        c = torch.tensor(float(c) if not bad else 1.0, dtype=like.dtype, device=like.device)
    if bad:
        raise ValueError(f"curvature c must be finite and > 0 (the ball has radius 1/sqrt(c)); got {value!r}. "
                         "For a learnable curvature parametrise it, e.g. c = softplus(raw).")
    return c


def _check_float(x: torch.Tensor, name: str, op: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{op}: {name} must be a floating-point tensor (float32 or float64), got {x.dtype}")
    if x.dim() == 0:
        raise ValueError(f"{op}: {name} must have at least one dimension (the vector dimension), got a scalar")


def _sqnorm(x: torch.Tensor, dim: int) -> torch.Tensor:
    return (x * x).sum(dim, keepdim=True) if dim not in (-1, x.dim() - 1) else \
        torch.einsum("...i,...i->...", x, x).unsqueeze(-1)


def conformal_denominator(x: torch.Tensor, c: torch.Tensor, dim: int = -1, *, op: str = "hyperbolic",
                          check: bool = True) -> torch.Tensor:
    """δ(x) = 1 − c‖x‖² (keepdim), accurate to the dtype's precision even at the boundary (see the module doc).

    Raises :class:`BallError` when ``check`` and some point is on/outside the ball or NaN.
    """
    s = _sqnorm(x, dim)
    den = 1 - c * s
    if x.dtype in (torch.float32, torch.float16, torch.bfloat16):
        if x.device.type == "cpu":
            near = (c * s.detach() > 0.5).squeeze(dim if dim in (-1, x.dim() - 1) else dim)
            if bool(near.any()):
                xd = x.detach()
                cd = c.detach().double() if c.dim() == 0 else None
                rows = xd.movedim(dim, -1)[near].double()
                exact = torch.einsum("ni,ni->n", rows, rows)
                cc = cd if cd is not None else c.detach().double().expand(den.movedim(dim, -1).shape[:-1])[near]
                fixed = den.detach().movedim(dim, -1).clone()
                fixed[near] = (1 - cc * exact).to(x.dtype).unsqueeze(-1)
                den = den + (fixed.movedim(-1, dim) - den.detach())
        else:
            xd = x.detach().double()
            exact = 1 - c.detach().double() * _sqnorm(xd, dim)
            den = den + (exact.to(x.dtype) - den.detach())
    if check and not bool((den.detach() > 0).all()):
        bad = (~(den.detach() > 0)).sum().item()
        raise BallError(f"{op}: {bad} point(s) lie on or outside the Poincaré ball of curvature c (‖x‖ ≥ 1/√c) "
                        "or are NaN. Map points into the ball with hyperzoo.hyperbolic.project(x, c=c) (explicit "
                        "projection) or produce them with expmap0.")
    return den


def check_point(x: torch.Tensor, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """Raise :class:`BallError` unless every point of ``x`` lies strictly inside the ball; returns ``x``."""
    _check_float(x, "x", "check_point")
    conformal_denominator(x, curvature(c, x), dim, op="check_point")
    return x


def lambda_x(x: torch.Tensor, *, c: float | torch.Tensor = 1.0, keepdim: bool = False, dim: int = -1) -> torch.Tensor:
    """Conformal factor λ_x = 2 / (1 − c‖x‖²)."""
    _check_float(x, "x", "lambda_x")
    lam = 2 / conformal_denominator(x, curvature(c, x), dim, op="lambda_x")
    return lam if keepdim else lam.squeeze(dim)


def norm_max(dtype: torch.dtype) -> float:
    """The largest radius (times √c) outputs are allowed: 1 − 2·eps(dtype) (float32: 1 − 2⁻²²)."""
    return 1.0 - 2.0 * torch.finfo(dtype).eps


def _tiny(x: torch.Tensor) -> float:
    return torch.finfo(x.dtype).tiny


def _keep_inside(y: torch.Tensor, c: torch.Tensor, dim: int) -> torch.Tensor:
    """Scale rows whose norm exceeds r_max/√c back to that radius (the documented output clamp)."""
    rmax = norm_max(y.dtype)
    n = _sqnorm(y, dim).clamp_min(_tiny(y)).sqrt()
    limit = rmax / c.sqrt()
    return torch.where(n > limit, y * (limit / n), y)


def project(x: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1, eps: float | None = None) -> torch.Tensor:
    """Explicit projection into the ball: rows with ‖x‖ > (1 − eps)/√c are scaled to that radius.

    ``eps`` defaults to 2·eps(dtype) (the tightest radius every later op keeps strictly inside). NaN rows raise.
    """
    _check_float(x, "x", "project")
    c = curvature(c, x)
    if not bool(torch.isfinite(x).all()):
        raise BallError("project: x holds NaN or Inf; there is no point of the ball to project it to")
    limit = (norm_max(x.dtype) if eps is None else 1.0 - eps) / c.sqrt()
    n = _sqnorm(x, dim).clamp_min(_tiny(x)).sqrt()
    return torch.where(n > limit, x * (limit / n), x)


# -- artanh / tanh pieces --------------------------------------------------------------------------------------------
def artanh_from(r: torch.Tensor, one_minus_r2: torch.Tensor) -> torch.Tensor:
    """artanh(r) for 0 ≤ r < 1 given an accurate 1 − r²: log1p(r) − ½ log(1 − r²) (atanh itself for r < ½)."""
    big = torch.log1p(r) - 0.5 * torch.log(one_minus_r2.clamp_min(_tiny(r)))
    return torch.where(r < 0.5, torch.atanh(r.clamp_max(0.5)), big)


def _norm(v: torch.Tensor, dim: int) -> torch.Tensor:
    return _sqnorm(v, dim).clamp_min(_tiny(v)).sqrt()


def _tanh_over(rho: torch.Tensor) -> torch.Tensor:
    """tanh(ρ)/ρ (→ 1 at 0)."""
    return torch.where(rho < 1e-4, 1 - rho * rho / 3, torch.tanh(rho) / rho.clamp_min(1e-4))


# -- exponential / logarithmic maps ---------------------------------------------------------------------------------
def expmap0(u: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """exp₀(u) = tanh(√c‖u‖) u / (√c‖u‖), kept strictly inside the ball."""
    _check_float(u, "u", "expmap0")
    c = curvature(c, u)
    sc = c.sqrt()
    rho = sc * _norm(u, dim)
    return _keep_inside(_tanh_over(rho) * u, c, dim)


def logmap0(y: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """log₀(y) = artanh(√c‖y‖) y / (√c‖y‖)."""
    _check_float(y, "y", "logmap0")
    c = curvature(c, y)
    den = conformal_denominator(y, c, dim, op="logmap0")
    r = c.sqrt() * _norm(y, dim)
    return artanh_from(r, den) / r * y


def dist0(x: torch.Tensor, *, c: float | torch.Tensor = 1.0, keepdim: bool = False, dim: int = -1) -> torch.Tensor:
    """d(0, x) = (2/√c) artanh(√c‖x‖)."""
    _check_float(x, "x", "dist0")
    c = curvature(c, x)
    den = conformal_denominator(x, c, dim, op="dist0")
    r = c.sqrt() * _norm(x, dim)
    d = 2 / c.sqrt() * artanh_from(r, den)
    return d if keepdim else d.squeeze(dim)


def _add(x: torch.Tensor, y: torch.Tensor, c: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor,
         dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x ⊕ y and its D = δ(x)δ(y) + c‖x+y‖² (so δ(x ⊕ y) = δ(x)δ(y)/D)."""
    s = x + y
    q = _sqnorm(s, dim)
    big_d = dx * dy + c * q
    return (dx * s + c * q * x) / big_d, big_d


def mobius_add(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """Möbius addition x ⊕ y = ((1 + 2c⟨x,y⟩ + c‖y‖²) x + (1 − c‖x‖²) y) / (1 + 2c⟨x,y⟩ + c²‖x‖²‖y‖²),
    evaluated as (δ(x)(x + y) + c‖x + y‖² x) / (δ(x)δ(y) + c‖x + y‖²) (no cancellation)."""
    _check_float(x, "x", "mobius_add")
    _check_float(y, "y", "mobius_add")
    c = curvature(c, x)
    dx = conformal_denominator(x, c, dim, op="mobius_add (x)")
    dy = conformal_denominator(y, c, dim, op="mobius_add (y)")
    out, _ = _add(x, y, c, dx, dy, dim)
    return _keep_inside(out, c, dim)


def mobius_sub(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """x ⊖ y = x ⊕ (−y)."""
    return mobius_add(x, -y, c=c, dim=dim)


def dist(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0, keepdim: bool = False,
         dim: int = -1) -> torch.Tensor:
    """d(x, y) = (2/√c) artanh(√c‖(−x) ⊕ y‖) = (1/√c) arcosh(1 + 2c‖x − y‖² / (δ(x)δ(y)))."""
    _check_float(x, "x", "dist")
    _check_float(y, "y", "dist")
    c = curvature(c, x)
    dx = conformal_denominator(x, c, dim, op="dist (x)")
    dy = conformal_denominator(y, c, dim, op="dist (y)")
    z = 2 * c * _sqnorm(x - y, dim) / (dx * dy)
    d = torch.log1p(z + torch.sqrt(z * z + 2 * z + _tiny(z))) / c.sqrt()
    return d if keepdim else d.squeeze(dim)


def expmap(x: torch.Tensor, u: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """exp_x(u) = x ⊕ (tanh(√c λ_x ‖u‖ / 2) u / (√c‖u‖))."""
    _check_float(x, "x", "expmap")
    _check_float(u, "u", "expmap")
    c = curvature(c, x)
    dx = conformal_denominator(x, c, dim, op="expmap (x)")
    sc = c.sqrt()
    rho = sc * _norm(u, dim) / dx        # √c λ_x ‖u‖ / 2
    un = _norm(u, dim)
    w = _keep_inside(torch.tanh(rho) / (sc * un) * u, c, dim)
    dw = conformal_denominator(w, c, dim, op="expmap (step)", check=False).clamp_min(_tiny(w))
    out, _ = _add(x, w, c, dx, dw, dim)
    return _keep_inside(out, c, dim)


def logmap(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """log_x(y) = (2 / (√c λ_x)) artanh(√c‖w‖) w / ‖w‖,  w = (−x) ⊕ y,  with 1 − c‖w‖² = δ(x)δ(y)/D."""
    _check_float(x, "x", "logmap")
    _check_float(y, "y", "logmap")
    c = curvature(c, x)
    dx = conformal_denominator(x, c, dim, op="logmap (x)")
    dy = conformal_denominator(y, c, dim, op="logmap (y)")
    w, big_d = _add(-x, y, c, dx, dy, dim)
    sc = c.sqrt()
    wn = _norm(w, dim)
    r = (sc * wn).clamp_max(1.0)
    return dx / sc * artanh_from(r, dx * dy / big_d) / wn * w


def mobius_scalar_mul(r: torch.Tensor | float, x: torch.Tensor, *, c: float | torch.Tensor = 1.0,
                      dim: int = -1) -> torch.Tensor:
    """r ⊗ x = (1/√c) tanh(r artanh(√c‖x‖)) x / ‖x‖."""
    _check_float(x, "x", "mobius_scalar_mul")
    c = curvature(c, x)
    den = conformal_denominator(x, c, dim, op="mobius_scalar_mul")
    sc = c.sqrt()
    xn = _norm(x, dim)
    a = artanh_from(sc * xn, den)
    r = torch.as_tensor(r, dtype=x.dtype, device=x.device)
    return _keep_inside(torch.tanh(r * a) / (sc * xn) * x, c, dim)


def mobius_matvec(m: torch.Tensor, x: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """M ⊗ x = (1/√c) tanh(‖Mx‖/‖x‖ · artanh(√c‖x‖)) Mx / ‖Mx‖  (``m`` is (out, in), applied as x Mᵀ)."""
    from .ops.mobius_matvec import mobius_matvec as _mv

    return _mv(m, x, c=c, dim=dim)


def gyration(a: torch.Tensor, b: torch.Tensor, u: torch.Tensor, *, c: float | torch.Tensor = 1.0,
             dim: int = -1) -> torch.Tensor:
    """gyr[a, b] u = ⊖(a ⊕ b) ⊕ (a ⊕ (b ⊕ u)), in Ungar's closed form u + 2(A a + B b)/D with
    A = −c²⟨a,u⟩‖b‖² + c⟨b,u⟩ + 2c²⟨a,b⟩⟨b,u⟩, B = −c²⟨b,u⟩‖a‖² − c⟨a,u⟩, D = 1 + 2c⟨a,b⟩ + c²‖a‖²‖b‖²."""
    for n, t in (("a", a), ("b", b), ("u", u)):
        _check_float(t, n, "gyration")
    c = curvature(c, a)
    da = conformal_denominator(a, c, dim, op="gyration (a)")
    db = conformal_denominator(b, c, dim, op="gyration (b)")
    a2, b2 = _sqnorm(a, dim), _sqnorm(b, dim)
    ab = (a * b).sum(dim, keepdim=True)
    au = (a * u).sum(dim, keepdim=True)
    bu = (b * u).sum(dim, keepdim=True)
    c2 = c * c
    big_a = -c2 * au * b2 + c * bu + 2 * c2 * ab * bu
    big_b = -c2 * bu * a2 - c * au
    big_d = da * db + c * _sqnorm(a + b, dim)
    return u + 2 * (big_a * a + big_b * b) / big_d


def parallel_transport(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor, *, c: float | torch.Tensor = 1.0,
                       dim: int = -1) -> torch.Tensor:
    """P_{x→y}(v) = gyr[y, −x] v · λ_x / λ_y = gyr[y, −x] v · δ(y) / δ(x)."""
    cc = curvature(c, x)
    dx = conformal_denominator(x, cc, dim, op="parallel_transport (x)")
    dy = conformal_denominator(y, cc, dim, op="parallel_transport (y)")
    return gyration(y, -x, v, c=cc, dim=dim) * dy / dx


def parallel_transport0(y: torch.Tensor, v: torch.Tensor, *, c: float | torch.Tensor = 1.0,
                        dim: int = -1) -> torch.Tensor:
    """P_{0→y}(v) = v · λ_0/λ_y = v · δ(y)."""
    _check_float(y, "y", "parallel_transport0")
    cc = curvature(c, y)
    return v * conformal_denominator(y, cc, dim, op="parallel_transport0")


# -- means -----------------------------------------------------------------------------------------------------------
def midpoint(x: torch.Tensor, weights: torch.Tensor | None = None, *, c: float | torch.Tensor = 1.0,
             reducedim: int | Sequence[int] = 0, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """Weighted Möbius gyromidpoint (= the Einstein midpoint of the Klein model, mapped back):

        m = ½ ⊗ ( Σᵢ wᵢ λᵢ xᵢ / Σᵢ wᵢ (λᵢ − 1) ),   ½ ⊗ y = y / (1 + √(1 − c‖y‖²))

    over the dimensions ``reducedim`` (``dim`` is the vector dimension). Weights broadcast against ``x`` without
    its vector dimension and must be ≥ 0 with a positive sum.
    """
    from .ops.midpoint import midpoint as _mid

    return _mid(x, weights, c=c, reducedim=reducedim, dim=dim, keepdim=keepdim)


def frechet_mean(x: torch.Tensor, weights: torch.Tensor | None = None, *, c: float | torch.Tensor = 1.0,
                 iters: int = 50, tol: float | None = None) -> torch.Tensor:
    """Iterative (Karcher-flow) Fréchet mean argmin_μ Σᵢ wᵢ d(μ, xᵢ)² of points ``x`` (N, d):

        μ ← exp_μ( η Σᵢ wᵢ log_μ(xᵢ) / Σᵢ wᵢ ),   η = 1 / Σᵢ w̃ᵢ √c dᵢ coth(√c dᵢ),   started at the gyromidpoint,

(η is the inverse of the largest Hessian eigenvalue of ½ Σ w̃ d², so the step never overshoots; the plain
unit step diverges once the points are ~2/√c apart),

    until the tangent step is below ``tol`` (default: 1e3·eps(dtype)) or ``iters`` steps. Differentiable through
    the iterations (autograd); for comparison with :func:`midpoint` (the Poincaré ResNet paper's point).
    """
    _check_float(x, "x", "frechet_mean")
    if x.dim() != 2:
        raise ValueError(f"frechet_mean: x must be (N, d) points, got shape {tuple(x.shape)}")
    cc = curvature(c, x)
    w = torch.ones(x.shape[0], dtype=x.dtype, device=x.device) if weights is None else weights.to(x.dtype)
    w = (w / w.sum()).unsqueeze(-1)
    mu = midpoint(x, w.squeeze(-1), c=cc, reducedim=0)
    tol = 1e3 * torch.finfo(x.dtype).eps if tol is None else tol
    for _ in range(iters):
        step = (w * logmap(mu.unsqueeze(0), x, c=cc)).sum(0)
        sd = (cc.sqrt() * dist(mu.unsqueeze(0), x, c=cc)).clamp_min(1e-6)
        eta = 1 / (w.squeeze(-1) * sd / torch.tanh(sd)).sum()
        step = eta * step
        mu = expmap(mu, step, c=cc)
        if float(step.detach().norm()) < tol:
            break
    return mu


# -- β-concatenation / β-split (HNN++) -------------------------------------------------------------------------------
def beta_ratio(n: int, n_i: int) -> float:
    """B(n/2, ½) / B(nᵢ/2, ½) (HNN++ eq. 13), via log-gamma so large n do not overflow."""
    def logb(a: float) -> float:
        return math.lgamma(a) + math.lgamma(0.5) - math.lgamma(a + 0.5)

    return math.exp(logb(n / 2) - logb(n_i / 2))


def beta_concat(xs: Sequence[torch.Tensor], *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """β-concatenation (HNN++): v = concat_i( β_n/β_{nᵢ} · log₀(xᵢ) ), output exp₀(v), n = Σ nᵢ,
    β_k = B(k/2, ½). Keeps the expected tangent norm of concatenated coordinates unchanged."""
    if not xs:
        raise ValueError("beta_concat: needs at least one tensor")
    n = sum(int(x.shape[dim]) for x in xs)
    cc = curvature(c, xs[0])
    parts = [logmap0(x, c=cc, dim=dim) * beta_ratio(n, int(x.shape[dim])) for x in xs]
    return expmap0(torch.cat(parts, dim), c=cc, dim=dim)


def beta_split(x: torch.Tensor, sizes: Sequence[int], *, c: float | torch.Tensor = 1.0,
               dim: int = -1) -> list[torch.Tensor]:
    """β-split (HNN++), the inverse of :func:`beta_concat`: split log₀(x) into ``sizes``, scale each part by
    β_{nᵢ}/β_n and map it back with exp₀."""
    n = int(x.shape[dim])
    if sum(sizes) != n:
        raise ValueError(f"beta_split: sizes {list(sizes)} sum to {sum(sizes)}, but x has {n} coordinates")
    cc = curvature(c, x)
    v = logmap0(x, c=cc, dim=dim)
    return [expmap0(p / beta_ratio(n, int(p.shape[dim])), c=cc, dim=dim) for p in v.split(list(sizes), dim)]
