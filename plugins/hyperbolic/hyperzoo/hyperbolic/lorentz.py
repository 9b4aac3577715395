r"""The Lorentz (hyperboloid) model of curvature −c and the maps to and from the Poincaré ball.

    H = {x ∈ R^{n+1} : ⟨x, x⟩_L = −1/c, x₀ > 0},   ⟨x, y⟩_L = −x₀y₀ + Σᵢ xᵢyᵢ,   origin o = (1/√c, 0, …, 0)

    d(x, y) = (1/√c) arcosh(−c⟨x, y⟩_L) = (1/√c) arcosh(1 + z),  z = (c/2)⟨x − y, x − y⟩_L ≥ 0
              (z from the difference while −c⟨x,y⟩_L ≤ 2, where the plain value cancels; −c⟨x,y⟩_L − 1 beyond,
              where the difference form cancels instead)
    exp₀(u) = (cosh(√c‖u‖)/√c, sinh(√c‖u‖) u/(√c‖u‖))            (u the spatial part of a tangent at o)
    log₀(x) = asinh(√c‖x_s‖)/√c · x_s/‖x_s‖                         (spatial part; the time part is 0)
    exp_x(u) = cosh(√c‖u‖_L) x + sinh(√c‖u‖_L) u/(√c‖u‖_L)
    log_x(y) = d(x, y) · (y + c⟨x, y⟩_L x)/‖y + c⟨x, y⟩_L x‖_L
    ball → hyperboloid: x ↦ ((1 + c‖x‖²)/(√c δ(x)), 2x/δ(x)),   hyperboloid → ball: y ↦ y_s/(1 + √c y₀)

The distance is model-invariant: d_L(to_lorentz(x), to_lorentz(y)) = d_B(x, y) (tested). arcosh(1 + z) is
evaluated as log1p(z + √(z² + 2z)) and z from the Minkowski norm of the difference (clamped at 0, its exact
value's lower bound), so close points keep their distance; log₀ uses asinh of the spatial norm (no cancellation
in arcosh(√c x₀)).
"""

from __future__ import annotations

import torch

from .functional import _check_float, _norm, _sqrt, _tiny, conformal_denominator, curvature

__all__ = ["lorentz_inner", "lorentz_dist", "lorentz_expmap0", "lorentz_logmap0", "lorentz_expmap",
           "lorentz_logmap", "lorentz_project", "poincare_to_lorentz", "lorentz_to_poincare", "lorentz_check"]


def lorentz_inner(x: torch.Tensor, y: torch.Tensor, *, keepdim: bool = False) -> torch.Tensor:
    """⟨x, y⟩_L = −x₀y₀ + Σ xᵢyᵢ over the last dimension."""
    prod = x * y
    out = prod[..., 1:].sum(-1, keepdim=True) - prod[..., :1]
    return out if keepdim else out.squeeze(-1)


def lorentz_check(x: torch.Tensor, c: float | torch.Tensor = 1.0, *, tol: float | None = None) -> torch.Tensor:
    """Raise unless x lies on the hyperboloid (|c⟨x,x⟩_L + 1| ≤ tol·(1 + c x₀²), x₀ > 0); returns x."""
    _check_float(x, "x", "lorentz_check")
    cc = curvature(c, x)
    tol = 100 * torch.finfo(x.dtype).eps if tol is None else tol
    err = (cc * lorentz_inner(x, x) + 1).abs() / (1 + cc * x[..., 0] ** 2)
    if not bool((err <= tol).all() and (x[..., 0] > 0).all()):
        raise ValueError("lorentz_check: points are not on the hyperboloid ⟨x,x⟩_L = −1/c with x₀ > 0; "
                         "use lorentz_project(x, c=c) to put them there")
    return x


def lorentz_project(x: torch.Tensor, *, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Put x on the hyperboloid by recomputing the time coordinate: x₀ = √(1/c + ‖x_s‖²)."""
    _check_float(x, "x", "lorentz_project")
    cc = curvature(c, x)
    xs = x[..., 1:]
    x0 = torch.sqrt(1 / cc + (xs * xs).sum(-1, keepdim=True))
    return torch.cat([x0, xs], -1)


def lorentz_dist(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0,
                 keepdim: bool = False) -> torch.Tensor:
    """Geodesic distance (1/√c) arcosh(1 + (c/2)⟨x − y, x − y⟩_L)."""
    _check_float(x, "x", "lorentz_dist")
    _check_float(y, "y", "lorentz_dist")
    cc = curvature(c, x)
    d = x - y
    inner = -cc * lorentz_inner(x, y, keepdim=True)                  # cosh(√c d)
    z_close = 0.5 * cc * lorentz_inner(d, d, keepdim=True)           # cosh − 1 without cancellation, near
    z = torch.where(inner > 2, inner - 1, z_close).clamp_min(0)      # ... and the plain value, far apart
    out = torch.log1p(z + torch.sqrt(z * z + 2 * z + _tiny(z))) / _sqrt(cc)
    return out if keepdim else out.squeeze(-1)


def lorentz_expmap0(u: torch.Tensor, *, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """exp₀ of the spatial tangent u (..., n) → a point (..., n + 1) on the hyperboloid."""
    _check_float(u, "u", "lorentz_expmap0")
    cc = curvature(c, u)
    sc = _sqrt(cc)
    un = _norm(u, -1)
    return torch.cat([torch.cosh(sc * un) / sc, torch.sinh(sc * un) / (sc * un) * u], -1)


def lorentz_logmap0(x: torch.Tensor, *, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """log₀ of points (..., n + 1) → spatial tangent (..., n): asinh(√c‖x_s‖)/√c · x_s/‖x_s‖."""
    _check_float(x, "x", "lorentz_logmap0")
    cc = curvature(c, x)
    sc = _sqrt(cc)
    xs = x[..., 1:]
    n = _norm(xs, -1)
    return torch.asinh(sc * n) / (sc * n) * xs


def lorentz_expmap(x: torch.Tensor, u: torch.Tensor, *, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """exp_x(u) for u tangent at x (⟨x, u⟩_L = 0): cosh(√c‖u‖_L) x + sinh(√c‖u‖_L) u/(√c‖u‖_L)."""
    _check_float(x, "x", "lorentz_expmap")
    cc = curvature(c, x)
    sc = _sqrt(cc)
    un = lorentz_inner(u, u, keepdim=True).clamp_min(_tiny(u)).sqrt()
    return torch.cosh(sc * un) * x + torch.sinh(sc * un) / (sc * un) * u


def lorentz_logmap(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """log_x(y) = d(x, y) · (y + c⟨x,y⟩_L x)/‖y + c⟨x,y⟩_L x‖_L."""
    cc = curvature(c, x)
    d = lorentz_dist(x, y, c=cc, keepdim=True)
    v = y + cc * lorentz_inner(x, y, keepdim=True) * x
    vn = lorentz_inner(v, v, keepdim=True).clamp_min(_tiny(v)).sqrt()
    return d * v / vn


def poincare_to_lorentz(x: torch.Tensor, *, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Ball → hyperboloid: ((1 + c‖x‖²)/(√c δ), 2x/δ), δ = 1 − c‖x‖² (accurate)."""
    _check_float(x, "x", "poincare_to_lorentz")
    cc = curvature(c, x)
    den = conformal_denominator(x, cc, -1, op="poincare_to_lorentz")
    return torch.cat([(2 - den) / (_sqrt(cc) * den), 2 * x / den], -1)


def lorentz_to_poincare(y: torch.Tensor, *, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Hyperboloid → ball: y_s / (1 + √c y₀), kept strictly inside the ball."""
    from .functional import _keep_inside

    _check_float(y, "y", "lorentz_to_poincare")
    cc = curvature(c, y)
    return _keep_inside(y[..., 1:] / (1 + _sqrt(cc) * y[..., :1]), cc, -1)
