"""Hypernetize any module: exact reproduction with the original weights, where gradients go, vmap = loop (shared
and per-sample weights), convolution / attention / BatchNorm targets, the hypernetwork families, hypnettorch as
the peer, bad input, and listing without torch."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from hyperzoo.hypernets import (
    ChunkedHypernet,
    FunctionalTarget,
    MLPHypernet,
    RNNHypernet,
    hypernetize,
    select_parameters,
)


def mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def convnet():
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 25, 3))


class Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.block(x).mean(1))


TARGETS = {"mlp": (mlp, lambda: torch.randn(5, 6)), "conv-bn": (convnet, lambda: torch.randn(5, 2, 5, 5)),
           "attention": (Attn, lambda: torch.randn(5, 4, 8))}


@pytest.mark.parametrize("name", TARGETS)
def test_original_weights_reproduce_the_module_exactly(name):
    make, data = TARGETS[name]
    module, x = make().double(), data().double()
    module.eval()
    target = FunctionalTarget(module, "*")      # freezes the generated parameters (same code path below)
    want = module(x)
    assert torch.equal(target(target.original(), x), want)
    assert torch.equal(target(target.original_flat(), x), want)


def test_gradients_reach_the_hypernetwork_not_the_frozen_target_weights():
    module = mlp()
    hnet = hypernetize(module, "*.weight", embedding_dim=4, num_embeddings=2, width=8)
    loss = hnet(torch.randn(7, 6), task_id=1).square().sum()
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for n, p in module.named_parameters() if n.endswith("weight"))
    assert all(p.grad is not None for n, p in module.named_parameters() if n.endswith("bias"))   # ordinary params
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hnet.generator.parameters())
    assert float(hnet.embeddings.grad[1].abs().sum()) > 0 and float(hnet.embeddings.grad[0].abs().sum()) == 0
    trainable = {id(p) for p in hnet.parameters() if p.requires_grad}
    assert not any(id(p) in trainable for n, p in module.named_parameters() if n.endswith("weight"))


@pytest.mark.parametrize("name", TARGETS)
def test_vmap_over_weight_sets_equals_the_loop(name):
    make, data = TARGETS[name]
    module, x = make().double(), data().double()
    module.eval()
    target = FunctionalTarget(module, "*")
    sets = target.original_flat() + 0.1 * torch.randn(3, target.num_weights, dtype=torch.float64)
    got = target.batched(sets, x)
    want = torch.stack([target(s, x) for s in sets])
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", TARGETS)
def test_different_generated_weights_per_sample_equal_the_loop(name):
    make, data = TARGETS[name]
    module, x = make().double(), data().double()
    module.eval()
    hnet = hypernetize(module, "*", embedding_dim=3, num_embeddings=0, width=8, depth=1).double()
    z = torch.randn(len(x), 3, dtype=torch.float64)
    got = hnet(x, z=z, per_sample=True)
    want = torch.cat([hnet(x[i:i + 1], z=z[i]) for i in range(len(x))])
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_batchnorm_target_trains_and_updates_running_stats_unbatched():
    module = convnet()
    hnet = hypernetize(module, modules=(nn.Conv2d, nn.BatchNorm2d), embedding_dim=4, width=8)
    assert set(hnet.target.names) == {"0.weight", "0.bias", "1.weight", "1.bias"}
    before = module[1].running_mean.clone()
    out = hnet(torch.randn(8, 2, 5, 5) + 3.0, task_id=0)
    out.sum().backward()
    assert not torch.equal(module[1].running_mean, before)       # the module's own buffers, updated in place
    assert int(module[1].num_batches_tracked) == 1
    # batched in training mode: batch statistics per set, shared buffers untouched, no crash (hyperlight#10)
    after = module[1].running_mean.clone()
    sets = hnet.generate_flat(z=torch.randn(3, 4))
    assert hnet.target.batched(sets, torch.randn(8, 2, 5, 5)).shape == (3, 8, 3)
    assert torch.equal(module[1].running_mean, after)


def test_chunked_and_rnn_hypernetworks_generate_the_whole_target():
    module = mlp()
    for kind, chunk in (("chunked", 40), ("rnn", 30)):
        hnet = hypernetize(module, "*", embedding_dim=4, hypernet=kind, chunk_size=chunk, width=16)
        flat = hnet.generate_flat(task_id=0)
        assert flat.shape == (hnet.num_weights,) == (6 * 16 + 16 + 16 * 3 + 3,)
        assert hnet(torch.randn(2, 6), task_id=0).shape == (2, 3)
    chunked = ChunkedHypernet(4, 100, chunk_size=30, chunk_dim=2, width=8)
    assert chunked.num_chunks == 4 and sum(p.numel() for p in chunked.parameters()) < 100 * 9
    # per chunk: one MLP on [z, c_k] -- chunk 2 equals the shared MLP on [z, c_2]
    z = torch.randn(4)
    torch.testing.assert_close(chunked(z)[60:90], chunked.net(torch.cat([z, chunked.chunk_embeddings[2]])))


def test_rnn_hypernetwork_chunks_depend_on_earlier_ones_only():
    target = FunctionalTarget(mlp(), "*")
    rnn = RNNHypernet(4, target.spec, width=8, chunk_size=20).double()
    assert [n for _, n in rnn.steps][:6] == [20, 20, 20, 20, 16, 16]    # a new layer starts a new chunk
    z = torch.randn(4, dtype=torch.float64)
    base = rnn(z)
    with torch.no_grad():
        rnn.step_embeddings[3] += 1.0
    moved = rnn(z)
    start = sum(n for _, n in rnn.steps[:3])
    assert torch.equal(moved[:start], base[:start])                     # earlier chunks unchanged
    assert not torch.allclose(moved[start:], base[start:])              # this and every later chunk changed
    later = start + rnn.steps[3][1]
    assert not torch.allclose(moved[later:], base[later:])


def test_hypnettorch_mlp_and_hmlp_agree_with_ours():
    from hypnettorch.hnets import HMLP
    from hypnettorch.mnets import MLP

    mnet = MLP(n_in=6, n_out=3, hidden_layers=(16,), no_weights=True, verbose=False)
    ours = FunctionalTarget(mlp(), "*")
    assert [tuple(s) for s in ours.spec.shapes] == [tuple(s) for s in mnet.param_shapes]
    hnet = HMLP(mnet.param_shapes, cond_in_size=4, layers=(10, 10), num_cond_embs=1, verbose=False)
    gen = MLPHypernet(4, ours.num_weights, width=10, depth=2)
    params = list(hnet.unconditional_params)        # HMLP's own weights: (W, b) per layer
    assert [tuple(p.shape) for p in params] == [(10, 4), (10,), (10, 10), (10,), (ours.num_weights, 10),
                                                (ours.num_weights,)]
    with torch.no_grad():
        for p, q in zip([m for m in gen.modules() if isinstance(m, nn.Linear)], range(3)):
            p.weight.copy_(params[2 * q])
            p.bias.copy_(params[2 * q + 1])
    z = hnet.conditional_params[0].detach()
    theirs = torch.cat([w.flatten() for w in hnet.forward(cond_input=z.unsqueeze(0))])
    torch.testing.assert_close(gen(z), theirs, rtol=1e-6, atol=1e-6)
    x = torch.randn(9, 6)
    torch.testing.assert_close(ours(gen(z), x), mnet.forward(x, weights=list(ours.spec.split(gen(z)).values())),
                               rtol=1e-6, atol=1e-6)


def test_bad_input_has_clear_errors():
    module = mlp()
    with pytest.raises(ValueError, match=r"generate pattern 'fc\.\*' matches no parameter of Sequential; its "
                                         r"parameters are: 0.weight, 0.bias"):
        hypernetize(module, "fc.*")
    with pytest.raises(ValueError, match="empty selection"):
        select_parameters(module, None)
    with pytest.raises(ValueError, match="modules=Conv2d owns no parameter"):
        select_parameters(module, None, nn.Conv2d)
    hnet = hypernetize(module, "*", embedding_dim=4, num_embeddings=2)
    with pytest.raises(ValueError, match="must end in a dimension of 4 \\(the embedding size\\), got \\(5,\\)"):
        hnet(torch.randn(2, 6), z=torch.randn(5))
    with pytest.raises(ValueError, match=r"task_id must be an int in \[0, 2\)"):
        hnet(torch.randn(2, 6), task_id=2)
    with pytest.raises(ValueError, match="exactly one of task_id"):
        hnet(torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"missing \['2.bias'\]"):
        hnet.target({k: v for k, v in hnet.target.original().items() if k != "2.bias"}, torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"weights\['0.weight'\] has shape \(6, 16\); expected \(16, 6\)"):
        hnet.target({**hnet.target.original(), "0.weight": torch.zeros(6, 16)}, torch.randn(2, 6))
    with pytest.raises(ValueError, match="per_sample=True needs every positional input to hold 3 samples"):
        hnet(torch.randn(2, 6), z=torch.randn(3, 4), per_sample=True)
    with pytest.raises(ValueError, match="unknown hypernetwork 'gru'"):
        hypernetize(module, "*", hypernet="gru")


def test_listing_does_not_import_torch():
    code = ("import sys; from hyperzoo import core; core.models(); core.tasks(); core.operators(); "
            "import hyperzoo.hypernets; import hyperzoo.hypernets.plugin; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    from hyperzoo import core
    assert "hypernets.interval_linear" in core.operators()


def test_the_docs_hypernetize_snippet_runs():
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "hypernets.md"
    block = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)[0]
    assert "hypernetize(model" in block
    exec(compile(block, f"{page.name}[block 0]", "exec"), {"__name__": "docs_hypernets"})
