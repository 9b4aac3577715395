"""Teacher–student learning curves of arXiv 2208.01003 (local teacher; local vs fully connected NTK students), written
as its own section of docs/results/kernels.md (replaced in place) with a plot.

    python plugins/kernels/benchmarks/cntk.py            # n = 64 .. 1024, 4 teacher seeds (about 2 minutes, 1 thread)
    python plugins/kernels/benchmarks/cntk.py --quick    # n = 64 .. 256, 2 seeds

``benchmarks/kernels.py`` calls :func:`section` too, so a full rerun keeps the section.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "docs" / "results"
TITLE = "## Teacher–student learning curves, local teacher (arXiv 2208.01003)"


def curves(quick: bool) -> dict:
    import numpy as np

    from hyperzoo import core

    ns = [64, 128, 256] if quick else [64, 128, 256, 512, 1024]
    seeds = 2 if quick else 4
    local = {"model.kernel_size": 2}
    students = {"local NTK (patches of 2, 1 layer)": ("local-ntk-regressor", local),
                "local NTK (patches of 2, 3 layers)": ("local-ntk-regressor", {**local, "depth": 3}),
                "fully connected NTK (1 layer)": ("ntk-regressor", {"depth": 1})}
    out = {"n": ns, "seeds": seeds, "mse": {}, "slope": {}}
    for label, (model, kw) in students.items():
        mse = []
        for n in ns:
            runs = [core.run("teacher-student-local", model, n_train=n, n_test=500, in_features=8,
                             **{"task.kernel_size": 2}, split_seed=s, ridge=1e-8, bias_variance=0.1, **kw)
                    for s in range(seeds)]
            vals = [r.metrics["test_mse"] for r in runs]
            mse.append(float(np.mean(vals)))
        out["mse"][label] = mse
        out["slope"][label] = float(-np.polyfit(np.log(ns), np.log(mse), 1)[0])
    return out


def section(quick: bool, cmd: str, md: list, res: dict) -> None:
    r = curves(quick)
    res["teacher_student_local"] = r
    labels = list(r["mse"])
    rows = [[n] + [r["mse"][k][i] for k in labels] for i, n in enumerate(r["n"])]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    table = ["| n_train | " + " | ".join(labels) + " |", "|" + "---|" * (len(labels) + 1)]
    table += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    md.append(f"{TITLE}\n\nCommand: `{cmd}`. Task `teacher-student-local`: d = 8, inputs on the product of four "
              "unit circles (patches of 2, scaled by √2), teacher a Gaussian random field with the local Laplace "
              "covariance (1/4) Σ_i exp(−‖x_i − x'_i‖); students ridgeless (ridge 1e-8) NTK regression, σ_w² = 2, "
              f"σ_b² = 0.1; test MSE on 500 points, mean over {r['seeds']} teacher seeds (teacher variance 1).\n")
    md.append("\n".join(table))
    md.append("\nFitted exponents β (test MSE ∝ n^−β, least squares in log-log over all n): "
              + ", ".join(f"{k} {r['slope'][k]:.2f}" for k in labels)
              + ". Plot: [kernels_learning_curves.png](kernels_learning_curves.png).\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        for k in labels:
            ax.loglog(r["n"], r["mse"][k], "o-", label=f"{k}: β = {r['slope'][k]:.2f}")
        ax.set_xlabel("training points n")
        ax.set_ylabel("test MSE")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(OUT / "kernels_learning_curves.png", dpi=120)
    except ImportError:
        md.append("(matplotlib not installed: no plot)\n")


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cmd = "python plugins/kernels/benchmarks/cntk.py" + (" --quick" if args.quick else "")
    part: list[str] = []
    res_path = OUT / "kernels.json"
    res = json.loads(res_path.read_text()) if res_path.exists() else {}
    section(args.quick, cmd, part, res)
    from _results import write_section  # run as a script: this folder is on sys.path

    new = write_section(TITLE, part)
    res_path.write_text(json.dumps(res, indent=1))
    print(new)


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    main()
