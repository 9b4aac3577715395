"""Infinitely wide and deep networks on the 2-D Dirichlet task (arXiv 2204.14126): test accuracy of the NNGP and NTK
classifiers of each dual activation at depths 1 … 1000 and the depth-∞ limit, beside the Bayes accuracy, 1-NN and
majority vote; mean ± std over split seeds 0..2 (500 training, 1000 test points per seed). One recursion pass per
activation and seed gives every depth. Writes the section of docs/results/kernels.md and the plot
docs/results/kernels_deep_limit.png.

    OMP_NUM_THREADS=1 python plugins/kernels/benchmarks/deep_limit.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from hyperzoo import core
from hyperzoo.kernels import deep_limit as D

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

ACTIVATIONS = ("relu", "erf", "sine", "hilbert")
TABLE_DEPTHS = (1, 10, 100, 1000, 10_000, 100_000)
PLOT_DEPTHS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 3000, 10_000, 30_000, 100_000)
RELU_MAX = 1000   # ReLU's entries never reach the closed-form regime: every layer costs O(n_train n_test)
RIDGES = (0.0, 1e-6)
SEEDS = (0, 1, 2)
N_TRAIN, N_TEST = 500, 1000
OUT = Path(__file__).resolve().parents[3] / "docs" / "results" / "kernels_deep_limit.png"
COMMAND = "OMP_NUM_THREADS=1 python plugins/kernels/benchmarks/deep_limit.py"


def main() -> None:
    acc: dict = {}
    base = {"bayes (quadrature)": [], "bayes rule on the test sample": [], "1-NN": [], "majority vote": []}
    seconds = {a: 0.0 for a in ACTIVATIONS}
    for seed in SEEDS:
        task = D.Dirichlet2D(n_train=N_TRAIN, n_test=N_TEST, split_seed=seed)
        s = task.splits()
        (x, y, _), (xt, yt, pt) = s["train"], s["test"]
        nearest = np.argmin(((xt[:, None, :] - x[None, :, :]) ** 2).sum(-1), 1)
        base["bayes (quadrature)"].append(D.dirichlet_bayes_accuracy())
        base["bayes rule on the test sample"].append(float((D.dirichlet_bayes_rule(pt) == yt).mean()))
        base["1-NN"].append(float((y[nearest] == yt).mean()))
        base["majority vote"].append(float((np.bincount(y, minlength=2).argmax() == yt).mean()))
        xa, xb, onehot = torch.as_tensor(x), torch.as_tensor(xt), torch.as_tensor(np.eye(2)[y])
        for act in ACTIVATIONS:
            t0 = time.perf_counter()
            depths = [d for d in PLOT_DEPTHS if act != "relu" or d <= RELU_MAX]
            tr = D.deep_kernels(xa, depths=depths, activation=act)
            cr = D.deep_kernels(xb, xa, depths=depths, activation=act)
            for kernel in D.KERNELS:
                for ridge in RIDGES:
                    for depth in depths:
                        sc = D.kernel_scores(tr[depth], cr[depth], onehot, kernel, ridge)
                        hit = float((sc.argmax(1).numpy() == yt).mean())
                        acc.setdefault((act, kernel, ridge, depth), []).append(hit)
                if D.limit_kind(act, kernel) is not None:
                    sc = D.limit_scores(xa, onehot, xb, act, kernel)
                    acc.setdefault((act, kernel, "limit"), []).append(float((sc.argmax(1).numpy() == yt).mean()))
            seconds[act] += time.perf_counter() - t0
        # the registered path gives the same number as the one-pass sweep
        r = core.run("dirichlet-2d", "deep-limit-classifier", n_train=N_TRAIN, n_test=N_TEST, split_seed=seed,
                     activation="erf", kernel="nngp", depth=100)
        assert r.metrics["test_accuracy"] == acc[("erf", "nngp", 0.0, 100)][-1], (r.metrics, seed)
        print(f"seed {seed} done", flush=True)

    def ms(v):
        return f"{np.mean(v):.3f} ± {np.std(v):.3f}"

    kinds = {a: {k: D.limit_kind(a, k) or "none derived" for k in D.KERNELS} for a in ACTIVATIONS}
    alphas = {a: (f"{D.singular_exponent(a):.2f}" if D.dual_activation(a).c0 == 0 else "–") for a in ACTIVATIONS}
    lines = ["## Infinitely wide and deep networks on the 2-D Dirichlet task (arXiv 2204.14126)", "",
             f"Command: `{COMMAND}` (torch {torch.__version__}, 2 shared CPU cores). Data: two equiprobable classes, "
             f"p ~ Dir{D.DIRICHLET_CONCENTRATIONS[0]} vs Dir{D.DIRICHLET_CONCENTRATIONS[1]} on the 2-simplex, "
             f"x = √p on S²; {N_TRAIN} training and {N_TEST} test points per split seed (0, 1, 2); test accuracy, "
             "mean ± std over the seeds. Kernel regression on one-hot targets, argmax; ridge relative to the Gram "
             "diagonal (0 = interpolation, the trained infinitely wide network). ∞: the depth-∞ limit classifier "
             "of `limit_kind` (hyperzoo/kernels/deep_limit.py); ReLU stops at L = 1000 (each of its layers "
             "costs a full pass; the other activations' entries are continued in closed form once |Σ| < 1e-15); "
             "α: ψ ≍ ‖x − x'‖^−α of the singular-kernel limit "
             "(α = 2 is the 2-D Hilbert kernel).", "",
             "| baseline | test accuracy |", "|---|---|"]
    lines += [f"| {k} | {ms(v)} |" for k, v in base.items()]
    lines += ["", "| activation | kernel | ridge | " + " | ".join(f"L = {d}" for d in TABLE_DEPTHS) +
              " | ∞ | limit kind | α |", "|---|---|---|" + "---|" * (len(TABLE_DEPTHS) + 3)]
    for act in ACTIVATIONS:
        for kernel in D.KERNELS:
            for ridge in RIDGES:
                lim = acc.get((act, kernel, "limit"))
                lines.append(f"| {act} | {kernel} | {ridge:g} | " +
                             " | ".join(ms(acc[(act, kernel, ridge, d)]) if (act, kernel, ridge, d) in acc else "–"
                                        for d in TABLE_DEPTHS) +
                             f" | {ms(lim) if lim else '–'} | {kinds[act][kernel]} | {alphas[act]} |")
    lines += ["", "Seconds per activation (3 seeds, the train and test kernel passes to the largest depth, and the "
              "limit): " +
              ", ".join(f"{a} {t:.0f}" for a, t in seconds.items()) + ". Plot: `kernels_deep_limit.png` "
              "(ridge 0, mean of the seeds)."]
    print("\n".join(write_section(lines[0], lines).splitlines()[2:]))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, kernel in zip(axes, D.KERNELS):
        for act in ACTIVATIONS:
            ds = [d for d in PLOT_DEPTHS if (act, kernel, 0.0, d) in acc]
            (line,) = ax.plot(ds, [np.mean(acc[(act, kernel, 0.0, d)]) for d in ds], marker="o", ms=3, label=act)
            lim = acc.get((act, kernel, "limit"))
            if lim:
                ax.axhline(np.mean(lim), color=line.get_color(), ls=":", lw=1)
        for name, style in (("bayes (quadrature)", "k-"), ("1-NN", "k--"), ("majority vote", "k-.")):
            ax.axhline(np.mean(base[name]), ls=style[1:], color="k", lw=1, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("depth L")
        ax.set_title(f"{kernel.upper()} classifier (dotted: depth-∞ limit)")
    axes[0].set_ylabel("test accuracy (mean of 3 seeds)")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(OUT, dpi=120)
    print(f"plot: {OUT.name}")


if __name__ == "__main__":
    main()
