"""``kernels.empirical_ntk``: the empirical (finite-width) NTK of any ``nn.Module`` (reference, torch.func).

For a network f(x; θ) with outputs in R^O and parameters θ ∈ R^P,

    Θ̂(x, x')_{ab} = Σ_p ∂f_a(x)/∂θ_p · ∂f_b(x')/∂θ_p = [J(x) J(x')ᵀ]_{ab},      result (n1, n2, O, O).

Two implementations with one result:

- ``"jacobian"``: J(x) for every point by ``vmap(jacrev)`` over ``torch.func.functional_call``; the contraction
  Σ_p per parameter tensor. Cost O((n1 + n2) O P) memory for the Jacobians, O(n1 n2 O² P) time.
- ``"implicit"``: never forms J: for each output basis vector e_b, Θ̂(·, x')e_b = J(x₁) (J(x')ᵀ e_b), a
  vector-Jacobian product (vjp) at x' followed by a Jacobian-vector product (jvp) at x₁, vmapped over b.
  Memory O(n1 n2 O + P · O), the better choice when O or P is large.
- ``"structured"``: for every ``nn.Linear`` applied once to 2-D inputs, ∂f_a(x)/∂W = δ^a(x) a(x)ᵀ with a(x) the
  layer's input and δ^a(x) = ∂f_a(x)/∂(layer output), so its term is (δ^a(x)·δ^b(x')) (a(x)·a(x')) (+ δ^a·δ^b for the
  bias): one forward and O backward passes per input set (a zero probe added to each layer output collects δ),
  O(n1 n2 O² (in + out)) per layer instead of O(n1 n2 O² in·out); every other trainable parameter goes through
  ``"jacobian"``. Requires examples to be processed independently (no batch statistics: BatchNorm in eval mode).

Parameters are those with ``requires_grad`` (buffers are held fixed); ``model`` is not modified.
"""

from __future__ import annotations

import torch

IMPLEMENTATIONS = ("jacobian", "implicit", "structured")


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


def _functional(model: torch.nn.Module, skip: frozenset = frozenset()):
    from torch.func import functional_call

    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad and k not in skip}
    fixed = {k: v.detach() for k, v in model.named_parameters() if not (v.requires_grad and k not in skip)}
    fixed.update(dict(model.named_buffers()))

    def f(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, {**p, **fixed}, (x,))
        return out.reshape(x.shape[0], -1)

    return f, params


def _jacobian_ntk(f, params, x1, x2, same):
    from torch.func import jacrev, vmap

    def single(p, x):
        return f(p, x.unsqueeze(0)).squeeze(0)

    j1 = vmap(jacrev(single), (None, 0))(params, x1)
    j2 = j1 if same else vmap(jacrev(single), (None, 0))(params, x2)
    total = None
    for name in params:
        a, b = j1[name], j2[name]   # (n, O, *param shape); a 0-d parameter has no axes to flatten
        term = torch.einsum("iap,jbp->ijab", a.reshape(*a.shape[:2], -1), b.reshape(*b.shape[:2], -1))
        total = term if total is None else total + term
    return total


class _NotStructured(Exception):
    pass


def _signals(model: torch.nn.Module, linears: dict, x: torch.Tensor):
    """(inputs a, signals δ (n, O, out)) of every linear layer in ``linears`` (name -> module), one forward, O
    backward passes."""
    inputs, probes, calls, hooks = {}, {}, {}, []

    def make_hook(name):
        def hook(module, args, out):
            calls[name] = calls.get(name, 0) + 1
            if calls[name] > 1 or args[0].dim() != 2 or out.dim() != 2:
                raise _NotStructured(name)
            probe = torch.zeros_like(out, requires_grad=True)
            inputs[name], probes[name] = args[0].detach(), probe
            return out + probe
        return hook

    for name, module in linears.items():
        hooks.append(module.register_forward_hook(make_hook(name)))
    try:
        with torch.enable_grad():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    if set(calls) != set(linears):
        raise _NotStructured("a linear layer was not called")
    names = list(linears)
    deltas = {name: [] for name in names}
    with torch.enable_grad():   # the reshape and the slices must stay on the graph under an outer no_grad
        out = out.reshape(x.shape[0], -1)
        for a in range(out.shape[1]):
            grads = torch.autograd.grad(out[:, a].sum(), [probes[n] for n in names],
                                        retain_graph=a + 1 < out.shape[1], allow_unused=True)
            for name, g in zip(names, grads):
                deltas[name].append(torch.zeros_like(probes[name]) if g is None else g)
    return inputs, {name: torch.stack(v, 1) for name, v in deltas.items()}


def _structured(model: torch.nn.Module, x1: torch.Tensor, x2: torch.Tensor, same: bool) -> torch.Tensor:
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training:
            raise ValueError("implementation='structured' needs examples processed independently; the model has "
                             "BatchNorm in training mode (call model.eval(), or use implementation='jacobian')")
    from ..layers import NTKLinear

    linears, skip, scales = {}, set(), {}
    for name, m in model.named_modules():
        if type(m) in (nn.Linear, NTKLinear) and m.weight.requires_grad:
            # NTKLinear: out = w_scale · x Wᵀ + b_scale · b, so its gradients carry the scales
            scales[name] = (getattr(m, "w_scale", 1.0) ** 2, getattr(m, "b_scale", 1.0) ** 2)
            linears[name] = m
            skip.add(f"{name}.weight" if name else "weight")
            if m.bias is not None and m.bias.requires_grad:
                skip.add(f"{name}.bias" if name else "bias")
    try:
        a1, d1 = _signals(model, linears, x1)
        a2, d2 = (a1, d1) if same else _signals(model, linears, x2)
    except _NotStructured:
        f, params = _functional(model)
        return _jacobian_ntk(f, params, x1, x2, same)
    total = None
    for name, m in linears.items():
        dd = torch.einsum("iao,jbo->ijab", d1[name], d2[name])
        ws, bs = scales[name]
        term = dd * (ws * (a1[name] @ a2[name].T))[:, :, None, None]
        if m.bias is not None and m.bias.requires_grad:
            term = term + bs * dd
        total = term if total is None else total + term
    f, params = _functional(model, frozenset(skip))
    if params:
        rest = _jacobian_ntk(f, params, x1, x2, same)
        total = rest if total is None else total + rest
    return total


def empirical_ntk(model: torch.nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                  implementation: str = "jacobian") -> torch.Tensor:
    """Θ̂(x1, x2) of ``model``, shape (n1, n2, O, O) (O = outputs per example, flattened)."""
    from torch.func import jvp, vjp, vmap

    same = x2 is None or x2 is x1
    x2 = _check(model, x1, x2, implementation)
    if implementation == "structured":
        return _structured(model, x1, x2, same)
    f, params = _functional(model)
    if implementation == "jacobian":
        return _jacobian_ntk(f, params, x1, x2, same)

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
