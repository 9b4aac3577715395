"""Hypernetwork continual learning: the task-conditioned hypernetwork with its output regulariser (von Oswald et
al. 2020), its RNN-hypernetwork variant (Chandra et al. 2023) and HyperInterval (Krukowski et al. 2024).

All follow core's continual-learning model protocol (``hyperzoo.core.continual``): ``takes_task_id = True``
(called as ``model(x, task_id)`` with one sub-task id per example), ``begin_task(t)``, ``end_task(t, train_inputs,
train_targets)`` and ``auxiliary_losses()`` (added to the loss by the trainer). Called as ``model(x)`` (evaluation
without task identity) :class:`HypernetCL` infers each example's sub-task as the learned one whose network is
most confident (lowest predictive entropy, von Oswald et al.'s HNET+ENT; all tasks' networks in one ``vmap``) and
:class:`HyperIntervalNet` uses its universal embedding.

**Hypernetwork regulariser** (von Oswald et al., "Continual learning with hypernetworks"). Task ``t`` has a learned
embedding ``e_t``; the target weights are ``θ_t = H(e_t)``. After task ``t`` the outputs ``θ*_s = H(e_s)`` of
every task ``s <= t`` are stored; while learning task ``T`` the loss adds

    β / (T − 1) · Σ_{s<T} ‖H(e_s) − θ*_s‖²

(all earlier embeddings in one batched generator call; old embeddings stay fixed). The look-ahead ``Δθ`` of the
paper is not used (it reports it as optional).

**HyperInterval** (Krukowski et al., arXiv 2405.15444). Task ``t`` owns a box ``[e_t − r_t, e_t + r_t]`` with learned
half-widths ``r_t = ε·softmax(ρ_t)`` (they sum to ``ε``, the paper's perturbation size) and centre ``e_t``: a free
learned embedding (``nesting=False``, the default: the paper's task-incremental training, where each task's
accuracy is that of its own centre network ``H(e_t)``), or ``e_t = r_t ⊙ tanh(a_t)`` (``nesting=True``: ``|e_t| <
r_t``, so ``0`` lies in every box and their intersection is never empty -- what the universal network needs, at
the price of embeddings that differ by at most ``2ε``).
IBP through the hypernetwork maps the box to a box of target weights ``[θ_lo, θ_hi]`` (midpoint ``θ_mid``), and
IBP through the target maps the input with those weight boxes to logit bounds ``[z_lo, z_hi]``. The loss of the
current task is

    κ·CE(z_mid, y) + (1 − κ)·CE(z_worst, y),     z_worst = z_lo on the true class y, z_hi on every other,

through core's label-aware hook ``continual_loss(x, y, task_id, allowed)`` (classes outside ``allowed`` masked
in both); the box half-widths and ``1 − κ`` ramp up from 0 to ``ε`` and ``worst_case_weight`` over
``warmup_steps`` steps per sub-task (``kappa_schedule="linear"``, the default). ``kappa_schedule="paper"`` is the
schedule of the authors' task-incremental script (``Training/train_non_forced_classification_scenario.py`` of
github.com/pkrukowski1/HyperInterval), with ``W = warmup_steps`` meant as half a sub-task's steps: at step
``s < W`` of a sub-task the half-widths are ``s/(W − 1)·r_t`` and ``κ_s = max(1 − 5·10⁻⁵·s, κ)``, from step ``W``
on ``r_t`` and ``κ`` (``κ = 1 − worst_case_weight``): the first half is nearly the nominal loss on a growing box,
the second the full worst-case loss. After task ``t`` the IBP bounds and midpoint ``(θ_lo,s, θ_mid,s, θ_hi,s)``
of every earlier box are stored, and learning task ``T`` adds

    β / (T − 1) · Σ_{s<T} (‖θ_lo,s − θ*_lo,s‖² + ‖θ_mid,s − θ*_mid,s‖² + ‖θ_hi,s − θ*_hi,s‖²) / 3

(all earlier boxes in one IBP pass): each old task's weight box, and so its certified predictions, stays put.
(The authors' task-incremental script regularises the midpoints only; on permuted digits that forgets more:
see docs/plugins/hypernets.md.)
The universal embedding ``u`` is the centre of the intersection of the boxes (empty boxes raise; with
``nesting=True`` never empty): as ``u`` lies in every box, ``H(u)``
lies in every task's weight box, so one network serves every task, and the worst-case logits bound its
predictions on each task (the guarantee; :meth:`HyperIntervalNet.certify`). Evaluation uses the centre network
``H(e_t)`` with a task id and ``H(u)`` without one.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .interval import interval_sequential
from .layers import MLPHypernet, make_generator
from .target import FunctionalTarget

__all__ = ["HypernetCL", "HyperIntervalNet", "target_mlp", "worst_case_logits", "PAPER_KAPPA_DECAY"]

#: κ's decrease per step in the first half of a sub-task under ``kappa_schedule="paper"`` (the constant of the
#: authors' ``train_non_forced_classification_scenario.py``: ``kappa = max(1 - 0.00005*iteration, kappa)``).
PAPER_KAPPA_DECAY = 5e-5


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def target_mlp(in_features: int, num_classes: int, width: int, depth: int) -> nn.Sequential:
    """The target network: ``Flatten``, ``depth`` ReLU layers of ``width``, a linear classifier."""
    layers: list[nn.Module] = [nn.Flatten()]
    d = in_features
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    layers.append(nn.Linear(d, num_classes))
    return nn.Sequential(*layers)


def worst_case_logits(mid: torch.Tensor, rad: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Lower bound on the true class, upper bound on every other class."""
    onehot = F.one_hot(targets, mid.shape[-1]).bool()
    return torch.where(onehot, mid - rad, mid + rad)


class HypernetCL(nn.Module):
    """A task-conditioned hypernetwork over an MLP target with the output regulariser (see the module docstring).

    ``hypernet`` is ``"mlp"``, ``"chunked"`` or ``"rnn"`` (the dependency-preserving RNN hypernetwork).
    """

    takes_task_id = True

    def __init__(self, *, in_features: int, num_classes: int, num_tasks: int, width: int = 100, depth: int = 2,
                 embedding_width: int = 32, hyper_width: int = 100, hyper_depth: int = 2, hypernet: str = "mlp",
                 chunk_size: int | None = None, regularizer_weight: float = 0.01):
        super().__init__()
        for name in ("in_features", "num_classes", "num_tasks", "width", "embedding_width", "hyper_width"):
            _positive(name, locals()[name])
        if not regularizer_weight >= 0:
            raise ValueError(f"regularizer_weight must be >= 0, got {regularizer_weight}")
        self.num_tasks, self.regularizer_weight = num_tasks, float(regularizer_weight)
        self.target = FunctionalTarget(target_mlp(in_features, num_classes, width, depth))
        self.generator = make_generator(hypernet, embedding_width, self.target.spec, width=hyper_width,
                                        depth=hyper_depth, chunk_size=chunk_size)
        self.task_embeddings = nn.Parameter(torch.randn(num_tasks, embedding_width) * 0.1)
        self.register_buffer("stored", torch.zeros(0, self.target.num_weights))
        self.register_buffer("learned", torch.zeros((), dtype=torch.long))   # sub-tasks finished (end_task)
        self.current = 0
        self._reg: torch.Tensor | None = None      # the regulariser computed with the last training forward

    # -- task ids ----------------------------------------------------------------------------------------------
    def _task(self, task_id: int | torch.Tensor) -> int:
        if isinstance(task_id, torch.Tensor):
            if task_id.numel() == 0:
                raise ValueError("task_id is empty")
            task_id = int(task_id.reshape(-1)[0])
        if isinstance(task_id, bool) or not isinstance(task_id, int) or not 0 <= task_id < self.num_tasks:
            raise ValueError(f"task_id must be an int in [0, {self.num_tasks}), got {task_id!r}")
        return task_id

    def _per_task(self, x: torch.Tensor, task_id: int | torch.Tensor, fn) -> torch.Tensor:
        """``fn(x_rows, t)`` for each sub-task present in ``task_id`` (an int or one id per example)."""
        if not isinstance(task_id, torch.Tensor) or task_id.dim() == 0:
            return fn(x, self._task(task_id))
        if task_id.shape != (len(x),):
            raise ValueError(f"task_id must hold one id per example ({len(x)}), got shape {tuple(task_id.shape)}")
        ids = task_id.unique()
        if len(ids) == 1:
            return fn(x, self._task(int(ids[0])))
        parts = {int(t): fn(x[task_id == t], self._task(int(t))) for t in ids}
        out = next(iter(parts.values())).new_empty(len(x), *next(iter(parts.values())).shape[1:])
        for t, o in parts.items():
            out[task_id == t] = o
        return out

    # -- weights and outputs ------------------------------------------------------------------------------------
    def embedding(self, task_id: int) -> torch.Tensor:
        return self.task_embeddings[self._task(task_id)]

    def weights(self, task_id: int) -> torch.Tensor:
        """Flat target weights of sub-task ``task_id``."""
        return self.generator(self.embedding(task_id))

    def forward(self, x: torch.Tensor, task_id: int | torch.Tensor | None = None) -> torch.Tensor:
        if task_id is None:
            return self.infer_task_forward(x)
        n = min(len(self.stored), self.current)
        if self.training and n and self.regularizer_weight and type(self) is HypernetCL:
            ids = task_id.unique() if isinstance(task_id, torch.Tensor) and task_id.dim() else None
            if ids is None or len(ids) == 1:
                t = self._task(task_id if ids is None else int(ids[0]))
                # one generator call for the current task and every earlier one: the output layer's weights are
                # read once and its gradient written once (the regulariser then costs a few extra rows)
                z = torch.cat([self.task_embeddings[t:t + 1], self.task_embeddings[:n].detach()])
                out = self.generator(z)
                self._reg = self.regularizer_weight * (out[1:] - self.stored[:n]).square().sum(-1).mean()
                return self.target(out[0], x)
        return self._per_task(x, task_id, lambda xs, t: self.target(self.weights(t), xs))

    @torch.no_grad()
    def infer_task_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits with each example's sub-task inferred: the learned task of lowest predictive entropy."""
        n = max(int(self.learned), 1)
        outs = self.target.batched(self.generator(self.task_embeddings[:n]), x)       # (n, N, C), one vmap
        logp = torch.log_softmax(outs, -1)
        entropy = -(logp.exp() * logp).sum(-1)                                       # (n, N)
        best = entropy.argmin(0)
        return outs[best, torch.arange(len(x))]

    # -- the protocol ---------------------------------------------------------------------------------------------
    def begin_task(self, t: int) -> None:
        self.current = self._task(t)
        if hasattr(self, "steps"):
            self.steps.zero_()

    def regularizer(self) -> torch.Tensor:
        """β/(T−1) Σ_{s<T} ‖H(e_s) − θ*_s‖², the earlier embeddings in one batched generator call."""
        n = min(len(self.stored), self.current)
        if n == 0 or self.regularizer_weight == 0:
            return self.task_embeddings.new_zeros(())
        now = self.generator(self.task_embeddings[:n].detach())
        return self.regularizer_weight * (now - self.stored[:n]).square().sum(-1).mean()

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        if not self.training or self.current == 0 or self.regularizer_weight == 0:
            return {}
        reg, self._reg = self._reg, None
        return {"hnet_reg": self.regularizer() if reg is None else reg}

    @torch.no_grad()
    def end_task(self, t: int, train_inputs: Any = None, train_targets: Any = None) -> None:
        t = self._task(t)
        self.stored = self.generator(self.task_embeddings[:t + 1]).detach().clone()
        self.learned.fill_(max(int(self.learned), t + 1))


class HyperIntervalNet(HypernetCL):
    """HyperInterval: interval task embeddings, IBP through hypernetwork and target, a universal embedding."""

    def __init__(self, *, in_features: int, num_classes: int, num_tasks: int, width: int = 100, depth: int = 2,
                 embedding_width: int = 32, hyper_width: int = 100, hyper_depth: int = 2,
                 regularizer_weight: float = 0.01, radius: float = 0.01, worst_case_weight: float = 0.5,
                 warmup_steps: int = 50, nesting: bool = False, kappa_schedule: str = "linear"):
        super().__init__(in_features=in_features, num_classes=num_classes, num_tasks=num_tasks, width=width,
                         depth=depth, embedding_width=embedding_width, hyper_width=hyper_width,
                         hyper_depth=hyper_depth, hypernet="mlp", regularizer_weight=regularizer_weight)
        if not (isinstance(radius, (int, float)) and radius > 0 and math.isfinite(radius)):
            raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
        if not 0 <= worst_case_weight < 1:
            raise ValueError(f"worst_case_weight must be in [0, 1), got {worst_case_weight!r}")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}")
        if not isinstance(nesting, bool):
            raise ValueError(f"nesting must be True or False, got {nesting!r}")
        if kappa_schedule not in ("linear", "paper"):
            raise ValueError(f"kappa_schedule must be 'linear' (1 − κ and the box ramp together over warmup_steps) or "
                             f"'paper' (the authors' schedule over warmup_steps = half a sub-task), got "
                             f"{kappa_schedule!r}")
        self.radius, self.worst_case_weight, self.nesting = float(radius), float(worst_case_weight), nesting
        self.kappa_schedule = kappa_schedule
        self.warmup_steps = warmup_steps
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))   # training steps in this sub-task
        if nesting:                                         # the pre-tanh parameters a_t; else e_t itself
            with torch.no_grad():
                self.task_embeddings.uniform_(-1.0, 1.0)
        self.task_radii = nn.Parameter(torch.rand(num_tasks, embedding_width))   # ρ_t: r_t = ε softmax(ρ_t)
        self.register_buffer("stored_bounds", torch.zeros(0, 3, self.target.num_weights))
        assert isinstance(self.generator, MLPHypernet)

    # -- boxes ---------------------------------------------------------------------------------------------------
    def half_widths(self, n: int | None = None) -> torch.Tensor:
        """``r_t = ε·softmax(ρ_t)`` of the first ``n`` tasks (all by default)."""
        rho = self.task_radii if n is None else self.task_radii[:n]
        return self.radius * torch.softmax(rho, dim=-1)

    def centers(self, n: int | None = None) -> torch.Tensor:
        """Box centres: the free embeddings ``e_t``, or with ``nesting`` ``e_t = r_t ⊙ tanh(a_t)`` (``|e_t| < r_t``
        elementwise, so ``0`` is in every box)."""
        a = self.task_embeddings if n is None else self.task_embeddings[:n]
        return self.half_widths(n) * torch.tanh(a) if self.nesting else a

    def center(self, task_id: int) -> torch.Tensor:
        t = self._task(task_id)
        return self.centers(t + 1)[t]

    def boxes(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Lower and upper corners of the first ``n`` (default: learned) task boxes."""
        n = max(int(self.learned), 1) if n is None else n
        c, r = self.centers(n), self.half_widths(n)
        return c - r, c + r

    def universal_embedding(self, n: int | None = None) -> torch.Tensor:
        """Centre of the intersection of the first ``n`` (default: learned) boxes (never empty with ``nesting``)."""
        lo, hi = self.boxes(n)
        lo, hi = lo.max(0).values, hi.min(0).values
        if bool((lo > hi).any()):
            raise RuntimeError("the task boxes do not intersect, so there is no universal embedding: build the "
                               "model with nesting=True (boxes that all contain 0) or pass a task id")
        return (lo + hi) / 2

    def boxes_intersect(self, n: int | None = None) -> bool:
        """Whether the first ``n`` (default: learned) boxes have a common point (a universal embedding)."""
        lo, hi = self.boxes(n)
        return bool((lo.max(0).values <= hi.min(0).values).all())

    def ramp(self) -> float:
        """The IBP curriculum of a sub-task (Gowal et al. 2018, as InterContiNet and HyperInterval train): the
        factor on the box half-widths at the current step. ``"linear"``: ``min(1, s/W)`` (the worst-case weight
        follows it); ``"paper"``: ``s/(W − 1)`` for ``s < W``, then 1 (the authors' ε ramp)."""
        s, w = int(self.steps), self.warmup_steps
        if w == 0 or s >= w:
            return 1.0
        return s / max(w - 1, 1) if self.kappa_schedule == "paper" else s / w

    def weight_box(self, task_id: int | None = None, z_mid: torch.Tensor | None = None,
                   z_rad: torch.Tensor | None = None, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """IBP of an embedding box (task ``task_id``'s, half-widths times ``scale``, or ``(z_mid, z_rad)``)
        through the hypernetwork: the flat target-weight box ``(θ_mid, θ_rad)``."""
        if z_mid is None:
            t = self._task(task_id)
            z_mid, z_rad = self.centers(t + 1)[t], scale * self.half_widths(t + 1)[t]
        stack = nn.Sequential(*self.generator.body, self.generator.head)     # shares the generator's layers
        mid, rad = interval_sequential(stack, z_mid.reshape(1, -1), z_rad.reshape(1, -1))
        return mid[0], rad[0]

    def logit_box(self, x: torch.Tensor, theta_mid: torch.Tensor, theta_rad: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """IBP of the point inputs ``x`` through the target with the weight box ``(θ_mid, θ_rad)``."""
        mids, rads = self.target.spec.split(theta_mid), self.target.spec.split(theta_rad)
        x = x.reshape(len(x), -1)
        return interval_sequential(self.target.module, x, torch.zeros_like(x),
                                   {n: (mids[n], rads[n]) for n in self.target.names})

    # -- outputs ---------------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, task_id: int | torch.Tensor | None = None) -> torch.Tensor:
        """The centre network of each example's task box (``H(e_t)``); without ids the universal network."""
        if task_id is None:                                   # no task identity: the universal network
            return self.target(self.generator(self.universal_embedding()), x)
        return self._per_task(x, task_id, lambda xs, t: self.target(self.generator(self.center(t)), xs))

    def kappa(self) -> float:
        """κ of the current training step. ``"linear"``: 1 − ramp·``worst_case_weight``; ``"paper"``:
        ``max(1 − 5·10⁻⁵·s, 1 − worst_case_weight)`` for ``s < W``, then ``1 − worst_case_weight``. Both end at
        ``κ = 1 − worst_case_weight`` after the warm-up."""
        final = 1.0 - self.worst_case_weight
        if self.kappa_schedule == "paper":
            s = int(self.steps)
            return max(1.0 - PAPER_KAPPA_DECAY * s, final) if s < self.warmup_steps else final
        return 1.0 - self.ramp() * self.worst_case_weight

    def continual_loss(self, x: torch.Tensor, y: torch.Tensor, task_id: torch.Tensor,
                       allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Core's label-aware training hook: ``(z_mid, κ·CE(z_mid, y) + (1−κ)·CE(z_worst(y), y))`` over the
        box of each example's sub-task (half-widths and 1−κ ramped over ``warmup_steps``), classes outside
        ``allowed`` masked in both logit sets. One call is one training step of the curriculum."""
        scale, kappa = self.ramp(), self.kappa()
        self.steps += 1
        return self._box_loss(x, y, task_id, allowed, scale, kappa)

    def interval_loss(self, x: torch.Tensor, y: torch.Tensor, task_id: int | torch.Tensor,
                      allowed: torch.Tensor | None = None) -> torch.Tensor:
        """The paper's loss after the warm-up: κ·CE(z_mid, y) + (1−κ)·CE(z_worst, y), κ = 1 − worst_case_weight."""
        ids = task_id if isinstance(task_id, torch.Tensor) and task_id.dim() else \
            torch.full((len(x),), self._task(task_id), dtype=torch.long, device=x.device)
        return self._box_loss(x, y, ids, allowed, 1.0, 1.0 - self.worst_case_weight)[1]

    def _box_loss(self, x, y, task_id, allowed, scale, kappa):
        if task_id.shape != (len(x),) or y.shape != (len(x),):
            raise ValueError(f"need one label and one task id per example ({len(x)}), got labels "
                             f"{tuple(y.shape)} and ids {tuple(task_id.shape)}")
        mids, total = [], x.new_zeros(())
        ids = task_id.unique()
        for t in ids.tolist():
            sel = slice(None) if len(ids) == 1 else task_id == t
            mid, rad = self.logit_box(x[sel], *self.weight_box(t, scale=scale))
            worst = worst_case_logits(mid, rad, y[sel])
            if allowed is not None:
                mid = mid.masked_fill(~allowed[sel], -math.inf)
                worst = worst.masked_fill(~allowed[sel], -math.inf)
            total = total + kappa * F.cross_entropy(mid, y[sel], reduction="sum")
            if kappa < 1:
                total = total + (1 - kappa) * F.cross_entropy(worst, y[sel], reduction="sum")
            mids.append((sel, mid))
        if len(mids) == 1:
            out = mids[0][1]
        else:
            out = mids[0][1].new_empty(len(x), mids[0][1].shape[1])
            for sel, mid in mids:
                out[sel] = mid
        return out, total / len(x)

    def auxiliary_losses(self) -> dict[str, torch.Tensor]:
        if not self.training or self.current == 0 or self.regularizer_weight == 0:
            return {}
        return {"hnet_reg": self.regularizer()}

    # -- the protocol ----------------------------------------------------------------------------------------------
    def weight_bounds(self, n: int) -> torch.Tensor:
        """``(n, 3, P)``: the lower bound, midpoint and upper bound of the weight boxes of the first ``n`` task
        boxes (IBP through the hypernetwork, all boxes in one pass; the boxes themselves detached)."""
        c, r = self.centers(n).detach(), self.half_widths(n).detach()
        stack = nn.Sequential(*self.generator.body, self.generator.head)
        mid, rad = interval_sequential(stack, c, r)
        return torch.stack([mid - rad, mid, mid + rad], dim=1)

    def regularizer(self) -> torch.Tensor:
        """β/(T−1) Σ_{s<T} (‖θ_lo,s − θ*_lo,s‖² + ‖θ_mid,s − θ*_mid,s‖² + ‖θ_hi,s − θ*_hi,s‖²) / 3: the weight box of
        every earlier task (its IBP bounds and midpoint) kept where it was after that task."""
        n = min(len(self.stored_bounds), self.current)
        if n == 0 or self.regularizer_weight == 0:
            return self.task_embeddings.new_zeros(())
        return self.regularizer_weight * (self.weight_bounds(n) - self.stored_bounds[:n]).square().sum(-1).mean()

    @torch.no_grad()
    def end_task(self, t: int, train_inputs: Any = None, train_targets: Any = None) -> None:
        t = self._task(t)
        self.stored_bounds = self.weight_bounds(t + 1).detach().clone()
        self.stored = self.stored_bounds[:, 1].clone()
        self.learned.fill_(max(int(self.learned), t + 1))

    @torch.no_grad()
    def certify(self, x: torch.Tensor, y: torch.Tensor, task_id: int,
                allowed: torch.Tensor | None = None) -> dict[str, float]:
        """Worst-case accuracy over the whole box of sub-task ``task_id`` (every embedding in it classifies these
        inputs correctly when certified) and the universal network's accuracy (NaN when the learned boxes do not
        intersect, so there is no universal network); ``allowed`` masks classes."""
        mid, rad = self.logit_box(x, *self.weight_box(task_id))
        worst = worst_case_logits(mid, rad, y)
        if allowed is not None:
            worst = worst.masked_fill(~allowed, -math.inf)
        out = {"certified_accuracy": float((worst.argmax(-1) == y).float().mean()), "universal_accuracy": math.nan}
        if self.boxes_intersect():
            universal = self.target(self.generator(self.universal_embedding()), x)
            if allowed is not None:
                universal = universal.masked_fill(~allowed, -math.inf)
            out["universal_accuracy"] = float((universal.argmax(-1) == y).float().mean())
        return out
