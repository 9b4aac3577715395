"""Registered model factories: ``poincare-resnet`` (van Spengler, Berkhout, Mettes, ICCV 2023) and a Euclidean
``resnet`` of the same shape, and the embedding models of the hierarchy tasks."""

from __future__ import annotations

import torch
from torch import nn

from . import functional as F
from .layers import (
    MidpointBatchNorm2d,
    PoincareConv2d,
    PoincareEmbedding,
    PoincareMLR,
    PoincareReLU,
    PoincareResidual,
    ToBall,
    _op,
)

__all__ = ["PoincareResNet", "EuclideanResNet", "poincare_resnet", "resnet", "poincare_embedding",
           "euclidean_embedding"]


def _check_stages(widths: list[int], depths: list[int]) -> None:
    if not widths or len(widths) != len(depths):
        raise ValueError(f"widths {widths} and depths {depths} must be non-empty lists of the same length")
    if any(w < 1 for w in widths) or any(d < 1 for d in depths):
        raise ValueError(f"widths {widths} and depths {depths} must be positive")


class _PBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, Poincaré residual x ⊕ f(x), ReLU; a strided conv+BN shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int, c: float):
        super().__init__()
        self.c = c
        self.conv1 = PoincareConv2d(cin, cout, 3, stride=stride, padding=1, c=c)
        self.bn1 = MidpointBatchNorm2d(cout, c=c)
        self.conv2 = PoincareConv2d(cout, cout, 3, padding=1, c=c)
        self.bn2 = MidpointBatchNorm2d(cout, c=c)
        self.act = PoincareReLU(c=c)
        self.res = PoincareResidual(c=c, dim=1)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(PoincareConv2d(cin, cout, 1, stride=stride, c=c), MidpointBatchNorm2d(cout, c=c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        s = x if self.short is None else self.short(x)
        return self.act(self.res(s, f))


class PoincareResNet(nn.Module):
    """Poincaré ResNet: inputs mapped to the ball (exp₀ of the scaled pixel channels), a stem conv-BN-ReLU,
    stages of residual blocks (stride 2 between stages), the gyromidpoint over positions, hyperbolic MLR."""

    def __init__(self, in_channels: int, num_classes: int, widths: list[int], depths: list[int], c: float = 0.1,
                 input_scale: float = 0.1):
        super().__init__()
        _check_stages(widths, depths)
        self.c = c
        self.to_ball = ToBall(c=c, dim=1, scale=input_scale)
        self.stem = nn.Sequential(PoincareConv2d(in_channels, widths[0], 3, padding=1, c=c),
                                  MidpointBatchNorm2d(widths[0], c=c), PoincareReLU(c=c))
        blocks, cin = [], widths[0]
        for i, (w, d) in enumerate(zip(widths, depths)):
            for j in range(d):
                blocks.append(_PBlock(cin, w, 2 if (j == 0 and i > 0) else 1, c))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.head = PoincareMLR(cin, num_classes, c=c)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(self.to_ball(x)))
        b, ch, hh, ww = h.shape
        pts = h.permute(0, 2, 3, 1).reshape(b, hh * ww, ch)
        return _op("midpoint")(pts, c=self.c, reducedim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _EBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                               nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.short(x) + self.f(x))


class EuclideanResNet(nn.Module):
    """The Euclidean ResNet of the same shape (stem, stages, global average pooling, linear classifier)."""

    def __init__(self, in_channels: int, num_classes: int, widths: list[int], depths: list[int]):
        super().__init__()
        _check_stages(widths, depths)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU())
        blocks, cin = [], widths[0]
        for i, (w, d) in enumerate(zip(widths, depths)):
            for j in range(d):
                blocks.append(_EBlock(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


def poincare_resnet(*, in_channels: int = 1, num_classes: int = 10, widths: list[int] | None = None,
                    depths: list[int] | None = None, curvature: float = 0.1, input_scale: float = 0.1) -> nn.Module:
    """Poincaré ResNet (``depths=[1, 1, 1]``: ResNet-8; ``[3, 3, 3]``: ResNet-20), widths 8-16-32 by default;
    curvature 0.1 as in the authors' code (``init_c=0.1``; issue 13: c = 1 trains markedly slower on mnist-2d)."""
    return PoincareResNet(in_channels, num_classes, list(widths or [8, 16, 32]), list(depths or [1, 1, 1]),
                          c=curvature, input_scale=input_scale)


def resnet(*, in_channels: int = 1, num_classes: int = 10, widths: list[int] | None = None,
           depths: list[int] | None = None) -> nn.Module:
    """The Euclidean ResNet of the same shape as ``poincare-resnet`` (same widths and depths)."""
    return EuclideanResNet(in_channels, num_classes, list(widths or [8, 16, 32]), list(depths or [1, 1, 1]))


class _PoincareDistance(torch.autograd.Function):
    r"""d(x, y) = (1/√c) arcosh(1 + z), z = 2c‖x − y‖² / (αβ), α = 1 − c‖x‖², β = 1 − c‖y‖², over the last dim
    (x, y broadcast), with the closed-form gradient (one autograd node instead of ~15; the official code's
    ``hype/manifolds/poincare.py`` also hand-writes it):

        ∂d/∂x = 4c / (αβ √c √(z² + 2z)) · [(x − y) + (c‖x − y‖²/α) x],   ∂d/∂y likewise with x ↔ y, α ↔ β,

    and 0 where z = 0 (x = y, where d is not differentiable)."""

    @staticmethod
    def forward(ctx, x, y, c: float):
        diff = x - y
        sq = (diff * diff).sum(-1)
        alpha = 1 - c * (x * x).sum(-1)
        beta = 1 - c * (y * y).sum(-1)
        z = 2 * c * sq / (alpha * beta)
        root = torch.sqrt(z * z + 2 * z)
        ctx.save_for_backward(x, y, diff, sq, alpha, beta, root)
        ctx.c = c
        return torch.log1p(z + root) / c ** 0.5

    @staticmethod
    def backward(ctx, g):
        x, y, diff, sq, alpha, beta, root = ctx.saved_tensors
        c = ctx.c
        safe = root > 0
        k = torch.where(safe, 4 * c ** 0.5 * g / (alpha * beta * torch.where(safe, root, torch.ones_like(root))),
                        torch.zeros_like(root)).unsqueeze(-1)
        gx = k * (diff + (c * sq / alpha).unsqueeze(-1) * x)
        gy = k * ((c * sq / beta).unsqueeze(-1) * y - diff)
        return gx.sum_to_size(x.shape), gy.sum_to_size(y.shape), None


class Embedding(nn.Module):
    """Embedding of ``num_nodes`` items: a Poincaré ball (``geoopt.ManifoldParameter``) or Euclidean space, each
    coordinate initialised uniformly in [−init, init] (Nickel & Kiela 2017: init = 1e-3 in the paper's text, 1e-4
    in the official code's ``init_weights``).

    Distances: Poincaré d(x, y) = (1/√c) arcosh(1 + z), z = 2c‖x − y‖² / ((1 − c‖x‖²)(1 − c‖y‖²)), computed as
    log1p(z + √(z² + 2z)) (the expression of :func:`hyperzoo.hyperbolic.functional.dist`, without its per-call
    ball-membership checks and cancellation fixes: the optimisers keep the points inside, and ‖x − y‖² is the
    explicit difference), with a closed-form backward (:class:`_PoincareDistance`); Euclidean ‖x − y‖, or
    ‖x − y‖² with ``squared`` (the official code's Euclidean energy).
    """

    def __init__(self, num_nodes: int, width: int, geometry: str, curvature: float = 1.0, init: float = 1e-3,
                 squared: bool = False):
        super().__init__()
        if geometry not in ("poincare", "euclidean"):
            raise ValueError(f"geometry must be 'poincare' or 'euclidean', got {geometry!r}")
        if not init > 0:
            raise ValueError(f"init_scale must be > 0, got {init}")
        if geometry == "poincare" and squared:
            raise ValueError("squared applies to the Euclidean embedding only")
        self.geometry, self.c, self.squared = geometry, curvature, squared
        if geometry == "poincare":
            if init * width ** 0.5 >= 1 / curvature ** 0.5:
                raise ValueError(f"init_scale {init} puts points outside the ball of curvature {curvature}")
            self.emb = PoincareEmbedding(num_nodes, width, c=curvature, init=init)
        else:
            self.emb = nn.Module()
            self.emb.weight = nn.Parameter(torch.empty(num_nodes, width).uniform_(-init, init))

    @property
    def weight(self) -> torch.Tensor:
        return self.emb.weight

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Distances between the embeddings of index tensors ``a`` and ``b`` (broadcast)."""
        w = self.emb.weight
        x, y = w[a], w[b]
        if self.geometry == "poincare":
            return _PoincareDistance.apply(x, y, float(self.c))
        if self.squared:
            diff = x - y
            return (diff * diff).sum(-1)
        return (x - y).norm(dim=-1)      # (its backward is 0 at x = y, where sqrt's would be NaN)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.emb.weight[index]


def poincare_embedding(*, num_nodes: int = 2, width: int = 10, curvature: float = 1.0,
                       init_scale: float = 1e-3) -> nn.Module:
    """Poincaré embeddings (Nickel & Kiela 2017) of ``num_nodes`` items in a ``width``-dimensional ball, initialised
    uniformly in [−init_scale, init_scale] per coordinate (the official code: 1e-4)."""
    return Embedding(num_nodes, width, "poincare", curvature, init=init_scale)


def euclidean_embedding(*, num_nodes: int = 2, width: int = 10, init_scale: float = 1e-3,
                        squared: bool = False) -> nn.Module:
    """The Euclidean baseline of the same dimension; ``squared``: the energy ‖x − y‖² of the official code."""
    return Embedding(num_nodes, width, "euclidean", init=init_scale, squared=squared)


class GCDModel(nn.Module):
    """Backbone MLP (features used for clustering) and a projection head for the contrastive loss: HypCD's
    hyperbolic head (clip → exp₀; hybrid distance + angle similarity) or a Euclidean head on the unit sphere
    (cosine similarity, the GCD baseline)."""

    def __init__(self, in_features: int, width: int, out_features: int, geometry: str, curvature: float = 1.0,
                 clip_r: float = 2.3, alpha: float = 0.5):
        super().__init__()
        from .layers import HyperbolicProjectionHead

        if geometry not in ("poincare", "euclidean"):
            raise ValueError(f"geometry must be 'poincare' or 'euclidean', got {geometry!r}")
        self.geometry, self.c, self.alpha = geometry, curvature, alpha
        self.backbone = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width), nn.GELU(), nn.Linear(width, width),
                                      nn.GELU(), nn.Linear(width, width))
        if geometry == "poincare":
            self.head = HyperbolicProjectionHead(width, width, out_features, c=curvature, clip_r=clip_r)
        else:
            self.head = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, out_features))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.backbone(x)
        z = self.head(f)
        if self.geometry == "euclidean":
            z = torch.nn.functional.normalize(z, dim=-1)
        return f, z

    def contrastive_loss(self, z1, z2, labels, *, tau: float = 0.1, sup_weight: float = 0.35) -> torch.Tensor:
        from .losses import hybrid_contrastive_loss

        if self.geometry == "poincare":
            return hybrid_contrastive_loss(z1, z2, labels, alpha=self.alpha, tau=tau, sup_weight=sup_weight, c=self.c)
        # the Euclidean baseline: cosine similarity only (α = 0; the points are on the unit sphere)
        return hybrid_contrastive_loss(F.expmap0(z1 * 0.5), F.expmap0(z2 * 0.5), labels, alpha=0.0, tau=tau,
                                       sup_weight=sup_weight)


def hypcd(*, in_features: int = 64, width: int = 128, out_features: int = 32, curvature: float = 0.1,
          clip_r: float = 2.3, alpha: float = 0.5) -> nn.Module:
    """HypCD: MLP backbone + hyperbolic projection head, trained with the hybrid contrastive loss."""
    return GCDModel(in_features, width, out_features, "poincare", curvature, clip_r, alpha)


def gcd_euclidean(*, in_features: int = 64, width: int = 128, out_features: int = 32) -> nn.Module:
    """The Euclidean GCD baseline of the same shape (cosine contrastive on the unit sphere)."""
    return GCDModel(in_features, width, out_features, "euclidean")
