"""Self-tuning networks: the structured best-response layer's closed form, where gradients go in the two
alternating steps, and stn-digits through core.run (the schedule is logged)."""

import pytest
import torch

from hyperzoo import core
from hyperzoo.hypernets.stn import STNMLP, STNLinear


def test_stn_linear_is_the_gated_affine_form():
    layer = STNLinear(5, 3, 2).double()
    x, h = torch.randn(4, 5, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    want = x @ layer.elem.weight.T + layer.elem.bias + (x @ layer.hyper.weight.T + layer.hyper.bias) * (
        layer.gate.weight @ h)
    torch.testing.assert_close(layer(x, h), want)


def test_train_step_moves_weights_only_and_hyper_step_reaches_lambda_through_the_best_response():
    torch.manual_seed(0)
    m = STNMLP(in_features=6, num_classes=3, width=8, depth=1)
    x, y = torch.randn(10, 6), torch.randint(0, 3, (10,))
    m.train_loss(x, y).backward()
    assert m.hyper.grad is None and m.log_sigma.grad is None
    assert all(p.grad is not None for p in m.weight_parameters())
    m.zero_grad()
    m.hyper_loss(x, y).backward()
    assert float(m.hyper.grad.abs().sum()) > 0
    # with the gates at zero the weights do not depend on λ: the validation loss gives λ no gradient at all
    with torch.no_grad():
        for layer in m.layers:
            layer.gate.weight.zero_()
    m.zero_grad()
    m.hyper_loss(x, y).backward()
    assert float(m.hyper.grad.abs().sum()) == 0.0
    torch.testing.assert_close(m.log_sigma.grad, torch.full((2,), -m.entropy_weight))   # the entropy term alone


def test_stn_tunes_online_through_core_run():
    result = core.run("stn-digits", "stn-mlp", epochs=3, width=32, seed=0)
    rows = [r for r in result.history if "dropout" in r]
    assert len(rows) == 3 and rows[0]["dropout"] != rows[-1]["dropout"]
    assert result.metrics["test_accuracy"] > 0.8
    assert 0 < result.metrics["final_dropout"] < 1 and result.metrics["final_l2_weight"] > 0


def test_bad_input():
    with pytest.raises(ValueError, match=r"dropout \(the initial rate\) must be in \(0, 1\)"):
        STNMLP(in_features=4, num_classes=2, dropout=0.0)
    with pytest.raises(TypeError, match="needs a self-tuning model"):
        core.run("stn-digits", torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), epochs=1)
