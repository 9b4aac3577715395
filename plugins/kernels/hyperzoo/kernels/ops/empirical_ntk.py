"""``kernels.empirical_ntk``: the empirical (finite-width) NTK of any ``nn.Module`` (reference, torch.func).

For a network f(x; θ) with outputs in R^O and parameters θ ∈ R^P,

    Θ̂(x, x')_{ab} = Σ_p ∂f_a(x)/∂θ_p · ∂f_b(x')/∂θ_p = [J(x) J(x')ᵀ]_{ab},      result (n1, n2, O, O).

Two implementations with one result:

- ``"jacobian"``: J(x) for every point by ``vmap(jacrev)`` over ``torch.func.functional_call``; the contraction
  Σ_p per parameter tensor. Cost O((n1 + n2) O P) memory for the Jacobians, O(n1 n2 O² P) time.
- ``"implicit"``: never forms J: for each output basis vector e_b, Θ̂(·, x')e_b = J(x₁) (J(x')ᵀ e_b), a
  vector-Jacobian product (vjp) at x' followed by a Jacobian-vector product (jvp) at x₁, vmapped over b.
  Memory O(n1 n2 O + P · O), the better choice when O or P is large.

Parameters are those with ``requires_grad`` (buffers are held fixed); ``model`` is not modified.
"""

from __future__ import annotations

import torch

IMPLEMENTATIONS = ("jacobian", "implicit")


def _check(model: torch.nn.Module, x1: torch.Tensor, x2: torch.Tensor | None, implementation: str) -> torch.Tensor:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    x2 = x1 if x2 is None else x2
    for name, x in (("x1", x1), ("x2", x2)):
        if not isinstance(x, torch.Tensor) or x.dim() < 1:
            raise ValueError(f"{name} must be a tensor with a leading batch dimension; got {type(x).__name__}")
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinite values; clean or impute the inputs first")
    if x1.shape[1:] != x2.shape[1:]:
        raise ValueError(f"x1 and x2 must have the same per-example shape; got {tuple(x1.shape[1:])} and "
                         f"{tuple(x2.shape[1:])}")
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}; got {implementation!r}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no parameters with requires_grad=True; the NTK is taken over those")
    return x2


def _functional(model: torch.nn.Module):
    from torch.func import functional_call

    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    fixed = {k: v.detach() for k, v in model.named_parameters() if not v.requires_grad}
    fixed.update(dict(model.named_buffers()))

    def f(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, {**p, **fixed}, (x,))
        return out.reshape(x.shape[0], -1)

    return f, params


def empirical_ntk(model: torch.nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                  implementation: str = "jacobian") -> torch.Tensor:
    """Θ̂(x1, x2) of ``model``, shape (n1, n2, O, O) (O = outputs per example, flattened)."""
    from torch.func import jacrev, jvp, vjp, vmap

    x2 = _check(model, x1, x2, implementation)
    f, params = _functional(model)
    if implementation == "jacobian":
        def single(p, x):
            return f(p, x.unsqueeze(0)).squeeze(0)

        j1 = vmap(jacrev(single), (None, 0))(params, x1)
        j2 = j1 if x2 is x1 else vmap(jacrev(single), (None, 0))(params, x2)
        total = None
        for name in params:
            a = j1[name].flatten(2)
            b = j2[name].flatten(2)
            term = torch.einsum("iap,jbp->ijab", a, b)
            total = term if total is None else total + term
        return total

    def f1(p):
        return f(p, x1)

    blocks = []
    step = max(1, 64 // max(1, f(params, x2[:1]).shape[1]))
    for start in range(0, x2.shape[0], step):
        xb = x2[start:start + step]
        out2, vjp2 = vjp(lambda p, xb=xb: f(p, xb), params)
        n2, o = out2.shape

        def column(v: torch.Tensor, vjp2=vjp2) -> torch.Tensor:   # J(x1) J(xb)ᵀ v : (n1, O)
            (tangent,) = vjp2(v)
            return jvp(f1, (params,), (tangent,))[1]

        basis = torch.eye(n2 * o, dtype=out2.dtype, device=out2.device).reshape(n2 * o, n2, o)
        cols = vmap(column)(basis)                   # (n2*O, n1, O): [j, b] -> Θ̂(x1_i, xb_j)_{a b}
        blocks.append(cols.reshape(n2, o, x1.shape[0], o).permute(2, 0, 3, 1))
    return torch.cat(blocks, 1).contiguous()
