"""Per-method properties: NaLa's kernel, EcoFormer's hashing, ShiftAddViT's angular kernel and experts, random
features (FAVOR+, SNNK): closed forms, written-out equations and convergence rates."""

import math

import numpy as np
import pytest
import torch

from hyperzoo import core
from hyperzoo.linear_attention import urf
from hyperzoo.linear_attention.hashing import KernelHash, SignSTE, similarity_targets
from hyperzoo.linear_attention.ops import angular as ang
from hyperzoo.linear_attention.ops import favor as fav
from hyperzoo.linear_attention.ops import nala as nl
from hyperzoo.linear_attention.shiftadd import ShiftAddMoE, ShiftLinear, power_of_two
from hyperzoo.linear_attention.snnk import SNNK


# -- NaLa ------------------------------------------------------------------------------------------------------
def _nala_written_out(q, k, v, max_power=3.0, causal=False):
    """The docstring's equations element by element (numpy loops, float64)."""
    q, k, v = (np.asarray(t, np.float64) for t in (q, k, v))
    n, d = q.shape
    out = np.zeros((n, v.shape[1]))
    for i in range(n):
        r = math.sqrt(sum(x * x for x in q[i]))
        p = 1 + (max_power - 1) * math.tanh(r / math.sqrt(d))
        u = [max(x / r, 0.0) ** p for x in q[i]] + [max(-x / r, 0.0) ** p for x in q[i]]
        un = math.sqrt(sum(x * x for x in u))
        fq = [r * x / un for x in u]
        w = []
        for j in range(i + 1 if causal else k.shape[0]):
            fk = [max(x, 0.0) for x in k[j]] + [max(-x, 0.0) for x in k[j]]
            w.append(sum(a * b for a, b in zip(fq, fk)))
        w = np.array(w)
        out[i] = (w[:, None] * v[: len(w)]).sum(0) / w.sum()
    return out


@pytest.mark.parametrize("causal", [False, True])
def test_nala_equals_the_written_out_equations(causal, oracle):
    q, k, v = oracle.qkv(b=1, h=1, n=9, d=5, dv=3)
    got = core.get_operator("linear_attention.nala")(q, k, v, causal=causal, eps=0.0, chunk_size=4)
    want = _nala_written_out(q[0, 0], k[0, 0], v[0, 0], causal=causal)
    np.testing.assert_allclose(got[0, 0].numpy(), want, rtol=1e-12, atol=1e-12)


def test_nala_weights_non_negative_rows_sum_to_one_and_features_keep_the_norm(oracle):
    q, k, _ = oracle.qkv(n=12, d=6)
    w = nl.attention_weights(q, k)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(nl.query_features(q).norm(dim=-1), q.norm(dim=-1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(nl.key_features(k).norm(dim=-1), k.norm(dim=-1), rtol=1e-12, atol=1e-12)
    # opposite directions are suppressed to zero similarity
    assert ((nl.query_features(q) * nl.key_features(-q)).sum(-1) == 0).all()


def test_nala_row_entropy_does_not_increase_with_the_query_norm(oracle):
    """Scale each query's norm over the range where tanh(‖q‖/√D) is not saturated: every row gets sharper."""
    q, k, _ = oracle.qkv(b=1, h=1, n=200, m=64, d=16)
    unit = q / q.norm(dim=-1, keepdim=True)
    entropies = []
    for r in torch.linspace(0.1, 3.0, 12) * 4.0:        # ‖q‖ from 0.4 to 12, √D = 4
        w = nl.attention_weights(unit * r, k)
        entropies.append(-(w * w.clamp_min(1e-300).log()).sum(-1))
    steps = torch.stack(entropies, -1).diff(dim=-1)
    assert (steps <= 1e-12).all(), f"entropy rose by up to {float(steps.max()):.3g}"
    assert float(steps.sum(-1).mean()) < -0.05       # and it does get sharper


# -- EcoFormer ------------------------------------------------------------------------------------------------
def test_hamming_identity_and_positive_similarities():
    g = torch.Generator().manual_seed(0)
    h = torch.where(torch.randn(1, 1, 30, 16, generator=g) >= 0, 1.0, -1.0).double()
    ham = (h[0, 0, :, None, :] != h[0, 0, None, :, :]).sum(-1).double()
    assert torch.equal(h[0, 0] @ h[0, 0].T, 16 - 2 * ham)           # exact, not approximately
    sim = h[0, 0] @ h[0, 0].T + 16 + 1
    assert (sim >= 1).all() and torch.equal(sim, 2 * (16 - ham) + 1)


@pytest.mark.parametrize("causal", [False, True])
def test_both_self_terms_equal_their_written_out_forms(causal):
    g = torch.Generator().manual_seed(1)
    hq = torch.where(torch.randn(1, 2, 10, 8, generator=g) >= 0, 1.0, -1.0).double()
    hk = torch.where(torch.randn(1, 2, 10, 8, generator=g) >= 0, 1.0, -1.0).double()
    v = torch.randn(1, 2, 10, 3, generator=g, dtype=torch.float64)
    op = core.get_operator("linear_attention.hamming")
    b, n = 8, 10
    dot = hq @ hk.transpose(-1, -2)
    mask = torch.ones(n, n, dtype=torch.bool).tril() if causal else torch.ones(n, n, dtype=torch.bool)
    sim = (dot + b + 1).masked_fill(~mask, 0)
    want_sum = (sim @ v) / sim.sum(-1, keepdim=True)
    torch.testing.assert_close(op(hq, hk, v, causal=causal, eps=0.0, chunk_size=3), want_sum, rtol=1e-12, atol=1e-12)
    d = dot.masked_fill(~mask, 0)
    count = mask.sum(-1).double()
    want_val = (d @ v + (b + 1) * v) / (d.sum(-1) + (b + 1) * count).unsqueeze(-1)
    got = op(hq, hk, v, causal=causal, self_term="value", eps=0.0, chunk_size=3)
    torch.testing.assert_close(got, want_val, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(got, want_sum)       # the two options differ


def test_kernel_hash_fit_decreases_its_objective_and_is_deterministic_in_eval():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 2, 48, 8, generator=g)
    hasher = KernelHash(2, 8, num_bits=12, num_anchors=10, top_k=5, steps=60)
    before, after = hasher.fit(x, generator=torch.Generator().manual_seed(0))
    assert after < before - 1e-3
    s = similarity_targets(x, 5)
    assert float(hasher.objective(x, s)) == pytest.approx(after)
    hasher.eval()
    h1, h2 = hasher(x), hasher(x[:1])
    assert set(h1.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(h1[:1], h2)                     # same codes whatever else is in the batch
    # straight-through: gradient 1 where |y| <= 1, 0 outside
    y = torch.tensor([-2.0, -0.5, 0.0, 0.7, 3.0], requires_grad=True)
    SignSTE.apply(y).sum().backward()
    assert y.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


# -- ShiftAddViT ----------------------------------------------------------------------------------------------
def test_angular_similarity_is_the_hamming_space_cosine():
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(1, 1, 7, 16, generator=g, dtype=torch.float64), torch.randn(1, 1, 9, 16, generator=g,
                                                                                   dtype=torch.float64)
    v = torch.randn(1, 1, 9, 2, generator=g, dtype=torch.float64)
    ham = ((q[0, 0, :, None] >= 0) != (k[0, 0, None] >= 0)).sum(-1).double()
    sim = 0.5 + (1 - 2 * ham / 16) / math.pi
    assert (sim > 0.5 - 1 / math.pi - 1e-15).all()
    want = (sim @ v[0, 0]) / sim.sum(-1, keepdim=True)
    got = core.get_operator("linear_attention.angular")(q, k, v, eps=0.0)
    torch.testing.assert_close(got[0, 0], want, rtol=1e-12, atol=1e-12)
    u = ang.unit_codes(q)
    torch.testing.assert_close(u.norm(dim=-1), torch.ones(1, 1, 7, dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_shift_expert_weights_are_exact_powers_of_two_and_products_are_exact():
    layer = ShiftLinear(16, 8)
    w = layer.shift_weight().detach()
    mant, _ = torch.frexp(w[w != 0])
    assert torch.equal(mant.abs(), torch.full_like(mant, 0.5))   # ±2^e exactly
    x = torch.randn(5, 16)
    e = torch.log2(w.abs()).round().int()
    shifted = torch.sign(w)[None] * torch.ldexp(x[:, None, :], e[None].float())   # x·2^e by exponent arithmetic
    assert torch.equal(x[:, None, :] * w[None], shifted)
    w.requires_grad_()
    y = torch.randn(4, requires_grad=True)
    power_of_two(y).sum().backward()
    assert torch.equal(y.grad, torch.ones(4))                  # straight-through


def test_latency_aware_balance_loss_minimum():
    moe = ShiftAddMoE(8, 16, num_experts=2, latencies=(1.0, 1.0))
    uniform = torch.full((100, 2), 0.5)
    chosen = torch.arange(100).remainder(2)[:, None]
    assert float(moe.balance_loss(uniform, chosen)) == pytest.approx(0.0, abs=1e-12)
    skewed = torch.tensor([[0.7, 0.3]]).repeat(100, 1)
    assert float(moe.balance_loss(skewed, chosen)) > 0.1
    # with ShiftAddViT's latencies 6 : 4 the minimum moves to importance ∝ 1/latency: 40% / 60%
    moe = ShiftAddMoE(8, 16, num_experts=2)
    inverse = torch.tensor([[0.4, 0.6]]).repeat(100, 1)
    chosen = (torch.arange(100) % 5 >= 2).long()[:, None]          # 40 tokens to expert 0, 60 to expert 1
    assert float(moe.balance_loss(inverse, chosen)) == pytest.approx(0.0, abs=1e-10)
    assert float(moe.balance_loss(uniform, torch.arange(100).remainder(2)[:, None])) > 0.03


def test_moe_output_is_gate_times_chosen_expert_and_reports_its_loss():
    torch.manual_seed(0)
    moe = ShiftAddMoE(6, 12, num_experts=2, top_k=1, balance_weight=0.5)
    x = torch.randn(3, 5, 6)
    y = moe(x)
    t = x.reshape(-1, 6)
    p = moe.router(t).softmax(-1)
    g, e = p.max(-1)
    want = torch.stack([g[i] * moe.experts[int(e[i])](t[i:i + 1])[0] for i in range(len(t))]).reshape(3, 5, 6)
    torch.testing.assert_close(y, want)
    aux = moe.auxiliary_losses()
    assert set(aux) == {"balance"} and aux["balance"].requires_grad
    torch.testing.assert_close(aux["balance"], 0.5 * moe.balance_loss(p, e[:, None]))


# -- random features ------------------------------------------------------------------------------------------
def _kernel_errors(orthogonal, ms, seeds=16):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 8, generator=g, dtype=torch.float64) * 0.2    # ‖x‖ ≈ 0.6: the variance e^{‖x+y‖²} is moderate
    y = torch.randn(32, 8, generator=g, dtype=torch.float64) * 0.2
    exact = torch.exp(x @ y.T)
    out = []
    for m in ms:
        errs = []
        for s in range(seeds):
            w = fav.gaussian_projection(m, 8, orthogonal=orthogonal, generator=torch.Generator().manual_seed(100 + s),
                                        dtype=torch.float64)
            fx, fy = fav.positive_features(x, w), fav.positive_features(y, w)
            assert (fx > 0).all() and (fy > 0).all()
            errs.append(float((fx @ fy.T - exact).abs().mean()))
        out.append(np.mean(errs))
    return np.array(out)


def test_random_feature_error_slope_positivity_and_orthogonality():
    ms = np.array([16, 64, 256, 1024])
    iid, orth = _kernel_errors(False, ms), _kernel_errors(True, ms)
    for errs in (iid, orth):
        slope = np.polyfit(np.log(ms), np.log(errs), 1)[0]
        assert -0.6 <= slope <= -0.4, slope
    assert (orth < iid).all(), (orth, iid)


def test_favor_attention_approaches_softmax_attention(oracle):
    q, k, v = oracle.qkv(b=1, h=2, n=20, d=8, scale=0.5)
    want = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), -1) @ v
    errs = []
    for m in (16, 256, 4096):
        w = fav.gaussian_projection(m, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        errs.append(float((core.get_operator("linear_attention.favor")(q, k, v, w) - want).abs().mean()))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.25 * errs[0], errs


def test_snnk_layer_converges_to_the_exact_feed_forward_layer():
    torch.manual_seed(0)
    x = torch.randn(64, 6, dtype=torch.float64) * 0.5
    errs = []
    for m in (16, 256, 4096):
        layer = SNNK(6, 3, 10, num_features=m).double()
        with torch.no_grad():
            errs.append(float((layer(x) - layer.exact(x)).abs().mean() / layer.exact(x).abs().mean()))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.05, errs


# -- universal random features (SNNK) ---------------------------------------------------------------------------
def _urf_errors(name, ms, seeds=24):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(24, 6, generator=g, dtype=torch.float64) * 0.3
    w = torch.randn(16, 6, generator=g, dtype=torch.float64) * 0.3
    b = torch.randn(16, generator=g, dtype=torch.float64)
    exact = urf.activation(name, x @ w.T + b)
    return np.array([np.mean([float((urf.URF(name, 6, m, seed=s).estimate(x, w, b) - exact).abs().mean())
                              for s in range(seeds)]) for m in ms])


@pytest.mark.parametrize("name", urf.SPECTRA)
def test_universal_random_features_error_slope(name):
    """f(wᵀx + b) ≈ Re Φ(x)ᵀΨ(w, b): the mean error against the exact activation falls as m^-½."""
    ms = np.array([16, 64, 256, 1024])
    errs = _urf_errors(name, ms)
    slope = np.polyfit(np.log(ms), np.log(errs), 1)[0]
    assert -0.6 <= slope <= -0.4, (slope, errs)
    assert errs[-1] < 0.05, errs


def test_universal_random_features_are_unbiased_and_reduce_to_favor():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64) * 0.3
    w = torch.randn(3, 4, generator=g, dtype=torch.float64) * 0.3
    b = torch.randn(3, generator=g, dtype=torch.float64)
    # unbiased: the average of many independent estimates approaches cos(xᵀw + b) (standard error ~ 1/√(m·seeds))
    mean = torch.stack([urf.URF("cos", 4, 64, seed=s).estimate(x, w, b) for s in range(200)]).mean(0)
    torch.testing.assert_close(mean, torch.cos(x @ w.T + b), atol=0.02, rtol=0)
    # ξ = −i (the softmax kernel's point mass): c = (iξ)^½ = 1 and Φ is FAVOR+'s positive map exp(ωᵀx − ‖x‖²/2)
    r = urf.URF("cos", 4, 16, seed=0)
    r.xi = torch.full((16,), -1j, dtype=torch.complex128)
    phi = r.phi(x)
    torch.testing.assert_close(phi.imag, torch.zeros_like(phi.imag), atol=1e-12, rtol=0)
    assert (phi.real > 0).all()
    torch.testing.assert_close(phi.real, fav.positive_features(x, r.omega), rtol=1e-12, atol=0)
    torch.testing.assert_close((r.phi(x) @ r.psi(w).T).real, fav.positive_features(x, r.omega)
                               @ fav.positive_features(w, r.omega).T, rtol=1e-12, atol=0)


def test_snnk_with_universal_random_features_converges_and_trains():
    torch.manual_seed(0)
    x = torch.randn(64, 6, dtype=torch.float64) * 0.5
    errs = []
    for m in (16, 256, 4096):
        layer = SNNK(6, 3, 10, num_features=m, activation="cos").double()
        with torch.no_grad():
            errs.append(float((layer(x) - layer.exact(x)).abs().mean() / layer.exact(x).abs().mean()))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.1, errs
    layer = SNNK(6, 3, 10, num_features=32, activation="gaussian")
    layer(x.float()).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    with pytest.raises(ValueError, match="activation must be one of"):
        SNNK(6, 3, 10, activation="relu")
    with pytest.raises(ValueError, match="activation must be one of"):
        urf.URF("relu", 6, 8)
