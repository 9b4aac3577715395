"""Registered operators: HNN++ FC and the Poincaré convolution vs HypLL, the head's hand-written backward
(gradcheck), Triton parity (interpreted in CI, on this machine when a GPU is present), identity init."""

import subprocess
import sys

import pytest
import torch

import hyperzoo.hyperbolic as H
from hyperzoo import core
from hyperzoo.core import testing

sys.path.insert(0, __file__.rsplit("/", 1)[0])   # the interpreted parity check runs this file on its own
from hyperbolic_helpers import ball_points  # noqa: E402

HEAD = "hyperbolic.poincare_fc_head"


def _hypll():
    from hypll.manifolds.poincare_ball import Curvature, PoincareBall

    return PoincareBall(c=Curvature(value=0.0, constraining_strategy=lambda v: v.double() + 0.7))


def _float64(make):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return make()
    finally:
        torch.set_default_dtype(old)


def test_fc_equals_hypll_hlinear():
    from hypll.nn import HLinear
    from hypll.tensors import ManifoldTensor

    ball = _hypll()
    layer = _float64(lambda: HLinear(6, 4, manifold=ball))
    with torch.no_grad():
        layer.z.tensor.copy_(torch.randn(6, 4, dtype=torch.float64) * 0.3)   # outputs below HypLL's 1 − 1e-5 clamp
        layer.bias.copy_(torch.randn(4, dtype=torch.float64) * 0.3)
    x = ball_points(20, 6, seed=1, c=0.7, scale=0.5)
    theirs = layer(ManifoldTensor(x, manifold=ball, man_dim=-1)).tensor
    ours = H.poincare_fc(x, layer.z.tensor, layer.bias, c=0.7)
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0)])
def test_conv_equals_hypll_hconvolution2d(stride, padding):
    from hypll.nn import HConvolution2d
    from hypll.tensors import ManifoldTensor

    ball = _hypll()
    layer = _float64(lambda: HConvolution2d(3, 5, 3, manifold=ball, stride=stride, padding=padding))
    with torch.no_grad():
        layer.weights.tensor.copy_(torch.randn(27, 5, dtype=torch.float64) * 0.4)
        layer.bias.copy_(torch.randn(5, dtype=torch.float64) * 0.2)
    x = ball_points(2 * 7 * 6, 3, seed=2, c=0.7, scale=0.5).reshape(2, 7, 6, 3).permute(0, 3, 1, 2)
    theirs = layer(ManifoldTensor(x, manifold=ball, man_dim=1)).tensor
    ours = H.poincare_conv2d(x, layer.weights.tensor, layer.bias, c=0.7, kernel_size=3, stride=stride,
                             padding=padding)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=1e-8, atol=1e-11)


def _head_inputs(n=7, m=5, dtype=torch.float64, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(n, m, generator=g, dtype=dtype) * scale
    lam = 2 / (1 - torch.rand(n, 1, generator=g, dtype=dtype) * 0.9)
    alpha, beta = lam * 0.8, lam - 1
    zn = torch.rand(m, generator=g, dtype=dtype) + 0.5
    r = torch.randn(m, generator=g, dtype=dtype) * 0.3
    return p, alpha, beta, zn, r


def test_head_hand_written_backward_gradcheck():
    ins = [t.requires_grad_() for t in _head_inputs()]
    op = core.get_operator(HEAD).reference
    assert torch.autograd.gradcheck(lambda *a: op(*a, c=0.64), ins)
    p, alpha, beta, zn, _ = [t.detach().requires_grad_() for t in _head_inputs(seed=1)]
    assert torch.autograd.gradcheck(lambda *a: op(*a, None, c=0.64), (p, alpha, beta, zn))
    # large activations (the shifted evaluation) and the autograd path for a learnable curvature agree
    big = [t.detach().requires_grad_() for t in _head_inputs(seed=2, scale=30.0)]
    assert torch.autograd.gradcheck(lambda *a: op(*a, c=0.64), big)
    c = torch.tensor(0.64, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda cc: op(*[t.detach() for t in _head_inputs()], c=cc), (c,))


def test_fc_and_conv_gradcheck(points):
    x = points(5, 4, seed=3, scale=0.4).requires_grad_()
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    r = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, d: H.poincare_fc(a, b, d, c=0.5), (x, z, r))
    xi = points(2 * 4 * 4, 2, seed=4, scale=0.4).reshape(2, 4, 4, 2).permute(0, 3, 1, 2).detach().requires_grad_()
    zc = torch.randn(18, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, d: H.poincare_conv2d(a, b, d, c=0.5, kernel_size=3, padding=1), (xi, zc, r))


def test_head_saves_less_than_autograd():
    """The point of the hand-written backward: only p (N×m) and per-row factors are saved."""
    from hyperzoo.hyperbolic.ops.poincare_fc_head import head_math, poincare_fc_head

    ins = [t.requires_grad_() for t in _head_inputs(n=500, m=64, dtype=torch.float32)]
    c = torch.tensor(1.0)

    def saved_bytes(fn):
        total = []

        def pack(t):
            total.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn()
        return sum(total)

    ours = saved_bytes(lambda: poincare_fc_head(*ins, c=c))
    autograd = saved_bytes(lambda: head_math(*ins, c)[0])
    assert ours < 500 * 64 * 4 * 5.2 < 0.6 * autograd   # p, A, √(1+A²), asinh A, w'


def cases():
    """Parity cases for the head (also loaded by the interpreted Triton check): float32, with/without offsets,
    large activations, a ragged width."""
    out = []
    for i, (n, m, scale) in enumerate([(9, 5, 1.0), (6, 16, 20.0), (4, 33, 0.01)]):
        p, alpha, beta, zn, r = [t.float().requires_grad_() for t in _head_inputs(n, m, seed=i, scale=scale)]
        out.append(((p, alpha, beta, zn, r if i != 1 else None), {"c": 0.64}))
    return out


def test_head_parity_on_this_machine():
    skip = {} if torch.cuda.is_available() else {"triton": "needs a CUDA GPU here; proven by the interpreted test"}
    cs = cases()
    if torch.cuda.is_available():
        cs = [(tuple(a.cuda() if isinstance(a, torch.Tensor) else a for a in args), kw) for args, kw in cs]
    testing.check_parity(HEAD, cs, skip=skip)
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU to run the Triton backend here (the interpreted test covers it)")


def test_head_triton_parity_interpreted():
    report = testing.check_parity_interpreted(HEAD, f"{__file__}::cases", backends=["triton"])
    assert report["ran"] == {"triton": len(cases())}


def test_identity_init_is_exact_and_keeps_norms_over_50_layers(points):
    x = points(16, 8, seed=5, scale=1.2)
    z = 0.5 * torch.eye(8, dtype=torch.float64)
    y = x
    for _ in range(50):
        y = H.poincare_fc(y, z, torch.zeros(8, dtype=torch.float64))
    torch.testing.assert_close(y, x, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H.dist0(y), H.dist0(x), rtol=1e-10, atol=0)


def test_fc_far_float32_inputs_stay_finite_and_inside():
    x = torch.zeros(3, 4)
    x[0, 0] = float(1 - 2.0 ** -24)
    x[1] = torch.tensor([0.5, 0.5, 0.5, 0.49999997])
    z = torch.randn(4, 6) * 3
    y = H.poincare_fc(x, z, torch.randn(6))
    assert torch.isfinite(y).all() and float((y.double() ** 2).sum(-1).max()) < 1


def test_ops_bad_input():
    x = ball_points(3, 4)
    with pytest.raises(ValueError, match=r"z must be \(in, out\)"):
        H.poincare_fc(x, torch.randn(5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="r must have shape"):
        H.poincare_fc(x, torch.randn(4, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    with pytest.raises(H.BallError):
        H.poincare_fc(x * 5, torch.randn(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        H.poincare_conv2d(x, torch.randn(36, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="C·kh·kw"):
        H.poincare_conv2d(x.reshape(1, 4, 3, 1), torch.randn(5, 2, dtype=torch.float64), kernel_size=1)
    with pytest.raises(ValueError, match="p must be"):
        core.get_operator(HEAD)(torch.zeros(3), torch.zeros(3, 1), torch.zeros(3, 1), torch.ones(3))


def test_listing_imports_neither_torch_nor_geoopt():
    code = ("import sys; from hyperzoo import core; core.plugins(); core.models(); core.tasks(); core.operators(); "
            "core.optimizers(); import hyperzoo.hyperbolic, hyperzoo.hyperbolic.plugin; "
            "print('torch' in sys.modules, 'geoopt' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
    assert "hyperbolic.poincare_fc_head" in core.operators()
    assert {"riemannian-adam", "riemannian-sgd"} <= set(core.optimizers())


def test_head_shifted_evaluation_equals_the_plain_one(monkeypatch):
    """The overflow-free per-row shift (used when max|a| > SHIFT_ABOVE) is the same function: outputs and
    hand-written gradients agree with the plain evaluation, and gradcheck passes on it."""
    from hyperzoo.hyperbolic.ops import poincare_fc_head as mod

    op = core.get_operator(HEAD).reference
    ins = [t.requires_grad_() for t in _head_inputs(seed=4, scale=3.0)]
    y1 = op(*ins, c=0.64)
    g1 = torch.autograd.grad(y1.sin().sum(), ins)
    monkeypatch.setattr(mod, "SHIFT_ABOVE", 0.0)
    y2 = op(*ins, c=0.64)
    g2 = torch.autograd.grad(y2.sin().sum(), ins)
    torch.testing.assert_close(y2, y1, rtol=1e-12, atol=1e-14)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda *a: op(*a, c=0.64), [t.detach().requires_grad_() for t in ins])
    huge = _head_inputs(seed=5, scale=1e30)
    y = op(*huge, c=0.64)                      # a ~ 140: sinh overflows float32, the shifted form does not
    assert torch.isfinite(y).all() and float((0.64 * (y ** 2).sum(-1)).max()) <= 1 + 1e-12   # (FC keeps it inside)
    x = torch.zeros(2, 4, dtype=torch.float64)
    x[0, 0] = 1 - 1e-15
    out = H.poincare_fc(x, torch.randn(4, 5, dtype=torch.float64) * 50, torch.randn(5, dtype=torch.float64) * 5)
    assert torch.isfinite(out).all() and float((out ** 2).sum(-1).max()) < 1
