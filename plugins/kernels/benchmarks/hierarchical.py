"""Hierarchical polynomial f*(x) = p(x)³, d = 8: test error vs n of the layer-wise trained three-layer network
against NTK and NNGP kernel regression (depth 2, ridge 1e-3) in the same run, 3 split seeds; writes the plot
docs/results/kernels_hierarchical.png and prints a markdown table.

    OMP_NUM_THREADS=1 python plugins/kernels/benchmarks/hierarchical.py
"""

from pathlib import Path

import numpy as np

from hyperzoo import core

NS = (250, 500, 1000, 2000, 4000)
OUT = Path(__file__).resolve().parents[3] / "docs" / "results" / "kernels_hierarchical.png"


def main() -> None:
    models = {"three-layer net (layer-wise)": ("layerwise-three-layer", {}),
              "NTK regression": ("ntk-regressor", {"kernel": "ntk", "depth": 2, "ridge": 1e-3}),
              "NNGP regression": ("ntk-regressor", {"kernel": "nngp", "depth": 2, "ridge": 1e-3})}
    res = {k: {n: [] for n in NS} for k in models}
    corr = {n: [] for n in NS}
    for n in NS:
        for seed in range(3):
            for label, (model, kw) in models.items():
                m = core.run("hierarchical-polynomial", model, n_train=n, dim=8, split_seed=seed, **kw).metrics
                res[label][n].append(m["test_nmse"])
                if "feature_correlation" in m:
                    corr[n].append(m["feature_correlation"])
        print(f"n={n} done", flush=True)
    print("| n | " + " | ".join(models) + " | net: abs corr(h, p) |")
    print("|---|" + "---|" * (len(models) + 1))
    for n in NS:
        cells = [f"{np.median(res[k][n]):.3f} [{min(res[k][n]):.3f}, {max(res[k][n]):.3f}]" for k in models]
        print(f"| {n} | " + " | ".join(cells) + f" | {np.median(corr[n]):.3f} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for k in models:
        ax.plot(NS, [np.median(res[k][n]) for n in NS], marker="o", label=k)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(NS)
    ax.set_xticks([], minor=True)
    ax.set_xticklabels([str(n) for n in NS])
    ax.set_xlabel("training samples n")
    ax.set_ylabel("test MSE / Var f*  (median of 3 seeds)")
    ax.set_title("f*(x) = p(x)^3, d = 8")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT, dpi=120)
    print(f"\nplot: {OUT.name}")


if __name__ == "__main__":
    main()
