"""Hypernetworks (MLP, chunked, RNN), the MIP encoding, and :func:`hypernetize` -- three lines to put any module
under a hypernetwork:

    hnet = hypernetize(model, "*.weight", embedding_dim=8, num_embeddings=3)   # one embedding per task/condition
    y = hnet(x, task_id=1)                      # run model with weights generated from embedding 1
    y = hnet(x, z=torch.rand(8))                # ... or from any conditioning vector

A generator maps a conditioning vector ``z (..., in_dim)`` to the flat target weights ``(..., num_weights)``:

- :class:`MLPHypernet`: ``θ = W_out h(z) + b_out`` with ``h`` a ReLU MLP (``depth`` hidden layers of ``width``).
- :class:`ChunkedHypernet` (von Oswald et al. 2020): chunk ``k`` of ``chunk_size`` weights is ``H([z, c_k])``
  with learned chunk embeddings ``c_k``; the concatenation is cut to ``num_weights``. Its size no longer grows
  with the target's: ``in_dim·width + width·chunk_size`` instead of ``width·num_weights``.
- :class:`RNNHypernet` ("Continual Learning with Dependency Preserving Hypernetworks", Chandra et al. 2023):
  an LSTM cell emits the target's weights layer by layer, chunk by chunk: ``(h_k, c_k) = LSTM([z, s_k],
  (h_{k−1}, c_{k−1}))``, ``θ_k = W_o h_k + b_o``, with learned step embeddings ``s_k`` -- every chunk is
  conditioned on all the earlier ones through the recurrent state.

MIP (Ortiz et al. 2023, "Magnitude Invariant Parametrizations Improve Hypernetwork Learning"): the input
encoding ``E(γ) = [cos(πγ/2), sin(πγ/2)]`` per scalar ``γ ∈ [0, 1]`` (``‖E(γ)‖² = k`` for every γ) and the
additive output ``θ = θ0 + H(E(γ))`` with a learned ``θ0`` initialised as the target's own initialisation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .target import FunctionalTarget, TargetSpec

__all__ = ["MLPHypernet", "ChunkedHypernet", "RNNHypernet", "HyperNetwork", "hypernetize", "mip_encode",
           "make_generator"]


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def mip_encode(gamma: torch.Tensor) -> torch.Tensor:
    """``E(γ) = [cos(πγ/2), sin(πγ/2)]`` along the last dimension: ``(..., k) → (..., 2k)``, constant norm √k.

    ``γ`` must lie in ``[0, 1]`` (normalise the hyperparameter's range first): outside it the map is not one-to-one.
    """
    if not isinstance(gamma, torch.Tensor) or not gamma.is_floating_point():
        raise TypeError(f"mip_encode takes a floating-point tensor, got {type(gamma).__name__}")
    if gamma.numel() and (bool((gamma < -1e-6).any()) or bool((gamma > 1 + 1e-6).any())):
        raise ValueError(f"MIP inputs must lie in [0, 1], got values in [{float(gamma.min()):.3g}, "
                         f"{float(gamma.max()):.3g}]; rescale the hyperparameter to its range first")
    angle = 0.5 * math.pi * gamma
    return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)


def _mlp(in_dim: int, width: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return nn.Sequential(*layers)


class MLPHypernet(nn.Module):
    """``θ = W_out h(z) + b_out``, ``h`` = ``depth`` ReLU layers of ``width`` (``depth=0``: linear)."""

    def __init__(self, in_dim: int, num_weights: int, *, width: int = 100, depth: int = 2):
        super().__init__()
        _positive("in_dim", in_dim), _positive("num_weights", num_weights), _positive("width", width)
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        self.in_dim, self.num_weights = in_dim, num_weights
        self.body = _mlp(in_dim, width, depth)
        self.head = nn.Linear(width if depth else in_dim, num_weights)

    @property
    def head_width(self) -> int:
        return self.head.in_features

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(z))

    def init_head_per_tensor(self, spec: TargetSpec) -> None:
        """MIP / hyperlight-style output init: rows of each weight tensor ~ N(0, 2/numel), bias rows 0, b_out 0."""
        with torch.no_grad():
            self.head.bias.zero_()
            for name, off, n in zip(spec.names, spec.offsets, spec.numels):
                rows = self.head.weight[off:off + n]
                if name.endswith("bias"):
                    rows.zero_()
                else:
                    rows.normal_(0.0, math.sqrt(2.0 / n))


class ChunkedHypernet(nn.Module):
    """Chunk ``k`` = ``H([z, c_k])`` (``chunk_size`` weights each) with learned chunk embeddings ``c_k``."""

    def __init__(self, in_dim: int, num_weights: int, *, chunk_size: int = 4096, chunk_dim: int = 8,
                 width: int = 100, depth: int = 2):
        super().__init__()
        _positive("in_dim", in_dim), _positive("num_weights", num_weights), _positive("chunk_size", chunk_size)
        _positive("chunk_dim", chunk_dim)
        self.in_dim, self.num_weights, self.chunk_size = in_dim, num_weights, chunk_size
        self.num_chunks = -(-num_weights // chunk_size)
        self.chunk_embeddings = nn.Parameter(torch.randn(self.num_chunks, chunk_dim))
        self.net = MLPHypernet(in_dim + chunk_dim, chunk_size, width=width, depth=depth)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        c = self.chunk_embeddings.expand(*lead, -1, -1)
        zz = z.unsqueeze(-2).expand(*lead, self.num_chunks, z.shape[-1])
        out = self.net(torch.cat([zz, c], dim=-1))                   # (..., K, chunk_size)
        return out.reshape(*lead, -1)[..., :self.num_weights]


class RNNHypernet(nn.Module):
    """An LSTM cell emits the weights chunk by chunk, layer by layer (each tensor starts a new chunk).

    Step ``k`` reads ``[z, s_k]`` (``s_k`` a learned step embedding) and the state left by step ``k−1``, so a layer's
    weights depend on those generated before it. Output ``(..., num_weights)`` in the target's flat order.
    """

    def __init__(self, in_dim: int, spec: TargetSpec, *, width: int = 64, chunk_size: int = 1024,
                 step_dim: int = 8):
        super().__init__()
        _positive("in_dim", in_dim), _positive("width", width), _positive("chunk_size", chunk_size)
        self.in_dim, self.num_weights, self.chunk_size = in_dim, spec.numel, chunk_size
        self.steps = [(off + i, min(chunk_size, n - i)) for off, n in zip(spec.offsets, spec.numels)
                      for i in range(0, n, chunk_size)]
        self.step_embeddings = nn.Parameter(torch.randn(len(self.steps), step_dim))
        self.cell = nn.LSTMCell(in_dim + step_dim, width)
        self.head = nn.Linear(width, chunk_size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        flat = z.reshape(-1, z.shape[-1])
        h = flat.new_zeros(flat.shape[0], self.cell.hidden_size)
        c = torch.zeros_like(h)
        outs = []
        for k, (_, n) in enumerate(self.steps):
            step = self.step_embeddings[k].expand(flat.shape[0], -1)
            h, c = self.cell(torch.cat([flat, step], dim=-1), (h, c))
            outs.append(self.head(h)[:, :n])
        return torch.cat(outs, dim=-1).reshape(*lead, self.num_weights)


def make_generator(kind: str, in_dim: int, spec: TargetSpec, *, width: int, depth: int, chunk_size: int | None,
                   chunk_dim: int = 8) -> nn.Module:
    """A generator of ``spec.numel`` weights: ``kind`` is ``"mlp"``, ``"chunked"`` or ``"rnn"``."""
    if kind == "mlp":
        return MLPHypernet(in_dim, spec.numel, width=width, depth=depth)
    if kind == "chunked":
        return ChunkedHypernet(in_dim, spec.numel, chunk_size=chunk_size or 4096, chunk_dim=chunk_dim, width=width,
                               depth=depth)
    if kind == "rnn":
        return RNNHypernet(in_dim, spec, width=width, chunk_size=chunk_size or 1024, step_dim=chunk_dim)
    raise ValueError(f"unknown hypernetwork {kind!r}: choose 'mlp', 'chunked' or 'rnn'")


class HyperNetwork(nn.Module):
    """A :class:`FunctionalTarget` run with weights generated from a conditioning vector.

    ``z`` is a learned embedding (``task_id`` picks row ``task_id`` of :attr:`embeddings`) or any vector of
    ``cond_dim`` (``z=``). With ``encoding="mip"`` the conditioning ``γ ∈ [0,1]^k`` is encoded as
    ``[cos(πγ/2), sin(πγ/2)]``; with ``additive=True`` the weights are ``θ0 + H(·)``, ``θ0`` a parameter
    initialised from the target's own (initialised) weights.
    """

    def __init__(self, target: FunctionalTarget, *, cond_dim: int, num_embeddings: int = 0,
                 hypernet: str = "mlp", width: int = 100, depth: int = 2, chunk_size: int | None = None,
                 encoding: str | None = None, additive: bool = False):
        super().__init__()
        _positive("cond_dim", cond_dim)
        if encoding not in (None, "mip"):
            raise ValueError(f"encoding must be None or 'mip', got {encoding!r}")
        if num_embeddings < 0:
            raise ValueError(f"num_embeddings must be >= 0, got {num_embeddings}")
        self.target, self.cond_dim, self.encoding = target, cond_dim, encoding
        in_dim = 2 * cond_dim if encoding == "mip" else cond_dim
        self.generator = make_generator(hypernet, in_dim, target.spec, width=width, depth=depth,
                                        chunk_size=chunk_size)
        self.embeddings = nn.Parameter(torch.randn(num_embeddings, cond_dim) * 0.1) if num_embeddings else None
        self.theta0 = nn.Parameter(target.original_flat()) if additive else None
        if additive and isinstance(self.generator, MLPHypernet):
            self.generator.init_head_per_tensor(target.spec)

    @property
    def num_weights(self) -> int:
        return self.target.num_weights

    def condition(self, task_id: int | torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """The conditioning vector(s): row(s) ``task_id`` of the embeddings, or ``z`` checked for size."""
        if (task_id is None) == (z is None):
            raise ValueError("give exactly one of task_id= (a learned embedding) or z= (a conditioning vector)")
        if z is not None:
            if not isinstance(z, torch.Tensor) or z.dim() < 1 or z.shape[-1] != self.cond_dim:
                got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
                raise ValueError(f"the conditioning vector must end in a dimension of {self.cond_dim} "
                                 f"(the embedding size), got {got}")
            return z
        if self.embeddings is None:
            raise ValueError("this hypernetwork has no learned embeddings (num_embeddings=0); pass z=")
        n = self.embeddings.shape[0]
        ids = torch.as_tensor(task_id, device=self.embeddings.device)
        if ids.dtype not in (torch.int32, torch.int64) or bool(((ids < 0) | (ids >= n)).any()):
            raise ValueError(f"task_id must be an int in [0, {n}), got {task_id!r}")
        return self.embeddings[ids]

    def generate_flat(self, task_id: int | torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """Flat generated weights ``(..., num_weights)``."""
        cond = self.condition(task_id, z)
        out = self.generator(mip_encode(cond) if self.encoding == "mip" else cond)
        return out + self.theta0 if self.theta0 is not None else out

    def generate(self, task_id: int | torch.Tensor | None = None, z: torch.Tensor | None = None
                 ) -> dict[str, torch.Tensor]:
        """Generated weights as ``{parameter name: tensor}`` (leading batch dims kept)."""
        return self.target.spec.split(self.generate_flat(task_id, z))

    def forward(self, *args: Any, task_id: int | torch.Tensor | None = None, z: torch.Tensor | None = None,
                per_sample: bool = False, **kwargs: Any) -> Any:
        """The target's output with generated weights. A batch of conditions ``(B, cond_dim)`` runs through
        ``vmap``: every set on the same inputs, or set ``b`` on sample ``b`` with ``per_sample=True``."""
        flat = self.generate_flat(task_id, z)
        if flat.dim() == 1:
            return self.target(flat, *args, **kwargs)
        return self.target.batched(flat, *args, per_sample=per_sample, **kwargs)


def hypernetize(module: nn.Module, generate: str | Sequence[str] | None = None, *,
                modules: type | Sequence[type] | None = None, embedding_dim: int = 8, num_embeddings: int = 1,
                hypernet: str = "mlp", width: int = 100, depth: int = 2, chunk_size: int | None = None,
                encoding: str | None = None, additive: bool = False) -> HyperNetwork:
    """Put ``module`` under a hypernetwork: the parameters selected by ``generate`` (fnmatch patterns) and/or
    ``modules`` (types) are generated (every parameter when neither is given); the rest stay ordinary trainable
    parameters of ``module``.

    Returns a :class:`HyperNetwork` (``hnet(x, task_id=t)`` or ``hnet(x, z=vector)``); ``hnet.target.original()``
    holds the module's own values of the generated parameters.
    """
    target = FunctionalTarget(module, generate, modules=modules)
    return HyperNetwork(target, cond_dim=embedding_dim, num_embeddings=num_embeddings, hypernet=hypernet,
                        width=width, depth=depth, chunk_size=chunk_size, encoding=encoding, additive=additive)
