"""Dispatch overhead of core's operators: ``core.rms_norm`` called through the dispatcher vs the implementation
the dispatcher picks, called directly. Writes docs/results/core.md (+ core.json).

    python benchmarks/core.py                      # today's core, 1 and 2 threads (about a minute)
    python benchmarks/core.py --baseline e54c8a3 --rounds 3 --repeats 1001 --number 20   # before/after (2 min)

Each case is a small input (8 x 64 float32, the size at which Python overhead dominates), so the figure is the
cost of the dispatch decision itself: the two callables take turns (``core.testing.interleaved``, rotating
order), each sample times ``number`` calls in a row (few, so that a sample another job interrupts is an outlier rather
than a shift of every sample), and the overhead is the median over repeats of the
paired difference (dispatch − direct) per call. ``--baseline REV`` extracts core as of REV (``git archive``) and
runs it in the same benchmark, in fresh processes alternating with today's (PYTHONPATH puts the old core first).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
GOAL_US = 2.0


def _identity(x, weight=None, eps=1e-6):
    """A no-op operator's reference: what is left of a call through dispatch is the dispatch itself."""
    return x


def cases():
    """(label, operator, args, kwargs) of the dispatched calls measured."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 64, generator=g)
    w = torch.randn(64, generator=g)
    return [
        ("rms_norm(x, w) float32", "core.rms_norm", (x, w), {}),
        ("rms_norm(x, w) float32, requires_grad", "core.rms_norm",
         (x.clone().requires_grad_(), w.clone().requires_grad_()), {}),
        ("rms_norm(x, eps=1e-5) float64", "core.rms_norm", (x.double(),), {"eps": 1e-5}),
        ("no-op operator (x, w): dispatch alone", "bench.identity", (x, w), {}),
        ("no-op operator with rms_norm's Triton backend (unavailable on a CPU)", "bench.identity_triton", (x, w), {}),
    ]


def measure(threads: int, repeats: int, number: int) -> list[dict]:
    """In this process: every case, dispatch and direct taking turns; raw per-repeat times kept."""
    import types

    import torch

    from hyperzoo import core
    from hyperzoo.core import testing

    torch.set_num_threads(threads)
    plugin = types.ModuleType("hyperzoo_bench_plugin")
    def register(registrar):
        registrar.operator("bench.identity", _identity)
        # the same backend registration as core.rms_norm's, so that its dispatch does the same work
        registrar.operator("bench.identity_triton", _identity)
        registrar.backend("bench.identity_triton", "triton", "hyperzoo.core.ops.rms_norm_triton:rms_norm",
                          priority=10, is_available="hyperzoo.core.dispatch:triton_available",
                          supports="hyperzoo.core.ops.rms_norm_triton:supports")

    plugin.hyperzoo_register = core.hookimpl(register)
    core.register_plugin(plugin, "bench")
    rows = []
    for label, name, args, kwargs in cases():
        op = core.get_operator(name)
        chosen, _ = op.select(*args, **kwargs)
        impl = op.reference if chosen == "reference" else op.backends[chosen].impl
        pair = {"dispatch": lambda op=op, a=args, k=kwargs: op(*a, **k),
                "direct": lambda f=impl, a=args, k=kwargs: f(*a, **k)}  # the same call shape for both
        times = testing.interleaved(pair, repeats=repeats, warmup=2, number=number)
        rows.append({"case": label, "threads": threads, "chosen": chosen, "dispatch_s": times["dispatch"],
                     "direct_s": times["direct"]})
    core.unregister_plugin("bench")
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Pool the raw times of every process per (case, threads): medians and the paired overhead."""
    pooled: dict[tuple, dict] = {}
    for r in rows:
        p = pooled.setdefault((r["case"], r["threads"]), {"case": r["case"], "threads": r["threads"],
                                                          "chosen": r["chosen"], "dispatch_s": [], "direct_s": []})
        p["dispatch_s"] += r["dispatch_s"]
        p["direct_s"] += r["direct_s"]
    out = []
    for p in pooled.values():
        paired = [d - i for d, i in zip(p["dispatch_s"], p["direct_s"])]
        out.append({"case": p["case"], "threads": p["threads"], "chosen": p["chosen"],
                    "dispatch_us": 1e6 * statistics.median(p["dispatch_s"]),
                    "direct_us": 1e6 * statistics.median(p["direct_s"]),
                    "overhead_us": 1e6 * statistics.median(paired),
                    "overhead_iqr_us": [1e6 * q for q in _quartiles(paired)],
                    "overhead_of_minima_us": 1e6 * (min(p["dispatch_s"]) - min(p["direct_s"])),
                    "samples": len(paired)})
    return out


def _quartiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def _commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "core/hyperzoo/core"], capture_output=True,
                               text=True, cwd=ROOT).stdout.strip()
        return rev + (" + uncommitted core changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _machine() -> str:
    import torch

    load = (", load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min) at the end".format(*os.getloadavg())
            if hasattr(os, "getloadavg") else "")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible{load}, torch "
            f"{torch.__version__}, Python {platform.python_version()}")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write(summary: dict[str, list[dict]], commits: dict[str, str], args: argparse.Namespace, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "core.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data["dispatch"] = {"command": command, "commits": commits, "machine": _machine(), "threads": args.threads,
                        "rounds": args.rounds, "repeats": args.repeats, "number": args.number,
                        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": summary}
    _atomic_write(path, json.dumps(data, indent=1))
    codes = list(summary)
    lines = ["# core: benchmark results", "",
             "## Dispatch overhead (`core.rms_norm` through the dispatcher vs the chosen implementation called "
             "directly)", "",
             f"Command: `{command}` ({data['dispatch']['date']}; {data['dispatch']['machine']}).", "",
             "Code measured: " + "; ".join(f"**{c}** = {commits[c]}" for c in codes) + ". " +
             (f"Each code runs in {args.rounds} fresh processes, alternating between the codes; in each process "
              f"the dispatched call and the direct call take turns (`core.testing.interleaved`, {args.repeats} "
              f"repeats of {args.number} calls after 2 warm-up rounds). Overhead: median over all repeats of the "
              "paired difference (dispatch − direct) per call, brackets its interquartile range; *of minima*: "
              "the fastest dispatched sample minus the fastest direct one (the least disturbed by other jobs on "
              "a loaded machine). Input 8 × 64 on the CPU, where Python overhead dominates; `chosen` is what "
              "the dispatcher runs here; each code's overhead is against its own reference (the direct column), "
              "which may differ between codes. The no-op operators (their reference returns its input; one "
              "registered with the same Triton backend as `core.rms_norm`) isolate the cost of dispatch from "
              "the noise of the kernel, which dominates the rms_norm rows when other jobs load the machine. "
              f"Goal: at most {GOAL_US:g} µs median overhead per call."), ""]
    head = "| case | threads | chosen | " + " | ".join(f"{c}: dispatch / direct (µs) | {c}: overhead (µs) | "
                                                       f"{c}: of minima (µs)" for c in codes) + " |"
    lines += [head, "|" + "---|" * (3 + 3 * len(codes))]
    by = {c: {(r["case"], r["threads"]): r for r in summary[c]} for c in codes}
    for r in summary[codes[-1]]:
        cells = []
        for c in codes:
            q = by[c].get((r["case"], r["threads"]))
            if q is None:
                cells += ["-", "-", "-"]
                continue
            lo, hi = q["overhead_iqr_us"]
            cells += [f"{q['dispatch_us']:.2f} / {q['direct_us']:.2f}", f"**{q['overhead_us']:.2f}** "
                      f"[{lo:.2f}, {hi:.2f}]", f"{q['overhead_of_minima_us']:.2f}"]
        lines.append(f"| {r['case']} | {r['threads']} | {r['chosen']} | " + " | ".join(cells) + " |")
    _atomic_write(RESULTS / "core.md", "\n".join(lines) + "\n")


def _child(args: argparse.Namespace) -> None:
    rows = [r for t in args.threads for r in measure(t, args.repeats, args.number)]
    print(json.dumps(rows))


def _run_child(args: argparse.Namespace, pythonpath: str | None) -> list[dict]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, __file__, "--child", "--threads", *map(str, args.threads), "--repeats", str(args.repeats),
           "--number", str(args.number)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", metavar="REV", help="also measure core as of this git revision (before/after)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per code, alternating")
    parser.add_argument("--repeats", type=int, default=1001, help="timed samples per case and process")
    parser.add_argument("--number", type=int, default=20, help="calls per timed sample (short samples: a sample "
                        "that another job interrupts is an outlier the median ignores, not a shift of every sample)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    command = "python benchmarks/core.py " + " ".join(a for a in sys.argv[1:])
    codes: dict[str, str | None] = {}
    commits: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            rev = subprocess.run(["git", "rev-parse", "--short", args.baseline], capture_output=True, text=True,
                                 cwd=ROOT, check=True).stdout.strip()
            archive = subprocess.run(["git", "archive", rev, "core"], capture_output=True, cwd=ROOT, check=True)
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            codes["before"], commits["before"] = str(Path(tmp) / "core"), f"core at {rev}"
        codes["after" if args.baseline else "current"] = None
        commits["after" if args.baseline else "current"] = f"core at {_commit()}"
        raw: dict[str, list[dict]] = {c: [] for c in codes}
        for i in range(args.rounds):
            order = list(codes) if i % 2 == 0 else list(reversed(codes))
            for c in order:
                raw[c] += _run_child(args, codes[c])
                print(f"round {i + 1}/{args.rounds}: {c} done", flush=True)
    summary = {c: summarise(rows) for c, rows in raw.items()}
    for c, rows in summary.items():
        for r in rows:
            print(c, json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}))
    write(summary, commits, args, command.strip())


if __name__ == "__main__":
    main()
