"""SLIM-KL benchmark: quantized consensus ADMM with 1, 2, 4 agents (torchrun, gloo, one rank per agent) on the
quasi-periodic signal of ``spectral-mixture-1d`` (200 noisy samples on [0, 10), extrapolation to [10, 12)), float64
messages vs 8- and 4-bit quantisation; GPyTorch's SpectralMixtureKernel GP (4 mixtures, Adam) on all the data in
the same run. Prints a markdown table (docs/results/kernels.md).

    OMP_NUM_THREADS=1 python plugins/kernels/benchmarks/slim_kl.py
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

JOB = Path(__file__).resolve().parents[1] / "tests" / "slim_kl_job.py"
sys.path.insert(0, str(JOB.parent))
from test_slim_kl import N, shards  # noqa: E402  (the same data as the job)

from hyperzoo.kernels.slim_kl import centralised_sca  # noqa: E402
from hyperzoo.kernels.tasks import quasi_periodic  # noqa: E402


def run(world: int, bits: str) -> dict:
    out = Path(tempfile.mkdtemp()) / "r.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SLIM_TOL": "1e-8"}
    prefix = [sys.executable] if world == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                   f"--nproc_per_node={world}"]
    t0 = time.perf_counter()
    proc = subprocess.run([*prefix, str(JOB), str(out), str(N), bits, "400"], capture_output=True, text=True,
                          env=env, timeout=900)
    if proc.returncode:
        raise RuntimeError(proc.stdout + proc.stderr)
    got = json.loads(out.read_text())
    got["wall_s"] = time.perf_counter() - t0
    return got


def gpytorch_sm() -> float:
    import gpytorch

    rng = np.random.default_rng(0)
    t = np.linspace(0, 10, N, endpoint=False)
    y = quasi_periodic(t) + 0.1 * rng.standard_normal(N)
    x, yt = torch.tensor(t[:, None]), torch.tensor(y)

    class GP(gpytorch.models.ExactGP):
        def __init__(self, x, y, lik):
            super().__init__(x, y, lik)
            self.mean = gpytorch.means.ConstantMean()
            self.cov = gpytorch.kernels.SpectralMixtureKernel(num_mixtures=4)
            self.cov.initialize_from_data(x, y)

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean(x), self.cov(x))

    lik = gpytorch.likelihoods.GaussianLikelihood()
    model = GP(x, yt, lik).double()
    lik.double()
    model.train(), lik.train()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(lik, model)
    for _ in range(300):
        opt.zero_grad()
        loss = -mll(model(x), yt)
        loss.backward()
        opt.step()
    model.eval(), lik.eval()
    t_test = torch.linspace(10, 12, 100, dtype=torch.float64)[:, None]
    with torch.no_grad():
        mu = model(t_test).mean
    return float(((mu - torch.tensor(quasi_periodic(t_test[:, 0].numpy()))) ** 2).mean().sqrt())


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    for world in (1, 2, 4):
        theta, noise, _ = centralised_sca(*shards(world))
        for bits in ("none", "8", "4"):
            got = run(world, bits)
            w = torch.tensor(got["weights"], dtype=torch.float64)
            rows.append((world, "float64" if bits == "none" else f"{bits}-bit", got["test_rmse"],
                         got["iterations"], got["bytes_per_agent"], got["bytes_total"],
                         float((w - theta).norm() / theta.norm()), got["primal_residual"][-1], got["wall_s"]))
            print(rows[-1], flush=True)
    sm = gpytorch_sm()
    print("| agents | messages | test RMSE | iterations | bytes sent per agent | bytes total | "
          "‖θ − θ_central‖/‖θ_central‖ | final primal residual | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.4g} | {r[3]} | {r[4]} | {r[5]} | {r[6]:.2g} | {r[7]:.2g} | {r[8]:.1f} |")
    print(f"\nGPyTorch SpectralMixtureKernel GP (4 mixtures, initialize_from_data, Adam lr 0.1 x 300, all 200 "
          f"points): test RMSE {sm:.4g}.")


if __name__ == "__main__":
    main()
