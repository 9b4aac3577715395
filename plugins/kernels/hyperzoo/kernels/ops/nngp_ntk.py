"""``kernels.nngp_ntk``: analytic NNGP and NTK Gram blocks of a fully connected network (reference).

The network (NTK parameterisation, arXiv 1806.07572; Lee et al. 2019): ``depth`` hidden layers of width n → ∞,

    h¹ = σ_w/√d W¹ x + σ_b b¹,   h^{l+1} = σ_w/√n W^{l+1} φ(h^l) + σ_b b^{l+1},   f = h^{depth+1},

with W, b ~ N(0, 1). Its kernels follow the dual recursion, starting at Σ⁰(x, x') = σ_w² x·x'/d + σ_b², Θ⁰ = Σ⁰:

    Λ^l = [[Σ^{l-1}(x, x), Σ^{l-1}(x, x')], [Σ^{l-1}(x', x), Σ^{l-1}(x', x')]],  (u, v) ~ N(0, Λ^l)
    Σ^l(x, x')  = σ_w² E[φ(u) φ(v)] + σ_b²
    Σ̇^l(x, x')  = σ_w² E[φ'(u) φ'(v)]
    Θ^l(x, x')  = Θ^{l-1}(x, x') Σ̇^l(x, x') + Σ^l(x, x')

and NNGP = Σ^{depth}, NTK = Θ^{depth}. The Gaussian expectations have closed forms (the dual activations):

    ReLU (arc-cosine, Cho & Saul 2009), ρ = Σ₁₂/√(Σ₁₁Σ₂₂), θ = arccos ρ:
        E[φ(u)φ(v)] = √(Σ₁₁Σ₂₂) (sin θ + (π − θ) cos θ) / (2π),   E[φ'(u)φ'(v)] = (π − θ) / (2π)
    erf (arcsine, Williams 1997):
        E[φ(u)φ(v)] = (2/π) arcsin(2Σ₁₂ / √((1 + 2Σ₁₁)(1 + 2Σ₂₂))),
        E[φ'(u)φ'(v)] = (4/π) / √((1 + 2Σ₁₁)(1 + 2Σ₂₂) − 4Σ₁₂²)

Cost O(n₁ n₂ (d + depth)) time, O(n₁ n₂) memory per block. ``depth = 0`` is the linear model (Σ⁰, Θ⁰).
"""

from __future__ import annotations

import math

import torch

ACTIVATIONS = ("relu", "erf")


def check_inputs(x1: torch.Tensor, x2: torch.Tensor | None, depth: int, activation: str,
                 weight_variance: float, bias_variance: float) -> torch.Tensor:
    """Validate the arguments (shared by every backend); returns ``x2`` (``x1`` when None)."""
    if not isinstance(x1, torch.Tensor) or x1.dim() != 2:
        raise ValueError(f"x1 must be a 2-D tensor (n1, d); got {getattr(x1, 'shape', type(x1))}")
    x2 = x1 if x2 is None else x2
    if not isinstance(x2, torch.Tensor) or x2.dim() != 2:
        raise ValueError(f"x2 must be a 2-D tensor (n2, d); got {getattr(x2, 'shape', type(x2))}")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of features; got {x1.shape[1]} and {x2.shape[1]}")
    if not x1.is_floating_point() or x1.dtype != x2.dtype:
        raise ValueError(f"x1 and x2 must be floating point of one dtype; got {x1.dtype} and {x2.dtype}")
    for name, x in (("x1", x1), ("x2", x2)):
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinite values; clean or impute the inputs first")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be an int >= 0 (hidden layers); got {depth!r}")
    if not (weight_variance > 0 and math.isfinite(weight_variance)):
        raise ValueError(f"weight_variance must be a finite number > 0; got {weight_variance!r}")
    if not (bias_variance >= 0 and math.isfinite(bias_variance)):
        raise ValueError(f"bias_variance must be a finite number >= 0; got {bias_variance!r}")
    return x2


def _snap(rho: torch.Tensor, ulps: float = 4.0) -> torch.Tensor:
    """ρ clamped to [−1, 1], and ρ within ``ulps`` ulps of ±1 set to ±1: parallel points (x' = c·x) give such a ρ only
    by rounding, and near ±1 the kernels are ill-conditioned (ReLU's θ = arccos ρ moves by √ε; the erf NTK has a peak
    of width ~1/Σ there), so a rounding would make equal inputs in different memory layouts disagree."""
    tol = ulps * torch.finfo(rho.dtype).eps
    rho = rho.clamp(-1.0, 1.0)
    return torch.where(rho.detach().abs() >= 1.0 - tol, torch.sign(rho.detach()), rho)


def dual(activation: str, s11: torch.Tensor, s12: torch.Tensor, s22: torch.Tensor, *,
         ulps: float = 4.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(E[φ(u)φ(v)], E[φ'(u)φ'(v)]) for (u, v) ~ N(0, [[s11, s12], [s12, s22]]) (broadcasting); ``ulps``: how far
    from ±1 a rounded ρ is taken as ±1 (a float64 dot product of d terms is off by up to ~d ulps)."""
    if activation == "relu":
        # √Σ₁₁·√Σ₂₂ (not √(Σ₁₁Σ₂₂), which overflows or underflows at half the exponent range); a point with
        # Σ = 0 (x = 0 without bias) has k = 0 and ρ := 0
        norm = torch.sqrt(s11) * torch.sqrt(s22)
        pos = norm > 0
        rho = torch.where(pos, s12 / torch.where(pos, norm, torch.ones_like(norm)), torch.zeros_like(norm))
        rho = _snap(rho, ulps)
        # at |ρ| = 1 (coincident or antipodal points) arccos' and √(1−ρ²)' are infinite: the value stays exact and
        # the gradient through ρ is taken as 0 there (torch.where routes no gradient to the detached branch)
        edge = rho.detach().abs() >= 1.0
        rho = torch.where(edge, rho.detach(), rho)
        theta = torch.arccos(rho)
        k = norm * (torch.sqrt(((1.0 - rho) * (1.0 + rho)).clamp_min(0.0)) + (math.pi - theta) * rho) / (2 * math.pi)
        kdot = (math.pi - theta) / (2 * math.pi)
        return k, kdot
    # with (1+2Σ₁₁)(1+2Σ₂₂) − 4Σ₁₂² = 1 + 2Σ₁₁ + 2Σ₂₂ + 4Σ₁₁Σ₂₂(1 − ρ²), ρ = Σ₁₂/√(Σ₁₁Σ₂₂), its root is
    #   r = hypot(√(1 + 2Σ₁₁ + 2Σ₂₂), 2√Σ₁₁√Σ₂₂ √(1 − ρ²))
    # (no cancellation at ρ = ±1, where the direct difference loses every digit, and no overflow of the products);
    # E[φφ] = (2/π) arcsin(2Σ₁₂/√(…)) = (2/π) atan2(2Σ₁₂, r), E[φ'φ'] = (4/π)/r. At |ρ| = 1 the gradient through ρ
    # is taken as 0 (√(1 − ρ²)' is infinite there), as for ReLU.
    norm = torch.sqrt(s11) * torch.sqrt(s22)
    pos = norm > 0
    rho = torch.where(pos, s12 / torch.where(pos, norm, torch.ones_like(norm)), torch.zeros_like(norm))
    rho = _snap(rho, ulps)
    rho = torch.where(rho.detach().abs() >= 1.0, rho.detach(), rho)
    # 1 − ρ² as (1 − ρ)(1 + ρ): 1 − ρ is exact for ρ ≥ 1/2 (Sterbenz), 1 − ρ·ρ would carry ε of rounding
    sin_theta = torch.sqrt(((1.0 - rho) * (1.0 + rho)).clamp_min(0.0))
    r = torch.hypot(torch.sqrt(1.0 + 2.0 * s11 + 2.0 * s22), 2.0 * norm * sin_theta)
    # atan2 is scale-invariant: both arguments over a constant m, so that its backward's y² + x² cannot overflow
    m = (2.0 * s12.abs() + r).detach()
    k = (2.0 / math.pi) * torch.atan2(2.0 * s12 / m, r / m)
    kdot = (4.0 / math.pi) / r
    return k, kdot


def dual_diag(activation: str, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The duals at u = v (ρ = 1), in closed form: ReLU (s/2, 1/2); erf ((2/π) arcsin(2s/(1+2s)), (4/π)/√(1+4s))."""
    if activation == "relu":
        return s / 2, torch.full_like(s, 0.5)
    root = torch.sqrt(1.0 + 4.0 * s)   # arcsin(2s/(1+2s)) = atan(2s/√(1+4s)): finite derivative as 2s/(1+2s) → 1
    return (2.0 / math.pi) * torch.atan(2.0 * s / root), (4.0 / math.pi) / root


def diag_recursion(x: torch.Tensor, depth: int, activation: str, weight_variance: float,
                   bias_variance: float) -> list[torch.Tensor]:
    """Σ^l(x, x) for l = 0 .. depth (a list of (n,) tensors)."""
    s = weight_variance * _gram(x, x, diagonal=True) / x.shape[1] + bias_variance
    out = [s]
    for _ in range(depth):
        k, _ = dual_diag(activation, s)
        s = weight_variance * k + bias_variance
        out.append(s)
    return out


def nngp_ntk(x1: torch.Tensor, x2: torch.Tensor | None = None, *, depth: int = 1, activation: str = "relu",
             weight_variance: float = 2.0, bias_variance: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(NNGP, NTK) Gram blocks, each (n1, n2), of the infinitely wide ``depth``-hidden-layer network above."""
    same = x2 is None
    x2 = check_inputs(x1, x2, depth, activation, weight_variance, bias_variance)
    d1 = diag_recursion(x1, depth, activation, weight_variance, bias_variance)
    d2 = d1 if same else diag_recursion(x2, depth, activation, weight_variance, bias_variance)
    # rows in chunks of ~2^16 entries: the recursion is a chain of elementwise passes, cache-resident per chunk
    step = max(1, CHUNK // max(1, x2.shape[0]))
    blocks = [_block(x1[r:r + step], x2, [d[r:r + step] for d in d1], d2, r if same else None, depth, activation,
                     weight_variance, bias_variance) for r in range(0, x1.shape[0], step)]
    if len(blocks) == 1:
        return blocks[0]
    return torch.cat([b[0] for b in blocks]), torch.cat([b[1] for b in blocks])


CHUNK = 1 << 16


def _gram(x1: torch.Tensor, x2: torch.Tensor, diagonal: bool = False) -> torch.Tensor:
    """x1·x2ᵀ (or the row norms² with ``diagonal``) accumulated in float64 and rounded once to the inputs' dtype:
    near ρ = 1 arccos turns a rounding of ε in ρ into √ε, so a float32 sum whose order depends on the memory layout
    (or the BLAS blocking) would make the kernel depend on it at the 1e-4 level."""
    a, b = (x1, x2) if x1.dtype == torch.float64 else (x1.double(), x2.double())
    out = (a * a).sum(1) if diagonal else a @ b.T
    return out.to(x1.dtype)


def _block(x1, x2, d1, d2, diag_offset, depth, activation, weight_variance, bias_variance):
    """Rows of the Gram matrices; ``diag_offset`` = the first row's index in a self-Gram (else None)."""
    s = weight_variance * _gram(x1, x2) / x1.shape[1] + bias_variance
    on_diag = None
    if diag_offset is not None:   # the self-Gram's diagonal has ρ = 1 exactly: closed forms there (rounding ρ by
        rows = torch.arange(diag_offset, diag_offset + x1.shape[0], device=x1.device)   # one ulp moves θ by √(2 ulp))
        on_diag = rows[:, None] == torch.arange(x2.shape[0], device=x1.device)[None, :]
        s = torch.where(on_diag, d1[0][:, None].expand_as(s), s)
    theta = s
    for layer in range(depth):
        # the diagonal's general-formula branch is discarded: it sees Σ₁₂ = 0 so that its derivatives (infinite at
        # |ρ| = 1) stay finite; the where's zero cotangent times an infinite derivative would be NaN
        s_off = s if on_diag is None else torch.where(on_diag, torch.zeros_like(s), s)
        # the first layer's ρ comes from x·x': accumulated in float64 for lower precisions (a few of their ulps),
        # by float64 itself for float64 inputs (up to ~d ulps)
        ulps = 4.0 + (x1.shape[1] if layer == 0 and x1.dtype == torch.float64 else 0)
        k, kdot = dual(activation, d1[layer][:, None], s_off, d2[layer][None, :], ulps=ulps)
        if on_diag is not None:
            kd, kdotd = dual_diag(activation, d1[layer])
            k = torch.where(on_diag, kd[:, None].expand_as(k), k)
            kdot = torch.where(on_diag, kdotd[:, None].expand_as(kdot), kdot)
        s = weight_variance * k + bias_variance
        theta = theta * (weight_variance * kdot) + s
    return s, theta
