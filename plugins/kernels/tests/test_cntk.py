"""Hierarchical local (CNN) kernels, arXiv 2208.01003: the fully connected special case, the empirical kernels of
wide weight-shared CNNs within the 1/√width scaling, positive semi-definiteness, the teacher–student task."""

import numpy as np
import pytest
import torch

from hyperzoo import core
from hyperzoo.kernels import LocalCNN, LocalNTKRegressor, empirical_ntk, local_nngp_ntk, nngp_ntk


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_one_patch_of_the_whole_input_is_the_fully_connected_kernel(activation):
    x = torch.randn(7, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randn(5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for a, b in ((x, None), (x, y)):
        got = local_nngp_ntk(a, b, kernel_size=8, depth=1, activation=activation, bias_variance=0.2)
        want = nngp_ntk(a, b, depth=1, activation=activation, bias_variance=0.2)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_kernel_is_the_mean_over_patches_for_one_layer():
    """Depth 1, patches of 2: the readout averages the fully connected kernel of each patch (a brute-force sum)."""
    x = torch.randn(6, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    nngp, ntk = local_nngp_ntk(x, kernel_size=2, depth=1, bias_variance=0.1)
    parts = [nngp_ntk(x[:, 2 * i:2 * i + 2], depth=1, bias_variance=0.1) for i in range(4)]
    # per patch: Σ_out = σ_w² E[φφ] + σ_b², so the mean over patches of (Σ_out_i − σ_b²) + σ_b²
    torch.testing.assert_close(nngp, sum(p[0] for p in parts) / 4, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ntk, sum(p[1] for p in parts) / 4, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation,depth", [("relu", 3), ("erf", 2)])
def test_psd_symmetric_and_self_gram_equals_cross_gram(activation, depth):
    x = torch.randn(40, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    nngp, ntk = local_nngp_ntk(x, kernel_size=2, depth=depth, activation=activation, bias_variance=0.1)
    for k in (nngp, ntk):
        torch.testing.assert_close(k, k.T, rtol=0, atol=1e-13)
        assert float(torch.linalg.eigvalsh(k).min()) >= -1e-10
    cross = local_nngp_ntk(x, x.clone(), kernel_size=2, depth=depth, activation=activation, bias_variance=0.1)
    for k, c in zip((nngp, ntk), cross):   # the cross-Gram's diagonal goes through ρ ≈ 1 (√ε-conditioned)
        torch.testing.assert_close(c, k, rtol=1e-6, atol=1e-6)


def test_wide_cnn_empirical_kernels_converge_as_one_over_sqrt_width():
    x = torch.randn(6, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    nngp, ntk = local_nngp_ntk(x, kernel_size=2, depth=3, bias_variance=0.1)
    errs = {}
    for width in (128, 2048):
        e_ntk, e_nngp = [], []
        for seed in range(3):
            torch.manual_seed(seed)
            net = LocalCNN(8, kernel_size=2, depth=3, width=width, bias_variance=0.1).double()
            emp = empirical_ntk(net, x)[:, :, 0, 0]
            e_ntk.append(float((emp - ntk).norm() / ntk.norm()))
            with torch.no_grad():
                a = net.features(x)
            emp_nngp = 2.0 * a @ a.T / a.shape[1] + 0.1
            e_nngp.append(float((emp_nngp - nngp).norm() / nngp.norm()))
        errs[width] = (np.mean(e_ntk), np.mean(e_nngp))
    for i in range(2):   # 16x the width: the error shrinks ~4x (1/√width); at 2048 it is a few percent
        assert errs[2048][i] < 0.1, errs
        assert errs[128][i] / errs[2048][i] > 2.5, errs


def test_bad_inputs_raise_clear_errors():
    x = torch.randn(3, 8)
    with pytest.raises(ValueError, match="divisible by kernel_size"):
        local_nngp_ntk(x, kernel_size=3)
    with pytest.raises(ValueError, match="kernel_size must be an int >= 1"):
        local_nngp_ntk(x, kernel_size=0)
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        local_nngp_ntk(x, kernel_size=2, depth=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        local_nngp_ntk(x * float("nan"), kernel_size=2)
    with pytest.raises(ValueError, match="same number of features"):
        local_nngp_ntk(x, torch.randn(2, 4), kernel_size=2)
    with pytest.raises(ValueError, match="activation must be one of"):
        local_nngp_ntk(x, kernel_size=2, activation="tanh")


def test_teacher_student_task_local_student_beats_fully_connected():
    local = core.run("teacher-student-local", "local-ntk-regressor", n_train=256, n_test=200,
                     ridge=1e-8).metrics["test_mse"]
    fc = core.run("teacher-student-local", "ntk-regressor", n_train=256, n_test=200,
                  depth=1, ridge=1e-8).metrics["test_mse"]
    assert local < 0.5 * fc, (local, fc)


def test_local_regressor_interpolates_and_has_sklearn_params():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 4)), rng.standard_normal(30)
    m = LocalNTKRegressor(kernel_size=2, ridge=1e-10).fit(x, y)
    assert np.abs(m.predict(x) - y).max() < 1e-5
    assert m.get_params()["kernel_size"] == 2
