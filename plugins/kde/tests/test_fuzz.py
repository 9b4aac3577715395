"""Fuzzing ``kde.kernel_sum`` (hypothesis, through ``hyperzoo.core.fuzz``): random query and data sets (no queries,
one point, sizes off every block, 1-17 features), every kernel, float32 and float64, bandwidths and data scales
from 10^-12 to 10^12, weights with zeros, non-contiguous and broadcast inputs. Every backend that runs here equals
the reference (the Triton one under the interpreter); finite inputs never give NaN or +inf (−inf is the log of an
empty compact-kernel sum); out-of-contract inputs raise the documented error. Replay a failure with the
``@reproduce_failure`` line it prints."""

import math

import torch
from hypothesis import strategies as st

from hyperzoo.core import fuzz
from hyperzoo.kde.kernels import KERNELS

OP = "kde.kernel_sum"


@st.composite
def kernel_sum_cases(draw):
    dtype = draw(fuzz.dtypes())
    m, n = draw(fuzz.lengths(300, min_value=0)), draw(fuzz.lengths(300))
    d = draw(st.sampled_from([1, 2, 3, 5, 17]))
    scale = draw(st.integers(-12, 12))          # where the data live
    spread = draw(st.sampled_from([-2, 0, 1, 3]))  # how far apart the points are: 10^spread bandwidths
    centre = fuzz.randn(draw, (1, d), dtype, scale_exp=scale)
    data = centre + fuzz.randn(draw, (n, d), dtype, scale_exp=scale + spread - 1)
    queries = (centre + fuzz.randn(draw, (m, d), dtype, scale_exp=scale + spread - 1)).requires_grad_(
        draw(st.booleans()))
    bandwidth = 10.0 ** (scale - 1) * draw(st.sampled_from([0.3, 1.0, 2.0]))
    if draw(st.booleans()):
        bandwidth = torch.tensor(bandwidth, dtype=dtype)
    weights = None
    if draw(st.booleans()):
        weights = fuzz.randn(draw, (n,), dtype, scale_exp=0).abs()
        weights[: draw(st.integers(0, n - 1))] = 0  # some zero weights, never all
    return (queries, data.detach(), bandwidth), {"kernel": draw(st.sampled_from(KERNELS)), "weights": weights}


def no_nan_no_plus_inf(args, kwargs, outs):
    (s,) = outs
    assert not bool(torch.isnan(s).any()), "kernel_sum returned NaN from finite inputs"
    assert not bool((s == math.inf).any()), "kernel_sum returned +inf from finite inputs"


def _r(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype)


BAD = [
    (lambda: ((_r(4, 2), _r(5, 3), 1.0), {}), ValueError, "queries have 2 features but data have 3"),
    (lambda: ((_r(4), _r(5, 1), 1.0), {}), ValueError, r"queries must be 2-D \(points × features\)"),
    (lambda: ((_r(4, 2), _r(0, 2), 1.0), {}), ValueError, "data is empty"),
    (lambda: ((_r(4, 2), _r(5, 2), 0.0), {}), ValueError, "bandwidth must be a finite number > 0"),
    (lambda: ((_r(4, 2), _r(5, 2), -1.0), {}), ValueError, "bandwidth must be a finite number > 0"),
    (lambda: ((_r(4, 2), _r(5, 2), math.inf), {}), ValueError, "bandwidth must be a finite number > 0"),
    (lambda: ((_r(4, 2), _r(5, 2), math.nan), {}), ValueError, "bandwidth must be a finite number > 0"),
    (lambda: ((_r(4, 2), _r(5, 2), 1.0), {"kernel": "gauss"}), ValueError, "unknown kernel 'gauss'"),
    (lambda: ((_r(4, 2), _r(5, 2), 1.0), {"weights": torch.ones(4)}), ValueError,
     r"weights must be a tensor of shape \(5,\)"),
    (lambda: ((_r(4, 2), _r(5, 2), 1.0), {"weights": -torch.ones(5)}), ValueError, "weights must be >= 0"),
    (lambda: ((_r(4, 2), _r(5, 2, dtype=torch.float64), 1.0), {}), ValueError, "must share dtype and device"),
    (lambda: ((torch.ones(4, 2, dtype=torch.long), _r(5, 2), 1.0), {}), TypeError, "floating-point tensor"),
    (lambda: ((_r(4, 2).numpy(), _r(5, 2), 1.0), {}), TypeError, "floating-point tensor"),
]

FUZZ = {OP: fuzz.Spec(valid=kernel_sum_cases(), invalid=st.sampled_from(BAD).map(lambda b: (b[0](), b[1], b[2])),
                      finite=False, check=no_nan_no_plus_inf, layout_args=(0, 1))}


def test_fuzz_backends_finite_and_layouts():
    ran = fuzz.check_valid(OP, FUZZ[OP])
    assert ran["blocked"] >= 1


def test_fuzz_out_of_contract_inputs_raise():
    fuzz.check_invalid(OP, FUZZ[OP])


def test_fuzz_covers_every_operator():
    fuzz.check_coverage(FUZZ, plugin="kde")


def test_fuzz_triton_backend_interpreted():
    ran = fuzz.check_interpreted([OP], f"{__file__}::FUZZ", max_examples=6)
    assert ran[OP].get("triton", 0) >= 1, ran
