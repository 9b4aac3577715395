"""``kernels.gsmp``: the grid spectral mixture product (GSMP) kernel (reference).

Suwandi et al., "Sparsity-Aware Distributed Learning for Gaussian Processes with Linear Multiple Kernel"
(arXiv 2309.08201). With τ = x − x' ∈ R^P and Q components on a fixed grid of frequencies μ_q ∈ R^P and
scales σ_q ∈ R^P (frequency-domain standard deviations), the kernel is linear in the weights θ ≥ 0:

    k(x, x') = Σ_q θ_q k_q(x, x'),     k_q(x, x') = Π_p exp(−2π² τ_p² σ_qp²) cos(2π τ_p μ_qp).

Each k_q is the product over dimensions of one-dimensional spectral-mixture components (a product of PSD kernels,
so PSD); with θ ≥ 0 the sum is PSD. In one dimension it is exactly the spectral mixture kernel of Wilson & Adams
(2013) (GPyTorch's ``SpectralMixtureKernel`` with mixture weights θ, means μ, scales σ); in several dimensions
GPyTorch takes the product over dimensions of the sum over components instead, a different kernel.

``components=True`` returns the stack (Q, n1, n2) of k_q (the basis the sparse learner works with).
Cost O(Q n1 n2 P) time, O(Q n1 n2) memory with ``components``, else O(n1 n2).
"""

from __future__ import annotations

import math

import torch


def check_inputs(x1: torch.Tensor, x2: torch.Tensor, weights: torch.Tensor, means: torch.Tensor,
                 scales: torch.Tensor) -> None:
    for name, x in (("x1", x1), ("x2", x2)):
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
            raise ValueError(f"{name} must be a 2-D floating-point tensor (n, P); got {getattr(x, 'shape', type(x))}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinite values; clean or impute the inputs first")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of features; got {x1.shape[1]} and {x2.shape[1]}")
    p = x1.shape[1]
    if weights.dim() != 1:
        raise ValueError(f"weights θ must be 1-D (Q,); got shape {tuple(weights.shape)}")
    q = weights.shape[0]
    for name, t in (("means", means), ("scales", scales)):
        if tuple(t.shape) != (q, p):
            raise ValueError(f"{name} must have shape (Q, P) = ({q}, {p}) for {q} weights and {p} features; "
                             f"got {tuple(t.shape)}")
    if (weights < 0).any():
        raise ValueError("weights θ must be >= 0 (a negative weight breaks positive semi-definiteness); "
                         f"got min {float(weights.min()):g}")


def gsmp(x1: torch.Tensor, x2: torch.Tensor | None, weights: torch.Tensor, means: torch.Tensor, scales: torch.Tensor,
         *, components: bool = False) -> torch.Tensor:
    """Σ_q θ_q Π_p exp(−2π² τ_p² σ_qp²) cos(2π τ_p μ_qp): (n1, n2), or the (Q, n1, n2) components."""
    x2 = x1 if x2 is None else x2
    check_inputs(x1, x2, weights, means, scales)
    tau = x1[:, None, :] - x2[None, :, :]                                    # (n1, n2, P)
    t2 = tau.square()
    # log of the Gaussian envelope summed over p, and the cosine product, per component
    env = torch.einsum("ijp,qp->qij", t2, scales.square()) * (-2 * math.pi ** 2)
    cos = torch.cos(2 * math.pi * tau[None] * means[:, None, None, :]).prod(-1)   # (Q, n1, n2)
    comp = torch.exp(env) * cos
    if components:
        return comp
    return torch.einsum("q,qij->ij", weights, comp)
