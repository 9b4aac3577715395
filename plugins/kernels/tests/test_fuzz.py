"""Fuzzing the kernels operators (hypothesis, through ``hyperzoo.core.fuzz``): float32 and float64, sizes just off
powers of two, inputs of extreme magnitude within each operator's contract, non-contiguous and broadcast inputs,
x2 omitted (the self-Gram) or given. Finite inputs give finite outputs and gradients; every backend that can run
equals the reference (the Triton NNGP/NTK kernel under ``TRITON_INTERPRET=1``); out-of-contract inputs raise the
documented error.

Magnitudes: ``nngp_ntk`` and ``gsmp`` square their inputs (Σ⁰ = σ_w² x·x'/d, τ²), so their inputs span 10^±(40% of
the dtype's decimal range), where the squares stay finite; ``empirical_ntk`` multiplies Jacobians (J Jᵀ, products of
activations and weights over the layers), so its inputs span 10^±6; ``quantum_zz_kernel`` takes angles up to 10^6
(its pairwise phases (π − x_k)(π − x_l) beyond 2^53 rad keep no digit mod 2π, which it refuses with a clear
error, tested below).
``quantum_zz_kernel(shots=...)`` draws from a generator that fuzz cannot replay (the layout property calls the
operator twice), so shot noise is covered by its own tests, and here by the invalid cases."""

import pytest
import torch
from hypothesis import strategies as st
from torch import nn

import hyperzoo.kernels as K
from hyperzoo.core import fuzz
from hyperzoo.kernels.ops.empirical_ntk import IMPLEMENTATIONS
from hyperzoo.kernels.ops.nngp_ntk import nngp_ntk as _nngp_ntk_reference


@st.composite
def nngp_ntk_cases(draw):
    dtype = draw(fuzz.dtypes())
    n1, d = draw(fuzz.lengths(40)), draw(fuzz.lengths(33))
    e = draw(fuzz.exponent(dtype, share=0.4))
    x1 = fuzz.randn(draw, (n1, d), dtype, scale_exp=e, requires_grad=draw(st.booleans()))
    x2 = None
    if draw(st.booleans()):
        x2 = fuzz.randn(draw, (draw(fuzz.lengths(40)), d), dtype, scale_exp=e, requires_grad=draw(st.booleans()))
    kw = {"depth": draw(st.integers(0, 4)), "activation": draw(st.sampled_from(["relu", "erf"])),
          "weight_variance": draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])),
          "bias_variance": draw(st.sampled_from([0.0, 0.0, 0.1, 1.0]))}
    return (x1, x2), kw


def _symmetric_self_gram(args, kwargs, outs):
    """The self-Gram is symmetric, and float32 agrees with float64 on the same values (a float32 overflow that
    stays finite, e.g. (1 + 2Σ₁₁)(1 + 2Σ₂₂) = inf giving arcsin(0), would pass the finiteness property)."""
    xs = [a.detach().double() for a in args if a is not None]
    scale = max(kwargs["weight_variance"] * float(x.square().sum(1).max()) / x.shape[1] for x in xs)
    if args[1] is None:   # near ρ = 1 (equal rows) arccos turns a rounding of x·x' into √ε: tolerance 10√ε
        eps = torch.finfo(args[0].dtype).eps
        for o in outs:
            torch.testing.assert_close(o, o.transpose(0, 1), rtol=0.0,
                                       atol=10 * eps ** 0.5 * max(float(o.abs().max()), scale),
                                       msg=lambda m: f"the self-Gram is not symmetric: {m}")
    if args[0].dtype == torch.float32:
        ref = _nngp_ntk_reference(*[None if a is None else a.detach().double() for a in args], **kwargs)
        for o, r in zip(outs, ref):   # errors relative to the scale of the kernel (Σ⁰ on the diagonal)
            torch.testing.assert_close(o.double(), r, rtol=0.0, atol=2e-3 * max(float(r.abs().max()), scale),
                                       msg=lambda m: f"float32 differs from float64: {m}")


class _Affine(nn.Module):
    """A non-Linear parameter (a per-feature gain) between two linear layers: the structured NTK's mixed path."""

    def __init__(self, d):
        super().__init__()
        self.gain = nn.Parameter(torch.linspace(0.5, 1.5, d))

    def forward(self, x):
        return x * self.gain


def _model(draw, d, dtype):
    o = draw(st.integers(1, 3))
    h = draw(fuzz.lengths(17))
    torch.manual_seed(draw(st.integers(0, 999)))
    kind = draw(st.sampled_from(["mlp", "affine", "ntk", "frozen"]))
    if kind == "ntk":
        model = K.NTKMLP(d, width=h, depth=draw(st.integers(1, 2)), out_features=o,
                         activation=draw(st.sampled_from(["relu", "erf"])))
    else:
        act = draw(st.sampled_from([nn.Tanh, nn.ReLU]))
        layers = [nn.Linear(d, h), act()] + ([_Affine(h)] if kind == "affine" else []) + [nn.Linear(h, o)]
        model = nn.Sequential(*layers)
        if kind == "frozen":
            model[0].weight.requires_grad_(False)
    return model.to(dtype)


@st.composite
def empirical_ntk_cases(draw):
    dtype = draw(fuzz.dtypes())
    n1, d = draw(st.integers(1, 9)), draw(fuzz.lengths(9))
    e = draw(st.sampled_from([-6, -2, 0, 0, 2, 6]))
    lead = (draw(st.integers(1, 3)),) if draw(st.integers(0, 4)) == 0 else ()   # (n, c, d): Linear on the last axis
    x1 = fuzz.randn(draw, (n1, *lead, d), dtype, scale_exp=e)
    x2 = fuzz.randn(draw, (draw(st.integers(1, 9)), *lead, d), dtype, scale_exp=e) if draw(st.booleans()) else None
    return (_model(draw, d, dtype), x1, x2), {"implementation": draw(st.sampled_from(IMPLEMENTATIONS))}


def _ntk_shape(args, kwargs, outs):
    model, x1, x2 = args
    (out,) = outs
    n2 = x1.shape[0] if x2 is None else x2.shape[0]
    assert out.shape[:2] == (x1.shape[0], n2) and out.shape[2] == out.shape[3], tuple(out.shape)
    if x2 is None:
        torch.testing.assert_close(out, out.permute(1, 0, 3, 2), rtol=1e-4, atol=1e-6 * float(out.abs().max()),
                                   msg=lambda m: f"Θ̂(x, x) is not symmetric: {m}")


@st.composite
def quantum_cases(draw):
    dtype = draw(fuzz.dtypes())
    n, q = draw(st.integers(1, 12)), draw(st.integers(1, 6))
    e = draw(st.sampled_from([-30, -3, 0, 0, 0, 1, 2, 6]))   # 10^6: phases 10^12 rad, below the 2^53 limit
    x1 = fuzz.randn(draw, (n, q), dtype, scale_exp=e, requires_grad=draw(st.booleans()))
    x2 = fuzz.randn(draw, (draw(st.integers(1, 12)), q), dtype, scale_exp=e) if draw(st.booleans()) else None
    return (x1, x2), {"reps": draw(st.integers(1, 3)), "entanglement": draw(st.sampled_from(["full", "linear"]))}


def _fidelity(args, kwargs, outs):
    (k,) = outs
    assert bool(((k >= 0) & (k <= 1)).all()), "a fidelity outside [0, 1]"
    if args[1] is None:
        torch.testing.assert_close(k.diagonal(), torch.ones_like(k.diagonal()), rtol=0, atol=1e-4,
                                   msg=lambda m: f"k(x, x) != 1: {m}")


@st.composite
def gsmp_cases(draw):
    dtype = draw(fuzz.dtypes())
    n1, p, q = draw(fuzz.lengths(33)), draw(st.integers(1, 5)), draw(fuzz.lengths(17))
    e = draw(fuzz.exponent(dtype, share=0.4))
    x1 = fuzz.randn(draw, (n1, p), dtype, scale_exp=e, requires_grad=draw(st.booleans()))
    x2 = fuzz.randn(draw, (draw(fuzz.lengths(33)), p), dtype, scale_exp=e) if draw(st.booleans()) else None
    w = fuzz.randn(draw, (q,), dtype, scale_exp=draw(st.sampled_from([-3, 0, 2])), positive=True,
                   requires_grad=draw(st.booleans()))
    if draw(st.booleans()):
        w = (w.detach() * (torch.arange(q) % 2 == 0)).requires_grad_(w.requires_grad)   # sparse θ: exact zeros
    mu = fuzz.randn(draw, (q, p), dtype, scale_exp=0, positive=True, requires_grad=draw(st.booleans()))
    sig = fuzz.randn(draw, (q, p), dtype, scale_exp=draw(st.sampled_from([-2, -1, 0])), positive=True,
                     requires_grad=draw(st.booleans()))
    return (x1, x2, w, mu, sig), {"components": draw(st.booleans())}


def _bad(fn, exc, msg):
    return st.just((fn(), exc, msg))


X = torch.randn(4, 3)
NAN = X.clone().index_put_((torch.tensor([1]), torch.tensor([2])), torch.tensor(float("nan")))


def _mlp(d=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 5), nn.Tanh(), nn.Linear(5, 2))


def _frozen():
    m = _mlp()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


W, MU, SIG = torch.ones(2), torch.ones(2, 3), torch.ones(2, 3) * 0.1

FUZZ = {
    "kernels.nngp_ntk": fuzz.Spec(valid=nngp_ntk_cases(), check=_symmetric_self_gram, max_examples=40,
                                  invalid=st.one_of(
        _bad(lambda: ((X, torch.randn(4, 5)), {}), ValueError, "same number of features"),
        _bad(lambda: ((NAN,), {}), ValueError, "NaN or infinite"),
        _bad(lambda: ((X,), {"activation": "tanh"}), ValueError, "activation must be one of"),
        _bad(lambda: ((X,), {"depth": -1}), ValueError, "depth must be an int >= 0"),
        _bad(lambda: ((X,), {"weight_variance": 0.0}), ValueError, "weight_variance must be"),
        _bad(lambda: ((X,), {"bias_variance": -1.0}), ValueError, "bias_variance must be"),
        _bad(lambda: ((X, X.double()), {}), ValueError, "one dtype"),
        _bad(lambda: ((torch.randn(4),), {}), ValueError, r"2-D tensor \(n1, d\)"))),
    "kernels.empirical_ntk": fuzz.Spec(valid=empirical_ntk_cases(), check=_ntk_shape, layout_args=(1, 2),
                                       max_examples=30, invalid=st.one_of(
        _bad(lambda: ((_mlp(), NAN), {}), ValueError, "NaN or infinite"),
        _bad(lambda: ((_mlp(), X, torch.randn(2, 4)), {}), ValueError, "same per-example shape"),
        _bad(lambda: ((_mlp(), X), {"implementation": "fast"}), ValueError, "implementation must be one of"),
        _bad(lambda: ((lambda x: x, X), {}), TypeError, "torch.nn.Module"),
        _bad(lambda: ((_frozen(), X), {}), ValueError, "no parameters with requires_grad"),
        _bad(lambda: ((nn.Sequential(nn.BatchNorm1d(3), _mlp()).train(), X), {"implementation": "structured"}),
             ValueError, "BatchNorm in training mode"))),
    "kernels.quantum_zz_kernel": fuzz.Spec(valid=quantum_cases(), check=_fidelity, invalid=st.one_of(
        _bad(lambda: ((torch.randn(3, 13),), {}), ValueError, "12-qubit limit"),
        _bad(lambda: ((NAN,), {}), ValueError, "NaN or infinite"),
        _bad(lambda: ((X, torch.randn(2, 4)), {}), ValueError, "same number of features"),
        _bad(lambda: ((X,), {"reps": 0}), ValueError, "reps must be an int >= 1"),
        _bad(lambda: ((X,), {"entanglement": "ring"}), ValueError, "entanglement must be one of"),
        _bad(lambda: ((X,), {"shots": 0}), ValueError, "shots must be None"),
        _bad(lambda: ((X * 1e30,), {}), ValueError, "phase"),
        _bad(lambda: ((torch.ones(3, 2, dtype=torch.long),), {}), ValueError, "floating-point"))),
    "kernels.gsmp": fuzz.Spec(valid=gsmp_cases(), layout_args=(0, 1, 2, 3, 4), invalid=st.one_of(
        _bad(lambda: ((X, None, -W, MU, SIG), {}), ValueError, r"weights θ must be >= 0"),
        _bad(lambda: ((X, None, W, MU[:, :2], SIG), {}), ValueError, r"means must have shape \(Q, P\)"),
        _bad(lambda: ((X, None, W, MU, SIG[:1]), {}), ValueError, r"scales must have shape \(Q, P\)"),
        _bad(lambda: ((X, torch.randn(2, 4), W, MU, SIG), {}), ValueError, "same number of features"),
        _bad(lambda: ((NAN, None, W, MU, SIG), {}), ValueError, "NaN or infinite"),
        _bad(lambda: ((X, None, W[:, None], MU, SIG), {}), ValueError, "weights θ must be 1-D"),
        _bad(lambda: ((X[0], None, W, MU, SIG), {}), ValueError, r"2-D floating-point tensor \(n, P\)"))),
}


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_fuzz_backends_finite_and_layouts(name):
    fuzz.check_valid(name, FUZZ[name])


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_fuzz_out_of_contract_inputs_raise(name):
    fuzz.check_invalid(name, FUZZ[name])


def test_fuzz_covers_every_operator():
    fuzz.check_coverage(FUZZ, plugin="kernels")


def test_fuzz_triton_backend_interpreted():
    ran = fuzz.check_interpreted(["kernels.nngp_ntk"], f"{__file__}::FUZZ", max_examples=6)
    assert ran["kernels.nngp_ntk"].get("triton", 0) >= 1, ran
