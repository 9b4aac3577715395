"""``NTKMLP``: the finite-width network whose infinite-width limit ``kernels.nngp_ntk`` computes.

NTK parameterisation (arXiv 1806.07572): weights and biases are N(0, 1) and the layer scales are explicit,

    h¹ = σ_w/√d W¹ x + σ_b b¹,   h^{l+1} = σ_w/√width W^{l+1} φ(h^l) + σ_b b^{l+1},   f = h^{depth+1},

so that as width → ∞ the output's covariance is the NNGP Σ^{depth} and its empirical NTK J Jᵀ tends to Θ^{depth}
(both with relative fluctuations O(1/√width)).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hyperzoo.core.validate import positive_int


class NTKLinear(nn.Module):
    """y = σ_w/√in · x Wᵀ + σ_b b with W, b ~ N(0, 1) (NTK parameterisation)."""

    def __init__(self, in_features: int, out_features: int, *, weight_variance: float = 2.0,
                 bias_variance: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.randn(out_features))
        self.w_scale = math.sqrt(weight_variance / in_features)
        self.b_scale = math.sqrt(bias_variance)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_scale * (x @ self.weight.T) + self.b_scale * self.bias


class NTKMLP(nn.Module):
    """``depth`` hidden NTK-parameterised layers of ``width`` units with ReLU or erf, then a linear readout."""

    def __init__(self, in_features: int, *, width: int = 512, depth: int = 1, out_features: int = 1,
                 activation: str = "relu", weight_variance: float = 2.0, bias_variance: float = 0.0):
        super().__init__()
        in_features, width = positive_int("in_features", in_features), positive_int("width", width)
        out_features = positive_int("out_features", out_features)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise ValueError(f"depth must be an int >= 0; got {depth!r}")
        if activation not in ("relu", "erf"):
            raise ValueError(f"activation must be 'relu' or 'erf'; got {activation!r}")
        sizes = [in_features] + [width] * depth + [out_features]
        self.layers = nn.ModuleList(NTKLinear(a, b, weight_variance=weight_variance, bias_variance=bias_variance)
                                    for a, b in zip(sizes[:-1], sizes[1:]))
        self.activation = torch.relu if activation == "relu" else torch.erf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)
