"""MIP: the encoding's closed form and constant norm, the additive θ0 formulation and its initialisation, the
magnitude invariance (and the default parametrisation's lack of it), and the conditioned task through core.run."""

import math

import pytest
import torch

from hyperzoo import core
from hyperzoo.hypernets import ConditionedClassifier, hypernetize, mip_encode
from hyperzoo.hypernets.tasks import l2_weight


def test_encoding_is_the_closed_form_with_constant_norm():
    g = torch.rand(50, 3, dtype=torch.float64)
    e = mip_encode(g)
    torch.testing.assert_close(e, torch.cat([torch.cos(math.pi * g / 2), torch.sin(math.pi * g / 2)], -1))
    torch.testing.assert_close(e.norm(dim=-1), torch.full((50,), math.sqrt(3.0), dtype=torch.float64))
    assert torch.equal(mip_encode(torch.zeros(1, 1)), torch.tensor([[1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"MIP inputs must lie in \[0, 1\]"):
        mip_encode(torch.tensor([[1.5]]))


def test_additive_formulation_starts_at_the_targets_own_initialisation():
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 2))
    original = torch.cat([p.detach().flatten() for p in net.parameters()])
    hnet = hypernetize(net, embedding_dim=2, num_embeddings=0, encoding="mip", additive=True, width=16)
    assert torch.equal(hnet.theta0.detach(), original)
    # bias rows of the output layer start at 0, weight rows ~ N(0, 2/numel): θ(γ) = θ0 + H(E(γ)) moves biases not
    head = hnet.generator.head
    spec = hnet.target.spec
    for name, off, n in zip(spec.names, spec.offsets, spec.numels):
        rows = head.weight.detach()[off:off + n]
        if name.endswith("bias"):
            assert float(rows.abs().max()) == 0.0
        else:
            assert abs(float(rows.std()) - math.sqrt(2.0 / n)) < 0.35 * math.sqrt(2.0 / n)
    flat = hnet.generate_flat(z=torch.tensor([0.3, 0.9]))
    h = hnet.generator(mip_encode(torch.tensor([0.3, 0.9])))
    torch.testing.assert_close(flat, hnet.theta0 + h)


def _norm_stat(model, scale, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(256, 1, generator=g)
    with torch.no_grad():
        return float(model.hnet.generate_flat(z=scale * u).norm(dim=-1).mean())


def test_mip_output_magnitude_does_not_follow_the_input_scale_the_default_does():
    ratios = {"mip": [], "default": []}
    for seed in range(3):
        torch.manual_seed(seed)
        mip = ConditionedClassifier(in_features=64, num_classes=10, width=32, depth=1, hyper_width=32,
                                    hyper_depth=2, mip=True)
        default = ConditionedClassifier(in_features=64, num_classes=10, width=32, depth=1, hyper_width=32,
                                        hyper_depth=2, mip=False)
        m = [_norm_stat(mip, s) for s in (0.01, 0.1, 1.0)]            # MIP takes γ in [0, 1]
        d = [_norm_stat(default, s) for s in (0.01, 0.1, 1.0, 10.0)]
        ratios["mip"].append(max(m) / min(m))
        ratios["default"].append(d[-1] / d[0])
    assert max(ratios["mip"]) < 1.1
    assert min(ratios["default"]) > 2.0


def test_l2_weight_is_log_linear():
    assert float(l2_weight(0.0, 1e-4, 1e-1)) == pytest.approx(1e-4)
    assert float(l2_weight(1.0, 1e-4, 1e-1)) == pytest.approx(1e-1)
    assert float(l2_weight(0.5, 1e-4, 1e-1)) == pytest.approx(10 ** -2.5)


@pytest.mark.parametrize("name", ["hypernet-conditioned", "mip-hypernet"])
def test_conditioned_models_learn_through_core_run(name):
    result = core.run("digits-l2-conditioned", name, epochs=3, seed=0, width=32, hyper_width=32)
    m = result.metrics
    assert m["test_accuracy"] > 0.8
    # the stronger the L2 weight, the larger the regularised objective at the learned weights
    assert m["test_objective_gamma1"] > m["test_objective_gamma0"]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_task_rejects_a_model_without_gamma_and_bad_ranges():
    with pytest.raises(TypeError, match="needs a model called as model\\(x, gamma\\)"):
        core.run("digits-l2-conditioned", torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), epochs=1)
    with pytest.raises(ValueError, match="min_l2_weight .* must be < max_l2_weight"):
        core.get_task("digits-l2-conditioned", min_l2_weight=1.0, max_l2_weight=0.1)
