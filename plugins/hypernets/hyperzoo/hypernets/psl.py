"""Pareto set learning on Gaussian-process surrogates: plain PSL and Stein variational hypernetworks (SVH-PSL).

A hypernetwork ``h_φ`` maps a preference ``λ`` (on the simplex) to a solution ``x = h_φ(λ) ∈ [0, 1]^n``. Expensive
objectives ``f_1..f_m`` are replaced by exact GPs fitted to the evaluations so far; the hypernetwork minimises
the Tchebycheff scalarisation of the lower confidence bound ``LCB_i(x) = μ_i(x) − β σ_i(x)`` (β = 0.1, as
both papers' code):

    T(λ, x) = max_i λ_i (LCB_i(x) − z*_i),       z* = min(0, min over evaluations − 0.1)   (both papers' code)

- **PSL** (Lin et al. 2022): ``min_φ E_λ T(λ, h_φ(λ))``.
- **SVH-PSL** (Stein variational hypernetworks, Nguyen et al., AAAI 2025): the solutions ``x_k = h_φ(λ_k)`` of a
  batch of preferences are SVGD particles; each particle's gradient is ``∇_φ T(λ_k, x_k)`` (normalised per
  parameter over the particles), the kernel compares the particles' LCB values on each particle's active
  Tchebycheff objective, and its gradient repels the particles from each other along the front
  (:meth:`ParetoHypernet.svh_surrogate`, as the authors' code computes it).

Each round fits the GPs (marginal likelihood, Adam), trains the hypernetwork, then evaluates the ``batch``
candidates (from 200 sampled preferences) that greedily add the most hypervolume to the evaluated front under
their predicted LCB, with the nadir of the compared points as the reference point (both papers' code). The ZDT1–3
(2 objectives) and DTLZ2 (3 objectives) problems and their true fronts are here too.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .pareto import hypervolume_2d, igd

__all__ = ["PROBLEMS", "ExactGP", "ParetoHypernet", "ParetoLoop", "optimise", "true_front", "hypervolume",
           "pareto_mask", "greedy_hypervolume_batch", "ideal_point"]


# -- problems ------------------------------------------------------------------------------------------------------
def _zdt_g(x):
    return 1 + 9 * x[:, 1:].sum(1) / (x.shape[1] - 1)


def zdt1(x):
    g = _zdt_g(x)
    return torch.stack([x[:, 0], g * (1 - torch.sqrt(x[:, 0] / g))], 1)


def zdt2(x):
    g = _zdt_g(x)
    return torch.stack([x[:, 0], g * (1 - (x[:, 0] / g) ** 2)], 1)


def zdt3(x):
    g = _zdt_g(x)
    r = x[:, 0] / g
    return torch.stack([x[:, 0], g * (1 - torch.sqrt(r) - r * torch.sin(10 * math.pi * x[:, 0]))], 1)


def dtlz2(x):
    g = ((x[:, 2:] - 0.5) ** 2).sum(1)
    a, b = x[:, 0] * math.pi / 2, x[:, 1] * math.pi / 2
    return torch.stack([(1 + g) * torch.cos(a) * torch.cos(b), (1 + g) * torch.cos(a) * torch.sin(b),
                        (1 + g) * torch.sin(a)], 1)


PROBLEMS = {"zdt1": (zdt1, 2), "zdt2": (zdt2, 2), "zdt3": (zdt3, 2), "dtlz2": (dtlz2, 3)}


def pareto_mask(f: torch.Tensor) -> torch.Tensor:
    """Non-dominated rows of ``f (n, m)`` (minimisation)."""
    le = (f[:, None, :] <= f[None, :, :]).all(-1)
    lt = (f[:, None, :] < f[None, :, :]).any(-1)
    dominated = (le & lt).any(0)
    return ~dominated


def true_front(name: str, n: int = 500) -> torch.Tensor:
    """Points of the true Pareto front."""
    t = torch.linspace(0, 1, n, dtype=torch.float64)
    if name == "zdt1":
        return torch.stack([t, 1 - t.sqrt()], 1)
    if name == "zdt2":
        return torch.stack([t, 1 - t ** 2], 1)
    if name == "zdt3":
        f = torch.stack([t, 1 - t.sqrt() - t * torch.sin(10 * math.pi * t)], 1)
        return f[pareto_mask(f)]
    if name == "dtlz2":
        k = int(math.sqrt(n))
        a, b = torch.meshgrid(t[:: max(1, n // k)] * math.pi / 2, t[:: max(1, n // k)] * math.pi / 2, indexing="ij")
        return torch.stack([torch.cos(a) * torch.cos(b), torch.cos(a) * torch.sin(b), torch.sin(a)], -1).reshape(-1, 3)
    raise ValueError(f"unknown problem {name!r}: choose from {sorted(PROBLEMS)}")


def hypervolume(f: torch.Tensor, ref: torch.Tensor) -> float:
    """Exact hypervolume (minimisation) in 2-D (sweep) or 3-D (slices along the last objective)."""
    f = torch.as_tensor(f, dtype=torch.float64)
    ref = torch.as_tensor(ref, dtype=torch.float64)
    f = f[(f < ref).all(-1)]
    if f.shape[-1] == 2 or len(f) == 0:
        return hypervolume_2d(f.reshape(-1, 2), ref[:2]) if f.shape[-1] == 2 else 0.0
    if f.shape[-1] != 3:
        raise ValueError("hypervolume handles 2 or 3 objectives")
    order = torch.argsort(f[:, 2])
    f = f[order]
    total = 0.0
    for k in range(len(f)):
        top = float(f[k + 1, 2]) if k + 1 < len(f) else float(ref[2])
        total += hypervolume_2d(f[: k + 1, :2], ref[:2]) * (top - float(f[k, 2]))
    return total


# -- surrogate -----------------------------------------------------------------------------------------------------
class ExactGP:
    """Exact GP regression, ARD RBF kernel, hyperparameters by marginal likelihood (Adam on the log scale)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, steps: int = 100):
        self.x = x.double()
        self.mean, self.std = float(y.mean()), float(y.std()) + 1e-9
        self.y = ((y.double() - self.mean) / self.std)
        d = x.shape[1]
        self.log_ls = torch.zeros(d, dtype=torch.float64, requires_grad=True)
        self.log_sf = torch.zeros((), dtype=torch.float64, requires_grad=True)
        self.log_sn = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([self.log_ls, self.log_sf, self.log_sn], lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            self._nll().backward()
            opt.step()
        with torch.no_grad():
            k = self._k(self.x, self.x) + (self.log_sn.exp() ** 2 + 1e-8) * torch.eye(len(self.x), dtype=torch.float64)
            self.chol = torch.linalg.cholesky(k)
            self.alpha = torch.cholesky_solve(self.y[:, None], self.chol)

    def _k(self, a, b):
        ls = self.log_ls.exp()
        return self.log_sf.exp() ** 2 * torch.exp(-0.5 * torch.cdist(a / ls, b / ls).square())

    def _nll(self):
        n = len(self.x)
        k = self._k(self.x, self.x) + (self.log_sn.exp() ** 2 + 1e-6) * torch.eye(n, dtype=torch.float64)
        chol = torch.linalg.cholesky(k)
        a = torch.cholesky_solve(self.y[:, None], chol)
        return 0.5 * (self.y[:, None] * a).sum() + torch.log(torch.diagonal(chol)).sum()

    def predict(self, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and standard deviation (original scale), differentiable in ``xs``."""
        ks = self._k(xs.double(), self.x).detach() if not xs.requires_grad else self._k(xs.double(), self.x)
        mu = (ks @ self.alpha.detach())[:, 0]
        v = torch.cholesky_solve(ks.T, self.chol.detach())
        var = (self.log_sf.detach().exp() ** 2 - (ks * v.T).sum(1)).clamp_min(1e-12)
        return mu * self.std + self.mean, var.sqrt() * self.std


# -- the Pareto set model ------------------------------------------------------------------------------------------
class ParetoHypernet(nn.Module):
    """``λ ↦ x = sigmoid(MLP(λ)) ∈ [0, 1]^n``; ``svgd=True`` trains it as SVH-PSL, else as PSL."""

    def __init__(self, *, num_objectives: int, num_variables: int, width: int = 64, depth: int = 2,
                 svgd: bool = False, num_particles: int = 16, kernel_scale: float = 1e-2, repulsion: float = 1e-3,
                 update: str = "mean"):
        super().__init__()
        layers: list[nn.Module] = []
        d = num_objectives
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        layers.append(nn.Linear(d, num_variables))
        self.net = nn.Sequential(*layers)
        self.num_objectives, self.svgd, self.num_particles = num_objectives, svgd, num_particles
        if not (kernel_scale > 0 and repulsion >= 0):
            raise ValueError(f"kernel_scale must be > 0 and repulsion >= 0, got {kernel_scale!r}, {repulsion!r}")
        self.kernel_scale, self.repulsion = float(kernel_scale), float(repulsion)
        if update not in ("mean", "lin2022"):
            raise ValueError(f"update={update!r}: choose 'mean' (mean weighted Tchebycheff) or 'lin2022' (the PSL "
                             "authors' normalised augmented inverse-weight Tchebycheff step)")
        if svgd and update != "mean":
            raise ValueError("update='lin2022' is the PSL baseline's step; SVH-PSL has its own (svgd=True)")
        self.update = update

    def forward(self, prefs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(prefs))

    def loss(self, prefs: torch.Tensor, scalarised) -> torch.Tensor:
        """PSL: the mean scalarised objective. SVH-PSL: a surrogate whose gradient is the Stein variational
        direction over the particles (see :meth:`svh_surrogate`); ``update="lin2022"``: the PSL authors' step
        (:meth:`lin2022_surrogate`)."""
        x = self(prefs)
        if self.svgd:
            return self.svh_surrogate(prefs, x, scalarised)
        if self.update == "lin2022":
            return self.lin2022_surrogate(prefs, x, scalarised)
        return scalarised(prefs, x).mean()

    def lin2022_surrogate(self, prefs: torch.Tensor, x: torch.Tensor, scalarised) -> torch.Tensor:
        """The PSL step of Lin et al. (2022) as their released code (and the SVH-PSL authors' PSL baseline)
        computes it: with ``v = LCB(x_k)``, ``a_k = argmax_i (v_k,i − z*_i) / λ_k,i`` (λ + 1e-4, as the code) and the
        augmented inverse-weight Tchebycheff direction in solution space

            d_k = ∇_x [(v_k,a_k − z*_a_k) / λ_k,a_k + 0.01 Σ_i v_k,i],   d̂_k = d_k / ‖d_k‖,

        the parameters move along ``Σ_k (∂x_k/∂φ)ᵀ d̂_k``: returned as the gradient of ``Σ_k ⟨x_k, d̂_k⟩`` with
        ``d̂`` held fixed (each solution's step has unit length whatever its scale)."""
        xd = x.detach().double().requires_grad_(True)
        value = scalarised.lcb(xd)
        lam = prefs.double() + 1e-4                      # the code's offset keeps 1/λ finite
        ratio = (value - scalarised.ideal) / lam
        a = ratio.argmax(1)
        score = ratio.gather(1, a[:, None])[:, 0] + 0.01 * value.sum(1)
        (d,) = torch.autograd.grad(score.sum(), xd)      # row k depends on x_k only
        d_hat = d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return (x.double() * d_hat.detach()).sum()

    def svh_surrogate(self, prefs: torch.Tensor, x: torch.Tensor, scalarised) -> torch.Tensor:
        """The Stein variational hypernetwork step (Nguyen et al., AAAI 2025, as their code computes it). The
        ``n`` solutions ``x_k = h_φ(λ_k)`` are the particles; ``g_k = ∇_φ T(λ_k, x_k)``, normalised per parameter
        over the particles (``ĝ_k,p = g_k,p / ‖g_·,p‖``); the kernel lives in objective space, per objective and
        only on the objective active in each particle's Tchebycheff max (``a_j``):

            k(i, j) = exp(−(v_i,a_j − v_j,a_j)² / h_a_j),   h_o = c · median_ij((v_i,o − v_j,o)²)² / log n,

        ``v = LCB(x)`` (``c = kernel_scale``); the update direction is

            (1/n) Σ_i [Σ_j k(i, j) ĝ_j + α ∇_φ Σ_j k(i, j)]      (α = ``repulsion``: the kernel sum shrinks,
                                                                 pushing the particles apart along the front)

        returned as the gradient of ``(1/n)(w·φ + α Σ_ij k(i, j))`` with ``w = Σ_ij k(i, j) ĝ_j`` held fixed."""
        params = [p for p in self.parameters() if p.requires_grad]
        value, active = scalarised.lcb(x), None
        t = (prefs.double() * (value - scalarised.ideal)).max(1)
        active = t.indices
        n = len(x)
        grads = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(t.values[k], params,
                                                                                    retain_graph=True)])
                             for k in range(n)])                                        # (n, P)
        g_hat = torch.nn.functional.normalize(grads, dim=0)
        d2 = (value[:, None, :] - value[None, :, :]).square()                           # (n, n, m)
        h = torch.stack([self.kernel_scale * _median(d2[..., o]) ** 2 / math.log(n) if float(_median(d2[..., o]))
                         != 0.0 else d2.new_tensor(5e-6) for o in range(d2.shape[-1])]).detach()
        onehot = torch.nn.functional.one_hot(active, d2.shape[-1]).to(d2.dtype)          # (n, m), a_j
        k = (onehot[None, :, :] * torch.exp(-d2 / h)).sum(-1)                           # k(i, j)
        w = k.detach().sum(0).to(g_hat.dtype) @ g_hat                                   # Σ_i Σ_j k(i,j) ĝ_j
        flat = torch.cat([p.reshape(-1) for p in params])
        return ((w * flat).sum() + self.repulsion * k.sum().to(flat.dtype)) / n


def _median(t: torch.Tensor) -> torch.Tensor:
    """NumPy's median of all entries (the mean of the two middle values for an even count), detached."""
    t = t.detach().flatten()
    return (torch.cat([t, t.max()[None]]).median() + t.median()) / 2


def ideal_point(y: torch.Tensor, mode: str = "paper") -> torch.Tensor:
    """The Tchebycheff ideal point from the evaluations ``y (n, m)``: ``min(0, min y − 0.1)`` (``"paper"``, both
    papers' code: a running minimum started at 0) or ``min y − 0.1`` (``"data"``)."""
    if mode not in ("paper", "data"):
        raise ValueError(f"ideal_point={mode!r}: choose 'paper' or 'data'")
    z = y.min(0).values - 0.1
    return z.clamp_max(0.0) if mode == "paper" else z


def tchebycheff(models: list[ExactGP], ideal: torch.Tensor, beta: float):
    """``T(λ, x) = max_i λ_i (LCB_i(x) − z*_i)``; the closure also carries ``.lcb(x)`` and ``.ideal``."""
    def lcb(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([mu - beta * sd for mu, sd in (m.predict(x) for m in models)], 1)

    def scalarised(prefs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (prefs.double() * (lcb(x) - ideal)).max(1).values
    scalarised.lcb, scalarised.ideal = lcb, ideal
    return scalarised


def greedy_hypervolume_batch(front: torch.Tensor, values: torch.Tensor, batch: int, *,
                             ref: torch.Tensor | None = None, generator: torch.Generator | None = None) -> list[int]:
    """Greedy batch selection: ``batch`` distinct rows of ``values (N, m)`` (the candidates' predicted objectives),
    each the one that adds the most hypervolume to ``front`` plus the rows chosen before it,

        i_b = argmax_{i ∉ chosen} HV(front ∪ values[chosen] ∪ {values_i}; r).

    ``ref=None`` takes the reference point of both papers' code, the nadir of what is compared,
    ``r_o = max over front ∪ values of the o-th objective``, so every candidate that is not dominated adds volume;
    a fixed ``ref`` (e.g. the metric's 1.1) gives no gain to a candidate outside ``[−∞, ref]``. When no remaining
    candidate adds volume, one not yet chosen is drawn at random (``generator``)."""
    front, values = torch.as_tensor(front, dtype=torch.float64), torch.as_tensor(values, dtype=torch.float64)
    if values.dim() != 2 or front.dim() != 2 or front.shape[1] != values.shape[1]:
        raise ValueError(f"front (n, m) and values (N, m) must share m, got {tuple(front.shape)} and "
                         f"{tuple(values.shape)}")
    if not 1 <= batch <= len(values):
        raise ValueError(f"batch={batch} must be between 1 and the number of candidates ({len(values)})")
    if ref is None:
        ref = torch.cat([front, values]).max(0).values
    ref = torch.as_tensor(ref, dtype=torch.float64)
    chosen: list[int] = []
    current = front
    for _ in range(batch):
        base = hypervolume(current, ref)
        gains = torch.tensor([hypervolume(torch.cat([current, values[i:i + 1]]), ref) - base
                              if i not in chosen else -math.inf for i in range(len(values))])
        if float(gains.max()) > 0:
            i = int(gains.argmax())
        else:
            left = [j for j in range(len(values)) if j not in chosen]
            i = left[int(torch.randint(len(left), (1,), generator=generator))]
        chosen.append(i)
        current = torch.cat([current, values[i:i + 1]])
    return chosen


class ParetoLoop:
    """The Bayesian-optimisation loop of PSL / SVH-PSL, one round at a time, with its state (evaluations so far,
    per-round metrics, the fallback generator) in ``state_dict()`` so a run can resume after any round.

    A round fits the GPs, trains the hypernetwork for ``steps`` steps with ``optimizer`` (from a fresh
    initialisation and Adam state when ``reinit_each_round``, as the authors' code), and evaluates the ``batch`` of
    ``num_candidates`` candidates that greedily add the most hypervolume (:func:`greedy_hypervolume_batch`) to the
    evaluated front, on their predicted LCB (``acquisition_value="lcb"``, both papers' code) or GP mean
    (``"mean"``), with the nadir reference point of both papers' code (``acquisition_reference="nadir"``) or the
    metric's fixed 1.1 (``"fixed"``; candidates predicted outside it then add nothing and are drawn at random).
    The Tchebycheff ideal point is ``z* = min(0, min y − 0.1)`` (``ideal_point="paper"``: both papers' code start
    their running minimum at 0; the objectives here are ≥ 0, so 0 is their true ideal point) or ``min y − 0.1``
    (``"data"``, the earlier default). ``z*`` must lie below every attainable value: with ``"data"`` on ZDT2 in 6-D
    the initial design's ``min f_2 − 0.1`` (≈ 3) lies above the whole true front (``f_2 ≤ 1``), so wherever the
    surrogate predicts ``f_2 < z*_2`` the max is the ``f_1`` term for every λ and all preferences collapse onto
    ``f_1 = 0`` (test ``test_default_ideal_point_keeps_the_tchebycheff_minimisers_spread``)."""

    def __init__(self, problem: str, model: ParetoHypernet, optimizer: torch.optim.Optimizer, *, num_variables: int,
                 budget: int, initial: int, batch: int, steps: int, seed: int, beta: float = 0.1,
                 num_candidates: int = 200, acquisition_value: str = "lcb", acquisition_reference: str = "nadir",
                 ideal_point: str = "paper", reinit_each_round: bool = False):
        if problem not in PROBLEMS:
            raise ValueError(f"unknown problem {problem!r}: choose from {sorted(PROBLEMS)}")
        choices = {"acquisition_value": (acquisition_value, ("lcb", "mean")),
                   "acquisition_reference": (acquisition_reference, ("nadir", "fixed")),
                   "ideal_point": (ideal_point, ("data", "paper"))}
        for name, (got, allowed) in choices.items():
            if got not in allowed:
                raise ValueError(f"{name}={got!r}: choose from {allowed}")
        if num_candidates < batch:
            raise ValueError(f"num_candidates={num_candidates} must be at least the batch ({batch})")
        self.num_candidates, self.acquisition_value = int(num_candidates), acquisition_value
        self.acquisition_reference, self.ideal_point = acquisition_reference, ideal_point   # (a mode name)
        self.reinit_each_round = bool(reinit_each_round)
        self.problem, self.model, self.optimizer = problem, model, optimizer
        self.budget, self.batch, self.steps, self.beta, self.initial = budget, batch, steps, beta, initial
        self.f, self.m = PROBLEMS[problem]
        self.g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(initial, num_variables, generator=self.g, dtype=torch.float64)
        self.y = self.f(self.x)
        self.ref = torch.full((self.m,), 1.1, dtype=torch.float64)   # the usual reference point of ZDT and DTLZ2
        self.front = true_front(problem)
        self.true_hypervolume = hypervolume(self.front, self.ref)
        self.rounds: list[dict[str, float]] = []

    @property
    def num_rounds(self) -> int:
        """Rounds until the budget is spent, from the initial design: ⌈(budget − initial) / batch⌉."""
        return -(-(self.budget - self.initial) // self.batch)

    def state_dict(self) -> dict[str, Any]:
        return {"x": self.x.clone(), "y": self.y.clone(), "rounds": [dict(r) for r in self.rounds],
                "generator": self.g.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.x, self.y = state["x"].clone(), state["y"].clone()
        self.rounds = [dict(r) for r in state["rounds"]]
        self.g.set_state(state["generator"])

    def round(self) -> dict[str, float]:
        """One round; returns (and records) its metrics: evaluations, hypervolume, IGD, the last training loss."""
        if len(self.x) >= self.budget:
            raise RuntimeError(f"the budget of {self.budget} evaluations is spent")
        model, m = self.model, self.m
        if self.reinit_each_round:          # the authors' code: a fresh Pareto set model and Adam every round
            for module in model.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
            self.optimizer.state.clear()
        dirichlet = torch.distributions.Dirichlet(torch.ones(m, dtype=torch.float64))
        gps = [ExactGP(self.x, self.y[:, i]) for i in range(m)]
        ideal = self.ideal = ideal_point(self.y, self.ideal_point)
        scal = tchebycheff(gps, ideal, self.beta)
        for _ in range(self.steps):
            prefs = dirichlet.sample((model.num_particles,)).float()
            loss = model.loss(prefs, scal)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            cand = model(dirichlet.sample((self.num_candidates,)).float()).double()
            mu, sd = (torch.stack(t, 1) for t in zip(*(gp.predict(cand) for gp in gps)))
            value = mu - self.beta * sd if self.acquisition_value == "lcb" else mu
            chosen = greedy_hypervolume_batch(self.y[pareto_mask(self.y)], value,
                                              min(self.batch, self.budget - len(self.x)),
                                              ref=self.ref if self.acquisition_reference == "fixed" else None,
                                              generator=self.g)
            x_new = cand[chosen]
        self.x, self.y = torch.cat([self.x, x_new]), torch.cat([self.y, self.f(x_new)])
        front = self.y[pareto_mask(self.y)]
        row = {"evaluations": len(self.x), "added": len(chosen), "hypervolume": hypervolume(front, self.ref),
               "igd": igd(front, self.front), "train_loss": float(loss.detach())}
        self.rounds.append(row)
        return row

    def result(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "rounds": self.rounds, "ref": self.ref,
                "true_hypervolume": self.true_hypervolume}


def optimise(problem: str, model: ParetoHypernet, *, num_variables: int, budget: int, initial: int, batch: int,
             steps: int, lr: float, seed: int, beta: float = 0.1, log=None, **loop_options) -> dict[str, Any]:
    """The whole loop without checkpoints (core's ``pareto-*`` tasks run :class:`ParetoLoop` through the
    trainer's checkpointed step loop); returns the evaluated points and hypervolume/IGD per round."""
    loop = ParetoLoop(problem, model, torch.optim.Adam(model.parameters(), lr=lr), num_variables=num_variables,
                      budget=budget, initial=initial, batch=batch, steps=steps, seed=seed, beta=beta, **loop_options)
    while len(loop.x) < budget:
        row = loop.round()
        if log is not None:
            log(**{k: v for k, v in row.items() if k in ("evaluations", "hypervolume", "igd")})
    return loop.result()
