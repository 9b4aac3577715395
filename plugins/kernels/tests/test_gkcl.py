"""Kernel continual learning (KCL) and generative kernel continual learning (GKCL, arXiv 2112.13410): the
supervised contrastive loss against a per-anchor loop, the kernel head against scikit-learn's KernelRidge, GKCL
keeping no training example, and both beating fine-tuning class-incrementally on split-digits."""

import math

import numpy as np
import pytest
import torch

from hyperzoo import core
from hyperzoo.kernels.gkcl import KernelContinualLearner, supervised_contrastive


def test_supervised_contrastive_equals_a_per_anchor_loop():
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(9, 4, generator=g, dtype=torch.float64), dim=1)
    y = torch.tensor([0, 0, 1, 1, 1, 2, 0, 3, 2])
    total, anchors = 0.0, 0
    for i in range(9):
        pos = [p for p in range(9) if p != i and y[p] == y[i]]
        if not pos:
            continue
        den = sum(math.exp(float(z[i] @ z[a]) / 0.1) for a in range(9) if a != i)
        total += -sum(float(z[i] @ z[p]) / 0.1 - math.log(den) for p in pos) / len(pos)
        anchors += 1
    assert abs(float(supervised_contrastive(z, y)) - total / anchors) < 1e-10


def test_kernel_head_equals_scikit_learn_kernel_ridge_on_the_features():
    from sklearn.kernel_ridge import KernelRidge

    m = KernelContinualLearner(in_features=6, num_classes=5, num_tasks=2, replay="memory").double()
    g = torch.Generator().manual_seed(1)
    xs, xq = torch.randn(12, 6, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)
    ys = torch.tensor([1, 3] * 6)
    with torch.no_grad():
        fs, fq = m.features(xs), m.features(xq)
        logits = m._krr_logits(fq, fs, ys)
    onehot = np.stack([(ys == 1).numpy(), (ys == 3).numpy()], 1).astype(float)
    ref = KernelRidge(alpha=m.ridge, kernel="rbf", gamma=1 / (2 * m.bandwidth)).fit(fs.numpy(), onehot)
    np.testing.assert_allclose(logits[:, [1, 3]].numpy(), m.logit_scale * ref.predict(fq.numpy()), atol=1e-10)
    assert torch.isinf(logits[:, [0, 2, 4]]).all()


def test_gkcl_keeps_no_example_and_both_beat_fine_tuning_class_incrementally():
    kw = {"epochs": 2, "task_identity": False, "task.num_tasks": 3, "progress": False}
    gk = core.run("split-digits", "generative-kernel-cl", generator_steps=300, **kw)
    kcl = core.run("split-digits", "kernel-cl", **kw)
    ft = core.run("split-digits", "mlp", **kw)
    assert gk.model.memory == {} and gk.model.recent == {}          # nothing of the data is stored
    assert sorted(kcl.model.memory) == list(range(6))
    assert all(len(v) == 20 for v in kcl.model.memory.values())
    # measured at seeds 0, 1, 2: fine-tuning 0.36 / 0.54 / 0.56, KCL 0.95 / 0.97 / 0.96, GKCL 0.92 / 0.93 / 0.94
    assert ft.metrics["test_average_accuracy"] < 0.65               # fine-tuning forgets the earlier classes
    assert kcl.metrics["test_average_accuracy"] > ft.metrics["test_average_accuracy"] + 0.3
    assert gk.metrics["test_average_accuracy"] > ft.metrics["test_average_accuracy"] + 0.25


def test_bad_parameters_are_refused():
    for kw, word in (({"replay": "buffer"}, "replay"), ({"memory_size": 0}, "memory_size"),
                     ({"ridge": 0.0}, "ridge"), ({"contrastive_weight": -1.0}, "contrastive_weight")):
        with pytest.raises(ValueError, match=word):
            KernelContinualLearner(in_features=4, num_classes=4, num_tasks=2, **kw)
    m = KernelContinualLearner(in_features=4, num_classes=4, num_tasks=2)
    with pytest.raises(RuntimeError, match="no sub-task"):
        m(torch.randn(3, 4))
