"""When does LightHGNN's distillation pay? Student (MLP) vs teacher (HGNN) inference against incidences per node.

    python benchmarks/lighthgnn_bound.py          # writes docs/results/lighthgnn_bound.{md,json,png}

The student runs the teacher's dense layers without the two smoothing products, so its speed-up is bounded by
1 + (sparse smoothing cost) / (dense layer cost). On synthetic hypergraphs (N nodes, random hyperedges of size 4,
k incidences per node on average) we time, interleaved, with 1 thread:
- the student MLP (two dense layers),
- the teacher HGNN **warm** (structure built and its cached matrices ready: repeated inference on one graph),
- the teacher HGNN **cold** (the Hypergraph built from its hyperedge list first: a new or changed graph),
and the bound predicted from the parts measured alone (smoothing, dense layers).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
N, F, HIDDEN, CLASSES, SIZE = 20_000, 128, 128, 8, 4


def main() -> None:
    from hyperzoo import core
    from hyperzoo.hypergraph import Hypergraph, hgnn_smooth

    torch.set_num_threads(1)
    rows = []
    x = torch.randn(N, F)
    for k in (1, 2, 4, 8, 16, 32):
        rng = np.random.default_rng(k)
        num_edges = k * N // SIZE
        edges = [rng.choice(N, SIZE, replace=False).tolist() for _ in range(num_edges)]
        torch.manual_seed(0)
        teacher = core.create_model("hgnn", in_channels=F, num_classes=CLASSES, width=HIDDEN, dropout=0.0).eval()
        student = core.create_model("node-mlp", in_channels=F, num_classes=CLASSES, width=HIDDEN, dropout=0.0).eval()
        hg = Hypergraph.from_edges(edges, N)
        h = torch.randn(N, HIDDEN)

        cases = {"student": lambda s=student: s(x),
                 "teacher warm": lambda t=teacher, g=hg: t(x, g),
                 "teacher cold": lambda t=teacher, e=edges: t(x, Hypergraph.from_edges(e, N)),
                 "smoothing": lambda h=h, g=hg: hgnn_smooth(h, g), "dense layers": lambda s=student: s(x)}
        with torch.no_grad():
            for fn in cases.values():
                fn()
            times = {c: [] for c in cases}
            for _ in range(5):
                for c, fn in cases.items():
                    t = time.perf_counter()
                    fn()
                    times[c].append(time.perf_counter() - t)
        med = {c: statistics.median(v) for c, v in times.items()}
        bound = 1 + 2 * med["smoothing"] / med["dense layers"]   # the teacher smooths twice (two layers)
        rows.append({"incidences_per_node": k, "seconds": med, "speedup_warm": med["teacher warm"] / med["student"],
                     "speedup_cold": med["teacher cold"] / med["student"], "bound": bound})
        print(rows[-1], flush=True)
    out = ROOT / "docs" / "results"
    (out / "lighthgnn_bound.json").write_text(json.dumps(rows, indent=2) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [r["incidences_per_node"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.plot(ks, [r["speedup_warm"] for r in rows], "o-", label="measured, warm (structure cached)")
    ax.plot(ks, [r["speedup_cold"] for r in rows], "s-", label="measured, cold (structure built)")
    ax.plot(ks, [r["bound"] for r in rows], "k--", label="1 + 2·smoothing / dense (warm bound)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("incidences per node (nnz(H) / N)")
    ax.set_ylabel("teacher time / student time")
    ax.set_title(f"LightHGNN inference, N={N:,}, F={F}, hidden {HIDDEN}, 1 thread", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "lighthgnn_bound.png", dpi=110)
    lines = ["# LightHGNN: when distillation pays", "",
             "Command: `python benchmarks/lighthgnn_bound.py` (1 thread, interleaved, medians of 5; synthetic "
             f"hypergraphs of {N:,} nodes, hyperedges of size {SIZE}, features {F}, hidden {HIDDEN}).", "",
             "![speed-up vs incidences per node](lighthgnn_bound.png)", "",
             "| incidences per node | student (ms) | teacher warm (ms) | teacher cold (ms) | warm speed-up | "
             "cold speed-up | bound 1 + 2·smooth/dense |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["seconds"]
        lines.append(f"| {r['incidences_per_node']} | {s['student'] * 1e3:.1f} | {s['teacher warm'] * 1e3:.1f} | "
                     f"{s['teacher cold'] * 1e3:.1f} | {r['speedup_warm']:.1f}x | {r['speedup_cold']:.1f}x | "
                     f"{r['bound']:.1f}x |")
    (out / "lighthgnn_bound.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
