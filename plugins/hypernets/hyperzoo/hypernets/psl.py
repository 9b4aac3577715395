"""Pareto set learning on Gaussian-process surrogates: plain PSL and Stein variational hypernetworks (SVH-PSL).

A hypernetwork ``h_φ`` maps a preference ``λ`` (on the simplex) to a solution ``x = h_φ(λ) ∈ [0, 1]^n``. Expensive
objectives ``f_1..f_m`` are replaced by exact GPs fitted to the evaluations so far; the hypernetwork minimises
the Tchebycheff scalarisation of the lower confidence bound ``LCB_i(x) = μ_i(x) − β σ_i(x)``:

    T(λ, x) = max_i λ_i (LCB_i(x) − z*_i),       z* = min over evaluations − 0.1

- **PSL** (Lin et al. 2022): ``min_φ E_λ T(λ, h_φ(λ))``.
- **SVH-PSL** (Stein variational hypernetwork): the solutions ``x_k = h_φ(λ_k)`` of a batch of preferences are
  particles of ``p(x) ∝ exp(−T)``; SVGD moves them by ``φ(x_k)`` (attraction to low ``T`` plus the kernel's
  repulsion, :func:`~hyperzoo.hypernets.pareto.svgd_direction`), and the hypernetwork follows: the loss
  ``−Σ_k φ(x_k)·x_k`` with ``φ`` held fixed has the gradient ``−Σ_k J_kᵀ φ(x_k)``.

Each round fits the GPs (marginal likelihood, Adam), trains the hypernetwork, then evaluates the ``batch``
candidates (from 200 sampled preferences) that greedily add the most hypervolume to the evaluated front under
the GP means. The ZDT1–3 (2 objectives) and DTLZ2 (3 objectives) problems and their true fronts are here too.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .pareto import hypervolume_2d, igd, svgd_direction

__all__ = ["PROBLEMS", "ExactGP", "ParetoHypernet", "true_front", "hypervolume", "pareto_mask"]


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
                 svgd: bool = False, num_particles: int = 16):
        super().__init__()
        layers: list[nn.Module] = []
        d = num_objectives
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        layers.append(nn.Linear(d, num_variables))
        self.net = nn.Sequential(*layers)
        self.num_objectives, self.svgd, self.num_particles = num_objectives, svgd, num_particles

    def forward(self, prefs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(prefs))

    def loss(self, prefs: torch.Tensor, scalarised) -> torch.Tensor:
        """PSL: the mean scalarised objective; SVH-PSL: ``−Σ_k φ(x_k)·x_k`` with the SVGD direction fixed."""
        x = self(prefs)
        if not self.svgd:
            return scalarised(prefs, x).mean()
        xd = x.detach().requires_grad_()
        grad_logp = -torch.autograd.grad(scalarised(prefs, xd).sum(), xd)[0]
        phi = svgd_direction(xd.detach().double(), grad_logp.double()).to(x.dtype)
        return -(phi * x).sum() / len(x)


def tchebycheff(models: list[ExactGP], ideal: torch.Tensor, beta: float):
    def scalarised(prefs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        lcb = torch.stack([mu - beta * sd for mu, sd in (m.predict(x) for m in models)], 1)
        return (prefs.double() * (lcb - ideal)).max(1).values
    return scalarised


def optimise(problem: str, model: ParetoHypernet, *, num_variables: int, budget: int, initial: int, batch: int,
             steps: int, lr: float, seed: int, beta: float = 0.5, log=None) -> dict[str, Any]:
    """The whole Bayesian-optimisation loop; returns the evaluated points and hypervolume/IGD per round."""
    f, m = PROBLEMS[problem]
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(initial, num_variables, generator=g, dtype=torch.float64)
    y = f(x)
    ref = torch.full((m,), 1.1, dtype=torch.float64)       # the usual reference point of ZDT and DTLZ2
    front = true_front(problem)
    rounds = []
    dirichlet = torch.distributions.Dirichlet(torch.ones(m, dtype=torch.float64))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    while len(x) < budget:
        gps = [ExactGP(x, y[:, i]) for i in range(m)]
        ideal = y.min(0).values - 0.1
        scal = tchebycheff(gps, ideal, beta)
        for _ in range(steps):
            prefs = dirichlet.sample((model.num_particles,)).float()
            loss = model.loss(prefs, scal)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            cand = model(dirichlet.sample((200,)).float()).double()
            mu = torch.stack([gp.predict(cand)[0] for gp in gps], 1)
            chosen: list[int] = []
            current = y[pareto_mask(y)]
            for _ in range(min(batch, budget - len(x))):
                base = hypervolume(current, ref)
                gains = torch.tensor([hypervolume(torch.cat([current, mu[i:i + 1]]), ref) - base
                                      if i not in chosen else -1.0 for i in range(len(cand))])
                i = int(gains.argmax()) if float(gains.max()) > 0 else int(torch.randint(len(cand), (1,), generator=g))
                chosen.append(i)
                current = torch.cat([current, mu[i:i + 1]])
            x_new = cand[chosen]
        x, y = torch.cat([x, x_new]), torch.cat([y, f(x_new)])
        row = {"evaluations": len(x), "hypervolume": hypervolume(y[pareto_mask(y)], ref),
               "igd": igd(y[pareto_mask(y)], front)}
        rounds.append(row)
        if log is not None:
            log(**row)
    return {"x": x, "y": y, "rounds": rounds, "ref": ref,
            "true_hypervolume": hypervolume(front, ref)}
