"""What a new user hit (issue 10): one-line errors with status 2, run dirs that never block, resume rules."""

import json
import os
import stat
import subprocess
import sys

import pytest
import torch

from hyperzoo import core
from hyperzoo.core.cli import main

FAST = {"epochs": 1, "device": "cpu", "progress": False}


def one_line_error(capsys, *args):
    status = main(list(args))
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("hyperzoo: error:")]
    assert status == 2, (status, out, err)
    assert len(lines) == 1 and len(err.strip().splitlines()) == 1, err
    return lines[0]


def test_every_reported_error_is_one_line_with_status_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "not valid JSON" in one_line_error(capsys, "run", "--config", str(bad))
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    assert "a JSON object with 'task' and 'model'" in one_line_error(capsys, "run", "--config", str(listed))
    line = one_line_error(capsys, "run", "digits-seq", "mlp", "--set", "width=0", "--out", str(tmp_path / "w"))
    assert "width must be a positive int, got 0" in line and "model" in line
    assert not (tmp_path / "w").exists()  # validated before any run dir exists
    if not torch.cuda.is_available():
        line = one_line_error(capsys, "run", "digits-seq", "mlp", "--set", "device=cuda")
        assert "CUDA is not available" in line and "device='auto' would pick 'cpu'" in line
    assert "--resume needs --out" in one_line_error(capsys, "run", "digits-seq", "mlp", "--resume")
    line = one_line_error(capsys, "run", "digits-seq", "mlp", "--resume", "--out", str(tmp_path / "missing"))
    assert "does not exist" in line and "resume" in line
    assert "valid keys: task digits-seq" in one_line_error(capsys, "run", "digits-seq", "mlp", "--set", "widht=3")


def test_listing_into_a_closed_pipe_exits_quietly():
    for listing in (["tasks", "--json"], ["ops", "--json"]):
        proc = subprocess.Popen([sys.executable, "-m", "hyperzoo.core", *listing], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        proc.stdout.readline()
        proc.stdout.close()  # like `| head -1`
        err = proc.stderr.read().decode()
        assert proc.wait() == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_failed_run_leaves_a_dir_that_does_not_block_the_fixed_rerun(tmp_path, capsys):
    out = tmp_path / "run"
    assert "optimizer" in one_line_error(capsys, "run", "digits-seq", "mlp", "--set", "optimizer=adamw2",
                                         "--set", "epochs=1", "--out", str(out))
    assert "batch_size" in one_line_error(capsys, "run", "digits-seq", "mlp", "--set", "batch_size=0",
                                          "--out", str(out))
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"task": "digits-seq", "model": "mlp"}))  # a crash's leftover
    assert main(["run", "digits-seq", "mlp", "--set", "epochs=1", "--out", str(out), "--quiet"]) == 0
    assert (out / "model.pt").exists()


def test_resume_with_a_larger_epochs_budget_trains_on_and_records_both(tmp_path):
    cfg = dict(FAST, scheduler=None, width=16)
    short = core.run("digits-seq", "mlp", out_dir=tmp_path / "run", **cfg)
    assert short.metrics["epochs"] == 1
    longer = core.run("digits-seq", "mlp", out_dir=tmp_path / "run", resume=True, **{**cfg, "epochs": 3})
    direct = core.run("digits-seq", "mlp", **{**cfg, "epochs": 3})
    assert longer.metrics == direct.metrics and [r["epoch"] for r in longer.history] == [1, 2, 3]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["budgets"] == [1, 3] and config["trainer_args"]["epochs"] == 3
    with pytest.raises(core.ConfigError, match="model_args.width: 16 → 8"):
        core.run("digits-seq", "mlp", out_dir=tmp_path / "run", resume=True, **{**cfg, "width": 8})


def test_run_dir_files_follow_the_umask_and_time_covers_every_session(tmp_path):
    old = os.umask(0o022)
    try:
        core.run("digits-seq", "mlp", out_dir=tmp_path / "run", **FAST)
    finally:
        os.umask(old)
    for name in ("config.json", "metrics.json", "history.json", "model.pt", "checkpoint.pt"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o644, name
    again = core.run("digits-seq", "mlp", out_dir=tmp_path / "run", resume=True, **{**FAST, "epochs": 2})
    timing = json.loads((tmp_path / "run" / "timing.json").read_text())
    assert len(timing["sessions"]) == 2 and again.earlier_seconds > 0 and again.total_seconds >= again.seconds
    assert "in all, with the earlier sessions" in again.summary()


def test_lines_without_a_terminal_and_integers_as_integers(capsys):
    r = core.run("digits-seq", "mlp", epochs=2, device="cpu", seeds=[0, 1], progress="lines")
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "train_loss" in err
    text = r.summary()
    assert "epochs  " in text and "2 ± 0" in text and "params" not in text.split("parameters")[1].split("\n")[0]
    assert all(len(line.split()) >= 2 for line in text.splitlines()[1:])  # a space after every key


def test_parameter_counts_per_top_level_module():
    r = core.run("digits-seq", "mlp", **FAST)
    assert r.metrics["params"] == r.metrics["params_net"] == sum(p.numel() for p in r.model.parameters())


def test_predict_and_evaluate_a_run_dir(tmp_path, capsys):
    import numpy as np

    r = core.run("digits-2d", "cnn", width=8, out_dir=tmp_path / "run", **FAST)
    task = core.get_task("digits-2d")
    x = task.splits()["test"].tensors[0][:10]
    logits = core.predict(tmp_path / "run", x)
    assert logits.shape == (10, 10) and torch.allclose(logits, r.model.eval()(x), atol=1e-6)
    assert core.evaluate(tmp_path / "run")["test_accuracy"] == pytest.approx(r.metrics["test_accuracy"])
    np.save(tmp_path / "x.npy", x.numpy())
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "x.npy"), "--out", str(tmp_path / "p.npy")]) == 0
    assert np.allclose(np.load(tmp_path / "p.npy"), logits.numpy(), atol=1e-6)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["test_accuracy"] == pytest.approx(r.metrics["test_accuracy"])


def test_describe_reads_the_factory_without_importing_it(capsys):
    code = ("import sys; from hyperzoo.core.use import describe; d = describe('model', 'cnn'); "
            "print(d['fits'][0], [p['name'] for p in d['parameters']][:3], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "sequence-classification ['in_channels', 'num_classes', 'seq_len'] False"
    assert main(["tasks", "--describe", "mnist-seq"]) == 0
    text = capsys.readouterr().out
    assert "split_seed" in text and "default 0" in text and "kind sequence-classification" in text
    assert main(["datasets", "--json"]) == 0
    assert "digits" in [d["name"] for d in json.loads(capsys.readouterr().out)["datasets"]]


def test_plot_draws_the_curves_of_several_runs(tmp_path, capsys):
    for seed in (0, 1):
        core.run("digits-seq", "mlp", epochs=2, seed=seed, device="cpu", progress=False, out_dir=tmp_path / f"r{seed}")
    assert main(["plot", str(tmp_path / "r0"), str(tmp_path / "r1"), "--out", str(tmp_path / "c.png")]) == 0
    png = (tmp_path / "c.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "val_nonsense" in one_line_error(capsys, "plot", str(tmp_path / "r0"), "--metrics", "val_nonsense")


def test_tensorboard_logger_writes_the_history_as_events(tmp_path):
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra (a test dependency)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    r = core.run("digits-seq", "mlp", epochs=2, device="cpu", progress=False, logger="tensorboard",
                 out_dir=tmp_path / "run")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    values = [e.value for e in events.Scalars("val_accuracy")]
    assert values == pytest.approx([row["val_accuracy"] for row in r.history], abs=1e-6)
