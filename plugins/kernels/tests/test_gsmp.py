"""GSMP: the equation by brute force, equality with GPyTorch's SpectralMixtureKernel in 1-D (and the documented
difference in 2-D), PSD, θ ≥ 0, the SCA learner (monotone objective, stationarity, sparsity), errors."""

import math

import numpy as np
import pytest
import torch

from hyperzoo.kernels import GSMPRegressor, gsmp, sca_weights
from hyperzoo.kernels.estimators import negative_log_likelihood

F64 = torch.float64


def _params(q, p):
    return torch.rand(q, dtype=F64), torch.rand(q, p, dtype=F64) * 2, torch.rand(q, p, dtype=F64) * 0.5


def test_equals_the_equation_by_brute_force():
    x1, x2 = torch.randn(4, 3, dtype=F64), torch.randn(5, 3, dtype=F64)
    w, mu, sig = _params(6, 3)
    got = gsmp(x1, x2, w, mu, sig)
    for i in range(4):
        for j in range(5):
            tau = (x1[i] - x2[j]).tolist()
            want = sum(float(w[q]) * math.prod(math.exp(-2 * math.pi ** 2 * tau[p] ** 2 * float(sig[q, p]) ** 2)
                                               * math.cos(2 * math.pi * tau[p] * float(mu[q, p])) for p in range(3))
                       for q in range(6))
            assert abs(float(got[i, j]) - want) < 1e-12
    torch.testing.assert_close(gsmp(x1, x2, w, mu, sig, components=True).mul(w[:, None, None]).sum(0), got)


def _gpytorch_sm(x1, x2, w, mu, sig):
    import gpytorch  # the test extra (pip install ./plugins/kernels[test])

    q, p = mu.shape
    k = gpytorch.kernels.SpectralMixtureKernel(num_mixtures=q, ard_num_dims=p).double()
    k.mixture_weights = w
    k.mixture_means = mu.reshape(q, 1, p)
    k.mixture_scales = sig.reshape(q, 1, p)
    with torch.no_grad():
        return k(x1, x2).to_dense()


def test_equals_gpytorch_spectral_mixture_in_1d_and_differs_in_2d():
    x1, x2 = torch.randn(20, 1, dtype=F64) * 3, torch.randn(15, 1, dtype=F64) * 3
    w, mu, sig = _params(5, 1)
    torch.testing.assert_close(gsmp(x1, x2, w, mu, sig), _gpytorch_sm(x1, x2, w, mu, sig), rtol=1e-10, atol=1e-10)
    y1, y2 = torch.randn(8, 2, dtype=F64), torch.randn(6, 2, dtype=F64)
    w, mu, sig = _params(3, 2)
    # GPyTorch multiplies over dimensions the sum over components; GSMP sums over components the product.
    assert float((gsmp(y1, y2, w, mu, sig) - _gpytorch_sm(y1, y2, w, mu, sig)).abs().max()) > 1e-3


def test_psd_and_nonnegative_weights():
    x = torch.randn(50, 2, dtype=F64)
    w, mu, sig = _params(8, 2)
    k = gsmp(x, None, w, mu, sig)
    assert float(torch.linalg.eigvalsh(k).min()) >= -1e-10
    with pytest.raises(ValueError, match=r"weights θ must be >= 0"):
        gsmp(x, None, w - 1.0, mu, sig)


def test_bad_input_errors():
    x = torch.randn(5, 2, dtype=F64)
    w, mu, sig = _params(3, 2)
    with pytest.raises(ValueError, match="same number of features; got 2 and 3"):
        gsmp(x, torch.randn(4, 3, dtype=F64), w, mu, sig)
    with pytest.raises(ValueError, match=r"means must have shape \(Q, P\) = \(3, 2\)"):
        gsmp(x, None, w, mu[:, :1], sig)
    bad = x.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="x1 contains NaN"):
        gsmp(bad, None, w, mu, sig)


def _signal(n=120, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 10, n))[:, None]
    y = np.sin(2 * math.pi * 0.5 * t[:, 0]) + 0.5 * np.cos(2 * math.pi * 1.5 * t[:, 0]) + 0.1 * rng.normal(size=n)
    return t, y


def test_sca_decreases_the_objective_keeps_theta_nonnegative_and_reaches_a_stationary_point():
    t, y = _signal()
    tt = torch.as_tensor(t)
    mu = torch.linspace(0, 3, 16, dtype=F64)[:, None]
    comps = gsmp(tt, None, torch.ones(16, dtype=F64), mu, torch.full((16, 1), 3 / 16, dtype=F64), components=True)
    yt = torch.as_tensor((y - y.mean()) / y.std())
    theta, noise, hist = sca_weights(comps, yt, max_iter=400, tol=1e-12)
    assert all(b <= a + 1e-9 for a, b in zip(hist, hist[1:])), "the SCA objective must not increase"
    assert (theta >= 0).all()
    # KKT of min F over θ >= 0: ∂F/∂θ_q = ½(tr(K⁻¹K_q) − αᵀK_qα) is 0 where θ_q > 0 and >= 0 where θ_q = 0
    k = torch.einsum("q,qij->ij", theta, comps) + noise * torch.eye(len(y), dtype=F64)
    kinv = torch.linalg.inv(k)
    alpha = kinv @ yt
    grad = 0.5 * (torch.einsum("ij,qij->q", kinv, comps) - torch.einsum("i,qij,j->q", alpha, comps, alpha))
    active = theta > 1e-3 * theta.max()
    assert grad[active].abs().max() < 1e-2 * grad.abs().max().clamp_min(1.0)
    assert (grad[~active] > -1e-2).all()
    # the learnt frequencies: the heaviest components sit at the signal's 0.5 and 1.5 cycles per unit time
    top = mu[theta.argsort(descending=True)[:4], 0]
    assert any(abs(float(f) - 0.5) <= 0.2 for f in top) and any(abs(float(f) - 1.5) <= 0.2 for f in top)
    assert negative_log_likelihood(comps, yt, theta, noise) < hist[0]


def test_sparsity_prunes_components():
    """Type-II maximum likelihood alone switches most grid components off; λ > 0 shrinks the weights further."""
    t, y = _signal()
    fits = [GSMPRegressor(num_components=24, max_frequency=3.0, sparsity=lam).fit(t, y) for lam in (0.0, 5.0, 50.0)]
    count = lambda m: int((m.weights_ > 1e-3 * m.weights_.max()).sum())   # noqa: E731
    assert count(fits[0]) <= 8
    l1 = [float(m.weights_.sum()) for m in fits]
    assert l1[0] > l1[1] > l1[2]
    assert all(count(b) <= count(a) for a, b in zip(fits, fits[1:]))
    assert all((m.weights_ >= 0).all() for m in fits)


def test_regressor_extrapolates_a_periodic_signal_better_than_the_mean():
    t, y = _signal(150)
    m = GSMPRegressor(num_components=31, max_frequency=3.0).fit(t, y)   # grid spacing 0.1 holds 0.5 and 1.5
    tt = np.linspace(10, 11, 50)[:, None]
    truth = np.sin(2 * math.pi * 0.5 * tt[:, 0]) + 0.5 * np.cos(2 * math.pi * 1.5 * tt[:, 0])
    rmse = float(np.sqrt(((m.predict(tt) - truth) ** 2).mean()))
    assert rmse < 0.3 * float(truth.std())
