"""Benchmark of the linear_attention plugin; writes docs/results/linear_attention.md (+ .json).

    python benchmarks/linear_attention.py                          # speed + memory + accuracy (tens of minutes)
    python benchmarks/linear_attention.py --parts speed,memory --sizes 1024,4096,16384,65536
    python benchmarks/linear_attention.py --parts accuracy --epochs 20 --seeds 0

Parts: ``speed`` (forward+backward, B=1, H=4, head dim 64, float32, what the dispatcher runs on this CPU, against
``F.scaled_dot_product_attention`` and the arithmetic floor: the bare matmuls φ(K)ᵀV and φ(Q)·S of the same shapes
with nothing else, at the operator's feature dimension; interleaved repeats, medians, 1 and 2 threads), ``memory``
(peak resident memory of one forward+backward from a fresh subprocess per case, VmHWM after a reset, minus the
child's resident set just before the case), ``accuracy`` (softmax vs each linear attention on mqar at two
difficulty levels through core.run, parameter counts within ±10%).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hyperzoo.core import testing

ROOT = Path(__file__).resolve().parents[1]
OUT_MD, OUT_JSON = ROOT / "docs/results/linear_attention.md", ROOT / "docs/results/linear_attention.json"
B, H, D = 1, 4, 64
SDPA_MAX = {False: 16384, True: 16384}


def make_case(kind: str, n: int, causal: bool, seed: int = 0):
    """A callable doing one forward+backward of ``kind`` at length ``n`` (inputs built once, outside the timing)."""
    from hyperzoo.linear_attention import linear, nala

    g = torch.Generator().manual_seed(seed)
    f = 2 * D if kind in ("nala", "floor-2d") else D

    def leaf(dim):
        return torch.randn(B, H, n, dim, generator=g).requires_grad_()

    do = torch.randn(B, H, n, D, generator=g)
    if kind.startswith("floor"):
        fq, fk, v = leaf(f), leaf(f), leaf(D)

        def run():
            s = fk.transpose(-1, -2) @ v
            (fq @ s).backward(do)
    else:
        q, k, v = leaf(D), leaf(D), leaf(D)
        if kind == "sdpa":
            def run():
                torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal).backward(do)
        elif kind == "linear":
            def run():
                linear(q, k, v, causal=causal).backward(do)
        elif kind == "nala":
            def run():
                nala(q, k, v, causal=causal).backward(do)
        else:
            raise ValueError(kind)
    return run


def memory_case(kind: str, n: int, causal: bool, threads: int = 1) -> None:
    """Module-level so that core.testing.peak_memory can run it in a fresh process."""
    torch.set_num_threads(threads)
    make_case(kind, 64, causal)()          # imports, library buffers, first-call caches: before the reset
    testing.reset_peak_memory()
    make_case(kind, n, causal)()


def kinds_for(n: int, causal: bool) -> list[str]:
    out = ["floor", "floor-2d", "linear", "nala"]
    if n <= SDPA_MAX[causal]:
        out.append("sdpa")
    return out


def speed(sizes: list[int], threads: list[int], repeats: dict[int, int]) -> list[dict]:
    rows = []
    for t in threads:
        torch.set_num_threads(t)
        for causal in (False, True):
            for n in sizes:
                cases = {k: make_case(k, n, causal) for k in kinds_for(n, causal)}
                big_sdpa = "sdpa" in cases and n > 4096
                sdpa = cases.pop("sdpa") if big_sdpa else None
                reps = repeats.get(n, 3)
                times = testing.medians(testing.interleaved(cases, reps, warmup=1))
                if sdpa is not None:   # too slow to interleave: one timed call after the others
                    start = time.perf_counter()
                    sdpa()
                    times["sdpa"] = time.perf_counter() - start
                row = {"threads": t, "causal": causal, "n": n, "repeats": reps, **{f"t_{k}": v for k, v in
                                                                                  times.items()}}
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def memory(sizes: list[int]) -> list[dict]:
    rows = []
    for causal in (False, True):
        for n in sizes:
            row = {"causal": causal, "n": n}
            for kind in kinds_for(n, causal):
                if kind == "sdpa" and n > 4096:
                    continue
                peak = testing.peak_memory(memory_case, kind, n, causal)
                row[f"m_{kind}"] = int(peak.above_baseline)
                row["method"] = peak.method + ("" if peak.reset else " (no reset)")
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


ACC_LEVELS = {"mqar-easy": dict(seq_len=32, num_pairs=4, num_symbols=16),
              "mqar-hard": dict(seq_len=64, num_pairs=8, num_symbols=32)}
ACC_MODELS = {"softmax": {}, "elu": {}, "nala": {"mlp_ratio": 1.75}, "favor": {}, "ecoformer": {}, "angular": {}}


ACC_NOTE = (
    "Reading (one seed per cell: what this shared 2-core CPU allowed). *mqar-easy*, 20 epochs: softmax recalls "
    "almost perfectly; elu+1 linear attention loses badly (recall is where a fixed-size state loses); NaLa closes "
    "most of that gap over elu+1, the paper's claim, at twice the feature dimension; FAVOR+ lands in between; the "
    "binary-code attentions (EcoFormer, ShiftAddViT angular) stay at elu+1's level. *mqar-hard*: after 20 epochs no "
    "model had converged, softmax included (MQAR is learned through a late jump in accuracy); at 60 epochs softmax "
    "reaches 99.7%, NaLa 83.2% and elu+1 stays at 20.4%: linear attention still loses to softmax on recall, and NaLa "
    "recovers most, not all, of the gap. Not run: mnist-seq (784-step sequences, several minutes per epoch per "
    "model on this CPU), more seeds, and the 60-epoch budget for FAVOR+, EcoFormer and angular.")


def accuracy(epochs: int, seeds: list[int], attentions: list[str], levels: list[str]) -> list[dict]:
    from hyperzoo import core

    rows = []
    for level in levels:
        for att in attentions:
            for seed in seeds:
                start = time.perf_counter()
                level_args = {f"task.{k}": v for k, v in ACC_LEVELS[level].items()}   # seq_len: task and model
                r = core.run("mqar", "linear-transformer", attention=att, width=32, depth=2, heads=2, epochs=epochs,
                             seed=seed, progress=False, **level_args, **ACC_MODELS[att])
                row = {"level": level, "attention": att, "seed": seed, "epochs": epochs,
                       "test_accuracy": r.metrics["test_accuracy"], "params": int(r.metrics["params"]),
                       "seconds": time.perf_counter() - start}
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def _fmt_t(x):
    return "–" if x is None else (f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s")


def _fmt_m(x):
    return "–" if x is None else f"{x / 2**20:.0f} MiB"


def write(results: dict, command: str) -> None:
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT_JSON.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, OUT_JSON)
    lines = ["# linear_attention: measured results", "",
             f"Machine: {results['machine']}. Everything below was measured on this 2-core CPU (shared with other "
             "jobs while measuring); no GPU was lent to this session, so the Triton kernels are proven equal to the "
             "reference under the interpreter (tests) but not timed.", ""]
    sp = results.get("speed")
    if sp:
        lines += ["## Speed: forward+backward, B=1, H=4, head dim 64, float32", "",
                  f"`{results['commands']['speed']}`", "",
                  "Medians of interleaved repeats (round-robin, one warm-up round; SDPA above N=4k timed once after "
                  "the others). *floor*: the bare matmuls φ(K)ᵀV and φ(Q)·S (forward and their backward) at feature "
                  "dimension 64 (*floor*) or 128 (*floor-2d*, NaLa's doubled feature map); *linear* is elu+1 linear "
                  "attention, *nala* NaLa; causal rows run the chunked form (chunk 64). Ratios from the same run.", ""]
        lines += ["| threads | causal | N | SDPA | floor | linear | linear/floor | SDPA/linear | floor-2d | nala | "
                  "nala/floor-2d | SDPA/nala |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sp:
            s = r.get("t_sdpa")
            vs_lin = "–" if s is None else f"{s / r['t_linear']:.0f}"
            vs_nala = "–" if s is None else f"{s / r['t_nala']:.0f}"
            lines.append(
                f"| {r['threads']} | {'yes' if r['causal'] else 'no'} | {r['n']} | {_fmt_t(s)} | "
                f"{_fmt_t(r['t_floor'])} | {_fmt_t(r['t_linear'])} | {r['t_linear'] / r['t_floor']:.2f} | {vs_lin} | "
                f"{_fmt_t(r['t_floor-2d'])} | {_fmt_t(r['t_nala'])} | {r['t_nala'] / r['t_floor-2d']:.2f} | "
                f"{vs_nala} |")
        lines += ["", "Log-log slope of time vs N from 4k to 64k (least squares over the measured sizes ≥ 4k):", "",
                  "| threads | causal | linear | nala | floor |", "|---|---|---|---|---|"]
        for row in results["slopes_time"]:
            lines.append(f"| {row['threads']} | {'yes' if row['causal'] else 'no'} | {row['linear']:.2f} | "
                         f"{row['nala']:.2f} | {row['floor']:.2f} |")
        lines.append("")
    mem = results.get("memory")
    if mem:
        lines += ["## Peak memory of one forward+backward (fresh subprocess per case)", "",
                  f"`{results['commands']['memory']}`", "",
                  "VmHWM after a reset (`/proc/self/clear_refs`), minus the child's resident set just before the case "
                  "(inputs are built inside the case, so they count). SDPA only up to N=4k (its time above).", "",
                  "| causal | N | floor | linear | linear/floor | floor-2d | nala | nala/floor-2d | SDPA |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in mem:
            lines.append(f"| {'yes' if r['causal'] else 'no'} | {r['n']} | {_fmt_m(r['m_floor'])} | "
                         f"{_fmt_m(r['m_linear'])} | {r['m_linear'] / r['m_floor']:.2f} | {_fmt_m(r['m_floor-2d'])} | "
                         f"{_fmt_m(r['m_nala'])} | {r['m_nala'] / r['m_floor-2d']:.2f} | {_fmt_m(r.get('m_sdpa'))} |")
        lines += ["", "Log-log slope of peak memory vs N (sizes ≥ 4k):", "", "| causal | linear | nala | floor |",
                  "|---|---|---|---|"]
        for row in results["slopes_memory"]:
            lines.append(f"| {'yes' if row['causal'] else 'no'} | {row['linear']:.2f} | {row['nala']:.2f} | "
                         f"{row['floor']:.2f} |")
        lines.append("")
    acc = results.get("accuracy")
    if acc:
        lines += ["## Accuracy: mqar through core.run (linear-transformer, width 32, depth 2, 2 heads, causal)", "",
                  *[f"`{c}`" for c in (results["commands"]["accuracy"] if isinstance(results["commands"]["accuracy"],
                                                                                        list)
                                       else [results["commands"]["accuracy"]])], "",
                  "Test accuracy on the asked positions (chance 1/K). Levels: " +
                  "; ".join(f"*{k}* = {v}" for k, v in ACC_LEVELS.items()) +
                  ". NaLa runs with mlp_ratio 1.75 so that its gate and positional conv keep the parameter count "
                  "within ±10% of the others.", "",
                  "| level | epochs | attention | params | seeds | test accuracy | seconds per run |",
                  "|---|---|---|---|---|---|---|"]
        groups: dict = {}
        for r in acc:
            groups.setdefault((r["level"], r["epochs"], r["attention"]), []).append(r)
        for (level, epochs, att), rs in groups.items():
            a = np.array([r["test_accuracy"] for r in rs])
            spread = f" ± {a.std():.3f}" if len(a) > 1 else " (1 seed)"
            lines.append(f"| {level} | {epochs} | {att} | {rs[0]['params']} | {len(rs)} | {a.mean():.3f}{spread} | "
                         f"{np.mean([r['seconds'] for r in rs]):.0f} |")
        lines += ["", ACC_NOTE, ""]
    lines += goals(results)
    tmp = OUT_MD.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, OUT_MD)


def goals(results: dict) -> list[str]:
    """The CPU goals of issue 12, checked against the measured rows (N = 16k)."""
    sp, mem = results.get("speed") or [], results.get("memory") or []
    if not sp:
        return []
    out = ["## Goals of issue 12 on this CPU (N = 16k unless said otherwise)", "",
           "| goal | threads | measured | met |", "|---|---|---|---|"]

    def row(goal, t, text, ok):
        out.append(f"| {goal} | {t} | {text} | {'yes' if ok else '**no**'} |")

    for r in (r for r in sp if r["n"] == 16384):
        t = r["threads"]
        if not r["causal"]:
            for k, fl in (("linear", "floor"), ("nala", "floor-2d")):
                ratio = r[f"t_{k}"] / r[f"t_{fl}"]
                row(f"non-causal {k} ≤ 1.5× its floor", t, f"{ratio:.2f}×", ratio <= 1.5)
                if "t_sdpa" in r:
                    x = r["t_sdpa"] / r[f"t_{k}"]
                    row(f"non-causal {k} ≥ 200× SDPA", t, f"{x:.0f}×", x >= 200)
        else:
            for k, fl in (("linear", "floor"), ("nala", "floor-2d")):
                ratio = r[f"t_{k}"] / r[f"t_{fl}"]
                row(f"causal chunked {k} ≤ 2× its floor", t, f"{ratio:.2f}×", ratio <= 2.0)
            fla = 0.75   # fla's naive_chunk_linear_attn at 16k, 1 thread, measured in the issue (another run)
            if t == 1:
                x = fla / r["t_linear"]
                row("causal chunked ≥ 2× faster than fla's naive chunk form", t,
                    f"{x:.2f}× (against the issue's 0.75 s: fla cannot be imported on this CPU, so not the same run)",
                    x >= 2)
    for r in results.get("slopes_time") or []:
        for k in ("linear", "nala"):
            row(f"time slope ≤ 1.1 ({k}, {'causal' if r['causal'] else 'non-causal'}, 4k–64k)", r["threads"],
                f"{r[k]:.2f}", r[k] <= 1.1)
    for r in results.get("slopes_memory") or []:
        for k in ("linear", "nala"):
            row(f"memory slope ≤ 1.1 ({k}, {'causal' if r['causal'] else 'non-causal'}, 4k–64k)", 1,
                f"{r[k]:.2f}", r[k] <= 1.1)
    for r in (r for r in mem if r["n"] == 16384):
        for k, fl in (("linear", "floor"), ("nala", "floor-2d")):
            ratio = r[f"m_{k}"] / r[f"m_{fl}"]
            row(f"peak memory ≤ 1.5× the floor case ({k}, {'causal' if r['causal'] else 'non-causal'})", 1,
                f"{ratio:.2f}×", ratio <= 1.5)
    return out + ["", GOAL_NOTE, ""]


GOAL_NOTE = """What bounds the misses (from the rows above):

- **≥ 200× SDPA** cannot be met in this run even by the floor: this torch's SDPA runs a fused CPU kernel (45.6 s at
  16k, 1 thread, against the issue's 65.8 s), and SDPA/floor is itself 152× here. Linear attention reaches 123×
  (1.24× its floor); NaLa 22×.
- **NaLa non-causal 3.96× its floor**: the 128-wide matmuls are cheap; NaLa's row-wise feature maps (norm, tanh
  power, sign split into 2D, renormalisation, and their hand-written backward) are ~10 element-wise passes over
  (N, 64) and (N, 128) tensors each way, memory-bound on this CPU. Fusing them needs a compiled kernel; the Triton
  backend fuses the elu/relu maps but still runs NaLa's map in PyTorch.
- **Causal chunked 3.6× (linear) and 4.6× (NaLa) their floor**: the chunk blocks (C × C with C = F = 64) double the
  matmul work by construction (the floor has no intra-chunk term), and 256 small 64×64 matmuls per head run far
  below the floor's large-matmul throughput; the per-chunk prefix states add passes of N·F·Dv/C.
- **Time slope 1.2–1.26 at 1 thread (4k–64k)**: at 64k each (N, 64) tensor is 64 MiB and leaves the cache, so the
  element-wise passes become DRAM-bound while the floor's matmuls stay compute-bound (floor slope ~1.0).
- **2-thread rows**: the 2 cores were shared with other jobs; the 2-thread floor at 1k took 7× its 1-thread time,
  so 2-thread ratios and slopes (below 1) measure contention, not the kernels.
- **Causal peak memory 1.9–2.0× the floor case**: the backward holds the recomputed chunk blocks, their gradient,
  the augmented output gradient (N × (Dv + 1)) and two prefix-state tensors besides the saved features; the
  non-causal forms stay at 1.37–1.43×.
- **fla**: flash-linear-attention cannot be imported on this CPU (see the issue), so no same-run comparison; against
  the issue's 0.75 s for its naive chunk form the causal linear form here takes 0.76 s (1 thread)."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="speed,memory,accuracy")
    p.add_argument("--sizes", default="1024,4096,16384,65536")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seeds", default="0")
    p.add_argument("--attentions", default=",".join(ACC_MODELS))
    p.add_argument("--levels", default=",".join(ACC_LEVELS))
    args = p.parse_args()
    parts = set(args.parts.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    results = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else {}
    results["machine"] = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
                          f"{torch.__version__}, Python {platform.python_version()}")
    results.setdefault("commands", {})
    cmd = "python benchmarks/linear_attention.py " + " ".join(sys.argv[1:])
    if "speed" in parts:
        reps = {1024: 7, 4096: 5, 16384: 3, 65536: 2}
        results["speed"] = speed(sizes, [int(t) for t in args.threads.split(",")], reps)
        results["commands"]["speed"] = cmd
        big = [r for r in results["speed"] if r["n"] >= 4096]
        results["slopes_time"] = []
        for t in sorted({r["threads"] for r in big}):
            for c in (False, True):
                rs = [r for r in big if r["threads"] == t and r["causal"] == c]
                if len(rs) >= 2:
                    results["slopes_time"].append({"threads": t, "causal": c, **{
                        k: slope([r["n"] for r in rs], [r[f"t_{k}"] for r in rs]) for k in ("linear", "nala",
                                                                                            "floor")}})
    if "memory" in parts:
        results["memory"] = memory(sizes)
        results["commands"]["memory"] = cmd
        results["slopes_memory"] = []
        for c in (False, True):
            rs = [r for r in results["memory"] if r["causal"] == c and r["n"] >= 4096]
            if len(rs) >= 2:
                results["slopes_memory"].append({"causal": c, **{
                    k: slope([r["n"] for r in rs], [r[f"m_{k}"] for r in rs]) for k in ("linear", "nala", "floor")}})
    if "accuracy" in parts:
        new = accuracy(args.epochs, [int(s) for s in args.seeds.split(",")], args.attentions.split(","),
                       args.levels.split(","))
        keys = {(r["level"], r["attention"], r["seed"], r["epochs"]) for r in new}
        old = [r for r in results.get("accuracy", [])
               if (r["level"], r["attention"], r["seed"], r["epochs"]) not in keys]
        results["accuracy"] = old + new            # runs at other budgets are kept
        cmds = results["commands"].get("accuracy", [])
        cmds = [cmds] if isinstance(cmds, str) else cmds
        results["commands"]["accuracy"] = [c for c in cmds if c != cmd] + [cmd]
    write(results, cmd)


if __name__ == "__main__":
    main()
