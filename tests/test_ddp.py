"""core.run unchanged under torchrun: 2 processes (gloo, CPU) match one process on a deterministic config
(no dropout or batch norm, the same global batch and sample order) to 1e-5; only rank 0 writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

JOB = Path(__file__).with_name("ddp_job.py")
TOL = 1e-5


def launch(prefix, tmp_path, name):
    result, out = tmp_path / f"{name}.json", tmp_path / name
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*prefix, str(JOB), str(result), str(out)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(result.read_text()), out


def test_torchrun_two_processes_match_one(tmp_path):
    pytest.importorskip("torch.distributed", reason="needs torch.distributed (part of torch)")
    single, _ = launch([sys.executable], tmp_path, "single")
    ddp, out = launch([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
                      tmp_path, "ddp")
    assert single["metrics"].keys() == ddp["metrics"].keys()
    for key, value in single["metrics"].items():
        assert abs(ddp["metrics"][key] - value) <= TOL * max(1, abs(value)), key
    for key, value in single["state"].items():
        diff = max(abs(a - b) for a, b in zip(_flat(value), _flat(ddp["state"][key])))
        assert diff <= TOL, f"{key}: {diff}"
    for row_a, row_b in zip(single["history"], ddp["history"]):
        assert abs(row_a["train_loss"] - row_b["train_loss"]) <= TOL  # global averages, not rank 0's shard
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "config.json", "history.json", "metrics.json",
                                                     "model.pt", "timing.json"]
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())


def _flat(value):
    if isinstance(value, list):
        for v in value:
            yield from _flat(v)
    else:
        yield value
