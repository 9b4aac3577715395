"""Main job time at 1 and 2 torch threads, alternated (the machine's load is whatever it is: say so in the table).

    python benchmarks/threads.py --epochs 3 --repeats 2      # writes docs/results/threads.md (+ .json)

Each case is a fresh process (`hyperzoo run digits-seq terminator --set epochs=E --set threads=T --quiet`), the
cases alternate, and the table reports each time and the median per thread count, with the 1-minute load
average before each case.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(threads: int, epochs: int, model: str) -> float:
    out = Path(tempfile.mkdtemp(prefix="hz-threads-")) / "run"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hyperzoo.core", "run", "digits-seq", model, "--set", f"epochs={epochs}",
                    "--set", f"threads={threads}", "--set", "patience=null", "--out", str(out), "--quiet"],
                   check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default="terminator")
    ap.add_argument("--label", default="as found", help="the machine's state, for the table (idle, loaded, ...)")
    args = ap.parse_args()
    rows = []
    for r in range(args.repeats):
        for threads in (1, 2):
            load = os.getloadavg()[0]
            rows.append({"threads": threads, "repeat": r, "seconds": one(threads, args.epochs, args.model),
                         "load1": load})
            print(rows[-1], flush=True)
    med = {t: statistics.median(x["seconds"] for x in rows if x["threads"] == t) for t in (1, 2)}
    path = ROOT / "docs" / "results" / "threads.json"
    old = json.loads(path.read_text()) if path.exists() else []
    old.append({"label": args.label, "model": args.model, "epochs": args.epochs, "rows": rows, "median": med})
    path.write_text(json.dumps(old, indent=2) + "\n")
    lines = ["# Threads: the main job at 1 and 2 torch threads", "",
             "Command: `python benchmarks/threads.py --epochs E --repeats R --label LABEL` (fresh process per case, "
             "alternated; the 1-minute load average before each case).", "",
             "| machine state | model | epochs | 1 thread (median, s) | 2 threads (median, s) | 2 / 1 | load avg |",
             "|---|---|---|---|---|---|---|"]
    for entry in old:
        m = {int(k): v for k, v in entry["median"].items()}
        loads = [x["load1"] for x in entry["rows"]]
        lines.append(f"| {entry['label']} | {entry['model']} | {entry['epochs']} | {m[1]:.1f} | {m[2]:.1f} | "
                     f"{m[2] / m[1]:.2f} | {min(loads):.1f}–{max(loads):.1f} |")
    (ROOT / "docs" / "results" / "threads.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
