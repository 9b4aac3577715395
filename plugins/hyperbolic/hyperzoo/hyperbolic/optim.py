"""geoopt's Riemannian optimisers under core's optimiser registry (``optimizer="riemannian-adam"``).

Ball-valued parameters are ``geoopt.ManifoldParameter``s on a ``geoopt.PoincareBall`` of the layer's curvature
(see :func:`hyperzoo.hyperbolic.layers.ball_parameter`); geoopt's optimisers follow their manifold
(Riemannian gradient, retraction, parallel transport of the moments) and treat every other parameter as
Euclidean, so one optimiser trains a mixed model.
"""

from __future__ import annotations

import geoopt
import torch


def riemannian_adam(params, *, lr: float, weight_decay: float = 0.0):
    """geoopt.optim.RiemannianAdam (Bécigneul & Ganea 2019), ``stabilize=10`` (re-project every 10 steps)."""
    return geoopt.optim.RiemannianAdam(params, lr=lr, weight_decay=weight_decay, stabilize=10)


def riemannian_sgd(params, *, lr: float, weight_decay: float = 0.0):
    """geoopt.optim.RiemannianSGD with momentum 0.9, ``stabilize=10``."""
    return geoopt.optim.RiemannianSGD(params, lr=lr, weight_decay=weight_decay, momentum=0.9, stabilize=10)


class PoincareRSGD(torch.optim.Optimizer):
    r"""Nickel & Kiela 2017's Riemannian SGD on the Poincaré ball (their eqs. 5-6), the official code's optimiser.

    For a ball parameter θ (``geoopt.ManifoldParameter`` on a ``PoincareBall`` of curvature c; each row a point):

        g  = (1 − c‖θ‖²)² / 4 · ∇_E          (the inverse Poincaré metric tensor times the Euclidean gradient)
        g ← g · min(1, max_grad_norm / ‖g‖)   (per row; the official sparse path's ``renorm_(2, 0, 5)``)
        θ ← proj(θ − η g),  proj(x) = x (1 − ε) / ‖x‖ where ‖x‖ ≥ (1 − ε)/√c, else x      (ε = 1e-5)

    (the first-order retraction R_θ(v) = θ + v, not the exponential map). Every other parameter: θ ← θ − η ∇_E.
    Rows that got no gradient (zero rows of a dense embedding gradient) do not move.
    """

    def __init__(self, params, *, lr: float, weight_decay: float = 0.0, max_grad_norm: float = 5.0,
                 eps: float = 1e-5):
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if weight_decay != 0:
            raise ValueError(f"poincare-rsgd has no weight decay (Nickel & Kiela's RSGD); got weight_decay="
                             f"{weight_decay}, set it to 0")
        if max_grad_norm <= 0 or not 0 < eps < 1:
            raise ValueError(f"max_grad_norm must be > 0 and eps in (0, 1), got {max_grad_norm}, {eps}")
        super().__init__(params, {"lr": lr, "max_grad_norm": max_grad_norm, "eps": eps})

    @staticmethod
    def _curvature(p) -> float | None:
        manifold = getattr(p, "manifold", None)
        if isinstance(manifold, geoopt.PoincareBall):
            return float(manifold.c)
        if manifold is not None and not isinstance(manifold, geoopt.Euclidean):
            raise ValueError(f"poincare-rsgd supports Poincaré-ball and Euclidean parameters, got {manifold!r}")
        return None

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            lr, clip, eps = group["lr"], group["max_grad_norm"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise ValueError("poincare-rsgd expects dense gradients (use a dense embedding)")
                c = self._curvature(p)
                if c is None:
                    p.add_(grad, alpha=-lr)
                    continue
                x = p if p.dim() > 1 else p.unsqueeze(0)
                g = grad if grad.dim() > 1 else grad.unsqueeze(0)
                g = g * ((1 - c * (x * x).sum(-1, keepdim=True)) ** 2 / 4)
                gn = g.norm(dim=-1, keepdim=True)
                g = g * (clip / gn.clamp_min(clip))
                x.add_(g, alpha=-lr)
                rmax = (1 - eps) / c ** 0.5
                n = x.norm(dim=-1, keepdim=True)
                x.mul_(torch.where(n >= rmax, rmax / n, torch.ones_like(n)))
        return loss


def poincare_rsgd(params, *, lr: float, weight_decay: float = 0.0):
    """:class:`PoincareRSGD` (Nickel & Kiela's RSGD, per-row gradient clip 5, ε = 1e-5)."""
    return PoincareRSGD(params, lr=lr, weight_decay=weight_decay)
