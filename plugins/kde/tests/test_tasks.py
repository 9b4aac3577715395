"""Every kde task runs through core.run with an estimator model; runs save and load without pickle."""

import json
import math

import numpy as np
import pytest

from hyperzoo import core


def test_plugin_is_registered_lazily():
    info = next(p for p in core.plugins() if p.name == "kde")
    assert info.status == "loaded"
    assert set(core.tasks("d*")) >= {"density-gaussian", "density-digits", "dp-similarity", "dp-classify-digits"}
    assert "kde.kernel_sum" in core.operators()


def test_listing_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from hyperzoo import core; core.plugins(); core.models(); core.tasks(); "
            "import hyperzoo.kde.plugin; print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_density_gaussian_run_saves_and_loads(tmp_path):
    res = core.run("density-gaussian", "kde", out_dir=tmp_path / "run", bandwidth=0.3, n_train=800, n_test=500)
    m = res.metrics
    assert 0 < m["kl"] < 0.2 and m["test_log_likelihood"] < m["true_log_likelihood"] + 0.05
    model, config = core.load(tmp_path / "run")
    assert config["model_args"]["bandwidth"] == 0.3
    x = np.random.default_rng(0).normal(size=(5, 2))
    np.testing.assert_array_equal(model.score_samples(x), res.model.score_samples(x))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["kl"] == pytest.approx(m["kl"])


def test_density_gaussian_kl_shrinks_with_data():
    small = core.run("density-gaussian", "kde", n_train=200, n_test=2000).metrics["kl"]
    large = core.run("density-gaussian", "kde", n_train=5000, n_test=2000).metrics["kl"]
    assert large < small


def test_density_digits_cv_beats_a_bad_bandwidth():
    m = core.run("density-digits", "kde", bandwidth=0.5, bandwidth_grid=[1.0, 2.0, 4.0]).metrics
    assert m["cv_bandwidth"] in (1.0, 2.0, 4.0)
    assert m["cv_test_log_likelihood"] > m["test_log_likelihood"]


def test_kde_regimes_task_reports_thresholds_and_history():
    res = core.run("kde-regimes", "kde", dims=[12, 16], h_ratios=[0.6, 1.0, 2.0], n_queries=64)
    m = res.metrics
    assert m["h_clt"] == pytest.approx(math.sqrt(2) * m["h_gauss"])
    assert m["participation_at_hg_d16"] > 0
    assert len(res.history) == 6 and {"participation", "kl_per_dim"} <= set(res.history[0])


def test_dp_similarity_error_falls_with_epsilon():
    m = core.run("dp-similarity", "dp-kernel-sum", epsilons=[0.1, 10.0], repeats=1,
                 **{"model.bandwidth": 2.0, "model.n_features": 256, "model.projection_dim": 16}).metrics
    assert m["rel_error_eps10"] < m["rel_error_eps0.1"]
    assert m["baseline_rel_error_eps10"] < m["baseline_rel_error_eps0.1"]
    d = core.run("dp-similarity", "dp-distance-sum", epsilons=[1.0], repeats=1).metrics
    assert d["rel_error_eps1"] > 0 and d["baseline_rel_error_eps1"] > 0


def test_dp_classify_digits_runs_and_saves(tmp_path):
    res = core.run("dp-classify-digits", "dp-similarity-classifier", epsilons=[1.0], repeats=1,
                   out_dir=tmp_path / "r", **{"model.bandwidth": 1.5, "model.n_features": 256})
    assert res.metrics["test_accuracy_nonprivate"] > 0.8
    model, _ = core.load(tmp_path / "r")
    x = np.random.default_rng(0).random((3, 64))
    np.testing.assert_array_equal(model.predict(x), res.model.predict(x))


def test_kind_mismatch_is_refused():
    with pytest.raises(core.ConfigError, match="fits"):
        core.run("density-gaussian", "dp-kernel-sum")


def test_task_data_seeds_are_named_split_seed():
    """docs/naming.md: a task's data seed is split_seed (seed is core.run's own run setting)."""
    import inspect

    from hyperzoo.kde import tasks

    for cls in (tasks.DensityGaussian, tasks.DensityDigits, tasks.KDERegimes, tasks.DPSimilarity,
                tasks.DPClassifyDigits):
        params = inspect.signature(cls).parameters
        assert "split_seed" in params and "seed" not in params, cls.__name__
    a = core.run("density-gaussian", "kde", n_train=200, n_test=50, split_seed=1)
    b = core.run("density-gaussian", "kde", n_train=200, n_test=50, split_seed=2)
    assert a.config["task_args"]["split_seed"] == 1
    assert a.metrics["test_log_likelihood"] != b.metrics["test_log_likelihood"]
