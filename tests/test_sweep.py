"""core.sweep on Optuna: space, storage, resume, shared studies, pruning, functional hashing, the Step Law prior, CLI.

Every sweep here trains core's MLP on digits-seq for one or two epochs (a fraction of a second per trial).
"""

import functools
import json
import math
import subprocess
import sys

import pytest

optuna = pytest.importorskip("optuna", reason="needs optuna (pip install 'hyperzoo[sweep]')")

from hyperzoo import core  # noqa: E402
from hyperzoo.core import runner, sweeps  # noqa: E402
from hyperzoo.core.config import ConfigError  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
FAST = {"epochs": 1, "progress": False}


def grid(space):
    return optuna.samplers.GridSampler(space, seed=0)


def test_import_core_and_sweeps_module_stay_light():
    code = ("import sys, hyperzoo.core as core, hyperzoo.core.sweeps, hyperzoo.core.steplaw\n"
            "core.suggest_hyperparameters(1e9, 1e11)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'optuna', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- space and argument checks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("space, config, match", [
    ({}, {}, "non-empty dict"),
    ({"width": []}, {}, "empty list"),
    ({"width": 32}, {}, "list of choices or an Optuna distribution"),
    ({"width": [8]}, {"width": 8}, "both in space and as fixed config"),
    ({"out_dir": ["a"]}, {}, "set by the sweep"),
    ({"widht": [8]}, {}, "unknown config key 'widht'. Did you mean 'width'"),
    ({"lr": [1e-3]}, {"prior": "step-law"}, "searches the learning rate itself"),
    ({"width": [8]}, {"prior": "bayes"}, "prior must be None or 'step-law'"),
    ({"width": [8]}, {"storage": "study.db"}, "storage must be an RDB URL"),
    ({"width": [8]}, {"n_trials": 0}, "n_trials must be a positive int"),
])
def test_bad_sweeps_are_refused_with_the_reason(space, config, match):
    kwargs = {"n_trials": 1, **config}
    with pytest.raises(ConfigError, match=match):
        core.sweep("digits-seq", "mlp", space, **kwargs, **FAST)


def test_parse_space_grammar():
    space = sweeps.parse_space(["width=[16, 32]", "lr=log(1e-4, 1e-1)", "dropout=float(0,0.5)", "depth=int(1,4)",
                                "widths=[[8, 16], [16, 32]]"])
    assert space["width"] == [16, 32] and space["widths"] == [[8, 16], [16, 32]]
    assert space["lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    assert space["dropout"] == optuna.distributions.FloatDistribution(0.0, 0.5)
    assert space["depth"] == optuna.distributions.IntDistribution(1, 4)
    for bad in ("width", "width=16", "lr=log(1e-1, 1e-4)", "lr=log(a, b)"):
        with pytest.raises(ConfigError):
            sweeps.parse_space([bad])


# -- the sweep itself ------------------------------------------------------------------------------------------
def test_each_trial_is_the_core_run_of_its_config():
    space = {"width": [8, 32], "depth": [1]}
    result = core.sweep("digits-seq", "mlp", space, n_trials=2, sampler=grid(space), **FAST)
    assert result.metric == "val_accuracy" and result.direction == "maximize"  # from the task's monitor
    assert [t["state"] for t in result.trials] == ["COMPLETE", "COMPLETE"]
    assert {t["config"]["width"] for t in result.trials} == {8, 32}
    assert result.best_value == max(t["value"] for t in result.trials)
    for trial in result.trials:  # the value is what core.run reports for that config (CPU runs are deterministic)
        again = core.run("digits-seq", "mlp", **trial["config"], **FAST)
        assert trial["value"] == again.metrics["val_accuracy"]
        assert trial["metrics"]["test_accuracy"] == again.metrics["test_accuracy"]
    low = core.sweep("digits-seq", "mlp", space, n_trials=2, sampler=grid(space), metric="val_loss",
                     direction="minimize", **FAST)
    assert low.best_value == min(t["value"] for t in low.trials)


def test_out_dir_holds_the_study_and_a_run_per_trial_and_resumes(tmp_path):
    space = {"width": [8, 16, 32]}
    first = core.sweep("digits-seq", "mlp", space, n_trials=2, out_dir=tmp_path, sampler=grid(space), **FAST)
    assert first.storage == f"sqlite:///{(tmp_path / 'study.db').resolve()}"
    for n in (0, 1):
        run_dir = tmp_path / f"trial-{n}"
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["val_accuracy"] == first.trials[n]["value"]
        assert json.loads((run_dir / "config.json").read_text())["model_args"]["width"] == \
            first.trials[n]["config"]["width"]
    again = core.sweep("digits-seq", "mlp", space, n_trials=1, out_dir=tmp_path, sampler=grid(space), **FAST)
    assert len(again.trials) == 3 and (tmp_path / "trial-2" / "metrics.json").exists()
    assert {t["config"]["width"] for t in again.trials} == {8, 16, 32}  # the sampler saw the earlier trials
    assert json.loads((tmp_path / "results.json").read_text())["n_trials"] == 3
    with pytest.raises(ConfigError, match=r"different sweep \(differs in \['space'\]\)"):
        core.sweep("digits-seq", "mlp", {"width": [64]}, n_trials=1, out_dir=tmp_path, **FAST)


def _worker(url, seed):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    core.sweep("digits-seq", "mlp", {"width": [4, 8, 16, 32, 64]}, n_trials=2, storage=url,
               sampler=optuna.samplers.RandomSampler(seed=seed), epochs=1, progress=False, threads=1)


def test_two_worker_processes_share_one_sqlite_study(tmp_path):
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    # Forked workers (a fresh interpreter per worker would spend most of the test importing torch).
    procs = [multiprocessing.get_context("fork").Process(target=_worker, args=(url, seed)) for seed in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    study = optuna.load_study(study_name="digits-seq-mlp", storage=url)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 4 and sorted(t.number for t in finished) == [0, 1, 2, 3]


def _slow_worker(out_dir):
    """A sweep worker whose run pauses in epoch 2, after epoch 1's checkpoint (the test kills it there)."""
    import time

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweeps.HEARTBEAT_INTERVAL = 1
    real = runner.run

    @functools.wraps(real)
    def slow(*args, callbacks=(), **kwargs):
        pause = [lambda row: time.sleep(60) if row["epoch"] == 2 else None]
        return real(*args, callbacks=[*callbacks, *pause], **kwargs)

    runner.run = slow
    core.sweep("digits-seq", "mlp", {"width": [16]}, n_trials=1, out_dir=out_dir, epochs=3, progress=False,
               pruner=optuna.pruners.NopPruner())


def test_a_killed_worker_trial_is_retried_and_resumes_its_run_directory(tmp_path, monkeypatch):
    import multiprocessing
    import os
    import signal
    import time

    worker = multiprocessing.get_context("fork").Process(target=_slow_worker, args=(tmp_path,))
    worker.start()
    checkpoint = tmp_path / "trial-0" / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), "the worker never finished its first epoch"
    os.kill(worker.pid, signal.SIGKILL)  # the worker dies mid-trial: its trial stays RUNNING in the study
    worker.join()
    monkeypatch.setattr(sweeps, "GRACE_PERIOD", 1)
    time.sleep(2)  # no heartbeat for longer than the grace period: the next worker sees the trial is stale
    result = core.sweep("digits-seq", "mlp", {"width": [16]}, n_trials=1, out_dir=tmp_path, epochs=3,
                        progress=False, pruner=optuna.pruners.NopPruner())
    dead, retry = result.trials
    assert dead["state"] == "FAIL" and retry["state"] == "COMPLETE"
    assert retry["run_dir"] == str(tmp_path / "trial-0")  # the retry continued the dead trial's run
    history = json.loads((tmp_path / "trial-0" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    uninterrupted = core.run("digits-seq", "mlp", width=16, epochs=3, progress=False)
    assert retry["value"] == uninterrupted.metrics["val_accuracy"]
    assert retry["metrics"]["test_accuracy"] == uninterrupted.metrics["test_accuracy"]


def test_pruning_stops_a_trial_after_the_epoch_the_pruner_rejects(tmp_path):
    # val_accuracy can never reach 1.5: the threshold pruner prunes at the first report (epoch 1 of 3).
    result = core.sweep("digits-seq", "mlp", {"width": [8]}, n_trials=1, out_dir=tmp_path,
                        pruner=optuna.pruners.ThresholdPruner(lower=1.5), epochs=3, progress=False)
    trial = result.trials[0]
    assert trial["state"] == "PRUNED" and trial["pruned_at"] == 1
    assert len(json.loads((tmp_path / "trial-0" / "history.json").read_text())) == 1
    assert not (tmp_path / "trial-0" / "model.pt").exists()
    kept = core.sweep("digits-seq", "mlp", {"width": [8]}, n_trials=1,
                      pruner=optuna.pruners.ThresholdPruner(lower=0.0), epochs=2, progress=False)
    assert kept.trials[0]["state"] == "COMPLETE" and kept.trials[0]["metrics"]["epochs"] == 2


# -- functional hashing ----------------------------------------------------------------------------------------
def fh(model="mlp", **config):
    return core.functional_hash("digits-seq", model, **{"epochs": 1, **config}).digest


def test_equivalent_configs_share_a_functional_hash():
    # depth=0: no hidden layer, so width and dropout are unused -> the same function and the same training.
    assert fh(depth=0, width=16) == fh(depth=0, width=128, dropout=0.5)
    # a one-layer LSTM applies no inter-layer dropout.
    assert fh("lstm", width=8, depth=1, dropout=0.0) == fh("lstm", width=8, depth=1, dropout=0.4)
    # Adam and AdamW are the same algorithm without weight decay.
    assert fh(depth=1, width=16, optimizer="adam") == fh(depth=1, width=16, optimizer="adamw")
    # batches at least as large as the training split (1,293 examples) are all the whole split.
    assert fh(depth=1, width=16, batch_size=2000) == fh(depth=1, width=16, batch_size=4000)
    # a cosine schedule over one epoch never lowers the learning rate.
    assert fh(depth=1, width=16, scheduler="cosine") == fh(depth=1, width=16, scheduler=None)


@pytest.mark.parametrize("a, b", [
    ({"depth": 1, "width": 16}, {"depth": 1, "width": 32}),
    ({"depth": 1, "width": 16}, {"depth": 1, "width": 16, "dropout": 0.5}),
    ({"depth": 1, "width": 16}, {"depth": 1, "width": 16, "lr": 2e-3}),
    ({"depth": 1, "width": 16, "weight_decay": 0.1, "optimizer": "adam"},
     {"depth": 1, "width": 16, "weight_decay": 0.1, "optimizer": "adamw"}),
    ({"depth": 1, "width": 16, "batch_size": 32}, {"depth": 1, "width": 16, "batch_size": 64}),
    ({"depth": 1, "width": 16}, {"depth": 1, "width": 16, "seed": 1}),
    ({"depth": 0}, {"depth": 0, "epochs": 2}),  # acts after the probe: hashed by value
    ({"depth": 0, "epochs": 3}, {"depth": 0, "epochs": 3, "scheduler": None}),  # the cosine decay is seen
    ({"depth": 0}, {"depth": 0, "grad_clip": 100.0}),
    ({"depth": 0}, {"depth": 0, "task.split_seed": 1}),
])
def test_different_candidates_get_different_hashes(a, b):
    assert fh(**a) != fh(**b)


class ZeroBranch:
    """A linear classifier plus a residual MLP branch whose output layer starts at zero (ReZero-style)."""

    @staticmethod
    def build(*, in_features: int, num_classes: int, width: int = 8):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = nn.Linear(in_features, num_classes)
                self.up, self.down = nn.Linear(in_features, width), nn.Linear(width, num_classes)
                nn.init.zeros_(self.down.weight)
                nn.init.zeros_(self.down.bias)

            def forward(self, x):
                x = x.flatten(1)
                return self.head(x) + self.down(torch.tanh(self.up(x)))

        return Net()


def test_a_zero_initialised_branch_is_told_apart_only_by_the_training_steps(register):
    def hook(registrar):
        registrar.model("zero-branch-test", ZeroBranch.build, fits=("sequence-classification",))

    register("zero_branch_test", hook)
    small = core.functional_hash("digits-seq", "zero-branch-test", width=4, epochs=1)
    large = core.functional_hash("digits-seq", "zero-branch-test", width=32, epochs=1)
    assert small.init_digest == large.init_digest  # the branch adds exactly zero at initialisation...
    assert small.trained_digest != large.trained_digest  # ...but its gradients differ from the first step
    assert small.digest != large.digest


def test_functional_hash_checks_its_arguments():
    with pytest.raises(ConfigError, match="steps must be an int >= 1"):
        core.functional_hash("digits-seq", "mlp", steps=0)
    with pytest.raises(ConfigError, match="unknown config key"):
        core.functional_hash("digits-seq", "mlp", widht=3)


def test_a_hash_hit_reuses_the_equivalent_trial_instead_of_training(tmp_path, monkeypatch):
    calls = []
    real = runner.run

    @functools.wraps(real)
    def counting(*args, **kwargs):
        calls.append(kwargs.get("out_dir"))
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run", counting)
    space = {"width": [16, 64], "depth": [0, 1]}
    result = core.sweep("digits-seq", "mlp", space, n_trials=4, out_dir=tmp_path, sampler=grid(space),
                        functional_hash=True, **FAST)
    by_config = {(t["config"]["depth"], t["config"]["width"]): t for t in result.trials}
    hit, source = by_config[(0, 64)], by_config[(0, 16)]
    if hit["reused_from"] is None:  # whichever of the two depth-0 candidates ran first is the source
        hit, source = source, hit
    assert hit["reused_from"] == source["number"] and hit["value"] == source["value"]
    assert hit["metrics"] == source["metrics"] and hit["saved_seconds"] == source["seconds"]
    assert by_config[(1, 16)]["reused_from"] is None and by_config[(1, 64)]["reused_from"] is None
    assert len(calls) == 3 and tmp_path / f"trial-{hit['number']}" not in calls  # the hit never trained
    reused = json.loads((tmp_path / f"trial-{hit['number']}" / "reused.json").read_text())
    assert reused["reused_from"] == source["number"]
    assert not (tmp_path / f"trial-{hit['number']}" / "model.pt").exists()
    stats = result.hash_stats
    assert stats["hits"] == 1 and stats["functional_hits"] == 1 and stats["hit_rate"] == 0.25
    assert stats["distinct_hashes"] == 3


# -- Step Law --------------------------------------------------------------------------------------------------
def test_step_law_is_the_papers_power_law():
    s = core.suggest_hyperparameters(1e9, 1e11, seq_len=2048)
    # 1.79 * (1e9)^-0.713 * (1e11)^0.307 = 10^(0.25285 - 6.417 + 3.377) and 0.58 * (1e11)^0.571 tokens
    assert s["lr"] == pytest.approx(10 ** (math.log10(1.79) - 6.417 + 3.377), rel=1e-12)
    assert s["lr"] == pytest.approx(1.6325e-3, rel=1e-3)
    assert s["batch_size_tokens"] == pytest.approx(0.58 * 10 ** 6.281, rel=1e-12)
    assert s["batch_size"] == round(s["batch_size_tokens"] / 2048) == 541 and s["in_fit_domain"]
    # the authors' released fit (mean of 1,000 bootstrap fits, step-law/steplaw data/1004_...csv) agrees with the
    # rounded constants within 3% over the domain of the fit
    for n, d in [(2.1e8, 4e9), (2.1e8, 1e11), (1.1e9, 4e9), (1.1e9, 1e11)]:
        released = math.exp(0.58631) * n ** -0.71292 * d ** 0.30749
        assert core.suggest_hyperparameters(n, d)["lr"] == pytest.approx(released, rel=0.03)
        assert core.suggest_hyperparameters(n, d)["batch_size_tokens"] == pytest.approx(
            math.exp(-0.54354) * d ** 0.57094, rel=0.03)
    small = core.suggest_hyperparameters(3e4, 3.7e6, seq_len=64)
    assert not small["in_fit_domain"] and small["batch_size"] == round(small["batch_size_tokens"] / 64)
    for bad in [dict(n_params=0, n_tokens=1e9), dict(n_params=1e9, n_tokens=float("nan")),
                dict(n_params=True, n_tokens=1e9), dict(n_params=1e9, n_tokens=1e9, seq_len=0)]:
        with pytest.raises(ValueError):
            core.suggest_hyperparameters(**bad)


def test_step_law_prior_centres_the_learning_rate_on_each_candidates_suggestion():
    from hyperzoo.core.steplaw import non_embedding_parameters, suggest_hyperparameters

    space = {"width": [8, 32]}
    result = core.sweep("digits-seq", "mlp", space, n_trials=2, prior="step-law", prior_span=4.0,
                        sampler=optuna.samplers.RandomSampler(seed=0), depth=1, epochs=2, progress=False)
    n_train = len(core.get_task("digits-seq").splits()["train"])
    for trial in result.trials:
        law = trial["step_law"]
        model = core.create_model("mlp", in_features=64, num_classes=10, width=trial["config"]["width"], depth=1)
        assert law["n_params"] == non_embedding_parameters(model) == sum(p.numel() for p in model.parameters())
        assert law["n_tokens"] == 2 * n_train * 64
        assert law["lr"] == suggest_hyperparameters(law["n_params"], law["n_tokens"])["lr"]
        assert 1 / 4 <= law["factor"] <= 4 and trial["config"]["lr"] == pytest.approx(law["factor"] * law["lr"])
        assert trial["metrics"] is not None
    with pytest.raises(ConfigError, match="supplies no seq_len"):
        core.sweep("digits-2d", "cnn", {"width": [8]}, n_trials=1, prior="step-law", **FAST)


# -- the command line ------------------------------------------------------------------------------------------
def test_cli_sweep_json_matches_the_study(tmp_path, capsys):
    from hyperzoo.core.cli import main

    out = tmp_path / "cli"
    code = main(["sweep", "digits-seq", "mlp", "--space", "width=[8,16]", "--trials", "2", "--out", str(out),
                 "--set", "epochs=1", "--set", "progress=false", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    study = optuna.load_study(study_name="digits-seq-mlp", storage=f"sqlite:///{out / 'study.db'}")
    assert doc["n_trials"] == len(study.trials) == 2
    assert doc["best"]["value"] == study.best_value and doc["best"]["trial"] == study.best_trial.number
    assert doc["metric"] == "val_accuracy" and doc["direction"] == "maximize"
    assert [t["params"] for t in doc["trials"]] == [t.params for t in study.trials]
    assert main(["sweep", "digits-seq", "mlp", "--trials", "1", "--out", str(out)]) == 2  # no --space
    assert "--space" in capsys.readouterr().err
