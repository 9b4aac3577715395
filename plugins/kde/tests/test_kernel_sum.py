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


def cases(device: str = "cpu"):
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
    return [_to(case, device) for case in out]


def _to(case, device):
    def move(t):
        return t.detach().to(device).requires_grad_(t.requires_grad) if isinstance(t, torch.Tensor) else t
    args, kwargs = case
    return tuple(move(a) for a in args), {k: move(v) for k, v in kwargs.items()}


def spread_data(span: float = 1e4, *, clusters: int = 40, per: int = 50, m: int = 200, d: int = 3, seed: int = 0):
    """Clusters of width 1.5 h whose centres spread over ``span`` bandwidths (h = 1), offset by 3·10⁴ h, and
    queries near the data: float32 tensors (the float64 truth is computed from the same float32 values)."""
    g = np.random.default_rng(seed)
    centres = g.uniform(0, span, (clusters, d)) + 3e4
    x = (centres[:, None, :] + g.normal(size=(clusters, per, d)) * 1.5).reshape(-1, d)
    y = x[g.choice(len(x), m)] + g.normal(size=(m, d))
    return torch.tensor(y, dtype=torch.float32), torch.tensor(x, dtype=torch.float32), 1.0


def spread_cases(device: str = "cpu"):
    """Small spread-out cases (also for the interpreted Triton kernel): 10⁴ bandwidths (direct differences), a
    narrow set (the dot path), weighted and not, and the exponential kernel at training points."""
    y, x, h = spread_data(1e4, clusters=12, per=16, m=48)
    yn, xn, _ = spread_data(4.0, clusters=4, per=16, m=24)
    w = torch.rand(x.shape[0], generator=torch.Generator().manual_seed(3)) + 0.1
    out = [((y, x, h), {"kernel": "gaussian"}), ((y, x, h), {"kernel": "gaussian", "weights": w}),
           ((y, x, 3.0), {"kernel": "epanechnikov"}), ((yn, xn, h), {"kernel": "gaussian"}),
           ((xn[:16].clone(), xn, 0.7), {"kernel": "exponential"})]        # √r² at coincident points
    return [_to(case, device) for case in out]


def test_parity_on_this_machine(monkeypatch):
    """Every backend that can run here against the reference (on a GPU: the compiled Triton kernel and the
    blocked backend on CUDA tensors); Triton is skipped only where there is no CUDA GPU, with that reason."""
    from hyperzoo.kde.ops import kernel_sum_blocked as kb

    monkeypatch.setattr(kb, "QUERY_BLOCK", 8)     # several query and data blocks even on small cases
    monkeypatch.setattr(kb, "DATA_BLOCK", 16)
    triton_ok, why = core.triton_available()
    if triton_ok:
        report = testing.check_parity(OP, cases("cuda") + spread_cases("cuda"))
        assert report.ran["triton"] >= len(cases()) - 1
    else:
        report = testing.check_parity(OP, cases() + spread_cases(), skip={"triton": f"needs a CUDA GPU ({why})"})
        assert report.skipped["triton"].startswith("needs a CUDA GPU")
    assert report.ran["blocked"] == len(cases()) - 1 + len(spread_cases())   # query grads go to the reference
    assert "require grad" in report.not_run["blocked"][0]


def test_float32_is_exact_on_data_spanning_ten_thousand_bandwidths(brute):
    """float32 vs the float64 brute force on the same float32 values: |Δ log| ≤ 1e-5·max(1, |log|) for the
    reference and the blocked backend (the norm expansion after one global centring was off by 3.6 here)."""
    y, x, h = spread_data(1e4)
    far = torch.cat([y, x[:4] + 40.0, x[4:6] + 1e3])                # and queries 40 and 1000 bandwidths out
    w = torch.rand(x.shape[0], generator=torch.Generator().manual_seed(1)) + 0.1
    for kernel, hh, weights in (("gaussian", h, None), ("gaussian", h, w), ("exponential", h, None),
                                ("epanechnikov", 3.0, w), ("cosine", 3.0, None)):
        want = brute(far.double().numpy(), x.double().numpy(), hh, kernel,
                     None if weights is None else weights.double().numpy())
        finite = np.isfinite(want)
        for backend in ("reference", "blocked"):
            got = core.get_operator(OP)(far, x, hh, kernel=kernel, weights=weights, backend=backend).double().numpy()
            assert np.array_equal(np.isfinite(got), finite), (kernel, backend)
            rel = np.abs(got[finite] - want[finite]) / np.maximum(1.0, np.abs(want[finite]))
            assert rel.max() <= 1e-5, (kernel, backend, rel.max())


def test_triton_is_exact_on_spread_out_data_under_the_interpreter(brute):
    """The Triton kernel on the spread-out cases: within 1e-5 of the float32 reference (interpreted), which is
    itself within 1e-6 of the float64 brute force, so within 1.1e-5 of the truth."""
    report = testing.check_parity_interpreted(OP, f"{__file__}::spread_cases", backends=["triton"])
    assert report["ran"]["triton"] == len(spread_cases())
    assert report["max_abs_error"]["triton"] <= 1e-5
    for (y, x, h), kw in spread_cases():
        w = kw.get("weights")
        want = brute(y.double().numpy(), x.double().numpy(), h, kw["kernel"],
                     None if w is None else w.double().numpy())
        got = core.get_operator(OP).reference(y, x, h, **kw).double().numpy()
        f = np.isfinite(want)
        assert np.abs(got[f] - want[f]).max() <= 1e-6


def test_blocked_routes_spread_out_data_to_the_per_block_path(monkeypatch):
    """The estimate u·(R_y² + R_x²) sends data spanning 10⁴ bandwidths to the per-block path (in float64 too:
    1.7e-8 > 1e-11), and narrow data not."""
    from hyperzoo.kde.ops import kernel_sum_blocked as kb

    calls = []
    original = kb._spread_out
    monkeypatch.setattr(kb, "_spread_out", lambda *a: calls.append(a) or original(*a))
    y, x, h = spread_data(1e4)
    kb.kernel_sum(y, x, h)
    assert len(calls) == 1
    kb.kernel_sum(y.double(), x.double(), h)
    assert len(calls) == 2
    yn, xn, _ = spread_data(2.0)
    kb.kernel_sum(yn, xn, h)
    kb.kernel_sum(yn.double(), xn.double(), h)
    assert len(calls) == 2


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


@pytest.mark.parametrize("where", ["queries", "data"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_inputs_are_refused_by_every_backend(where, value):
    """NaN used to flow through kernel_sum silently (the estimator caught it, the operator did not)."""
    from hyperzoo.kde.ops import kernel_sum_triton

    y, x = torch.randn(5, 2), torch.randn(7, 2)
    (y if where == "queries" else x)[3, 1] = value
    runs = [lambda b=b: core.get_operator(OP)(y, x, 1.0, backend=b) for b in ("reference", "blocked")]
    runs.append(lambda: kernel_sum_triton.kernel_sum(y, x, 1.0))        # validates before any launch
    for run in runs:
        with pytest.raises(ValueError, match=f"{where} contain NaN or infinity \\(first in row 3\\)"):
            run()
    with pytest.raises(ValueError, match="weights contain NaN"):
        core.get_operator(OP)(torch.randn(2, 2), x.nan_to_num(), 1.0, weights=torch.tensor([1.0] * 6 + [math.nan]))


def test_validation_reads_the_device_once(monkeypatch):
    """Value checks (finite queries and data, weights >= 0, a tensor bandwidth > 0) are reduced on the device and
    read back once per call: one host synchronisation on a GPU (two before: bandwidth and weights)."""
    from hyperzoo.kde.ops.kernel_sum import check_inputs

    reads = []
    for name in ("tolist", "item", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _o=original, _n=name: reads.append(_n) or _o(self, *a))
    x = torch.randn(50, 3)
    check_inputs(torch.randn(4, 3), x, torch.tensor(0.5), "gaussian", torch.rand(50))
    assert reads == ["tolist"]


def test_reference_blocks_stay_bounded_for_many_queries(monkeypatch):
    """The reference's blocks depended on m·d only: past m·d ≈ 4M each held one data point (n Python steps of
    m × 1 and a final m × n stack). Now queries are chunked: no block exceeds 2^22 / d entries."""
    from hyperzoo.kde.ops import kernel_sum as ref

    sizes = []
    original = torch.logsumexp

    def spy(t, dim, **kw):
        sizes.append(t.numel())
        return original(t, dim, **kw)

    monkeypatch.setattr(torch, "logsumexp", spy)
    x = torch.randn(40, 32)
    y = torch.randn(140_000, 32)                                   # m·d = 4.5M
    out = ref.kernel_sum(y, x, 1.0)
    monkeypatch.setattr(torch, "logsumexp", original)
    assert out.shape == (140_000,) and bool(torch.isfinite(out).all())
    assert max(sizes) <= ref.BLOCK_ELEMENTS // 32
    torch.testing.assert_close(out[:50], ref.kernel_sum(y[:50], x, 1.0))


@pytest.mark.parametrize("kernel", ["exponential", "linear", "cosine", "epanechnikov"])
def test_float32_non_gaussian_kernels_exact_at_training_points(kernel):
    """√r² profiles turned the norm expansion's rounding of r² into up to √u·R at coincident points (2.6e-3 in
    log K for the exponential at d = 16); the blocked backend now uses direct differences for every kernel but the
    Gaussian. Queries at training points, float32 vs the float64 reference on the same values."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2000, 16, generator=g)
    y = x[:64].clone()
    h = 2000 ** (-1 / 20) * (2.0 if kernel in ("cosine", "epanechnikov") else 1.0)
    want = core.get_operator(OP).reference(y.double(), x.double(), h, kernel=kernel)
    got = core.get_operator(OP)(y, x, h, kernel=kernel, backend="blocked").double()
    f = torch.isfinite(want)
    assert torch.equal(torch.isfinite(got), f)
    assert float(((got[f] - want[f]).abs() / want[f].abs().clamp_min(1)).max()) <= 1e-5
