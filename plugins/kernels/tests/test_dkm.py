"""Deep kernel machines (arXiv 2108.13097): the KL term against torch.distributions, the ν → ∞ limit against the
NNGP recursion of ``nngp_ntk``, the sparse objective against the full one at Z = X, the optimiser's monotone ascent,
the linear-in-n cost of the sparse DKM, and check_estimator for ``DeepKernelMachine``."""

import numpy as np
import pytest
import torch

from hyperzoo.kernels import NTKRegressor, nngp_ntk
from hyperzoo.kernels.dkm import DeepKernelMachine, DKMObjective, fit_dkm, gaussian_kl, relu_map, titsias_bound

F64 = torch.float64
WV, BV = 2.0, 0.1


def data(n=24, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=F64)
    y = (torch.sin(2 * x[:, :1]) + 0.3 * x[:, 1:2] * x[:, 2:3]) + 0.05 * torch.randn(n, 1, generator=g, dtype=F64)
    return x, y


def test_gaussian_kl_equals_torch_distributions():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 6, generator=g, dtype=F64), torch.randn(6, 6, generator=g, dtype=F64)
    ga, kb = a @ a.T + 0.1 * torch.eye(6, dtype=F64), b @ b.T + 0.1 * torch.eye(6, dtype=F64)
    mv = torch.distributions.MultivariateNormal
    ref = torch.distributions.kl_divergence(mv(torch.zeros(6, dtype=F64), ga), mv(torch.zeros(6, dtype=F64), kb))
    torch.testing.assert_close(gaussian_kl(ga, kb), ref, rtol=1e-10, atol=1e-10)
    assert abs(float(gaussian_kl(kb, kb))) < 1e-10


def test_relu_map_equals_monte_carlo_and_has_finite_gradient_on_the_diagonal():
    g = torch.tensor([[1.3, 0.4], [0.4, 0.7]], dtype=F64, requires_grad=True)
    k = relu_map(g, g.diagonal(), g.diagonal(), WV, BV)
    gen = torch.Generator().manual_seed(0)
    uv = torch.randn(2_000_000, 2, generator=gen, dtype=F64) @ torch.linalg.cholesky(g.detach()).T
    mc = WV * (uv[:, 0].clamp_min(0) * uv[:, 1].clamp_min(0)).mean() + BV
    assert abs(float(k[0, 1].detach()) - float(mc)) < 3e-3
    k.sum().backward()
    assert torch.isfinite(g.grad).all()


def test_nu_infinity_is_the_nngp_recursion_and_predicts_as_nngp_regression():
    """As ν → ∞ the optimal hidden Grams tend to G_l = Σ^l (``nngp_ntk`` at depth l), the output kernel to
    Σ^{L+1}: the distance of the optimum from the recursion falls as 1/ν."""
    x, y = data()
    depth = 2
    dist = {}
    for nu in (1e2, 1e4):
        obj = DKMObjective(x, depth=depth, nu=nu, noise=0.1, weight_variance=WV, bias_variance=BV, exact=True)
        if nu == 1e2:   # the initialisation is the recursion itself (jitter 1e-6 relative)
            for layer, g in enumerate(obj.grams(), start=1):
                ref, _ = nngp_ntk(x, depth=layer, activation="relu", weight_variance=WV, bias_variance=BV)
                assert float((g - ref).norm() / ref.norm()) < 1e-5, layer
        fit_dkm(obj, x, y, max_iter=200, tol=1e-14)
        dist[nu] = max(float((g - ref).norm() / ref.norm()) for g, ref in
                       zip(obj.grams(), obj.nngp_grams(x)))
    assert dist[1e4] < 1e-3
    assert 30 < dist[1e2] / dist[1e4] < 300      # ≈ 100: the optimum moves away from the NNGP as 1/ν
    # exactly at ν = ∞ (the NNGP) the predictions equal NNGP kernel regression with ridge σ²
    xt = torch.randn(7, 3, dtype=F64)
    m = DeepKernelMachine(depth=depth, nu=np.inf, noise=0.1).fit(x.numpy(), y[:, 0].numpy())
    ys = (y[:, 0].numpy() - y.numpy().mean()) / y.numpy().std()
    r = NTKRegressor(kernel="nngp", depth=depth + 1, ridge=0.1, weight_variance=WV, bias_variance=BV)
    ref = r.fit(x.numpy(), ys).predict(xt.numpy()) * y.numpy().std() + y.numpy().mean()
    np.testing.assert_allclose(m.predict(xt.numpy()), ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_finite_nu_ascends_the_objective_and_moves_the_grams():
    x, y = data()
    obj = DKMObjective(x, depth=2, nu=1.0, noise=0.1, weight_variance=WV, bias_variance=BV, exact=True)
    start = [g.detach().clone() for g in obj.grams()]
    hist = fit_dkm(obj, x, y, max_iter=60)
    assert all(b >= a - 1e-9 for a, b in zip(hist, hist[1:])) and hist[-1] > hist[0] + 1.0
    total, loglik, kls = obj(x, y)
    assert all(float(k) > 0 for k in kls)           # the learned Grams left the prior
    moved = float((obj.grams()[-1] - start[-1]).norm() / start[-1].norm())
    assert moved > 1e-2


def test_sparse_objective_at_z_equal_x_equals_the_full_objective():
    x, y = data(n=15)
    full = DKMObjective(x, depth=2, nu=3.0, noise=0.2, weight_variance=WV, bias_variance=BV, exact=True)
    fit_dkm(full, x, y, max_iter=20)                 # away from the NNGP point, so the Grams matter
    sparse = DKMObjective(x, depth=2, nu=3.0, noise=0.2, weight_variance=WV, bias_variance=BV, exact=False)
    sparse.load_state_dict(full.state_dict())
    a, b = full(x, y)[0], sparse(x, y)[0]
    # equal up to the 1e-6 relative jitter on the prior kernels (which the sparse path inverts)
    assert abs(float(a) - float(b)) < 1e-4 * abs(float(a))
    xt = torch.randn(5, 3, dtype=F64)
    torch.testing.assert_close(sparse.predict(xt, x, y), full.predict(xt, x, y), rtol=1e-4, atol=1e-6)


def test_titsias_bound_is_below_the_exact_log_likelihood():
    x, y = data(n=30)
    k = relu_map(x @ x.T, (x * x).sum(1), (x * x).sum(1), WV, BV)
    from hyperzoo.kernels.dkm import gaussian_loglik

    exact = gaussian_loglik(y, k + 0.1 * torch.eye(30, dtype=F64))
    z = slice(0, 8)
    bound = titsias_bound(y, k[z, z] + 1e-8 * torch.eye(8, dtype=F64), k[:, z], k.diagonal(), 0.1)
    assert float(bound) < float(exact)


def test_sparse_dkm_learns_and_predicts():
    x, y = data(n=120)
    m = DeepKernelMachine(depth=2, nu=10.0, noise=0.05, num_inducing=30, max_iter=40).fit(x.numpy(), y[:, 0].numpy())
    assert m.objective_history_[-1] > m.objective_history_[0]
    assert m.gram_matrices()[0].shape == (30, 30)
    assert m.score(x.numpy(), y[:, 0].numpy()) > 0.7


def test_bad_parameters_are_refused():
    x, y = data(n=10)
    for kw, word in (({"depth": 0}, "depth"), ({"nu": 0.0}, "nu"), ({"noise": -1.0}, "noise"),
                     ({"num_inducing": 0}, "num_inducing")):
        with pytest.raises(ValueError, match=word):
            DeepKernelMachine(**kw).fit(x.numpy(), y[:, 0].numpy())
    bad = x.numpy().copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DeepKernelMachine().fit(bad, y[:, 0].numpy())


def test_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(DeepKernelMachine(max_iter=20), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:300]) for r in results if r["status"] == "failed"]
    assert not failed
    assert len(results) > 30
