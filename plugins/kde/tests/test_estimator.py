"""KernelDensity: exactness, normalisation, peers (scikit-learn, scipy), bandwidth rules, sampling, algorithms."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.neighbors import KernelDensity as SKKernelDensity

from hyperzoo.kde import KernelDensity
from hyperzoo.kde.kernels import KERNELS, log_norm, second_moment


@pytest.mark.parametrize("kernel", KERNELS)
def test_exact_equals_float64_brute_force(kernel, rng, brute):
    x, y, w = rng.normal(size=(400, 3)), rng.normal(size=(50, 3)), rng.random(400)
    kde = KernelDensity(bandwidth=0.7, kernel=kernel).fit(x, sample_weight=w)
    want = brute(y, x, 0.7, kernel, w) - math.log(w.sum()) - 3 * math.log(0.7) - log_norm(kernel, 3)
    got = kde.score_samples(y)
    f = np.isfinite(want)
    assert np.array_equal(np.isfinite(got), f)
    np.testing.assert_allclose(got[f], want[f], rtol=0, atol=1e-10)


@pytest.mark.parametrize("kernel", ["gaussian", "exponential"])
def test_exact_equals_float64_brute_force_at_d16_over_many_blocks(kernel, rng, brute):
    """d = 16 at the benchmark's bandwidth regime (terms down to e^-100), several query and data blocks."""
    x, y = rng.normal(size=(3000, 16)), rng.normal(size=(300, 16))
    h = 3000 ** (-1 / 20)
    want = brute(y, x, h, kernel) - math.log(3000) - 16 * math.log(h) - log_norm(kernel, 16)
    np.testing.assert_allclose(KernelDensity(bandwidth=h, kernel=kernel).fit(x).score_samples(y), want,
                               rtol=0, atol=1e-10)


@pytest.mark.parametrize("kernel", KERNELS)
def test_float32_within_documented_tolerance(kernel, rng, brute):
    x, y = rng.normal(size=(400, 3)), rng.normal(size=(50, 3))
    got = KernelDensity(bandwidth=0.7, kernel=kernel, dtype="float32").fit(x).score_samples(y)
    want = brute(y, x, 0.7, kernel) - math.log(400) - 3 * math.log(0.7) - log_norm(kernel, 3)
    f = np.isfinite(want) & (want > -20)   # away from the edge of a compact support, where float32 rounds r
    np.testing.assert_allclose(got[f], want[f], atol=1e-4)


@pytest.mark.parametrize("kernel", ["gaussian", "exponential", "epanechnikov"])
@pytest.mark.parametrize("algorithm", ["exact", "tree"])
def test_float32_keeps_its_accuracy_on_data_far_from_the_origin_and_spanning_thousands_of_bandwidths(
        kernel, algorithm, brute):
    """Clusters 5000 bandwidths from the origin: casting the points to float32 would round them by 3e-4
    bandwidths; the estimator centres each block in float64 first, so log p̂ is within 1e-5 of float64."""
    rng = np.random.default_rng(0)
    centres = rng.uniform(-5e3, 5e3, size=(8, 3))
    x = centres[rng.integers(0, 8, 2000)] + rng.standard_normal((2000, 3))
    y = np.concatenate([centres[rng.integers(0, 8, 60)] + rng.standard_normal((60, 3)),
                        centres[:2] + 14.0])             # beyond float32's reach of every point: float64 fallback
    want = KernelDensity(bandwidth=1.0, kernel=kernel).fit(x).score_samples(y)
    est = KernelDensity(bandwidth=1.0, kernel=kernel, algorithm=algorithm, dtype="float32").fit(x)
    got = est.score_samples(y)
    assert est.log_density(torch.as_tensor(y)).dtype == torch.float32
    f = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), f)
    np.testing.assert_allclose(got[f], want[f], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel", KERNELS)
def test_density_integrates_to_one_1d(kernel, rng):
    x = rng.normal(size=(30, 1))
    kde = KernelDensity(bandwidth=0.5, kernel=kernel).fit(x)
    grid = np.linspace(x.min() - 20, x.max() + 20, 400001)[:, None]
    p = np.exp(kde.score_samples(grid))
    assert abs(np.trapezoid(p, grid[:, 0]) - 1) < 1e-6


@pytest.mark.parametrize("kernel", KERNELS)
def test_density_integrates_to_one_2d(kernel, rng):
    x = rng.normal(size=(5, 2)) * 0.3
    kde = KernelDensity(bandwidth=0.6, kernel=kernel).fit(x)
    reach = 20.0 if kernel == "exponential" else 6.0
    g = np.linspace(-reach, reach, 801)
    gx, gy = np.meshgrid(g, g)
    p = np.exp(kde.score_samples(np.c_[gx.ravel(), gy.ravel()])).reshape(gx.shape)
    total = np.trapezoid(np.trapezoid(p, g, axis=1), g)
    assert abs(total - 1) < 2e-3


@pytest.mark.parametrize("kernel", KERNELS)
def test_agrees_with_scikit_learn(kernel, rng):
    """scikit-learn's cosine normalisation is wrong for d >= 2 (its density integrates to 0.363 in 2-D, see
    test_scikit_learn_cosine_normalisation_bug), so the cosine kernel is compared in 1-D."""
    d = 1 if kernel == "cosine" else 3
    x, y = rng.normal(size=(500, d)), rng.normal(size=(60, d))
    ours = KernelDensity(bandwidth=0.8, kernel=kernel).fit(x).score_samples(y)
    theirs = SKKernelDensity(bandwidth=0.8, kernel=kernel).fit(x).score_samples(y)
    f = np.isfinite(theirs)
    assert np.array_equal(np.isfinite(ours), f)
    np.testing.assert_allclose(ours[f], theirs[f], atol=1e-10)


def test_scikit_learn_cosine_normalisation_bug(rng):
    x = np.zeros((1, 2))
    g = np.linspace(-1.05, 1.05, 701)
    gx, gy = np.meshgrid(g, g)
    pts = np.c_[gx.ravel(), gy.ravel()]
    def mass(model):
        return np.trapezoid(np.trapezoid(np.exp(model.score_samples(pts)).reshape(gx.shape), g), g)
    assert abs(mass(KernelDensity(bandwidth=1.0, kernel="cosine").fit(x)) - 1) < 2e-3
    assert abs(mass(SKKernelDensity(bandwidth=1.0, kernel="cosine").fit(x)) - 0.3634) < 5e-3


def test_agrees_with_scipy_at_high_dimension(rng):
    """scipy's gaussian_kde uses the kernel covariance factor² · Cov(X): whitening with W = L⁻¹ (Cov = LLᵀ)
    maps it to an isotropic KDE with h = factor, so log p_scipy(y) = log p_ours(Wy) + log|det W|."""
    d = 16
    x = rng.normal(size=(2000, d)) @ rng.normal(size=(d, d)) * 0.3
    y = x[:200] + rng.normal(size=(200, d)) * 0.2
    ref = stats.gaussian_kde(x.T)
    L = np.linalg.cholesky(np.cov(x.T))
    W = np.linalg.inv(L)
    ours = KernelDensity(bandwidth=ref.factor).fit(x @ W.T).score_samples(y @ W.T) + np.log(abs(np.linalg.det(W)))
    np.testing.assert_allclose(ours, ref.logpdf(y.T), rtol=1e-9)


@pytest.mark.parametrize("n, d", [(100, 1), (1000, 2), (500, 16), (20000, 64)])
def test_bandwidth_rules_match_peers(n, d, rng):
    x = rng.normal(size=(n, d))
    for rule, scipy_factor in (("scott", "scotts_factor"), ("silverman", "silverman_factor")):
        ours = KernelDensity(bandwidth=rule).fit(x).bandwidth_
        assert ours == SKKernelDensity(bandwidth=rule).fit(x).bandwidth_
        assert ours == pytest.approx(getattr(stats.gaussian_kde(x.T), scipy_factor)(), rel=1e-15)


def test_kl_optimal_bandwidth_rule(rng):
    from hyperzoo.kde.regimes import h_kl

    x = rng.normal(size=(3000, 20)) * 2.0
    h = KernelDensity(bandwidth="kl-optimal").fit(x).bandwidth_
    sigma = math.sqrt(np.var(x, axis=0).mean())
    assert h == pytest.approx(h_kl(math.log(3000) / 20, sigma), rel=1e-12)
    assert 0.5 * 2.0 < h < 2.0   # the theory's KL-optimal h is below σ at this α


@pytest.mark.parametrize("kernel", KERNELS)
def test_sample_moments(kernel, rng):
    x = rng.normal(size=(50, 2)) * [1.0, 2.0]
    h = 0.5
    kde = KernelDensity(bandwidth=h, kernel=kernel).fit(x)
    s = kde.sample(200000, random_state=0)
    np.testing.assert_allclose(s.mean(0), x.mean(0), atol=0.03)
    # per-coordinate variance added by the kernel, by independent quadrature of K(r) r^{d+1}
    r = np.linspace(0, 60, 600001)
    prof = {"gaussian": np.exp(-r**2 / 2), "exponential": np.exp(-r), "tophat": (r < 1) * 1.0,
            "epanechnikov": np.clip(1 - r**2, 0, None), "linear": np.clip(1 - r, 0, None),
            "cosine": np.where(r < 1, np.cos(np.pi * r / 2), 0.0)}[kernel]
    added = np.trapezoid(prof * r**3, r) / np.trapezoid(prof * r, r) / 2
    assert second_moment(kernel, 2) == pytest.approx(added, rel=1e-3)
    want = np.cov(x.T, bias=True) + h**2 * added * np.eye(2)
    np.testing.assert_allclose(np.cov(s.T, bias=True), want, rtol=0.03, atol=0.01)


@pytest.mark.parametrize("d, kernel, tol", [(1, "gaussian", 2e-5), (1, "epanechnikov", 2e-4), (2, "gaussian", 6e-3),
                                            (2, "exponential", 6e-3), (3, "gaussian", 0.2)])
def test_grid_algorithm_accuracy_and_convergence(d, kernel, tol, rng):
    """Binning + interpolation error is O((Δ/h)²): below the documented tolerance at the default grid size,
    and at least 2x smaller when the grid is twice as fine (about 4x where the kernel is smooth)."""
    from hyperzoo.kde.grid import DEFAULT_SIZE

    x, y = rng.normal(size=(3000, d)), rng.normal(size=(300, d)) * 1.2
    exact = KernelDensity(bandwidth=0.4, kernel=kernel).fit(x).score_samples(y)
    f = exact > -30
    err = []
    for size in (DEFAULT_SIZE[d] // 2, DEFAULT_SIZE[d]):
        grid = KernelDensity(bandwidth=0.4, kernel=kernel, algorithm="grid", grid_size=size).fit(x).score_samples(y)
        err.append(np.abs(grid[f] - exact[f]).max())
    assert err[1] < tol
    assert err[1] < err[0] / 2


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_grid_linear_binning_keeps_mass_and_mean(d, weighted, rng):
    """Linear binning spreads each weight over its cell's corners: total mass and first moments are exact."""
    from hyperzoo.kde.grid import Grid

    x, w = rng.normal(size=(2000, d)), rng.random(2000)
    grid = Grid(torch.tensor(x), torch.tensor(w) if weighted else None, 0.3, "gaussian", size=64)
    counts = grid._bin(torch.tensor(x), torch.tensor(w) if weighted else None).reshape([64] * d).numpy()
    nodes = [grid.lo[k].item() + grid.step[k].item() * np.arange(64) for k in range(d)]
    mesh = np.meshgrid(*nodes, indexing="ij")
    ww = w if weighted else np.ones(2000)
    assert counts.min() >= 0
    assert counts.sum() == pytest.approx(ww.sum(), rel=1e-12)
    for k in range(d):
        assert (counts * mesh[k]).sum() == pytest.approx((ww * x[:, k]).sum(), rel=1e-9, abs=1e-9)
    # and the weighted grid estimate tracks the weighted exact one
    y = rng.normal(size=(200, d))
    exact = KernelDensity(bandwidth=0.3).fit(x, sample_weight=ww).score_samples(y)
    got = KernelDensity(bandwidth=0.3, algorithm="grid").fit(x, sample_weight=ww).score_samples(y)
    np.testing.assert_allclose(got, exact, atol=6e-3 if d == 2 else 2e-5)   # the documented grid tolerances


def test_grid_queries_outside_the_grid_are_exact(rng):
    x = rng.normal(size=(500, 2))
    far = np.array([[30.0, 0.0], [0.0, -40.0]])
    exact = KernelDensity(bandwidth=0.5).fit(x).score_samples(far)
    assert np.allclose(KernelDensity(bandwidth=0.5, algorithm="grid").fit(x).score_samples(far), exact, atol=1e-9)


@pytest.mark.parametrize("kernel", ["gaussian", "exponential", "epanechnikov", "tophat"])
@pytest.mark.parametrize("rtol", [0.0, 1e-8, 1e-3, 0.1])
def test_tree_relative_error_bound(kernel, rtol, rng):
    x = np.concatenate([rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2)) * 0.3 + 4])
    y = rng.normal(size=(400, 2)) * 2
    exact = KernelDensity(bandwidth=0.3, kernel=kernel).fit(x).score_samples(y)
    tree = KernelDensity(bandwidth=0.3, kernel=kernel, algorithm="tree", rtol=rtol, leaf_size=64).fit(x)
    approx = tree.score_samples(y)
    f = np.isfinite(exact)
    assert np.array_equal(np.isfinite(approx), f)
    rel = 1 - np.exp(approx[f] - exact[f])           # one-sided: the tree never overestimates
    assert rel.min() > -1e-12 and rel.max() <= rtol + 1e-12


def test_tree_prunes_when_it_can(rng):
    """With rtol > 0 and a small bandwidth, most leaves are skipped (the point of the algorithm)."""
    from hyperzoo.kde.tree import Tree

    x = torch.tensor(rng.normal(size=(20000, 2)))
    t = Tree(x, None, leaf_size=64)
    seen = []
    def exact(y, data, h, kernel, weights):
        return seen.append(len(data)) or torch.zeros(len(y), dtype=y.dtype)
    t.log_kernel_sum(torch.tensor(rng.normal(size=(8192, 2))), 0.05, "gaussian", 1e-6, exact)
    assert np.mean(seen) < 0.35 * len(x)


def test_tree_selects_leaf_rows_without_per_leaf_host_reads(rng, monkeypatch):
    """Leaf statistics and the rows of kept leaves are computed in bulk: building the tree and answering a block
    read no leaf bound with int() (before: one int() pair per kept leaf per block, and per-leaf stacks), and the
    selected rows are exactly those of the kept leaves."""
    from hyperzoo.kde.tree import Tree

    x = torch.tensor(rng.normal(size=(3000, 2)))
    reads = []
    original = torch.Tensor.__int__
    monkeypatch.setattr(torch.Tensor, "__int__", lambda self: reads.append(1) or original(self))
    t = Tree(x, None, leaf_size=16)
    rows_seen = []
    def exact(y, data, h, kernel, weights):
        rows_seen.append(data)
        return torch.zeros(len(y), dtype=y.dtype)
    t.log_kernel_sum(torch.tensor(rng.normal(size=(100, 2)) * 0.05 + 0.5), 0.05, "gaussian", 1e-6, exact)
    assert len(reads) <= 2 * len(rows_seen) + 2          # at most the pruning cut per block
    monkeypatch.setattr(torch.Tensor, "__int__", original)
    for i, (a, b) in enumerate(t.bounds.tolist()):
        np.testing.assert_allclose(t.centres[i].numpy(), t.data[a:b].mean(0).numpy(), rtol=1e-12, atol=1e-12)
        assert float(t.radii[i]) == pytest.approx(float((t.data[a:b] - t.centres[i]).norm(dim=1).max()), rel=1e-12)
    assert any(len(r) < len(x) for r in rows_seen)
    for r in rows_seen:         # each selection is a union of whole leaves, in the tree's order
        idx = (t.data[None, :, :] == r[:, None, :]).all(-1).float().argmax(1)        # row of t.data for each
        assert torch.equal(t.data[idx], r) and bool((idx[1:] > idx[:-1]).all())
        leaves = torch.unique(t.leaf_of[idx])
        assert int(torch.isin(t.leaf_of, leaves).sum()) == len(r)


def test_state_dict_round_trip_without_pickle(tmp_path, rng):
    x = rng.normal(size=(300, 3))
    kde = KernelDensity(bandwidth="silverman", kernel="epanechnikov", algorithm="tree")
    kde.fit(x, sample_weight=rng.random(300))
    torch.save(kde.state_dict(), tmp_path / "kde.pt")
    state = torch.load(tmp_path / "kde.pt", weights_only=True)
    again = KernelDensity().load_state_dict(state)
    y = rng.normal(size=(20, 3))
    np.testing.assert_array_equal(again.score_samples(y), kde.score_samples(y))
    assert again.get_params() == kde.get_params()


@pytest.mark.parametrize("make, match", [
    (lambda: KernelDensity().fit(np.array([[0.0, np.nan]])), "NaN"),
    (lambda: KernelDensity().fit(np.array([[0.0, np.inf]])), "infinity"),
    (lambda: KernelDensity().fit(np.zeros((5, 3))).score_samples(np.zeros((2, 2))), "3 features"),
    (lambda: KernelDensity(bandwidth=0.0).fit(np.zeros((5, 3))), "bandwidth must be a finite number > 0"),
    (lambda: KernelDensity(bandwidth=-2.0).fit(np.zeros((5, 3))), "bandwidth must be a finite number > 0"),
    (lambda: KernelDensity(bandwidth="wide").fit(np.zeros((5, 3))), "scott, silverman, kl-optimal"),
    (lambda: KernelDensity(kernel="box").fit(np.zeros((5, 3))), "unknown kernel 'box'"),
    (lambda: KernelDensity(algorithm="fast").fit(np.zeros((5, 3))), "algorithm must be one of"),
    (lambda: KernelDensity(algorithm="grid").fit(np.zeros((5, 4))), "supports d <= 3"),
    (lambda: KernelDensity().fit(np.zeros((5, 2)), sample_weight=np.zeros(5)), "non-zero"),
])
def test_bad_input_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(KernelDensity(), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert len(results) > 40
