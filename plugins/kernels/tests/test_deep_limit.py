"""Infinitely wide and deep networks (arXiv 2204.14126): dual activations against Monte Carlo, the depth-L recursion
against kernels.nngp_ntk and a 40-digit recursion, the depth-∞ taxonomy (singular kernel, 1-NN, majority vote) on
small data, the Koenigs kernel's singularity, the Dirichlet Bayes rate against Monte Carlo, the task, errors."""

import math

import mpmath
import numpy as np
import pytest
import torch

from hyperzoo import core
from hyperzoo.kernels import deep_limit as D
from hyperzoo.kernels.ops.nngp_ntk import nngp_ntk

DUALS = [D.ReLUDual(), D.ErfDual(), D.SineDual(), D.HilbertDual(), D.HermiteDual({1: 0.6, 2: 0.5, 3: 0.3}),
         D.hermite_for_exponent(2.0)]


def _pair_at(delta: float) -> torch.Tensor:
    """Two unit vectors with 1 − ⟨x, x'⟩ = delta."""
    t = 2 * math.asin(math.sqrt(delta / 2))
    return torch.tensor([[1.0, 0.0], [math.cos(t), math.sin(t)]], dtype=torch.float64)


@pytest.mark.parametrize("dual", DUALS, ids=lambda d: d.name)
def test_dual_and_its_derivative_match_monte_carlo(dual):
    g = torch.Generator().manual_seed(0)
    n = 200_000
    z1, z2 = torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    assert abs(float((dual.phi(z1) ** 2).mean()) - 1) < 0.03          # E φ² = 1 = ǩ(1)
    for xi in (-0.6, 0.3, 0.9):
        v = xi * z1 + math.sqrt(1 - xi * xi) * z2                       # (u, v) ~ N(0, [[1, ξ], [ξ, 1]])
        x = torch.tensor([xi], dtype=torch.float64)
        for closed, samples in ((dual.k(x), dual.phi(z1) * dual.phi(v)),
                                (dual.kdot(x), dual.phi_prime(z1) * dual.phi_prime(v))):
            se = float(samples.std()) / math.sqrt(n)
            assert abs(float(closed) - float(samples.mean())) < 5 * se + 1e-12, (dual.name, xi)
    one = torch.ones(1, dtype=torch.float64)
    assert float(dual.k(one)) == pytest.approx(1.0, abs=1e-15)
    assert float(dual.kdot(one)) == pytest.approx(dual.lam, rel=1e-12)
    assert float(dual.k(torch.zeros(1, dtype=torch.float64))) == pytest.approx(dual.c0, abs=1e-15)
    assert float(dual.kdot(torch.zeros(1, dtype=torch.float64))) == pytest.approx(dual.c1, abs=1e-15)


@pytest.mark.parametrize("dual", DUALS, ids=lambda d: d.name)
def test_near_one_forms(dual):
    d = torch.tensor([1e-3, 0.05, 0.2, 0.45], dtype=torch.float64)
    np.testing.assert_allclose(dual.one_minus_k(d), 1 - dual.k(1 - d), rtol=1e-11)
    np.testing.assert_allclose(dual.kdot_near_one(d), dual.kdot(1 - d), rtol=1e-12)
    tiny = torch.tensor([1e-14], dtype=torch.float64)   # 1 − ǩ(1 − δ) = λδ + o(δ); the direct form has lost it all
    assert float(dual.one_minus_k(tiny)) / 1e-14 == pytest.approx(dual.lam, rel=1e-6)
    assert float(dual.one_minus_k(torch.zeros(1, dtype=torch.float64))) == 0.0


@pytest.mark.parametrize("name, wv", [("relu", 2.0), ("erf", 1 / D.ErfDual.kappa)])
def test_depth_recursion_equals_the_nngp_ntk_operator(name, wv):
    # ops/nngp_ntk with σ_w² = 1/E[φ²], σ_b = 0 and inputs scaled by √(d/σ_w²) has Σ⁰ = ⟨x, x'⟩ on unit inputs
    x = torch.randn(9, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = x / x.norm(dim=1, keepdim=True)
    depths = [0, 1, 2, 5, 20, 300]
    ours = D.deep_kernels(x, depths=depths, activation=name)
    for depth in depths:
        nngp, ntk = nngp_ntk(x * math.sqrt(4 / wv), depth=depth, activation=name, weight_variance=wv,
                             bias_variance=0.0)
        np.testing.assert_allclose(ours[depth].values("nngp"), nngp, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(ours[depth].values("ntk"), ntk, rtol=1e-11, atol=1e-13)


def _mp_recursion(coef, xi0, depth):
    s, t = mpmath.mpf(xi0), mpmath.mpf(xi0)
    for _ in range(depth):
        kd = sum(i * c * s ** (i - 1) for i, c in enumerate(coef) if i)
        s = sum(c * s ** i for i, c in enumerate(coef))
        t = s + t * kd
    return s, t


def test_thousands_of_layers_near_one_and_below_underflow_match_60_digits():
    dual = D.HermiteDual({1: math.sqrt(0.1), 3: math.sqrt(0.9)})   # c₁ = 0.1: Σ^(L) ~ 10^−L underflows float64
    assert dual.odd
    mpmath.mp.dps = 60
    coef = [0, mpmath.mpf(1) / 10, 0, mpmath.mpf(9) / 10]   # summing to 1 exactly (ǩ(1) = 1)
    for delta in (1e-13, 1e-6, 0.7, 1.4, 2 - 1e-11):        # the last: ξ = −1 + 1e-11 (odd ǩ: run on |ξ|)
        x = _pair_at(delta)
        k = D.deep_kernels(x, depths=[400, 2000], activation=dual)
        # the reference starts from the δ of |ξ| of the rounded unit inputs (1e-16 is 1e-3 of δ = 1e-13)
        u = D._unit_rows(x, "x")
        start = 1 - mpmath.mpf(float(D._initial_state(u, u, odd=True)[2][0, 1]))
        sign = 1.0 if delta < 1 else -1.0
        for depth in (400, 2000):
            s, t = _mp_recursion(coef, start, depth)
            assert float(k[depth].nngp_sign[0, 1]) == sign * float(mpmath.sign(s))
            assert float(k[depth].ntk_sign[0, 1]) == sign * float(mpmath.sign(t))
            assert float(k[depth].nngp_log[0, 1]) == pytest.approx(float(mpmath.log(abs(s))), rel=1e-10)
            assert float(k[depth].ntk_log[0, 1]) == pytest.approx(float(mpmath.log(abs(t))), rel=1e-10)
            assert float(k[depth].ntk_log[0, 0]) == pytest.approx(float(mpmath.log(_mp_recursion(
                coef, 1, depth)[1])), rel=1e-12)   # Θ(1) = Σ λ^l: 2.8^2000 ≈ 1e894, as a log
    # an odd dual's kernels are odd in ξ, to the last bit, and exact antipodes are the singular kernel's −∞
    x = _pair_at(0.3)
    flipped = x * torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    a, b = (D.deep_kernels(v, depths=[50], activation="erf")[50] for v in (x, flipped))
    assert float(a.nngp_sign[0, 1]) == -float(b.nngp_sign[0, 1]) and float(a.nngp_log[0, 1]) == float(b.nngp_log[0, 1])
    s, lg = D.koenigs(torch.tensor([[0.6, 0.8], [-0.6, -0.8]], dtype=torch.float64), activation="sine")
    assert float(s[0, 1]) == -1.0 and math.isinf(float(lg[0, 1]))


def test_koenigs_kernel_closed_form_exponent_and_depth_limits():
    x = torch.tensor(np.random.default_rng(0).dirichlet((1, 1, 1), 12) ** 0.5)
    s, lg = D.koenigs(x, activation="hilbert")
    sn, ln, _ = D._iterate(D.HilbertDual(), *D._initial_state(x, x), [], until_frozen=True)   # numerical ψ
    off = ~torch.eye(12, dtype=torch.bool)
    xi = (x @ x.T)[off]
    np.testing.assert_allclose(torch.exp(ln[off]), xi / (1 - xi), rtol=1e-10)          # ψ = ξ/(1 − ξ)
    assert torch.isinf(lg.diagonal()).all()
    k = D.deep_kernels(x, depths=[300, 1000, 3000], activation="hilbert")
    c = D.HILBERT_C
    np.testing.assert_allclose(k[300].nngp_log[off] - 300 * math.log(c), lg[off], rtol=1e-8)   # Σ^(L)/c^L → ψ
    # Θ^(L)/c^L = A + Lψ once in the linear regime: Θ^(L)/(L c^L ψ) → 1 as 1 + A/(Lψ)
    r1, r3 = (torch.exp(k[d].ntk_log[off] - d * math.log(c) - math.log(d) - lg[off]) for d in (1000, 3000))
    np.testing.assert_allclose(3000 * (r3 - 1), 1000 * (r1 - 1), rtol=1e-6)
    assert float((r3 - 1).abs().max()) < 0.2   # slow for close pairs: they spend ~log(1/δ)/log λ layers near 1
    assert D.singular_exponent("hilbert") == pytest.approx(2.0, abs=1e-12)
    # log ψ against log δ (δ = ‖x − x'‖²/2) has slope −α/2 over decades, α = 2 log(1/c₁)/log λ (up to a bounded
    # log-periodic factor): erf, and the two-term activation tuned to α = 2
    dual = D.hermite_for_exponent(2.0)
    assert D.singular_exponent(dual) == pytest.approx(2.0, abs=1e-9)
    deltas = np.logspace(-12, -4, 17)
    for act in ("erf", dual):
        logs = [float(D.koenigs(_pair_at(d), activation=act)[1][0, 1]) for d in deltas]
        slope = np.polyfit(np.log(deltas), logs, 1)[0]
        assert slope == pytest.approx(-D.singular_exponent(act) / 2, abs=0.03), act


def _small(seed=0, n=40, m=60):
    rng = np.random.default_rng(seed)
    x, y, _ = D.dirichlet_data(n, rng)
    xt, yt, _ = D.dirichlet_data(m, rng)
    return x, y, xt, yt


def test_singular_kernel_limit_is_reached_by_nngp_and_ntk():
    x, y, xt, _ = _small()
    lim = D.DeepLimitClassifier(activation="hilbert", depth=None).fit(x, y).predict(xt)
    nngp = D.DeepLimitClassifier(activation="hilbert", kernel="nngp", depth=400).fit(x, y).predict(xt)
    ntk = D.DeepLimitClassifier(activation="hilbert", kernel="ntk", depth=40000).fit(x, y).predict(xt)   # 1/L: slow
    shallow = D.DeepLimitClassifier(activation="hilbert", kernel="nngp", depth=1, ridge=1e-6).fit(x, y).predict(xt)
    psi = x @ xt.T / (1 - x @ xt.T)                                     # the Hilbert-type kernel, by hand
    hand = np.stack([psi[y == k].sum(0) for k in (0, 1)], 1).argmax(1)
    np.testing.assert_array_equal(lim, hand)
    np.testing.assert_array_equal(nngp, lim)
    np.testing.assert_array_equal(ntk, lim)
    assert (shallow != lim).any()    # depth matters: the depth-1 kernel is a different classifier


def test_one_nearest_neighbour_limit():
    from sklearn.neighbors import KNeighborsClassifier

    x, y, xt, _ = _small(1)
    dual = D.HermiteDual({2: 1.0, 3: 1.0})                              # c₀ = c₁ = 0
    assert D.limit_kind(dual, "nngp") == D.limit_kind(dual, "ntk") == "1-nn"
    knn = KNeighborsClassifier(1).fit(x, y).predict(xt)
    for kernel in D.KERNELS:
        deep = D.DeepLimitClassifier(activation=dual, kernel=kernel, depth=40).fit(x, y).predict(xt)
        lim = D.DeepLimitClassifier(activation=dual, kernel=kernel, depth=None).fit(x, y).predict(xt)
        np.testing.assert_array_equal(deep, knn)
        np.testing.assert_array_equal(lim, knn)
    shallow = D.DeepLimitClassifier(activation=dual, depth=1, ridge=1e-8).fit(x, y).predict(xt)
    assert (shallow != knn).any()


def test_majority_vote_limit():
    rng = np.random.default_rng(2)
    x, y, xt, _ = _small(2, n=30)
    y = np.where(np.arange(30) < 20, 0, 1)
    y = y[rng.permutation(30)]                                          # 20 vs 10 labels, shuffled
    dual = D.HermiteDual({0: 0.5, 2: math.sqrt(0.75)})                   # c₀ = 1/4, λ = 3/2 > 1
    assert D.limit_kind(dual, "nngp") == "majority-vote"
    assert D.limit_kind("relu", "ntk") == D.limit_kind("relu", "nngp") == "majority-vote"
    assert D.limit_kind(D.HermiteDual({0: 0.9, 1: 0.436}), "nngp") is None   # c₀ > 0, λ < 1: not derived
    for kernel in D.KERNELS:
        deep = D.DeepLimitClassifier(activation=dual, kernel=kernel, depth=80).fit(x, y).predict(xt)
        assert (deep == 0).all(), kernel
    for kernel in D.KERNELS:   # ReLU: only once L ≫ n (the O(1/L) ‖x − x'‖⁻¹ term wins before)
        relu = D.DeepLimitClassifier(activation="relu", kernel=kernel, depth=3000).fit(x, y).predict(xt)
        assert (relu == 0).all(), kernel
    assert (D.DeepLimitClassifier(activation="relu", kernel="ntk", depth=None).fit(x, y).predict(xt) == 0).all()
    shallow = D.DeepLimitClassifier(activation="relu", kernel="ntk", depth=2).fit(x, y).predict(xt)
    assert (shallow == 1).any()


def test_bayes_accuracy_quadrature_against_monte_carlo():
    acc = D.dirichlet_bayes_accuracy()
    assert D.dirichlet_bayes_accuracy(nodes=1000) == pytest.approx(acc, abs=2e-5)   # converged in the node count
    _, y, p = D.dirichlet_data(200_000, np.random.default_rng(0))
    mc = float((D.dirichlet_bayes_rule(p) == y).mean())
    assert abs(mc - acc) < 4 * math.sqrt(acc * (1 - acc) / 200_000)
    # each density integrates to 1 by the same rule, and a single class is always right
    for a in D.DIRICHLET_CONCENTRATIONS:
        assert D.dirichlet_bayes_accuracy((a, a), nodes=1000) == pytest.approx(0.5, abs=1e-4)


def test_dirichlet_task_through_core_run():
    r = core.run("dirichlet-2d", "deep-limit-classifier", n_train=150, n_test=300, split_seed=3, activation="erf",
                 kernel="nngp", depth=100)
    m = r.metrics
    assert m["train_accuracy"] == 1.0                                   # the trained wide network interpolates
    assert m["majority_vote_accuracy"] < m["test_accuracy"] <= m["bayes_test_accuracy"] + 0.05
    assert m["bayes_accuracy"] == pytest.approx(D.dirichlet_bayes_accuracy())
    assert r.config["model_args"]["depth"] == 100
    lim = core.run("dirichlet-2d", "deep-limit-classifier", n_train=150, n_test=300, split_seed=3, depth=None,
                   activation="hilbert").metrics
    assert lim["test_accuracy"] > lim["majority_vote_accuracy"]


def test_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    expected = {"check_estimators_dtypes": "the kernels live on the unit sphere: all-zero rows are refused"}
    results = check_estimator(D.DeepLimitClassifier(depth=3, ridge=1e-8), on_fail=None,
                              expected_failed_checks=expected)
    failed = [(r["check_name"], str(r["exception"])[:300]) for r in results if r["status"] == "failed"]
    assert not failed
    assert len(results) > 30


def test_errors_name_the_problem():
    x = np.abs(np.random.default_rng(0).standard_normal((6, 3)))
    y = np.array([0, 1] * 3)
    with pytest.raises(ValueError, match="activation must be one of"):
        D.DeepLimitClassifier(activation="tanh").fit(x, y)
    with pytest.raises(ValueError, match="depth must be an int >= 0 or None"):
        D.DeepLimitClassifier(depth=-1).fit(x, y)
    with pytest.raises(ValueError, match="kernel must be one of"):
        D.DeepLimitClassifier(kernel="rbf").fit(x, y)
    with pytest.raises(ValueError, match="ridge must be"):
        D.DeepLimitClassifier(ridge=-1.0).fit(x, y)
    with pytest.raises(ValueError, match="no depth-inf classifier is derived for activation 'hermite'"):
        D.DeepLimitClassifier(activation=D.HermiteDual({0: 0.9, 1: 0.436}), depth=None).fit(x, y)
    with pytest.raises(ValueError, match=r"Gram matrix .* is singular with ridge = 0 .*; set ridge > 0"):
        D.DeepLimitClassifier(depth=3).fit(np.vstack([x, x[:1]]), np.append(y, 0))   # a duplicated point
    with pytest.raises(ValueError, match="all-zero rows"):
        D.DeepLimitClassifier().fit(np.vstack([x[:5], np.zeros(3)]), y)
    with pytest.raises(ValueError, match="depths must be ints"):
        D.deep_kernels(torch.tensor(x), depths=[2.5])
    with pytest.raises(ValueError, match="same number of features"):
        D.deep_kernels(torch.tensor(x), torch.tensor(x[:, :2]), depths=1)
    with pytest.raises(ValueError, match="singular-kernel limit needs c0"):
        D.singular_exponent("relu")
    with pytest.raises(ValueError, match="degrees must be ints >= 0"):
        D.HermiteDual({-1: 1.0})
    with pytest.raises(ValueError, match="at least one a_i must be nonzero"):
        D.HermiteDual({1: 0.0})
    with pytest.raises(ValueError, match="alpha must be finite and > 2/"):
        D.hermite_for_exponent(0.5)
    with pytest.raises(ValueError, match=r"c = ǩ'\(0\) must be in \(0, 1\)"):
        D.HilbertDual(1.5)
    with pytest.raises(core.ConfigError):
        core.run("dirichlet-2d", "deep-limit-classifier", n_train=1)
