r"""nn.Modules on the Poincaré ball: HNN++ linear and MLR layers, the Poincaré ResNet convolution, midpoint (and
Fréchet-mean) batch normalisation with running statistics, the residual connection and activation, the HypCD
projection head, H4G radius scaling and Poincaré embeddings.

Ball-valued parameters (batch-norm bias, embeddings) are ``geoopt.ManifoldParameter``s on a
``geoopt.PoincareBall`` of the layer's curvature (:func:`ball_parameter`), so ``geoopt.optim.RiemannianAdam``
(``optimizer="riemannian-adam"``) trains them on the manifold; hyperplane orientations and offsets are Euclidean
(HNN++'s reparametrisation). Feature maps are channels-first: points of the ball along dimension 1.
"""

from __future__ import annotations

import math

import geoopt
import torch
from torch import nn

from . import functional as F
from .functional import _sqrt
from .ops.poincare_conv2d import _pair

__all__ = ["ball_parameter", "PoincareLinear", "PoincareMLR", "PoincareConv2d", "MidpointBatchNorm",
           "MidpointBatchNorm2d", "FrechetBatchNorm2d", "PoincareReLU", "PoincareResidual",
           "HyperbolicProjectionHead", "RadiusScaling", "PoincareEmbedding", "ToBall", "hyperplane_logits"]


def _op(name: str):
    from hyperzoo import core

    return core.get_operator(f"hyperbolic.{name}")


def _check_c(c: float) -> float:
    if not (isinstance(c, (int, float)) and math.isfinite(c) and c > 0):
        raise ValueError(f"curvature c must be a finite number > 0, got {c!r}")
    return float(c)


def channels_last(fn, x: torch.Tensor, dim: int, *others: torch.Tensor) -> torch.Tensor:
    """Apply a last-dimension op ``fn`` to points along ``dim`` (a view with that dimension last, no copy for
    channels-last memory), returning the layout of ``x``."""
    if dim in (-1, x.dim() - 1):
        return fn(x, *others)

    def last(t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 4 and dim == 1:
            t = t.contiguous(memory_format=torch.channels_last)
        return t.movedim(dim, -1)

    return fn(last(x), *[last(o) for o in others]).movedim(-1, dim)


def ball_parameter(data: torch.Tensor, c: float = 1.0) -> geoopt.ManifoldParameter:
    """A ``geoopt.ManifoldParameter`` on ``geoopt.PoincareBall(c)`` (checked to lie inside the ball)."""
    F.check_point(data, c)
    return geoopt.ManifoldParameter(data, manifold=geoopt.PoincareBall(c=c))


def _hnn_init(z: torch.Tensor, id_init: bool) -> None:
    """HNN++ / Poincaré ResNet initialisation: ½·I (exactly the identity map) when in ≤ out, else
    N(0, (2·in·out)^-½)."""
    n_in, n_out = z.shape
    with torch.no_grad():
        if id_init and n_in <= n_out:
            z.copy_(0.5 * torch.eye(n_in, n_out, dtype=z.dtype))
        else:
            z.normal_(0.0, (2 * n_in * n_out) ** -0.5)


class PoincareLinear(nn.Module):
    """HNN++ Poincaré fully connected layer (operator ``hyperbolic.poincare_fc``): ball points (..., in) →
    (..., out). ``id_init`` starts at exactly the identity when in ≤ out."""

    def __init__(self, in_features: int, out_features: int, *, c: float = 1.0, bias: bool = True,
                 id_init: bool = True):
        super().__init__()
        self.in_features, self.out_features, self.c = in_features, out_features, _check_c(c)
        self.z = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        _hnn_init(self.z, id_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _op("poincare_fc")(x, self.z, self.bias, c=self.c)


def hyperplane_logits(x: torch.Tensor, z: torch.Tensor, r: torch.Tensor | None, *, c: float = 1.0) -> torch.Tensor:
    """HNN++ unidirectional MLR: signed distances v_k(x) = (2‖z_k‖/√c) asinh(√c λ_x ⟨x, z_k⟩/‖z_k‖
    cosh(2√c r_k) − (λ_x − 1) sinh(2√c r_k)) of points (N, n) to m hyperplanes; used as class logits."""
    cc = F.curvature(c, x)
    den = F.conformal_denominator(x, cc, -1, op="hyperplane_logits")
    sc = _sqrt(cc)
    zn = F._norm(z, 0).squeeze(0)
    ch = torch.cosh(2 * sc * r) if r is not None else 1.0
    sh = torch.sinh(2 * sc * r) if r is not None else 0.0
    a = sc * (2 / den) * (x @ z) / zn * ch - ((2 - den) / den) * sh
    return 2 * zn / sc * torch.asinh(a)


class PoincareMLR(nn.Module):
    """Hyperbolic multinomial logistic regression (HNN++): logits = signed distances to ``num_classes``
    hyperplanes."""

    def __init__(self, in_features: int, num_classes: int, *, c: float = 1.0):
        super().__init__()
        self.c = _check_c(c)
        self.z = nn.Parameter(torch.randn(in_features, num_classes) * (2 * in_features * num_classes) ** -0.5)
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return hyperplane_logits(x, self.z, self.bias, c=self.c)


class PoincareConv2d(nn.Module):
    """Poincaré 2D convolution (Poincaré ResNet; operator ``hyperbolic.poincare_conv2d``), points along dim 1.

    ``id_init`` (Poincaré ResNet's identity-based initialisation): the centre pixel's coordinates feed the
    output with weight 1/(2β), β = B(C k²/2, ½)/B(C/2, ½), so the layer is the identity to first order at the
    origin (the β-scaling of the unfold is undone); the other weights are N(0, 1e-3²). No constant init is the
    identity at every radius (the gain rises from 1 at the origin towards k at large radii), so depth relies on
    the batch norm between convolutions to keep the scale (tested over 50 layers).
    Without it: HNN++'s N(0, (2·C k²·out)^-½).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *, stride: int = 1,
                 padding: int = 0, c: float = 1.0, bias: bool = True, id_init: bool = True):
        super().__init__()
        kh, kw = _pair(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        self.stride, self.padding, self.c = stride, padding, _check_c(c)
        n = in_channels * kh * kw
        self.z = nn.Parameter(torch.empty(n, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        with torch.no_grad():
            if id_init and in_channels <= out_channels:
                self.z.normal_(0.0, 1e-3)            # break the symmetry of the off-centre weights
                centre = (kh // 2) * kw + kw // 2
                scale = 0.5 / F.beta_ratio(n, in_channels)
                for ch in range(in_channels):
                    self.z[ch * kh * kw + centre, :] = 0.0
                    self.z[ch * kh * kw + centre, ch] = scale
            else:
                self.z.normal_(0.0, (2 * n * out_channels) ** -0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _op("poincare_conv2d")(x, self.z, self.bias, c=self.c, kernel_size=self.kernel_size,
                                      stride=self.stride, padding=self.padding)


def gyration_matrix(a: torch.Tensor, b: torch.Tensor, c) -> torch.Tensor:
    """The d×d orthogonal matrix G of the linear map u ↦ gyr[a, b] u (a, b single points): G = gyr[a, b](I)ᵀ."""
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    return F.gyration(a.expand_as(eye), b.expand_as(eye), eye, c=c).t()


def normalise(x: torch.Tensor, mu: torch.Tensor, beta: torch.Tensor, scale: torch.Tensor, c) -> torch.Tensor:
    """exp_β(P_{μ→β}(s · log_μ(x))) in closed form: β ⊕ gyr[β, −μ](s ⊗ ((−μ) ⊕ x)).

    (The tangent norms are equal across the transport and λ_β‖P v‖/2 = ‖v‖/δ(μ), so the exponential at β of
    the transported scaled logarithm is the Möbius scalar multiple s ⊗ w rotated by the gyration, added to β.)
    One gyration matrix for the batch; per-row coefficients, so about three (N, d) passes in all.
    """
    m = mu.reshape(1, -1)
    sx, sm, xm = F._sqnorm(x, -1), F._sqnorm(m, -1), F._dot(x, m, -1)
    dx = F.conformal_denominator(x, c, -1, op="batch norm (x)", sq=sx)
    dm = F.conformal_denominator(m, c, -1, op="batch norm (mean)", sq=sm)
    q = F._pair_sq(x, m, sx, sm, xm, -1.0, -1)                  # ‖x − μ‖²
    a, b, big_d = F._add_coef(c, dm, dx, q)                     # w = (−μ) ⊕ x = −a μ + b x
    sc = _sqrt(c)
    r = sc * (q / big_d).clamp_min(F._tiny(q)).sqrt()           # √c‖w‖
    art = F.artanh_from(r, dm * dx / big_d)
    t = torch.tanh(scale * art) / r                             # s ⊗ w = tanh(s artanh(√c‖w‖)) w / (√c‖w‖) = t w
    z = torch.addcmul((-(t * a)) * m, t * b, x)
    bvec = beta.reshape(1, -1)
    # Always through gyr[β, −μ] and β ⊕ ·, also at β = 0 where both are the identity in value: skipping them
    # there cut β out of the graph, so β got no gradient, never left its zero init, and every batch norm stayed
    # centred at the origin for the whole training.
    z = z @ gyration_matrix(bvec, -m, c).t()
    z = F._keep_inside(z, c, -1)
    return F.mobius_add(bvec, z, c=c)


class MidpointBatchNorm(nn.Module):
    r"""Poincaré midpoint batch normalisation (Poincaré ResNet) of points (N, d):

        μ = gyromidpoint(x),  σ² = mean_i d(μ, xᵢ)²,
        y_i = exp_β( P_{μ→β}( γ / √(σ² + ε) · log_μ(x_i) ) ) = β ⊕ gyr[β, −μ]( s ⊗ ((−μ) ⊕ xᵢ) ),  s = γ/√(σ² + ε)

    with a learnable ball point β (a ``geoopt.ManifoldParameter``) and scale γ. Training updates running
    statistics: μ_run ← exp_{μ_run}(m · log_{μ_run}(μ)) (a geodesic step), σ²_run ← (1 − m) σ²_run + m σ²; eval
    uses them, so an eval output never depends on the rest of the batch. ``mean="frechet"`` uses the iterative
    Fréchet mean instead (for the comparison the paper makes).
    """

    def __init__(self, num_features: int, *, c: float = 1.0, momentum: float = 0.1, eps: float = 1e-5,
                 mean: str = "midpoint"):
        super().__init__()
        if mean not in ("midpoint", "frechet"):
            raise ValueError(f"mean must be 'midpoint' or 'frechet', got {mean!r}")
        if not 0 < momentum <= 1:
            raise ValueError(f"momentum must be in (0, 1], got {momentum}")
        self.num_features, self.c, self.momentum, self.eps, self.mean = num_features, _check_c(c), momentum, eps, mean
        self.bias = ball_parameter(torch.zeros(num_features), c=self.c)
        self.weight = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(()))

    def _mean(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean == "midpoint":
            return _op("midpoint")(x, c=self.c, reducedim=0)
        return F.frechet_mean(x, c=self.c, iters=20, tol=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected (N, {self.num_features}) points, got {tuple(x.shape)}")
        if self.training:
            mu = self._mean(x)
            var = (F.dist(x, mu.reshape(1, -1), c=self.c) ** 2).mean()
            with torch.no_grad():
                rm = self.running_mean.to(x.dtype)
                step = F.logmap(rm, mu.detach(), c=self.c) * self.momentum
                self.running_mean.copy_(F.expmap(rm, step, c=self.c))
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var.detach())
        else:
            mu, var = self.running_mean.to(x.dtype), self.running_var.to(x.dtype)
        scale = self.weight / torch.sqrt(var + self.eps)
        return normalise(x, mu, torch.as_tensor(self.bias).to(x.dtype), scale, F.curvature(self.c, x))


class MidpointBatchNorm2d(MidpointBatchNorm):
    """:class:`MidpointBatchNorm` over (B, C, H, W) feature maps (statistics over batch and positions)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected (B, {self.num_features}, H, W), got {tuple(x.shape)}")
        b, ch, h, w = x.shape
        flat = x.permute(0, 2, 3, 1).reshape(-1, ch)
        return super().forward(flat).reshape(b, h, w, ch).permute(0, 3, 1, 2)


class FrechetBatchNorm2d(MidpointBatchNorm2d):
    """:class:`MidpointBatchNorm2d` with the iterative Fréchet mean (slower; the paper's comparison)."""

    def __init__(self, num_features: int, *, c: float = 1.0, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__(num_features, c=c, momentum=momentum, eps=eps, mean="frechet")


class PoincareReLU(nn.Module):
    """exp₀(ReLU(log₀(x))) along ``dim`` (the tangent-space activation of HNN / Poincaré ResNet)."""

    def __init__(self, *, c: float = 1.0, dim: int = 1):
        super().__init__()
        self.c, self.dim = _check_c(c), dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channels_last(lambda v: F.expmap0(torch.relu(F.logmap0(v, c=self.c)), c=self.c), x, self.dim)


class PoincareResidual(nn.Module):
    """Poincaré residual connection: x ⊕ f(x) along ``dim`` (the identity when f(x) = 0)."""

    def __init__(self, *, c: float = 1.0, dim: int = 1):
        super().__init__()
        self.c, self.dim = _check_c(c), dim

    def forward(self, x: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        return channels_last(lambda a, b: F.mobius_add(a, b, c=self.c), x, self.dim, fx)


class ToBall(nn.Module):
    """Euclidean features → ball points: exp₀(scale · x) along ``dim`` (``scale`` keeps inputs off the boundary)."""

    def __init__(self, *, c: float = 1.0, dim: int = 1, scale: float = 0.1):
        super().__init__()
        self.c, self.dim, self.scale = _check_c(c), dim, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.expmap0(x * self.scale, c=self.c, dim=self.dim)


class HyperbolicProjectionHead(nn.Module):
    """HypCD's hyperbolic projection head: an MLP on backbone features, feature clipping
    x ← min(1, r/‖x‖)·x (Guo et al. 2022, "Clipped hyperbolic classifiers"), then exp₀ onto the ball."""

    def __init__(self, in_features: int, width: int = 128, out_features: int = 64, *, c: float = 1.0,
                 clip_r: float = 2.3):
        super().__init__()
        if clip_r <= 0:
            raise ValueError(f"clip_r must be > 0, got {clip_r}")
        self.c, self.clip_r = _check_c(c), clip_r
        self.mlp = nn.Sequential(nn.Linear(in_features, width), nn.GELU(), nn.Linear(width, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.mlp(x)
        n = e.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        e = e * torch.clamp(self.clip_r / n, max=1.0)
        return F.expmap0(e, c=self.c)


class RadiusScaling(nn.Module):
    """H4G radius reduction: y = M ⊗ x with a learnable block-diagonal M = diag(B₁, …, B_k) (blocks of size
    ``block``), initialised at ``init_scale``·I (< 1 pulls points towards the origin: Möbius scaling of the
    radius), applied with the Möbius matrix-vector product (operator ``hyperbolic.mobius_matvec``)."""

    def __init__(self, features: int, *, block: int = 4, init_scale: float = 0.5, c: float = 1.0):
        super().__init__()
        if features % block:
            raise ValueError(f"features ({features}) must be a multiple of block ({block})")
        self.c, self.block, self.features = _check_c(c), block, features
        k = features // block
        self.blocks = nn.Parameter(init_scale * torch.eye(block).repeat(k, 1, 1))

    def matrix(self) -> torch.Tensor:
        return torch.block_diag(*self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _op("mobius_matvec")(self.matrix().to(x.dtype), x, c=self.c)


class PoincareEmbedding(nn.Module):
    """``num`` points of the ball (a ``geoopt.ManifoldParameter``), initialised uniformly in [−init, init]^dim
    (Nickel & Kiela 2017)."""

    def __init__(self, num: int, dim: int, *, c: float = 1.0, init: float = 1e-3):
        super().__init__()
        self.c = _check_c(c)
        self.weight = ball_parameter(torch.empty(num, dim).uniform_(-init, init), c=self.c)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.weight[index]
