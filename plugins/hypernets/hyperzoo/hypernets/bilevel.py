"""Bilevel optimisation for data hyper-cleaning: BO-REP (Hao, Gong, Liu, "Bilevel Optimization under Unbounded
Smoothness: A New Algorithm and Convergence Analysis", ICLR 2024) and the stocBiO-style baseline.

Hyper-cleaning: upper variable ``x ∈ R^n`` (one weight logit per training example), lower variable ``y`` (a linear
classifier ``W, b``):

    g(x, y) = (1/n) Σ_i σ(x_i) CE(y; a_i, b_i) + c ‖W‖²        (lower: training loss, noisy labels)
    f(x, y) = CE_val(y)                                          (upper: clean validation loss)
    Φ(x) = f(x, y*(x)),   ∇Φ = ∇_x f − ∇²_xy g · v,   ∇²_yy g · v = ∇_y f

``v`` by the truncated Neumann series ``v ≈ γ Σ_{q<Q} (I − γ ∇²_yy g)^q ∇_y f`` (Hessian-vector products by
double back-propagation), the same estimator in both solvers:

- **BO-REP**: initialisation refinement (``refine_steps`` lower-level steps at ``x_0``), then the lower level is
  updated only every ``period`` outer iterations (``lower_steps`` warm-started steps), and the upper level takes
  normalised momentum steps ``m_t = β m_{t−1} + (1 − β) ĝ_t``, ``x_{t+1} = x_t − η m_t / ‖m_t‖``.
- **stocBiO-style baseline**: ``lower_steps`` lower-level steps every outer iteration, then the plain step
  ``x_{t+1} = x_t − η ĝ_t``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HyperCleaner", "hypergradient"]


class HyperCleaner(nn.Module):
    """Weights logits ``x`` of the training examples and the linear classifier ``y``; ``method`` is ``"bo-rep"`` or
    ``"stocbio"`` (see the module docstring)."""

    def __init__(self, *, in_features: int, num_classes: int, num_train: int, method: str = "bo-rep",
                 upper_lr: float = 1.0, lower_lr: float = 0.5, lower_steps: int = 5, period: int = 4,
                 refine_steps: int = 200, momentum: float = 0.9, neumann_terms: int = 10,
                 neumann_step: float = 0.5, l2_weight: float = 1e-3):
        super().__init__()
        if method not in ("bo-rep", "stocbio"):
            raise ValueError(f"method must be 'bo-rep' or 'stocbio', got {method!r}")
        for name, v in (("lower_steps", lower_steps), ("period", period), ("neumann_terms", neumann_terms)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.method = method
        self.x = nn.Parameter(torch.zeros(num_train))
        self.classifier = nn.Linear(in_features, num_classes)
        self.register_buffer("m", torch.zeros(num_train))
        self.register_buffer("t", torch.zeros((), dtype=torch.long))
        self.upper_lr, self.lower_lr, self.lower_steps, self.period = upper_lr, lower_lr, lower_steps, period
        self.refine_steps, self.momentum = refine_steps, momentum
        self.neumann_terms, self.neumann_step, self.l2_weight = neumann_terms, neumann_step, l2_weight
        self.lower_evaluations = 0

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.classifier(a.reshape(len(a), -1))

    def lower_loss(self, a: torch.Tensor, b: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        x = self.x if x is None else x
        ce = F.cross_entropy(self(a), b, reduction="none")
        return (torch.sigmoid(x) * ce).mean() + self.l2_weight * self.classifier.weight.square().sum()

    def lower_update(self, a: torch.Tensor, b: torch.Tensor, steps: int) -> None:
        params = list(self.classifier.parameters())
        for _ in range(steps):
            grads = torch.autograd.grad(self.lower_loss(a, b, self.x.detach()), params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= self.lower_lr * g
        self.lower_evaluations += steps

    def outer_step(self, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor]) -> float:
        """One outer iteration; returns the validation loss before the step."""
        a, b = train
        if self.method == "bo-rep":
            if int(self.t) == 0 and self.refine_steps:
                self.lower_update(a, b, self.refine_steps)
            if int(self.t) % self.period == 0:
                self.lower_update(a, b, self.lower_steps)
        else:
            self.lower_update(a, b, self.lower_steps)
        g, fval = hypergradient(self, train, val)
        with torch.no_grad():
            if self.method == "bo-rep":
                self.m.mul_(self.momentum).add_((1 - self.momentum) * g)
                self.x -= self.upper_lr * self.m / self.m.norm().clamp_min(1e-12)
            else:
                self.x -= self.upper_lr * g
        self.t += 1
        return fval


def hypergradient(model: HyperCleaner, train, val) -> tuple[torch.Tensor, float]:
    """``∇Φ(x) ≈ −∇²_xy g · v`` with ``v`` from ``Q`` Neumann terms (``∇_x f = 0`` for hyper-cleaning)."""
    a, b = train
    av, bv = val
    params = list(model.classifier.parameters())
    fval = F.cross_entropy(model(av), bv)
    df = torch.autograd.grad(fval, params)
    gy = torch.autograd.grad(model.lower_loss(a, b), params, create_graph=True)
    # v = γ Σ_q (I − γ H)^q ∇_y f
    p = [d.clone() for d in df]
    v = [d.clone() for d in df]
    for _ in range(model.neumann_terms - 1):
        hp = torch.autograd.grad(gy, params, grad_outputs=p, retain_graph=True)
        p = [pi - model.neumann_step * hi for pi, hi in zip(p, hp)]
        v = [vi + pi for vi, pi in zip(v, p)]
    v = [model.neumann_step * vi for vi in v]
    cross = torch.autograd.grad(gy, model.x, grad_outputs=v)[0]
    return -cross.detach(), float(fval.detach())
