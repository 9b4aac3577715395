"""Fuzzing ``hypernets.interval_linear`` (hypothesis, through ``hyperzoo.core.fuzz``): boxes with no rows, no
features or one output, sizes off every tile, float32 and float64, midpoints and radii from tiny to extreme (within
a share of the dtype's range so the products stay finite), point boxes (zero radii), with and without bias,
non-contiguous and broadcast inputs. Every backend that runs here equals the reference (the Triton one under the
interpreter); finite inputs give finite outputs and gradients; every radius out is >= 0 and sampled points of the
input boxes map into the output box; out-of-contract inputs raise the documented error. Replay a failure with the
``@reproduce_failure`` line it prints."""

import torch
from hypothesis import strategies as st

from hyperzoo.core import fuzz

OP = "hypernets.interval_linear"


@st.composite
def interval_linear_cases(draw):
    dtype = draw(fuzz.dtypes())
    n, k, m = draw(fuzz.lengths(70, min_value=0)), draw(fuzz.lengths(70, min_value=0)), draw(fuzz.lengths(70))
    grad = draw(st.booleans())

    def mid(shape):
        return fuzz.randn(draw, shape, dtype, scale_exp=draw(fuzz.exponent(dtype, share=0.4)), requires_grad=grad)

    def rad(shape):
        if draw(st.integers(0, 4)) == 0:  # a point box
            return torch.zeros(shape, dtype=dtype).requires_grad_(grad)
        return fuzz.randn(draw, shape, dtype, scale_exp=draw(fuzz.exponent(dtype, share=0.4)), positive=True,
                          requires_grad=grad)

    args = [mid((n, k)), rad((n, k)), mid((m, k)), rad((m, k))]
    if draw(st.booleans()):
        args += [mid((m,)), rad((m,))]
    return tuple(args), {}


def sound_box(args, kwargs, outs):
    """Radii are >= 0, and 16 points sampled from the input boxes (corners included) map into the output box, up
    to the rounding of the products: (K + 2)·eps·(|x_mid| + x_rad)(|W_mid| + W_rad)ᵀ (+ the bias box)."""
    y_mid, y_rad = (o.double() for o in outs)
    assert bool((y_rad >= 0).all()), "interval_linear returned a negative radius"
    xm, xr, wm, wr, *b = (t.detach().double() for t in args)
    bm, br = b if b else (torch.zeros(wm.shape[0], dtype=torch.float64),) * 2
    eps = torch.finfo(args[0].dtype).eps
    slack = (xm.shape[1] + 2) * eps * ((xm.abs() + xr) @ (wm.abs() + wr).T + bm.abs() + br)
    g = torch.Generator().manual_seed(0)
    for i in range(16):
        u = (lambda t: torch.randint(0, 2, t.shape, generator=g).double() * 2 - 1) if i < 4 else \
            (lambda t: torch.rand(t.shape, generator=g, dtype=torch.float64) * 2 - 1)
        y = (xm + xr * u(xr)) @ (wm + wr * u(wr)).T + bm + br * u(br)
        out = ((y - y_mid).abs() - y_rad - slack).clamp_min(0)
        assert not bool((out > 0).any()), f"a sampled point lies outside the output box by {float(out.max())}"


def _r(*shape, dtype=torch.float32, rad=False):
    return torch.rand(*shape, dtype=dtype) if rad else torch.randn(*shape, dtype=dtype)


BAD = [
    (lambda: ((_r(2, 3), -_r(2, 3, rad=True) - 0.1, _r(4, 3), _r(4, 3, rad=True)), {}), ValueError,
     "x_rad holds negative radii"),
    (lambda: ((_r(2, 3), _r(2, 3, rad=True), _r(4, 3), -_r(4, 3, rad=True) - 0.1), {}), ValueError,
     "w_rad holds negative radii"),
    (lambda: ((_r(2, 3), _r(2, 3, rad=True), _r(4, 3), _r(4, 3, rad=True), _r(4), -torch.ones(4)), {}), ValueError,
     "b_rad holds negative radii"),
    (lambda: ((_r(2, 3), _r(2, 3, rad=True), _r(4, 5), _r(4, 5, rad=True)), {}), ValueError,
     r"w_mid must be \(out, 3\)"),
    (lambda: ((_r(2, 3), _r(2, 3, rad=True), _r(4, 3), _r(4, 2, rad=True)), {}), ValueError, "w_rad has shape"),
    (lambda: ((_r(2, 3), _r(3, 2, rad=True), _r(4, 3), _r(4, 3, rad=True)), {}), ValueError, "x_rad has shape"),
    (lambda: ((_r(3), _r(3, rad=True), _r(4, 3), _r(4, 3, rad=True)), {}), ValueError, "x_mid must be 2-D"),
    (lambda: ((_r(2, 3), _r(2, 3, rad=True), _r(4, 3), _r(4, 3, rad=True), _r(4)), {}), ValueError,
     "give both b_mid and b_rad"),
    (lambda: ((_r(2, 3), _r(2, 3, rad=True), _r(4, 3), _r(4, 3, rad=True), _r(3), _r(3, rad=True)), {}),
     ValueError, r"b_mid and b_rad must have shape \(4,\)"),
    (lambda: ((_r(2, 3), _r(2, 3, dtype=torch.float64, rad=True), _r(4, 3), _r(4, 3, rad=True)), {}), TypeError,
     "cast them alike"),
    (lambda: ((torch.ones(2, 3, dtype=torch.long), _r(2, 3, rad=True), _r(4, 3), _r(4, 3, rad=True)), {}),
     TypeError, "x_mid must be floating-point"),
    (lambda: ((_r(2, 3).numpy(), _r(2, 3, rad=True), _r(4, 3), _r(4, 3, rad=True)), {}), TypeError,
     "x_mid must be a tensor"),
]

FUZZ = {OP: fuzz.Spec(valid=interval_linear_cases(), invalid=st.sampled_from(BAD).map(lambda b: (b[0](), b[1], b[2])),
                      check=sound_box)}


def test_fuzz_backends_finite_and_layouts():
    ran = fuzz.check_valid(OP, FUZZ[OP])
    assert ran["reference"] >= 1


def test_fuzz_out_of_contract_inputs_raise():
    fuzz.check_invalid(OP, FUZZ[OP])


def test_fuzz_covers_every_operator():
    fuzz.check_coverage(FUZZ, plugin="hypernets")


def test_fuzz_triton_backend_interpreted():
    ran = fuzz.check_interpreted([OP], f"{__file__}::FUZZ", max_examples=6)
    assert ran[OP].get("triton", 0) >= 1, ran
