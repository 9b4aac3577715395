"""Registered models of the hypernets plugin (factories take explicit keyword arguments).

Continual learning (kind ``continual-learning``, core's protocol): ``hypernet-cl`` (task-conditioned
hypernetwork with the output regulariser of von Oswald et al.; ``hypernet="mlp" | "chunked" | "rnn"``),
``rnn-hypernet-cl`` (the dependency-preserving RNN hypernetwork, Chandra et al.), ``hyperinterval``.

Hyperparameter-conditioned classifiers (kind ``hyperparameter-conditioned``): ``hypernet-conditioned`` (the
default parametrisation, ``θ = H(γ)``) and ``mip-hypernet`` (MIP: ``θ = θ0 + H([cos(πγ/2), sin(πγ/2)])``).
"""

from __future__ import annotations

import torch
from torch import nn

from .continual import HyperIntervalNet, HypernetCL, target_mlp
from .layers import HyperNetwork
from .target import FunctionalTarget

__all__ = ["bo_rep", "stocbio", "stn_mlp", "psl", "svh_psl", "ConditionedClassifier", "hypernet_cl",
           "rnn_hypernet_cl", "hyperinterval", "hypernet_conditioned", "mip_hypernet"]


def hypernet_cl(*, in_features: int, num_classes: int, num_tasks: int, width: int = 100, depth: int = 2,
                embedding_width: int = 32, hyper_width: int = 100, hyper_depth: int = 2, hypernet: str = "mlp",
                chunk_size: int | None = None, regularizer_weight: float = 0.01) -> HypernetCL:
    """Task-conditioned hypernetwork + output regulariser β (``regularizer_weight``) over an MLP target."""
    return HypernetCL(in_features=in_features, num_classes=num_classes, num_tasks=num_tasks, width=width,
                      depth=depth, embedding_width=embedding_width, hyper_width=hyper_width,
                      hyper_depth=hyper_depth, hypernet=hypernet, chunk_size=chunk_size,
                      regularizer_weight=regularizer_weight)


def rnn_hypernet_cl(*, in_features: int, num_classes: int, num_tasks: int, width: int = 100, depth: int = 2,
                    embedding_width: int = 32, hyper_width: int = 64, chunk_size: int = 1024,
                    regularizer_weight: float = 0.01) -> HypernetCL:
    """The LSTM hypernetwork generating the target chunk by chunk, layer by layer, + the output regulariser."""
    return HypernetCL(in_features=in_features, num_classes=num_classes, num_tasks=num_tasks, width=width,
                      depth=depth, embedding_width=embedding_width, hyper_width=hyper_width, hyper_depth=1,
                      hypernet="rnn", chunk_size=chunk_size, regularizer_weight=regularizer_weight)


def hyperinterval(*, in_features: int, num_classes: int, num_tasks: int, width: int = 100, depth: int = 2,
                  embedding_width: int = 32, hyper_width: int = 100, hyper_depth: int = 2,
                  regularizer_weight: float = 0.01, radius: float = 0.01, worst_case_weight: float = 0.5,
                  warmup_steps: int = 50, nesting: bool = False, kappa_schedule: str = "linear") -> HyperIntervalNet:
    """HyperInterval: box embeddings with half-widths summing to ``radius`` (ε), IBP, the worst-case loss with
    weight ``worst_case_weight`` (1 − κ) through core's label-aware ``continual_loss`` hook, a universal embedding
    (``nesting=True``: centres kept inside the boxes so that all boxes contain 0; default: free centres).
    ``kappa_schedule``: ``"linear"`` (box and 1 − κ ramp together over ``warmup_steps``) or ``"paper"`` (the authors'
    schedule, ``warmup_steps`` = half a sub-task's steps)."""
    return HyperIntervalNet(in_features=in_features, num_classes=num_classes, num_tasks=num_tasks, width=width,
                            depth=depth, embedding_width=embedding_width, hyper_width=hyper_width,
                            hyper_depth=hyper_depth, regularizer_weight=regularizer_weight, radius=radius,
                            worst_case_weight=worst_case_weight, warmup_steps=warmup_steps,
                            nesting=nesting, kappa_schedule=kappa_schedule)


class ConditionedClassifier(nn.Module):
    """An MLP classifier whose weights a hypernetwork generates from a hyperparameter ``γ ∈ [0, 1]``.

    ``model(x, gamma)``: ``gamma`` a float or a 0-d/1-element tensor. ``last_weights`` holds the flat weights of
    the last call (the task's regulariser reads it). ``mip=True``: MIP encoding and additive ``θ0``.
    """

    takes_gamma = True

    def __init__(self, *, in_features: int, num_classes: int, width: int, depth: int, hyper_width: int,
                 hyper_depth: int, mip: bool):
        super().__init__()
        target = FunctionalTarget(target_mlp(in_features, num_classes, width, depth))
        self.hnet = HyperNetwork(target, cond_dim=1, hypernet="mlp", width=hyper_width, depth=hyper_depth,
                                 encoding="mip" if mip else None, additive=mip)
        self.mip = mip
        self.last_weights: torch.Tensor | None = None
        self.weight_mask = torch.cat([torch.full((n,), not name.endswith("bias")) for name, n in
                                      zip(target.names, target.spec.numels)])

    def forward(self, x: torch.Tensor, gamma: float | torch.Tensor = 0.5) -> torch.Tensor:
        g = torch.as_tensor(gamma, dtype=x.dtype, device=x.device).reshape(1)
        flat = self.hnet.generate_flat(z=g)
        self.last_weights = flat
        return self.hnet.target(flat, x)


def hypernet_conditioned(*, in_features: int, num_classes: int, width: int = 100, depth: int = 1,
                         hyper_width: int = 64, hyper_depth: int = 2) -> ConditionedClassifier:
    """The default hypernetwork parametrisation: ``θ = H(γ)`` (raw input, PyTorch's default initialisation)."""
    return ConditionedClassifier(in_features=in_features, num_classes=num_classes, width=width, depth=depth,
                                 hyper_width=hyper_width, hyper_depth=hyper_depth, mip=False)


def mip_hypernet(*, in_features: int, num_classes: int, width: int = 100, depth: int = 1, hyper_width: int = 64,
                 hyper_depth: int = 2) -> ConditionedClassifier:
    """MIP: ``θ = θ0 + H([cos(πγ/2), sin(πγ/2)])``, ``θ0`` from the target's initialisation."""
    return ConditionedClassifier(in_features=in_features, num_classes=num_classes, width=width, depth=depth,
                                 hyper_width=hyper_width, hyper_depth=hyper_depth, mip=True)


def psl(*, num_objectives: int, num_variables: int, width: int = 64, depth: int = 2, num_particles: int = 16,
        update: str = "mean"):
    """Pareto set learning: a preference-to-solution hypernetwork trained on the mean Tchebycheff objective
    (``update="lin2022"``: the PSL authors' normalised augmented inverse-weight Tchebycheff step)."""
    from .psl import ParetoHypernet

    return ParetoHypernet(num_objectives=num_objectives, num_variables=num_variables, width=width, depth=depth,
                          svgd=False, num_particles=num_particles, update=update)


def svh_psl(*, num_objectives: int, num_variables: int, width: int = 64, depth: int = 2, num_particles: int = 16,
            kernel_scale: float = 1e-2, repulsion: float = 1e-3):
    """SVH-PSL: the same hypernetwork, its solutions moved as SVGD particles (``kernel_scale`` = the bandwidth
    factor c, ``repulsion`` = α; the authors' run script uses c = 1, α = 1e-3, 10 particles, width 256)."""
    from .psl import ParetoHypernet

    return ParetoHypernet(num_objectives=num_objectives, num_variables=num_variables, width=width, depth=depth,
                          svgd=True, num_particles=num_particles, kernel_scale=kernel_scale, repulsion=repulsion)


def stn_mlp(*, in_features: int, num_classes: int, width: int = 128, depth: int = 2, dropout: float = 0.1,
            l2_weight: float = 1e-4, entropy_weight: float = 1e-3):
    """Self-tuning MLP: STN layers, initial ``dropout`` and ``l2_weight`` tuned online."""
    from .stn import STNMLP

    return STNMLP(in_features=in_features, num_classes=num_classes, width=width, depth=depth, dropout=dropout,
                  l2_weight=l2_weight, entropy_weight=entropy_weight)


def bo_rep(*, in_features: int, num_classes: int, num_train: int, upper_lr: float = 1.0, lower_lr: float = 0.5,
           lower_steps: int = 5, period: int = 4, refine_steps: int = 200, momentum: float = 0.9,
           neumann_terms: int = 10, l2_weight: float = 1e-3):
    """BO-REP: normalised momentum upper steps, initialisation refinement, periodic lower-level updates."""
    from .bilevel import HyperCleaner

    return HyperCleaner(in_features=in_features, num_classes=num_classes, num_train=num_train, method="bo-rep",
                        upper_lr=upper_lr, lower_lr=lower_lr, lower_steps=lower_steps, period=period,
                        refine_steps=refine_steps, momentum=momentum, neumann_terms=neumann_terms,
                        l2_weight=l2_weight)


def stocbio(*, in_features: int, num_classes: int, num_train: int, upper_lr: float = 100.0, lower_lr: float = 0.5,
            lower_steps: int = 5, neumann_terms: int = 10, l2_weight: float = 1e-3):
    """stocBiO-style baseline: lower-level steps every iteration, plain hypergradient steps."""
    from .bilevel import HyperCleaner

    return HyperCleaner(in_features=in_features, num_classes=num_classes, num_train=num_train, method="stocbio",
                        upper_lr=upper_lr, lower_lr=lower_lr, lower_steps=lower_steps, refine_steps=0,
                        momentum=0.0, neumann_terms=neumann_terms, l2_weight=l2_weight)
