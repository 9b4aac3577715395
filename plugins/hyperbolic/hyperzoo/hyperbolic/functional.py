r"""Poincaré-ball operations with curvature ``c > 0`` (the ball ``{x : c‖x‖² < 1}`` of radius ``1/√c``).

Names follow geoopt's (``mobius_add``, ``expmap0``, ``logmap0``, ``expmap``, ``logmap``, ``dist``, ``dist0``,
``project``, ``gyration``, ``parallel_transport``, ``mobius_scalar_mul``, ``mobius_matvec``, ...), but the
curvature is passed as ``c=`` (geoopt's ``k = -c``). ``c`` may be a float or a tensor (learnable); it is cast to
the input's dtype and device, so a float32 curvature never meets float64 points (HypLL#62).

Numerics (the reason this module exists). Every formula is written in terms of the conformal denominator

    δ(x) = 1 − c‖x‖²       (λ_x = 2 / δ(x))

and that quantity is computed accurately: near the boundary ``1 − c‖x‖²`` cancels catastrophically in the
input's precision (at ‖x‖ = 1 − 2⁻²⁴ a float32 sum of squares has no correct digit of it left), so for float32 rows
with ``c‖x‖² > 0.9`` the sum of squares is recomputed in float64 from the stored float32 components (each square
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
    "cdist", "mobius_add", "mobius_sub", "mobius_scalar_mul", "mobius_matvec", "gyration", "parallel_transport",
    "parallel_transport0", "expmap0", "logmap0", "expmap", "logmap", "dist", "dist0", "artanh_from",
    "midpoint", "frechet_mean", "beta_concat", "beta_split", "beta_ratio", "norm_max",
]


class BallError(ValueError):
    """Points that should lie in the Poincaré ball do not (or are NaN)."""


# -- curvature and the accurate conformal denominator --------------------------------------------------------------
def _sqrt(c: float | torch.Tensor) -> float | torch.Tensor:
    """√c of a curvature (a float or a tensor)."""
    return math.sqrt(c) if isinstance(c, float) else c.sqrt()


def curvature(c: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor | float:
    """``c`` checked (finite, > 0): a Python float for a number or a 0-dim tensor that needs no grad (fast scalar
    arithmetic), else a tensor in ``like``'s dtype and device (a learnable curvature keeps its graph)."""
    if type(c) is float and math.isfinite(c) and c > 0:
        return c
    if isinstance(c, torch.Tensor):
        if c.is_complex() or not c.is_floating_point():
            c = c.to(like.dtype)
        bad = not bool(torch.isfinite(c).all() and (c > 0).all())
        value = c.detach().flatten()[:4].tolist()
        if not bad and c.numel() == 1 and c.dim() == 0 and not c.requires_grad:
            # cast to the input's dtype first (a float32 curvature meets float64 points as float32's value)
            return float(c.to(like.dtype))
        c = c.to(dtype=like.dtype, device=like.device)
    else:
        value = c
        bad = not (isinstance(c, (int, float)) and math.isfinite(c) and c > 0)
        if not bad:
            return float(c)
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


def _last(x: torch.Tensor, dim: int) -> bool:
    return dim in (-1, x.dim() - 1)


class _RowDot(torch.autograd.Function):
    """⟨a, b⟩ over the last dimension by a batched product (b of a's shape, or one row (1, d) for all rows);
    backward by broadcasting (the autograd of einsum / mm runs tiny-matrix products, ~10x slower on CPU)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        if b.shape == a.shape:
            return torch.einsum("...i,...i->...", a, b).unsqueeze(-1)
        return (a.reshape(-1, a.shape[-1]) @ b.reshape(-1)).reshape(*a.shape[:-1], 1)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g * b if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = g * a if b.shape == a.shape else \
                (g.reshape(1, -1) @ a.reshape(-1, a.shape[-1])).reshape(b.shape)
        return ga, gb


def _dot(a: torch.Tensor, b: torch.Tensor, dim: int) -> torch.Tensor:
    """Row-wise ⟨a, b⟩ (keepdim); a batched product for the last dimension (no full-size temporary)."""
    if _last(a, dim) and _last(b, dim):
        if a.shape == b.shape:
            if torch.is_grad_enabled() and (a.requires_grad or b.requires_grad):
                return _RowDot.apply(a, b)
            return torch.einsum("...i,...i->...", a, b).unsqueeze(-1)
        if b.dim() == 2 and b.shape[0] == 1 and a.shape[-1] == b.shape[-1]:      # rows · one vector
            return _RowDot.apply(a, b)
        if a.dim() == 2 and a.shape[0] == 1 and a.shape[-1] == b.shape[-1]:
            return _RowDot.apply(b, a)
    return (a * b).sum(dim, keepdim=True)


def _sqnorm(x: torch.Tensor, dim: int) -> torch.Tensor:
    return _dot(x, x, dim)


def _low(x: torch.Tensor) -> bool:
    return x.dtype in (torch.float32, torch.float16, torch.bfloat16)


def _fix_rows(value: torch.Tensor, mask: torch.Tensor, exact_fn, dim: int) -> torch.Tensor:
    """``value`` (keepdim row quantity) with the rows in ``mask`` replaced by ``exact_fn(index)`` (float64, rounded
    once to the dtype); the gradient stays that of ``value`` (the same function, computed less exactly).
    ``index`` holds flat row numbers (one ``nonzero``); when more than an eighth of the rows need it, every row is
    recomputed (cheaper than gathering)."""
    v = value.movedim(dim, -1)
    flat = v.reshape(-1)
    idx = mask.reshape(-1).nonzero().squeeze(1)
    if idx.numel() == 0:
        return value
    if idx.numel() * 8 > flat.numel():
        fixed = exact_fn(None).to(value.dtype).reshape(flat.shape)
        out = flat + (fixed - flat.detach())
    else:
        cur = flat.index_select(0, idx)
        new = cur + (exact_fn(idx).to(value.dtype) - cur.detach())
        out = flat.index_put((idx,), new)
    return out.reshape(v.shape).movedim(-1, dim)


def _rows64(t: torch.Tensor, idx: torch.Tensor | None, dim: int) -> torch.Tensor:
    """Rows (flat numbers ``idx``, or all for None) of ``t``'s points along ``dim``, in float64."""
    t = t.detach().movedim(dim, -1)
    t = t.reshape(-1, t.shape[-1])
    return (t if idx is None else t.index_select(0, idx)).double()


def _cval(c, idx: torch.Tensor | None, shape) -> torch.Tensor | float:
    if isinstance(c, torch.Tensor) and c.dim() > 0:
        cc = c.detach().double().expand(shape).reshape(-1)
        return cc if idx is None else cc.index_select(0, idx)
    return float(c)


NEAR = 0.9   # rows with c‖x‖² above this get δ from a float64 sum (float32 error of δ there: ~d·6e-8/δ ≤ 1e-5)


def conformal_denominator(x: torch.Tensor, c, dim: int = -1, *, op: str = "hyperbolic", check: bool = True,
                          sq: torch.Tensor | None = None) -> torch.Tensor:
    """δ(x) = 1 − c‖x‖² (keepdim), accurate to the dtype's precision even at the boundary (see the module doc).

    Raises :class:`BallError` when ``check`` and some point is on/outside the ball or NaN. ``sq`` is ‖x‖²
    when the caller has it already.
    """
    c = curvature(c, x)
    s = _sqnorm(x, dim) if sq is None else sq
    den = 1 - c * s
    if _low(x):
        if x.device.type == "cpu":
            near = (c * s.detach() > NEAR).movedim(dim, -1).squeeze(-1)

            def exact(m):
                rows = _rows64(x, m, dim)
                return 1 - _cval(c, m, near.shape) * torch.einsum("ni,ni->n", rows, rows)
            den = _fix_rows(den, near, exact, dim)
        else:
            exact = 1 - (c.detach().double() if isinstance(c, torch.Tensor) else float(c)) * \
                _sqnorm(x.detach().double(), dim)
            den = den + (exact.to(x.dtype) - den.detach())
    if check and not bool((den.detach() > 0).all()):
        bad = (~(den.detach() > 0)).sum().item()
        raise BallError(f"{op}: {bad} point(s) lie on or outside the Poincaré ball of curvature c (‖x‖ ≥ 1/√c) "
                        "or are NaN. Map points into the ball with hyperzoo.hyperbolic.project(x, c=c) (explicit "
                        "projection) or produce them with expmap0.")
    return den


def _pair_sq(x: torch.Tensor, y: torch.Tensor, sx, sy, xy, sign: float, dim: int) -> torch.Tensor:
    """‖x + sign·y‖² from the row sums, recomputed from the explicit difference where it cancels."""
    q = sx + sy + (2 * sign) * xy
    shape = torch.broadcast_shapes(x.shape, y.shape)
    if x.shape != y.shape and _last(x, dim):          # one side broadcast (e.g. a batch mean): the explicit sum
        return _sqnorm(x + sign * y, dim).clamp_min(0)
    bad = (q.detach() < 0.01 * (sx.detach() + sy.detach())).expand(*shape[:-1], 1) if _last(x, dim) else None
    if bad is None:
        return _sqnorm(x + sign * y, dim).clamp_min(0) + 0 * q
    bad = bad.squeeze(-1)

    def exact(m):
        d = _rows64(x.expand(shape), m, -1) + sign * _rows64(y.expand(shape), m, -1)
        return torch.einsum("ni,ni->n", d, d)
    return _fix_rows(q.expand(*shape[:-1], 1), bad, exact, -1).clamp_min(0)


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


def _keep_inside(y: torch.Tensor, c, dim: int, rmax: float | None = None) -> torch.Tensor:
    """Scale rows whose (exact) norm exceeds rmax/√c back to that radius (the documented output clamp).

    Candidates are the rows with c‖y‖² > 0.99 in the dtype's own arithmetic; their norm is recomputed in float64
    so no row slips past the test by rounding. Rows that need no change are returned as they are (no copy).
    """
    rmax = norm_max(y.dtype) if rmax is None else rmax
    s = _sqnorm(y.detach(), dim)
    cand = (c * s > min(0.99, rmax * rmax) if not isinstance(c, torch.Tensor) else c.detach() * s > 0.99)
    cand = cand.movedim(dim, -1).squeeze(-1)
    idx = cand.reshape(-1).nonzero().squeeze(1)
    if idx.numel() == 0:
        return y
    rows = _rows64(y, idx, dim)
    cs = _cval(c, idx, cand.shape) * torch.einsum("ni,ni->n", rows, rows)
    over = cs > rmax * rmax
    if not bool(over.any()):
        return y
    factor = torch.ones(cand.numel(), dtype=torch.float64, device=y.device)
    factor[idx] = torch.where(over, rmax / cs.sqrt(), torch.ones_like(cs))
    factor = factor.to(y.dtype).reshape(cand.shape).unsqueeze(-1).movedim(-1, dim)
    return y * factor


def project(x: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1, eps: float | None = None) -> torch.Tensor:
    """Explicit projection into the ball: rows with ‖x‖ > (1 − eps)/√c are scaled to that radius.

    ``eps`` defaults to 2·eps(dtype) (the tightest radius every later op keeps strictly inside). NaN rows raise.
    """
    _check_float(x, "x", "project")
    c = curvature(c, x)
    if not bool(torch.isfinite(x).all()):
        raise BallError("project: x holds NaN or Inf; there is no point of the ball to project it to")
    if eps is None:
        return _keep_inside(x, c, dim)
    limit = (1.0 - eps) / _sqrt(c)
    n = _sqnorm(x, dim).clamp_min(_tiny(x)).sqrt()
    return torch.where(n > limit, x * (limit / n), x)


# -- artanh / tanh pieces --------------------------------------------------------------------------------------------
def artanh_from(r: torch.Tensor, one_minus_r2: torch.Tensor) -> torch.Tensor:
    """artanh(r) for 0 ≤ r < 1 given an accurate δ = 1 − r²: ``atanh(r)`` where δ ≥ 0.1 (r ≤ 0.95, where the
    dtype's r is accurate enough), else log1p(r) − ½ log δ (exact in terms of δ, no cancellation)."""
    out = torch.atanh(r.clamp_max(norm_max(r.dtype)))
    shape = out.shape
    idx = (one_minus_r2.detach() < 0.1).expand(shape).reshape(-1).nonzero().squeeze(1)
    if idx.numel():
        rn = r.expand(shape).reshape(-1).index_select(0, idx)
        dn = one_minus_r2.expand(shape).reshape(-1).index_select(0, idx)
        out = out.reshape(-1).index_put((idx,), torch.log1p(rn) - 0.5 * torch.log(dn.clamp_min(_tiny(r))))
        out = out.reshape(shape)
    return out


def _norm(v: torch.Tensor, dim: int) -> torch.Tensor:
    return _sqnorm(v, dim).clamp_min(_tiny(v)).sqrt()


def _tanh_over(rho: torch.Tensor) -> torch.Tensor:
    """tanh(ρ)/ρ (→ 1 at 0; both are accurate to the last bits for small ρ, so no series is needed)."""
    rho = rho.clamp_min(_tiny(rho))
    return torch.tanh(rho) / rho


def _artanh_over(r: torch.Tensor, one_minus_r2: torch.Tensor) -> torch.Tensor:
    """artanh(r)/r (→ 1 at 0)."""
    rs = r.clamp_min(_tiny(r))
    return artanh_from(rs, one_minus_r2) / rs


def _artanh_norm(x: torch.Tensor, c, dim: int, op: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(r, artanh r) with r = √c‖x‖ (keepdim), in the fewest passes (CPU): atanh(r) for every row, then the rows
    with c‖x‖² > NEAR (or NaN) recomputed as log1p(r) − ½ log δ with δ from a float64 sum of squares (float32
    inputs), checked to be inside the ball. Same values and gradients as ``artanh_from(r, δ)``."""
    r = torch.linalg.vector_norm(x, dim=dim, keepdim=True)
    if not (isinstance(c, float) and c == 1.0):
        r = _sqrt(c) * r
    at = torch.atanh(r.clamp_max(norm_max(x.dtype)))
    shape = at.movedim(dim, -1).shape
    idx = (~(r.detach() <= NEAR ** 0.5)).movedim(dim, -1).reshape(-1).nonzero().squeeze(1)
    if idx.numel() == 0:
        return r, at
    csf = r.movedim(dim, -1).reshape(-1).index_select(0, idx) ** 2
    if _low(x):
        rows = _rows64(x, idx, dim)
        exact = (1 - _cval(c, idx, shape) * torch.einsum("ni,ni->n", rows, rows)).to(x.dtype)
    else:
        exact = 1 - csf.detach()
    if not bool((exact > 0).all()):
        bad = int((~(exact > 0)).sum())
        raise BallError(f"{op}: {bad} point(s) lie on or outside the Poincaré ball of curvature c (‖x‖ ≥ 1/√c) "
                        "or are NaN. Map points into the ball with hyperzoo.hyperbolic.project(x, c=c) (explicit "
                        "projection) or produce them with expmap0.")
    den = (1 - csf) + (exact - (1 - csf).detach())
    rn = r.movedim(dim, -1).reshape(-1).index_select(0, idx)
    fixed = torch.log1p(rn) - 0.5 * torch.log(den)
    at = at.movedim(dim, -1).reshape(-1).index_put((idx,), fixed).reshape(shape).movedim(-1, dim)
    return r, at


# -- exponential / logarithmic maps ---------------------------------------------------------------------------------
def expmap0(u: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """exp₀(u) = tanh(√c‖u‖) u / (√c‖u‖), kept strictly inside the ball."""
    _check_float(u, "u", "expmap0")
    c = curvature(c, u)
    rho = _sqrt(c) * _norm(u, dim)
    return _keep_inside(_tanh_over(rho) * u, c, dim)


def logmap0(y: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """log₀(y) = artanh(√c‖y‖) y / (√c‖y‖)."""
    _check_float(y, "y", "logmap0")
    c = curvature(c, y)
    if y.device.type == "cpu":
        r, at = _artanh_norm(y, c, dim, "logmap0")
        rs = r.clamp_min(_tiny(y))
        return (at / rs) * y
    s = _sqnorm(y, dim)
    den = conformal_denominator(y, c, dim, op="logmap0", sq=s)
    r = _sqrt(c) * s.clamp_min(_tiny(y)).sqrt()
    return _artanh_over(r, den) * y


def dist0(x: torch.Tensor, *, c: float | torch.Tensor = 1.0, keepdim: bool = False, dim: int = -1) -> torch.Tensor:
    """d(0, x) = (2/√c) artanh(√c‖x‖)."""
    _check_float(x, "x", "dist0")
    c = curvature(c, x)
    if x.device.type == "cpu":
        d = (2 / _sqrt(c)) * _artanh_norm(x, c, dim, "dist0")[1]
        return d if keepdim else d.squeeze(dim)
    s = _sqnorm(x, dim)
    den = conformal_denominator(x, c, dim, op="dist0", sq=s)
    r = _sqrt(c) * s.clamp_min(_tiny(x)).sqrt()
    d = 2 / _sqrt(c) * artanh_from(r, den)
    return d if keepdim else d.squeeze(dim)


def _add_coef(c, dx, dy, q):
    """x ⊕ y = a x + b y with a = (δ(x) + c‖x+y‖²)/D, b = δ(x)/D, D = δ(x)δ(y) + c‖x+y‖²."""
    big_d = dx * dy + c * q
    return (dx + c * q) / big_d, dx / big_d, big_d


def mobius_add(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """Möbius addition x ⊕ y = ((1 + 2c⟨x,y⟩ + c‖y‖²) x + (1 − c‖x‖²) y) / (1 + 2c⟨x,y⟩ + c²‖x‖²‖y‖²),
    evaluated as (δ(x)(x + y) + c‖x + y‖² x) / (δ(x)δ(y) + c‖x + y‖²) (no cancellation)."""
    _check_float(x, "x", "mobius_add")
    _check_float(y, "y", "mobius_add")
    c = curvature(c, x)
    sx, sy, xy = _sqnorm(x, dim), _sqnorm(y, dim), _dot(x, y, dim)
    dx = conformal_denominator(x, c, dim, op="mobius_add (x)", sq=sx)
    dy = conformal_denominator(y, c, dim, op="mobius_add (y)", sq=sy)
    a, b, _ = _add_coef(c, dx, dy, _pair_sq(x, y, sx, sy, xy, 1.0, dim))
    return _keep_inside(torch.addcmul(a * x, b, y), c, dim)


def mobius_sub(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """x ⊖ y = x ⊕ (−y)."""
    return mobius_add(x, -y, c=c, dim=dim)


def dist(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0, keepdim: bool = False,
         dim: int = -1) -> torch.Tensor:
    """d(x, y) = (2/√c) artanh(√c‖(−x) ⊕ y‖) = (1/√c) arcosh(1 + 2c‖x − y‖² / (δ(x)δ(y)))."""
    _check_float(x, "x", "dist")
    _check_float(y, "y", "dist")
    c = curvature(c, x)
    sx, sy, xy = _sqnorm(x, dim), _sqnorm(y, dim), _dot(x, y, dim)
    dx = conformal_denominator(x, c, dim, op="dist (x)", sq=sx)
    dy = conformal_denominator(y, c, dim, op="dist (y)", sq=sy)
    z = 2 * c * _pair_sq(x, y, sx, sy, xy, -1.0, dim) / (dx * dy)
    d = torch.log1p(z + torch.sqrt(z * z + 2 * z + _tiny(z))) / _sqrt(c)
    return d if keepdim else d.squeeze(dim)


def cdist(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """All pairwise distances (n, m) between points x (n, d) and y (m, d):
    (1/√c) arcosh(1 + 2c‖xᵢ − yⱼ‖²/(δ(xᵢ)δ(yⱼ))), with ‖xᵢ − yⱼ‖² from the Gram matrix (clamped at 0; for
    losses and rankings — use :func:`dist` on paired rows where nearly equal points need full relative accuracy)."""
    _check_float(x, "x", "cdist")
    _check_float(y, "y", "cdist")
    c = curvature(c, x)
    sx, sy = _sqnorm(x, -1), _sqnorm(y, -1)
    dx = conformal_denominator(x, c, -1, op="cdist (x)", sq=sx)
    dy = conformal_denominator(y, c, -1, op="cdist (y)", sq=sy)
    q = (sx + sy.t() - 2 * (x @ y.t())).clamp_min(0)
    z = 2 * c * q / (dx * dy.t())
    return torch.log1p(z + torch.sqrt(z * z + 2 * z + _tiny(z))) / _sqrt(c)


def expmap(x: torch.Tensor, u: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """exp_x(u) = x ⊕ (tanh(√c λ_x ‖u‖ / 2) u / (√c‖u‖)), with δ of the step = 1/cosh²(√c λ_x‖u‖/2)."""
    _check_float(x, "x", "expmap")
    _check_float(u, "u", "expmap")
    c = curvature(c, x)
    sx, su, xu = _sqnorm(x, dim), _sqnorm(u, dim), _dot(x, u, dim)
    dx = conformal_denominator(x, c, dim, op="expmap (x)", sq=sx)
    sc = _sqrt(c)
    un = su.clamp_min(_tiny(u)).sqrt()
    rho = sc * un / dx        # √c λ_x ‖u‖ / 2
    t = torch.tanh(rho) / (sc * un)                       # w = t u
    dw = (1 / torch.cosh(rho.clamp_max(40.0)) ** 2).clamp_min(_tiny(u))
    q = (sx + 2 * t * xu + t * t * su).clamp_min(0)
    cancel = (q.detach() < 0.01 * (sx.detach() + (t * t * su).detach())).movedim(dim, -1).squeeze(-1)

    def exact(m):
        tt = _rows64(t, m, dim)
        d = _rows64(x, m, dim) + tt * _rows64(u.expand_as(x) if u.shape != x.shape else u, m, dim)
        return torch.einsum("ni,ni->n", d, d)
    q = _fix_rows(q, cancel, exact, dim)
    a, b, _ = _add_coef(c, dx, dw, q)
    return _keep_inside(torch.addcmul(a * x, b * t, u), c, dim)


def logmap(x: torch.Tensor, y: torch.Tensor, *, c: float | torch.Tensor = 1.0, dim: int = -1) -> torch.Tensor:
    """log_x(y) = (2 / (√c λ_x)) artanh(√c‖w‖) w / ‖w‖,  w = (−x) ⊕ y,  with ‖w‖² = ‖y − x‖²/D and
    1 − c‖w‖² = δ(x)δ(y)/D."""
    _check_float(x, "x", "logmap")
    _check_float(y, "y", "logmap")
    c = curvature(c, x)
    sx, sy, xy = _sqnorm(x, dim), _sqnorm(y, dim), _dot(x, y, dim)
    dx = conformal_denominator(x, c, dim, op="logmap (x)", sq=sx)
    dy = conformal_denominator(y, c, dim, op="logmap (y)", sq=sy)
    q = _pair_sq(x, y, sx, sy, xy, -1.0, dim)
    a, b, big_d = _add_coef(c, dx, dy, q)                 # w = −a x + b y
    sc = _sqrt(c)
    r = sc * (q / big_d).clamp_min(_tiny(q)).sqrt()
    coef = dx * _artanh_over(r, dx * dy / big_d)          # (δ_x/√c) artanh(r)/‖w‖ = δ_x artanh(r)/r
    return torch.addcmul(-(coef * a) * x, coef * b, y)


def mobius_scalar_mul(r: torch.Tensor | float, x: torch.Tensor, *, c: float | torch.Tensor = 1.0,
                      dim: int = -1) -> torch.Tensor:
    """r ⊗ x = (1/√c) tanh(r artanh(√c‖x‖)) x / ‖x‖."""
    _check_float(x, "x", "mobius_scalar_mul")
    c = curvature(c, x)
    s = _sqnorm(x, dim)
    den = conformal_denominator(x, c, dim, op="mobius_scalar_mul", sq=s)
    sc = _sqrt(c)
    xn = s.clamp_min(_tiny(x)).sqrt()
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
    a2, b2, ab = _sqnorm(a, dim), _sqnorm(b, dim), _dot(a, b, dim)
    da = conformal_denominator(a, c, dim, op="gyration (a)", sq=a2)
    db = conformal_denominator(b, c, dim, op="gyration (b)", sq=b2)
    au, bu = _dot(a, u, dim), _dot(b, u, dim)
    c2 = c * c
    big_a = -c2 * au * b2 + c * bu + 2 * c2 * ab * bu
    big_b = -c2 * bu * a2 - c * au
    big_d = da * db + c * _pair_sq(a, b, a2, b2, ab, 1.0, dim)
    return u + 2 * (big_a * a + big_b * b) / big_d


def parallel_transport(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor, *, c: float | torch.Tensor = 1.0,
                       dim: int = -1) -> torch.Tensor:
    """P_{x→y}(v) = gyr[y, −x] v · λ_x / λ_y = gyr[y, −x] v · δ(y) / δ(x)."""
    cc = curvature(c, x)
    dx = conformal_denominator(x, cc, dim, op="parallel_transport (x)")
    dy = conformal_denominator(y, cc, dim, op="parallel_transport (y)")
    return gyration(y, -x, v, c=cc, dim=dim) * (dy / dx)


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
        sd = (_sqrt(cc) * dist(mu.unsqueeze(0), x, c=cc)).clamp_min(1e-6)
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
