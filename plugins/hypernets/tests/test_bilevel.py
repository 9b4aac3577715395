"""Bilevel hyper-cleaning: the Neumann hypergradient against the exact implicit gradient, BO-REP's normalised
momentum step and lower-level schedule, and both solvers through core.run."""

import math

import pytest
import torch

from hyperzoo import core
from hyperzoo.hypernets.bilevel import HyperCleaner, hypergradient


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(12, 3, generator=g, dtype=torch.float64), torch.randint(0, 2, (12,), generator=g)
    av, bv = torch.randn(8, 3, generator=g, dtype=torch.float64), torch.randint(0, 2, (8,), generator=g)
    m = HyperCleaner(in_features=3, num_classes=2, num_train=12, lower_lr=0.5, neumann_terms=400,
                     neumann_step=0.5, l2_weight=0.05).double()
    with torch.no_grad():
        m.x.copy_(torch.randn(12, generator=g, dtype=torch.float64))
    return m, (a, b), (av, bv)


def test_neumann_hypergradient_equals_the_exact_implicit_gradient():
    m, train, val = _problem()
    m.lower_update(*train, 3000)                                  # y ≈ y*(x)
    got, _ = hypergradient(m, train, val)
    params = list(m.classifier.parameters())
    flat = torch.cat([p.detach().flatten() for p in params])

    def unflat(v):
        w, b = v[:6].reshape(2, 3), v[6:]
        return w, b

    def g_of(x, v):
        w, b = unflat(v)
        ce = torch.nn.functional.cross_entropy(train[0] @ w.T + b, train[1], reduction="none")
        return (torch.sigmoid(x) * ce).mean() + m.l2_weight * w.square().sum()

    def f_of(v):
        w, b = unflat(v)
        return torch.nn.functional.cross_entropy(val[0] @ w.T + b, val[1])

    x = m.x.detach()
    hyy = torch.autograd.functional.hessian(lambda v: g_of(x, v), flat)
    hxy = torch.autograd.functional.jacobian(lambda xx: torch.autograd.grad(g_of(xx, flat.requires_grad_()), flat,
                                                                            create_graph=True)[0], x)   # (dim y, n)
    dfy = torch.func.grad(f_of)(flat.detach())
    # softmax is invariant to a common shift of the biases: ∇²_yy g is singular along it, and ∇_y f, ∇²_xy g have no
    # component there, so the pseudo-inverse gives the implicit gradient
    exact = -(hxy.T @ (torch.linalg.pinv(hyy) @ dfy))
    torch.testing.assert_close(got, exact, rtol=1e-5, atol=1e-8)


def test_bo_rep_takes_normalised_momentum_steps_and_updates_the_lower_level_periodically():
    m, train, val = _problem(1)
    m.neumann_terms, m.refine_steps, m.period, m.lower_steps, m.upper_lr = 5, 7, 3, 2, 0.3
    x0 = m.x.detach().clone()
    m.outer_step(train, val)
    assert float((m.x.detach() - x0).norm()) == pytest.approx(0.3, rel=1e-9)     # η m / ‖m‖
    m1 = m.m.clone()
    g, _ = hypergradient(m, train, val)
    m.outer_step(train, val)
    torch.testing.assert_close(m.m, 0.9 * m1 + 0.1 * g)                           # no lower update at t = 1
    for _ in range(5):
        m.outer_step(train, val)
    assert m.lower_evaluations == 7 + 2 * math.ceil(7 / 3)                        # t = 0, 3, 6


@pytest.mark.parametrize("model", ["bo-rep", "stocbio"])
def test_hyper_cleaning_through_core_run(model):
    result = core.run("hyper-cleaning-digits", model, epochs=3, seed=0)
    assert result.metrics["test_accuracy"] > 0.75
    assert result.metrics["test_cleaning_f1"] > 0.6                  # flags corrupted labels (40% of them)


def test_bad_input():
    with pytest.raises(ValueError, match="method must be 'bo-rep' or 'stocbio'"):
        HyperCleaner(in_features=2, num_classes=2, num_train=3, method="adam")
    with pytest.raises(ValueError, match="noise must be in"):
        core.get_task("hyper-cleaning-digits", noise=1.0)
