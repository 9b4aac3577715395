"""The whole HGNN / HGNN+ training step (forward, backward, Adam) vs DHG's, on the two cora hypergraphs.

    python benchmarks/hypergraph_step.py --threads 1 2 --repeats 30     # writes docs/results/hypergraph_step.md

Ours with the node features as CSR (what `load_npz` gives for bag-of-words features) and, for comparison, dense;
DHG's `HGNN` / `HGNNP` with dense features (its usual input). Same width (32), same splits; cases interleaved
(round-robin), medians of `--repeats` rounds after two warm-up steps each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def cases(name: str, model: str) -> dict:
    import dhg
    from dhg.models import HGNN as DHGHGNN
    from dhg.models import HGNNP as DHGHGNNP

    from hyperzoo import core
    from hyperzoo.hypergraph.data import load_npz

    d, dd = load_npz(name=name), load_npz(name=name, sparse_features=False)
    hg, x, xd, y, train = d["hg"], d["hg"].x, dd["hg"].x, d["labels"], d["train_splits"][0]
    g = dhg.Hypergraph(hg.num_nodes, [list(e) for e in hg.edges()])
    torch.manual_seed(0)
    ours = core.create_model(model, in_channels=x.shape[1], num_classes=int(y.max()) + 1, isolated="zero")
    theirs = (DHGHGNN if model == "hgnn" else DHGHGNNP)(x.shape[1], 32, int(y.max()) + 1)
    oo, ot = torch.optim.Adam(ours.parameters(), 0.01), torch.optim.Adam(theirs.parameters(), 0.01)
    f = torch.nn.functional.cross_entropy

    def step(opt, net, *inputs):
        opt.zero_grad()
        f(net(*inputs)[train], y[train]).backward()
        opt.step()

    return {"ours (CSR x)": lambda: step(oo, ours, x, hg), "ours (dense x)": lambda: step(oo, ours, xd, hg),
            "DHG": lambda: step(ot, theirs, xd, g)}


def main() -> None:
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name in ("cocitation-cora", "coauthorship-cora"):
            for model in ("hgnn", "hgnnp"):
                cs = cases(name, model)
                for fn in cs.values():
                    fn()
                    fn()
                times = {k: [] for k in cs}
                for _ in range(args.repeats):
                    for k, fn in cs.items():
                        t = time.perf_counter()
                        fn()
                        times[k].append(time.perf_counter() - t)
                med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
                rows.append({"threads": threads, "data": name, "model": model, "ms": med,
                             "dhg_over_ours_csr": med["DHG"] / med["ours (CSR x)"],
                             "dhg_over_ours_dense": med["DHG"] / med["ours (dense x)"]})
                print(rows[-1], flush=True)
    (ROOT / "docs" / "results" / "hypergraph_step.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["# The whole HGNN / HGNN+ step vs DHG", "",
             f"Command: `python benchmarks/hypergraph_step.py --threads {' '.join(map(str, args.threads))} "
             f"--repeats {args.repeats}` (forward + backward + Adam, width 32, interleaved, medians; the machine "
             "was shared with other jobs).", "",
             "| threads | data | model | ours, CSR x (ms) | ours, dense x (ms) | DHG (ms) | DHG / ours (CSR) | "
             "DHG / ours (dense) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["ms"]
        lines.append(f"| {r['threads']} | {r['data']} | {r['model']} | {m['ours (CSR x)']:.1f} | "
                     f"{m['ours (dense x)']:.1f} | {m['DHG']:.1f} | {r['dhg_over_ours_csr']:.2f}x | "
                     f"{r['dhg_over_ours_dense']:.2f}x |")
    (ROOT / "docs" / "results" / "hypergraph_step.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
