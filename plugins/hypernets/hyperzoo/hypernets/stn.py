"""Self-Tuning Networks (MacKay, Vicol, Lorraine, Duvenaud, Grosse, ICLR 2019): hyperparameters tuned online by a
structured best-response approximation.

Each layer's weights are an affine function of the (normalised) hyperparameters ``λ̂``, restricted to a gate per
hidden unit (the paper's structured form, ``2·in·out + out·h`` parameters instead of ``in·out·h``):

    y = (W_e x + b_e) + (W_h x + b_h) ⊙ (V λ̂)

so ``ŵ_φ(λ)`` approximates the best response ``argmin_w L_train(w, λ)``. Training alternates
``train_steps`` steps on ``φ`` with the training loss at perturbed hyperparameters ``λ ~ λ0 + σ ⊙ ε`` (regularised
by those hyperparameters: dropout at rate ``sigmoid(λ_d)``, L2 ``exp(λ_w)·‖W‖²``) and one step on ``(λ0, σ)``
with the unregularised validation loss of the best response minus ``τ·Σ log σ`` (the entropy term that keeps the
perturbation wide enough for ``φ`` to learn the local best response). The hypergradient flows only through
``ŵ_φ(λ)``: the validation loss depends on λ through the weights, as in the paper.

Tuned here: one dropout rate on the hidden units and one L2 weight on every weight matrix.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["STNLinear", "STNMLP", "HYPER_NAMES"]

HYPER_NAMES = ("dropout", "l2_weight")


class STNLinear(nn.Module):
    """``y = (W_e x + b_e) + (W_h x + b_h) ⊙ (V λ̂)`` (see the module docstring)."""

    def __init__(self, in_features: int, out_features: int, num_hyper: int):
        super().__init__()
        self.elem = nn.Linear(in_features, out_features)
        self.hyper = nn.Linear(in_features, out_features)
        self.gate = nn.Linear(num_hyper, out_features, bias=False)
        with torch.no_grad():
            self.hyper.weight.mul_(0.1)
            self.hyper.bias.zero_()

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.elem(x) + self.hyper(x) * self.gate(h)


class STNMLP(nn.Module):
    """An MLP of :class:`STNLinear` layers with its hyperparameters ``λ0`` (unconstrained: dropout logit and log
    L2 weight) and perturbation scales ``σ`` as parameters.

    ``model(x)`` runs the best response at the current ``λ0`` without dropout (evaluation); the STN task calls
    :meth:`train_loss` and :meth:`hyper_loss`.
    """

    takes_hyper = True

    def __init__(self, *, in_features: int, num_classes: int, width: int = 128, depth: int = 2,
                 dropout: float = 0.1, l2_weight: float = 1e-4, entropy_weight: float = 1e-3):
        super().__init__()
        if not 0 < dropout < 1:
            raise ValueError(f"dropout (the initial rate) must be in (0, 1), got {dropout}")
        if not l2_weight > 0:
            raise ValueError(f"l2_weight (the initial L2 weight) must be > 0, got {l2_weight}")
        dims = [in_features] + [width] * depth + [num_classes]
        self.layers = nn.ModuleList(STNLinear(a, b, 2) for a, b in zip(dims, dims[1:]))
        self.hyper = nn.Parameter(torch.tensor([math.log(dropout / (1 - dropout)), math.log(l2_weight)]))
        self.log_sigma = nn.Parameter(torch.full((2,), math.log(0.5)))
        self.entropy_weight = entropy_weight

    # -- hyperparameters ---------------------------------------------------------------------------------------
    def hyper_parameters(self) -> list[nn.Parameter]:
        return [self.hyper, self.log_sigma]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith(("hyper", "log_sigma"))]

    @staticmethod
    def normalise(lam: torch.Tensor) -> torch.Tensor:
        """The network's view of ``λ`` (dropout logit, log L2 weight), centred and scaled to O(1)."""
        return torch.stack([lam[..., 0] / 3.0, (lam[..., 1] + 7.0) / 3.0], -1)

    def current(self) -> dict[str, float]:
        lam = self.hyper.detach()
        return {"dropout": float(torch.sigmoid(lam[0])), "l2_weight": float(lam[1].exp())}

    # -- forward -------------------------------------------------------------------------------------------------
    def best_response(self, x: torch.Tensor, lam: torch.Tensor, *, drop: bool) -> torch.Tensor:
        h = self.normalise(lam)
        x = x.reshape(len(x), -1)
        p = torch.sigmoid(lam[0])
        for i, layer in enumerate(self.layers):
            x = layer(x, h)
            if i < len(self.layers) - 1:
                x = F.relu(x)
                if drop:
                    x = F.dropout(x, float(p))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.best_response(x, self.hyper.detach(), drop=False)

    def l2(self) -> torch.Tensor:
        return sum((layer.elem.weight.square().sum() + layer.hyper.weight.square().sum()) for layer in self.layers)

    def train_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training loss at hyperparameters perturbed around ``λ0`` (gradients for the weights only)."""
        with torch.no_grad():
            lam = self.hyper + self.log_sigma.exp() * torch.randn_like(self.hyper)
        out = self.best_response(x, lam, drop=True)
        return F.cross_entropy(out, y) + lam[1].exp() * self.l2()

    def hyper_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Validation loss of the best response at ``λ0 + σ ε`` minus the entropy bonus ``τ Σ log σ``."""
        lam = self.hyper + self.log_sigma.exp() * torch.randn_like(self.hyper)
        out = self.best_response(x, lam, drop=False)
        return F.cross_entropy(out, y) - self.entropy_weight * self.log_sigma.sum()
