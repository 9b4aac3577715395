"""SVGD against its closed form on a Gaussian, hypervolume against a brute-force union of boxes, IGD."""

import itertools
import math

import numpy as np
import pytest
import torch

from hyperzoo.hypernets.pareto import hypervolume_2d, igd, rbf_kernel, svgd_direction


def test_svgd_direction_equals_the_closed_form_on_a_gaussian():
    # p = N(μ, σ² I): ∇ log p(x) = −(x − μ)/σ²; φ(x_i) = (1/n) Σ_j k_ij [−(x_j − μ)/σ² − (2/h)(x_j − x_i)]
    mu, s2, h = torch.tensor([0.5, -1.0], dtype=torch.float64), 2.0, 1.3
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-1.5, 0.5]], dtype=torch.float64)
    got = svgd_direction(x, -(x - mu) / s2, bandwidth=h)
    want = torch.zeros_like(x)
    for i, j in itertools.product(range(3), range(3)):
        kij = math.exp(-float(((x[i] - x[j]) ** 2).sum()) / h)
        want[i] += kij * (-(x[j] - mu) / s2 - (2 / h) * (x[j] - x[i])) / 3
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_svgd_matches_autograd_repulsion_and_fits_a_gaussian():
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    k, h = rbf_kernel(x.detach(), 0.9)
    kk = torch.exp(-torch.cdist(x, x).square() / 0.9)
    rep = torch.stack([torch.autograd.grad(kk[:, i].sum(), x, retain_graph=True)[0].sum(0) for i in range(6)])
    # Σ_j ∇_{x_j} k(x_j, x_i) via autograd of Σ_j k(x_j, x_i) w.r.t. every x_j, minus the x_i term's own gradient
    own = torch.stack([torch.autograd.grad(kk[:, i].sum(), x, retain_graph=True)[0][i] for i in range(6)])
    torch.testing.assert_close(svgd_direction(x.detach(), torch.zeros_like(x), 0.9) * 6, rep - own)
    # 200 particles of a standard normal's SVGD flow end near mean (1, −2) and unit variance
    g = torch.Generator().manual_seed(0)
    p = torch.randn(200, 2, generator=g, dtype=torch.float64) * 0.3
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64)
    for _ in range(500):
        p = p + 0.2 * svgd_direction(p, -(p - mu))
    assert float((p.mean(0) - mu).abs().max()) < 0.05
    assert float((p.var(0) - 1).abs().max()) < 0.25


def _brute_hv(points, ref):
    xs = sorted({float(v) for v in points[:, 0]} | {ref[0]})
    ys = sorted({float(v) for v in points[:, 1]} | {ref[1]})
    area = 0.0
    for (x0, x1), (y0, y1) in itertools.product(zip(xs, xs[1:]), zip(ys, ys[1:])):
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if any(px <= cx and py <= cy for px, py in points.tolist()):
            area += (x1 - x0) * (y1 - y0)
    return area


@pytest.mark.parametrize("seed", range(4))
def test_hypervolume_equals_the_brute_force_union_of_boxes(seed):
    rng = np.random.default_rng(seed)
    pts = torch.from_numpy(rng.random((12, 2)))
    assert hypervolume_2d(pts, (1.1, 1.1)) == pytest.approx(_brute_hv(pts[(pts < 1.1).all(-1)], (1.1, 1.1)), abs=1e-12)
    assert hypervolume_2d(torch.tensor([[2.0, 0.0]]), (1.0, 1.0)) == 0.0          # outside the reference box
    assert hypervolume_2d(torch.tensor([[0.0, 0.0]]), (1.0, 2.0)) == pytest.approx(2.0)


def test_igd_and_bad_input():
    front = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert igd(front, front) == 0.0
    assert igd(torch.tensor([[0.0, 0.0]]), front) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="points \\(n, 2\\) and a reference point"):
        hypervolume_2d(torch.zeros(3, 3), (1.0, 1.0))
    with pytest.raises(ValueError, match="grad_logp has shape"):
        svgd_direction(torch.zeros(3, 2), torch.zeros(3, 3))
