"""Side-by-side kernel density benchmark: hyperzoo.kde vs scikit-learn, scipy and KDEpy (same data, same run).

Gaussian kernel, n training points, m queries, standard normal data, bandwidth = Scott's factor n^(−1/(d+4)).
Every case runs in a fresh subprocess (time of fit + evaluation at all m queries, peak RSS from ru_maxrss);
errors are max / median |p̂/p − 1| over the first 1,000 queries against a float64 brute force (the
``kde.kernel_sum`` reference: direct differences and log-sum-exp, no norm expansion). "floor" is the bare
blocked matrix product of the same shapes (the augmented (m × (d+2)) · ((d+2) × n) product, block by block,
no exp and no reduction).

    python benchmarks/kde.py                    # 100k × 10k at d = 1, 2, 16, 64 (about an hour on 2 cores)
    python benchmarks/kde.py --quick            # 20k × 2k, a few minutes
    python benchmarks/kde.py --sklearn-offset   # scikit-learn's tree KDE off the training set at d = 16

Writes docs/results/kde.md and docs/results/kde.json (the --quick run writes *_quick.* instead).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
ERR_QUERIES = 1000
METHODS = ["hz-exact-f64", "hz-exact-f32", "hz-tree", "hz-grid", "floor-mm-f64", "floor-mm-f32", "sklearn",
           "scipy", "kdepy-naive", "kdepy-tree", "kdepy-fft"]
LOW_D_ONLY = {"hz-grid", "kdepy-fft"}


def make_data(n: int, m: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed + d)
    return rng.standard_normal((n, d)), rng.standard_normal((m, d)), float(n ** (-1.0 / (d + 4)))


def grid_size(d: int) -> int:
    from hyperzoo.kde.grid import DEFAULT_SIZE

    return DEFAULT_SIZE[d]


# -- the cases (each runs in its own process) ------------------------------------------------------------------
def run_case(method: str, x: np.ndarray, y: np.ndarray, h: float) -> np.ndarray | None:
    """Fit and evaluate; return log densities at all queries (None for the floor)."""
    d = x.shape[1]
    if method.startswith("hz-"):
        from hyperzoo.kde import KernelDensity

        kw = {"hz-exact-f64": {}, "hz-exact-f32": {"dtype": "float32"}, "hz-tree": {"algorithm": "tree", "rtol": 1e-6},
              "hz-grid": {"algorithm": "grid"}}[method]
        return KernelDensity(bandwidth=h, **kw).fit(x).score_samples(y)
    if method.startswith("floor-mm"):
        import torch

        from hyperzoo.kde.ops import kernel_sum_blocked as kb

        dt = torch.float64 if method.endswith("f64") else torch.float32
        ya, xat, _, _ = kb._operands(torch.tensor(y, dtype=dt), torch.tensor(x, dtype=dt), h, "gaussian", None)
        buf = torch.empty(kb.QUERY_BLOCK, kb.DATA_BLOCK, dtype=dt)
        for q0 in range(0, ya.shape[0], kb.QUERY_BLOCK):
            yb = ya[q0:q0 + kb.QUERY_BLOCK]
            for j0 in range(0, xat.shape[1], kb.DATA_BLOCK):
                xb = xat[:, j0:j0 + kb.DATA_BLOCK]
                torch.mm(yb, xb, out=buf[: yb.shape[0], : xb.shape[1]])
        return None
    if method == "sklearn":
        from sklearn.neighbors import KernelDensity

        return KernelDensity(bandwidth=h, rtol=0.0, atol=0.0).fit(x).score_samples(y)
    if method == "scipy":
        return _isotropic_scipy_kde(x, h).logpdf(y.T)
    if method in ("kdepy-naive", "kdepy-tree"):
        from KDEpy import NaiveKDE, TreeKDE

        cls = NaiveKDE if method == "kdepy-naive" else TreeKDE
        with np.errstate(divide="ignore"):
            return np.log(cls(kernel="gaussian", bw=h).fit(x).evaluate(y))
    if method == "kdepy-fft":
        from KDEpy import FFTKDE
        from scipy.interpolate import RegularGridInterpolator

        size = grid_size(d)
        lo, hi = np.minimum(x.min(0), y.min(0)) - 9 * h, np.maximum(x.max(0), y.max(0)) + 9 * h
        axes = [np.linspace(a, b, size) for a, b in zip(lo, hi)]
        mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
        p = FFTKDE(kernel="gaussian", bw=h).fit(x).evaluate(mesh).reshape([size] * d)
        with np.errstate(divide="ignore"):
            return np.log(RegularGridInterpolator(axes, p)(y))
    raise ValueError(f"unknown method {method!r}")


def _isotropic_scipy_kde(x: np.ndarray, h: float):
    """scipy's gaussian_kde with kernel covariance h² I (scipy scales factor² by the data covariance; presetting
    its cached data covariance to I makes its own C evaluation compute exactly the isotropic estimate)."""
    from scipy.stats import gaussian_kde

    class IsotropicKDE(gaussian_kde):
        def __init__(self, data, factor):
            self._data_covariance = np.eye(data.shape[0])
            self._data_cho_cov = np.eye(data.shape[0])
            super().__init__(data, bw_method=factor)

    return IsotropicKDE(x.T, h)


def worker(args: argparse.Namespace) -> None:
    x, y, h = make_data(args.n, args.m, args.d)
    run_case(args.worker, x[: max(50, 2 * args.d)], y[:5], h)   # imports and first-call set-up, untimed
    started = time.perf_counter()
    out = run_case(args.worker, x, y, h)
    seconds = time.perf_counter() - started
    if out is not None:
        np.save(args.save, np.asarray(out[:ERR_QUERIES], dtype=np.float64))
    print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def reference(n: int, m: int, d: int) -> np.ndarray:
    """float64 brute force at the first ERR_QUERIES queries, computed in a subprocess (keeps this process small:
    a child's ru_maxrss starts from its parent's RSS at fork time)."""
    with tempfile.TemporaryDirectory() as tmp:
        save = os.path.join(tmp, "ref.npy")
        subprocess.run([sys.executable, __file__, "--worker", "reference", "--n", str(n), "--m", str(m), "--d", str(d),
                        "--save", save], check=True)
        return np.load(save)


def _reference(n: int, m: int, d: int) -> np.ndarray:
    import torch

    from hyperzoo.kde.kernels import log_norm
    from hyperzoo.kde.ops.kernel_sum import kernel_sum

    x, y, h = make_data(n, m, d)
    xt, yt = torch.tensor(x), torch.tensor(y[:ERR_QUERIES])
    s = torch.cat([kernel_sum(yt[i:i + 100], xt, h) for i in range(0, len(yt), 100)]).numpy()
    return s - math.log(n) - d * math.log(h) - log_norm("gaussian", d)


def launch(method: str, n: int, m: int, d: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        save = os.path.join(tmp, "out.npy")
        cmd = [sys.executable, __file__, "--worker", method, "--n", str(n), "--m", str(m), "--d", str(d),
               "--save", save]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"method": method, "d": d, "status": f"timeout > {timeout:.0f} s"}
        if proc.returncode != 0:
            return {"method": method, "d": d, "status": "error: " + proc.stderr.strip().splitlines()[-1][:200]}
        row = {"method": method, "d": d, "status": "ok", **json.loads(proc.stdout.strip().splitlines()[-1])}
        if os.path.exists(save):
            row["log_density"] = np.load(save)
        return row


def errors(log_p: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    with np.errstate(over="ignore", invalid="ignore"):
        rel = np.abs(np.expm1(log_p - ref))
    rel = np.where(np.isnan(rel), np.inf, rel)
    return float(rel.max()), float(np.median(rel))


# -- scikit-learn off the training set --------------------------------------------------------------------------
def sklearn_offset(n: int = 100_000, d: int = 16, k: int = 300) -> dict:
    """scikit-learn's KernelDensity(rtol=0, atol=0) at training points vs fresh points, vs a float64 brute force."""
    from sklearn.neighbors import KernelDensity as SK

    x, y, h = make_data(n, k, d, seed=7)
    ref_kde = __import__("hyperzoo.kde", fromlist=["KernelDensity"]).KernelDensity(bandwidth=h, backend="reference")
    ref_kde.fit(x)
    out = {"n": n, "d": d, "bandwidth": h}
    for label, q in (("training points", x[:k]), ("fresh points", y)):
        for algo in ("kd_tree", "ball_tree"):
            sk = SK(bandwidth=h, rtol=0.0, atol=0.0, algorithm=algo).fit(x).score_samples(q)
            mx, med = errors(sk, ref_kde.score_samples(q))
            out[f"{algo} at {label}"] = {"max_rel_error": mx, "median_rel_error": med}
    return out


# -- report -----------------------------------------------------------------------------------------------------
def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    threads = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                             capture_output=True, text=True).stdout.strip()   # as a fresh worker sees it
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({threads} threads), numpy {np.__version__}"


def write_report(rows: list[dict], args: argparse.Namespace, offset: dict | None, suffix: str) -> None:
    import scipy
    import sklearn

    try:
        import KDEpy
        kdepy = KDEpy.__version__
    except ImportError:
        kdepy = "not installed"
    command = "python benchmarks/kde.py" + (" --quick" if args.quick else "")
    lines = [f"# kde benchmark{' (quick)' if args.quick else ''}", "",
             f"Command: `{command}` (written by benchmarks/kde.py; {time.strftime('%Y-%m-%d')})."
             + (" Cases re-run later (same machine, same day) and merged in with `python benchmarks/kde.py --merge "
                "--methods ...` (hz-* and floor rows; times marked 'median of 3' come from `--repeat 3 --dims 16 64`; "
                f"scipy at d = 64 after a first failed warm-up): {', '.join(args.merged)}."
                if getattr(args, "merged", None) else ""), "",
             f"Machine: {machine()}; scikit-learn {sklearn.__version__}, scipy {scipy.__version__}, KDEpy {kdepy}.",
             "The machine is shared with other jobs, so absolute times carry noise. "
             + (f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} was set in this environment, so torch ran with that "
                "many threads (scikit-learn's, scipy's and KDEpy's KDEs are single-threaded anyway). "
                if os.environ.get("OMP_NUM_THREADS") else ""), "",
             f"Gaussian kernel, n = {args.n:,} training points, m = {args.m:,} queries, standard normal data, "
             "bandwidth = Scott's factor n^(−1/(d+4)). Time = fit + evaluation at all queries, each case in a fresh "
             "process; peak = ru_maxrss of that process. Errors: |p̂/p − 1| over the first 1,000 queries against a "
             "float64 brute force. `time / hz-exact-f64` > 1 means slower than our exact float64 mode; "
             "`× floor` = time / the float64 matrix-product floor.", ""]
    for d in sorted({r["d"] for r in rows}):
        mine = {r["method"]: r for r in rows if r["d"] == d}
        ours = mine.get("hz-exact-f64", {}).get("seconds")
        floor = mine.get("floor-mm-f64", {}).get("seconds")
        lines += [f"## d = {d} (h = {args.n ** (-1 / (d + 4)):.4f})", "",
                  "| method | time (s) | time / hz-exact-f64 | × floor | peak MB | max rel err | median rel err |",
                  "|---|---|---|---|---|---|---|"]
        for method in METHODS:
            r = mine.get(method)
            if r is None:
                continue
            if r["status"] != "ok":
                lines.append(f"| {method} | {r['status']} | | | | | |")
                continue
            sec = r["seconds"]
            ratio = f"{sec / ours:.3g}" if ours else ""
            xf = f"{sec / floor:.2f}" if floor else ""
            mx = f"{r['max_rel_err']:.2e}" if "max_rel_err" in r else "—"
            md = f"{r['median_rel_err']:.2e}" if "median_rel_err" in r else "—"
            shown = f"{sec:.3g}" + (f" (median of {len(r['seconds_all'])})" if "seconds_all" in r else "")
            lines.append(f"| {method} | {shown} | {ratio} | {xf} | {r['peak_mb']:.0f} | {mx} | {md} |")
        lines.append("")
    if offset:
        lines += ["## scikit-learn's tree KDE off the training set", "",
                  f"Command: `python benchmarks/kde.py --sklearn-offset` (n = {offset['n']:,}, d = {offset['d']}, "
                  f"h = {offset['bandwidth']:.4f}, rtol = atol = 0, 300 points each).", "",
                  "| scikit-learn algorithm, queries | max rel err | median rel err |", "|---|---|---|"]
        for key, v in offset.items():
            if isinstance(v, dict):
                lines.append(f"| {key} | {v['max_rel_error']:.2e} | {v['median_rel_error']:.2e} |")
        lines.append("")
    (RESULTS / f"kde{suffix}.md").write_text("\n".join(lines))
    clean = [{k: v for k, v in r.items() if k != "log_density"} for r in rows]
    (RESULTS / f"kde{suffix}.json").write_text(json.dumps({"command": command, "machine": machine(), "n": args.n,
                                                            "m": args.m, "rows": clean, "sklearn_offset": offset,
                                                            "merged": getattr(args, "merged", [])}, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="20k × 2k points at d = 1, 2, 16")
    p.add_argument("--sklearn-offset", action="store_true", help="only the scikit-learn off-training-set check")
    p.add_argument("--dims", type=int, nargs="*")
    p.add_argument("--methods", nargs="*", default=METHODS)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--repeat", type=int, default=1, help="run each case this many times; report the median time")
    p.add_argument("--report-only", action="store_true", help="rewrite kde.md from kde.json")
    p.add_argument("--merge", action="store_true",
                   help="re-run only --methods/--dims and merge them into the existing docs/results/kde.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--m", type=int, default=10_000)
    p.add_argument("--d", type=int, help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker == "reference":
        np.save(args.save, _reference(args.n, args.m, args.d))
        return
    if args.worker:
        return worker(args)
    if args.sklearn_offset:
        print(json.dumps(sklearn_offset(), indent=1))
        return
    if args.quick:
        args.n, args.m = 20_000, 2_000
    if args.report_only:
        old = json.loads((RESULTS / f"kde{'_quick' if args.quick else ''}.json").read_text())
        args.merged = old.get("merged", [])
        return write_report(old["rows"], args, old["sklearn_offset"], "_quick" if args.quick else "")
    dims = args.dims or ([1, 2, 16] if args.quick else [1, 2, 16, 64])
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for d in dims:
        ref = reference(args.n, args.m, d)
        for method in args.methods:
            if method in LOW_D_ONLY and d > 2:
                continue
            runs = [launch(method, args.n, args.m, d, args.timeout) for _ in range(args.repeat)]
            row = runs[0]
            if args.repeat > 1 and all(r["status"] == "ok" for r in runs):
                row["seconds"] = float(np.median([r["seconds"] for r in runs]))
                row["seconds_all"] = [r["seconds"] for r in runs]
            if "log_density" in row:
                row["max_rel_err"], row["median_rel_err"] = errors(row.pop("log_density"), ref)
            rows.append(row)
            print(json.dumps(row), flush=True)
    suffix = "_quick" if args.quick else ""
    if args.merge:
        old = json.loads((RESULTS / f"kde{suffix}.json").read_text())
        redone = {(r["method"], r["d"]) for r in rows}
        rows = [r for r in old["rows"] if (r["method"], r["d"]) not in redone] + rows
        offset = old["sklearn_offset"]
        args.merged = sorted(set(old.get("merged", [])) | {f"{m} at d={d}" for m, d in redone})
    else:
        offset = sklearn_offset()
        print(json.dumps(offset), flush=True)
    write_report(rows, args, offset, suffix)


if __name__ == "__main__":
    main()
