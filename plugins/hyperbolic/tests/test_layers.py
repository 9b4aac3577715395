"""Layers and models: midpoint batch norm (eval independent of the batch, running stats, extreme inputs), HypLL's
batch norm finding, identity init over 50 layers, geoopt RiemannianAdam on our ManifoldParameters, models."""

import geoopt
import pytest
import torch
from hyperbolic_helpers import ball_points

import hyperzoo.hyperbolic as H
from hyperzoo import core


def _maps(b=4, ch=3, h=5, w=5, seed=0, scale=0.6, dtype=torch.float64):
    return ball_points(b * h * w, ch, seed=seed, scale=scale, dtype=dtype).reshape(b, h, w, ch).permute(0, 3, 1, 2)


def test_midpoint_bn_normalises_and_eval_ignores_the_rest_of_the_batch():
    bn = H.MidpointBatchNorm2d(3, c=1.0).double()
    x = _maps(seed=1)
    y = bn(x)                                          # training: batch statistics, bias at the origin
    flat = y.permute(0, 2, 3, 1).reshape(-1, 3)
    xf = x.permute(0, 2, 3, 1).reshape(-1, 3)
    mu = H.midpoint(xf)
    var = (H.dist(mu.expand_as(xf), xf) ** 2).mean()
    want = H.expmap0(H.parallel_transport(mu.expand_as(xf), torch.zeros_like(xf), H.logmap(mu.expand_as(xf), xf))
                     / torch.sqrt(var + 1e-5))          # the equation with β = 0, γ = 1
    torch.testing.assert_close(flat, want, rtol=1e-10, atol=1e-12)
    assert float(H.midpoint(flat).norm()) < 0.1        # re-centred near β = 0
    assert float((H.dist0(flat) ** 2).mean()) == pytest.approx(1.0, rel=1e-3)
    for _ in range(30):
        bn(_maps(seed=2))
    bn.eval()
    a = _maps(seed=3)
    alone = bn(a[:1])
    torch.testing.assert_close(bn(torch.cat([a[:1], _maps(seed=9, scale=2.0)])[:5])[:1], alone, rtol=1e-12,
                               atol=1e-14)
    torch.testing.assert_close(bn(a)[:1], alone, rtol=1e-12, atol=1e-14)
    assert float(bn.running_var) != 1.0 and float(bn.running_mean.norm()) > 0


@pytest.mark.parametrize("c", [0.1, 1.0, 2.5])
@pytest.mark.parametrize("beta_radius", [0.0, 0.4])
def test_bn_normalise_is_the_equation_at_every_curvature(c, beta_radius):
    """Issue 13: the closed form divided s ⊗ w by √c once too often (exact only at c = 1; at c = 0.1, the Poincaré
    ResNet paper's curvature, batch-norm outputs were √10 too far out). Checked against
    exp_β(P_{μ→β}(s · log_μ(x))) built from the plain maps."""
    from hyperzoo.hyperbolic.layers import normalise

    g = torch.Generator().manual_seed(0)
    x = H.expmap0(torch.randn(40, 4, generator=g, dtype=torch.float64) * 0.5, c=c)
    mu = H.expmap0(torch.randn(4, generator=g, dtype=torch.float64) * 0.3, c=c)
    beta = H.expmap0(torch.randn(4, generator=g, dtype=torch.float64) * beta_radius, c=c)
    s = torch.tensor(0.7, dtype=torch.float64)
    m, b = mu.expand_as(x), beta.expand_as(x)
    want = H.expmap(b, H.parallel_transport(m, b, s * H.logmap(m, x, c=c), c=c), c=c)
    torch.testing.assert_close(normalise(x, mu, beta, s, c), want, rtol=1e-10, atol=1e-12)


def test_bn_bias_gets_a_gradient_at_its_zero_init():
    """Issue 13: at β = 0 the gyration and β ⊕ · were skipped (identity in value), which cut β out of the graph: it
    got no gradient and never left the origin. Its gradient must match finite differences of the loss."""
    bn = H.MidpointBatchNorm2d(3, c=1.0).double()
    x = _maps(seed=4)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (bn(x) * w).sum().backward()
    grad = bn.bias.grad
    assert grad is not None and float(grad.norm()) > 1e-3
    h = 1e-6
    for k in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[k] = h
        with torch.no_grad():
            bn.bias.copy_(e)
            up = float((bn(x) * w).sum())
            bn.bias.copy_(-e)
            down = float((bn(x) * w).sum())
            bn.bias.zero_()
        assert (up - down) / (2 * h) == pytest.approx(float(grad[k]), rel=1e-5, abs=1e-8)


def test_hypll_batchnorm_eval_depends_on_the_batch():
    """What we found in HypLL 0.1.1: HBatchNorm2d keeps no running statistics, so eval() still normalises with
    the current batch (an example's output changes with its batch mates)."""
    from hypll.manifolds.poincare_ball import Curvature, PoincareBall
    from hypll.nn import HBatchNorm2d
    from hypll.tensors import ManifoldTensor

    ball = PoincareBall(c=Curvature(value=0.0, constraining_strategy=lambda v: v + 1.0))
    bn = HBatchNorm2d(3, manifold=ball, use_midpoint=True).eval()
    a = _maps(seed=3, dtype=torch.float32)
    alone = bn(ManifoldTensor(a[:2], manifold=ball, man_dim=1)).tensor[:1]
    mixed = bn(ManifoldTensor(torch.cat([a[:1], _maps(seed=9, scale=1.5, dtype=torch.float32)[:1]]), manifold=ball,
                              man_dim=1)).tensor[:1]
    assert float((alone - mixed).abs().max()) > 1e-2
    assert not any("running" in k for k in bn.state_dict())


@pytest.mark.parametrize("mean", ["midpoint", "frechet"])
def test_bn_outputs_stay_inside_for_extreme_float32_inputs(mean):
    bn = H.MidpointBatchNorm(4, mean=mean)
    u = torch.randn(64, 4)
    u = u / u.norm(dim=-1, keepdim=True) * torch.linspace(0.1, 50, 64)[:, None]   # tangent norms up to 50
    x = H.expmap0(u)
    edge = torch.zeros(4, 4)
    edge[:, 0] = float(1 - 1e-7)
    edge[0, 0] = float(1 - 2.0 ** -24)
    x = torch.cat([x, edge])
    for mode in (True, False):
        bn.train(mode)
        y = bn(x)
        assert torch.isfinite(y).all() and float((y.double() ** 2).sum(-1).max()) < 1


def test_conv_identity_init_is_the_identity_at_the_origin_and_bn_keeps_norms_over_50_layers():
    torch.manual_seed(0)
    conv = H.PoincareConv2d(4, 4, 3, padding=1).double()
    with torch.no_grad():
        conv.z.copy_(torch.where(conv.z.abs() > 0.1, conv.z, torch.zeros_like(conv.z)))   # drop the 1e-3 jitter
    tiny = _maps(b=2, ch=4, h=6, w=6, seed=4, scale=1e-5)
    torch.testing.assert_close(conv(tiny), tiny, rtol=1e-6, atol=1e-12)     # identity to first order
    stack = torch.nn.Sequential(*[torch.nn.Sequential(H.PoincareConv2d(4, 4, 3, padding=1),
                                                      H.MidpointBatchNorm2d(4)) for _ in range(50)]).double()
    x = _maps(b=2, ch=4, h=6, w=6, seed=4, scale=0.3)
    with torch.no_grad():
        y = stack(x)
    ratio = float(H.dist0(y, dim=1).mean() / H.dist0(x, dim=1).mean())
    assert torch.isfinite(y).all() and 0.3 < ratio < 3
    hnn = torch.nn.Sequential(*[H.PoincareConv2d(4, 4, 3, padding=1, id_init=False) for _ in range(50)]).double()
    with torch.no_grad():
        assert float(H.dist0(hnn(x), dim=1).mean() / H.dist0(x, dim=1).mean()) < 0.2   # HNN++ init shrinks them


def test_linear_identity_init_is_exact():
    lin = H.PoincareLinear(5, 7).double()
    x = ball_points(9, 5, seed=1)
    y = lin(x)
    torch.testing.assert_close(y[:, :5], x, rtol=1e-10, atol=1e-12)
    assert float(y[:, 5:].abs().max()) < 1e-12


def test_riemannian_adam_trains_our_manifold_parameter():
    emb = H.PoincareEmbedding(6, 2)
    assert isinstance(emb.weight, geoopt.ManifoldParameter)
    assert isinstance(emb.weight.manifold, geoopt.PoincareBall)
    target = H.expmap0(torch.randn(6, 2))
    opt = core.get_optimizer("riemannian-adam")(emb.parameters(), lr=0.05)
    first = None
    for _ in range(300):
        loss = (H.dist(emb(torch.arange(6)), target) ** 2).mean()
        first = first if first is not None else float(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 1e-3 * first
    assert float((emb.weight.detach() ** 2).sum(-1).max()) < 1


def test_projection_head_clips_then_maps():
    head = H.HyperbolicProjectionHead(6, 16, 4, clip_r=1.0)
    z = head(torch.randn(10, 6) * 100)
    assert float(H.dist0(z).max()) <= 2 * 1.0 + 1e-5      # clipped to tangent norm 1 → d(0, z) = 2·1
    with pytest.raises(ValueError, match="clip_r"):
        H.HyperbolicProjectionHead(6, clip_r=0)


def test_radius_scaling_reduces_the_radius_and_is_block_diagonal():
    rs = H.RadiusScaling(8, block=4, init_scale=0.5).double()
    x = ball_points(5, 8, seed=2)
    y = rs(x)
    torch.testing.assert_close(H.dist0(y), 0.5 * H.dist0(x), rtol=1e-9, atol=0)   # M = ½I: ½ ⊗ x
    m = rs.matrix()
    assert m.shape == (8, 8) and float(m[:4, 4:].abs().max()) == 0
    y.sum().backward()
    assert rs.blocks.grad is not None
    with pytest.raises(ValueError, match="multiple"):
        H.RadiusScaling(6, block=4)


@pytest.mark.parametrize("name", ["poincare-resnet", "resnet"])
def test_models_forward_backward_and_shapes(name):
    model = core.create_model(name, in_channels=1, num_classes=10, widths=[4, 8], depths=[1, 1])
    x = torch.randn(6, 1, 8, 8)
    out = model(x)
    assert out.shape == (6, 10) and torch.isfinite(out).all()
    out.logsumexp(-1).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    torch.testing.assert_close(model(x[:2]), model(x)[:2], rtol=1e-5, atol=1e-6)


def test_model_bad_config():
    with pytest.raises(ValueError, match="same length"):
        core.create_model("poincare-resnet", widths=[4, 8], depths=[1])
    with pytest.raises(ValueError, match="curvature"):
        core.create_model("poincare-resnet", curvature=-1.0)
