"""Layers, models and tasks: the softmax choice, drop-in shapes and decoding, auxiliary losses through the trainer,
the tasks' data, runs through core.run with tiny budgets, and listing without torch."""

import subprocess
import sys

import pytest
import torch

from hyperzoo import core
from hyperzoo.linear_attention.layers import ATTENTIONS, Attention
from hyperzoo.linear_attention.models import linear_transformer, nala_vit
from hyperzoo.linear_attention.tasks import IGNORE, MQAR, SelectiveCopy


@pytest.mark.parametrize("causal", [False, True])
def test_softmax_choice_equals_explicit_softmax_attention(causal):
    torch.manual_seed(0)
    layer = Attention(16, 4, attention="softmax", causal=causal).double()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    q, k, v = layer.qkv(x).view(2, 9, 3, 4, 4).permute(2, 0, 3, 1, 4)
    s = q @ k.transpose(-1, -2) / 2.0
    if causal:
        s = s.masked_fill(~torch.ones(9, 9, dtype=torch.bool).tril(), float("-inf"))
    o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(2, 9, 16)
    torch.testing.assert_close(layer(x), layer.out(o), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_every_attention_is_a_drop_in_module_with_gradients(attention):
    torch.manual_seed(0)
    layer = Attention(16, 2, attention=attention, causal=True)
    x = torch.randn(3, 20, 16, requires_grad=True)
    y = layer(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    if attention != "softmax":   # causal: changing a later token leaves earlier outputs unchanged
        layer.eval()
        x2 = x.detach().clone()
        x2[:, 15:] += 1.0
        torch.testing.assert_close(layer(x2)[:, :15], layer(x.detach())[:, :15], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attention", ["elu", "nala", "favor", "ecoformer", "angular"])
def test_token_by_token_decoding_equals_the_full_causal_pass(attention):
    torch.manual_seed(0)
    layer = Attention(16, 2, attention=attention, causal=True, pos_conv=False).double()
    layer.train()(torch.randn(1, 8, 16, dtype=torch.float64))   # fits EcoFormer's hash once
    layer.eval()
    x = torch.randn(2, 12, 16, dtype=torch.float64)
    full = layer(x)
    state, outs = None, []
    for t in range(12):
        o, state = layer(x[:, t:t + 1], state=state, offset=t, return_state=True)
        outs.append(o)
    torch.testing.assert_close(torch.cat(outs, 1), full, rtol=1e-10, atol=1e-10)


def test_bad_inputs_to_layers_and_models():
    with pytest.raises(ValueError, match="attention must be one of"):
        Attention(16, 2, attention="flash")
    with pytest.raises(ValueError, match="divisible by heads"):
        Attention(15, 2)
    with pytest.raises(ValueError, match=r"expects \(B, N, dim=16\)"):
        Attention(16, 2)(torch.randn(2, 16))
    with pytest.raises(ValueError, match="mqar: seq_len must be >= 3 \\* num_pairs"):
        MQAR(seq_len=10, num_pairs=4)


def test_tasks_generate_what_they_promise():
    task = MQAR(seq_len=24, num_pairs=4, num_symbols=8, num_examples=50, split_seed=3)
    x, y = task.splits()["train"].tensors
    assert x.shape == y.shape == (50, 24)
    for r in range(50):
        pairs = dict(zip(x[r, 0:8:2].tolist(), x[r, 1:8:2].tolist()))
        asked = (y[r] != IGNORE).nonzero().flatten()
        assert len(asked) == 4 and asked.min() >= 8
        assert all(pairs[int(x[r, i])] == int(y[r, i]) for i in asked)
    assert torch.equal(MQAR(seq_len=24, num_pairs=4, num_symbols=8, num_examples=50, split_seed=3).splits()["train"]
                       .tensors[0], x)
    sc = SelectiveCopy(seq_len=20, num_targets=4, num_symbols=6, num_examples=30)
    x, y = sc.splits()["test"].tensors
    for r in range(len(x)):
        data = x[r, :16][x[r, :16] > 0]
        assert torch.equal(y[r, 16:], data) and (x[r, 16:] == 7).all() and (y[r, :16] == IGNORE).all()


def test_shiftadd_balance_loss_reaches_the_trainer_through_core_run():
    result = core.run("mqar", "linear-transformer", attention="angular", mlp="shiftadd", width=16, depth=1, heads=2,
                      epochs=2, num_examples=64, batch_size=32, balance_weight=0.1, progress=False)
    assert all(row["train_aux_balance"] > 0 for row in result.history)
    model = result.model.train()
    model(torch.zeros(2, 32, dtype=torch.long))
    assert model.auxiliary_losses()["balance"].requires_grad


@pytest.mark.parametrize("attention", ["softmax", "elu", "nala", "favor", "ecoformer", "angular"])
def test_every_attention_learns_digits_2d_through_core_run(attention):
    result = core.run("digits-2d", "nala-vit", attention=attention, widths=[16, 16], depths=[1, 1], epochs=2,
                      progress=False)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.metrics["test_accuracy"] > 0.25            # chance is 0.1


def test_linear_transformer_runs_digits_seq():
    result = core.run("digits-seq", "linear-transformer", attention="nala", width=16, depth=1, heads=2, epochs=2,
                      progress=False)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.config["model_args"]["seq_len"] == 64


def test_nala_vit_learns_digits_2d_and_token_tasks_run(tmp_path):
    result = core.run("digits-2d", "nala-vit", widths=[16, 16], depths=[1, 1], epochs=2, out_dir=tmp_path,
                      progress=False)
    assert result.metrics["test_accuracy"] > 0.25
    model, config = core.load(tmp_path)
    assert config["model"] == "nala-vit"
    x = core.get_task("digits-2d").splits()["test"].tensors[0][:4]
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), result.model.eval()(x))
    for task in ("mqar", "selective-copy"):
        r = core.run(task, "linear-transformer", attention="nala", width=16, depth=1, heads=2, epochs=1,
                     num_examples=64, progress=False)
        assert 0.0 <= r.metrics["test_accuracy"] <= 1.0 and r.config["model_args"]["causal"] is True


def test_model_factories_take_explicit_keywords():
    m = linear_transformer(in_channels=1, num_classes=3, seq_len=10, width=8, depth=1, heads=2, attention="favor")
    assert m(torch.randn(4, 1, 10)).shape == (4, 3)
    v = nala_vit(in_channels=1, num_classes=5, widths=[8], depths=[1])
    assert v(torch.randn(2, 1, 8, 8)).shape == (2, 5)


def test_listing_does_not_import_torch():
    code = ("import sys; from hyperzoo import core; core.models(); core.operators(); core.tasks(); "
            "import hyperzoo.linear_attention; import hyperzoo.linear_attention.plugin; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert {"linear-transformer", "nala-vit"} <= set(core.models())
    assert {"mqar", "selective-copy"} <= set(core.tasks())


def test_patch_size_groups_consecutive_steps_into_tokens():
    """patch_size P: token t holds steps tP … tP + P − 1 of every channel (the last token zero-padded); the model
    equals a patch_size=1 model with C·P channels on the grouped input, with the same weights."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10)
    m = linear_transformer(in_channels=3, seq_len=10, width=16, heads=2, attention="elu", causal=True, patch_size=4)
    ref = linear_transformer(in_channels=12, seq_len=3, width=16, heads=2, attention="elu", causal=True)
    ref.load_state_dict(m.state_dict())
    padded = torch.cat([x, torch.zeros(2, 3, 2)], -1)                                # 10 → 12 steps
    grouped = torch.stack([padded[:, :, 4 * t:4 * t + 4].reshape(2, 12) for t in range(3)], -1)   # (B, C·P, T)
    torch.testing.assert_close(m(x), ref(grouped))
    assert m.pos.shape[0] == 3
    with pytest.raises(ValueError, match="patch_size must be a positive int"):
        linear_transformer(patch_size=0)
    with pytest.raises(ValueError, match="need patch_size=1"):
        linear_transformer(vocab_size=10, patch_size=2)
