"""kde.kernel_sum: reference vs a float64 brute force, every backend vs the reference, input errors."""

import math

import numpy as np
import pytest
import torch

from hyperzoo import core
from hyperzoo.core import testing
from hyperzoo.kde.kernels import KERNELS

OP = "kde.kernel_sum"


@pytest.mark.parametrize("kernel", KERNELS)
def test_reference_equals_brute_force(kernel, rng, brute):
    x, y, w = rng.normal(size=(300, 3)), rng.normal(size=(40, 3)) * 1.5, rng.random(300)
    got = core.get_operator(OP).reference(torch.tensor(y), torch.tensor(x), 0.8, kernel=kernel, weights=torch.tensor(w))
    want = brute(y, x, 0.8, kernel, w)
    assert np.array_equal(np.isfinite(got.numpy()), np.isfinite(want))
    f = np.isfinite(want)
    np.testing.assert_allclose(got.numpy()[f], want[f], rtol=1e-12, atol=1e-12)


def cases():
    """Parity cases (also loaded by the interpreted Triton check): every kernel, weights, far queries, grads."""
    g = torch.Generator().manual_seed(0)
    out = []
    for i, kernel in enumerate(KERNELS):
        x = torch.randn(45, 3, generator=g)
        y = torch.randn(21, 3, generator=g) * 1.5
        w = torch.rand(45, generator=g) + 0.1 if i % 2 else None
        out.append(((y, x, 0.9), {"kernel": kernel, "weights": w}))
    x = torch.randn(40, 5, generator=g)
    far = torch.cat([torch.randn(6, 5, generator=g), torch.full((3, 5), 6.0)])   # sums underflow without a shift
    out.append(((far, x, 0.3), {"kernel": "gaussian"}))
    out.append(((far.double(), x.double(), 0.05), {"kernel": "gaussian"}))
    out.append(((far, x, 0.01), {"kernel": "exponential"}))
    yq = torch.randn(19, 4, generator=g).requires_grad_()
    out.append(((yq, torch.randn(33, 4, generator=g), 0.7), {"kernel": "gaussian"}))
    return out


def test_blocked_backend_parity(monkeypatch):
    from hyperzoo.kde.ops import kernel_sum_blocked as kb

    monkeypatch.setattr(kb, "QUERY_BLOCK", 8)     # several query and data blocks even on small cases
    monkeypatch.setattr(kb, "DATA_BLOCK", 16)
    report = testing.check_parity(OP, cases(), backends=["blocked"])
    assert report.ran["blocked"] == len(cases()) - 1   # the case with query gradients goes to the reference
    assert "require grad" in report.not_run["blocked"][0]


def test_blocked_backend_large_float32_against_float64():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5000, 16, generator=g, dtype=torch.float64)
    y = torch.randn(700, 16, generator=g, dtype=torch.float64)
    op = core.get_operator(OP)
    exact = op(y, x, 0.6, backend="reference")
    fast64 = op(y, x, 0.6, backend="blocked")
    fast32 = op(y.float(), x.float(), 0.6, backend="blocked")
    assert float((fast64 - exact).abs().max()) < 1e-10
    # documented float32 tolerance: |Δ log p| <= 2e-4 at d = 16 (norm-expansion rounding, scaled by 1/h²)
    assert float((fast32.double() - exact).abs().max()) < 2e-4


def test_triton_parity_interpreted():
    report = testing.check_parity_interpreted(OP, f"{__file__}::cases", backends=["triton"])
    assert report["ran"]["triton"] == len(cases()) - 1   # float64 is not a Triton dtype here
    assert any("dtype torch.float64" in r for r in report["not_run"]["triton"])


def test_dispatch_picks_blocked_on_cpu_and_reference_for_grads():
    op = core.get_operator(OP)
    x = torch.randn(10, 2)
    assert op.select(x, x, 1.0)[0] == "blocked"
    assert op.select(x.clone().requires_grad_(), x, 1.0)[0] == "reference"


def test_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(30, 2, generator=g, dtype=torch.float64)
    y = torch.randn(5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    h = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: core.get_operator(OP)(a, x, b), (y, h))


@pytest.mark.parametrize("bad, match", [
    (dict(y=torch.randn(3, 2), x=torch.randn(4, 3)), "3 features but data have 2|2 features but data have 3"),
    (dict(h=0.0), "bandwidth must be a finite number > 0"),
    (dict(h=-1.0), "bandwidth must be a finite number > 0"),
    (dict(h=math.nan), "bandwidth must be a finite number > 0"),
    (dict(kernel="box"), "unknown kernel 'box'"),
    (dict(y=torch.randn(3)), "must be 2-D"),
    (dict(w=torch.rand(7)), "weights must be a tensor of shape"),
    (dict(w=-torch.rand(4)), "weights must be >= 0"),
])
def test_bad_input(bad, match):
    args = dict(y=torch.randn(3, 2), x=torch.randn(4, 2), h=1.0, kernel="gaussian", w=None)
    args.update(bad)
    for backend in ("reference", "blocked"):
        with pytest.raises(ValueError, match=match):
            core.get_operator(OP)(args["y"], args["x"], args["h"], kernel=args["kernel"], weights=args["w"],
                                  backend=backend)
