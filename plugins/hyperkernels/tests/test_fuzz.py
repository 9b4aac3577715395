"""Fuzzing hyperkernels' operators (hypothesis, through ``hyperzoo.core.fuzz``): random shapes within each contract
(length 1, sizes off every block and FFT size, zero-size batches, per-sample and shared kernels, dilations, float32
and float64, extreme magnitudes, non-contiguous and broadcast inputs). Every backend that runs here equals the
reference; finite inputs give finite outputs; out-of-contract inputs raise the documented error. The Triton
backends are fuzzed under the interpreter. Replay a failure with the ``@reproduce_failure`` line it prints."""

import pytest
import torch
from hypothesis import strategies as st

from hyperzoo.core import fuzz
from hyperzoo.hyperkernels.ops.hyperzzw import FFT_MIN_TAPS

# Products of two operands: each magnitude within 10^±15 (float32), so a K-term sum of products stays finite.
SHARE = 0.4


@st.composite
def _signal(draw):
    """(dims, N, C, spatial sizes, dtype): 1D or 2D, a batch of 0-3 samples; up to 1100 positions, so the Triton
    kernels' 1024-output tiles end part-way (1025, 1100, 33 x 33, ...)."""
    dims = draw(st.sampled_from([1, 1, 2]))
    n = draw(st.integers(0, 3))
    c = draw(st.integers(1, 4))
    sizes = [draw(fuzz.lengths(1100 if dims == 1 else 33)) for _ in range(dims)]
    return dims, n, c, sizes, draw(fuzz.dtypes())


def _exp(draw, dtype):
    return draw(fuzz.exponent(dtype, share=SHARE))


@st.composite
def fftconv_cases(draw):
    dims, n, c, sizes, dtype = draw(_signal())
    per_sample = draw(st.booleans())
    taps = [draw(st.integers(1, s + 3)) for s in sizes]  # kernels may be longer than the signal
    x = fuzz.randn(draw, (n, c, *sizes), dtype, scale_exp=_exp(draw, dtype), requires_grad=draw(st.booleans()))
    k = fuzz.randn(draw, ((n,) if per_sample else ()) + (c, *taps), dtype, scale_exp=_exp(draw, dtype),
                   requires_grad=draw(st.booleans()))
    causal = dims == 1 and draw(st.booleans())
    return (x, k), {"causal": causal}


@st.composite
def dwconv_cases(draw):
    dims, n, c, sizes, dtype = draw(_signal())
    per_sample = draw(st.booleans())
    taps = [draw(st.integers(1, min(s + 2, 9))) for s in sizes]
    x = fuzz.randn(draw, (n, c, *sizes), dtype, scale_exp=_exp(draw, dtype), requires_grad=draw(st.booleans()))
    w = fuzz.randn(draw, ((n,) if per_sample else ()) + (c, *taps), dtype, scale_exp=_exp(draw, dtype),
                   requires_grad=draw(st.booleans()))
    bias = fuzz.randn(draw, (c,), dtype, scale_exp=0, requires_grad=draw(st.booleans())) if draw(
        st.booleans()) else None
    return (x, w, bias), {"dilation": draw(st.integers(1, 3))}


@st.composite
def hyperzzw_cases(draw):
    dims, n, c, sizes, dtype = draw(_signal())
    glob = draw(st.booleans())
    taps = sizes if glob else [draw(st.integers(1, min(s, FFT_MIN_TAPS + 2))) for s in sizes]
    # Z enters twice (the kernel and the signal): each factor within 10^±10
    z = fuzz.randn(draw, (n, c, *sizes), dtype, scale_exp=draw(fuzz.exponent(dtype, share=0.25)),
                   requires_grad=draw(st.booleans()))
    w = fuzz.randn(draw, (c, *taps), dtype, scale_exp=draw(fuzz.exponent(dtype, share=0.25)),
                   requires_grad=draw(st.booleans()))
    v = fuzz.randn(draw, z.shape, dtype, scale_exp=0, requires_grad=draw(st.booleans())) if draw(
        st.booleans()) else None
    return (z, w, v), {}


# ------------------------------------------------------------------------------------------- outside the contract


def _r(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype)


COMMON_BAD = [
    (lambda: ((_r(3, 16), _r(3, 5)), {}), ValueError, r"must be \(N, C, L\) or \(N, C, H, W\)"),
    (lambda: ((_r(1, 2, 3, 4, 5), _r(2, 3)), {}), ValueError, r"must be \(N, C, L\) or \(N, C, H, W\)"),
    (lambda: ((torch.ones(2, 3, 16, dtype=torch.long), _r(3, 5)), {}), TypeError, "floating-point"),
    (lambda: ((_r(2, 3, 16), torch.ones(3, 5, dtype=torch.int32)), {}), TypeError, "floating-point"),
    (lambda: ((_r(2, 3, 16).numpy(), _r(3, 5)), {}), TypeError, r"must be a torch\.Tensor"),
    (lambda: ((_r(2, 3, 16), [[1.0] * 5] * 3), {}), TypeError, r"must be a torch\.Tensor"),
    (lambda: ((_r(2, 3, 16), _r(4, 5)), {}), ValueError, "channels"),
    (lambda: ((_r(2, 3, 16), _r(5)), {}), ValueError, "kernel must be"),
    (lambda: ((_r(2, 3, 16), _r(3, 5, dtype=torch.float64)), {}), TypeError, "cast one to the other"),
    (lambda: ((_r(2, 3, 0), _r(3, 1)), {}), ValueError, "empty spatial size"),
    (lambda: ((_r(2, 3, 4, 0), _r(3, 1, 1)), {}), ValueError, "empty spatial size"),
    (lambda: ((_r(2, 0, 16), _r(0, 3)), {}), ValueError, "x has no channels"),
]


def _bad(extra):
    return st.sampled_from(COMMON_BAD + extra).map(lambda b: (b[0](), b[1], b[2]))


FFTCONV_BAD = [
    (lambda: ((_r(2, 3, 16), _r(3, 3, 5)), {}), ValueError, "per-sample kernel has batch 3 but x has batch 2"),
    (lambda: ((_r(2, 3, 16), _r(3, 0)), {}), ValueError, "empty spatial size"),
    (lambda: ((_r(1, 3, 8, 8), _r(3, 3, 3)), {"causal": True}), ValueError, "causal=True is defined for sequences"),
]
DWCONV_BAD = [
    (lambda: ((_r(2, 3, 16), _r(3, 5)), {"dilation": 0}), ValueError, "dilation must be a positive int"),
    (lambda: ((_r(2, 3, 16), _r(3, 5)), {"dilation": 1.5}), ValueError, "dilation must be a positive int"),
    (lambda: ((_r(2, 3, 16), _r(3, 5)), {"dilation": True}), ValueError, "dilation must be a positive int"),
    (lambda: ((_r(2, 3, 16), _r(3, 5), _r(4)), {}), ValueError, r"bias must be a tensor of shape \(3,\)"),
    (lambda: ((_r(2, 3, 16), _r(2, 3, 5), [0.0] * 3), {}), ValueError, r"bias must be a tensor of shape \(3,\)"),
    (lambda: ((_r(2, 3, 16), _r(3, 3, 5)), {}), ValueError, "per-sample kernel has batch 3 but x has batch 2"),
]
HYPERZZW_BAD = [
    (lambda: ((_r(2, 3, 16), _r(3, 17)), {}), ValueError, "exceeds Z's size"),
    (lambda: ((_r(2, 3, 8, 8), _r(3, 9, 2)), {}), ValueError, "exceeds Z's size"),
    (lambda: ((_r(2, 3, 16), _r(2, 3, 5)), {}), ValueError, "shared by the batch"),
    (lambda: ((_r(2, 3, 16), _r(3, 5), _r(2, 3, 15)), {}), ValueError, "V must match"),
    (lambda: ((_r(2, 3, 16), _r(3, 5), _r(2, 3, 16, dtype=torch.float64)), {}), ValueError, "V must match"),
    (lambda: ((_r(2, 3, 16), _r(3, 5), "v"), {}), ValueError, "V must match"),
]

FUZZ = {
    "hyperkernels.fftconv": fuzz.Spec(valid=fftconv_cases(), invalid=_bad(FFTCONV_BAD)),
    "hyperkernels.dwconv": fuzz.Spec(valid=dwconv_cases(), invalid=_bad(DWCONV_BAD)),
    "hyperkernels.hyperzzw": fuzz.Spec(valid=hyperzzw_cases(), invalid=_bad(HYPERZZW_BAD)),
}


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_fuzz_backends_finite_and_layouts(name):
    fuzz.check_valid(name, FUZZ[name])


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_fuzz_out_of_contract_inputs_raise(name):
    fuzz.check_invalid(name, FUZZ[name])


def test_fuzz_covers_every_operator():
    fuzz.check_coverage(FUZZ, plugin="hyperkernels")


def test_fuzz_triton_backends_interpreted():
    ran = fuzz.check_interpreted(["hyperkernels.dwconv", "hyperkernels.hyperzzw"], f"{__file__}::FUZZ",
                                 max_examples=6)
    assert all(r.get("triton", 0) >= 1 for r in ran.values()), ran
