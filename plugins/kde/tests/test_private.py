"""Differentially private similarity sums: noise calibration, sensitivity by brute force, an audit with power,
ε = ∞ recovers the non-private answer, private classification."""

import math

import numpy as np
import pytest
import torch

from hyperzoo.kde.private import (
    PRIVATE_KERNELS,
    PrivateDistanceSum,
    PrivateKernelSum,
    PrivateSimilarityClassifier,
    audit_laplace,
)


def _kernel(kernel, X, Y, h):
    d = np.sqrt(((Y[:, None, :] - X[None]) ** 2).sum(-1)) / h
    return {"gaussian": np.exp(-0.5 * d**2), "laplace": np.exp(-d), "cauchy": 1 / (1 + d**2)}[kernel].sum(1)


@pytest.mark.parametrize("eps", [0.1, 1.0, 7.0])
def test_noise_scale_follows_from_epsilon_and_sensitivity(eps, rng):
    from scipy.stats import kstest, laplace

    X = rng.random((100, 3))
    s = PrivateKernelSum(n_features=50, epsilon=eps).fit(X)
    assert s.noise_scale() == pytest.approx((math.sqrt(100) + 1) / eps)
    t = PrivateDistanceSum(levels=6, epsilon=eps).fit(X)
    assert t.noise_scale() == pytest.approx(2 * 3 * 7 / eps)
    # the released noise (release minus the exact vector of the same public features) is Lap(b)
    draws = np.concatenate([(m := PrivateKernelSum(n_features=50, epsilon=eps).fit(X)).released_ - m.release(X)
                            for _ in range(100)])
    assert draws.std() == pytest.approx(math.sqrt(2) * s.noise_scale(), rel=0.05)
    assert kstest(draws, laplace(scale=s.noise_scale()).cdf).pvalue > 1e-4


def _noise(model, X):
    if isinstance(model, PrivateKernelSum):
        return model.released_ - model.release(X)
    counts, sums = model.release(X)
    return np.concatenate([(model.counts_ - counts).ravel(), (model.sums_ - sums).ravel()])


@pytest.mark.parametrize("make", [lambda: PrivateKernelSum(n_features=32, projection_dim=2),
                                  lambda: PrivateDistanceSum(metric="l2", levels=4, projection_dim=4)])
def test_same_random_state_same_public_randomness_independent_noise(make, rng):
    """random_state fixes the public randomness only: two fits (even after seeding NumPy and torch globally)
    share features/projections and get different noise, and neighbouring data sets get independent noise."""
    X = rng.random((60, 3))
    np.random.seed(0)
    torch.manual_seed(0)
    a = make().fit(X)
    np.random.seed(0)
    torch.manual_seed(0)
    b = make().fit(X)
    if isinstance(a, PrivateKernelSum):
        np.testing.assert_array_equal(a.features_.omega, b.features_.omega)
        np.testing.assert_array_equal(a.features_.phase, b.features_.phase)
    else:
        np.testing.assert_array_equal(a.proj_, b.proj_)
    na, nb = _noise(a, X), _noise(b, X)
    assert np.abs(na - nb).min() > 0                       # no coordinate's noise repeats
    neighbour = make().fit(X[:-1])
    diff = _noise(neighbour, X[:-1]) - na                  # the difference of two releases is not exact
    assert np.abs(diff).mean() > 0.5 * a.noise_scale()


def _old_noise_from_saved_state(state):
    """The attack that worked before: regenerate the one stream seeded by the saved random_state (public draws
    first, in the order the old code made them, then the noise)."""
    p = state["params"]
    g = np.random.default_rng(p["random_state"])
    d, k = state["n_features_in_"], p["projection_dim"]
    if k is not None:
        g.standard_normal((d, k))
    g.standard_normal((k or d, p["n_features"]))
    g.uniform(0.0, 2 * math.pi, p["n_features"])
    scale = (math.sqrt(2.0 * p["n_features"]) + 1.0) / p["epsilon"]
    return g.laplace(0.0, scale, p["n_features"] + 1)


@pytest.mark.parametrize("random_state", [0, 7])
def test_noise_cannot_be_rebuilt_from_the_saved_state(random_state, tmp_path, rng):
    X = rng.random((200, 4))
    model = PrivateKernelSum(n_features=64, epsilon=1.0, random_state=random_state).fit(X)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    recovered = state["released"].numpy() - _old_noise_from_saved_state(state)
    true_count = 200.0
    # before the fix the count came back to 1e-13 and the sums to 6e-14; now the error is the Laplace noise
    assert abs(recovered[-1] - true_count) > 1e-3 * model.noise_scale()
    assert np.abs(recovered - model.release(X)).mean() > 0.3 * model.noise_scale()
    # nothing saved is a seed or the noise itself: only parameters, public arrays and the released vector
    assert set(state) == {"params", "released", "n_features_in_", "features"}
    assert set(state["features"]) == {"proj", "omega", "phase"}


def test_state_dict_of_an_old_version_is_refused():
    old = {"params": PrivateKernelSum().get_params(), "released": torch.zeros(1025), "n_features_in_": 3}
    with pytest.raises(ValueError, match="fit the structure again"):
        PrivateKernelSum().load_state_dict(old)


def test_private_structures_are_scikit_learn_estimators():
    from sklearn.base import BaseEstimator, clone

    for cls in (PrivateKernelSum, PrivateDistanceSum, PrivateSimilarityClassifier):
        m = cls(epsilon=2.0, random_state=3)
        assert isinstance(m, BaseEstimator) and "get_params" not in cls.__dict__
        assert clone(m).get_params() == m.get_params()


@pytest.mark.parametrize("kernel", PRIVATE_KERNELS)
@pytest.mark.parametrize("projection_dim", [None, 4])
def test_kernel_sensitivity_by_brute_force(kernel, projection_dim, rng):
    s = PrivateKernelSum(kernel=kernel, n_features=64, projection_dim=projection_dim).fit(rng.random((50, 6)))
    declared = s.features_.sensitivity
    worst = 0.0
    for _ in range(200):
        X = rng.random((int(rng.integers(1, 30)), 6))
        extra = rng.normal(size=(1, 6)) * 3
        change = np.abs(s.release(np.vstack([X, extra])) - s.release(X)).sum()
        worst = max(worst, change)
    assert worst <= declared + 1e-9
    assert worst > 0.6 * declared      # the bound is not vacuous


@pytest.mark.parametrize("metric, flat", [("l1", False), ("l1", True), ("l2", False)])
def test_distance_sensitivity_by_brute_force(metric, flat, rng):
    s = PrivateDistanceSum(metric=metric, levels=5, flat=flat, projection_dim=8, bounds=(-1, 1)).fit(
        rng.uniform(-1, 1, (20, 4)))
    declared = s.sensitivity()
    for _ in range(100):
        X = rng.uniform(-1, 1, (int(rng.integers(1, 40)), 4))
        extra = rng.uniform(-1, 1, (1, 4))
        (c0, s0), (c1, s1) = s.release(X), s.release(np.vstack([X, extra]))
        assert np.abs(c1 - c0).sum() == pytest.approx(declared)          # attained exactly for counts
        assert np.abs(s1 - s0).sum() <= declared + 1e-9


def test_infinite_epsilon_recovers_the_non_private_answer(rng):
    X, Y = rng.random((800, 5)), rng.random((30, 5))
    for kernel in PRIVATE_KERNELS:
        s = PrivateKernelSum(kernel=kernel, bandwidth=0.5, epsilon=math.inf, n_features=16384).fit(X)
        np.testing.assert_array_equal(s.released_, s.release(X))
        assert s.count() == 800
        truth = _kernel(kernel, X, Y, 0.5)
        assert np.abs(s.predict(Y) - truth).max() / truth.mean() < 0.05   # random-feature error only
    t = PrivateDistanceSum(metric="l1", levels=10, epsilon=math.inf).fit(X)
    exact = np.abs(Y[:, None, :] - X[None]).sum(-1).sum(1)
    assert np.abs(t.predict(Y) - exact).max() < 800 * 5 * 2.0**-10   # ≤ one cell width per point and coordinate
    u = PrivateDistanceSum(metric="l2", levels=10, epsilon=math.inf, projection_dim=512).fit(X)
    exact2 = np.linalg.norm(Y[:, None, :] - X[None], axis=-1).sum(1)
    assert np.abs(u.predict(Y) - exact2).max() / exact2.mean() < 0.1   # Gaussian-projection error


class HalfNoiseKernelSum(PrivateKernelSum):
    def noise_scale(self):
        return 0.5 * super().noise_scale()


class HalfNoiseDistanceSum(PrivateDistanceSum):
    def noise_scale(self):
        return 0.5 * super().noise_scale()


def _kernel_audit(cls, eps):
    """One random feature and a canary x* with |φ(x*)| = √2, the worst case of the ℓ1 sensitivity. Each trial
    is the mechanism's own ``privatize`` (what ``fit`` releases) on the exact vector of the data set."""
    mech = cls(n_features=1, epsilon=eps, random_state=0).fit(np.zeros((1, 1)))
    omega, phase = float(mech.features_.omega[0, 0]), float(mech.features_.phase[0])
    canary = np.array([[(2 * math.pi - phase) / omega]])               # cos(ω x* + b) = 1
    pair = (np.array([[0.3], [0.7]]), np.array([[0.3], [0.7], [canary[0, 0]]]))
    exact = {id(p): mech.release(p) for p in pair}
    def run(data, seed):
        return mech.privatize(exact[id(data)])
    base = exact[id(pair[0])]
    def stat(out):
        return min(out[0] - base[0], out[1] - base[1])         # feature sum and count both move up
    return audit_laplace(run, stat, pair, epsilon=eps, trials=20000)


def _distance_audit(cls, eps):
    pair = (np.array([[0.2], [0.5]]), np.array([[0.2], [0.5], [1.0]]))
    mech = cls(levels=0, epsilon=eps).fit(pair[0])
    exact = {id(p): mech.release(p) for p in pair}
    def run(data, seed):
        return mech.privatize(exact[id(data)])
    def stat(out):
        return min(out[0][0, 0] - 2.0, out[1][0, 0] - 0.7)    # the canary x* = 1 adds 1 to both
    return audit_laplace(run, stat, pair, epsilon=eps, trials=20000)


@pytest.mark.parametrize("audit", [_kernel_audit, _distance_audit])
def test_audit_passes_the_real_mechanism_and_flags_half_noise(audit):
    eps = 1.0
    real = audit(PrivateKernelSum if audit is _kernel_audit else PrivateDistanceSum, eps)
    broken = audit(HalfNoiseKernelSum if audit is _kernel_audit else HalfNoiseDistanceSum, eps)
    assert not real["flagged"] and real["epsilon_lower"] > 0.6 * eps   # it has power: it sees most of ε
    assert broken["flagged"] and broken["epsilon_lower"] > 1.5 * eps


def test_private_classifier_on_digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    perm = np.random.default_rng(0).permutation(len(x))
    tr, te = perm[:1400], perm[1400:]
    acc = {}
    for eps in (math.inf, 1.0, 0.05):
        clf = PrivateSimilarityClassifier(bandwidth=1.5, epsilon=eps, n_features=512).fit(x[tr], y[tr])
        acc[eps] = float(np.mean(clf.predict(x[te]) == y[te]))
    assert acc[math.inf] > 0.85
    assert acc[math.inf] >= acc[1.0] > acc[0.05]


@pytest.mark.parametrize("random_state", [0, None])
def test_state_dicts_round_trip(random_state, tmp_path, rng):
    X, Y = rng.random((100, 3)), rng.random((10, 3))
    models = (PrivateKernelSum(kernel="cauchy", projection_dim=2, random_state=random_state).fit(X),
              PrivateKernelSum(kernel="laplace", random_state=random_state).fit(X),
              PrivateDistanceSum(metric="l2", random_state=random_state).fit(X),
              PrivateDistanceSum(metric="l1", random_state=random_state).fit(X),
              PrivateSimilarityClassifier(random_state=random_state).fit(X, rng.integers(0, 3, 100)))
    for model in models:
        torch.save(model.state_dict(), tmp_path / "m.pt")
        again = type(model)().load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
        assert again.get_params() == model.get_params()
        np.testing.assert_array_equal(again.predict(Y), model.predict(Y))


@pytest.mark.parametrize("make, match", [
    (lambda X: PrivateKernelSum(epsilon=0).fit(X), "epsilon must be a number > 0"),
    (lambda X: PrivateKernelSum(kernel="cosine").fit(X), "kernel must be one of"),
    (lambda X: PrivateKernelSum(bandwidth=-1.0).fit(X), "bandwidth must be"),
    (lambda X: PrivateKernelSum().fit(X).predict(np.zeros((2, 4))), "4 features"),
    (lambda X: PrivateKernelSum().fit(np.full((3, 3), np.nan)), "NaN"),
    (lambda X: PrivateDistanceSum(bounds=(0, 0.5)).fit(X), "outside the public bounds"),
    (lambda X: PrivateDistanceSum(metric="l3").fit(X), "metric must be"),
])
def test_bad_input(make, match, rng):
    with pytest.raises(ValueError, match=match):
        make(rng.random((20, 3)))
