"""Dispatch overhead of core's operators: ``core.rms_norm`` called through the dispatcher vs the implementation
the dispatcher picks, called directly. Writes docs/results/core.md (+ core.json).

    python benchmarks/core.py                      # 1 and 2 threads, label "current"
    python benchmarks/core.py --label before       # keep a row under another label (e.g. before a change)
    python benchmarks/core.py --repeats 41 --number 2000

Each case is a small input (8 x 64 float32, the size at which Python overhead dominates), so the figure is the
cost of the dispatch decision itself: the two callables take turns (``core.testing.interleaved``, rotating
order), each sample times ``number`` calls in a row, and the overhead is the median over repeats of the
paired difference (dispatch − direct) per call. Rows are kept per label in core.json, so a run before a change
and one after it sit side by side in the table (each row names its commit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
GOAL_US = 2.0


def cases():
    """(label, args, kwargs) of the dispatched calls measured."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 64, generator=g)
    w = torch.randn(64, generator=g)
    return [
        ("rms_norm(x, w) float32", (x, w), {}),
        ("rms_norm(x, w) float32, requires_grad", (x.clone().requires_grad_(), w.clone().requires_grad_()), {}),
        ("rms_norm(x, eps=1e-5) float64", (x.double(),), {"eps": 1e-5}),
    ]


def measure(threads: int, repeats: int, number: int) -> list[dict]:
    import torch

    from hyperzoo import core
    from hyperzoo.core import testing

    torch.set_num_threads(threads)
    op = core.get_operator("core.rms_norm")
    rows = []
    for label, args, kwargs in cases():
        chosen, _ = op.select(*args, **kwargs)
        impl = op.reference if chosen == "reference" else op.backends[chosen].impl
        times = testing.interleaved({"dispatch": lambda: op(*args, **kwargs), "direct": lambda: impl(*args, **kwargs)},
                                    repeats=repeats, warmup=2, number=number)
        med = testing.medians(times)
        paired = [d - i for d, i in zip(times["dispatch"], times["direct"])]
        rows.append({"case": label, "threads": threads, "chosen": chosen, "dispatch_us": 1e6 * med["dispatch"],
                     "direct_us": 1e6 * med["direct"], "overhead_us": 1e6 * statistics.median(paired),
                     "overhead_iqr_us": [1e6 * q for q in _quartiles(paired)], "repeats": repeats, "number": number})
        print(json.dumps(rows[-1]), flush=True)
    return rows


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

    load = ", load average %.2f %.2f %.2f" % os.getloadavg() if hasattr(os, "getloadavg") else ""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible{load}, torch "
            f"{torch.__version__}, Python {platform.python_version()}")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write(label: str, rows: list[dict], command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "core.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    runs = data.setdefault("dispatch", {})
    runs[label] = {"rows": rows, "command": command, "commit": _commit(), "machine": _machine(),
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    _atomic_write(path, json.dumps(data, indent=1))
    lines = ["# core: benchmark results", "",
             "## Dispatch overhead (`core.rms_norm` through the dispatcher vs the chosen implementation called "
             "directly)", "",
             f"Goal: at most {GOAL_US:g} µs median overhead per call. Input 8 × 64 (CPU), where Python overhead "
             "dominates. Overhead: median over repeats of the paired difference (dispatch − direct) per call, the "
             "two taking turns in every round (`core.testing.interleaved`); brackets: its interquartile range. "
             "`chosen` is the implementation the dispatcher runs here (on a CPU, the reference).", ""]
    for name, run in runs.items():
        lines += [f"### {name}", "", f"Command: `{run['command']}` at commit {run['commit']}, {run['date']}; "
                  f"{run['machine']}.", "",
                  "| case | threads | chosen | through dispatch (µs) | direct (µs) | overhead (µs) |",
                  "|---|---|---|---|---|---|"]
        for r in run["rows"]:
            lo, hi = r["overhead_iqr_us"]
            lines.append(f"| {r['case']} | {r['threads']} | {r['chosen']} | {r['dispatch_us']:.2f} | "
                         f"{r['direct_us']:.2f} | **{r['overhead_us']:.2f}** [{lo:.2f}, {hi:.2f}] |")
        lines.append("")
    _atomic_write(RESULTS / "core.md", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="current", help="row label in core.json/core.md (default: current)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--number", type=int, default=1000, help="calls per timed sample")
    args = parser.parse_args()
    command = "python benchmarks/core.py " + " ".join(sys.argv[1:])
    rows = [r for t in args.threads for r in measure(t, args.repeats, args.number)]
    write(args.label, rows, command.strip())


if __name__ == "__main__":
    main()
