"""Hierarchical polynomial f* = p(x)³ (Nichani, Damian & Lee 2023): the target's normalisation, the layer-wise
three-layer network learning the feature p and beating NTK regression at the same n, check_estimator."""

import numpy as np
import pytest

from hyperzoo import core
from hyperzoo.kernels.hierarchical import LayerwiseThreeLayerNet, hierarchical_target


def test_target_is_normalised_and_cubic_in_the_feature():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    a = (a + a.T) / 2
    x = rng.standard_normal((200_000, 6))
    p, f = hierarchical_target(x, a)
    assert abs(p.mean()) < 0.01 and abs(p.var() - 1) < 0.02       # E p = 0, E p² = 1 (Gaussian x)
    np.testing.assert_allclose(f, p ** 3)
    with pytest.raises(ValueError, match="x must be"):
        hierarchical_target(x, a[:3, :3])


def test_layerwise_net_learns_the_feature_and_beats_the_ntk_at_equal_n():
    net = core.run("hierarchical-polynomial", "layerwise-three-layer", n_train=2000, dim=6, split_seed=0).metrics
    ntk = core.run("hierarchical-polynomial", "ntk-regressor", n_train=2000, dim=6, depth=2, ridge=1e-3,
                   split_seed=0).metrics
    # measured at split seeds 0, 1, 2: |corr(h, p)| 0.91 / 0.97 / 0.96, test NMSE net 0.27 / 0.13 / 0.13 vs
    # NTK 0.56 / 0.63 / 0.49
    assert net["feature_correlation"] > 0.9
    assert net["test_nmse"] < 0.6 * ntk["test_nmse"]


def test_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    # By design the network sees the data through ONE learned scalar feature h(x) (the bottleneck that learns p),
    # so it cannot fit the check's generic 13-feature regression data to R² > 0.5: a limit of the model.
    expected = {"check_regressors_train": "one learned scalar feature: fits targets g(p(x)), not generic data"}
    results = check_estimator(LayerwiseThreeLayerNet(width=20, num_features=20), on_fail=None,
                              expected_failed_checks=expected)
    failed = [(r["check_name"], str(r["exception"])[:300]) for r in results if r["status"] == "failed"]
    assert not failed
    assert all(r["status"] == "xfail" for r in results if r["check_name"] in expected)
    assert len(results) > 30
