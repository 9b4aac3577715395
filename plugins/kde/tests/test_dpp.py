"""Projection DPP / volume sampling: exact subset law, marginals, the (m + 1) identity, weighted least squares."""

import itertools
from collections import Counter

import numpy as np
import pytest

from hyperzoo.kde import dpp


@pytest.fixture
def small(rng):
    n, m = 7, 3
    mu = rng.random(n)
    mu /= mu.sum()
    phi = dpp.orthonormal_basis(rng.standard_normal((n, m)), mu)
    b = np.sqrt(mu)[:, None] * phi
    return phi, mu, b @ b.T


def test_orthonormal_in_l2_mu(small):
    phi, mu, _ = small
    np.testing.assert_allclose(phi.T @ (mu[:, None] * phi), np.eye(3), atol=1e-12)


def test_subset_law_is_det_of_the_kernel(small, rng):
    """P(S) = det(K_S) over all 35 subsets, by a chi-square test on 6,000 draws."""
    from scipy.stats import chisquare

    phi, mu, K = small
    draws = Counter(tuple(sorted(dpp.projection_dpp(phi, mu, rng))) for _ in range(6000))
    subsets = list(itertools.combinations(range(7), 3))
    p = np.array([np.linalg.det(K[np.ix_(s, s)]) for s in subsets])
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert sum(draws.values()) == 6000 and all(len(set(s)) == 3 for s in draws)
    observed = np.array([draws[s] for s in subsets])
    keep = p * 6000 > 5
    expected = p[keep] * 6000
    assert chisquare(observed[keep], expected * observed[keep].sum() / expected.sum()).pvalue > 1e-3


def test_marginal_inclusion_probabilities(rng):
    """P(x ∈ S) = K_xx = m ρ(x), by Monte Carlo within 5 binomial standard errors."""
    x = np.linspace(-1, 1, 40)
    phi = dpp.orthonormal_basis(np.polynomial.legendre.legvander(x, 4))
    trials = 4000
    hits = np.zeros(40)
    for _ in range(trials):
        s = dpp.projection_dpp(phi, None, rng)
        assert len(s) == 5 and len(set(s)) == 5
        hits[s] += 1
    p = 5 * dpp.optimal_density(phi)
    se = np.sqrt(p * (1 - p) / trials)
    assert np.all(np.abs(hits / trials - p) < 5 * se + 1e-3)


def test_volume_sampling_size_and_marginals(rng):
    x = np.linspace(-1, 1, 30)
    phi = dpp.orthonormal_basis(np.polynomial.legendre.legvander(x, 2))
    trials, n = 3000, 7
    counts = np.zeros(30)
    for _ in range(trials):
        s = dpp.volume_sampling(phi, n, None, rng)
        assert len(s) == n
        np.add.at(counts, s, 1)
    rho = dpp.optimal_density(phi)
    expected = 3 * rho + (n - 3) * rho                      # DPP marginals plus the i.i.d. part
    np.testing.assert_allclose(counts / trials, expected, atol=0.05)
    with pytest.raises(ValueError, match="n >= m"):
        dpp.volume_sampling(phi, 2, None, rng)


def test_expected_error_is_m_plus_one_times_the_best_at_n_equals_m(small, rng):
    """Volume sampling identity E‖f − f̂‖²_μ = (m + 1)‖f − P f‖²_μ at n = m: exact by enumeration."""
    phi, mu, K = small
    f = rng.standard_normal(7)
    best = np.sum(mu * (f - phi @ (phi.T @ (mu * f))) ** 2)
    expected = 0.0
    for s in itertools.combinations(range(7), 3):
        c = np.linalg.solve(phi[list(s)], f[list(s)])
        expected += np.linalg.det(K[np.ix_(s, s)]) * np.sum(mu * (f - phi @ c) ** 2)
    assert expected == pytest.approx(4 * best, rel=1e-9)


def test_weighted_least_squares_reproduces_the_space(rng):
    x = np.linspace(-1, 1, 500)
    phi = dpp.orthonormal_basis(np.polynomial.legendre.legvander(x, 5))
    f = phi @ rng.standard_normal(6)
    s = dpp.projection_dpp(phi, None, rng)
    w = 6 / (phi**2).sum(1)
    np.testing.assert_allclose(phi @ dpp.weighted_least_squares(phi[s], f[s], w[s]), f, atol=1e-9)


def test_experiment_volume_beats_iid_at_small_n():
    rows = dpp.least_squares_experiment(8, ns=[8, 32], repeats=60, grid=800, seed=1)
    med = {(r["n"], r["sampler"]): r["median_ratio"] for r in rows}
    assert med[(8, "volume")] < med[(8, "iid-optimal")] / 3
    assert med[(32, "volume")] < 2.0 and med[(32, "iid-optimal")] < 2.5
