"""Hypernetize any ``nn.Module``: choose the parameters a hypernetwork generates, run the module with them.

    target = FunctionalTarget(model, generate="*.weight")   # or modules=nn.Conv2d, or both
    out = target(weights, x)                  # weights: {name: tensor} or one flat vector of target.num_weights
    outs = target.batched(weight_sets, x)     # vmap over several weight sets: (B, N, ...)
    outs = target.batched(weight_sets, x, per_sample=True)   # weight set b for sample b (one batch, B sets)

The module is run through ``torch.func.functional_call``: the selected parameters come from the caller, the rest
(and every buffer) stay the module's own, so an unchanged model (convolutions, attention, BatchNorm, ...) is the
target. Selected parameters are frozen (``requires_grad=False``): gradients reach whatever produced the weights
and never the stored originals, which :meth:`FunctionalTarget.original` returns (e.g. to initialise θ0).

BatchNorm under :meth:`batched`: each weight set normalises with its own batch statistics in training mode and
with the module's running statistics in eval mode; running statistics are updated only by the unbatched call
(``torch.func.vmap`` cannot write one shared buffer from several weight sets).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

__all__ = ["TargetSpec", "FunctionalTarget", "select_parameters"]


class TargetSpec:
    """Names, shapes and flat offsets of the generated parameters (one flat vector ↔ a ``{name: tensor}`` dict)."""

    def __init__(self, named_shapes: Iterable[tuple[str, Sequence[int]]]):
        self.names: tuple[str, ...] = ()
        self.shapes: tuple[torch.Size, ...] = ()
        self.offsets: tuple[int, ...] = ()
        names, shapes, offsets, total = [], [], [], 0
        for name, shape in named_shapes:
            names.append(name)
            shapes.append(torch.Size(shape))
            offsets.append(total)
            total += torch.Size(shape).numel()
        self.names, self.shapes, self.offsets, self.numel = tuple(names), tuple(shapes), tuple(offsets), total

    @property
    def numels(self) -> tuple[int, ...]:
        return tuple(s.numel() for s in self.shapes)

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """``flat (..., numel)`` → ``{name: (..., *shape)}`` (views)."""
        if not isinstance(flat, torch.Tensor) or flat.dim() < 1 or flat.shape[-1] != self.numel:
            got = tuple(flat.shape) if isinstance(flat, torch.Tensor) else type(flat).__name__
            raise ValueError(f"flat weights must end in a dimension of {self.numel} (the generated parameters "
                             f"{list(self.names)}), got {got}")
        lead = flat.shape[:-1]
        return {n: flat[..., o:o + s.numel()].reshape(*lead, *s)
                for n, s, o in zip(self.names, self.shapes, self.offsets)}

    def flatten(self, weights: Mapping[str, torch.Tensor], batch_dims: int = 0) -> torch.Tensor:
        """``{name: (..., *shape)}`` → ``(..., numel)``."""
        self.check(weights, batch_dims)
        lead = weights[self.names[0]].shape[:batch_dims]
        return torch.cat([weights[n].reshape(*lead, -1) for n in self.names], dim=-1)

    def check(self, weights: Mapping[str, torch.Tensor], batch_dims: int = 0) -> None:
        """Raise naming what is missing, unexpected or mis-shaped in ``weights``."""
        if not isinstance(weights, Mapping):
            raise TypeError(f"weights must be a dict {{name: tensor}} or a flat tensor, got {type(weights).__name__}")
        missing = [n for n in self.names if n not in weights]
        extra = [n for n in weights if n not in self.names]
        if missing or extra:
            raise ValueError(f"weights do not match the generated parameters: missing {missing}, unexpected "
                             f"{extra}; expected exactly {list(self.names)}")
        lead = None
        for n, s in zip(self.names, self.shapes):
            w = weights[n]
            if w.dim() != batch_dims + len(s) or tuple(w.shape[batch_dims:]) != tuple(s):
                raise ValueError(f"weights[{n!r}] has shape {tuple(w.shape)}; expected "
                                 f"{'(B, ' if batch_dims else '('}{', '.join(map(str, s))})")
            if lead is None:
                lead = w.shape[:batch_dims]
            elif w.shape[:batch_dims] != lead:
                raise ValueError(f"weights[{n!r}] has {tuple(w.shape[:batch_dims])} weight sets, others {tuple(lead)}")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, type)):
        return [value]
    return list(value)


def select_parameters(module: nn.Module, generate: str | Sequence[str] | None = None,
                      modules: type | Sequence[type] | None = None) -> list[str]:
    """Names of ``module``'s parameters matched by fnmatch ``generate`` patterns and/or owned by ``modules`` types.

    Order follows ``module.named_parameters()``. Raises ``ValueError`` naming a pattern or type that matches
    nothing (with the available names) and on an empty selection.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"the target must be an nn.Module, got {type(module).__name__}")
    named = [n for n, _ in module.named_parameters()]
    if not named:
        raise ValueError(f"{type(module).__name__} has no parameters to generate")
    patterns, types = _as_list(generate), _as_list(modules)
    if not patterns and not types:
        raise ValueError("empty selection: pass generate= (fnmatch patterns of parameter names, e.g. '*.weight') "
                         "and/or modules= (module types, e.g. nn.Linear)")
    chosen: set[str] = set()
    available = ", ".join(named[:24]) + (", ..." if len(named) > 24 else "")
    for p in patterns:
        if not isinstance(p, str):
            raise TypeError(f"generate= takes name patterns (str), got {p!r}")
        hits = [n for n in named if fnmatchcase(n, p)]
        if not hits:
            raise ValueError(f"generate pattern {p!r} matches no parameter of {type(module).__name__}; "
                             f"its parameters are: {available}")
        chosen.update(hits)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, nn.Module)):
            raise TypeError(f"modules= takes nn.Module subclasses, got {t!r}")
        hits = [f"{prefix}.{n}" if prefix else n for prefix, sub in module.named_modules() if isinstance(sub, t)
                for n, _ in sub.named_parameters(recurse=False)]
        if not hits:
            kinds = sorted({type(m).__name__ for m in module.modules() if any(True for _ in m.parameters(False))})
            raise ValueError(f"modules={t.__name__} owns no parameter of {type(module).__name__}; modules with "
                             f"parameters: {kinds}")
        chosen.update(hits)
    return [n for n in named if n in chosen]


class FunctionalTarget(nn.Module):
    """``module`` with the parameters named by ``generate``/``modules`` supplied by the caller on every call.

    Args:
        module: any ``nn.Module`` (unchanged; its selected parameters are frozen and kept as the originals).
        generate: fnmatch pattern(s) over ``module.named_parameters()`` names (``"*"``, ``"*.weight"``, ``"fc.*"``);
            every parameter when neither ``generate`` nor ``modules`` is given.
        modules: module type(s) whose own parameters are generated (``nn.Linear``, ``(nn.Conv2d, nn.BatchNorm2d)``).
    """

    def __init__(self, module: nn.Module, generate: str | Sequence[str] | None = None, *,
                 modules: type | Sequence[type] | None = None):
        super().__init__()
        if generate is None and modules is None:
            generate = "*"
        names = select_parameters(module, generate, modules)
        params = dict(module.named_parameters())
        self.module = module
        self.spec = TargetSpec((n, params[n].shape) for n in names)
        for n in names:
            params[n].requires_grad_(False)

    @property
    def names(self) -> tuple[str, ...]:
        return self.spec.names

    @property
    def num_weights(self) -> int:
        """How many scalars a hypernetwork has to generate."""
        return self.spec.numel

    def original(self) -> dict[str, torch.Tensor]:
        """The module's own values of the generated parameters (detached copies)."""
        params = dict(self.module.named_parameters())
        return {n: params[n].detach().clone() for n in self.names}

    def original_flat(self) -> torch.Tensor:
        return self.spec.flatten(self.original())

    def _weights(self, weights: Mapping[str, torch.Tensor] | torch.Tensor, batch_dims: int) -> dict[str, torch.Tensor]:
        if isinstance(weights, torch.Tensor):
            if weights.dim() != batch_dims + 1:
                raise ValueError(f"flat weights must have shape {'(B, ' if batch_dims else '('}{self.num_weights}), "
                                 f"got {tuple(weights.shape)}")
            return self.spec.split(weights)
        self.spec.check(weights, batch_dims)
        return dict(weights)

    def forward(self, weights: Mapping[str, torch.Tensor] | torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        """The module's output on ``*args`` with the generated parameters set to ``weights``."""
        return functional_call(self.module, self._weights(weights, 0), args, kwargs, strict=False)

    def batched(self, weights: Mapping[str, torch.Tensor] | torch.Tensor, *args: Any, per_sample: bool = False,
                **kwargs: Any) -> Any:
        """Run ``B`` weight sets at once with ``torch.func.vmap``.

        ``per_sample=False``: every set sees the same ``*args`` → outputs ``(B, ...)``. ``per_sample=True``: the
        tensors in ``*args`` hold ``B`` samples along dim 0 and sample ``b`` is run with set ``b`` (as a batch
        of one) → outputs ``(B, ...)`` like the unbatched module's.
        """
        w = self._weights(weights, 1)
        b = next(iter(w.values())).shape[0]
        buffers = {n: t.expand(b, *t.shape).clone() for n, t in self.module.named_buffers()}
        module = self.module

        if per_sample:
            bad = [i for i, a in enumerate(args) if not isinstance(a, torch.Tensor) or a.dim() == 0 or a.shape[0] != b]
            if bad:
                raise ValueError(f"per_sample=True needs every positional input to hold {b} samples along dim 0 "
                                 f"(one per weight set); inputs {bad} do not")

            def one(wb, bb, *xs):
                xs = tuple(x.unsqueeze(0) for x in xs)
                out = functional_call(module, {**wb, **bb}, xs, kwargs, strict=False)
                return out.squeeze(0)

            return vmap(one, in_dims=(0, 0, *([0] * len(args))), randomness="different")(w, buffers, *args)

        def shared(wb, bb):
            return functional_call(module, {**wb, **bb}, args, kwargs, strict=False)

        return vmap(shared, in_dims=(0, 0), randomness="different")(w, buffers)

    def extra_repr(self) -> str:
        return f"generates {len(self.names)} tensors, {self.num_weights} weights"
