"""Kernel continual learning (KCL) and generative kernel continual learning (GKCL, arXiv 2112.13410): the
supervised contrastive loss against a per-anchor loop, the kernel head (rbf, linear) against scikit-learn's
KernelRidge, the VAE's decoder variance against probabilistic PCA's closed form, GKCL keeping no training example,
and both beating fine-tuning class-incrementally on split-digits."""

import math

import numpy as np
import pytest
import torch

from hyperzoo import core
from hyperzoo.kernels.gkcl import ConditionalVAE, KernelContinualLearner, supervised_contrastive


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


@pytest.mark.parametrize("kernel", ["rbf", "linear"])
def test_kernel_head_equals_scikit_learn_kernel_ridge_on_the_features(kernel):
    from sklearn.kernel_ridge import KernelRidge

    m = KernelContinualLearner(in_features=6, num_classes=5, num_tasks=2, replay="memory", kernel=kernel).double()
    g = torch.Generator().manual_seed(1)
    xs, xq = torch.randn(12, 6, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)
    ys = torch.tensor([1, 3] * 6)
    with torch.no_grad():
        fs, fq = m.features(xs), m.features(xq)
        logits = m._krr_logits(fq, fs, ys)
    onehot = np.stack([(ys == 1).numpy(), (ys == 3).numpy()], 1).astype(float)
    ref = KernelRidge(alpha=m.ridge, kernel=kernel, gamma=1 / (2 * m.bandwidth)).fit(fs.numpy(), onehot)
    np.testing.assert_allclose(logits[:, [1, 3]].numpy(), m.logit_scale * ref.predict(fq.numpy()), atol=1e-10)
    assert torch.isinf(logits[:, [0, 2, 4]]).all()


def _vae_sample_variance_on_a_plane(decoder_variance: str) -> tuple[torch.Tensor, float]:
    """Fit the conditional VAE to x = Q u + ε + 2c (u ~ N(0, λI_2), ε ~ N(0, νI_6), Q orthonormal 6x2) and return
    the variance of its decoded samples along Q's two directions, and its noise variance s²."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    d, lam, nu, n = 6, 0.3, 0.01, 1000
    q, _ = torch.linalg.qr(torch.randn(d, 2, generator=g, dtype=torch.float64))
    y = torch.arange(n) % 2
    x = (torch.randn(n, 2, generator=g, dtype=torch.float64) * lam ** 0.5) @ q.T \
        + nu ** 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64) + 2.0 * y[:, None]
    vae = ConditionalVAE(d, 2, latent=2, width=16, decoder_variance=decoder_variance).double()
    opt = torch.optim.Adam(vae.parameters(), lr=5e-3)
    for _ in range(1000):
        idx = torch.randint(n, (256,), generator=g)
        opt.zero_grad()
        vae.elbo_loss(x[idx], y[idx]).backward()
        opt.step()
    with torch.no_grad():
        s = vae.sample(torch.zeros(2000, dtype=torch.long), torch.Generator().manual_seed(1))
        return ((s - s.mean(0)) @ q).var(0), float(vae.noise_variance())


def test_unit_decoder_variance_collapses_the_samples_as_ppca_predicts_and_learned_keeps_them():
    # probabilistic PCA (Tipping & Bishop 1999): with the noise variance held at σ², the ML loadings are
    # (λ − σ²)^½ on directions of variance λ > σ² and 0 below it. λ = 0.3 < 1: a unit-variance decoder decodes
    # every z to the class mean; with s² learned (≈ ν) the samples keep variance λ − s² along the plane.
    var_unit, s2_unit = _vae_sample_variance_on_a_plane("unit")
    var_learned, s2 = _vae_sample_variance_on_a_plane("learned")
    assert s2_unit == 1.0 and (var_unit < 0.01).all()
    assert 0.005 < s2 < 0.05
    assert ((var_learned - (0.3 - s2)).abs() < 0.08).all()


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
                     ({"ridge": 0.0}, "ridge"), ({"contrastive_weight": -1.0}, "contrastive_weight"),
                     ({"decoder_variance": "free"}, "decoder_variance"),
                     ({"samples_per_class": 0}, "samples_per_class"), ({"kernel": "poly"}, "kernel")):
        with pytest.raises(ValueError, match=word):
            KernelContinualLearner(in_features=4, num_classes=4, num_tasks=2, **kw)
    m = KernelContinualLearner(in_features=4, num_classes=4, num_tasks=2)
    with pytest.raises(RuntimeError, match="no sub-task"):
        m(torch.randn(3, 4))
