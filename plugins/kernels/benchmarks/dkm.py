"""Deep kernel machine benchmark (arXiv 2108.13097) on scikit-learn's diabetes data (442 x 10, standardised):
the DKM with 2 learned Gram layers at ν ∈ {∞ (the NNGP), 1000, 100, 10, 1}, full and sparse (M = 100 inducing
points), against the depth-3 NNGP kernel regression (``NTKRegressor(kernel="nngp")``) in the same run; 3 random
300/142 splits. Then the sparse DKM's cost per objective + gradient evaluation vs n (M = 50). Prints markdown.

    OMP_NUM_THREADS=1 python plugins/kernels/benchmarks/dkm.py
"""

import time

import numpy as np
import torch
from sklearn.datasets import load_diabetes

from hyperzoo.kernels import NTKRegressor
from hyperzoo.kernels.dkm import DeepKernelMachine, DKMObjective

NOISE = 0.5


def alignment(k: np.ndarray, y: np.ndarray) -> float:
    """Kernel–target alignment ⟨K, yyᵀ⟩_F / (‖K‖_F ‖y‖²) of the centred kernel."""
    h = np.eye(len(y)) - 1.0 / len(y)
    kc = h @ k @ h
    return float(y @ kc @ y / (np.linalg.norm(kc) * (y @ y)))


def main() -> None:
    torch.set_num_threads(1)
    x, y = load_diabetes(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    rows = {}
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(y))
        tr, te = perm[:300], perm[300:]
        ys = (y[tr] - y[tr].mean()) / y[tr].std()
        ref = NTKRegressor(kernel="nngp", depth=3, ridge=NOISE).fit(x[tr], ys)
        pred = ref.predict(x[te]) * y[tr].std() + y[tr].mean()
        rows.setdefault(("NNGP KRR (depth 3)", "-"), []).append((np.sqrt(((pred - y[te]) ** 2).mean()), np.nan,
                                                                  np.nan, np.nan, 0.0))
        for num_inducing in (None, 100):
            for nu in (np.inf, 1000.0, 100.0, 10.0, 1.0):
                t0 = time.perf_counter()
                m = DeepKernelMachine(depth=2, nu=nu, noise=NOISE, num_inducing=num_inducing, max_iter=100,
                                      random_state=seed).fit(x[tr], y[tr])
                wall = time.perf_counter() - t0
                rmse = np.sqrt(((m.predict(x[te]) - y[te]) ** 2).mean())
                g = m.gram_matrices()[-1]
                with torch.no_grad():
                    g0 = m.objective_.nngp_grams(m.objective_.z)[-1].numpy()
                zi = np.arange(len(tr)) if num_inducing is None else None
                if zi is not None:
                    al = alignment(g, ys)
                else:
                    al = np.nan
                rows.setdefault(("full" if num_inducing is None else f"sparse M={num_inducing}", nu), []).append(
                    (rmse, m.objective_history_[-1], np.linalg.norm(g - g0) / np.linalg.norm(g0), al, wall))
        print(f"split {seed} done", flush=True)
    print("| DKM | ν | test RMSE | final objective | ‖G_2 − Σ²‖/‖Σ²‖ | alignment of G_2 with yyᵀ | fit s |")
    print("|---|---|---|---|---|---|---|")
    for (kind, nu), vals in rows.items():
        v = np.array(vals, dtype=float)
        mean, std = np.nanmean(v, 0), np.nanstd(v, 0)
        nu_s = nu if isinstance(nu, str) else ("∞" if np.isinf(nu) else f"{nu:g}")
        cells = [f"{mean[0]:.2f} ± {std[0]:.2f}"] + [("-" if np.isnan(mean[i]) else f"{mean[i]:.4g}")
                                                      for i in (1, 2, 3, 4)]
        print(f"| {kind} | {nu_s} | " + " | ".join(cells) + " |")

    print("\n| n | sparse DKM (M = 50, 2 layers) objective + gradient s | per 1000 points |")
    print("|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for n in (1000, 2000, 4000, 8000, 16000):
        xs = torch.randn(n, 10, generator=g, dtype=torch.float64)
        yv = torch.sin(xs[:, :1])
        obj = DKMObjective(xs[:50], depth=2, nu=10.0, noise=0.1, weight_variance=2.0, bias_variance=0.1)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            obj.zero_grad()
            (-obj(xs, yv)[0]).backward()
            times.append(time.perf_counter() - t0)
        t = float(np.median(times))
        print(f"| {n} | {t:.4f} | {t / n * 1000:.4f} |")


if __name__ == "__main__":
    main()
