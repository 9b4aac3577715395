"""Models: batch independence in eval, local feedback error, Kar3, bad input, and runs through core.run."""

import contextlib

import pytest
import torch

from hyperzoo import core
from hyperzoo.hyperkernels import Kar3, feedback_error

SMALL = {
    "terminator": (dict(in_channels=1, num_classes=10, seq_len=32, width=8, depth=2), (1, 32)),
    "terminator2d": (dict(in_channels=1, num_classes=10, image_size=[8, 8], width=8, depth=2), (1, 8, 8)),
    "longconv": (dict(in_channels=1, num_classes=10, seq_len=32, width=8, depth=2), (1, 32)),
    "inceptionnext": (dict(in_channels=1, num_classes=10, image_size=[8, 8], widths=[16, 24]), (1, 8, 8)),
    "unireplknet": (dict(in_channels=1, num_classes=10, image_size=[8, 8], widths=[8, 16]), (1, 8, 8)),
}


def trained_a_little(name):
    """A small model after a few optimiser steps in training mode (so batch-norm statistics are not trivial)."""
    kwargs, shape = SMALL[name]
    model = core.create_model(name, **kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        x = torch.randn(16, *shape) * 2 + 0.5
        loss = model(x).logsumexp(-1).mean() + sum(getattr(model, "auxiliary_losses", dict)().values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), shape


@pytest.mark.parametrize("name", sorted(SMALL))
def test_eval_output_is_independent_of_batch_composition(name):
    model, shape = trained_a_little(name)
    x = torch.randn(12, *shape)
    with torch.no_grad():
        full = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(4)])
        mixed = model(torch.cat([x[:4], torch.randn(20, *shape) * 5]))[:4]
        perm = torch.randperm(12)
        shuffled = model(x[perm])
    torch.testing.assert_close(alone, full[:4], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(mixed, full[:4], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(shuffled, full[perm], rtol=1e-4, atol=1e-5)


def test_feedback_error_is_zero_for_equal_kernels_and_positive_otherwise():
    k = torch.randn(8, 32)
    assert feedback_error([k, k.clone(), k.clone()]) == 0
    # channel sums are compared: kernels with equal channel sums (and different widths) count as equal
    assert feedback_error([k, torch.cat([k, k - k]), k.flip(0)]) < 1e-10
    other = k + 0.1 * torch.randn(8, 32)
    two = feedback_error([k, other])
    torch.testing.assert_close(two, ((k.sum(0) - other.sum(0)) ** 2).mean())
    three = feedback_error([k, other, k])  # pairs (0,1), (0,2), (1,2)
    torch.testing.assert_close(three, 2 * two)


def test_feedback_error_reaches_slow_parameters_only():
    kwargs, _ = SMALL["terminator"]
    model = core.create_model("terminator", **{**kwargs, "depth": 3, "feedback_weight": 0.5})
    aux = model.auxiliary_losses()
    assert set(aux) == {"feedback"}
    assert aux["feedback"] > 0  # independently initialised blocks disagree
    torch.testing.assert_close(aux["feedback"], 0.5 * model.feedback_error())
    aux["feedback"].backward()
    slow = {id(p) for p in model.slow_parameters()}
    global_slow = {id(p) for b in model.blocks for p in b.global_branch.parameters()}
    for name, p in model.named_parameters():
        if id(p) in global_slow:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None or p.grad.abs().sum() == 0, name
        assert (id(p) in slow) == (".slow." in name), name
    # with every block's global slow net equal, the error vanishes
    state = model.blocks[0].global_branch.state_dict()
    for b in model.blocks[1:]:
        b.global_branch.load_state_dict(state)
    assert model.feedback_error() == 0
    assert core.create_model("terminator", **{**kwargs, "feedback_weight": 0.0}).auxiliary_losses() == {}


def test_kar3_steps_follow_the_sign_equations():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5, 0.0]))
    opt = Kar3([p], lr=0.1, betas=(0.5, 0.9))
    grads = [torch.tensor([1.0, -1.0, 0.0, 2.0]), torch.tensor([-3.0, -1.0, 1.0, -0.1]),
             torch.tensor([1.0, 0.5, -2.0, -0.1])]
    want, m, v = p.detach().clone(), torch.zeros(4), torch.zeros(4)
    for g in grads:
        p.grad = g.clone()
        opt.step()
        want -= 0.1 * (torch.sign(g) + torch.sign(m) + torch.sign(v))
        m, v = 0.5 * m + 0.5 * g, 0.9 * v + 0.1 * g
        torch.testing.assert_close(p.detach(), want)
    torch.testing.assert_close(opt.state[p]["m"], m)
    torch.testing.assert_close(opt.state[p]["v"], v)
    factory = core.get_optimizer("kar3")
    q = torch.nn.Parameter(torch.ones(3))
    opt = factory([q], lr=0.01, weight_decay=0.5)
    q.grad = torch.tensor([1.0, -1.0, 0.0])
    opt.step()
    torch.testing.assert_close(q.detach(), torch.tensor([1.0, 1.0, 1.0]) * (1 - 0.005) - 0.01 * torch.tensor(
        [1.0, -1.0, 0.0]))
    with pytest.raises(ValueError, match="betas"):
        Kar3([q], betas=(0.5, 1.0))


def test_kar3_minimises_a_quadratic():
    target = torch.rand(20) * 2 - 1  # within reach: each step moves a weight by at most 3·lr
    p = torch.nn.Parameter(torch.zeros(20))
    opt = core.get_optimizer("kar3")([p], lr=1e-3)
    for _ in range(600):
        opt.zero_grad()
        ((p - target) ** 2).sum().backward()
        opt.step()
    assert (p - target).abs().max() < 0.01


@pytest.mark.parametrize("name", sorted(SMALL))
def test_models_reject_bad_input(name):
    kwargs, shape = SMALL[name]
    model = core.create_model(name, **kwargs)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(2, *shape[1:]))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(2, *shape, dtype=torch.long))
    with pytest.raises(ValueError, match="input channels"):
        model(torch.randn(2, 3, *shape[1:]))
    if name in ("terminator", "terminator2d", "longconv"):
        with pytest.raises(ValueError, match="built for inputs of size"):
            model(torch.randn(2, shape[0], *[s + 1 for s in shape[1:]]))


def test_factories_reject_bad_arguments():
    with pytest.raises(ValueError, match="divisible by groups"):
        core.create_model("terminator", in_channels=1, num_classes=10, seq_len=32, width=10, groups=4)
    with pytest.raises(ValueError, match="local kernel size 9 exceeds"):
        core.create_model("terminator", in_channels=1, num_classes=10, seq_len=8, width=8)
    with pytest.raises(ValueError, match="feedback_weight"):
        core.create_model("terminator", in_channels=1, num_classes=10, seq_len=32, feedback_weight=-1.0)
    with pytest.raises(ValueError, match="image_size"):
        core.create_model("terminator2d", in_channels=1, num_classes=10, image_size=[8])
    with pytest.raises(core.ConfigError, match="has no argument"):
        core.create_model("longconv", in_channels=1, num_classes=10, seq_len=32, kernel=3)


def test_unireplknet_reparameterised_model_gives_the_same_predictions():
    model, shape = trained_a_little("unireplknet")
    x = torch.randn(5, *shape)
    with torch.no_grad():
        before = model(x)
        model.reparameterize()
        after = model(x)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_terminator_through_core_run_reports_the_feedback_loss(tmp_path):
    result = core.run("digits-seq", "terminator", epochs=2, width=8, depth=2, local_sizes=[3, 5], out_dir=tmp_path)
    assert result.metrics["test_accuracy"] > 0.3  # two short epochs already learn (chance is 0.1)
    assert all(row["train_aux_feedback"] > 0 for row in result.history)
    model, config = core.load(tmp_path)
    assert config["model"] == "terminator" and config["model_args"]["local_sizes"] == [3, 5]
    x = core.get_task("digits-seq").splits()["test"].tensors[0][:8]
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), result.model.eval()(x))


@pytest.mark.slow
def test_kar3_and_label_smoothing_through_core_run():
    result = core.run("digits-seq", "terminator", epochs=3, width=8, depth=1, local_sizes=[3],
                      optimizer="kar3", lr=1e-3, label_smoothing=0.1)
    assert result.config["trainer_args"]["optimizer"] == "kar3"
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.metrics["test_accuracy"] > 0.2  # chance is 0.1


@pytest.mark.slow
@pytest.mark.parametrize("name,task", [("terminator2d", "digits-2d"), ("longconv", "digits-seq"),
                                       ("inceptionnext", "digits-2d"), ("unireplknet", "digits-2d")])
def test_other_models_learn_through_core_run(name, task):
    small = {"terminator2d": dict(width=8, depth=1), "longconv": dict(width=32, depth=1),
             "inceptionnext": dict(widths=[16], depths=[1]), "unireplknet": dict(widths=[16], depths=[1])}[name]
    result = core.run(task, name, epochs=3, **small)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.metrics["test_accuracy"] > 0.2  # chance is 0.1


def test_listing_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from hyperzoo import core; core.models(); core.operators(); import hyperzoo.hyperkernels; "
            "import hyperzoo.hyperkernels.plugin; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert {"terminator", "terminator2d", "longconv", "inceptionnext", "unireplknet"} <= set(core.models())
    assert "kar3" in core.optimizers()


@pytest.mark.parametrize("name", ["terminator", "terminator2d"])
def test_slow_width_names_the_slow_nets_hidden_size(name):
    kwargs, _ = SMALL[name]
    model = core.create_model(name, **kwargs, slow_width=5)
    assert {b.global_branch.slow.out.in_features for b in model.blocks} == {5}
    assert all(b.slow.out.in_features == 5 for blk in model.blocks for b in blk.local_branches)
    with pytest.raises(core.ConfigError, match="slow_hidden"):  # the 0.1 name (docs/naming.md: <part>_width)
        core.create_model(name, **kwargs, slow_hidden=5)


SYNCS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


@contextlib.contextmanager
def no_host_syncs():
    """Tensor → Python conversions (each a host sync on a GPU) raise inside this block."""
    saved = {name: getattr(torch.Tensor, name) for name in SYNCS}

    def refuse(name):
        def method(self, *args, **kwargs):
            raise AssertionError(f"host sync: Tensor.{name}() called inside a model forward")
        return method

    try:
        for name in SYNCS:
            setattr(torch.Tensor, name, refuse(name))
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


def test_the_sync_guard_catches_conversions():
    x = torch.ones(3)
    for convert in (lambda: x.sum().item(), lambda: float(x[0]), lambda: bool(x[0] > 0), lambda: x.tolist(),
                    lambda: int(x[0]), lambda: range(10)[x[0].long()]):
        with no_host_syncs(), pytest.raises(AssertionError, match="host sync"):
            convert()
    assert x.sum().item() == 3.0  # restored afterwards


@pytest.mark.parametrize("name", sorted(SMALL))
def test_model_forward_backward_and_aux_losses_never_sync_the_host(name):
    """Train and eval forwards, the auxiliary losses and the backward run without a Tensor → Python conversion."""
    kwargs, shape = SMALL[name]
    model = core.create_model(name, **kwargs)
    x = torch.randn(4, *shape)
    with no_host_syncs():
        for mode in ("train", "eval"):
            getattr(model, mode)()
            out = model(x)
            loss = out.logsumexp(-1).mean() + sum(getattr(model, "auxiliary_losses", dict)().values())
            loss.backward()
        if name == "unireplknet":
            model.reparameterize()
            model(x)


def test_feedback_error_reuses_the_forwards_global_kernels():
    """auxiliary_losses() takes the global hyper-kernels the forward computed: no global slow net runs twice."""
    kwargs, shape = SMALL["terminator"]
    model = core.create_model("terminator", **{**kwargs, "depth": 3})
    calls = []
    for i, block in enumerate(model.blocks):
        block.global_branch.slow.register_forward_hook(lambda *_, i=i: calls.append(i))
    x = torch.randn(4, *shape)
    model(x)
    assert calls == [0, 1, 2]
    aux = model.auxiliary_losses()["feedback"]
    assert calls == [0, 1, 2]  # reused, not recomputed
    torch.testing.assert_close(aux, 0.1 * model.feedback_error())  # feedback_error() itself computes afresh
    assert calls == [0, 1, 2, 0, 1, 2]
    # the same gradients as a fresh evaluation
    grads = torch.autograd.grad(aux, list(model.blocks[0].global_branch.parameters()))
    fresh = torch.autograd.grad(0.1 * model.feedback_error(), list(model.blocks[0].global_branch.parameters()))
    for g, f in zip(grads, fresh):
        torch.testing.assert_close(g, f)
    # each forward's kernels are handed out once; after an optimiser step they are stale and recomputed
    calls.clear()
    model.auxiliary_losses()
    assert calls == [0, 1, 2]
    model(x)
    with torch.no_grad():
        for p in model.slow_parameters():
            p.add_(0.01)
    calls.clear()
    aux = model.auxiliary_losses()["feedback"]
    assert calls == [0, 1, 2]
    torch.testing.assert_close(aux, 0.1 * model.feedback_error())
    # the cached kernel (a non-leaf tensor, which deepcopy refuses) is left out of copies
    import copy

    model(x)
    twin = copy.deepcopy(model)
    assert all(b.take_forward_kernel() is None for b in twin.blocks)
    # a kernel computed without gradients is not reused where gradients are wanted
    with torch.no_grad():
        model(x)
    calls.clear()
    assert model.auxiliary_losses()["feedback"].requires_grad and calls == [0, 1, 2]
