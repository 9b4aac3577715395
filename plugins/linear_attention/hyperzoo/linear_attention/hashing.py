"""EcoFormer's kernelized hashing: b-bit binary codes whose inner products follow the attention map.

Kernel-based supervised hashing (KSH, Liu et al. 2012) as EcoFormer (arXiv 2209.09004) uses it, per head:

    κ(x)  = exp(−‖x − a_l‖² / (2σ²))_{l=1..m} − μ          RBF features to m anchor points a_l (drawn from the tokens),
                                                           σ² the mean squared token-anchor distance, μ the mean κ
    h(x)  = sgn(A κ(x)) ∈ {−1, +1}^b                        A (b, m), straight-through gradient to x

The projection A is fitted so that code similarity matches the attention map's most and least similar pairs: with
S_ij = +1 for each query's top-k most similar keys (cosine of the normalised tokens), −1 for its top-k least
similar and 0 otherwise, KSH minimises

    Q(A) = −(1 / (N b)) Σ_ij S_ij · h(x_i)ᵀ h(x_j)

over a relaxed code tanh(A κ(x) / 2) (= 2σ(Aκ) − 1) by gradient steps, and keeps the fitted A only if the binary
objective improved. Fitting happens once, on the first training batch (as EcoFormer does); A, the anchors, σ² and μ
are buffers afterwards, so hashing is deterministic in eval.
"""

from __future__ import annotations

import torch
from torch import nn


class SignSTE(torch.autograd.Function):
    """sgn(y) in {−1, +1} forward (sgn(0) = +1); gradient passed where |y| ≤ 1 (clipped straight-through)."""

    @staticmethod
    def forward(ctx, y):
        ctx.save_for_backward(y)
        return torch.where(y >= 0, 1.0, -1.0).to(y.dtype)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y.abs() <= 1).to(g.dtype)


def similarity_targets(x: torch.Tensor, top_k: int) -> torch.Tensor:
    """S (…, N, N): +1 for each row's top-k most cosine-similar tokens, −1 for its top-k least, 0 elsewhere."""
    u = x / (torch.linalg.vector_norm(x, dim=-1, keepdim=True) + 1e-12)
    sim = u @ u.transpose(-1, -2)
    k = min(top_k, sim.shape[-1] // 2)
    s = torch.zeros_like(sim)
    s.scatter_(-1, sim.topk(k, dim=-1).indices, 1.0)
    s.scatter_(-1, sim.topk(k, dim=-1, largest=False).indices, -1.0)
    return s


class KernelHash(nn.Module):
    """``(B, H, N, D) -> (B, H, N, b)`` codes in {−1, +1}; ``fit`` learns A per head (see the module docstring)."""

    def __init__(self, heads: int, head_dim: int, *, num_bits: int = 16, num_anchors: int = 20, top_k: int = 10,
                 steps: int = 100, lr: float = 0.05, seed: int = 0):
        super().__init__()
        if num_bits < 1 or num_anchors < 1:
            raise ValueError(f"KernelHash: num_bits and num_anchors must be >= 1, got {num_bits}, {num_anchors}")
        g = torch.Generator().manual_seed(seed)
        self.num_bits, self.num_anchors, self.top_k, self.steps, self.lr = num_bits, num_anchors, top_k, steps, lr
        self.register_buffer("projection", torch.randn(heads, num_bits, num_anchors, generator=g))
        self.register_buffer("anchors", torch.randn(heads, num_anchors, head_dim, generator=g))
        self.register_buffer("sigma2", torch.ones(heads))
        self.register_buffer("mean", torch.zeros(heads, num_anchors))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def kernel_features(self, x: torch.Tensor) -> torch.Tensor:
        """κ(x) (B, H, N, m): centred RBF similarities to the anchors."""
        d2 = torch.cdist(x, self.anchors.unsqueeze(0).to(x.dtype)).square()
        kappa = torch.exp(-d2 / (2 * self.sigma2.to(x.dtype)[None, :, None, None]))
        return kappa - self.mean.to(x.dtype)[None, :, None]

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("bhnm,hkm->bhnk", self.kernel_features(x), self.projection.to(x.dtype))
        return SignSTE.apply(y)

    def objective(self, x: torch.Tensor, s: torch.Tensor, projection: torch.Tensor | None = None,
                  relaxed: bool = False) -> torch.Tensor:
        """Q(A) = −Σ_ij S_ij h_iᵀh_j / (N b), averaged over batch and heads (binary or relaxed codes)."""
        a = self.projection if projection is None else projection
        y = torch.einsum("bhnm,hkm->bhnk", self.kernel_features(x), a.to(x.dtype))
        h = torch.tanh(y / 2) if relaxed else torch.where(y >= 0, 1.0, -1.0).to(x.dtype)
        n = x.shape[2]
        return -(torch.einsum("bhik,bhij,bhjk->bh", h, s, h) / (n * self.num_bits)).mean()

    @torch.no_grad()
    def fit(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[float, float]:
        """Fit anchors, σ², μ and A on tokens ``x`` (B, H, N, D); returns the binary objective (before, after)."""
        x = x.detach().to(self.anchors.dtype)
        b, h, n, _ = x.shape
        idx = torch.randperm(n, generator=generator)[: self.num_anchors]
        if len(idx) < self.num_anchors:
            idx = idx.repeat(self.num_anchors // len(idx) + 1)[: self.num_anchors]
        self.anchors.copy_(x[0][:, idx])
        d2 = torch.cdist(x, self.anchors.unsqueeze(0)).square()
        self.sigma2.copy_(d2.mean((0, 2, 3)).clamp_min(1e-12))
        self.mean.zero_()
        self.mean.copy_(self.kernel_features(x).mean((0, 2)))
        s = similarity_targets(x, self.top_k)
        before = float(self.objective(x, s))
        a = self.projection.clone().requires_grad_()
        opt = torch.optim.Adam([a], lr=self.lr)
        with torch.enable_grad():
            for _ in range(self.steps):
                opt.zero_grad()
                loss = self.objective(x, s, a, relaxed=True)
                loss.backward()
                opt.step()
        after = float(self.objective(x, s, a.detach()))
        if after < before:
            self.projection.copy_(a.detach())
        self.fitted.fill_(True)
        return before, min(before, after)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not bool(self.fitted):
            self.fit(x)
        return self.codes(x)
