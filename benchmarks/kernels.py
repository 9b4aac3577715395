"""Benchmarks of the kernels plugin, ours and the peers in one run: writes docs/results/kernels.md (+ .json, plot).

    python benchmarks/kernels.py            # full sizes (about 10 minutes on 2 cores)
    python benchmarks/kernels.py --quick    # small sizes, a smoke run

Sections (each timed with interleaved repeats, medians, at 1 and 2 threads; peak memory per case from a fresh
process, VmHWM after a reset):
1. analytic NTK Gram (depth 3, ReLU, float32): the operator over row blocks vs a plain PyTorch loop of the recursion
   row by row (neural-tangents needs jax: plugins/kernels/benchmarks/vs_neural_tangents.py runs it from its own venv);
2. empirical NTK of a 64-512-512-1 MLP on 500 points (float64): structured, vmap(jacrev) and implicit vs a naive
   per-point autograd Jacobian loop, with the max difference;
3. quantum ZZ kernel (200 points) vs qiskit-machine-learning's FidelityStatevectorKernel at 2, 3, 5, 8 qubits;
4. GSMP Gram vs GPyTorch's SpectralMixtureKernel in 1-D (equal kernels);
5. experiments: empirical → analytic NTK/NNGP error vs width (slope in log-log), digits accuracy (NTK/NNGP KRR vs
   RBF-SVC), quantum ad-hoc data (quantum SVC vs RBF-SVC), spectral-mixture extrapolation (GSMP vs NTK).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results"


# ---- cases (module level: peak_memory re-imports them in a fresh process) -----------------------------------------
def ntk_ours(n: int, d: int = 64, block: int = 2000) -> float:
    import torch

    from hyperzoo.kernels import nngp_ntk

    x = torch.randn(n, d, generator=torch.Generator().manual_seed(0))
    out = torch.empty(n, n)
    for s in range(0, n, block):
        out[s:s + block] = nngp_ntk(x[s:s + block], x, depth=3)[1]
    return float(out[0, 0])


def ntk_loop(n: int, d: int = 64, rows: int | None = None, return_matrix: bool = False):
    """The recursion written plainly: one row of the Gram matrix at a time (no batching over rows)."""
    import torch

    x = torch.randn(n, d, generator=torch.Generator().manual_seed(0))
    sw, sb, depth = 2.0, 0.0, 3
    out = torch.empty(n if rows is None else rows, n)
    diag0 = sw * (x * x).sum(1) / d + sb
    diags = [diag0]
    for _ in range(depth):
        diags.append(sw * diags[-1] / 2 + sb)
    for i in range(out.shape[0]):
        s = sw * (x @ x[i]) / d + sb
        theta = s
        for layer in range(depth):
            norm = torch.sqrt(diags[layer][i] * diags[layer])
            rho = (s / norm).clamp(-1, 1)
            th = torch.arccos(rho)
            k = norm * (torch.sin(th) + (math.pi - th) * torch.cos(th)) / (2 * math.pi)
            s = sw * k + sb
            theta = theta * sw * (math.pi - th) / (2 * math.pi) + s
        out[i] = theta
    return out if return_matrix else float(out[0, 0])


def _mlp():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 1)).double()


def entk_ours(n: int, implementation: str = "jacobian"):
    import torch

    from hyperzoo.kernels import empirical_ntk

    x = torch.randn(n, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return empirical_ntk(_mlp(), x, implementation=implementation)[:, :, 0, 0]


def entk_naive(n: int):
    import torch

    model = _mlp()
    x = torch.randn(n, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    params = list(model.parameters())
    rows = []
    for i in range(n):
        g = torch.autograd.grad(model(x[i:i + 1]).sum(), params)
        rows.append(torch.cat([t.reshape(-1) for t in g]))
    j = torch.stack(rows)
    return j @ j.T


def quantum_ours(n_qubits: int, n: int):
    import numpy as np
    import torch

    from hyperzoo.kernels import quantum_zz_kernel

    x = np.random.default_rng(0).uniform(0, 2 * math.pi, size=(n, n_qubits))
    return quantum_zz_kernel(torch.as_tensor(x)).numpy()


def quantum_qiskit(n_qubits: int, n: int):
    import numpy as np
    from qiskit.circuit.library import zz_feature_map
    from qiskit_machine_learning.kernels import FidelityStatevectorKernel

    x = np.random.default_rng(0).uniform(0, 2 * math.pi, size=(n, n_qubits))
    return FidelityStatevectorKernel(feature_map=zz_feature_map(n_qubits, reps=2)).evaluate(x)


def _sm_params(q: int):
    import torch

    g = torch.Generator().manual_seed(2)
    return (torch.rand(q, generator=g, dtype=torch.float64), torch.rand(q, 1, generator=g, dtype=torch.float64) * 3,
            torch.rand(q, 1, generator=g, dtype=torch.float64) * 0.3)


def gsmp_ours(n: int, q: int):
    import torch

    from hyperzoo.kernels import gsmp

    x = torch.linspace(0, 10, n, dtype=torch.float64)[:, None]
    return gsmp(x, None, *_sm_params(q))


def gsmp_gpytorch(n: int, q: int):
    import gpytorch
    import torch

    w, mu, sig = _sm_params(q)
    k = gpytorch.kernels.SpectralMixtureKernel(num_mixtures=q, ard_num_dims=1).double()
    k.mixture_weights, k.mixture_means, k.mixture_scales = w, mu.reshape(q, 1, 1), sig.reshape(q, 1, 1)
    x = torch.linspace(0, 10, n, dtype=torch.float64)[:, None]
    with torch.no_grad():
        return k(x, x).to_dense()


# ---- helpers -------------------------------------------------------------------------------------------------------
def timed(cases: dict, repeats: int, threads: int, warmup: int = 1) -> dict[str, float]:
    import torch

    from hyperzoo.core.testing import interleaved, medians

    torch.set_num_threads(threads)
    return medians(interleaved(cases, repeats=repeats, warmup=warmup))


def run_case(name: str, *args) -> None:
    """Run case ``name`` and drop its result (only the peak memory travels back)."""
    torch = __import__("torch")
    torch.set_num_threads(2)
    globals()[name](*args)


def peak_mb(fn, *args) -> float:
    from hyperzoo.core.testing import peak_memory

    return round(peak_memory(run_case, fn.__name__, *args).above_baseline / 2**20, 1)


def save(md: list[str], res: dict) -> None:
    """Write what is measured so far (atomically), so a long run leaves its finished sections behind."""
    OUT.mkdir(parents=True, exist_ok=True)
    for path, text in ((OUT / "kernels.md", "\n".join(md) + "\n"), (OUT / "kernels.json", json.dumps(res, indent=1))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


def table(header: list[str], rows: list[list]) -> str:
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def analytic_section(q: bool, cmd: str, md: list, res: dict) -> None:
    import torch

    n = 2000 if q else 10_000
    loop_rows = 200 if q else 1000
    rows = []
    for threads in (1, 2):
        t = timed({"ours": lambda: ntk_ours(n), "loop": lambda: ntk_loop(n, rows=loop_rows)}, 2 if q else 1, threads,
                  warmup=1 if q else 0)
        loop_full = t["loop"] * n / loop_rows
        rows.append([threads, n, t["ours"], loop_full, loop_full / t["ours"]])
    from hyperzoo.kernels import nngp_ntk

    x = torch.randn(300, 64, generator=torch.Generator().manual_seed(0))
    ref64 = nngp_ntk(x.double(), depth=3)[1]
    agree = float((nngp_ntk(x, depth=3)[1].double() - ref64).abs().max())
    agree_loop = float((ntk_loop(300, return_matrix=True).double() - ref64).abs().max())
    n_mem = n if q else 4000   # peak memory at 4000 (10k would add minutes on this shared machine)
    mem = [peak_mb(ntk_ours, n_mem), peak_mb(ntk_loop, n_mem, loop_rows)]
    res["analytic_ntk"] = {"n": n, "rows": rows, "peak_mb": mem, "loop_rows_timed": loop_rows,
                           "max_abs_err_vs_float64_300": {"ours": agree, "loop": agree_loop}}
    md.append(f"## Analytic NTK Gram {n} x {n}, depth 3, ReLU, float32\n\nCommand: `{cmd}`. Ours: the operator over "
              f"2000-row blocks (computed in row chunks of 2^16 entries inside). Loop: the same recursion one Gram "
              f"row at a time in plain PyTorch, timed on "
              f"{loop_rows} rows and scaled to {n}. neural-tangents (jax, its own venv): the section written by "
              f"plugins/kernels/benchmarks/vs_neural_tangents.py. "
              f"Max error vs the float64 reference on a 300 x 300 self-Gram: "
              f"ours {agree:.1e}, loop {agree_loop:.1e} (the loop rounds ρ off 1 on the diagonal; ours uses the "
              f"ρ = 1 closed forms there).\n")
    md.append(table(["threads", "n", "ours s", "row loop s", "loop / ours"], rows))
    md.append(f"\nPeak memory above baseline at n = {n_mem}: ours {mem[0]} MiB (the {n_mem}x{n_mem} float32 result "
              f"is {n_mem * n_mem * 4 / 2**20:.0f} MiB), loop ({loop_rows} rows) {mem[1]} MiB.\n")


def main() -> None:
    import numpy as np
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only-analytic", action="store_true",
                    help="re-measure the analytic-NTK section and replace it in the existing results")
    args = ap.parse_args()
    q = args.quick
    cmd = "python benchmarks/kernels.py" + (" --quick" if q else "")
    if args.only_analytic:
        text = (OUT / "kernels.md").read_text()
        res = json.loads((OUT / "kernels.json").read_text())
        part: list[str] = []
        analytic_section(q, cmd + " --only-analytic", part, res)
        head, rest = text.split("## Analytic NTK", 1)
        tail = rest.split("\n## ", 1)[1] if "\n## " in rest else ""
        md = [head.rstrip("\n") + "\n", *part, ("## " + tail).rstrip("\n") if tail else ""]
        save(md, res)
        print("\n".join(part))
        return
    res: dict = {"command": cmd, "torch": torch.__version__, "cpus": os.cpu_count()}
    md = [f"# kernels: benchmarks\n\nCommand: `{cmd}` (torch {torch.__version__}, {os.cpu_count()} CPU cores, "
          "shared with other jobs; medians of interleaved repeats). Peak memory: MiB above the baseline of a fresh "
          "process (VmHWM after a reset), measured at 2 threads.\n"]

    # 1. analytic NTK
    analytic_section(q, cmd, md, res)
    save(md, res)

    # 2. empirical NTK
    n = 100 if q else 500
    rows = []
    diff = {}
    ref = entk_naive(n)
    impls = ("structured", "jacobian", "implicit")
    diff["structured"] = float((entk_ours(n, "structured") - ref).abs().max())
    n_diff = 100 if q else 200   # the slow implementations are compared on fewer points (time on a shared machine)
    ref_small = entk_naive(n_diff)
    for impl in impls[1:]:
        diff[impl] = float((entk_ours(n_diff, impl) - ref_small).abs().max())
    for threads in (1, 2):
        cases = {impl: (lambda impl=impl: entk_ours(n, impl)) for impl in impls}
        t = timed({**cases, "naive": lambda: entk_naive(n)}, 1, threads, warmup=1 if q else 0)
        rows.append([threads] + [t[i] for i in impls] + [t["naive"]] + [t["naive"] / t[i] for i in impls])
    mem = [peak_mb(entk_ours, n, "structured"), peak_mb(entk_naive, n)]
    res["empirical_ntk"] = {"n": n, "rows": rows, "max_abs_diff": diff, "peak_mb": mem}
    md.append(f"## Empirical NTK of a 64-512-512-1 MLP on {n} points, float64\n\nCommand: `{cmd}`. Naive: one "
              "`torch.autograd.grad` per point, then J Jᵀ (neural-tangents: its own section, a separate venv). "
              "One timed call per "
              f"case (shared machine). Max |ours − naive|: structured {diff['structured']:.2e} ({n} points), "
              f"jacobian {diff['jacobian']:.2e}, implicit {diff['implicit']:.2e} ({n_diff} points).\n")
    md.append(table(["threads", "structured s", "vmap(jacrev) s", "implicit s", "naive loop s", "naive / structured",
                     "naive / jacrev", "naive / implicit"], rows))
    md.append(f"\nPeak memory above baseline: structured {mem[0]} MiB, naive {mem[1]} MiB.\n")
    save(md, res)

    # 3. quantum kernel vs qiskit
    n = 50 if q else 200
    rows = []
    for nq in (2, 3, 5, 8):
        err = float(np.abs(quantum_ours(nq, n) - quantum_qiskit(nq, n)).max())
        for threads in (1, 2):
            t = timed({"ours": lambda nq=nq: quantum_ours(nq, n), "qiskit": lambda nq=nq: quantum_qiskit(nq, n)},
                      2 if q else 3, threads)
            rows.append([nq, threads, t["ours"], t["qiskit"], t["qiskit"] / t["ours"], err])
    res["quantum"] = {"n": n, "rows": rows}
    md.append(f"## Quantum ZZ kernel ({n} x {n} Gram, reps 2, full entanglement) vs qiskit-machine-learning\n\n"
              f"Command: `{cmd}`. Peer: `FidelityStatevectorKernel(feature_map=zz_feature_map(n, reps=2))`.\n")
    md.append(table(["qubits", "threads", "ours s", "qiskit s", "qiskit / ours", "max |diff|"], rows))
    save(md, res)

    # 4. GSMP vs GPyTorch SM
    n, qq = (500, 10) if q else (2000, 20)
    err = float((gsmp_ours(n, qq) - gsmp_gpytorch(n, qq)).abs().max())
    rows = []
    for threads in (1, 2):
        t = timed({"ours": lambda: gsmp_ours(n, qq), "gpytorch": lambda: gsmp_gpytorch(n, qq)}, 3, threads)
        rows.append([threads, t["ours"], t["gpytorch"], t["gpytorch"] / t["ours"], err])
    res["gsmp"] = {"n": n, "q": qq, "rows": rows}
    md.append(f"## GSMP Gram vs GPyTorch SpectralMixtureKernel, 1-D, {n} points, Q = {qq}, float64\n\n"
              f"Command: `{cmd}`. In 1-D the two define the same kernel (max |diff| in the table).\n")
    md.append(table(["threads", "ours s", "gpytorch s", "gpytorch / ours", "max |diff|"], rows))
    save(md, res)

    torch.set_num_threads(2)
    # 5a. convergence vs width
    from hyperzoo.kernels import NTKMLP, empirical_ntk, nngp_ntk

    widths = [64, 256, 1024] if q else [64, 128, 256, 512, 1024, 2048]
    seeds = 2 if q else 4
    xs = torch.randn(8, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    conv = {}
    for act, vw in (("relu", 2.0), ("erf", 1.5)):
        nngp, ntk = nngp_ntk(xs, depth=2, activation=act, weight_variance=vw, bias_variance=0.1)
        errs_ntk, errs_nngp = [], []
        for w in widths:
            a, b = [], []
            for s in range(seeds):
                torch.manual_seed(s)
                net = NTKMLP(5, width=w, depth=2, activation=act, weight_variance=vw, bias_variance=0.1).double()
                emp = empirical_ntk(net, xs, implementation="structured")[:, :, 0, 0]
                a.append(float((emp - ntk).norm() / ntk.norm()))
                with torch.no_grad():
                    h = xs
                    for layer in net.layers[:-1]:
                        h = net.activation(layer(h))
                    b.append(float((vw * h @ h.T / w + 0.1 - nngp).norm() / nngp.norm()))
            errs_ntk.append(float(np.mean(a)))
            errs_nngp.append(float(np.mean(b)))
        slope = lambda e: float(np.polyfit(np.log(widths), np.log(e), 1)[0])  # noqa: E731
        conv[act] = {"ntk": errs_ntk, "nngp": errs_nngp, "slope_ntk": slope(errs_ntk),
                     "slope_nngp": slope(errs_nngp)}
    res["convergence"] = {"widths": widths, "seeds": seeds, **conv}
    md.append(f"## Empirical → analytic: relative Frobenius error vs width (depth 2, 8 points, mean of {seeds} "
              f"initialisations)\n\nCommand: `{cmd}`. Theory: error ∝ width^(-1/2), slope −0.5 in log-log.\n")
    md.append(table(["width"] + [f"{a} {k}" for a in conv for k in ("ntk", "nngp")],
                    [[w] + [conv[a][k][i] for a in conv for k in ("ntk", "nngp")] for i, w in enumerate(widths)]))
    md.append("\nFitted log-log slopes: " + ", ".join(f"{a} NTK {conv[a]['slope_ntk']:.2f}, NNGP "
                                                     f"{conv[a]['slope_nngp']:.2f}" for a in conv) +
              ". Plot: [kernels_convergence.png](kernels_convergence.png).\n")
    save(md, res)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        for a in conv:
            for k in ("ntk", "nngp"):
                ax.loglog(widths, conv[a][k], "o-", label=f"{a} {k}")
        ax.loglog(widths, [conv["relu"]["ntk"][0] * (w / widths[0]) ** -0.5 for w in widths], "k--",
                  label="width^-1/2")
        ax.set_xlabel("width")
        ax.set_ylabel("relative error vs analytic")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(OUT / "kernels_convergence.png", dpi=120)
    except ImportError:
        md.append("(matplotlib not installed: no plot)\n")

    # 5b. experiments through core.run
    from hyperzoo import core

    exp = []
    for model, kw in (("ntk-classifier", {"depth": 3}), ("ntk-classifier", {"kernel": "nngp", "depth": 3}),
                      ("rbf-svc", {})):
        accs = [core.run("digits-kernel", model, split_seed=s, **kw).metrics["test_accuracy"] for s in range(3)]
        exp.append(["digits-kernel", model + (f" ({kw['kernel']})" if "kernel" in kw else ""),
                    "test_accuracy", float(np.mean(accs)), float(np.std(accs))])
    for model in ("quantum-svc", "rbf-svc"):
        accs = [core.run("quantum-adhoc", model, subset=40, n_test=20, split_seed=s).metrics["test_accuracy"]
                for s in range(3)]
        exp.append(["quantum-adhoc (2 qubits)", model, "test_accuracy", float(np.mean(accs)), float(np.std(accs))])
    for model in ("gsmp-regressor", "ntk-regressor"):
        vals = [core.run("spectral-mixture-1d", model, split_seed=s).metrics["test_rmse"] for s in range(2 if q else 3)]
        exp.append(["spectral-mixture-1d", model, "test_rmse", float(np.mean(vals)), float(np.std(vals))])
    res["experiments"] = exp
    md.append(f"## Experiments through core.run (mean ± std over split seeds 0..2)\n\nCommand: `{cmd}`. Digits: "
              "the full training split (1293 images), depth 3, ridge 1e-6; RBF-SVC C = 10, gamma = 'scale'. "
              "Quantum ad-hoc: 40 train / 20 test points per class, gap 0.3. Spectral mixture: 200 samples on "
              "[0, 10), extrapolation to [10, 12).\n")
    md.append(table(["task", "model", "metric", "mean", "std"], exp))
    save(md, res)

    # 6. teacher-student learning curves (arXiv 2208.01003), from plugins/kernels/benchmarks/cntk.py
    import importlib.util

    spec = importlib.util.spec_from_file_location("kernels_cntk_bench", ROOT / "plugins/kernels/benchmarks/cntk.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.section(q, cmd, md, res)
    save(md, res)
    print("\n".join(md))


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    t0 = time.time()
    main()
    print(f"total {time.time() - t0:.0f} s")
