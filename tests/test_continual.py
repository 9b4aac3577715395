"""Continual-learning tasks: the accuracy matrix and its metrics against closed forms, the model protocol
(begin_task / end_task / takes_task_id, logit masks), fine-tuning vs joint, resume, data and bad input."""

import numpy as np
import pytest
import torch
from torch import nn

from hyperzoo import core
from hyperzoo.core.continual import (
    PermutedDigits,
    PermutedMNIST,
    SplitDigits,
    SplitMNIST,
    continual_metrics,
    permutations,
)
from hyperzoo.core.testing import require_data

FAST = {"epochs": 1, "progress": False}


def label_fractions(task):
    """Per sub-task: the fraction of its test labels that are the sub-task's even (first) class."""
    return [float((d["test"][1] == 2 * t).float().mean()) for t, d in enumerate(task.data())]


class Staged(nn.Module):
    """Hand-made predictions: at stage s (set by begin_task) class 2s scores 2, every odd class 1, the rest 0.
    The only parameter is multiplied by 0, so training never changes anything."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.stage = -1
        self.ended = []

    def begin_task(self, t):
        assert t == self.stage + 1, "sub-tasks arrive in order"
        self.stage = t

    def end_task(self, t, train_inputs, train_targets):
        self.ended.append((t, train_inputs, train_targets))

    def forward(self, x):
        logits = torch.zeros(len(x), 10)
        logits[:, 1::2] = 1.0
        logits[:, 2 * self.stage] += 2.0
        return logits + 0.0 * self.dummy


def test_metrics_closed_form():
    R = [[0.9], [0.6, 0.8], [0.7, 0.5, 1.0]]
    m = continual_metrics(R)
    assert m["test_average_accuracy"] == pytest.approx((0.7 + 0.5 + 1.0) / 3)
    assert m["test_backward_transfer"] == pytest.approx(((0.7 - 0.9) + (0.5 - 0.8)) / 2)
    assert m["test_forgetting"] == pytest.approx(((0.9 - 0.7) + (0.8 - 0.5)) / 2)  # max over l in i..T-2
    assert [m[f"test_accuracy_task{i}"] for i in range(3)] == [0.7, 0.5, 1.0]
    # Forgetting uses the best earlier accuracy, not the first: task 0 peaks after task 1.
    m = continual_metrics([[0.5], [0.9, 0.8], [0.6, 0.8, 0.7]])
    assert m["test_forgetting"] == pytest.approx(((0.9 - 0.6) + 0.0) / 2)
    assert m["test_backward_transfer"] == pytest.approx(((0.6 - 0.5) + 0.0) / 2)
    one = continual_metrics([[0.4]])
    assert (one["test_backward_transfer"], one["test_forgetting"], one["test_average_accuracy"]) == (0.0, 0.0, 0.4)
    with pytest.raises(ValueError, match="row 1 has 1 entries"):
        continual_metrics([[0.5], [0.5]])


def test_accuracy_matrix_of_a_hand_made_model_task_incremental():
    task = SplitDigits(num_tasks=3)
    model = Staged()
    r = core.run(task, model, **FAST)
    even = label_fractions(task)
    odd = [1 - e for e in even]
    # With the sub-task's two classes unmasked: at stage s, sub-task s predicts 2s, older ones predict 2i + 1.
    expected = [[even[i] if i == s else odd[i] for i in range(s + 1)] for s in range(3)]
    rows = [h["accuracy_row"] for h in r.history if "accuracy_row" in h]
    for got, want in zip(rows, expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert r.metrics["test_average_accuracy"] == pytest.approx((odd[0] + odd[1] + even[2]) / 3, rel=1e-6)
    assert r.metrics["test_backward_transfer"] == pytest.approx(((odd[0] - even[0]) + (odd[1] - even[1])) / 2,
                                                                rel=1e-6)
    assert r.metrics["test_forgetting"] == pytest.approx(
        (max(even[0], odd[0]) - odd[0] + even[1] - odd[1]) / 2, rel=1e-6)
    # end_task saw each sub-task's training split, on its two classes only.
    train = [d["train"] for d in task.data()]
    assert [t for t, _, _ in model.ended] == [0, 1, 2]
    for t, x, y in model.ended:
        assert torch.equal(x, train[t][0]) and torch.equal(y, train[t][1])
        assert set(y.tolist()) == {2 * t, 2 * t + 1}
    assert [h["subtask"] for h in r.history] == [0, 0, 1, 1, 2, 2]  # one epoch row + one matrix row each


def test_accuracy_matrix_of_a_hand_made_model_class_incremental():
    task = SplitDigits(num_tasks=3, task_identity=False)
    r = core.run(task, Staged(), **FAST)
    even = label_fractions(task)
    # Unmasked: class 2s always wins, so only the current sub-task's even class is ever right.
    rows = [h["accuracy_row"] for h in r.history if "accuracy_row" in h]
    for s, got in enumerate(rows):
        np.testing.assert_allclose(got, [even[i] if i == s else 0.0 for i in range(s + 1)], rtol=1e-6)
    assert r.metrics["test_backward_transfer"] == pytest.approx(-(even[0] + even[1]) / 2, rel=1e-6)


class Frozen(nn.Module):
    """A fixed random classifier: its one trainable parameter gets a zero gradient, so it never changes."""

    def __init__(self, in_features=64):
        super().__init__()
        self.register_buffer("w", torch.randn(in_features, 10))
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x.flatten(1) @ self.w + 0.0 * self.dummy


def test_backward_transfer_of_a_model_that_never_changes_is_zero():
    torch.manual_seed(0)
    model = Frozen()
    task = PermutedDigits(num_tasks=3)
    r = core.run(task, model, epochs=2, progress=False)
    rows = [h["accuracy_row"] for h in r.history if "accuracy_row" in h]
    assert rows[2][0] == rows[0][0] and rows[2][1] == rows[1][1]  # each column is constant
    assert r.metrics["test_backward_transfer"] == 0.0 and r.metrics["test_forgetting"] == 0.0
    assert 0.0 < r.metrics["test_average_accuracy"] < 0.5  # a random classifier, not a constant one
    # The inputs training and evaluation fetched are the permuted images data() materialises.
    with torch.no_grad():
        for t, d in enumerate(task.data()):
            x, y = d["test"]
            assert r.metrics[f"test_accuracy_task{t}"] == float((model(x).argmax(1) == y).float().mean())


class TaskIdModel(nn.Module):
    """Records how it is called; with an id it predicts class 2*id + 1, without one class 0."""

    takes_task_id = True

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.calls = []

    def forward(self, x, task_id=None):
        ids = None if task_id is None else task_id.unique().tolist()
        self.calls.append(("train" if self.training else "eval", ids))
        logits = torch.zeros(len(x), 10) + 0.0 * self.dummy
        if task_id is None:
            logits[:, 0] = 1.0
        else:
            logits[torch.arange(len(x)), 2 * task_id + 1] = 1.0
        return logits


def test_task_ids_reach_a_model_that_takes_them():
    task = SplitDigits(num_tasks=2)
    model = TaskIdModel()
    r = core.run(task, model, **FAST)
    even = label_fractions(task)
    assert r.metrics["test_accuracy_task0"] == pytest.approx(1 - even[0], rel=1e-6)
    assert r.metrics["test_accuracy_task1"] == pytest.approx(1 - even[1], rel=1e-6)
    assert {(mode, tuple(ids)) for mode, ids in model.calls} == {("train", (0,)), ("eval", (0,)), ("train", (1,)),
                                                                 ("eval", (1,))}
    # Domain-incremental (no identity at test time): ids in training only; evaluation calls model(x).
    model = TaskIdModel()
    r = core.run("permuted-digits", model, num_tasks=2, **FAST)
    assert {mode for mode, ids in model.calls if ids is None} == {"eval"}
    assert {tuple(ids) for mode, ids in model.calls if mode == "train"} == {(0,), (1,)}
    zeros = [float((d["test"][1] == 0).float().mean()) for d in PermutedDigits(num_tasks=2).data()]
    assert r.metrics["test_accuracy_task1"] == pytest.approx(zeros[1], rel=1e-6)


def test_fine_tuning_forgets_and_joint_does_not():
    cfg = dict(epochs=4, lr=1e-2, progress=False)  # BWT -0.04 to -0.09 over seeds 0-4 with these settings
    fine = core.run("split-digits", "mlp", **cfg)
    joint = core.run("split-digits", "mlp", joint=True, **cfg)
    assert fine.metrics["test_backward_transfer"] < -0.02 and fine.metrics["test_forgetting"] > 0.02
    assert joint.metrics["test_backward_transfer"] == 0.0 and joint.metrics["test_forgetting"] == 0.0
    assert joint.metrics["test_average_accuracy"] > fine.metrics["test_average_accuracy"]
    assert joint.metrics["test_accuracy_task0"] > fine.metrics["test_accuracy_task0"]
    assert [h["subtask"] for h in joint.history] == ["joint"] * 5  # 4 epochs, then the matrix row
    assert len(joint.history[-1]["accuracy_row"]) == 5
    # Class-incremental fine-tuning forgets almost everything (the last sub-task's classes win everywhere).
    ci = core.run("split-digits", "mlp", task_identity=False, **cfg)
    assert ci.metrics["test_backward_transfer"] < -0.8
    assert fine.config["model_args"]["num_classes"] == 10 and fine.config["model_args"]["in_features"] == 64


@pytest.fixture
def anchored(register):
    """A registered CL model whose end_task draws random numbers and whose later training depends on them."""

    class Anchored(nn.Module):
        def __init__(self, in_features, num_classes, num_tasks):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 16), nn.GELU(), nn.Dropout(0.3),
                                     nn.Linear(16, num_classes))
            self.num_tasks = num_tasks

        def end_task(self, t, train_inputs, train_targets):
            for i, p in enumerate(self.net.parameters()):
                self.register_buffer(f"anchor{i}", p.detach() + 0.05 * torch.randn_like(p))

        def auxiliary_losses(self):
            anchors = [getattr(self, f"anchor{i}", None) for i, _ in enumerate(self.net.parameters())]
            if anchors[0] is None:
                return {}
            return {"anchor": sum(((p - a) ** 2).sum() for p, a in zip(self.net.parameters(), anchors))}

        def forward(self, x):
            return self.net(x)

    def anchored_mlp(*, in_features: int, num_classes: int, num_tasks: int):
        return Anchored(in_features, num_classes, num_tasks)

    register("cltest", lambda registrar: registrar.model("anchored-mlp", anchored_mlp, fits=["continual-learning"]))
    return "anchored-mlp"


def test_killed_run_resumes_from_the_last_finished_subtask(tmp_path, monkeypatch, anchored):
    cfg = {"task.num_tasks": 3, "epochs": 3, "progress": False}  # the model takes num_tasks too: dotted
    whole = core.run("split-digits", anchored, out_dir=tmp_path / "whole", **cfg)
    assert "train_aux_anchor" in whole.history[-2]  # end_task's random anchors shape later training
    assert sorted(p.name for p in (tmp_path / "whole").glob("task-*.pt")) == ["task-0.pt", "task-1.pt", "task-2.pt"]

    from hyperzoo.core.trainer import Trainer

    original_log, epochs_seen = Trainer.log, []

    def killed_in_subtask_2(self, **row):
        if "epoch" in row:
            epochs_seen.append(row["epoch"])
            if len(epochs_seen) == 3 + 3 + 2:  # sub-task 2, epoch 2: after its first epoch's checkpoint
                raise KeyboardInterrupt
        original_log(self, **row)

    monkeypatch.setattr(Trainer, "log", killed_in_subtask_2)
    with pytest.raises(KeyboardInterrupt):
        core.run("split-digits", anchored, out_dir=tmp_path / "killed", **cfg)
    monkeypatch.undo()
    assert not (tmp_path / "killed" / "metrics.json").exists()
    fits = []
    original_fit = Trainer.fit
    monkeypatch.setattr(Trainer, "fit", lambda self, *a, **k: fits.append(self.resume) or original_fit(self, *a, **k))
    resumed = core.run("split-digits", anchored, out_dir=tmp_path / "killed", resume=True, **cfg)
    assert resumed.metrics == whole.metrics
    assert resumed.history == whole.history
    assert fits == [True, True, True]


def test_permutations_are_bijections_and_the_first_is_the_identity():
    perms = permutations(64, 4, split_seed=3)
    assert len(perms) == 4 and (perms[0] == np.arange(64)).all()
    for p in perms:
        assert sorted(p.tolist()) == list(range(64))
    assert all((perms[i] != perms[j]).any() for i in range(4) for j in range(i))
    assert all((a == b).all() for a, b in zip(perms, permutations(64, 4, split_seed=3)))  # fixed by split_seed
    assert (permutations(64, 2, split_seed=4)[1] != perms[1]).any()
    task = PermutedDigits(num_tasks=3, split_seed=3)
    data, base = task.data(), task.base()
    for split in ("train", "test"):
        x0, y0 = data[0][split]
        assert torch.equal(x0, base[split][0]) and torch.equal(y0, base[split][1])  # sub-task 0: plain digits
        x2 = data[2][split][0]
        assert torch.equal(x2.flatten(1), x0.flatten(1)[:, torch.from_numpy(permutations(64, 3, 3)[2])])
    assert task.model_defaults() == {"in_channels": 1, "image_size": [8, 8], "in_features": 64, "num_classes": 10,
                                     "num_tasks": 3}


def test_split_digits_data_and_defaults():
    task = SplitDigits()
    data, base = task.data(), task.base()
    assert len(data) == 5 and [len(base[s][1]) for s in ("train", "val", "test")] == [1293, 144, 360]
    for split in ("train", "val", "test"):
        assert sum(len(d[split][1]) for d in data) == len(base[split][1])  # the sub-tasks partition each split
        for t, d in enumerate(data):
            assert set(d[split][1].tolist()) == {2 * t, 2 * t + 1}
    assert task.allowed().sum(1).tolist() == [2] * 5
    # The same split as core's digits-2d task (same images in the test split).
    from hyperzoo.core.builtin_tasks import Digits2D

    d2 = Digits2D()
    test = d2.splits()["test"].tensors
    assert torch.equal(test[0], base["test"][0]) and torch.equal(test[1], base["test"][1])


def test_bad_input_is_clear():
    with pytest.raises(core.ConfigError, match=r"num_tasks=6 is out of range.*10 classes, 2 per sub-task, so at "
                                               r"most 5"):
        core.run("split-digits", "mlp", num_tasks=6, **FAST)
    with pytest.raises(core.ConfigError, match="num_tasks=0 is out of range"):
        PermutedDigits(num_tasks=0)
    with pytest.raises(core.ConfigError, match="task_identity must be True or False"):
        SplitDigits(task_identity="yes")
    with pytest.raises(core.ConfigError, match="subset must be '5k'"):
        SplitMNIST(subset="10k")

    class Wrong(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(64, 2)

        def forward(self, x):
            return self.lin(x.flatten(1))

    with pytest.raises(ValueError, match=r"logits of shape \(N, 10\) over every sub-task's classes; the model "
                                         r"returned \(32, 2\)"):
        core.run("split-digits", Wrong(), num_tasks=1, **FAST)
    with pytest.raises(core.ConfigError, match="fits"):
        core.run("split-digits", "lstm", **FAST)


def test_masked_loss_with_label_smoothing_spreads_over_the_allowed_classes():
    sub = SplitDigits(num_tasks=2).subtask(1)
    logits = torch.randn(4, 10, dtype=torch.float64)
    masked = logits.masked_fill(~sub.allowed[torch.ones(4, dtype=torch.long)], float("-inf"))
    targets = torch.tensor([2, 3, 3, 2])
    got = sub.loss(masked, targets, label_smoothing=0.2)
    want = torch.nn.functional.cross_entropy(logits[:, 2:4], targets - 2, label_smoothing=0.2)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(sub.loss(masked, targets), torch.nn.functional.cross_entropy(logits[:, 2:4],
                                                                                          targets - 2))


def test_every_trainer_setting_applies_per_subtask():
    # Masked logits are -inf: a plain label-smoothed cross-entropy would be infinite and the trainer would stop.
    r = core.run("split-digits", "mlp", num_tasks=2, epochs=2, label_smoothing=0.1, grad_clip=1.0, patience=1,
                 scheduler=None, optimizer="sgd", lr=0.05, threads=1, progress=False)
    epochs = [h for h in r.history if "epoch" in h]
    assert all(np.isfinite(h["train_loss"]) for h in epochs) and {h["lr"] for h in epochs} == {0.05}
    assert r.metrics["test_average_accuracy"] > 0.9


def test_mnist_tasks():
    require_data("mnist/train-5k-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz")
    split = SplitMNIST(num_tasks=2)
    base = split.base()
    assert [len(base[s][1]) for s in ("train", "val", "test")] == [4500, 500, 10000]
    assert split.model_defaults()["image_size"] == [28, 28]
    r = core.run(split, "mlp", width=32, **FAST)
    assert r.metrics["test_average_accuracy"] > 0.9  # 0/1 and 2/3 with the sub-task known
    perm = PermutedMNIST(num_tasks=2)
    x0, x1 = perm.data()[0]["test"][0], perm.data()[1]["test"][0]
    assert torch.equal(x0, base["test"][0])
    assert torch.equal(x1.flatten(1), x0.flatten(1)[:, torch.from_numpy(permutations(784, 2, 0)[1])])
