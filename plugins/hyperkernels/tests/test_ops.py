"""Operators: fftconv, dwconv and hyperzzw against brute-force loops; backends against the references."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hyperzoo import core
from hyperzoo.core import testing
from hyperzoo.hyperkernels import context_kernel, dwconv, fftconv, hyperzzw


def circular_fftconv(x, k, causal=False):
    """The padding bug the tests must catch: a length-L FFT wraps the end of the sequence into its start."""
    length, taps = x.shape[-1], k.shape[-1]
    kk = k if causal else k.flip(-1)
    full = torch.fft.irfft(torch.fft.rfft(x, n=length) * torch.fft.rfft(kk, n=length), n=length)
    shift = 0 if causal else taps - 1 - (taps - 1) // 2
    return torch.roll(full, -shift, dims=-1)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("taps", [1, 4, 7, 23, 23 * 2])
@pytest.mark.parametrize("per_sample", [False, True])
def test_fftconv_equals_direct_convolution(direct, causal, taps, per_sample):
    x = torch.randn(2, 3, 23, dtype=torch.float64)
    k = torch.randn(*((2,) if per_sample else ()), 3, taps, dtype=torch.float64)
    want = direct.conv1d(x.numpy(), k.numpy(), causal=causal)
    np.testing.assert_allclose(fftconv(x, k, causal=causal).numpy(), want, rtol=0, atol=1e-10)


def test_fftconv_matches_torch_conventions():
    x, k = torch.randn(2, 4, 50, dtype=torch.float64), torch.randn(4, 9, dtype=torch.float64)
    same = F.conv1d(x, k[:, None], padding="same", groups=4)
    causal = F.conv1d(F.pad(x, (8, 0)), k.flip(-1)[:, None], groups=4)
    torch.testing.assert_close(fftconv(x, k), same, rtol=0, atol=1e-10)
    torch.testing.assert_close(fftconv(x, k, causal=True), causal, rtol=0, atol=1e-10)


@pytest.mark.parametrize("causal", [False, True])
def test_a_circular_convolution_fails_the_check(direct, causal):
    x = torch.randn(2, 3, 32, dtype=torch.float64)
    k = torch.randn(3, 32, dtype=torch.float64)  # a global kernel: wrap-around shows at every position
    want = direct.conv1d(x.numpy(), k.numpy(), causal=causal)
    np.testing.assert_allclose(fftconv(x, k, causal=causal).numpy(), want, atol=1e-10)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(circular_fftconv(x, k, causal).numpy(), want, atol=1e-10)


def test_causal_fftconv_never_looks_ahead():
    x, k = torch.randn(2, 3, 64, dtype=torch.float64), torch.randn(3, 64, dtype=torch.float64)
    for t0 in (0, 1, 17, 63):
        x2 = x.clone()
        x2[..., t0:] = torch.randn_like(x2[..., t0:]) * 100
        y, y2 = fftconv(x, k, causal=True), fftconv(x2, k, causal=True)
        torch.testing.assert_close(y2[..., :t0], y[..., :t0], rtol=0, atol=1e-9)
        assert (y2[..., t0:] - y[..., t0:]).abs().max() > 1  # and the future does change
    # the non-causal (centred) convolution does look ahead
    assert (fftconv(x2, k)[..., :t0] - fftconv(x, k)[..., :t0]).abs().max() > 1


@pytest.mark.parametrize("kshape", [(2, 3, 5), (2, 4, 4), (2, 9, 11)])
@pytest.mark.parametrize("per_sample", [False, True])
def test_fftconv_2d_equals_direct(direct, kshape, per_sample):
    x = torch.randn(2, 2, 9, 11, dtype=torch.float64)
    k = torch.randn(*((2,) if per_sample else ()), *kshape, dtype=torch.float64)
    np.testing.assert_allclose(fftconv(x, k).numpy(), direct.conv2d(x.numpy(), k.numpy()), atol=1e-10)


def test_fftconv_gradients_equal_direct_convolution_gradients():
    x = torch.randn(2, 3, 40, dtype=torch.float64, requires_grad=True)
    k = torch.randn(3, 39, dtype=torch.float64, requires_grad=True)
    for causal in (False, True):
        cot = torch.randn(2, 3, 40, dtype=torch.float64)
        ref = F.conv1d(F.pad(x, (38, 0)), k.flip(-1)[:, None], groups=3) if causal else F.conv1d(
            x, k[:, None], padding="same", groups=3)
        g_ref = torch.autograd.grad(ref, (x, k), cot)
        g = torch.autograd.grad(fftconv(x, k, causal=causal), (x, k), cot)
        for a, b in zip(g, g_ref):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


def test_fftconv_keeps_low_precision_dtypes():
    x, k = torch.randn(2, 3, 30), torch.randn(3, 30)
    y = fftconv(x.bfloat16(), k.bfloat16())
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), fftconv(x, k), rtol=5e-2, atol=5e-1)


@pytest.mark.parametrize("dilation", [1, 2, 3])
@pytest.mark.parametrize("taps", [3, 4])
@pytest.mark.parametrize("per_sample", [False, True])
def test_dwconv_equals_direct(direct, dilation, taps, per_sample):
    x = torch.randn(2, 3, 19, dtype=torch.float64)
    k = torch.randn(*((2,) if per_sample else ()), 3, taps, dtype=torch.float64)
    b = torch.randn(3, dtype=torch.float64)
    want = direct.conv1d(x.numpy(), k.numpy(), dilation=dilation, bias=b.numpy())
    np.testing.assert_allclose(dwconv(x, k, b, dilation=dilation).numpy(), want, atol=1e-12)
    x2 = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    k2 = torch.randn(*((2,) if per_sample else ()), 3, taps, 5, dtype=torch.float64)
    np.testing.assert_allclose(dwconv(x2, k2, dilation=dilation).numpy(),
                               direct.conv2d(x2.numpy(), k2.numpy(), dilation=dilation), atol=1e-12)


def test_hyperzzw_equals_its_definition(direct):
    z = torch.randn(2, 3, 20, dtype=torch.float64)
    v = torch.randn(2, 3, 20, dtype=torch.float64)
    for size in (20, 7, 3, 6):
        w = torch.randn(3, size, dtype=torch.float64)
        kappa = w.numpy()[None] * direct.pool1d(z.numpy(), size)  # W ⊙ P_K(Z[n]), per sample
        np.testing.assert_allclose(context_kernel(z, w).numpy(), kappa, atol=1e-12)
        np.testing.assert_allclose(hyperzzw(z, w).numpy(), direct.conv1d(z.numpy(), kappa), atol=1e-10)
        np.testing.assert_allclose(hyperzzw(z, w, v).numpy(), direct.conv1d(v.numpy(), kappa), atol=1e-10)
    # global 2D: kappa = W ⊙ Z exactly (direct for 6x5, 2D FFT for 17x6)
    for size in ((6, 5), (17, 6)):
        z2 = torch.randn(2, 2, *size, dtype=torch.float64)
        w2 = torch.randn(2, *size, dtype=torch.float64)
        np.testing.assert_allclose(hyperzzw(z2, w2).numpy(), direct.conv2d(z2.numpy(), (z2 * w2).numpy()),
                                   atol=1e-10)


def test_hyperzzw_is_per_sample():
    z = torch.randn(6, 3, 30, dtype=torch.float64)
    for size in (30, 5):
        w = torch.randn(3, size, dtype=torch.float64)
        full = hyperzzw(z, w)
        for n in range(6):
            torch.testing.assert_close(hyperzzw(z[n:n + 1], w), full[n:n + 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("fn", [fftconv, dwconv, hyperzzw])
def test_bad_inputs_get_clear_errors(fn):
    x = torch.randn(2, 3, 16)
    with pytest.raises(ValueError, match=r"\(N, C, L\)"):
        fn(torch.randn(3, 16), torch.randn(3, 5))
    with pytest.raises(TypeError, match="floating-point"):
        fn(torch.ones(2, 3, 16, dtype=torch.long), torch.randn(3, 5))
    with pytest.raises(TypeError, match="torch.Tensor"):
        fn(x.numpy(), torch.randn(3, 5))
    with pytest.raises(ValueError, match="channels"):
        fn(x, torch.randn(4, 5))
    with pytest.raises(ValueError, match="kernel must be"):
        fn(x, torch.randn(5))
    with pytest.raises(TypeError, match="cast"):
        fn(x, torch.randn(3, 5, dtype=torch.float64))


def test_specific_bad_inputs():
    x = torch.randn(2, 3, 16)
    with pytest.raises(ValueError, match="per-sample kernel has batch 3"):
        fftconv(x, torch.randn(3, 3, 5))
    with pytest.raises(ValueError, match="causal=True is defined for sequences"):
        fftconv(torch.randn(1, 3, 8, 8), torch.randn(3, 3, 3), causal=True)
    with pytest.raises(ValueError, match="exceeds Z's size"):
        hyperzzw(x, torch.randn(3, 17))
    with pytest.raises(ValueError, match="shared by the batch"):
        hyperzzw(x, torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="V must match"):
        hyperzzw(x, torch.randn(3, 5), torch.randn(2, 3, 15))
    with pytest.raises(ValueError, match="dilation"):
        dwconv(x, torch.randn(3, 5), dilation=0)
    with pytest.raises(ValueError, match="bias"):
        dwconv(x, torch.randn(3, 5), torch.randn(4))


def test_registered_operators_dispatch_to_the_reference_on_cpu():
    x, k = torch.randn(2, 3, 16), torch.randn(3, 5)
    for name in ("fftconv", "dwconv", "hyperzzw"):
        op = core.get_operator(f"hyperkernels.{name}")
        assert op.select(x, k)[0] == "reference"
    torch.testing.assert_close(core.get_operator("hyperkernels.fftconv")(x, k, causal=True), fftconv(x, k, causal=True))


# ------------------------------------------------------------------------------------------------ backend parity


def cases():
    """Small inputs (the Triton interpreter runs them on a CPU): 1D/2D, shared/per-sample, dilation, bias."""
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g).requires_grad_()

    return [
        ((r(2, 3, 20), r(3, 5), r(3)), {}),
        ((r(2, 3, 20), r(2, 3, 4)), {"dilation": 2}),
        ((r(2, 2, 6, 7), r(2, 3, 5)), {"dilation": 2}),
        ((r(2, 2, 5, 6), r(2, 2, 3, 3), r(2)), {}),
    ]


def hyperzzw_cases():
    g = torch.Generator().manual_seed(1)

    def r(*shape):
        return torch.randn(*shape, generator=g).requires_grad_()

    return [((r(2, 3, 20), r(3, 5)), {}), ((r(2, 3, 20), r(3, 4), r(2, 3, 20)), {}),
            ((r(2, 2, 6, 7), r(2, 3, 3)), {})]


def parity_plan(triton_ok: bool, why: str, cuda: bool) -> tuple[str | None, dict[str, str]]:
    """(device to run the parity cases on, backends skipped with the reason): Triton runs wherever it can, on the
    GPU when there is one; it is skipped only for want of a CUDA GPU."""
    if triton_ok and cuda:
        return "cuda", {}
    if triton_ok:  # the interpreter (TRITON_INTERPRET=1) runs the kernels on CPU tensors
        return "cpu", {}
    return "cpu", {"triton": f"needs a CUDA GPU (here: {why}); proven under the interpreter by "
                             "test_triton_backends_equal_the_references_interpreted"}


def on_device(cases, device):
    def move(t):
        if not isinstance(t, torch.Tensor):
            return t
        return t.detach().to(device).requires_grad_(t.requires_grad)

    return [(tuple(move(a) for a in args), {k: move(v) for k, v in kwargs.items()}) for args, kwargs in cases]


def test_parity_plan_runs_triton_wherever_it_can():
    assert parity_plan(True, "ok", True) == ("cuda", {})
    assert parity_plan(True, "Triton interpreter (TRITON_INTERPRET=1)", False) == ("cpu", {})
    device, skip = parity_plan(False, "no CUDA GPU", False)
    assert device == "cpu" and skip["triton"].startswith("needs a CUDA GPU (here: no CUDA GPU)")


@pytest.mark.parametrize("name,make", [("hyperkernels.dwconv", cases), ("hyperkernels.hyperzzw", hyperzzw_cases)])
def test_parity_on_this_machine(name, make):
    """Every backend that can run here runs (on a GPU machine the compiled Triton kernels, on CUDA tensors)."""
    triton_ok, why = core.triton_available()
    device, skip = parity_plan(triton_ok, why, torch.cuda.is_available())
    report = testing.check_parity(name, on_device(make(), device), skip=skip)
    if skip:
        assert report.skipped == skip and report.ran == {}
    else:
        assert report.ran == {"triton": len(make())}, report.not_run


@pytest.mark.slow
def test_triton_backends_equal_the_references_interpreted():
    report = testing.check_parity_interpreted("hyperkernels.dwconv", f"{__file__}::cases", backends=["triton"])
    assert report["ran"] == {"triton": len(cases())}
    report = testing.check_parity_interpreted("hyperkernels.hyperzzw", f"{__file__}::hyperzzw_cases",
                                              backends=["triton"])
    assert report["ran"] == {"triton": len(hyperzzw_cases())}
