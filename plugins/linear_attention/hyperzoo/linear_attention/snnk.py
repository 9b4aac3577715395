"""Scalable Neural Network Kernels (Sehanobish et al. 2023, arXiv 2310.13225): a feed-forward layer as a kernel.

A layer x ↦ Σ_j a_j f(w_jᵀx + b_j) with f = exp is linearised by the softmax kernel's positive random features
(the FAVOR+ map φ(u) = exp(Ωu − ‖u‖²/2)/√m, Ω (m, D) orthogonal Gaussian rows):

    exp(w_jᵀx) = E_Ω[ φ(x)ᵀ φ(w_j) ]    ⇒    y = Φ(x)ᵀ Ψ,   Ψ = φ(W)ᵀ diag(e^b) A   (m × out)

so inputs and parameters are disentangled: Ψ is computed once from the parameters and the layer costs
O(m·(in + out)) per token instead of materialising the hidden layer. ``SNNK(..., num_features=None)`` is the exact
layer (for comparison); the approximation error shrinks as m^-½. Other activations f (``activation="cos"``,
``"gaussian"``, ``"sinc"``) use the paper's universal random features (:mod:`.urf`):
f(w_jᵀx + b_j) ≈ Re Φ(x)ᵀΨ(w_j, b_j), so y = [Re Φ; Im Φ](x)ᵀ Ψ_A with Ψ_A = [Re Ψ; −Im Ψ](W, b)ᵀ A (2m × out).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .ops.favor import gaussian_projection, positive_features
from .urf import SPECTRA, URF
from .urf import activation as _activation

ACTIVATIONS = ("exp", *SPECTRA)


class SNNK(nn.Module):
    """``(…, in_features) -> (…, out_features)``: Σ_j a_j f(w_jᵀx + b_j) by m random features (f = exp: positive
    FAVOR+ features; f ∈ ``urf.SPECTRA``: universal random features)."""

    def __init__(self, in_features: int, out_features: int, hidden: int, *, num_features: int | None = 64,
                 orthogonal: bool = True, seed: int = 0, activation: str = "exp"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"SNNK: activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        self.w = nn.Parameter(torch.randn(hidden, in_features) / math.sqrt(in_features) * 0.5)
        self.b = nn.Parameter(torch.zeros(hidden))
        self.a = nn.Parameter(torch.randn(hidden, out_features) / math.sqrt(hidden))
        self.num_features = num_features
        self.urf = None
        if num_features is not None and activation != "exp":
            self.urf = URF(activation, in_features, num_features, orthogonal=orthogonal, seed=seed)
        elif num_features is not None:
            g = torch.Generator().manual_seed(seed)
            self.register_buffer("projection", gaussian_projection(num_features, in_features, orthogonal=orthogonal,
                                                                   generator=g))

    def exact(self, x: torch.Tensor) -> torch.Tensor:
        z = x @ self.w.T + self.b
        return (torch.exp(z) if self.activation == "exp" else _activation(self.activation, z)) @ self.a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.num_features is None:
            return self.exact(x)
        if self.urf is not None:
            fx, fw = self.urf.real_features(x, self.w, self.b)
            return fx @ (fw.T @ self.a)
        psi = positive_features(self.w, self.projection).T @ (torch.exp(self.b)[:, None] * self.a)   # (m, out)
        return positive_features(x, self.projection) @ psi
