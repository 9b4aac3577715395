"""The five operators: associativity, chunked == recurrent == masked quadratic (float64), states, gradients, errors."""

import math

import pytest
import torch

from hyperzoo import core
from hyperzoo.linear_attention.ops import angular as ang
from hyperzoo.linear_attention.ops import favor as fav
from hyperzoo.linear_attention.ops import nala as nl
from hyperzoo.linear_attention.ops.linear import apply_feature_map

OPS = ["linear", "nala", "hamming", "angular", "favor"]


def _inputs(name, oracle, n=11, m=None, seed=0, dtype=torch.float64):
    q, k, v = oracle.qkv(n=n, m=m, seed=seed, dtype=dtype)
    args, kw = (q, k, v), {}
    if name == "hamming":
        args = (torch.where(q >= 0, 1.0, -1.0).to(dtype), torch.where(k >= 0, 1.0, -1.0).to(dtype), v)
    if name == "favor":   # eps=0: the per-query stabiliser then cancels exactly (favor's features are positive)
        kw = {"projection": fav.gaussian_projection(16, q.shape[-1], generator=torch.Generator().manual_seed(1),
                                                    dtype=dtype), "eps": 0.0}
    return args, kw


def _features(name, args, kw):
    """(fq, fk) of each operator, written independently of the operator's call path."""
    q, k, _ = args
    if name == "linear":
        return apply_feature_map(q, "elu"), apply_feature_map(k, "elu")
    if name == "nala":
        return nl.query_features(q), nl.key_features(k)
    if name == "hamming":
        b = q.shape[-1]
        return torch.cat([q, torch.full_like(q[..., :1], b + 1.0)], -1), torch.cat([k, torch.ones_like(k[..., :1])], -1)
    if name == "angular":
        uq, uk = ang.unit_codes(q), ang.unit_codes(k)
        return (torch.cat([uq / math.pi, torch.full_like(uq[..., :1], 0.5)], -1),
                torch.cat([uk, torch.ones_like(uk[..., :1])], -1))
    s = q.shape[-1] ** -0.25
    return (fav.positive_features(q * s, kw["projection"]), fav.positive_features(k * s, kw["projection"]))


@pytest.mark.parametrize("fmap", ["elu", "relu"])
def test_non_causal_associativity_equals_row_normalised_explicit_form(fmap, oracle):
    q, k, v = oracle.qkv(n=9, m=13)
    got = core.get_operator("linear_attention.linear")(q, k, v, feature_map=fmap)
    fq, fk = apply_feature_map(q, fmap), apply_feature_map(k, fmap)
    a = fq @ fk.transpose(-1, -2)
    want = (a / (a.sum(-1, keepdim=True) + 1e-6)) @ v
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got, oracle.explicit(fq, fk, v), rtol=1e-12, atol=1e-12)


def _assert_causal_forms_equal_the_written_out_form(name, oracle, seed, block=1, **call):
    """chunk, recurrent and quadratic (with ``call``'s options) against the float64 loop oracle, states in and out;
    returns the oracle's features and initial state."""
    args, kw = _inputs(name, oracle)
    op = core.get_operator(f"linear_attention.{name}")
    fq, fk = _features(name, args, kw)
    g = torch.Generator().manual_seed(seed)
    s0 = torch.rand(2, 3, fq.shape[-1], 5, generator=g, dtype=torch.float64)
    z0 = torch.rand(2, 3, fq.shape[-1], generator=g, dtype=torch.float64) + 0.5
    want = oracle.explicit(fq, fk, args[2], causal=True, s0=s0, z0=z0, eps=kw.get("eps", 1e-6), block=block)
    want_s, want_z = oracle.state(fk, args[2], s0, z0)
    for mode in ("chunk", "recurrent", "quadratic"):
        o, (s, z) = op(*args, **kw, causal=True, mode=mode, initial_state=(s0, z0), output_final_state=True, **call)
        torch.testing.assert_close(o, want, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(s, want_s, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(z, want_z, rtol=1e-12, atol=1e-12)
    return want, (fq, fk, args[2], s0, z0, kw.get("eps", 1e-6))


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("chunk", [1, 4, 11, 16])   # 4 and 16 do not divide N = 11
def test_causal_chunked_equals_recurrent_equals_masked_quadratic(name, chunk, oracle):
    _assert_causal_forms_equal_the_written_out_form(name, oracle, 5, chunk_size=chunk)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("block", [2, 4, 16])   # N = 11: blocks that do and do not divide it, one longer than N
def test_blockwise_causal_forms_equal_the_block_masked_quadratic_form(name, block, oracle):
    """fla#411: a query sees every key of its block and of the blocks before (bidirectional within a block)."""
    want, (fq, fk, v, s0, z0, eps) = _assert_causal_forms_equal_the_written_out_form(
        name, oracle, 6, block=block, block_size=block)
    assert not torch.allclose(want, oracle.explicit(fq, fk, v, causal=True, s0=s0, z0=z0, eps=eps))  # not token-causal


@pytest.mark.parametrize("name", ["linear", "nala"])
def test_blockwise_causal_chunked_gradients_match_finite_differences(name, oracle):
    q, k, v = (t[:1, :2, :7].clone().requires_grad_() for t in oracle.qkv())
    s0 = torch.rand(1, 2, 4 if name == "linear" else 8, 5, dtype=torch.float64, requires_grad=True)
    z0 = (torch.rand(1, 2, s0.shape[2], dtype=torch.float64) + 0.5).requires_grad_()
    op = core.get_operator(f"linear_attention.{name}")

    def f(q, k, v, s0, z0):
        o, (s, z) = op(q, k, v, causal=True, block_size=3, initial_state=(s0, z0), output_final_state=True)
        return o, s, z
    assert torch.autograd.gradcheck(f, (q, k, v, s0, z0))


def test_blockwise_causal_options_are_checked():
    q = k = v = torch.randn(1, 1, 6, 4)
    op = core.get_operator("linear_attention.linear")
    with pytest.raises(ValueError, match="block_size must be a positive int"):
        op(q, k, v, causal=True, block_size=0)
    with pytest.raises(ValueError, match="blockwise-causal attention: pass causal=True"):
        op(q, k, v, block_size=3)
    torch.testing.assert_close(op(q, k, v, causal=True, block_size=1), op(q, k, v, causal=True))
    torch.testing.assert_close(op(q, k, v, causal=True, block_size=6), op(q, k, v))   # one block: non-causal


@pytest.mark.parametrize("name", OPS)
def test_state_carries_a_sequence_split_in_two(name, oracle):
    args, kw = _inputs(name, oracle, n=13)
    op = core.get_operator(f"linear_attention.{name}")
    whole = op(*args, **kw, causal=True, chunk_size=4)
    first = op(*(a[:, :, :6] for a in args), **kw, causal=True, chunk_size=4, output_final_state=True)
    second = op(*(a[:, :, 6:] for a in args), **kw, causal=True, chunk_size=4, initial_state=first[1])
    torch.testing.assert_close(torch.cat([first[0], second], 2), whole, rtol=1e-10, atol=1e-12)
    # decoding token by token with mode="recurrent" gives the same outputs
    state, outs = None, []
    for t in range(13):
        o, state = op(*(a[:, :, t:t + 1] for a in args), **kw, causal=True, mode="recurrent",
                      initial_state=state, output_final_state=True)
        outs.append(o)
    torch.testing.assert_close(torch.cat(outs, 2), whole, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", OPS)
def test_non_causal_with_initial_state_and_cross_lengths(name, oracle):
    args, kw = _inputs(name, oracle, n=7, m=7 if name == "hamming" else 12)
    fq, fk = _features(name, args, kw)
    s0 = torch.rand(2, 3, fq.shape[-1], 5, dtype=torch.float64)
    z0 = torch.rand(2, 3, fq.shape[-1], dtype=torch.float64) + 0.5
    op = core.get_operator(f"linear_attention.{name}")
    for mode in ("chunk", "recurrent", "quadratic"):
        o = op(*args, **kw, mode=mode, initial_state=(s0, z0))
        want = oracle.explicit(fq, fk, args[2], s0=s0, z0=z0, eps=kw.get("eps", 1e-6))
        torch.testing.assert_close(o, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["linear", "nala", "angular", "favor"])
def test_gradients_match_finite_differences(name, oracle):
    args, kw = _inputs(name, oracle, n=6)
    args = tuple(a[:1, :1].clone().requires_grad_() for a in args)
    op = core.get_operator(f"linear_attention.{name}")
    if name == "angular":   # the sign's straight-through gradient is not the derivative: check v only
        q, k, v = (a.detach() for a in args)
        assert torch.autograd.gradcheck(lambda v_: op(q, k, v_, causal=True, chunk_size=4), (v.requires_grad_(),))
        return
    for causal in (False, True):
        assert torch.autograd.gradcheck(lambda *a, c=causal: op(*a, **kw, causal=c, chunk_size=4), args)


def test_identity_map_unnormalised_is_plain_causal_product(oracle):
    q, k, v = oracle.qkv(n=10)
    o = core.get_operator("linear_attention.linear")(q, k, v, feature_map="identity", normalize=False, causal=True,
                                                    chunk_size=3)
    want = ((q @ k.transpose(-1, -2)).tril()) @ v
    torch.testing.assert_close(o, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", OPS)
def test_no_nans_for_large_and_zero_inputs(name, oracle):
    """fla#77/#122: NaN-free forward and backward, here with huge and all-zero rows, in float32."""
    args, kw = _inputs(name, oracle, n=70, dtype=torch.float32)
    q, k, v = args
    if name != "hamming":
        q, k = q * 30, k * 30
        q[:, :, 3], k[:, :, 5] = 0.0, 0.0
    q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
    if name == "favor":   # default eps: with huge norms a causal prefix of keys can underflow entirely
        kw = {"projection": kw["projection"].float()}
    op = core.get_operator(f"linear_attention.{name}")
    for causal in (False, True):
        o = op(q, k, v, **kw, causal=causal, chunk_size=16)
        o.square().sum().backward()
        assert torch.isfinite(o).all()
        assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


@pytest.mark.parametrize("causal", [False, True])
def test_a_weightless_row_outputs_zero_and_passes_no_gradient(causal):
    """With eps=0 a query whose elu+1 features underflow (e^-100 ≈ 4e-44) has a denormal denominator: every form
    outputs 0 for it and passes it no gradient; the fuzz suite found the backward's do/d overflowing to NaN there."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 9, 4, generator=g) for _ in range(3))
    q[0, 1, 2] = -100.0
    op = core.get_operator("linear_attention.linear")
    outs, grads = [], []
    for mode in ("chunk", "recurrent", "quadratic") if causal else ("chunk", "quadratic"):
        qq, kk, vv = (t.clone().requires_grad_() for t in (q, k, v))
        o = op(qq, kk, vv, causal=causal, mode=mode, chunk_size=4, eps=0.0)
        o.square().sum().backward()
        assert all(torch.isfinite(t.grad).all() for t in (qq, kk, vv)), mode
        assert o[0, 1, 2].eq(0).all() and qq.grad[0, 1, 2].eq(0).all(), mode
        outs.append(o.detach())
        grads.append(torch.cat([t.grad.flatten() for t in (qq, kk, vv)]))
    want = op(q.double(), k.double(), v.double(), causal=causal, eps=0.0)
    want[0, 1, 2] = 0.0                     # float64's denominator (4e-43) is a normal number: that row has weight
    for o, gr in zip(outs, grads):
        torch.testing.assert_close(o, want.float(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(gr, grads[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad,match", [
    (dict(q=torch.randn(2, 3, 8)), r"q must have shape \(B, H, N, D\)"),
    (dict(k=torch.randn(2, 4, 8, 4)), "share batch and heads"),
    (dict(v=torch.randn(2, 3, 7, 4)), "k and v must have the same number of tokens"),
    (dict(k=torch.randn(2, 3, 8, 5)), "same head dim"),
    (dict(q=torch.randn(2, 3, 8, 4).double()), "share one dtype"),
    (dict(q=torch.ones(2, 3, 8, 4, dtype=torch.long)), "floating-point"),
    (dict(v=torch.full((2, 3, 8, 4), float("nan"))), "v contains NaN"),
    (dict(mode="scan"), "mode must be one of"),
    (dict(chunk_size=0), "chunk_size must be a positive int"),
    (dict(feature_map="softplus"), "feature_map must be one of"),
    (dict(k=torch.randn(2, 3, 9, 4), v=torch.randn(2, 3, 9, 4), causal=True), "causal attention needs as many"),
    (dict(initial_state=(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 5))), r"initial_state must be \(S, z\)"),
])
def test_bad_input_errors_name_the_argument(bad, match):
    kw = dict(q=torch.randn(2, 3, 8, 4), k=torch.randn(2, 3, 8, 4), v=torch.randn(2, 3, 8, 4))
    kw.update(bad)
    q, k, v = kw.pop("q"), kw.pop("k"), kw.pop("v")
    with pytest.raises((ValueError, TypeError), match=match):
        core.get_operator("linear_attention.linear")(q, k, v, **kw)


def test_other_operators_reject_their_bad_inputs():
    x = torch.randn(1, 2, 6, 4)
    with pytest.raises(ValueError, match=r"hq must hold binary codes in \{-1, \+1\}"):
        core.get_operator("linear_attention.hamming")(x, torch.sign(x), x)
    with pytest.raises(ValueError, match="self_term must be one of"):
        core.get_operator("linear_attention.hamming")(torch.sign(x), torch.sign(x), x, self_term="own")
    with pytest.raises(ValueError, match=r"projection must be a \(num_features, D\)"):
        core.get_operator("linear_attention.favor")(x, x, x, torch.randn(8, 5))
    with pytest.raises(ValueError, match="max_power must be >= 1"):
        core.get_operator("linear_attention.nala")(x, x, x, max_power=0.5)
    with pytest.raises(ValueError, match=r"S of shape \(1, 2, 8, 4\)"):
        core.get_operator("linear_attention.nala")(x, x, x, initial_state=(torch.zeros(1, 2, 4, 4),
                                                                           torch.zeros(1, 2, 4)))


@pytest.mark.parametrize("causal", [False, True])
def test_state_gradients_match_finite_differences(causal, oracle):
    """Gradients of the initial state and through the final state (chunked, N not a multiple of the chunk)."""
    q, k, v = (t[:1, :1] for t in oracle.qkv(n=7, d=3, dv=2))
    s0 = torch.rand(1, 1, 3, 2, dtype=torch.float64, requires_grad=True)
    z0 = (torch.rand(1, 1, 3, dtype=torch.float64) + 0.5).requires_grad_()
    op = core.get_operator("linear_attention.linear")

    def f(q_, k_, v_, s_, z_):
        o, (s, z) = op(q_, k_, v_, causal=causal, chunk_size=3, initial_state=(s_, z_), output_final_state=True)
        return o, s, z

    assert torch.autograd.gradcheck(f, tuple(t.clone().requires_grad_() for t in (q, k, v)) + (s0, z0))


def test_nala_hand_written_feature_backward_equals_autograd(oracle):
    q = oracle.qkv(n=9, d=6)[0].requires_grad_()
    g = torch.randn(2, 3, 9, 12, dtype=torch.float64)
    (a,) = torch.autograd.grad(nl.query_features(q), q, g)
    (b,) = torch.autograd.grad(nl.query_features_autograd(q), q, g)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(nl.query_features(q), nl.query_features_autograd(q), rtol=1e-13, atol=1e-14)
