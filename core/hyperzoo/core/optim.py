"""Core's optimisers, registered under plain names. A factory is ``f(params, *, lr, weight_decay) -> Optimizer``."""

from __future__ import annotations

import torch


def adamw(params, *, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def adam(params, *, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def sgd(params, *, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum 0.9."""
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=0.9, nesterov=True)
