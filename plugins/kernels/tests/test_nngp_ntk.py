"""Analytic NNGP/NTK: the dual closed forms vs Monte Carlo, the recursion vs wide networks (1/√width), PSD, errors."""

import math

import pytest
import torch

from hyperzoo import core
from hyperzoo.core import testing
from hyperzoo.kernels import NTKMLP, empirical_ntk, nngp_ntk
from hyperzoo.kernels.ops.nngp_ntk import dual

F64 = torch.float64
VW = {"relu": 2.0, "erf": 1.5}


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_dual_activations_equal_monte_carlo(activation):
    """E[φ(u)φ(v)] and E[φ'(u)φ'(v)] for (u, v) ~ N(0, Λ), within 5 standard errors of 2·10⁶ samples."""
    g = torch.Generator().manual_seed(1)
    phi = torch.relu if activation == "relu" else torch.erf
    dphi = (lambda u: (u > 0).to(F64)) if activation == "relu" else \
        (lambda u: 2 / math.sqrt(math.pi) * torch.exp(-u * u))
    for s11, s12, s22 in [(1.0, 0.3, 2.0), (0.5, -0.4, 0.7), (3.0, 2.9, 3.0)]:
        lam = torch.tensor([[s11, s12], [s12, s22]], dtype=F64)
        uv = torch.randn(2_000_000, 2, generator=g, dtype=F64) @ torch.linalg.cholesky(lam).T
        k, kdot = dual(activation, *(torch.tensor(v, dtype=F64) for v in (s11, s12, s22)))
        for got, samples in ((k, phi(uv[:, 0]) * phi(uv[:, 1])), (kdot, dphi(uv[:, 0]) * dphi(uv[:, 1]))):
            se = samples.std() / math.sqrt(len(samples))
            assert abs(float(got) - float(samples.mean())) < 5 * float(se), (activation, s11, s12, s22)


def _rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_empirical_kernels_of_wide_networks_converge_as_one_over_sqrt_width(activation):
    """Mean relative error (3 initialisations) at width 64 vs 1024: √16 = 4 predicted; > 2 asserted."""
    x = torch.randn(6, 5, dtype=F64)
    nngp, ntk = nngp_ntk(x, depth=2, activation=activation, weight_variance=VW[activation], bias_variance=0.1)
    errs = {}
    for width in (64, 1024):
        e_ntk, e_nngp = [], []
        for seed in range(3):
            torch.manual_seed(seed)
            net = NTKMLP(5, width=width, depth=2, activation=activation, weight_variance=VW[activation],
                         bias_variance=0.1).double()
            e_ntk.append(_rel(empirical_ntk(net, x)[:, :, 0, 0], ntk))
            with torch.no_grad():   # NNGP: the readout's input covariance σ_w² φ(h)·φ(h')/n + σ_b²
                h = x
                for layer in net.layers[:-1]:
                    h = net.activation(layer(h))
                feat = VW[activation] * h @ h.T / width + 0.1
            e_nngp.append(_rel(feat, nngp))
        errs[width] = (sum(e_ntk) / 3, sum(e_nngp) / 3)
    for i in range(2):
        assert errs[1024][i] < 0.15, errs
        assert errs[64][i] / errs[1024][i] > 2.0, errs


def test_depth_zero_is_the_linear_kernel_and_recursion_by_hand():
    x1, x2 = torch.randn(4, 3, dtype=F64), torch.randn(5, 3, dtype=F64)
    g0, t0 = nngp_ntk(x1, x2, depth=0, weight_variance=1.3, bias_variance=0.2)
    lin = 1.3 * x1 @ x2.T / 3 + 0.2
    torch.testing.assert_close(g0, lin)
    torch.testing.assert_close(t0, lin)
    # one ReLU layer, by hand: Σ¹ = σ_w² √(s11 s22)(sin θ + (π−θ)cos θ)/(2π) + σ_b², Θ¹ = Σ⁰ σ_w²(π−θ)/(2π) + Σ¹
    g1, t1 = nngp_ntk(x1, x2, depth=1, weight_variance=1.3, bias_variance=0.2)
    for i in range(4):
        for j in range(5):
            s11 = 1.3 * float(x1[i] @ x1[i]) / 3 + 0.2
            s22 = 1.3 * float(x2[j] @ x2[j]) / 3 + 0.2
            s12 = float(lin[i, j])
            th = math.acos(s12 / math.sqrt(s11 * s22))
            sig = 1.3 * math.sqrt(s11 * s22) * (math.sin(th) + (math.pi - th) * math.cos(th)) / (2 * math.pi) + 0.2
            assert abs(float(g1[i, j]) - sig) < 1e-12
            assert abs(float(t1[i, j]) - (s12 * 1.3 * (math.pi - th) / (2 * math.pi) + sig)) < 1e-12


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_kernels_are_symmetric_psd(activation):
    x = torch.randn(60, 4, dtype=F64)
    x[1] = x[0]  # a repeated point: rank-deficient, still PSD
    for k in nngp_ntk(x, depth=4, activation=activation, weight_variance=VW[activation], bias_variance=0.05):
        torch.testing.assert_close(k, k.T, rtol=0, atol=1e-12)
        assert float(torch.linalg.eigvalsh(k).min()) >= -1e-10


def test_dispatched_operator_is_the_reference_and_differentiable():
    op = core.get_operator("kernels.nngp_ntk")
    x1 = torch.randn(3, 4, dtype=F64, requires_grad=True)
    x2 = torch.randn(5, 4, dtype=F64)
    g, t = op(x1, x2, depth=2)
    (g.sum() + t.sum()).backward()
    assert torch.isfinite(x1.grad).all() and x1.grad.abs().sum() > 0
    assert torch.autograd.gradcheck(lambda a: op(a, x2, depth=2, activation="erf")[1], (x1.detach().requires_grad_(),))


def test_bad_input_errors():
    x = torch.randn(3, 4, dtype=F64)
    with pytest.raises(ValueError, match="same number of features; got 4 and 5"):
        nngp_ntk(x, torch.randn(2, 5, dtype=F64))
    bad = x.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="x1 contains NaN"):
        nngp_ntk(bad)
    with pytest.raises(ValueError, match="activation must be one of"):
        nngp_ntk(x, activation="tanh")
    with pytest.raises(ValueError, match="depth must be an int >= 0"):
        nngp_ntk(x, depth=-1)
    with pytest.raises(ValueError, match="weight_variance must be a finite number > 0"):
        nngp_ntk(x, weight_variance=0.0)
    with pytest.raises(ValueError, match="2-D tensor"):
        nngp_ntk(torch.randn(4, dtype=F64))


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_self_gram_diagonal_is_exact_in_float32(activation):
    """On the self-Gram diagonal ρ = 1 holds exactly (closed forms): float32 stays within 1e-6 relative of float64
    (rounding ρ by one ulp would move θ by √(2 ulp) ≈ 5e-4 and the NTK diagonal by ~1e-4)."""
    x = torch.randn(200, 64, dtype=F64)
    want = nngp_ntk(x, depth=3, activation=activation)[1]
    got = nngp_ntk(x.float(), depth=3, activation=activation)[1].double()
    assert float(((got - want).abs() / want.abs().max()).max()) < 1e-6


def cases(device: str = "cpu"):
    """Parity cases for the fused Triton backend (tiny: the interpreter is slow): ReLU/erf, self-Gram and blocks,
    depth 0..3, ragged tile edges, gradients; one float64 case (runs the reference)."""
    g = torch.Generator().manual_seed(0)
    out = []
    for i, (act, depth) in enumerate([("relu", 3), ("erf", 2), ("relu", 0), ("erf", 1)]):
        x1 = torch.randn(37, 5, generator=g).to(device).requires_grad_(i % 2 == 0)
        x2 = torch.randn(19, 5, generator=g).to(device)
        kw = {"depth": depth, "activation": act, "weight_variance": VW[act], "bias_variance": 0.1 * i}
        out.append(((x1, x2) if i % 2 == 0 else (x1,), kw))
    out.append(((torch.randn(8, 3, generator=g, dtype=F64).to(device),), {"depth": 2}))
    return out


def test_parity_on_this_machine():
    ok, why = core.get_operator("kernels.nngp_ntk").backends["triton"].available()
    if ok and torch.cuda.is_available():
        report = testing.check_parity("kernels.nngp_ntk", cases("cuda"))
        assert report.ran["triton"] == len(cases()) - 1
    else:
        report = testing.check_parity("kernels.nngp_ntk", cases(),
                                           skip={"triton": f"needs a CUDA GPU ({why})"})
        assert report.skipped["triton"].startswith("needs a CUDA GPU")


def test_triton_parity_interpreted():
    report = testing.check_parity_interpreted("kernels.nngp_ntk", f"{__file__}::cases", backends=["triton"])
    assert report["ran"]["triton"] == len(cases()) - 1          # the float64 case is not a Triton dtype
    assert any("float64" in r for r in report["not_run"]["triton"])
    assert report["max_abs_error"]["triton"] < 1e-4


def test_row_chunking_equals_one_block(monkeypatch):
    import hyperzoo.kernels.ops.nngp_ntk as ref

    x, y = torch.randn(50, 3, dtype=F64), torch.randn(20, 3, dtype=F64)
    whole = [nngp_ntk(x, depth=2), nngp_ntk(x, y, depth=2, activation="erf")]
    monkeypatch.setattr(ref, "CHUNK", 64)       # 3 rows per chunk for the self-Gram, crossing the diagonal
    chunked = [nngp_ntk(x, depth=2), nngp_ntk(x, y, depth=2, activation="erf")]
    for a, b in zip(whole, chunked):
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v, rtol=0, atol=1e-13)
