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
    python benchmarks/kde.py --merge --repeat 5 --dims 1 2 --methods hz-grid kdepy-fft   # re-run some rows
    python benchmarks/kde.py --grid-pareto --repeat 5   # grid mode vs FFTKDE over grid sizes (time at equal error)
    python benchmarks/kde.py --block-sweep --repeat 3   # exact mode and the matmul floor over block shapes, d = 16
    python benchmarks/kde.py --floor-ratio --repeat 7 --dims 16 64   # exact / floor, interleaved in one process
    python benchmarks/kde.py --mixed-probe --repeat 3   # a float64-distance / float32-exp variant, not adopted

Writes docs/results/kde.md and docs/results/kde.json (the --quick run writes *_quick.* instead); every row records
the run (command, date) that measured it, and --merge / --grid-pareto / --block-sweep / --floor-ratio replace only
their rows. --floor-ratio times the exact modes and the floor alternately in one process (no fresh process per
case): on a shared machine the per-round ratio survives load that the fresh-process medians do not.
"""

from __future__ import annotations

import argparse
import functools
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
def run_case(method: str, x: np.ndarray, y: np.ndarray, h: float, *, size: int | None = None,
             blocks: tuple[int, int] | None = None) -> np.ndarray | None:
    """Fit and evaluate; return log densities at all queries (None for the floor). ``size``: grid points per
    dimension of hz-grid and kdepy-fft; ``blocks``: (query, data) block shape of hz-exact-* and the floor."""
    d = x.shape[1]
    if blocks is not None:
        from hyperzoo.kde.ops import kernel_sum_blocked

        kernel_sum_blocked.QUERY_BLOCK, kernel_sum_blocked.DATA_BLOCK = blocks
    if method.startswith("hz-"):
        from hyperzoo.kde import KernelDensity

        kw = {"hz-exact-f64": {}, "hz-exact-f32": {"dtype": "float32"}, "hz-tree": {"algorithm": "tree", "rtol": 1e-6},
              "hz-grid": {"algorithm": "grid", "grid_size": size}}[method]
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

        size = size or grid_size(d)
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
    opts = {"size": args.size, "blocks": tuple(args.blocks) if args.blocks else None}
    run_case(args.worker, x[: max(50, 2 * args.d)], y[:5], h, **opts)   # imports and first-call set-up, untimed
    started = time.perf_counter()
    out = run_case(args.worker, x, y, h, **opts)
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


def launch(method: str, n: int, m: int, d: int, timeout: float, extra: tuple[str, ...] = ()) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        save = os.path.join(tmp, "out.npy")
        cmd = [sys.executable, __file__, "--worker", method, "--n", str(n), "--m", str(m), "--d", str(d),
               "--save", save, *extra]
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


def measure(cases: list[tuple[str, dict]], d: int, args: argparse.Namespace) -> list[dict]:
    """Each case (method, options) in ``args.repeat`` fresh processes, round-robin over the cases so that load from
    other jobs hits them alike: the median time (all times kept) and the errors of the first run."""
    ref = reference(args.n, args.m, d)
    runs: list[list[dict]] = [[] for _ in cases]
    for _ in range(args.repeat):
        for (method, opts), out in zip(cases, runs):
            extra = [str(a) for k, v in opts.items() for a in (f"--{k}", *(v if isinstance(v, list) else [v]))]
            out.append(launch(method, args.n, args.m, d, args.timeout, tuple(extra)))
    rows = []
    for (_, opts), out in zip(cases, runs):
        row = {**out[0], **opts}
        if args.repeat > 1 and all(r["status"] == "ok" for r in out):
            row["seconds_all"] = [r["seconds"] for r in out]
            row["seconds"] = float(np.median(row["seconds_all"]))
        if "log_density" in row:
            row["max_rel_err"], row["median_rel_err"] = errors(row.pop("log_density"), ref)
        row["run"] = args.tag
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


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


LEGACY_RUNS = [  # kde.json written before rows recorded their run
    {"tag": "A", "date": "2026-11-26", "threads": "1 (OMP_NUM_THREADS=1)", "command": "python benchmarks/kde.py",
     "note": "the full run"},
    {"tag": "B", "date": "2026-11-26", "threads": "1 (OMP_NUM_THREADS=1)",
     "command": "python benchmarks/kde.py --merge --methods ...",
     "note": "hz-* and floor rows re-run later the same day (times marked 'median of 3' with `--repeat 3 --dims 16 "
             "64`); scipy at d = 64 after a first failed warm-up"}]


def load_results(suffix: str) -> dict:
    """docs/results/kde{suffix}.json, upgraded to per-row run tags if it predates them."""
    old = json.loads((RESULTS / f"kde{suffix}.json").read_text())
    if "runs" not in old:
        merged = set(old.pop("merged", []))
        old["runs"] = LEGACY_RUNS if merged else LEGACY_RUNS[:1]
        for r in old["rows"]:
            r["run"] = "B" if f"{r['method']} at d={r['d']}" in merged else "A"
    old.setdefault("grid_pareto", [])
    old.setdefault("block_sweep", [])
    old.setdefault("floor_ratio", [])
    old.setdefault("mixed_probe", [])
    return old


def threads() -> str:
    """torch's thread count as a fresh worker sees it, and OMP_NUM_THREADS."""
    n = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                       capture_output=True, text=True).stdout.strip()
    return f"{n} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"


def fmt_time(r: dict) -> str:
    if r.get("status", "ok") != "ok":
        return r["status"]
    return f"{r['seconds']:.3g}" + (f" (median of {len(r['seconds_all'])})" if "seconds_all" in r else "")


def fmt_err(r: dict, key: str) -> str:
    return f"{r[key]:.2e}" if key in r else "—"


FLOOR_RATIO_CASES = [("floor-mm-f64", None), ("hz-exact-f64", None), ("floor-mm-f64", (256, 1024)),
                     ("floor-mm-f32", None), ("hz-exact-f32", None)]


def floor_ratio(d: int, args: argparse.Namespace) -> dict:
    """The FLOOR_RATIO_CASES round-robin in this process, ``args.repeat`` rounds after a warm-up round: every
    time, and per round the ratio of each case to that round's floor-mm-f64 at the exact mode's blocks."""
    import torch

    from hyperzoo.kde.ops import kernel_sum_blocked as kb

    x, y, h = make_data(args.n, args.m, d)
    default = (kb.QUERY_BLOCK, kb.DATA_BLOCK)
    cases = {f"{method} {list(blocks or default)}": functools.partial(run_case, method, x, y, h,
                                                                      blocks=blocks or default)
             for method, blocks in FLOOR_RATIO_CASES}
    times, _ = round_robin(cases, args.repeat)
    floor = times[f"floor-mm-f64 {list(default)}"]
    return {"d": d, "run": args.tag, "threads": torch.get_num_threads(), "blocks": list(default),
            "cases": {k: {"seconds_all": v, "ratio_all": [a / b for a, b in zip(v, floor)]} for k, v in times.items()}}


def round_robin(cases: dict, repeat: int) -> tuple[dict[str, list[float]], dict]:
    """Call every case in turn: one warm-up round (its results are returned), then ``repeat`` timed rounds."""
    warm = {name: f() for name, f in cases.items()}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, f in cases.items():
            started = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - started)
    return times, warm


def mixed_kernel_sum(y, x, h: float, tau: float = 4.0):
    """Prototype of a "mixed" Gaussian kernel sum (measured, not adopted): float64 distances from the augmented
    matmul with a per-query shift c folded into the operand (ya[:, -2] = −½‖y‖² − c), the shifted exponent
    exp(a − c) in float32 (clamped at −80: no subnormals), block sums in float32, accumulated in float64. c starts at
    the row max of the first data block; a block whose float32 sum exceeds e^tau moves c up to its log-sum-exp
    (acc rescaled) and is recomputed, so every term kept has a − c ≤ tau and c never exceeds log Σ."""
    import torch

    from hyperzoo.kde.ops import kernel_sum_blocked as kb

    ya, xat, _, _ = kb._operands(y, x, h, "gaussian", None)
    qb, db = kb.QUERY_BLOCK, kb.DATA_BLOCK
    out = torch.empty(ya.shape[0], dtype=torch.float64)
    buf, b32, ones = torch.empty(qb, db, dtype=torch.float64), torch.empty(qb, db), torch.ones(db)
    for q0 in range(0, ya.shape[0], qb):
        yb = ya[q0:q0 + qb].clone()
        col = yb[:, -2].clone()
        c = (yb @ xat[:, :db]).amax(1)
        yb[:, -2] = col - c
        acc = torch.zeros(yb.shape[0], dtype=torch.float64)
        for xb in xat.split(db, 1):
            k = xb.shape[1]
            s, v = buf[: yb.shape[0], :k], b32[: yb.shape[0], :k]
            torch.mm(yb, xb, out=s)
            bs = torch.mv(v.copy_(s).clamp_min_(-80.0).exp_(), ones[:k])
            hot = torch.nonzero(~(bs <= math.exp(tau))).flatten()
            if hot.numel():
                new = c[hot] + torch.log(bs[hot].double())
                acc[hot] *= torch.exp(c[hot] - new)
                c[hot] = new
                yb[hot, -2] = col[hot] - new
                bs[hot] = torch.mv((yb[hot] @ xb).float().clamp_min_(-80.0).exp_(), ones[:k])
            acc += bs
        out[q0:q0 + qb] = acc.log_() + c
    return out


def mixed_probe(d: int, args: argparse.Namespace) -> dict:
    """floor-mm-f64, hz-exact-f64 and the mixed prototype, round-robin in this process (``args.repeat`` rounds after
    a warm-up round): times, and max / median relative error of each against the float64 brute force."""
    import torch

    from hyperzoo.kde.kernels import log_norm
    from hyperzoo.kde.ops import kernel_sum_blocked as kb

    ref = reference(args.n, args.m, d)
    x, y, h = make_data(args.n, args.m, d)
    xt, yt = torch.tensor(x), torch.tensor(y)
    shift = math.log(args.n) + d * math.log(h) + log_norm("gaussian", d)
    cases = {"floor-mm-f64": lambda: run_case("floor-mm-f64", x, y, h),
             "hz-exact-f64": lambda: kb.kernel_sum(yt, xt, h), "mixed prototype": lambda: mixed_kernel_sum(yt, xt, h)}
    times, warm = round_robin(cases, args.repeat)
    row: dict = {"d": d, "run": args.tag, "cases": {}}
    for name, s in warm.items():
        if s is not None:
            row["cases"][name] = dict(zip(("max_rel_err", "median_rel_err"),
                                          errors(s[:ERR_QUERIES].numpy() - shift, ref)))
    for name, v in times.items():
        row["cases"].setdefault(name, {}).update(seconds_all=v, ratio_all=[a / b for a, b in
                                                                           zip(v, times["floor-mm-f64"])])
    return row


def write_report(res: dict, suffix: str) -> None:
    import scipy
    import sklearn

    from hyperzoo.kde.ops import kernel_sum_blocked as kb

    try:
        import KDEpy
        kdepy = KDEpy.__version__
    except ImportError:
        kdepy = "not installed"
    n, m, rows, offset = res["n"], res["m"], res["rows"], res["sklearn_offset"]
    lines = [f"# kde benchmark{' (quick)' if suffix else ''}", "", "Runs (each row's `run` column says which one "
             "measured it; rows of later runs replaced the same method and d of earlier ones):", ""]
    used = {r["run"] for r in rows + res["grid_pareto"] + res["block_sweep"] + res["floor_ratio"] + res["mixed_probe"]}
    for run in res["runs"]:
        if run["tag"] not in used and not (run["tag"] == "A" and offset):
            continue
        extra = f"; torch threads: {run['threads']}" if "threads" in run else ""
        lines.append(f"- {run['tag']} ({run['date']}{extra}): `{run['command']}`"
                     + (f" — {run['note']}" if run.get("note") else ""))
    lines += ["", f"Machine: {res['machine']}; scikit-learn {sklearn.__version__}, scipy {scipy.__version__}, "
              f"KDEpy {kdepy}. The machine is shared with other jobs, so absolute times carry noise; repeated cases "
              "report the median over fresh processes. torch's thread count is listed per run (scikit-learn's, scipy's "
              "and KDEpy's KDEs are single-threaded).", "",
              f"Gaussian kernel, n = {n:,} training points, m = {m:,} queries, standard normal data, "
              "bandwidth = Scott's factor n^(−1/(d+4)). Time = fit + evaluation at all queries, each case in a fresh "
              "process after an untimed warm-up call on a few points; peak = ru_maxrss of that process. "
              "Errors: |p̂/p − 1| over the first 1,000 queries against a float64 brute force. "
              "`time / hz-exact-f64` > 1 means slower than our exact float64 mode; `× floor` = time / the float64 "
              "matrix-product floor (the bare blocked product of the augmented operands, in the exact mode's "
              "blocks).", ""]
    for d in sorted({r["d"] for r in rows}):
        mine = {r["method"]: r for r in rows if r["d"] == d}
        ours = mine.get("hz-exact-f64", {}).get("seconds")
        floor = mine.get("floor-mm-f64", {}).get("seconds")
        lines += [f"## d = {d} (h = {n ** (-1 / (d + 4)):.4f})", "",
                  "| method | time (s) | time / hz-exact-f64 | × floor | peak MB | max rel err | median rel err "
                  "| run |",
                  "|---|---|---|---|---|---|---|---|"]
        for method in METHODS:
            r = mine.get(method)
            if r is None:
                continue
            if r["status"] != "ok":
                lines.append(f"| {method} | {r['status']} | | | | | | {r['run']} |")
                continue
            sec = r["seconds"]
            ratio = f"{sec / ours:.3g}" if ours else ""
            xf = f"{sec / floor:.2f}" if floor else ""
            lines.append(f"| {method} | {fmt_time(r)} | {ratio} | {xf} | {r['peak_mb']:.0f} | "
                         f"{fmt_err(r, 'max_rel_err')} | {fmt_err(r, 'median_rel_err')} | {r['run']} |")
        lines.append("")
    if res["grid_pareto"]:
        lines += ["## Grid mode vs KDEpy's FFTKDE over grid sizes", "",
                  "The same n, m and data; each library at the same number of grid points per dimension (ours spans "
                  "the data ± 8.6 h, KDEpy's grid spans data and queries ± 9 h and is read at the queries by "
                  "scipy's RegularGridInterpolator). Compare times at equal error across rows.", "",
                  "| d | grid | hz-grid (ms) | max / median rel err | kdepy-fft (ms) | max / median rel err | "
                  "hz / kdepy time | run |", "|---|---|---|---|---|---|---|---|"]
        by = {(r["d"], r["size"], r["method"]): r for r in res["grid_pareto"]}
        for d, size in sorted({(r["d"], r["size"]) for r in res["grid_pareto"]}):
            hz, kd = by.get((d, size, "hz-grid")), by.get((d, size, "kdepy-fft"))
            if not hz or not kd or "seconds" not in hz or "seconds" not in kd:
                continue
            lines.append(f"| {d} | {size} | {hz['seconds'] * 1e3:.2f} | {fmt_err(hz, 'max_rel_err')} / "
                         f"{fmt_err(hz, 'median_rel_err')} | {kd['seconds'] * 1e3:.2f} | "
                         f"{fmt_err(kd, 'max_rel_err')} / {fmt_err(kd, 'median_rel_err')} | "
                         f"{hz['seconds'] / kd['seconds']:.2f} | {hz['run']} |")
        reps = {len(r.get("seconds_all", [0])) for r in res["grid_pareto"]}
        lines += ["", f"Times are medians of {'/'.join(map(str, sorted(reps)))} fresh processes.", ""]
    if res["block_sweep"]:
        lines += ["## Block shape of the exact mode", "",
                  "hz-exact-f64 and the float64 floor (the bare blocked matrix product) at the same block shape "
                  "(queries × data points per block), n = 100k, m = 10k. The exact mode uses "
                  f"{kb.QUERY_BLOCK} × {kb.DATA_BLOCK}.", "",
                  "| d | block | floor-mm-f64 (s) | hz-exact-f64 (s) | exact / floor | exact / best floor | run |",
                  "|---|---|---|---|---|---|---|"]
        by = {(r["d"], tuple(r["blocks"]), r["method"]): r for r in res["block_sweep"]}
        for d in sorted({r["d"] for r in res["block_sweep"]}):
            floors = [r["seconds"] for r in res["block_sweep"] if r["d"] == d and r["method"] == "floor-mm-f64"
                      and "seconds" in r]
            best = min(floors) if floors else None
            for blocks in sorted({tuple(r["blocks"]) for r in res["block_sweep"] if r["d"] == d}):
                fl, ex = by.get((d, blocks, "floor-mm-f64")), by.get((d, blocks, "hz-exact-f64"))
                if not fl or not ex or "seconds" not in fl or "seconds" not in ex:
                    continue
                lines.append(f"| {d} | {blocks[0]} × {blocks[1]} | {fmt_time(fl)} | {fmt_time(ex)} | "
                             f"{ex['seconds'] / fl['seconds']:.2f} | {ex['seconds'] / best:.2f} | {ex['run']} |")
        lines.append("")
    if res["floor_ratio"]:
        lines += ["## Exact mode vs the matrix-product floor, interleaved in one process", "",
                  "Each case (fit + evaluation at all queries, as in the tables above) timed alternately in one "
                  "process on the same data, one warm-up round, then the rounds; `ratio` = the case's time / the same "
                  "round's floor-mm-f64 at the exact mode's blocks (median over rounds; min–max in brackets). "
                  "`[q, n]` = the block shape (queries × data points).", "",
                  "| d | case | median time (s) | ratio to floor-mm-f64 | rounds | run |", "|---|---|---|---|---|---|"]
        for fr in sorted(res["floor_ratio"], key=lambda r: r["d"]):
            for case, v in fr["cases"].items():
                ratios = v["ratio_all"]
                lines.append(f"| {fr['d']} | {case} | {np.median(v['seconds_all']):.3g} | {np.median(ratios):.2f} "
                             f"[{min(ratios):.2f}–{max(ratios):.2f}] | {len(ratios)} | {fr['run']} |")
        lines.append("")
    if res["mixed_probe"]:
        lines += ["## A mixed-precision variant (measured, not adopted)", "",
                  "`mixed prototype` (benchmarks/kde.py `mixed_kernel_sum`): float64 distances from the same augmented "
                  "matmul with a per-query max shift folded into the operand, the shifted exponent in float32, block "
                  "sums accumulated in float64. Timed alternately with the exact mode and the floor in one process; "
                  "ratio = time / the same round's floor-mm-f64 (median [min–max]); errors against the float64 brute "
                  "force at the first 1,000 queries.", "",
                  "| d | case | median time (s) | ratio to floor-mm-f64 | max rel err | median rel err | run |",
                  "|---|---|---|---|---|---|---|"]
        for row in sorted(res["mixed_probe"], key=lambda r: r["d"]):
            for case, v in row["cases"].items():
                r = v["ratio_all"]
                lines.append(f"| {row['d']} | {case} | {np.median(v['seconds_all']):.3g} | {np.median(r):.2f} "
                             f"[{min(r):.2f}–{max(r):.2f}] | {fmt_err(v, 'max_rel_err')} | "
                             f"{fmt_err(v, 'median_rel_err')} | {row['run']} |")
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
    atomic_write(RESULTS / f"kde{suffix}.md", "\n".join(lines))
    atomic_write(RESULTS / f"kde{suffix}.json", json.dumps(res, indent=1))


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
    p.add_argument("--grid-pareto", action="store_true",
                   help="hz-grid and kdepy-fft at several grid sizes (d = 1, 2 unless --dims); merged into kde.json")
    p.add_argument("--block-sweep", action="store_true",
                   help="hz-exact-f64 and floor-mm-f64 at several block shapes (d = 16 unless --dims); merged")
    p.add_argument("--floor-ratio", action="store_true",
                   help="exact modes / matmul floor, interleaved in one process (d = 16 unless --dims); merged")
    p.add_argument("--mixed-probe", action="store_true",
                   help="float32-exp prototype vs exact mode and floor, in one process (d = 16 unless --dims); merged")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--m", type=int, default=10_000)
    p.add_argument("--d", type=int, help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--blocks", type=int, nargs=2, help=argparse.SUPPRESS)
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
    suffix = "_quick" if args.quick else ""
    if args.report_only:
        return write_report(load_results(suffix), suffix)
    RESULTS.mkdir(parents=True, exist_ok=True)
    incremental = args.merge or args.grid_pareto or args.block_sweep or args.floor_ratio or args.mixed_probe
    res = load_results(suffix) if incremental else {"n": args.n, "m": args.m, "runs": [], "rows": [],
                                                      "grid_pareto": [], "block_sweep": [], "floor_ratio": [],
                                                      "mixed_probe": []}
    if incremental and (res["n"], res["m"]) != (args.n, args.m):
        raise SystemExit(f"kde{suffix}.json holds n={res['n']}, m={res['m']}; merge runs of the same sizes")
    args.tag = chr(ord("A") + len(res["runs"]))
    res["runs"].append({"tag": args.tag, "date": time.strftime("%Y-%m-%d"), "threads": threads(),
                        "command": "python benchmarks/kde.py " + " ".join(sys.argv[1:])})
    res["machine"] = machine()
    if args.grid_pareto:
        sizes = {1: [2048, 4096, 8192, 16384], 2: [256, 512, 1024]}
        for d in args.dims or [1, 2]:
            new = measure([(m, {"size": s}) for s in sizes[d] for m in ("hz-grid", "kdepy-fft")], d, args)
            keys = {(r["d"], r["size"], r["method"]) for r in new}
            res["grid_pareto"] = [r for r in res["grid_pareto"] if (r["d"], r["size"], r["method"]) not in keys] + new
    elif args.mixed_probe:
        for d in args.dims or [16]:
            new = mixed_probe(d, args)
            print(json.dumps(new), flush=True)
            res["mixed_probe"] = [r for r in res["mixed_probe"] if r["d"] != d] + [new]
    elif args.floor_ratio:
        for d in args.dims or [16]:
            new = floor_ratio(d, args)
            print(json.dumps(new), flush=True)
            res["floor_ratio"] = [r for r in res["floor_ratio"] if r["d"] != d] + [new]
    elif args.block_sweep:
        blocks = [[512, 4096], [512, 512], [256, 1024], [256, 512], [256, 256], [128, 1024]]
        for d in args.dims or [16]:
            new = measure([(m, {"blocks": b}) for b in blocks for m in ("floor-mm-f64", "hz-exact-f64")], d, args)
            keys = {(r["d"], tuple(r["blocks"]), r["method"]) for r in new}
            res["block_sweep"] = [r for r in res["block_sweep"]
                                  if (r["d"], tuple(r["blocks"]), r["method"]) not in keys] + new
    else:
        for d in args.dims or ([1, 2, 16] if args.quick else [1, 2, 16, 64]):
            new = measure([(m, {}) for m in args.methods if not (m in LOW_D_ONLY and d > 2)], d, args)
            keys = {(r["method"], r["d"]) for r in new}
            res["rows"] = [r for r in res["rows"] if (r["method"], r["d"]) not in keys] + new
        if not args.merge:
            res["sklearn_offset"] = sklearn_offset()
            print(json.dumps(res["sklearn_offset"]), flush=True)
    write_report(res, suffix)


if __name__ == "__main__":
    main()
