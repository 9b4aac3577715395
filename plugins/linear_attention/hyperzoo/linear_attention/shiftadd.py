"""ShiftAddViT's mixture of a multiplication expert and a shift expert, with its latency-aware balancing loss.

ShiftAddViT (You et al. 2023, arXiv 2306.06446). The shift expert's weights are signed powers of two,

    W_shift = sgn(W) · 2^{clamp(round(log2 |W|), e_min, 0)}        (straight-through gradient to W)

so x·W_shift is exact in floating point: multiplying by 2^e only changes the exponent (a bit shift in fixed point).
A router (softmax over experts) sends each token to its top-k experts; the output is the gate-weighted expert sum.
The latency-aware load-balancing loss rescales each expert's importance (Σ of router probabilities) and load
(number of tokens routed) by its measured latency t_e before the squared coefficient of variation,

    L_balance = CV²(t ⊙ importance) + CV²(t ⊙ load),     CV²(x) = Var(x) / mean(x)²,

minimal (zero) when the latency-weighted shares are equal, i.e. importance_e ∝ 1/t_e: the faster (shift) expert
takes more tokens. With equal latencies the minimum is the uniform router. The loss is reported through
``auxiliary_losses()`` (scaled by ``balance_weight``) so core's trainer adds and logs it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _PowerOfTwo(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, e_min):
        e = torch.round(torch.log2(w.abs().clamp_min(2.0 ** (e_min - 1)))).clamp(e_min, 0)
        return torch.sign(w) * torch.exp2(e)

    @staticmethod
    def backward(ctx, g):
        return g, None


def power_of_two(w: torch.Tensor, e_min: int = -15) -> torch.Tensor:
    """sgn(w)·2^clamp(round(log2|w|), e_min, 0), straight-through gradient."""
    return _PowerOfTwo.apply(w, e_min)


class ShiftLinear(nn.Linear):
    """A linear layer whose weights are used as signed powers of two (the shift primitive)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, e_min: int = -15):
        super().__init__(in_features, out_features, bias=bias)
        self.e_min = e_min

    def shift_weight(self) -> torch.Tensor:
        return power_of_two(self.weight, self.e_min)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.shift_weight(), self.bias)


class ExpertMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, shift: bool):
        super().__init__()
        lin = ShiftLinear if shift else nn.Linear
        self.shift = shift
        self.fc1, self.fc2 = lin(dim, hidden), lin(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


def cv_squared(x: torch.Tensor) -> torch.Tensor:
    return x.var(unbiased=False) / (x.mean() ** 2 + 1e-10)


class ShiftAddMoE(nn.Module):
    """``(…, dim) -> (…, dim)``: experts alternate multiplication / shift; top-k routing; latency-aware balance."""

    def __init__(self, dim: int, hidden: int, *, num_experts: int = 2, top_k: int = 1,
                 latencies: tuple[float, ...] | None = None, balance_weight: float = 0.01):
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"ShiftAddMoE: top_k must be in [1, num_experts={num_experts}], got {top_k}")
        self.experts = nn.ModuleList(ExpertMLP(dim, hidden, shift=i % 2 == 1) for i in range(num_experts))
        self.router = nn.Linear(dim, num_experts, bias=False)
        # default latencies: ShiftAddViT's measured 6 : 4 for multiplication : shift
        lat = latencies or tuple(6.0 if i % 2 == 0 else 4.0 for i in range(num_experts))
        if len(lat) != num_experts or min(lat) <= 0:
            raise ValueError(f"ShiftAddMoE: latencies must be {num_experts} positive numbers, got {latencies}")
        self.register_buffer("latencies", torch.tensor(lat, dtype=torch.float32))
        self.top_k, self.balance_weight = top_k, balance_weight
        self._aux: dict[str, torch.Tensor] = {}

    def balance_loss(self, probs: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """CV²(t ⊙ importance) + CV²(t ⊙ load) for router probabilities (T, E) and chosen experts (T, k)."""
        lat = self.latencies.to(probs.dtype)
        importance = probs.sum(0)
        load = torch.zeros_like(importance).scatter_add_(0, chosen.flatten(),
                                                         torch.ones_like(chosen.flatten(), dtype=probs.dtype))
        return cv_squared(lat * importance) + cv_squared(lat * load)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        t = x.reshape(-1, shape[-1])
        probs = self.router(t).softmax(-1)
        gate, chosen = probs.topk(self.top_k, dim=-1)
        out = torch.zeros_like(t)
        for e, expert in enumerate(self.experts):
            rows, slot = (chosen == e).nonzero(as_tuple=True)
            if len(rows):
                out.index_add_(0, rows, gate[rows, slot, None] * expert(t[rows]))
        self._aux = {"balance": self.balance_weight * self.balance_loss(probs, chosen)}
        return out.reshape(shape)

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        return dict(self._aux)
