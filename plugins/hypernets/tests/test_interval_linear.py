"""hypernets.interval_linear: containment of sampled points (brute force), exactness for point boxes, gradients,
every backend vs the reference (here and under the Triton interpreter), bad input."""

from pathlib import Path

import pytest
import torch

from hyperzoo import core
from hyperzoo.core import testing

OP = "hypernets.interval_linear"
HERE = Path(__file__).resolve()


def _boxes(n=5, k=7, m=4, dtype=torch.float64, bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    xm, xr = torch.randn(n, k, generator=g, dtype=dtype), torch.rand(n, k, generator=g, dtype=dtype) * 0.3
    wm, wr = torch.randn(m, k, generator=g, dtype=dtype), torch.rand(m, k, generator=g, dtype=dtype) * 0.2
    bm, br = (torch.randn(m, generator=g, dtype=dtype), torch.rand(m, generator=g, dtype=dtype) * 0.1) if bias \
        else (None, None)
    return xm, xr, wm, wr, bm, br


def test_every_sampled_point_lies_in_the_output_box():
    xm, xr, wm, wr, bm, br = _boxes()
    ym, yr = core.get_operator(OP)(xm, xr, wm, wr, bm, br)
    g = torch.Generator().manual_seed(1)
    for _ in range(2000):
        u = lambda t: 2 * torch.rand(t.shape, generator=g, dtype=t.dtype) - 1  # noqa: E731
        x, w, b = xm + xr * u(xr), wm + wr * u(wr), bm + br * u(br)
        y = x @ w.T + b
        assert bool(((y >= ym - yr - 1e-12) & (y <= ym + yr + 1e-12)).all())
    # 1-D: x in [0.5, 1.5], w in [-2, -1] -> products in [-3, -0.5]; midpoint-radius gives [-3, 0] (sound)
    ym1, yr1 = core.get_operator(OP)(*(torch.tensor([[v]], dtype=torch.float64) for v in (1.0, 0.5, -1.5, 0.5)))
    assert float(ym1 - yr1) == pytest.approx(-3.0) and float(ym1 + yr1) == pytest.approx(0.0)


def test_point_boxes_are_the_plain_linear_map_and_radius_scales():
    xm, xr, wm, wr, bm, br = _boxes()
    ym, yr = core.get_operator(OP)(xm, torch.zeros_like(xr), wm, torch.zeros_like(wr), bm, torch.zeros_like(br))
    torch.testing.assert_close(ym, torch.nn.functional.linear(xm, wm, bm), rtol=0, atol=1e-12)
    assert float(yr.abs().max()) == 0.0
    # closed form of the width as every box shrinks by s: s (x_r|W_m|ᵀ + |x_m|W_rᵀ + b_r) + s² x_r W_rᵀ -> 0
    lin, quad = xr @ wm.abs().T + xm.abs() @ wr.T + br, xr @ wr.T
    for s in (1.0, 0.5, 1e-3, 0.0):
        _, yrs = core.get_operator(OP)(xm, s * xr, wm, s * wr, bm, s * br)
        torch.testing.assert_close(yrs, s * lin + s * s * quad, rtol=1e-12, atol=1e-12)
    assert float(yrs.abs().max()) == 0.0


def test_gradients_match_finite_differences():
    args = [t.requires_grad_() for t in _boxes(3, 4, 2)]
    assert torch.autograd.gradcheck(lambda *a: core.get_operator(OP)(*a, backend="reference"), args)


def cases():
    """Parity cases (also loaded by the interpreted Triton check): bias/no bias, odd sizes, several tiles, grads."""
    out = []
    for i, (n, k, m, bias) in enumerate([(5, 7, 3, True), (33, 40, 17, False), (70, 20, 66, True)]):
        xm, xr, wm, wr, bm, br = _boxes(n, k, m, torch.float32, bias, seed=10 + i)
        ts = [xm, xr, wm, wr] + ([bm, br] if bias else [])
        out.append((tuple(t.requires_grad_() for t in ts), {}))
    xm, xr, wm, wr, bm, br = _boxes(4, 6, 5, torch.float64, True, seed=3)
    out.append(((xm, xr, wm, wr, bm, br), {}))                       # float64: reference only
    return out


def test_parity_here_runs_every_available_backend():
    ok, why = core.triton_available()
    if not ok:
        report = testing.check_parity(OP, cases(), skip={"triton": f"needs a CUDA GPU: {why}"})
        assert report.skipped["triton"].startswith("needs a CUDA GPU")
        pytest.skip(f"needs a CUDA GPU for the Triton backend here ({why}); interpreted parity runs below")
    report = testing.check_parity(OP, cases())
    assert report.ran["triton"] == 3


def test_triton_parity_under_the_interpreter():
    report = testing.check_parity_interpreted(OP, f"{HERE}::cases", backends=["triton"])
    assert report["ran"] == {"triton": 3}
    assert any("float64" in r for r in report["not_run"]["triton"])


def test_interpreted_parity_catches_a_broken_kernel(tmp_path):
    """Break the backward (drop sign(x_mid)·(g_rad W_rad)) and watch the interpreted check fail."""
    broken = tmp_path / "broken_cases.py"
    broken.write_text(
        "import torch\n"
        "import hyperzoo.hypernets.ops.interval_linear_triton as m\n"
        "_orig = m._IntervalLinear.backward\n"
        "def _bad(ctx, gm, gr):\n"
        "    out = list(_orig(ctx, gm, gr))\n"
        "    xm, xr, wm, wr = ctx.saved_tensors\n"
        "    out[0] = gm @ wm\n"
        "    return tuple(out)\n"
        "m._IntervalLinear.backward = staticmethod(_bad)\n"
        f"exec(open({str(HERE)!r}).read().split('def test_parity_here')[0])\n")
    with pytest.raises(AssertionError, match="differs from the reference"):
        testing.check_parity_interpreted(OP, f"{broken}::cases", backends=["triton"])


@pytest.mark.parametrize("change, error, match", [
    (dict(x_rad=-torch.ones(2, 3)), ValueError, "x_rad holds negative radii"),
    (dict(w_mid=torch.randn(4, 5)), ValueError, r"w_mid must be \(out, 3\)"),
    (dict(w_rad=torch.rand(4, 2)), ValueError, "w_rad has shape"),
    (dict(x_mid=torch.randn(3)), ValueError, "x_mid must be 2-D"),
    (dict(b_mid=torch.zeros(4)), ValueError, "give both b_mid and b_rad"),
    (dict(x_rad=torch.rand(2, 3, dtype=torch.float64)), TypeError, "cast them alike"),
])
def test_bad_input(change, error, match):
    args = dict(x_mid=torch.randn(2, 3), x_rad=torch.rand(2, 3), w_mid=torch.randn(4, 3), w_rad=torch.rand(4, 3),
                b_mid=None, b_rad=None)
    args.update(change)
    with pytest.raises(error, match=match):
        core.get_operator(OP)(*args.values())
