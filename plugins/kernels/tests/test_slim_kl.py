"""SLIM-KL (arXiv 2309.08201): quantized consensus ADMM for the GSMP weights on torch.distributed.

The torchrun test launches 2 gloo ranks (one agent and one data shard each) and requires the consensus to reach
the single-process minimiser of the same objective (``centralised_sca`` over both shards): weights within 1e-4
relative, noise variance within 1e-3 relative, objective within 1e-8 relative."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hyperzoo.kernels.ops.gsmp import gsmp
from hyperzoo.kernels.slim_kl import (
    centralised_sca,
    consensus_admm,
    dequantize,
    local_objective,
    positive_cubic_root,
    quantize,
)
from hyperzoo.kernels.tasks import quasi_periodic

JOB = Path(__file__).with_name("slim_kl_job.py")
Q, FMAX, N = 21, 4.0, 200


def shards(world):
    """The job's data: 200 noisy samples of the quasi-periodic signal on [0, 10), interleaved over the agents."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 10, N, endpoint=False)
    y = quasi_periodic(t) + 0.1 * rng.standard_normal(N)
    means = torch.linspace(0, FMAX, Q, dtype=torch.float64)[:, None]
    scales = torch.full((Q, 1), FMAX / Q, dtype=torch.float64)
    comps = [gsmp(torch.tensor(t[r::world, None]), None, torch.ones(Q, dtype=torch.float64), means, scales,
                  components=True) for r in range(world)]
    return comps, [torch.tensor(y[r::world]) for r in range(world)]


def test_torchrun_two_agents_reach_the_single_process_solution(tmp_path):
    pytest.importorskip("torch.distributed", reason="needs torch.distributed (part of torch)")
    out = tmp_path / "slim.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SLIM_TOL": "1e-8"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(JOB), str(out), str(N), "8", "300"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads(out.read_text())
    assert got["world"] == 2
    theta, noise, hist = centralised_sca(*shards(2))
    w = torch.tensor(got["weights"], dtype=torch.float64)
    assert float((w - theta).norm() / theta.norm()) < 1e-4
    assert abs(got["noise"] - noise) < 1e-3 * noise
    assert abs(got["objective"][-1] - hist[-1]) < 1e-8 * abs(hist[-1]) + 1e-7
    assert got["primal_residual"][-1] < 1e-6
    # 8-bit messages: (Q + 1) codes of one byte + two float64 range ends per iteration, fewer than float64 ones
    assert got["bytes_per_agent"] < 0.5 * got["iterations"] * (Q + 1) * 8


def test_one_agent_equals_centralised_sca_and_the_objective_settles():
    comps, ys = (c[:1] for c in shards(2))           # one agent holding the first shard (100 points)
    theta, noise, hist = centralised_sca(comps, ys)
    assert all(b <= a + 1e-9 for a, b in zip(hist, hist[1:]))          # the majorisation is monotone
    res = consensus_admm(comps[0], ys[0], bits=None, max_iter=400, tol=1e-10)
    assert float((res.weights - theta).norm() / theta.norm()) < 1e-4
    assert abs(res.objective[-1] - local_objective(comps[0], ys[0], torch.cat([theta, torch.tensor([noise])]),
                                                   0.0)) < 1e-6
    assert (res.weights >= 0).all()


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_quantize_round_trip_is_within_one_level_and_unbiased(bits):
    g = torch.Generator().manual_seed(0)
    d = torch.randn(13, dtype=torch.float64)
    packed, rng = quantize(d, bits, g)
    assert packed.dtype == torch.uint8 and packed.numel() == -(-13 * bits // 8)
    back = dequantize(packed, rng, bits, 13)
    step = float(d.max() - d.min()) / (2 ** bits - 1)
    assert float((back - d).abs().max()) <= step + 1e-12
    mean = torch.stack([dequantize(*quantize(d, bits, g), bits, 13) for _ in range(4000)]).mean(0)
    assert float((mean - d).abs().max()) < 0.1 * step + 1e-3      # stochastic rounding is unbiased


def test_positive_cubic_root_minimises_the_coordinate_surrogate():
    a = torch.tensor([0.3, 0.0, 2.0, 1e-6], dtype=torch.float64)
    b = torch.tensor([0.5, 0.4, 0.1, 3.0], dtype=torch.float64)
    v = torch.tensor([1.0, 0.1, -2.0, 0.5], dtype=torch.float64)
    h = positive_cubic_root(a, b, 2.0, v)
    grid = torch.linspace(1e-9, 5, 200001, dtype=torch.float64)[:, None]
    f = a / grid + b * grid + (grid - v) ** 2
    assert torch.allclose(h, grid[f.argmin(0), 0], atol=1e-4)


def test_bad_input_is_refused():
    comps, ys = shards(1)
    with pytest.raises(ValueError, match="bits"):
        consensus_admm(comps[0], ys[0], bits=3)
    with pytest.raises(ValueError, match="rho"):
        consensus_admm(comps[0], ys[0], rho=0.0)
    with pytest.raises(ValueError, match="n = 200 entries"):
        consensus_admm(comps[0], ys[0][:10])
    bad = ys[0].clone()
    bad[0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        consensus_admm(comps[0], bad)
