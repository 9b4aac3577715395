"""core.run: routing, data-derived sizes, determinism, run dirs (atomic, resumable), estimators, seeds,
auxiliary losses, task-owned procedures and clear errors."""

import json

import pytest
import torch
from torch import nn

from hyperzoo import core
from hyperzoo.core import io as hz_io
from hyperzoo.core.data import DataNotFoundError

FAST = {"epochs": 2, "progress": False}


def test_same_seed_same_metrics_and_data_derived_sizes():
    a = core.run("digits-seq", "mlp", width=32, **FAST)
    b = core.run("digits-seq", "mlp", width=32, **FAST)
    assert a.metrics == b.metrics
    assert a.metrics["test_accuracy"] > 0.5
    args = a.config["model_args"]
    assert (args["in_features"], args["num_classes"], args["width"]) == (64, 10, 32)
    assert a.config["trainer_args"]["epochs"] == 2 and a.config["trainer_args"]["lr"] == 3e-3  # task default
    assert a.metrics["params"] == 64 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10
    assert [row["epoch"] for row in a.history] == [1, 2]
    c = core.run("digits-seq", "mlp", width=32, seed=1, **FAST)
    assert c.metrics != a.metrics
    json.dumps(a.config)  # plain JSON


def test_prepare_checks_and_builds_what_run_would_without_training():
    plan = core.prepare("digits-2d", "cnn", **{"model.width": 8, "lr": 1e-2, "task.split_seed": 3})
    assert isinstance(plan, core.RunPlan) and plan.task_args == {"split_seed": 3}
    assert plan.model_args["width"] == 8 and plan.model_args["image_size"] == [8, 8]   # data-derived
    assert plan.trainer_kwargs["lr"] == 1e-2 and plan.threads == 1
    model = plan.build_model()
    assert model.hyperzoo_spec == {"name": "cnn", "args": plan.model_args}
    r = core.run("digits-2d", "cnn", **{"model.width": 8, "lr": 1e-2, "task.split_seed": 3}, **FAST)
    assert (r.config["task_args"], r.config["model_args"]) == (plan.task_args, plan.model_args)
    with pytest.raises(core.ConfigError, match="is of kind 'image-classification'"):
        core.prepare("digits-2d", "lstm")
    cache: dict = {}
    first = core.prepare("digits-2d", "cnn", task_cache=cache, width=4)
    assert core.prepare("digits-2d", "cnn", task_cache=cache, width=8).task is first.task   # same task config
    assert core.prepare("digits-2d", "cnn", task_cache=cache, split_seed=1).task is not first.task


def test_dotted_keys_and_user_overrides_beat_task_defaults():
    r = core.run("digits-2d", "cnn", **{"model.width": 8, "trainer.lr": 1e-2, "task.split_seed": 3, "depth": 1}, **FAST)
    assert r.config["model_args"]["width"] == 8 and r.config["model_args"]["depth"] == 1
    assert r.config["model_args"]["image_size"] == [8, 8]
    assert r.config["trainer_args"]["lr"] == 1e-2 and r.config["task_args"] == {"split_seed": 3}


def test_unknown_key_lists_valid_keys_and_suggests():
    with pytest.raises(core.ConfigError) as err:
        core.run("digits-seq", "mlp", widht=3)
    text = str(err.value)
    assert "unknown config key 'widht'. Did you mean 'width'?" in text
    assert "model mlp: depth, dropout, in_features, num_classes, width" in text and "trainer: batch_size" in text
    with pytest.raises(core.ConfigError, match="model mlp has no argument 'widht'. Did you mean model.width"):
        core.run("digits-seq", "mlp", **{"model.widht": 3})
    with pytest.raises(core.ConfigError, match="prefix must be task., model. or trainer."):
        core.run("digits-seq", "mlp", **{"optim.lr": 3})


def test_ambiguous_key_is_rejected_with_the_dotted_forms(register):
    class DropTask(core.ClassificationTask):
        def __init__(self, *, dropout: float = 0.0):
            self.dropout = dropout

        def load(self):
            x, y = torch.randn(20, 1, 4), torch.arange(20) % 2
            return {"train": (x, y), "val": (x, y), "test": (x, y)}

    register("droptask", lambda registrar: registrar.task("drop-task", DropTask, kind="sequence-classification"))
    with pytest.raises(core.ConfigError, match=r"'dropout' is ambiguous: task and model both accept it; write "
                                               r"task.dropout=0.1 or model.dropout=0.1"):
        core.run("drop-task", "mlp", dropout=0.1)
    r = core.run("drop-task", "mlp", **{"task.dropout": 0.1, "model.dropout": 0.2}, epochs=1, progress=False)
    assert r.config["task_args"] == {"dropout": 0.1} and r.config["model_args"]["dropout"] == 0.2


def test_wrong_types_and_kind_mismatch_are_clear():
    with pytest.raises(core.ConfigError, match="model.width must be int, got str 'abc'"):
        core.run("digits-seq", "mlp", width="abc")
    with pytest.raises(core.ConfigError, match="trainer.epochs must be int, got float 1.5"):
        core.run("digits-seq", "mlp", epochs=1.5)
    with pytest.raises(core.ConfigError, match=r"trainer.lr=-1 is out of range"):
        core.run("digits-seq", "mlp", lr=-1)
    with pytest.raises(core.ConfigError, match=r"model 'lstm' fits \['sequence-classification'\], but task "
                                               r"'digits-2d' is of kind 'image-classification'"):
        core.run("digits-2d", "lstm")


def test_missing_data_files_say_where_and_what_to_do(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"missing data file: looked for .*mnist/train-5k-images-idx3-ubyte"
                                                r".*pass another data_root"):
        core.run("mnist-seq", "mlp", data_root=str(tmp_path))
    with pytest.raises(DataNotFoundError, match="is not a directory"):
        core.run("mnist-seq", "mlp", data_root=str(tmp_path / "nowhere"))


def test_run_dir_files_load_and_rerun(tmp_path):
    r = core.run("digits-seq", "mlp", width=16, out_dir=tmp_path / "run", **FAST)
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["checkpoint.pt", "config.json", "history.json", "metrics.json", "model.pt", "timing.json"]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {k: v for k, v in saved.items() if k != "test_confusion_matrix"} == r.metrics
    cm = saved["test_confusion_matrix"]  # [true][predicted] counts over the test split
    assert len(cm) == 10 and sum(map(sum, cm)) == 360
    assert sum(cm[c][c] for c in range(10)) / 360 == pytest.approx(r.metrics["test_accuracy"])
    assert r.metrics["test_accuracy_class3"] == pytest.approx(cm[3][3] / sum(cm[3]))
    model, config = core.load(tmp_path / "run")
    assert config == json.loads((tmp_path / "run" / "config.json").read_text())
    task = core.get_task("digits-seq")
    evaluated = core.Trainer().evaluate(task, model, task.splits()["test"])
    assert evaluated["accuracy"] == pytest.approx(r.metrics["test_accuracy"], abs=1e-9)
    with pytest.raises(FileExistsError, match="already holds a run; pass resume=True"):
        core.run("digits-seq", "mlp", width=16, out_dir=tmp_path / "run", **FAST)
    with pytest.raises(core.ConfigError, match=r"cannot resume .* differs in model_args.width: 16 → 8"):
        core.run("digits-seq", "mlp", width=8, out_dir=tmp_path / "run", resume=True, **FAST)
    from hyperzoo.core.runner import run_config

    again = run_config(config, progress=False)
    assert again.metrics == r.metrics


def test_a_crash_while_writing_leaves_previous_files_intact(tmp_path, monkeypatch):
    core.run("digits-seq", "mlp", width=16, out_dir=tmp_path, **FAST)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def exploding_save(obj, fh, *args, **kwargs):
        fh.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", exploding_save)
    with pytest.raises(OSError, match="disk full"):
        hz_io.save_checkpoint(tmp_path / "model.pt", {"x": torch.ones(1)})
    monkeypatch.setattr(hz_io.json, "dumps", lambda *a, **k: (_ for _ in ()).throw(OSError("crash")))
    with pytest.raises(OSError, match="crash"):
        hz_io.write_json(tmp_path / "metrics.json", {"test_accuracy": 0})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files left either
    monkeypatch.undo()
    assert core.load(tmp_path)[1]["model"] == "mlp"


def test_killed_run_resumes_to_the_same_metrics(tmp_path, monkeypatch):
    cfg = dict(width=32, dropout=0.3, epochs=5, progress=False)  # dropout: the RNG state must be restored too
    whole = core.run("digits-seq", "mlp", out_dir=tmp_path / "whole", **cfg)

    from hyperzoo.core.trainer import Trainer

    original_log = Trainer.log

    def killed_at_epoch_3(self, **row):
        if row.get("epoch") == 3:
            raise KeyboardInterrupt  # as if the process died after epoch 2's checkpoint
        original_log(self, **row)

    monkeypatch.setattr(Trainer, "log", killed_at_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        core.run("digits-seq", "mlp", out_dir=tmp_path / "killed", **cfg)
    monkeypatch.undo()
    assert not (tmp_path / "killed" / "metrics.json").exists()
    resumed = core.run("digits-seq", "mlp", out_dir=tmp_path / "killed", resume=True, **cfg)
    assert resumed.metrics == whole.metrics
    assert resumed.history == whole.history
    done = core.run("digits-seq", "mlp", out_dir=tmp_path / "killed", resume=True, **cfg)  # finished: reloaded
    assert done.metrics == whole.metrics


def test_seeds_report_mean_and_std(tmp_path):
    r = core.run("digits-seq", "mlp", width=16, seeds=[0, 1, 2], out_dir=tmp_path, **FAST)
    accs = [run.metrics["test_accuracy"] for run in r.runs]
    assert r.metrics["test_accuracy"] == pytest.approx(sum(accs) / 3)
    assert r.metrics["test_accuracy_std"] == pytest.approx(torch.tensor(accs).std(unbiased=False).item())
    assert r.metrics["test_accuracy_std"] > 0
    assert {row["seed"] for row in r.history} == {0, 1, 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "history.json", "metrics.json",
                                                         "seed-0", "seed-1", "seed-2"]
    with pytest.raises(ValueError, match="pass seed="):
        core.load(tmp_path)
    model, config = core.load(tmp_path, seed=1)
    assert config["seed"] == 1


class AuxModel(nn.Module):
    """An MLP plus a parameter that only the auxiliary loss sees."""

    def __init__(self, in_features: int = 64, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))
        self.free = nn.Parameter(torch.full((3,), 2.0))

    def forward(self, x):
        return self.net(x)

    def auxiliary_losses(self):
        return {"l2": (self.free**2).sum()}


def test_auxiliary_losses_are_added_and_logged():
    model = AuxModel()
    r = core.run("digits-seq", model, **FAST)
    assert all("train_aux_l2" in row for row in r.history)
    assert r.history[1]["train_aux_l2"] < r.history[0]["train_aux_l2"] < 12.0  # it was minimised
    assert model.free.abs().max() < 2.0


class GaussianDensity:
    """A toy estimator: a diagonal Gaussian fitted by maximum likelihood (no gradient training)."""

    def __init__(self, *, floor: float = 1e-3):
        self.floor = floor

    def fit(self, x, y=None):
        self.mean_, self.var_ = x.mean(0), x.var(0, unbiased=False) + self.floor
        return self

    def score_samples(self, x):
        return (-0.5 * ((x - self.mean_) ** 2 / self.var_ + torch.log(2 * torch.pi * self.var_))).sum(-1)

    def state_dict(self):
        return {"mean": self.mean_, "var": self.var_}

    def load_state_dict(self, state):
        self.mean_, self.var_ = state["mean"], state["var"]


class DensityTask:
    """A task that owns its procedure: fit on train, report held-out mean log-likelihood."""

    kind = "density"

    def __init__(self, *, n: int = 500):
        self.n = n

    def model_defaults(self):
        return {}

    def trainer_defaults(self):
        return {}

    def run(self, model, trainer):
        g = torch.Generator().manual_seed(trainer.seed)
        x = torch.randn(self.n, 3, generator=g, dtype=torch.float64) * 2 + 1
        model.fit(x[: self.n // 2])
        trainer.log(step="fit", n=self.n // 2)
        return {"test_loglik": float(model.score_samples(x[self.n // 2:]).mean())}


def test_estimators_run_and_save_without_pickle(register, tmp_path):
    register("density", lambda registrar: (registrar.model("gauss", GaussianDensity, fits=["density"]),
                                           registrar.task("toy-density", DensityTask, kind="density")))
    r = core.run("toy-density", "gauss", out_dir=tmp_path, floor=1e-6)
    exact = -3 * (0.5 * torch.log(torch.tensor(2 * torch.pi * 4.0)) + 0.5)  # entropy of N(1, 4 I_3)
    assert r.metrics["test_loglik"] == pytest.approx(float(exact), abs=0.2)
    assert r.history == [{"step": "fit", "n": 250}] and "params" not in r.metrics
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert saved["estimator"] is True and set(saved["state"]) == {"mean", "var"}
    model, config = core.load(tmp_path)
    assert config["model_args"] == {"floor": 1e-6}
    assert torch.equal(model.mean_, r.model.mean_)
    with pytest.raises(core.ConfigError, match="fits \\['density'\\]"):
        core.run("digits-seq", "gauss")


class TenSplits(core.ClassificationTask):
    """A task-owned procedure: a fresh model per split, aggregated with mean and _std."""

    def load(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(90, 1, 4, generator=g)
        y = (x.sum((1, 2)) > 0).long()
        return {"train": (x[:60], y[:60]), "val": (x[60:75], y[60:75]), "test": (x[75:], y[75:])}

    def run(self, model, trainer):
        results = []
        for split in range(3):
            fresh = trainer.make_model(seed=split)
            results.append(trainer.fit(self, fresh, checkpoint=f"split-{split}.pt"))
        return core.aggregate(results)


def test_task_owned_procedure_with_fresh_models_per_split(register):
    register("tensplits", lambda registrar: registrar.task("splits3", TenSplits, kind="sequence-classification"))
    r = core.run("splits3", "mlp", width=8, epochs=3, progress=False)
    assert "test_accuracy_std" in r.metrics and len(r.history) == 9
    assert core.aggregate([{"a": 1.0}, {"a": 3.0}]) == {"a": 2.0, "a_std": 1.0}


def test_seeds_refuse_a_model_instance_before_training():
    with pytest.raises(core.ConfigError, match="seeds=\\[...\\] needs a registered model name"):
        core.run("digits-seq", AuxModel(), seeds=[0, 1])


def test_early_stopping_breaks_ties_on_the_monitored_metric_by_validation_loss():
    """Equal validation accuracy with a lower validation loss counts as an improvement (kept weights, patience
    restarts); a tie with a higher loss does not."""
    import torch

    from hyperzoo.core.trainer import Trainer

    scores = iter([(0.9, 0.5), (0.95, 0.4), (0.95, 0.3), (0.95, 0.35), (0.9, 0.2), (0.9, 0.2)])
    model = torch.nn.Linear(1, 1)

    def step(epoch):
        with torch.no_grad():
            model.weight.fill_(epoch)
        return {"train_loss": 1.0}

    def select():
        acc, loss = next(scores)
        return {"accuracy": acc, "loss": loss}

    trainer = Trainer(epochs=6, patience=2)
    info = trainer.fit_steps(model, step, select, monitor="accuracy", mode="max")
    assert info["best_epoch"] == 3 and info["epochs"] == 5       # epoch 3 ties epoch 2 with a lower loss
    assert float(model.weight.detach()) == 2.0                   # its weights were restored
