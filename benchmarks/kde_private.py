"""Differentially private similarity sums (arXiv 2403.08917) on real data: error vs ε, and DP classification.

Private set: 1,500 scikit-learn digits (pixels / 16, so every coordinate lies in the public range [0, 1]),
queries: the other 297. For each ε, the mean over queries of |F̂(y) − F(y)| / F(y), averaged over 5 noise draws:

- kernels (Gaussian, Laplace, Cauchy; h = 2): random features with the JL projection to k = 32 dimensions vs the
  prior-work baseline of noisy random Fourier features in the original 64 dimensions (same D = 256);
- distances (ℓ1, ℓ2): dyadic-tree structure (L = 6 and 12 levels) vs the flat per-coordinate histogram (the tree
  without its inner nodes), and for ℓ2 the Gaussian projection to k = 64 one-dimensional problems.

DP classification by average similarity (Gaussian kernel, h = 1.5, D = 64 and 512) on the stratified digits split:
accuracy vs ε, 5 draws. Query time of each structure is reported per 1,000 queries.

    python benchmarks/kde_private.py        # about a minute

Writes docs/results/kde_private.md, .json and .png.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from hyperzoo import core
from hyperzoo.kde.private import PrivateDistanceSum, PrivateKernelSum
from hyperzoo.kde.tasks import DPSimilarity

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
EPSILONS = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
REPEATS = 5


def error_curve(make, X, Y, truth):
    out = []
    for e in EPSILONS:
        errs = [float(np.mean(np.abs(make(e, r).fit(X).predict(Y) - truth) / truth)) for r in range(REPEATS)]
        out.append(float(np.mean(errs)))
    return out


def query_ms(model, Y) -> float:
    reps = np.tile(Y, (4, 1))
    t = time.perf_counter()
    model.predict(reps)
    return (time.perf_counter() - t) / len(reps) * 1e6


def main() -> None:
    task = DPSimilarity(n_private=1500)
    X, Y = task.data()
    curves, timing = {}, {}
    for kernel in ("gaussian", "laplace", "cauchy"):
        truth = DPSimilarity.exact(PrivateKernelSum(kernel=kernel, bandwidth=2.0), X, Y)
        for label, k in (("JL k=32 + random features", 32), ("noisy RFF, no projection (baseline)", None)):
            def make(e, r, kernel=kernel, k=k):
                return PrivateKernelSum(kernel=kernel, bandwidth=2.0, epsilon=e, n_features=256,
                                        projection_dim=k, random_state=r)
            curves[f"{kernel}: {label}"] = error_curve(make, X, Y, truth)
            timing[f"{kernel}: {label}"] = query_ms(make(1.0, 0).fit(X), Y)
    for metric in ("l1", "l2"):
        truth = DPSimilarity.exact(PrivateDistanceSum(metric=metric), X, Y)
        for label, flat, levels in (("dyadic tree, L=12", False, 12), ("flat histogram L=12 (baseline)", True, 12),
                                    ("dyadic tree, L=6", False, 6), ("flat histogram L=6 (baseline)", True, 6)):
            def make(e, r, metric=metric, flat=flat, levels=levels):
                return PrivateDistanceSum(
                            metric=metric, epsilon=e, levels=levels, flat=flat, random_state=r)
            curves[f"{metric} distance: {label}"] = error_curve(make, X, Y, truth)
            timing[f"{metric} distance: {label}"] = query_ms(make(1.0, 0).fit(X), Y)

    accs = {}
    for n_features in (64, 512):
        cls = core.run("dp-classify-digits", "dp-similarity-classifier", epsilons=EPSILONS, repeats=REPEATS,
                       **{"model.bandwidth": 1.5, "model.n_features": n_features})
        accs[n_features] = ({e: (cls.metrics[f"test_accuracy_eps{e:g}"], cls.metrics[f"test_accuracy_eps{e:g}_std"])
                             for e in EPSILONS}, cls.metrics["test_accuracy_nonprivate"])

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, curve in curves.items():
        ax[0].plot(EPSILONS, curve, "o--" if "baseline" in name else "o-", ms=3, label=name)
    ax[0].set(xscale="log", yscale="log", xlabel="ε", ylabel="mean relative error of Σ f(x, y)",
              title="private similarity sums, digits (n = 1,500)")
    ax[0].legend(fontsize=6)
    for n_features, (acc, acc_inf) in accs.items():
        line = ax[1].errorbar(EPSILONS, [acc[e][0] for e in EPSILONS], yerr=[acc[e][1] for e in EPSILONS], fmt="o-",
                              label=f"ε-DP average similarity, D={n_features}")
        ax[1].axhline(acc_inf, color=line[0].get_color(), ls="--", label=f"non-private, D={n_features} ({acc_inf:.3f})")
    ax[1].set(xscale="log", xlabel="ε", ylabel="test accuracy", title="DP classification of digits")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "kde_private.png", dpi=110)

    head = "| structure | " + " | ".join(f"ε={e:g}" for e in EPSILONS) + " | µs / query |"
    lines = ["# kde: differentially private similarity sums", "",
             "Command: `python benchmarks/kde_private.py`. Plot: kde_private.png. Mean relative error "
             f"|F̂ − F|/F over 297 digit queries against 1,500 private digits (pixels/16), {REPEATS} noise draws.", "",
             head, "|---" * (len(EPSILONS) + 2) + "|"]
    for name, curve in curves.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3g}" for v in curve) + f" | {timing[name]:.1f} |")
    lines += ["", "DP classification by average similarity (Gaussian, h = 1.5), digits test split (360 images), "
              f"{REPEATS} draws: `core.run('dp-classify-digits', 'dp-similarity-classifier', ...)`.",
              "", "| features D | " + " | ".join(f"ε={e:g}" for e in EPSILONS) + " | ∞ |",
              "|---" * (len(EPSILONS) + 2) + "|"]
    for n_features, (acc, acc_inf) in accs.items():
        lines.append(f"| {n_features} | " + " | ".join(f"{acc[e][0]:.3f} ± {acc[e][1]:.3f}" for e in EPSILONS)
                     + f" | {acc_inf:.3f} |")
    lines.append("")
    (RESULTS / "kde_private.md").write_text("\n".join(lines))
    (RESULTS / "kde_private.json").write_text(json.dumps({"epsilons": EPSILONS, "curves": curves,
                                                          "us_per_query": timing,
                                                          "accuracy": {str(d): {str(e): v for e, v in a.items()}
                                                                       for d, (a, _) in accs.items()},
                                                          "accuracy_nonprivate": {str(d): v for d, (_, v) in
                                                                                  accs.items()}}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
