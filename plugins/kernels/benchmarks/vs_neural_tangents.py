"""neural-tangents as the peer, in the same run: the analytic NTK Gram and the empirical NTK, ours vs neural-tangents
(which lives in its own virtual environment with jax; it is called as a subprocess, ``nt_peer.py``, that times itself
after jit compilation). Writes its section of docs/results/kernels.md (replaced in place).

    python -m venv /tmp/ntvenv
    /tmp/ntvenv/bin/pip install neural-tangents "jax<0.4.36" "jaxlib<0.4.36" "tensorflow>=2.17,<2.19" "tf2jax<0.3.7"
    NT_PYTHON=/tmp/ntvenv/bin/python python plugins/kernels/benchmarks/vs_neural_tangents.py [--quick]

One thread on both sides (torch.set_num_threads(1); XLA's Eigen pool off); medians of interleaved repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "docs" / "results"
PEER = Path(__file__).with_name("nt_peer.py")
TITLE = "## Peer: neural-tangents (analytic and empirical NTK, same run)"
ENV = {**os.environ, "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
       "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}


def peer(python: str, request: dict) -> dict:
    proc = subprocess.run([python, str(PEER), json.dumps(request)], capture_output=True, text=True, env=ENV)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ours_analytic(x: torch.Tensor, block: int) -> float:
    from hyperzoo.kernels import nngp_ntk

    t0 = time.perf_counter()
    out = torch.empty(x.shape[0], x.shape[0], dtype=x.dtype)
    for s in range(0, x.shape[0], block):
        out[s:s + block] = nngp_ntk(x[s:s + block], x, depth=3)[1]
    return time.perf_counter() - t0


def mlp():
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 1)).double()


def main() -> None:
    from hyperzoo.kernels import empirical_ntk, nngp_ntk

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    python = os.environ.get("NT_PYTHON")
    if not python:
        raise SystemExit("set NT_PYTHON to the python of a virtual environment with neural-tangents (see the "
                         "module docstring for the install recipe that works here)")
    torch.set_num_threads(1)
    q = args.quick
    cmd = "NT_PYTHON=/tmp/ntvenv/bin/python python plugins/kernels/benchmarks/vs_neural_tangents.py" + \
        (" --quick" if q else "")
    versions = subprocess.run([python, "-c", "import jax, neural_tangents as nt; print(jax.__version__, "
                               "nt.__version__)"], capture_output=True, text=True, env=ENV).stdout.split()
    tmp = Path(tempfile.mkdtemp())
    md, res = [], {"versions": versions}

    # 1. analytic NTK Gram, depth 3, ReLU, float32
    n, block, reps = (2000, 1000, 2) if q else (10_000, 2000, 3)
    x = torch.randn(n, 64, generator=torch.Generator().manual_seed(0))
    np.save(tmp / "x.npy", x.numpy())
    ours_t, nt_t = [], []
    ours_analytic(x[:block], block)   # warm-up
    for _ in range(reps):
        ours_t.append(ours_analytic(x, block))
        r = peer(python, {"what": "analytic", "x": str(tmp / "x.npy"), "depth": 3, "weight_variance": 2.0,
                          "bias_variance": 0.0, "block": block, "repeats": 1})
        if "error" in r:
            raise SystemExit(f"neural-tangents failed: {r['error']}")
        nt_t.append(r["seconds"][0])
    x64 = torch.randn(300, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    np.save(tmp / "x64.npy", x64.numpy())
    peer(python, {"what": "analytic", "x": str(tmp / "x64.npy"), "x64": True, "depth": 3, "weight_variance": 2.0,
                  "bias_variance": 0.1, "save": str(tmp / "k64.npy")})
    k_nt, k_ours = np.load(tmp / "k64.npy"), nngp_ntk(x64, depth=3, bias_variance=0.1)[1].numpy()
    # the exact diagonal (ρ = 1, σ_w² = 2): Σ^l = Σ^{l−1} + 0.1, Θ^l = Θ^{l−1} + Σ^l
    s = 2 * (x64 * x64).sum(1).numpy() / 64 + 0.1
    t = s.copy()
    for _ in range(3):
        s = s + 0.1
        t = t + s
    off = np.abs(k_nt - k_ours)
    np.fill_diagonal(off, 0)
    acc = {"offdiag_max_abs_diff": float(off.max()), "diag_err_ours": float(np.abs(np.diag(k_ours) - t).max()),
           "diag_err_nt": float(np.abs(np.diag(k_nt) - t).max())}
    mo, mn = float(np.median(ours_t)), float(np.median(nt_t))
    res["analytic"] = {"n": n, "block": block, "ours_s": ours_t, "nt_s": nt_t, **acc}
    md.append(f"{TITLE}\n\nCommand: `{cmd}` (jax {versions[0] if versions else '?'}, neural-tangents "
              f"{versions[1] if len(versions) > 1 else '?'}, in a separate venv; 1 thread each; the peer is timed "
              "inside its own process after jit compilation, ours in this one; medians of "
              f"{reps} interleaved repeats). Install: `pip install neural-tangents` alone pulls jax 0.10 and fails at "
              "import (`from jax.core import Jaxpr`); with jax/jaxlib 0.4.35 it needs tensorflow < 2.19 and "
              "tf2jax < 0.3.7 (the recipe in the script's docstring). Its `STRUCTURED_DERIVATIVES` empirical NTK "
              "fails with that jax (`jax.interpreters.ad` has no `source_info_util`), so the other two are timed.\n")
    md.append(f"Analytic NTK Gram {n} x {n}, depth 3, ReLU, float32, rows in blocks of {block} on both sides:\n\n"
              "| ours s | neural-tangents s | nt / ours |\n|---|---|---|\n"
              f"| {mo:.3g} | {mn:.3g} | {mn / mo:.3g} |\n\n"
              f"Float64, 300 x 300, σ_b² = 0.1: off-diagonal max |ours − nt| {acc['offdiag_max_abs_diff']:.1e}; "
              f"diagonal error vs the exact ρ = 1 recursion: ours {acc['diag_err_ours']:.1e}, neural-tangents "
              f"{acc['diag_err_nt']:.1e} (it takes arccos of a ρ rounded off 1).\n")

    # 2. empirical NTK of the 64-512-512-1 MLP (float64), same weights on both sides
    n = 200 if q else 500
    m = mlp()
    np.savez(tmp / "w.npz", **{f"w{i}": m[i].weight.detach().numpy().T for i in (0, 2, 4)},
             **{f"b{i}": m[i].bias.detach().numpy() for i in (0, 2, 4)})
    xe = torch.randn(n, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    np.save(tmp / "xe.npy", xe.numpy())
    impls_nt = ("JACOBIAN_CONTRACTION", "NTK_VECTOR_PRODUCTS")
    times = {"structured": [], "jacobian": [], **{i: [] for i in impls_nt}}
    diffs = {}
    reps = 2 if q else 3
    for rep in range(reps):
        for impl in ("structured", "jacobian"):
            t0 = time.perf_counter()
            k = empirical_ntk(m, xe, implementation=impl)[:, :, 0, 0]
            times[impl].append(time.perf_counter() - t0)
            if rep == 0:
                diffs[impl] = k.numpy()
        for impl in impls_nt:
            req = {"what": "empirical", "x": str(tmp / "xe.npy"), "x64": True, "weights": str(tmp / "w.npz"),
                   "repeats": 1, "implementation": impl}
            if rep == 0:
                req["save"] = str(tmp / f"ke_{impl}.npy")
            r = peer(python, req)
            if "error" in r:
                raise SystemExit(f"neural-tangents {impl} failed: {r['error']}")
            times[impl].append(r["seconds"][0])
    ref = diffs["structured"]
    maxdiff = {i: float(np.abs(np.load(tmp / f"ke_{i}.npy") - ref).max()) for i in impls_nt}
    maxdiff["jacobian"] = float(np.abs(diffs["jacobian"] - ref).max())
    med = {k: float(np.median(v)) for k, v in times.items()}
    res["empirical"] = {"n": n, "seconds": times, "max_abs_diff_vs_structured": maxdiff}
    md.append(f"Empirical NTK of a 64-512-512-1 MLP on {n} points, float64, the same weights on both sides:\n\n"
              "| ours structured s | ours vmap(jacrev) s | nt jacobian contraction s | nt NTK-vector products s | "
              "nt best / ours structured |\n|---|---|---|---|---|\n"
              f"| {med['structured']:.3g} | {med['jacobian']:.3g} | {med['JACOBIAN_CONTRACTION']:.3g} | "
              f"{med['NTK_VECTOR_PRODUCTS']:.3g} | {min(med[i] for i in impls_nt) / med['structured']:.3g} |\n\n"
              "Max |nt − ours structured|: " + ", ".join(f"{k} {v:.1e}" for k, v in maxdiff.items()) + ".\n")
    from _results import write_section  # run as a script: this folder is on sys.path

    new = write_section(TITLE, md)
    path = OUT / "kernels.json"
    allres = json.loads(path.read_text()) if path.exists() else {}
    allres["neural_tangents"] = res
    path.write_text(json.dumps(allres, indent=1))
    print(new)


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    main()
