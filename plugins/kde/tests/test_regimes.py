"""High-dimensional regimes (arXiv 2408.05807): thresholds against an independent large-deviation computation
by quadrature, and against simulation of the estimator itself."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize

from hyperzoo.kde import regimes


def _numeric_h_gauss(alpha: float, sigma: float) -> float:
    """h_G from the definitions alone: Λ(λ) = log E exp(λ(x − y)²), y ~ N(0, σ²), x = σ (only Σx_k² matters);
    r_min solves I(r) = α with I the Legendre transform of Λ; then λ_G = I'(r_min) and h_G = (−2λ_G)^(−½)."""
    def cgf(lam):
        def f(y):
            return math.exp(lam * (sigma - y) ** 2 - y * y / (2 * sigma**2)) / math.sqrt(2 * math.pi * sigma**2)
        return math.log(integrate.quad(f, -40 * sigma, 40 * sigma, limit=400, epsabs=0, epsrel=1e-13)[0])

    def legendre(r):
        res = optimize.minimize_scalar(lambda lam: -(lam * r - cgf(lam)), bounds=(-200.0, 0.0), method="bounded",
                                       options={"xatol": 1e-12})
        return -res.fun, res.x

    r_min = optimize.brentq(lambda r: legendre(r)[0] - alpha, 1e-3 * sigma**2, 2 * sigma**2 - 1e-9, xtol=1e-13)
    lam_g = legendre(r_min)[1]
    return 1.0 / math.sqrt(-2.0 * lam_g)


@pytest.mark.parametrize("alpha, sigma", [(0.25, 1.0), (0.1, 2.0), (0.6, 0.5)])
def test_h_gauss_matches_independent_large_deviation_computation(alpha, sigma):
    assert regimes.h_gauss(alpha, sigma) == pytest.approx(_numeric_h_gauss(alpha, sigma), rel=1e-4)


def test_values_quoted_in_the_issue():
    """The derivation quoted in issue 5 (α = 0.25, σ = 1): h_G ≈ 0.947, h_CLT ≈ 1.339, h_KL ≈ 0.834."""
    assert regimes.h_gauss(0.25) == pytest.approx(0.947, abs=5e-4)
    assert regimes.h_clt(0.25) == pytest.approx(1.339, abs=5e-4)
    assert regimes.h_kl(0.25) == pytest.approx(0.834, abs=5e-4)


def test_kl_theory_is_continuous_and_minimised_in_the_condensed_regime():
    hg = regimes.h_gauss(0.3)
    lo, hi = regimes.kl_per_dim([hg * (1 - 1e-9), hg * (1 + 1e-9)], 0.3)
    assert lo == pytest.approx(hi, abs=1e-7)
    hs = np.linspace(0.3, 3, 200001)
    assert hs[np.argmin(regimes.kl_per_dim(hs, 0.3))] == pytest.approx(regimes.h_kl(0.3), abs=2e-5)
    assert regimes.h_kl(0.3) < hg < regimes.h_clt(0.3)


@pytest.fixture(scope="module")
def simulation():
    return regimes.simulate_regimes(0.25, (16, 32), [0.5, 0.7, 1.0, 1.3, 2.0], n_queries=1024, seed=3)


def _row(rows, d, ratio):
    return next(r for r in rows if r["d"] == d and r["h_ratio"] == ratio)


def test_simulation_matches_theory_above_h_gauss(simulation):
    """Above h_G (annealed regime) the simulated KL per dimension equals the d → ∞ theory at d = 32."""
    r = _row(simulation, 32, 2.0)
    assert abs(r["kl_per_dim"] - r["kl_per_dim_theory"]) < 4 * r["kl_per_dim_se"] + 2e-3


def test_simulation_condenses_below_h_gauss(simulation):
    """Participation ratio Y₂ = Σ K²/(Σ K)²: O(1) well below h_G, vanishing above and more so as d grows."""
    assert _row(simulation, 32, 0.5)["participation"] > 0.6
    assert _row(simulation, 32, 2.0)["participation"] < 0.01
    assert _row(simulation, 32, 2.0)["participation"] < _row(simulation, 16, 2.0)["participation"]
    assert _row(simulation, 32, 1.3)["participation"] < _row(simulation, 16, 1.3)["participation"]


def test_finite_d_gap_shrinks_towards_theory_below_h_gauss(simulation):
    """Below h_G the finite-d KL exceeds the limit by O(1/d) and the gap closes as d grows."""
    gaps = [_row(simulation, d, 0.7)["kl_per_dim"] - _row(simulation, d, 0.7)["kl_per_dim_theory"] for d in (16, 32)]
    assert gaps[0] > gaps[1] > 0


def test_empirical_kl_optimum_sits_near_h_gauss_at_finite_d(simulation):
    rows = [r for r in simulation if r["d"] == 32]
    best = min(rows, key=lambda r: r["kl_per_dim"])["h_ratio"]
    assert 0.7 <= best <= 1.3
    assert regimes.h_kl(0.25) / regimes.h_gauss(0.25) < 0.9


def test_bad_arguments():
    with pytest.raises(ValueError, match="alpha"):
        regimes.h_gauss(0.0)
    with pytest.raises(ValueError, match="sigma"):
        regimes.h_gauss(0.25, -1.0)
    with pytest.raises(ValueError, match="max_points"):
        regimes.simulate_regimes(0.25, (200,), [1.0])
