"""Kar3: the sign-based momentum optimiser of the Terminator paper (Zhang, arXiv 2401.17948).

Three sign steps per update, from the gradient g_t and two exponential moving averages of it
(m_0 = v_0 = 0; the averages are updated after the step, so step t uses m_{t-1}, v_{t-1}):

    θ_t = θ_{t-1} − η (sign(g_t) + sign(m_{t-1}) + sign(v_{t-1}))
    m_t = β₁ m_{t-1} + (1 − β₁) g_t,     v_t = β₂ v_{t-1} + (1 − β₂) g_t

The paper uses no weight decay; ``weight_decay`` > 0 adds a decoupled decay θ ← θ (1 − η λ) before the step.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["Kar3", "kar3"]


class Kar3(torch.optim.Optimizer):
    """θ ← θ − η (sign g + sign m + sign v), m, v: EMAs of g with β₁, β₂ (see the module docstring)."""

    def __init__(self, params: Iterable, lr: float = 1e-4, betas: tuple[float, float] = (0.5, 0.95),
                 weight_decay: float = 0.0):
        if not lr >= 0:
            raise ValueError(f"Kar3: lr must be >= 0, got {lr}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Kar3: betas must be two numbers in [0, 1), got {betas}")
        if not weight_decay >= 0:
            raise ValueError(f"Kar3: weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                m, v = state["m"], state["v"]
                if wd:
                    p.mul_(1 - lr * wd)
                p.sub_(torch.sign(g) + torch.sign(m) + torch.sign(v), alpha=lr)
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).add_(g, alpha=1 - b2)
        return loss


def kar3(params, *, lr: float, weight_decay: float = 0.0, betas: tuple[float, float] = (0.5, 0.95)) -> Kar3:
    """Core optimiser factory: ``core.run(..., optimizer="kar3", lr=1e-4)``."""
    return Kar3(params, lr=lr, betas=betas, weight_decay=weight_decay)
