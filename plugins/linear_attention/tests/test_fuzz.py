"""Fuzzing the linear-attention operators (hypothesis, through ``hyperzoo.core.fuzz``): batch, heads, lengths and
head dims just off powers of two (so never a multiple of the chunk), cross-attention lengths (M ≠ N) non-causally,
every mode (chunk, recurrent, quadratic) and chunk sizes that do and do not divide N, initial states (the final state
of an earlier call on a random prefix, so they are states the operator can produce) and final states out, float32
and float64, query/key magnitudes from 1e-3 to 1e2 and values of extreme magnitude, non-contiguous and broadcast
inputs. Finite inputs give finite outputs and gradients; every backend that can run equals the reference; each
result equals the written-out masked quadratic form in float64 (``Spec.check``); out-of-contract inputs raise the
documented error. The Triton backends of ``linear`` and ``nala`` are fuzzed under ``TRITON_INTERPRET=1``."""

import pytest
import torch
from hypothesis import strategies as st

from hyperzoo import core
from hyperzoo.core import fuzz
from hyperzoo.linear_attention.ops import favor as _favor

MODES = ("chunk", "recurrent", "quadratic")


def _t(draw, shape, dtype, scale_exp, grad=None):
    g = draw(st.booleans()) if grad is None else grad
    return fuzz.randn(draw, shape, dtype, scale_exp=scale_exp, requires_grad=g)


def _common(draw, op, *, small=False, n_max=70, d_max=17, same_len=False, modes=MODES):
    """Shapes, dtype and the options every operator shares; returns (dtype, (b, h, n, m, d, dv), kwargs)."""
    dtype = torch.float32 if small else draw(fuzz.dtypes())
    b, h = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    causal = draw(st.booleans())
    n = draw(fuzz.lengths(33 if small else n_max))   # the interpreter runs every program in Python: short
    m = n if (causal or same_len or draw(st.booleans())) else draw(fuzz.lengths(33 if small else n_max))
    d = draw(fuzz.lengths(d_max, min_value=1))
    dv = draw(st.sampled_from([1, 2, 5, 9, 70])) if not small else draw(st.sampled_from([1, 5, 70]))
    kw = {"causal": causal, "mode": "chunk" if small else draw(st.sampled_from(modes)),
          "chunk_size": draw(st.sampled_from([1, 3, 16, 64, 100])),
          "output_final_state": draw(st.booleans())}
    if draw(st.booleans()):
        kw["eps"] = draw(st.sampled_from([0.0, 1e-6, 1e-2]))
    return dtype, (b, h, n, m, d, dv), kw


def _with_state(draw, name, args, kwargs, dtype, shape, allow=True):
    """Sometimes an initial state: the final state of a non-causal call on a random prefix of ``p`` keys."""
    if not allow or not draw(st.booleans()):
        return args, kwargs
    b, h, _, _, d, dv = shape
    p = draw(st.integers(1, 9))
    first, rest = args[:3], args[3:]
    prefix_q = fuzz.randn(draw, (b, h, p, first[0].shape[-1]), dtype, scale_exp=0)
    if name == "linear_attention.hamming":
        prefix_q = torch.where(prefix_q >= 0, 1.0, -1.0).to(dtype)
    prefix_k = prefix_q.flip(2) if name == "linear_attention.hamming" else \
        fuzz.randn(draw, (b, h, p, first[1].shape[-1]), dtype, scale_exp=0)
    prefix_v = fuzz.randn(draw, (b, h, p, dv), dtype, scale_exp=0)
    opts = {k: v for k, v in kwargs.items() if k not in ("causal", "mode", "chunk_size", "output_final_state", "eps")}
    with torch.no_grad():
        _, (s, z) = core.get_operator(name).reference(prefix_q, prefix_k, prefix_v, *rest, output_final_state=True,
                                                      mode="quadratic", **opts)
    grad = draw(st.booleans())
    return args, {**kwargs, "initial_state": (s.detach().requires_grad_(grad), z.detach().requires_grad_(grad))}


def _qk_exp(draw):
    return draw(st.sampled_from([-3, -1, 0, 0, 0, 1, 2]))


def _v_exp(draw, dtype):
    return draw(fuzz.exponent(dtype, share=0.4))


@st.composite
def linear_cases(draw, small=False):
    name = "linear_attention.linear"
    dtype, shape, kw = _common(draw, name, small=small)
    b, h, n, m, d, dv = shape
    fmap = draw(st.sampled_from(["elu", "relu", "identity"]))
    kw["feature_map"] = fmap
    e = _qk_exp(draw)
    q, k = _t(draw, (b, h, n, d), dtype, e), _t(draw, (b, h, m, d), dtype, e)
    v = _t(draw, (b, h, m, dv), dtype, _v_exp(draw, dtype))
    if fmap == "identity" or draw(st.integers(0, 4)) == 0:
        kw["normalize"] = False   # an identity map's denominator can vanish: it is used unnormalised
    return _with_state(draw, name, (q, k, v), kw, dtype, shape)


@st.composite
def nala_cases(draw, small=False):
    name = "linear_attention.nala"
    dtype, shape, kw = _common(draw, name, small=small, d_max=17)
    b, h, n, m, d, dv = shape
    e = _qk_exp(draw)
    q, k = _t(draw, (b, h, n, d), dtype, e), _t(draw, (b, h, m, d), dtype, e)
    v = _t(draw, (b, h, m, dv), dtype, _v_exp(draw, dtype))
    kw["max_power"] = draw(st.sampled_from([1.0, 2.0, 3.0, 5.5]))
    if draw(st.booleans()):
        kw["norm_scale"] = draw(st.sampled_from([0.1, 1.0, 30.0]))
    return _with_state(draw, name, (q, k, v), kw, dtype, shape)


@st.composite
def hamming_cases(draw):
    name = "linear_attention.hamming"
    dtype, shape, kw = _common(draw, name)
    b, h, n, m, d, dv = shape
    kw["self_term"] = draw(st.sampled_from(["sum", "value"]))
    if kw["self_term"] == "value":
        m = n
        shape = (b, h, n, m, d, dv)

    def codes(t):
        return torch.where(fuzz.randn(draw, t, dtype, scale_exp=0) >= 0, 1.0, -1.0).to(dtype).requires_grad_(
            draw(st.booleans()))

    hq, hk = codes((b, h, n, d)), codes((b, h, m, d))
    v = _t(draw, (b, h, m, dv), dtype, _v_exp(draw, dtype))
    return _with_state(draw, name, (hq, hk, v), kw, dtype, shape)


@st.composite
def angular_cases(draw):
    name = "linear_attention.angular"
    dtype, shape, kw = _common(draw, name)
    b, h, n, m, d, dv = shape
    e = _qk_exp(draw)
    q, k = _t(draw, (b, h, n, d), dtype, e), _t(draw, (b, h, m, d), dtype, e)
    v = _t(draw, (b, h, m, dv), dtype, _v_exp(draw, dtype))
    kw["binary"] = draw(st.booleans())
    return _with_state(draw, name, (q, k, v), kw, dtype, shape)


@st.composite
def favor_cases(draw):
    name = "linear_attention.favor"
    dtype, shape, kw = _common(draw, name)
    b, h, n, m, d, dv = shape
    # keys in absolute units (causal, or states in or out) need exp(ωᵀk̃ − ‖k̃‖²/2) within the dtype's range: the
    # documented contract; unit magnitudes there, up to 1e2 on the shifted non-causal path
    e = draw(st.sampled_from([-3, -1, 0])) if kw["causal"] or kw["output_final_state"] else _qk_exp(draw)
    if kw.get("eps") == 0.0:   # documented: eps = 0 with underflowing (subnormal) denominators has no finite gradient
        kw["eps"] = 1e-6
    q, k = _t(draw, (b, h, n, d), dtype, e), _t(draw, (b, h, m, d), dtype, e)
    v = _t(draw, (b, h, m, dv), dtype, _v_exp(draw, dtype))
    proj = _favor.gaussian_projection(draw(fuzz.lengths(40)), d, orthogonal=draw(st.booleans()), dtype=dtype,
                                      generator=torch.Generator().manual_seed(draw(st.integers(0, 999))))
    if draw(st.booleans()):
        kw["scale"] = draw(st.sampled_from([0.05, 0.5]))
    return _with_state(draw, name, (q, k, v, proj), kw, dtype, shape, allow=e <= 0)


def _features(name, args, kwargs):
    """(fq, fk, fd) in float64 for the written-out form; fd the denominator's query features."""
    from hyperzoo.linear_attention.ops import angular as A
    from hyperzoo.linear_attention.ops import linear as L
    from hyperzoo.linear_attention.ops import nala as NA

    x = [a.detach().double() if isinstance(a, torch.Tensor) else a for a in args]
    if name == "linear_attention.linear":
        return L.apply_feature_map(x[0], kwargs["feature_map"]), L.apply_feature_map(x[1], kwargs["feature_map"])
    if name == "linear_attention.nala":
        p, s = kwargs.get("max_power", 3.0), kwargs.get("norm_scale")
        return NA.query_features_autograd(x[0], p, s), NA.key_features(x[1])
    if name == "linear_attention.angular":
        uq, uk = A.unit_codes(x[0], kwargs["binary"]), A.unit_codes(x[1], kwargs["binary"])
        return (torch.cat([uq / torch.pi, torch.full_like(uq[..., :1], 0.5)], -1),
                torch.cat([uk, torch.ones_like(uk[..., :1])], -1))
    if name == "linear_attention.hamming":
        b = x[0].shape[-1]
        return (torch.cat([x[0], torch.full_like(x[0][..., :1], b + 1.0)], -1),
                torch.cat([x[1], torch.ones_like(x[1][..., :1])], -1))
    raise KeyError(name)


def written_out(name):
    """The result equals o_i = (Σ_j A_ij v_j + fq_i S0) / (Σ_j A_ij + fq_i z0 + eps) with A = fq fkᵀ (tril when
    causal) in float64, whatever the mode; and the final state equals S0 + fkᵀv, z0 + fkᵀ1. (FAVOR+'s stabilising
    shifts cancel in the ratio but not in eps, so it is compared through the other properties only.)"""

    def check(args, kwargs, outs):
        fq, fk = _features(name, args, kwargs)
        v = args[2].detach().double()
        eps, causal = kwargs.get("eps", 1e-6), kwargs["causal"]
        st_ = kwargs.get("initial_state")
        s0, z0 = (None, None) if st_ is None else (st_[0].detach().double(), st_[1].detach().double())
        a = fq @ fk.transpose(-1, -2)
        if causal:
            a = a.tril()
        num, den = a @ v, a.sum(-1)
        if s0 is not None:
            num, den = num + fq @ s0, den + (fq @ z0.unsqueeze(-1)).squeeze(-1)
        if name == "linear_attention.hamming" and kwargs["self_term"] == "value":
            b = args[0].shape[-1]
            hq = fq.clone()
            hq[..., -1] = 0
            num = (hq @ fk.transpose(-1, -2)).tril() @ v if causal else (hq @ fk.transpose(-1, -2)) @ v
            if s0 is not None:
                num = num + hq @ s0
            want = (num + (b + 1.0) * v) / (den + eps).unsqueeze(-1)
        elif kwargs.get("normalize", True):
            d = den + eps
            want = num / d.masked_fill(d == 0, 1.0).unsqueeze(-1)
        else:
            want = num
        got = outs[0].double()
        f32 = args[0].dtype == torch.float32
        scale = max(1.0, float(want.abs().max())) if want.numel() else 1.0
        # float32 rounding of the features and of the sums: relative to the largest term |fq||fk||v| of the rows
        big = float((fq.abs() @ fk.abs().transpose(-1, -2) @ v.abs()).max()) if want.numel() else 0.0
        if kwargs.get("normalize", True) and name != "linear_attention.hamming":
            big = scale
        atol = (1e-4 if f32 else 1e-9) * max(scale, big)
        torch.testing.assert_close(got, want, rtol=1e-3 if f32 else 1e-9, atol=atol,
                                   msg=lambda msg: f"{name} differs from the written-out form: {msg}")
        if kwargs.get("output_final_state"):
            s, z = fk.transpose(-1, -2) @ v, fk.sum(-2)
            if s0 is not None:
                s, z = s + s0, z + z0
            for label, g, w in (("S", outs[1], s), ("z", outs[2], z)):
                sc = max(1.0, float(w.abs().max())) if w.numel() else 1.0
                big = float((fk.abs().transpose(-1, -2) @ v.abs()).max()) if label == "S" and w.numel() else sc
                torch.testing.assert_close(g.double(), w, rtol=1e-3 if f32 else 1e-9,
                                           atol=(1e-4 if f32 else 1e-9) * max(sc, big),
                                           msg=lambda msg, label=label: f"{name}: final {label} is wrong: {msg}")

    return check


def favor_matches_float64(args, kwargs, outs):
    """FAVOR+ equals itself evaluated in float64 (no overflow or underflow garbage from the stabilising shifts)."""
    x = [a.detach().double() if isinstance(a, torch.Tensor) else a for a in args]
    st_ = kwargs.get("initial_state")
    kw = {**kwargs, **({} if st_ is None else {"initial_state": tuple(t.detach().double() for t in st_)})}
    want = core.get_operator("linear_attention.favor").reference(*x, **kw)
    want = want[0] if isinstance(want, tuple) else want
    got = outs[0].double()
    f32 = args[0].dtype == torch.float32
    scale = max(1.0, float(want.abs().max())) if want.numel() else 1.0
    torch.testing.assert_close(got, want, rtol=1e-3 if f32 else 1e-9, atol=(1e-4 if f32 else 1e-9) * scale,
                               msg=lambda m: f"favor differs from its float64 value: {m}")


# ------------------------------------------------------------------------------------------- invalid inputs

def _x(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype)


def _bad(items):
    return st.sampled_from(items).map(lambda b: (b[0](), b[1], b[2]))


SHARED = [  # every operator checks (B, H, N, D) inputs the same way (codes of ±1 pass the hamming checks)
    (lambda: (torch.ones(2, 5, 4), torch.ones(1, 2, 5, 4), torch.ones(1, 2, 5, 3)), ValueError,
     r"q must have shape \(B, H, N, D\)"),
    (lambda: (torch.ones(1, 2, 5, 4), torch.ones(1, 3, 5, 4), torch.ones(1, 3, 5, 3)), ValueError,
     "must share batch and heads"),
    (lambda: (torch.ones(1, 2, 5, 4), torch.ones(1, 2, 6, 4), torch.ones(1, 2, 5, 3)), ValueError,
     "k and v must have the same number of tokens"),
    (lambda: (torch.ones(1, 2, 5, 4), torch.ones(1, 2, 5, 4, dtype=torch.float64), torch.ones(1, 2, 5, 3)),
     TypeError, "must share one dtype"),
    (lambda: (torch.ones(1, 2, 5, 4, dtype=torch.long),) * 3, TypeError, "q must be a floating-point tensor"),
    (lambda: (torch.ones(1, 2, 5, 4), torch.ones(1, 2, 5, 4), torch.full((1, 2, 5, 3), float("nan"))), ValueError,
     "v contains NaN or infinite values"),
]
OPTS = [  # options shared through check_options / check_state
    ({"mode": "parallel"}, ValueError, "mode must be one of"),
    ({"chunk_size": 0}, ValueError, "chunk_size must be a positive int"),
    ({"eps": -1.0}, ValueError, "eps must be >= 0"),
    ({"initial_state": (torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3))}, ValueError, "initial_state must be"),
    ({"initial_state": torch.zeros(1, 2, 3, 3)}, TypeError, "initial_state must be a pair"),
]


def ONES():
    return torch.ones(1, 2, 5, 4), torch.ones(1, 2, 5, 4), torch.ones(1, 2, 5, 3)


def _invalid(extra_args=(), extra_kw=None, own=()):
    extra_kw = extra_kw or {}
    out = [(lambda f=f, kw=extra_kw: ((*f(), *extra_args), dict(kw)), e, m) for f, e, m in SHARED]
    out += [(lambda o=o, kw=extra_kw: ((*ONES(), *extra_args), {**kw, **o}), e, m) for o, e, m in OPTS]
    out.append((lambda kw=extra_kw: ((torch.ones(1, 2, 5, 4), torch.ones(1, 2, 6, 4), torch.ones(1, 2, 6, 3),
                                      *extra_args), {**kw, "causal": True}), ValueError,
                "causal attention needs as many queries as keys"))
    return _bad(out + list(own))


P = torch.ones(6, 4)

FUZZ = {
    "linear_attention.linear": fuzz.Spec(
        valid=linear_cases(), check=written_out("linear_attention.linear"), max_examples=30,
        invalid=_invalid(own=[(lambda: (ONES(), {"feature_map": "softmax"}), ValueError,
                               "feature_map must be one of")])),
    "linear_attention.nala": fuzz.Spec(
        valid=nala_cases(), check=written_out("linear_attention.nala"), max_examples=30,
        invalid=_invalid(own=[(lambda: (ONES(), {"max_power": 0.5}), ValueError, "max_power must be >= 1"),
                              (lambda: (ONES(), {"norm_scale": 0.0}), ValueError, "norm_scale must be > 0"),
                              (lambda: (ONES(), {"initial_state": (torch.zeros(1, 2, 4, 3), torch.zeros(1, 2, 4))}),
                               ValueError, r"S of shape \(1, 2, 8, 3\)")])),
    "linear_attention.hamming": fuzz.Spec(
        valid=hamming_cases(), check=written_out("linear_attention.hamming"), max_examples=30,
        invalid=_invalid(own=[
            (lambda: ((torch.full((1, 2, 5, 4), 0.5), torch.ones(1, 2, 5, 4), torch.ones(1, 2, 5, 3)), {}),
             ValueError, r"hq must hold binary codes in \{-1, \+1\}"),
            (lambda: (ONES(), {"self_term": "both"}), ValueError, "self_term must be one of"),
            (lambda: ((torch.ones(1, 2, 5, 4), torch.ones(1, 2, 6, 4), torch.ones(1, 2, 6, 3)),
                      {"self_term": "value"}), ValueError, "needs as many queries as keys")])),
    "linear_attention.angular": fuzz.Spec(
        valid=angular_cases(), check=written_out("linear_attention.angular"), max_examples=30,
        invalid=_invalid()),
    "linear_attention.favor": fuzz.Spec(
        valid=favor_cases(), check=favor_matches_float64, max_examples=30, layout_args=(0, 1, 2, 3),
        invalid=_invalid(extra_args=(P,), own=[
            (lambda: ((*ONES(), torch.ones(6, 5)), {}), ValueError, r"projection must be a \(num_features, D\)"),
            (lambda: ((*ONES(), torch.ones(6)), {}), ValueError, r"projection must be a \(num_features, D\)")])),
}

# tiny float32 chunk-mode cases for the Triton kernels under the interpreter (slow: a few examples)
FUZZ_TRITON = {
    "linear_attention.linear": fuzz.Spec(valid=linear_cases(small=True)),
    "linear_attention.nala": fuzz.Spec(valid=nala_cases(small=True)),
}


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_fuzz_backends_finite_and_layouts(name):
    fuzz.check_valid(name, FUZZ[name])


@pytest.mark.parametrize("name", sorted(FUZZ))
def test_fuzz_out_of_contract_inputs_raise(name):
    fuzz.check_invalid(name, FUZZ[name])


def test_fuzz_covers_every_operator():
    fuzz.check_coverage(FUZZ, plugin="linear_attention")


def test_fuzz_triton_backends_interpreted():
    pytest.importorskip("triton", reason="needs triton (a test dependency): pip install triton")
    names = sorted(FUZZ_TRITON)
    ran = fuzz.check_interpreted(names, f"{__file__}::FUZZ_TRITON", max_examples=4)
    assert all(ran[n].get("triton", 0) >= 1 for n in names), ran
