"""One SLIM-KL agent per rank (tests/test_slim_kl.py, benchmarks/slim_kl.py): run plainly (one agent, all data)
or under torchrun (gloo, CPU); rank j holds the interleaved shard j of a 1-D quasi-periodic signal.

    python slim_kl_job.py RESULT.json N_TRAIN BITS|none MAX_ITER
"""

import json
import os
import sys

import numpy as np
import torch

from hyperzoo.kernels.ops.gsmp import gsmp
from hyperzoo.kernels.slim_kl import consensus_admm, poe_predict
from hyperzoo.kernels.tasks import quasi_periodic

torch.set_num_threads(1)
result_path, n_train, bits, max_iter = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
bits = None if bits == "none" else int(bits)
world = int(os.environ.get("WORLD_SIZE", "1"))
rank = int(os.environ.get("RANK", "0"))
if world > 1:
    torch.distributed.init_process_group("gloo")

rng = np.random.default_rng(0)
t = np.linspace(0, 10, n_train, endpoint=False)
y = quasi_periodic(t) + 0.1 * rng.standard_normal(n_train)
x = torch.tensor(t[rank::world, None])
ys = torch.tensor(y[rank::world])
q = int(os.environ.get("SLIM_Q", "21"))
FMAX = float(os.environ.get("SLIM_FMAX", "4.0"))
means = torch.linspace(0, FMAX, q, dtype=torch.float64)[:, None]
scales = torch.full((q, 1), FMAX / q, dtype=torch.float64)
comps = gsmp(x, None, torch.ones(q, dtype=torch.float64), means, scales, components=True)
res = consensus_admm(comps, ys, rho=float(os.environ.get("SLIM_RHO", "0.5")), bits=bits, max_iter=max_iter,
                     inner_steps=int(os.environ.get("SLIM_INNER", "2")), tol=float(os.environ.get("SLIM_TOL", "1e-9")))
t_test = torch.linspace(10, 12, 100, dtype=torch.float64)[:, None]
mu, _ = poe_predict(x, ys, t_test, res.weights, res.noise, means, scales)
rmse = float(((mu - torch.tensor(quasi_periodic(t_test[:, 0].numpy()))) ** 2).mean().sqrt())
if rank == 0:
    with open(result_path, "w") as fh:
        json.dump({"weights": res.weights.tolist(), "noise": res.noise, "objective": res.objective,
                   "primal_residual": res.primal_residual, "iterations": res.iterations, "world": world,
                   "bytes_per_agent": res.bytes_per_agent, "bytes_total": res.bytes_total, "test_rmse": rmse}, fh)
if world > 1:
    torch.distributed.destroy_process_group()
