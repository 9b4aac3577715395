"""Pareto set learning: problems on their true fronts, 3-D hypervolume vs brute force, the exact GP's posterior
in closed form, and PSL / SVH-PSL through core.run at a tiny budget."""

import itertools

import numpy as np
import pytest
import torch

from hyperzoo import core
from hyperzoo.hypernets.psl import PROBLEMS, ExactGP, hypervolume, pareto_mask, true_front


@pytest.mark.parametrize("name", ["zdt1", "zdt2", "zdt3"])
def test_zdt_optimal_set_maps_onto_the_true_front(name):
    f, _ = PROBLEMS[name]
    x = torch.zeros(50, 6, dtype=torch.float64)
    x[:, 0] = torch.linspace(0, 1, 50, dtype=torch.float64)
    y = f(x)
    front = true_front(name, 2000)
    d = torch.cdist(y[pareto_mask(y)], front).min(1).values
    assert float(d.max()) < (2e-2 if name == "zdt3" else 2e-3)   # zdt3: samples in its gaps


def _toy_tchebycheff():
    """A smooth 2-objective surrogate LCB on 3 variables and its Tchebycheff scalarisation (ideal (−0.1, −0.2))."""
    ideal = torch.tensor([-0.1, -0.2], dtype=torch.float64)

    def lcb(x):
        return torch.stack([x[:, 0] + 0.1 * x[:, 2], 1 - x[:, 0].sqrt() + x[:, 1] ** 2], 1)

    def scal(prefs, x):
        return (prefs * (lcb(x) - ideal)).max(1).values
    scal.lcb, scal.ideal = lcb, ideal
    return scal


def test_dtlz2_optimal_set_lies_on_the_unit_sphere():
    f, _ = PROBLEMS["dtlz2"]
    x = torch.rand(40, 7, dtype=torch.float64)
    x[:, 2:] = 0.5
    torch.testing.assert_close(f(x).norm(dim=1), torch.ones(40, dtype=torch.float64))


def test_pareto_mask_is_the_brute_force_definition():
    y = torch.rand(30, 3, dtype=torch.float64)
    want = [not any(bool((y[j] <= y[i]).all() and (y[j] < y[i]).any()) for j in range(30)) for i in range(30)]
    assert pareto_mask(y).tolist() == want


def test_hypervolume_3d_equals_the_brute_force_union_of_boxes():
    rng = np.random.default_rng(0)
    pts = torch.from_numpy(rng.random((8, 3)))
    ref = (1.0, 1.0, 1.0)
    axes = [sorted({float(v) for v in pts[:, k]} | {ref[k]}) for k in range(3)]
    vol = 0.0
    for cell in itertools.product(*[list(zip(a, a[1:])) for a in axes]):
        centre = [(lo + hi) / 2 for lo, hi in cell]
        if any(all(float(p[k]) <= centre[k] for k in range(3)) for p in pts):
            vol += np.prod([hi - lo for lo, hi in cell])
    assert hypervolume(pts, torch.tensor(ref)) == pytest.approx(vol, abs=1e-12)


def test_exact_gp_posterior_is_the_closed_form():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(15, 2, generator=g, dtype=torch.float64)
    y = torch.sin(3 * x[:, 0]) + x[:, 1] ** 2
    gp = ExactGP(x, y, steps=30)
    xs = torch.rand(6, 2, generator=g, dtype=torch.float64)
    ls, sf2, sn2 = gp.log_ls.exp().detach(), float(gp.log_sf.exp() ** 2), float(gp.log_sn.exp() ** 2) + 1e-8

    def k(a, b):
        return sf2 * torch.exp(-0.5 * (((a[:, None, :] - b[None, :, :]) / ls) ** 2).sum(-1))
    ys = (y - y.mean()) / (y.std() + 1e-9)
    inv = torch.linalg.inv(k(x, x) + sn2 * torch.eye(15, dtype=torch.float64))
    mu = k(xs, x) @ inv @ ys * (y.std() + 1e-9) + y.mean()
    var = (sf2 - (k(xs, x) @ inv * k(xs, x)).sum(1)) * (y.std() + 1e-9) ** 2
    got_mu, got_sd = gp.predict(xs)
    torch.testing.assert_close(got_mu.detach(), mu, rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(got_sd.detach() ** 2, var, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("model", ["psl", "svh-psl"])
def test_pareto_set_learning_improves_on_the_initial_design_through_core_run(model):
    result = core.run("pareto-zdt1", model, **{"task.num_variables": 2}, num_evaluations=30, num_initial=20,
                      num_steps=100, lr=1e-2, width=16)
    rounds = [r for r in result.history if "hypervolume" in r]
    assert rounds[-1]["evaluations"] == 30
    assert 0 < result.metrics["test_hypervolume_ratio"] <= 1
    f, _ = PROBLEMS["zdt1"]
    x0 = torch.rand(20, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y0 = f(x0)
    assert result.metrics["test_hypervolume"] > hypervolume(y0[pareto_mask(y0)], torch.tensor([1.1, 1.1]))


def test_bad_problem_settings():
    with pytest.raises(ValueError, match="num_evaluations=10 is out of range"):
        core.get_task("pareto-zdt1", num_evaluations=10, num_initial=20)


def test_a_killed_pareto_run_resumes_after_its_last_finished_round(tmp_path, monkeypatch):
    """Each round is a checkpointed trainer epoch: kill the run in round 3, resume, and get the uninterrupted
    run's evaluations, history and metrics (the hypernetwork, Adam, the evaluations and the RNG come back)."""
    from hyperzoo.core.trainer import Trainer

    cfg = dict(num_evaluations=32, num_initial=20, num_per_round=4, num_steps=10, width=8, progress=False)
    whole = core.run("pareto-zdt1", "svh-psl", out_dir=tmp_path / "whole", **cfg)
    assert [r["evaluations"] for r in whole.history if "evaluations" in r] == [24, 28, 32]

    original_log, seen = Trainer.log, []

    def killed_in_round_3(self, **row):
        if "evaluations" in row:
            seen.append(row["evaluations"])
            if len(seen) == 3:
                raise KeyboardInterrupt
        original_log(self, **row)

    monkeypatch.setattr(Trainer, "log", killed_in_round_3)
    with pytest.raises(KeyboardInterrupt):
        core.run("pareto-zdt1", "svh-psl", out_dir=tmp_path / "killed", **cfg)
    monkeypatch.undo()
    resumed = core.run("pareto-zdt1", "svh-psl", out_dir=tmp_path / "killed", resume=True, **cfg)
    assert [r["evaluations"] for r in resumed.history if "evaluations" in r] == [24, 28, 32]
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(resumed.history) == strip(whole.history)
    assert resumed.metrics["test_hypervolume"] == whole.metrics["test_hypervolume"]
    assert resumed.metrics["test_igd"] == whole.metrics["test_igd"]


def test_svh_direction_equals_the_papers_update_computed_by_loops():
    """(1/n) Σ_i [Σ_j k(i,j) ĝ_j + α ∇_φ Σ_j k(i,j)] with ĝ the per-parameter-normalised particle gradients and
    the local kernel on the active objective, every term by explicit loops, vs the surrogate's gradient."""
    import math

    from hyperzoo.hypernets.psl import ParetoHypernet

    torch.manual_seed(0)
    m = ParetoHypernet(num_objectives=2, num_variables=3, width=16, depth=1, svgd=True, repulsion=0.3).double()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)                                   # particles well apart
    scal = _toy_tchebycheff()
    lcb, ideal = scal.lcb, scal.ideal
    prefs = torch.distributions.Dirichlet(torch.ones(2)).sample((7,)).double()
    params = list(m.parameters())
    got = torch.autograd.grad(m.loss(prefs, scal), params)
    got = torch.cat([g.reshape(-1) for g in got])

    n = 7
    x = m(prefs)
    v = lcb(x)
    t = prefs * (v - ideal)
    active = t.argmax(1).tolist()
    g = torch.stack([torch.cat([q.reshape(-1) for q in torch.autograd.grad(t[k, active[k]], params,
                                                                            retain_graph=True)]) for k in range(n)])
    g_hat = g / g.norm(dim=0, keepdim=True).clamp_min(1e-12)
    h = []
    for o in range(2):
        d2 = [float((v[i, o] - v[j, o]) ** 2) for i in range(n) for j in range(n)]
        med = float(np.median(np.array(d2)))
        h.append(1e-2 * med ** 2 / math.log(n) if med != 0 else 5e-6)
    assert min(h) > 1e-9
    want = torch.zeros_like(got)
    for i in range(n):
        row_sum = 0.0
        for j in range(n):
            a = active[j]
            kij = torch.exp(-(v[i, a] - v[j, a]) ** 2 / h[a])
            want += float(kij) * g_hat[j]
            row_sum = row_sum + kij
        want += 0.3 * torch.cat([q.reshape(-1) for q in torch.autograd.grad(row_sum, params, retain_graph=True)])
    torch.testing.assert_close(got, want / n, rtol=1e-8, atol=1e-10)


def _brute_force_greedy(front, values, batch, ref):
    chosen, current = [], front
    for _ in range(batch):
        hv = [hypervolume(torch.cat([current, values[i:i + 1]]), ref) if i not in chosen else -1.0
              for i in range(len(values))]
        chosen.append(int(np.argmax(hv)))
        current = torch.cat([current, values[chosen[-1]:chosen[-1] + 1]])
    return chosen


def test_greedy_batch_uses_the_nadir_reference_so_candidates_beyond_1_1_still_count():
    # the evaluated front and every candidate lie beyond the metric's 1.1 in the second objective (as on ZDT2 in
    # 6-D early on): under the fixed reference nothing adds volume and the old loop drew its whole batch at
    # random; under the papers' nadir reference the choice is the brute-force greedy hypervolume maximiser.
    from hyperzoo.hypernets.psl import greedy_hypervolume_batch

    g = torch.Generator().manual_seed(0)
    front = torch.tensor([[0.0, 3.0], [0.5, 2.5], [1.0, 2.0]], dtype=torch.float64)
    t = torch.rand(40, generator=g, dtype=torch.float64)
    values = torch.stack([t, 2.0 + 1.5 * (1 - t) ** 2 * (0.5 + torch.rand(40, generator=g, dtype=torch.float64))], 1)
    nadir = torch.cat([front, values]).max(0).values
    want = _brute_force_greedy(front, values, 4, nadir)
    assert greedy_hypervolume_batch(front, values, 4) == want
    gains = [hypervolume(torch.cat([front, values[i:i + 1]]), nadir) - hypervolume(front, nadir) for i in want[:1]]
    assert gains[0] > 0
    assert all(hypervolume(torch.cat([front, values[i:i + 1]]), torch.tensor([1.1, 1.1])) == 0.0 for i in range(40))


def test_greedy_batch_never_picks_a_candidate_twice_when_nothing_adds_volume():
    # every candidate is dominated by the front: the random fallback must draw among the ones not yet chosen
    # (the old loop drew from all candidates and could evaluate the same point twice)
    from hyperzoo.hypernets.psl import greedy_hypervolume_batch

    front = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    values = torch.tensor([[0.5, 0.5], [0.6, 0.4], [0.7, 0.9]], dtype=torch.float64)
    for seed in range(20):
        chosen = greedy_hypervolume_batch(front, values, 3, generator=torch.Generator().manual_seed(seed))
        assert sorted(chosen) == [0, 1, 2]
    with pytest.raises(ValueError, match="batch"):
        greedy_hypervolume_batch(front, values, 4)


def test_paper_options_reach_the_loop_and_check_their_values():
    from hyperzoo.hypernets.psl import ParetoHypernet, ParetoLoop

    model = ParetoHypernet(num_objectives=2, num_variables=2, width=8, svgd=True, num_particles=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loop = ParetoLoop("zdt1", model, opt, num_variables=2, budget=14, initial=10, batch=2, steps=2, seed=0,
                      num_candidates=20, ideal_point="paper", reinit_each_round=True)
    loop.round()
    before = [p.detach().clone() for p in model.parameters()]
    loop.round()
    assert len(loop.x) == 14 and len({tuple(r) for r in loop.x.tolist()}) == 14
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="acquisition_reference"):
        ParetoLoop("zdt1", model, opt, num_variables=2, budget=14, initial=10, batch=2, steps=2, seed=0,
                   acquisition_reference="1.1")
    result = core.run("pareto-zdt1", "svh-psl", **{"task.num_variables": 2}, num_evaluations=24, num_initial=20,
                      num_per_round=2, num_steps=3, width=8, num_particles=4, kernel_scale=1.0,
                      num_candidates=30, ideal_point="paper", reinit_each_round=True)
    assert [r["evaluations"] for r in result.history if "hypervolume" in r] == [22, 24]
    assert 0 <= result.metrics["test_hypervolume_ratio"] <= 1


def test_lin2022_psl_step_is_the_normalised_augmented_inverse_weight_direction_by_finite_differences():
    """Σ_k J_kᵀ d̂_k with d_k the x-gradient of (v_a − z_a)/λ_a + 0.01 Σ_i v_i (a the active objective, by
    central finite differences on each solution separately) and J_k = ∂x_k/∂φ by autograd, vs the surrogate."""
    from hyperzoo.hypernets.psl import ParetoHypernet

    torch.manual_seed(1)
    m = ParetoHypernet(num_objectives=2, num_variables=3, width=8, depth=1, update="lin2022").double()
    scal = _toy_tchebycheff()
    lcb, ideal = scal.lcb, scal.ideal
    prefs = torch.distributions.Dirichlet(torch.ones(2)).sample((5,)).double()
    params = list(m.parameters())
    got = torch.cat([g.reshape(-1) for g in torch.autograd.grad(m.loss(prefs, scal), params)])

    x = m(prefs).detach()
    lam = prefs + 1e-4
    want = torch.zeros_like(got)
    for k in range(5):
        a = int(((lcb(x[k:k + 1]) - ideal) / lam[k]).argmax())

        def score(xk, k=k, a=a):
            v = lcb(xk[None])[0]
            return float((v[a] - ideal[a]) / lam[k, a] + 0.01 * v.sum())
        d = torch.zeros(3, dtype=torch.float64)
        for j in range(3):
            e = torch.zeros(3, dtype=torch.float64)
            e[j] = 1e-6
            d[j] = (score(x[k] + e) - score(x[k] - e)) / 2e-6
        d = d / d.norm()
        xk = m(prefs[k:k + 1])[0]
        want += torch.cat([g.reshape(-1) for g in torch.autograd.grad((xk * d).sum(), params)])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="update"):
        ParetoHypernet(num_objectives=2, num_variables=3, update="tchebycheff")


def test_default_ideal_point_keeps_the_tchebycheff_minimisers_spread():
    """ZDT2 in 6-D: the random design's min f_2 − 0.1 (≈ 3) lies above the whole true front (f_2 ≤ 1), so with
    that ideal point T(λ, f) = max_i λ_i (f_i − z*_i) is minimised at f_1 = 0 for every λ (the collapse seen as
    PSL's single-point ZDT2 front); the default z* = min(0, min y − 0.1) of both papers' code spreads them."""
    from hyperzoo.hypernets.psl import ParetoHypernet, ParetoLoop, ideal_point

    model = ParetoHypernet(num_objectives=2, num_variables=6, width=8)
    loop = ParetoLoop("zdt2", model, torch.optim.Adam(model.parameters()), num_variables=6, budget=25, initial=20,
                      batch=5, steps=1, seed=0)
    loop.round()
    front = true_front("zdt2", 1001)
    t = torch.linspace(0.05, 0.95, 10, dtype=torch.float64)
    lam = torch.stack([t, 1 - t], 1)

    def minimisers(z):
        return front[(lam[:, None, :] * (front[None] - z)).max(-1).values.argmin(1), 0]
    spread = minimisers(loop.ideal)
    assert float(spread.max() - spread.min()) > 0.8 and len(set(spread.tolist())) == 10
    data = ideal_point(loop.y[:20], "data")
    assert float(data[1]) > 1.0 and minimisers(data).tolist() == [0.0] * 10
    with pytest.raises(ValueError, match="ideal_point"):
        ideal_point(loop.y, "zero")
