"""Functional Poincaré-ball ops: float64 parity with geoopt, mpmath at the boundary, gyro-identities, errors."""

import math

import geoopt.manifolds.stereographic.math as gm
import mpmath
import pytest
import torch
from hyperbolic_helpers import ball_points

import hyperzoo.hyperbolic as H

C = 0.7
K = torch.tensor(-C, dtype=torch.float64)


def rel(a, b):
    return float(((a - b).abs() / (b.abs() + 1e-12)).max())


def _data():
    x, y = ball_points(64, 5, scale=0.6, seed=1, c=C), ball_points(64, 5, scale=0.8, seed=2, c=C)
    u = torch.randn(64, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    return x, y, u


PAIRS = {
    "mobius_add": (lambda x, y, u: H.mobius_add(x, y, c=C), lambda x, y, u: gm.mobius_add(x, y, k=K)),
    "mobius_sub": (lambda x, y, u: H.mobius_sub(x, y, c=C), lambda x, y, u: gm.mobius_sub(x, y, k=K)),
    "dist": (lambda x, y, u: H.dist(x, y, c=C), lambda x, y, u: gm.dist(x, y, k=K)),
    "dist0": (lambda x, y, u: H.dist0(x, c=C), lambda x, y, u: gm.dist0(x, k=K)),
    "expmap0": (lambda x, y, u: H.expmap0(u, c=C), lambda x, y, u: gm.expmap0(u, k=K)),
    "logmap0": (lambda x, y, u: H.logmap0(x, c=C), lambda x, y, u: gm.logmap0(x, k=K)),
    "expmap": (lambda x, y, u: H.expmap(x, u, c=C), lambda x, y, u: gm.expmap(x, u, k=K)),
    "logmap": (lambda x, y, u: H.logmap(x, y, c=C), lambda x, y, u: gm.logmap(x, y, k=K)),
    "mobius_scalar_mul": (lambda x, y, u: H.mobius_scalar_mul(1.7, x, c=C),
                          lambda x, y, u: gm.mobius_scalar_mul(torch.tensor(1.7, dtype=torch.float64), x, k=K)),
    "mobius_matvec": (lambda x, y, u: H.mobius_matvec(u[:4], x, c=C), lambda x, y, u: gm.mobius_matvec(u[:4], x, k=K)),
    "gyration": (lambda x, y, u: H.gyration(x, y, u, c=C), lambda x, y, u: gm.gyration(x, y, u, k=K)),
    "parallel_transport": (lambda x, y, u: H.parallel_transport(x, y, u, c=C),
                           lambda x, y, u: gm.parallel_transport(x, y, u, k=K)),
    "parallel_transport0": (lambda x, y, u: H.parallel_transport0(y, u, c=C),
                            lambda x, y, u: gm.parallel_transport0(y, u, k=K)),
    "lambda_x": (lambda x, y, u: H.lambda_x(x, c=C), lambda x, y, u: gm.lambda_x(x, k=K)),
    "midpoint": (lambda x, y, u: H.midpoint(x, c=C), lambda x, y, u: gm.weighted_midpoint(x, k=K, reducedim=[0])),
    "weighted_midpoint": (lambda x, y, u: H.midpoint(x, u[:, 0].abs(), c=C),
                          lambda x, y, u: gm.weighted_midpoint(x, u[:, 0].abs(), k=K, reducedim=[0])),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_float64_parity_with_geoopt(name):
    ours, theirs = PAIRS[name]
    x, y, u = _data()
    assert rel(ours(x, y, u), theirs(x, y, u)) < 1e-9


def _mp_norm(row):
    return mpmath.sqrt(mpmath.fsum(mpmath.mpf(float(v)) ** 2 for v in row))


def _boundary_points(dtype, radii, d=5, seed=0):
    """Stored points of the given radii (random directions), kept only where the stored point is inside."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for r in radii:
        for _ in range(3):
            v = torch.randn(d, generator=g, dtype=torch.float64)
            p = (v / v.norm() * r).to(dtype)
            if float((p.double() ** 2).sum()) < 1:
                rows.append(p)
        axis = torch.zeros(d, dtype=dtype)
        axis[0] = r
        rows.append(axis)
    return torch.stack(rows)


FLOAT32_RADII = [0.5, 0.9, 1 - 1e-3, 1 - 1e-5, 1 - 1e-6, 1 - 1e-7, float(1 - 2.0 ** -24)]


@pytest.mark.parametrize("dtype,radii", [(torch.float32, FLOAT32_RADII), (torch.float64, [1 - 1e-7, 1 - 1e-8])])
def test_boundary_against_mpmath(dtype, radii):
    """Goal of the issue: finite, inside, within 1e-3 relative of mpmath on the same stored input (we get ~1e-6)."""
    mpmath.mp.dps = 60
    x = _boundary_points(dtype, radii)
    assert float(torch.finfo(torch.float32).eps) and x.shape[0] >= len(radii)
    y = torch.roll(x, 1, 0) * 0.5
    d0, lg, dd = H.dist0(x), H.logmap0(x), H.dist(x, y)
    tol = 1e-6 if dtype == torch.float32 else 1e-9
    for i in range(x.shape[0]):
        n = _mp_norm(x[i])
        want = 2 * mpmath.atanh(n)
        assert abs(float(d0[i]) - float(want)) <= tol * float(want)
        for j in range(x.shape[1]):
            wl = mpmath.atanh(n) / n * mpmath.mpf(float(x[i, j]))
            assert abs(float(lg[i, j]) - float(wl)) <= tol * abs(float(wl)) + 1e-30
        diff = mpmath.fsum((mpmath.mpf(float(a)) - mpmath.mpf(float(b))) ** 2 for a, b in zip(x[i], y[i]))
        ny = _mp_norm(y[i])
        wd = mpmath.acosh(1 + 2 * diff / ((1 - n * n) * (1 - ny * ny)))
        assert abs(float(dd[i]) - float(wd)) <= tol * float(wd)
    for out in (H.mobius_add(x, y), H.mobius_add(x, x), H.expmap0(torch.randn_like(x) * 50), H.expmap(x, y),
                H.mobius_scalar_mul(3.0, x), H.project(x * 2)):
        assert torch.isfinite(out).all()
        assert float((out.double() ** 2).sum(-1).max()) < 1.0


def test_geoopt_clamps_at_the_boundary_and_we_do_not():
    """The issue's numbers: float32 dist0 at the largest float32 below 1 (exact 16.6355 for d=1; geoopt's clamp
    gives 16.118 there), and geoopt float64 at 1 − 1e-10 (clamped to artanh(1 − 1e-7))."""
    x = torch.tensor([[float(1 - 2.0 ** -24)]], dtype=torch.float32)
    exact = float(2 * mpmath.atanh(mpmath.mpf(float(x))))
    ours = float(H.dist0(x))
    theirs = float(gm.dist0(x, k=torch.tensor(-1.0)))
    assert abs(ours - exact) < 1e-5 * exact
    assert abs(theirs - exact) > 1e-2 * exact
    x64 = torch.tensor([[1 - 1e-10]], dtype=torch.float64)
    exact64 = float(2 * mpmath.atanh(mpmath.mpf(1 - 1e-10)))
    assert abs(float(H.dist0(x64)) - exact64) < 1e-9 * exact64
    assert abs(float(gm.dist0(x64, k=torch.tensor(-1.0, dtype=torch.float64))) - exact64) > 1e-2 * exact64


def test_gyro_identities(points):
    x, y = points(40, 4, seed=5, c=C), points(40, 4, seed=6, c=C)
    z = points(40, 4, seed=7, c=C)
    torch.testing.assert_close(H.mobius_add(-x, H.mobius_add(x, y, c=C), c=C), y, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H.expmap(x, H.logmap(x, y, c=C), c=C), y, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H.expmap0(H.logmap0(y, c=C), c=C), y, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(H.dist(x, y, c=C), H.dist(y, x, c=C), rtol=1e-12, atol=0)
    assert bool((H.dist(x, z, c=C) <= H.dist(x, y, c=C) + H.dist(y, z, c=C) + 1e-12).all())
    # gyration: x ⊕ y = gyr[x, y](y ⊕ x); distance is Möbius-gyroinvariant
    torch.testing.assert_close(H.mobius_add(x, y, c=C), H.gyration(x, y, H.mobius_add(y, x, c=C), c=C),
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H.dist(H.mobius_add(z, x, c=C), H.mobius_add(z, y, c=C), c=C), H.dist(x, y, c=C),
                               rtol=1e-9, atol=1e-12)
    # parallel transport preserves the Riemannian norm λ_x‖v‖
    v = torch.randn(40, 4, dtype=torch.float64)
    pv = H.parallel_transport(x, y, v, c=C)
    torch.testing.assert_close(H.lambda_x(y, c=C) * pv.norm(dim=-1), H.lambda_x(x, c=C) * v.norm(dim=-1),
                               rtol=1e-10, atol=0)
    # scalar multiplication scales distances from the origin; 2 ⊗ x = x ⊕ x
    torch.testing.assert_close(H.dist0(H.mobius_scalar_mul(0.3, x, c=C), c=C), 0.3 * H.dist0(x, c=C), rtol=1e-10,
                               atol=0)
    torch.testing.assert_close(H.mobius_scalar_mul(2.0, x, c=C), H.mobius_add(x, x, c=C), rtol=1e-10, atol=1e-12)


def test_midpoint_properties(points):
    x = points(30, 3, seed=8, c=C)
    w = torch.rand(30, dtype=torch.float64)
    m = H.midpoint(x, w, c=C)
    perm = torch.randperm(30)
    torch.testing.assert_close(H.midpoint(x[perm], w[perm], c=C), m, rtol=1e-12, atol=1e-14)
    # Einstein midpoint in the Klein model, mapped back
    k = 2 * x / (1 + C * (x * x).sum(-1, keepdim=True))
    gamma = 1 / torch.sqrt(1 - C * (k * k).sum(-1, keepdim=True))
    mk = (w[:, None] * gamma * k).sum(0) / (w[:, None] * gamma).sum(0)
    back = mk / (1 + torch.sqrt(1 - C * (mk * mk).sum()))
    torch.testing.assert_close(m, back, rtol=1e-10, atol=1e-12)
    assert float(C * (m * m).sum()) < 1
    # midpoint of a point and itself is the point; of two points lies on the geodesic between them
    torch.testing.assert_close(H.midpoint(x[:1].expand(5, 3), c=C), x[0], rtol=1e-12, atol=1e-14)
    two = H.midpoint(x[:2], c=C)
    torch.testing.assert_close(H.dist(x[0], two, c=C) + H.dist(two, x[1], c=C), H.dist(x[0], x[1], c=C), rtol=1e-9,
                               atol=0)
    # extreme float32 inputs stay inside
    far = _boundary_points(torch.float32, [1 - 1e-7, float(1 - 2.0 ** -24)])
    mf = H.midpoint(far)
    assert torch.isfinite(mf).all() and float((mf.double() ** 2).sum()) < 1


def test_frechet_mean_minimises_the_sum_of_squared_distances(points):
    x = points(25, 3, seed=9)
    mu = H.frechet_mean(x, iters=200)
    def f(m):
        return float((H.dist(m.expand_as(x), x) ** 2).sum())
    best = f(mu)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        assert f(H.expmap(mu, torch.randn(3, generator=g, dtype=torch.float64) * 1e-3)) >= best - 1e-12
    assert f(H.midpoint(x)) >= best


def test_beta_concat_split_roundtrip(points):
    a, b = points(10, 3, seed=1), points(10, 5, seed=2)
    cat = H.beta_concat([a, b])
    assert cat.shape == (10, 8)
    back = H.beta_split(cat, [3, 5])
    torch.testing.assert_close(back[0], a, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(back[1], b, rtol=1e-12, atol=1e-14)
    assert H.beta_ratio(8, 3) == pytest.approx(math.exp(math.lgamma(4) - math.lgamma(4.5) - math.lgamma(1.5)
                                                        + math.lgamma(2)))


def test_lorentz_counterparts_agree_with_the_ball(points):
    x, y = points(30, 4, seed=3, c=C), points(30, 4, seed=4, c=C)
    lx, ly = H.poincare_to_lorentz(x, c=C), H.poincare_to_lorentz(y, c=C)
    H.lorentz_check(lx, c=C)
    torch.testing.assert_close(H.lorentz_dist(lx, ly, c=C), H.dist(x, y, c=C), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H.lorentz_to_poincare(lx, c=C), x, rtol=1e-12, atol=1e-14)
    u = torch.randn(30, 4, dtype=torch.float64)
    # the ball's metric at 0 is 4× Euclidean: exp₀ᴮ(u) ↔ exp₀ᴸ(2u)
    torch.testing.assert_close(H.lorentz_to_poincare(H.lorentz_expmap0(2 * u, c=C), c=C), H.expmap0(u, c=C),
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H.lorentz_logmap0(H.lorentz_expmap0(u, c=C), c=C), u, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H.lorentz_expmap(lx, H.lorentz_logmap(lx, ly, c=C), c=C), ly, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(H.lorentz_project(lx + torch.tensor([5.0, 0, 0, 0, 0], dtype=torch.float64), c=C),
                               lx, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="hyperboloid"):
        H.lorentz_check(lx * 1.1, c=C)


def test_curvature_follows_the_input_dtype_and_can_be_learned(points):
    x = points(8, 3, dtype=torch.float32, seed=1)
    assert H.dist0(x, c=torch.tensor(0.5, dtype=torch.float64)).dtype == torch.float32
    raw = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    xd = points(8, 3, seed=2)
    d = H.dist(xd, xd.flip(0), c=torch.nn.functional.softplus(raw))
    d.sum().backward()
    assert raw.grad is not None and torch.isfinite(raw.grad)


def test_bad_input_errors(points):
    x = points(4, 3)
    with pytest.raises(H.BallError, match="outside the Poincaré ball.*project"):
        H.dist0(x * 10)
    with pytest.raises(H.BallError, match="outside"):
        H.mobius_add(x, torch.full_like(x, float("nan")))
    with pytest.raises(ValueError, match="curvature c must be finite and > 0"):
        H.expmap0(x, c=0.0)
    with pytest.raises(ValueError, match="curvature"):
        H.dist(x, x, c=torch.tensor(-1.0))
    with pytest.raises(TypeError, match="floating-point"):
        H.expmap0(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="m must be"):
        H.mobius_matvec(torch.randn(2, 5, dtype=torch.float64), x)
    with pytest.raises(ValueError, match="sizes"):
        H.beta_split(x, [1, 1])
    with pytest.raises(ValueError, match="weights must be >= 0"):
        H.midpoint(x, -torch.ones(4, dtype=torch.float64))
    with pytest.raises(H.BallError):
        H.project(torch.full((2, 2), float("nan")))
    inside = H.project(x * 10)
    assert float((inside ** 2).sum(-1).max()) < 1
