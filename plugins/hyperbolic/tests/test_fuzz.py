"""Fuzzing the hyperbolic operators (hypothesis, through ``hyperzoo.core.fuzz``): ball points from exp₀ of tangent
vectors of any magnitude (so up to the boundary radius), widths just off powers of two, float32 and float64,
weights and offsets of extreme magnitude, non-contiguous and broadcast inputs. Finite inputs give finite outputs and
gradients; every backend that can run equals the reference; out-of-contract inputs raise the documented error.
Points of the ball keep their drawn layout (fuzz's "broadcast" layout copies one coordinate along the vector axis,
which can move a point out of the ball); weights, offsets and the head's inputs take every layout."""

import pytest
import torch
from hypothesis import strategies as st

import hyperzoo.hyperbolic as H
from hyperzoo.core import fuzz


def _points(draw, shape, dtype, dim=-1, c=1.0):
    u = fuzz.randn(draw, shape, dtype, scale_exp=draw(st.sampled_from([-3, 0, 0, 1, 2, 30])))
    return H.expmap0(u, dim=dim, c=c).detach().requires_grad_(draw(st.booleans()))


@st.composite
def matvec_cases(draw):
    dtype = draw(fuzz.dtypes())
    n, d, o = draw(st.integers(1, 9)), draw(fuzz.lengths(17)), draw(fuzz.lengths(9))
    m = fuzz.randn(draw, (o, d), dtype, scale_exp=draw(st.sampled_from([-2, 0, 2])), requires_grad=draw(st.booleans()))
    c = draw(st.sampled_from([0.3, 1.0, 2.0]))
    return (m, _points(draw, (n, d), dtype, c=c)), {"c": c}


@st.composite
def midpoint_cases(draw):
    dtype = draw(fuzz.dtypes())
    n, d = draw(st.integers(1, 12)), draw(fuzz.lengths(17))
    w = fuzz.randn(draw, (n,), dtype, scale_exp=0, positive=True) if draw(st.booleans()) else None
    c = draw(st.sampled_from([0.5, 1.0, 2.0]))
    return (_points(draw, (n, d), dtype, c=c), w), {"c": c}


@st.composite
def fc_cases(draw):
    dtype = draw(fuzz.dtypes())
    n, i, o = draw(st.integers(1, 9)), draw(fuzz.lengths(17)), draw(fuzz.lengths(17))
    z = fuzz.randn(draw, (i, o), dtype, scale_exp=draw(fuzz.exponent(dtype, share=0.4)),
                   requires_grad=draw(st.booleans()))
    r = fuzz.randn(draw, (o,), dtype, scale_exp=0, requires_grad=draw(st.booleans())) if draw(st.booleans()) else None
    c = draw(st.sampled_from([0.5, 1.0, 2.0]))
    return (_points(draw, (n, i), dtype, c=c), z, r), {"c": c}


@st.composite
def conv_cases(draw):
    dtype = draw(fuzz.dtypes())
    b, ch, h, w, o = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(3, 6)), \
        draw(st.integers(3, 6)), draw(st.integers(1, 5))
    k = draw(st.sampled_from([1, 3]))
    x = _points(draw, (b, ch, h, w), dtype, dim=1)
    z = fuzz.randn(draw, (ch * k * k, o), dtype, scale_exp=draw(st.sampled_from([-2, 0, 1])),
                   requires_grad=draw(st.booleans()))
    r = fuzz.randn(draw, (o,), dtype, scale_exp=0) if draw(st.booleans()) else None
    return (x, z, r), {"kernel_size": k, "stride": draw(st.sampled_from([1, 2])), "padding": draw(st.integers(0, 1))}


@st.composite
def head_cases(draw):
    dtype = draw(fuzz.dtypes())
    n, m = draw(st.integers(1, 9)), draw(fuzz.lengths(33))
    p = fuzz.randn(draw, (n, m), dtype, scale_exp=draw(st.sampled_from([-3, 0, 1, 3])), requires_grad=True)
    lam = 2 / (1 - torch.rand(n, 1, generator=torch.Generator().manual_seed(draw(st.integers(0, 99))),
                              dtype=torch.float64) * draw(st.sampled_from([0.5, 0.999, 1 - 1e-6])))
    alpha, beta = lam.to(dtype).requires_grad_(), (lam - 1).to(dtype).requires_grad_()
    zn = fuzz.randn(draw, (m,), dtype, scale_exp=0, positive=True, requires_grad=True)
    r = fuzz.randn(draw, (m,), dtype, scale_exp=0, requires_grad=True) if draw(st.booleans()) else None
    return (p, alpha, beta, zn, r), {"c": 1.0}


def _bad(fn, exc, msg):
    return st.just((fn(), exc, msg))


X = torch.full((3, 4), 0.1)
FUZZ = {
    "hyperbolic.mobius_matvec": fuzz.Spec(valid=matvec_cases(), layout_args=(0,), invalid=st.one_of(
        _bad(lambda: ((torch.randn(2, 5), X), {}), ValueError, "m must be"),
        _bad(lambda: ((torch.randn(2, 4), X * 10), {}), H.BallError, "outside the Poincaré ball"),
        _bad(lambda: ((torch.randn(2, 4), X), {"c": -1.0}), ValueError, "curvature"))),
    "hyperbolic.midpoint": fuzz.Spec(valid=midpoint_cases(), layout_args=(1,), invalid=st.one_of(
        _bad(lambda: ((X, -torch.ones(3)), {}), ValueError, "weights must be >= 0"),
        _bad(lambda: ((X * 10,), {}), H.BallError, "outside"))),
    "hyperbolic.poincare_fc": fuzz.Spec(valid=fc_cases(), layout_args=(1, 2), invalid=st.one_of(
        _bad(lambda: ((X, torch.randn(5, 2)), {}), ValueError, r"z must be \(in, out\)"),
        _bad(lambda: ((X, torch.randn(4, 2), torch.zeros(3)), {}), ValueError, "r must have shape"),
        _bad(lambda: ((X * 10, torch.randn(4, 2)), {}), H.BallError, "outside"))),
    "hyperbolic.poincare_conv2d": fuzz.Spec(valid=conv_cases(), max_examples=15, layout_args=(1, 2), invalid=st.one_of(
        _bad(lambda: ((X, torch.randn(36, 2)), {}), ValueError, r"\(B, C, H, W\)"),
        _bad(lambda: ((torch.full((1, 4, 3, 3), 0.1), torch.randn(5, 2)), {"kernel_size": 1}), ValueError,
             "C·kh·kw"))),
    "hyperbolic.poincare_fc_head": fuzz.Spec(valid=head_cases(), invalid=st.one_of(
        _bad(lambda: ((torch.zeros(3), torch.zeros(3, 1), torch.zeros(3, 1), torch.ones(3)), {}), ValueError,
             "p must be"),
        _bad(lambda: ((torch.zeros(3, 2), torch.zeros(2, 1), torch.zeros(3, 1), torch.ones(2)), {}), ValueError,
             "alpha must have shape"))),
}


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_fuzz_backends_finite_and_layouts(name):
    fuzz.check_valid(name, FUZZ[name])


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_fuzz_out_of_contract_inputs_raise(name):
    fuzz.check_invalid(name, FUZZ[name])


def test_fuzz_covers_every_operator():
    fuzz.check_coverage(FUZZ, plugin="hyperbolic")
