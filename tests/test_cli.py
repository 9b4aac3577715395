"""The hyperzoo command: --json output equals the Python API; run, rerun with --config, resume, errors."""

import json
import os
import subprocess
import sys

import pytest

from hyperzoo import core
from hyperzoo.core.cli import main


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hyperzoo.core", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_listings_match_the_python_api(capsys):
    assert main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)["models"]
    assert [m["name"] for m in models] == core.models()
    assert all(tuple(m["fits"]) == core.model_fits(m["name"]) for m in models)
    assert main(["tasks", "mnist-*", "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)["tasks"]
    assert [(t["name"], t["kind"]) for t in tasks] == [(n, core.task_kind(n)) for n in core.tasks("mnist-*")]
    assert main(["plugins", "--json"]) == 0
    plugins = json.loads(capsys.readouterr().out)
    assert plugins["plugins"] == [p.to_dict() for p in core.plugins()]


def test_ops_json_describes_backends_and_the_choice(capsys):
    assert main(["ops", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ops = {o["name"]: o for o in out["operators"]}
    assert set(ops) == set(core.operators())
    rms = ops["core.rms_norm"]
    assert rms == core.get_operator("core.rms_norm").explain()
    assert rms["backends"][0]["name"] == "triton" and isinstance(rms["backends"][0]["available"], bool)
    assert isinstance(out["orphaned_backends"], list)


def run_cli(capsys, *args):
    """The CLI in this process: (exit status, stdout, stderr)."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_run_json_config_rerun_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    status, stdout, err = run_cli(capsys, "run", "digits-2d", "mlp", "--set", "epochs=2", "--set", "model.width=16",
                                  "--set", "seed=4", "--out", str(out), "--json")
    assert status == 0, err
    first = json.loads(stdout)
    assert set(first) == {"task", "model", "metrics", "history", "config", "run_dir", "seconds"}
    assert first["config"]["seed"] == 4 and first["config"]["model_args"]["width"] == 16
    assert first["metrics"] == {k: v for k, v in json.loads((out / "metrics.json").read_text()).items()
                                if k != "test_confusion_matrix"}
    status, stdout, err = run_cli(capsys, "run", "--config", str(out / "config.json"), "--out",
                                  str(tmp_path / "again"), "--json")
    assert status == 0, err
    assert json.loads(stdout)["metrics"] == first["metrics"]
    status, _, err = run_cli(capsys, "run", "digits-2d", "mlp", "--set", "epochs=2", "--out", str(out))
    assert status == 2 and "already holds a run; pass --resume to continue it" in err
    status, stdout, _ = run_cli(capsys, "run", "--config", str(out / "config.json"), "--out", str(out), "--resume",
                                "--json")
    assert status == 0 and json.loads(stdout)["metrics"] == first["metrics"]
    status, stdout, _ = run_cli(capsys, "run", "digits-2d", "mlp", "--set", "epochs=1", "--out", str(tmp_path / "h"))
    assert status == 0 and "parameters" in stdout and "test_accuracy" in stdout and "run dir" in stdout


@pytest.mark.parametrize("args, message", [
    (["run", "digits-seq", "mlpp"], "unknown model 'mlpp'; did you mean 'mlp'?"),
    (["run", "digits-seq", "mlp", "--set", "width=wide"], "model.width must be int, got str 'wide'"),
    (["run", "digits-seq", "mlp", "--set", "nonsense"], "--set expects key=value"),
    (["run", "digits-seq"], "give both TASK and MODEL"),
])
def test_cli_errors_are_one_clear_line(args, message, tmp_path, capsys):
    status, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "x"))
    assert status == 2 and message in err


def test_a_failing_command_prints_no_traceback(tmp_path):
    proc = cli("run", "digits-seq", "mlpp", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2
    # match the line, not the start of stderr: a broken plugin elsewhere in the environment logs a warning first
    errors = [line for line in proc.stderr.splitlines() if line.startswith("hyperzoo: error:")]
    assert len(errors) == 1 and errors[0].startswith("hyperzoo: error: unknown model 'mlpp'")
    assert "Traceback" not in proc.stderr


def test_main_job_runs_terminator_or_says_why_not(tmp_path):
    """`hyperzoo run` with no arguments: the README's main job (digits-seq), with a notice when falling back."""
    proc = cli("run", "--set", "epochs=1", "--out", str(tmp_path / "main"), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["task"] == "digits-seq"
    if "terminator" in core.models():
        assert result["model"] == "terminator" and "notice" not in proc.stderr
    else:
        assert result["model"] == "cnn" and "needs the hyperkernels plugin" in proc.stderr
