"""Benchmark of the linear_attention plugin; writes docs/results/linear_attention.md (+ .json).

    python benchmarks/linear_attention.py                          # speed + memory + accuracy (tens of minutes)
    python benchmarks/linear_attention.py --parts speed,memory --sizes 1024,4096,16384,65536
    python benchmarks/linear_attention.py --parts accuracy --epochs 20 --seeds 0

Parts: ``speed`` (forward+backward, B=1, H=4, head dim 64, float32, what the dispatcher runs on this CPU, against
``F.scaled_dot_product_attention`` and the arithmetic floor: the bare matmuls φ(K)ᵀV and φ(Q)·S of the same shapes
with nothing else, at the operator's feature dimension; interleaved repeats, medians, 1 and 2 threads), ``memory``
(peak resident memory of one forward+backward from a fresh subprocess per case, VmHWM after a reset, minus the
child's resident set just before the case), ``accuracy`` (softmax vs each linear attention on mqar at two
difficulty levels through core.run, parameter counts within ±10%). ``--gpu`` (CUDA only, run by scripts/gpu-check):
our Triton kernels against flash-linear-attention's and SDPA, docs/results/linear_attention_gpu.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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
    if kind in ("bmm64", "mm"):            # equal flops: N/64·H products of 64×64 blocks, or one (N·H, 64)·(64, 64)
        a = torch.randn(n // 64 * H, 64, 64, generator=g) if kind == "bmm64" else torch.randn(n * H, 64, generator=g)
        w = torch.randn(n // 64 * H, 64, 64, generator=g) if kind == "bmm64" else torch.randn(64, 64, generator=g)
        out = torch.empty(a.shape[:-1] + (64,))

        def run():
            torch.matmul(a, w, out=out)
        return run
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
        elif kind.startswith("linear-c"):     # the causal chunked form at another chunk size
            c = int(kind[len("linear-c"):])

            def run():
                linear(q, k, v, causal=causal, chunk_size=c).backward(do)
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


CHUNKS = (16, 32, 128)   # besides the default 64, timed at N = 16k (causal)


def kinds_for(n: int, causal: bool) -> list[str]:
    out = ["floor", "floor-2d", "linear", "nala"]
    if n == 16384 and causal:
        out += [f"linear-c{c}" for c in CHUNKS] + ["bmm64", "mm"]
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


# glibc serves buffers of 32 MiB and more by fresh mmap()s (its dynamic threshold stops there) and gives freed heap
# memory back: every such buffer's first touch pays page faults. These settings keep freed memory for reuse.
NO_FRESH_PAGES = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**32)}


def alloc_child(n: int) -> None:
    """In a child process: interleaved medians of floor, floor-2d, linear and nala at length ``n`` (1 thread)."""
    torch.set_num_threads(1)
    out = []
    for causal in (False, True):
        cases = {k: make_case(k, n, causal) for k in ("floor", "floor-2d", "linear", "nala")}
        times = testing.medians(testing.interleaved(cases, 3, warmup=1))
        out.append({"causal": causal, "n": n, **{f"t_{k}": v for k, v in times.items()}})
    print(json.dumps(out))


def allocation(n: int) -> list[dict]:
    """The same cases with glibc's default allocation and with :data:`NO_FRESH_PAGES`: how much of each ratio to its
    floor is first-touch page faults on fresh (N, F) buffers (the floor reuses its leaves' .grad buffers)."""
    import subprocess

    rows = []
    for label, extra in (("default", {}), ("no fresh pages", NO_FRESH_PAGES)):
        env = {**os.environ, "OMP_NUM_THREADS": "1", **extra}
        code = f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import linear_attention as b; " \
               f"b.alloc_child({n})"
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        for r in json.loads(res.stdout.strip().splitlines()[-1]):
            rows.append({"malloc": label, **r})
            print(json.dumps(rows[-1]), flush=True)
    return rows


# With a fixed threshold of 1 MiB every large buffer is its own mapping, unmapped at free: VmHWM is then the peak of
# live memory, without the freed heap memory glibc keeps resident under its default (dynamic) threshold.
LIVE_PEAK = {"MALLOC_MMAP_THRESHOLD_": str(2**20)}


def memory_live(n: int) -> list[dict]:
    """Peak memory at length ``n`` with :data:`LIVE_PEAK` in the children's environment."""
    saved = {k: os.environ.get(k) for k in LIVE_PEAK}
    os.environ.update(LIVE_PEAK)
    try:
        rows = []
        for causal in (False, True):
            row = {"causal": causal, "n": n}
            for kind in ("floor", "floor-2d", "linear", "nala"):
                row[f"m_{kind}"] = int(testing.peak_memory(memory_case, kind, n, causal).above_baseline)
            rows.append(row)
            print(json.dumps({"live": True, **row}), flush=True)
        return rows
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def memory(sizes: list[int]) -> list[dict]:
    rows = []
    for causal in (False, True):
        for n in sizes:
            row = {"causal": causal, "n": n}
            for kind in kinds_for(n, causal):
                if (kind == "sdpa" and n > 4096) or kind.startswith("linear-c") or kind in ("bmm64", "mm"):
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
              "mqar-hard": dict(seq_len=64, num_pairs=8, num_symbols=32),
              "mnist-seq": dict(patch_size=16)}    # core's 784-pixel task, 49 tokens of 16 pixels (model option)
LEARNED = 0.9      # an mqar run whose test accuracy reaches this has learned the task (the reading's threshold)
ACC_MODELS = {"softmax": {}, "elu": {}, "nala": {"mlp_ratio": 1.75}, "favor": {}, "ecoformer": {}, "angular": {}}


def _acc(results: dict, level: str, att: str, epochs: int) -> tuple[float, float, int] | None:
    rs = _per_seed(results, level, att, epochs)
    return (float(np.mean(rs)), float(np.std(rs)), len(rs)) if rs else None


def _per_seed(results: dict, level: str, att: str, epochs: int) -> list[float]:
    """Test accuracies of one (level, attention, epochs) group, in seed order."""
    return [r["test_accuracy"] for r in sorted(results.get("accuracy") or [], key=lambda r: r["seed"])
            if r["level"] == level and r["attention"] == att and r["epochs"] == epochs]


def acc_note(results: dict) -> str:
    """The reading of the accuracy table, its figures taken from the rows."""
    def f(level, att, epochs):
        x = _acc(results, level, att, epochs)
        return "–" if x is None else (f"{x[0]:.3f}" + (f" ± {x[1]:.3f}" if x[2] > 1 else "") + f" ({x[2]} seed"
                                      + ("s" if x[2] > 1 else "") + ")")

    def seeds(level, att, epochs):
        return ", ".join(f"{x:.3f}" for x in _per_seed(results, level, att, epochs))

    atts = list(ACC_MODELS)
    easy = "; ".join(f"{a} {f('mqar-easy', a, 20)}" for a in atts)
    mn = "; ".join(f"{a} {f('mnist-seq', a, 5)}" for a in atts)
    hard60 = [a for a in atts if _acc(results, "mqar-hard", a, 60)]
    hard = "; ".join(f"{a} {f('mqar-hard', a, 60)}" + (f" [per seed {seeds('mqar-hard', a, 60)}]"
                                                       if len(_per_seed(results, "mqar-hard", a, 60)) > 1 else "")
                     for a in hard60)
    h20 = {a: _per_seed(results, "mqar-hard", a, 20) for a in atts if _per_seed(results, "mqar-hard", a, 20)}
    won = {a: sum(x >= LEARNED for x in v) for a, v in h20.items()}
    hard20 = "; ".join(f"{a} {f('mqar-hard', a, 20)}" for a in h20) + (
        f": {sum(won.values())} of {sum(map(len, h20.values()))} runs learned the task (test accuracy ≥ {LEARNED})"
        + "".join(f", {k} of them {a}" for a, k in won.items() if k)
        + "; MQAR is learned through a late jump in accuracy" if h20 else "")
    per = {a: _per_seed(results, "mqar-hard", a, 60) for a in hard60}
    hard_reading = ""
    if {"softmax", "elu", "nala"} <= set(hard60):
        learned = [x for x in per["softmax"] if x >= LEARNED]
        rest = [x for x in per["softmax"] if x < LEARNED]
        low = [x for a in hard60 if a not in ("softmax", "nala") for x in per[a]]
        hard_reading = (
            f"Softmax learns the task (test accuracy ≥ {LEARNED}) on {len(learned)} of {len(per['softmax'])} seeds"
            + (f"; on the other{'s' if len(rest) > 1 else ''} it ends at {', '.join(f'{x:.3f}' for x in rest)}"
               if rest else "") + ". "
            f"Every run of {', '.join(a for a in hard60 if a not in ('softmax', 'nala'))} ends between "
            f"{min(low):.3f} and {max(low):.3f} (chance 1/{ACC_LEVELS['mqar-hard']['num_symbols']})"
            + (": on recall these linear attentions lose to softmax" if learned and max(low) < min(learned) else "")
            + ". NaLa ends between "
            f"{min(per['nala']):.3f} and {max(per['nala']):.3f} on every seed")
        if learned:
            gap = (np.mean(per["nala"]) - np.mean(per["elu"])) / (np.mean(learned) - np.mean(per["elu"]))
            hard_reading += (f": it closes {gap:.0%} of the gap between elu+1's mean and the mean of softmax's "
                             "learned seeds" + (", not all of it" if gap < 1 else ""))
        hard_reading += ". "
    missing = [a for a in atts if a not in hard60]
    few = [a for a in hard60 if len(_per_seed(results, "mqar-hard", a, 60)) < 3]
    few20 = [a for a in atts if len(h20.get(a, [])) < 3]
    not_run = ([f"the 60-epoch mqar-hard budget for {', '.join(missing)}"] if missing else []) + (
        [f"3 seeds of mqar-hard at 20 epochs for {', '.join(few20)}"] if few20 else []) + (
        [f"3 seeds of the 60-epoch mqar-hard budget for {', '.join(few)}"] if few else []) + [
        "longer mnist-seq budgets"]
    return (
        f"Reading. *mqar-easy*, 20 epochs: {easy}. Softmax recalls almost perfectly; elu+1 linear attention loses "
        "badly (recall is where a fixed-size state loses); NaLa closes most of that gap over elu+1, the paper's claim, "
        "at twice the feature dimension; FAVOR+ lands in between; the binary-code attentions (EcoFormer, ShiftAddViT "
        "angular) stay at elu+1's level. *mqar-hard*, 20 epochs: "
        f"{hard20}. With 60 epochs at most (mqar's trainer "
        "defaults stop a run after 20 epochs without a better validation accuracy and test the best state): "
        f"{hard}. {hard_reading}"
        f"*mnist-seq* (budget: 5 epochs per run on core's 4,500-image training subset, 49 tokens of 16 pixels through "
        f"`patch_size=16`, so ~0.5–1 min per run at 1 thread; no model has converged at this budget): {mn}. "
        "Classification of a whole sequence needs no recall of exact pairs, and there the linear attentions are not "
        "behind softmax: FAVOR+ and EcoFormer score at or above it, NaLa lies between elu+1 and softmax (its edge "
        f"over elu+1 is within about one spread), ShiftAddViT's binary angular attention is last. Not run: "
        f"{'; '.join(not_run)}.")


def accuracy(epochs: int, seeds: list[int], attentions: list[str], levels: list[str]) -> list[dict]:
    from hyperzoo import core

    rows = []
    for level in levels:
        for att in attentions:
            for seed in seeds:
                start = time.perf_counter()
                if level.startswith("mqar"):
                    task = "mqar"
                    level_args = {f"task.{k}": v for k, v in ACC_LEVELS[level].items()}   # seq_len: task and model
                else:
                    task, level_args = level, dict(ACC_LEVELS[level])                     # model options
                r = core.run(task, "linear-transformer", attention=att, width=32, depth=2, heads=2, epochs=epochs,
                             seed=seed, progress=False, **level_args, **ACC_MODELS[att])
                row = {"level": level, "attention": att, "seed": seed, "epochs": epochs,
                       "test_accuracy": r.metrics["test_accuracy"], "params": int(r.metrics["params"]),
                       "seconds": time.perf_counter() - start}
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def _threads_of(cmd: str) -> set[int]:
    m = re.search(r"--threads[ =](\S+)", cmd)
    return {int(t) for t in (m.group(1) if m else "1,2").split(",")}


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
             f"Machine: {results['machine']}. Everything below was measured on this 2-core CPU; no GPU was lent, "
             "so the Triton kernels are proven equal to the reference under the interpreter (tests) but not timed.",
             ""]
    sp = results.get("speed")
    if sp:
        lines += ["## Speed: forward+backward, B=1, H=4, head dim 64, float32", "",
                  *_commands(results["commands"]["speed"]), "",
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
        chunked = [r for r in sp if "t_linear-c16" in r]
        if chunked:
            lines += ["", "Causal elu+1 linear attention at other chunk sizes (N = 16k, same runs as the rows above), "
                      "and what a 64×64 block costs: *bmm64* = N/64·H products of 64×64 blocks, *mm* = one "
                      "(N·H, 64)·(64, 64) product of the same flops (forward only):", "",
                      "| threads | chunk 16 | chunk 32 | chunk 64 | chunk 128 | best/floor | bmm64 | mm | bmm64/mm |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for r in chunked:
                ts = [r["t_linear-c16"], r["t_linear-c32"], r["t_linear"], r["t_linear-c128"]]
                lines.append(f"| {r['threads']} | " + " | ".join(_fmt_t(t) for t in ts) +
                             f" | {min(ts) / r['t_floor']:.2f} | {_fmt_t(r['t_bmm64'])} | {_fmt_t(r['t_mm'])} | "
                             f"{r['t_bmm64'] / r['t_mm']:.2f} |")
        lines += ["", "Log-log slope of time vs N from 4k to 64k (least squares over the measured sizes ≥ 4k):", "",
                  "| threads | causal | linear | nala | floor |", "|---|---|---|---|---|"]
        for row in results["slopes_time"]:
            lines.append(f"| {row['threads']} | {'yes' if row['causal'] else 'no'} | {row['linear']:.2f} | "
                         f"{row['nala']:.2f} | {row['floor']:.2f} |")
        lines.append("")
    al = results.get("allocation")
    if al:
        lines += ["## What bounds the feature maps: fresh pages (N = 16k, 1 thread, forward+backward)", "",
                  f"`{results['commands']['allocation']}`", "",
                  "The same cases in two fresh processes: glibc's default allocation (buffers of 32 MiB and more "
                  "are new mappings, so their first touch pays page faults: a fresh (16k·4, 128) float32 buffer "
                  "filled once costs ~10× a warm one here), and with `" +
                  " ".join(f"{k}={v}" for k, v in NO_FRESH_PAGES.items()) + "` (freed memory is reused). The floor's "
                  "leaves accumulate into the same .grad buffers each call; the attention's features and their "
                  "gradients are new tensors each call.", "",
                  "| malloc | causal | floor | linear | linear/floor | floor-2d | nala | nala/floor-2d |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in al:
            lines.append(f"| {r['malloc']} | {'yes' if r['causal'] else 'no'} | {_fmt_t(r['t_floor'])} | "
                         f"{_fmt_t(r['t_linear'])} | {r['t_linear'] / r['t_floor']:.2f} | {_fmt_t(r['t_floor-2d'])} | "
                         f"{_fmt_t(r['t_nala'])} | {r['t_nala'] / r['t_floor-2d']:.2f} |")
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
        live = results.get("memory_live")
        if live:
            lines += ["", "The same cases at N = 16k with `" + " ".join(f"{k}={v}" for k, v in LIVE_PEAK.items()) +
                      "` in the children's environment: every buffer of 1 MiB or more is then its own mapping, "
                      "returned at free, so VmHWM is the peak of live memory (glibc's default dynamic threshold "
                      "serves 16 MiB buffers from its heap after the first free and keeps freed heap memory "
                      "resident; at 64k, 64 MiB buffers are above its 32 MiB cap and are always mappings).", "",
                      "| causal | floor | linear | linear/floor | floor-2d | nala | nala/floor-2d |",
                      "|---|---|---|---|---|---|---|"]
            for r in live:
                lines.append(f"| {'yes' if r['causal'] else 'no'} | {_fmt_m(r['m_floor'])} | "
                             f"{_fmt_m(r['m_linear'])} | {r['m_linear'] / r['m_floor']:.2f} | "
                             f"{_fmt_m(r['m_floor-2d'])} | {_fmt_m(r['m_nala'])} | "
                             f"{r['m_nala'] / r['m_floor-2d']:.2f} |")
        lines += ["", "Log-log slope of peak memory vs N (sizes ≥ 4k):", "", "| causal | linear | nala | floor |",
                  "|---|---|---|---|"]
        for row in results["slopes_memory"]:
            lines.append(f"| {'yes' if row['causal'] else 'no'} | {row['linear']:.2f} | {row['nala']:.2f} | "
                         f"{row['floor']:.2f} |")
        lines.append("")
    acc = results.get("accuracy")
    if acc:
        lines += ["## Accuracy through core.run (linear-transformer, width 32, depth 2, 2 heads; mqar causal)", "",
                  *[f"`{c}`" for c in (results["commands"]["accuracy"] if isinstance(results["commands"]["accuracy"],
                                                                                        list)
                                       else [results["commands"]["accuracy"]])], "",
                  "Test accuracy (mqar: on the asked positions, chance 1/K; mnist-seq: the official 10k test set "
                  "after training on core's 4,500-image subset, chance 0.1). Levels: " +
                  "; ".join(f"*{k}* = {v}" for k, v in ACC_LEVELS.items()) +
                  ". NaLa runs with mlp_ratio 1.75 so that its gate and positional conv keep the parameter count "
                  "within ±10% of the others.", "",
                  "| level | epochs | attention | params | seeds | test accuracy | seconds per run |",
                  "|---|---|---|---|---|---|---|"]
        groups: dict = {}
        for r in acc:
            groups.setdefault((r["level"], r["epochs"], r["attention"]), []).append(r)
        order = {k: i for i, k in enumerate([*ACC_LEVELS, *ACC_MODELS])}     # rows of a level together
        for (level, epochs, att), rs in sorted(groups.items(), key=lambda g: (order[g[0][0]], g[0][1],
                                                                             order[g[0][2]])):
            a = np.array([r["test_accuracy"] for r in rs])
            spread = f" ± {a.std():.3f}" if len(a) > 1 else " (1 seed)"
            lines.append(f"| {level} | {epochs} | {att} | {rs[0]['params']} | {len(rs)} | {a.mean():.3f}{spread} | "
                         f"{np.mean([r['seconds'] for r in rs]):.0f} |")
        lines += ["", acc_note(results), ""]
    lines += goals(results)
    tmp = OUT_MD.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, OUT_MD)


def _commands(cmds: str | list[str]) -> list[str]:
    return [f"`{c}`" for c in ([cmds] if isinstance(cmds, str) else cmds)]


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
    return out + ["", goal_note(results), ""]


def goal_note(results: dict) -> str:
    """What bounds the misses, with the figures of the 1-thread N = 16k rows of this run."""
    sp = {(r["causal"], r["n"]): r for r in results.get("speed") or [] if r["threads"] == 1}
    nc, ca = sp.get((False, 16384)), sp.get((True, 16384))
    if nc is None or ca is None or "t_sdpa" not in nc:
        return ""
    sdpa_floor = nc["t_sdpa"] / nc["t_floor"]
    al = {(r["malloc"], r["causal"]): r for r in results.get("allocation") or []}
    alloc = ""
    if ("default", False) in al and ("no fresh pages", False) in al:
        def rr(key, k, fl):
            return al[key][f"t_{k}"] / al[key][f"t_{fl}"]

        alloc = (f"- **Fresh pages** (the allocation table, its own run): with glibc's defaults NaLa was "
                 f"{rr(('default', False), 'nala', 'floor-2d'):.2f}× and linear "
                 f"{rr(('default', False), 'linear', 'floor'):.2f}× their floors non-causal; with freed memory "
                 f"reused {rr(('no fresh pages', False), 'nala', 'floor-2d'):.2f}× and "
                 f"{rr(('no fresh pages', False), 'linear', 'floor'):.2f}× (causal "
                 f"{rr(('default', True), 'linear', 'floor'):.2f}×/{rr(('default', True), 'nala', 'floor-2d'):.2f}× → "
                 f"{rr(('no fresh pages', True), 'linear', 'floor'):.2f}×/"
                 f"{rr(('no fresh pages', True), 'nala', 'floor-2d'):.2f}×).\n")
    fm = nc["t_nala"] - nc["t_floor-2d"]
    sdpa_f2 = nc["t_sdpa"] / nc["t_floor-2d"]
    reach = ("cannot be met in this run even by the floor" if sdpa_floor < 200 else
             f"is within the floor's reach ({sdpa_floor:.0f}×) only for an attention at most "
             f"{sdpa_floor / 200:.2f}× its floor")
    nala_bound = ("so not even a free feature map reaches 200×" if sdpa_f2 < 200 else
                  "so 200× needs NaLa within " + f"{sdpa_f2 / 200:.2f}× of that floor")
    slopes = [r for r in results.get("slopes_time") or [] if max(r["linear"], r["nala"]) > 1.1]
    floors = ", ".join(f"{r['floor']:.2f}" for r in results.get("slopes_time") or [])
    slope_note = ("- **Time slope above 1.1 (4k–64k)**: the ratios to the floor grow from 16k to 64k, where each "
                  "(N, 64) tensor is 64 MiB\n  and the element-wise passes run from DRAM, while the floor's matmuls "
                  f"stay compute-bound (the floor's own slopes: {floors}).\n") if slopes else ""
    chunk = ""
    if "t_linear-c16" in ca:
        sizes = {16: ca["t_linear-c16"], 32: ca["t_linear-c32"], 64: ca["t_linear"], 128: ca["t_linear-c128"]}
        best = min(sizes, key=sizes.get)
        blk = ca["t_bmm64"] / ca["t_mm"]
        chunk = (f" The 64×64 blocks run {blk:.2f}× slower per flop than one large product (bmm64/mm above), so "
                 f"the matmuls alone cost ≈ {14 / 6 * blk:.2f}× the floor; the rest is the element-wise passes "
                 "(feature map, normaliser, masks) and the scans over chunk states. Of chunks 16–128 the fastest "
                 f"here is {best} ({sizes[best] / ca['t_floor']:.2f}× the floor).")
    mem = {(r["causal"], r["n"]): r for r in results.get("memory") or []}
    live = {r["causal"]: r for r in results.get("memory_live") or []}
    mem_note = ""
    misses = [(c, k, fl) for c in (False, True) for k, fl in (("linear", "floor"), ("nala", "floor-2d"))
              if (c, 16384) in mem and mem[(c, 16384)][f"m_{k}"] / mem[(c, 16384)][f"m_{fl}"] > 1.5]
    if misses:
        def ratio(r, k, fl):
            return r[f"m_{k}"] / r[f"m_{fl}"]

        items = "; ".join(f"{k} {'causal' if c else 'non-causal'} {ratio(mem[(c, 16384)], k, fl):.2f}×"
                          + (f" (live peak {ratio(live[c], k, fl):.2f}×)" if c in live else "")
                          for c, k, fl in misses)
        at64 = "; ".join(f"{k} {'causal' if c else 'non-causal'} {ratio(mem[(c, 65536)], k, fl):.2f}×"
                         for c, k, fl in misses if (c, 65536) in mem)
        mem_note = (f"- **Peak memory above 1.5× the floor case at 16k**: {items}. The live peak is what the code "
                    "holds; the rest is freed heap memory that glibc keeps resident under its default threshold"
                    + (f" (at 64k, where every buffer is a mapping: {at64})" if at64 else "")
                    + ". Besides the saved features, v and o, the causal backward holds at most five (N, 64)-sized "
                    "buffers (the scaled output gradient, the prefix-state gradients, the three input gradients): "
                    "the chunk blocks A and prefix states S_<c are recomputed, not saved.\n")
    two2 = {(r["causal"], r["n"]): r for r in results.get("speed") or [] if r["threads"] == 2}
    if (False, 16384) in two2 and (True, 16384) in two2:
        n2, c2 = two2[(False, 16384)], two2[(True, 16384)]
        two = (f"- **2 threads** (N = 16k, same run as their floors): non-causal linear "
               f"{n2['t_linear'] / n2['t_floor']:.2f}× and NaLa {n2['t_nala'] / n2['t_floor-2d']:.2f}× their floors, "
               f"causal {c2['t_linear'] / c2['t_floor']:.2f}× and {c2['t_nala'] / c2['t_floor-2d']:.2f}×; the floor "
               f"itself ran {nc['t_floor'] / n2['t_floor']:.2f}× (non-causal) and {ca['t_floor'] / c2['t_floor']:.2f}× "
               "(causal) faster than with 1 thread, the element-wise passes less so.")
    else:
        two = "- **2 threads**: not measured."
    return f"""What bounds the misses (1 thread, N = 16k, from the rows above):

- **≥ 200× SDPA** {reach}: this torch's SDPA runs a fused CPU kernel ({nc['t_sdpa']:.1f} s at 16k, one call,
  against the issue's 65.8 s; SDPA/floor = {sdpa_floor:.0f}×). Linear attention reaches
  {nc['t_sdpa'] / nc['t_linear']:.0f}× ({nc['t_linear'] / nc['t_floor']:.2f}× its floor). NaLa reaches
  {nc['t_sdpa'] / nc['t_nala']:.0f}×: its feature dimension is 2D, so its bare matmuls (floor-2d) do twice the work and
  are already only {sdpa_f2:.0f}× faster than SDPA, {nala_bound}.
- **NaLa non-causal {nc['t_nala'] / nc['t_floor-2d']:.2f}× its floor**: the remaining {fm * 1000:.0f} ms above the
  floor are the feature maps (a norm, tanh and power pass forward, a log pass backward, over N·D elements) and their
  (N, 2D) outputs and gradients, new tensors each call whose first touch pays page faults (the allocation table).
  Fusing the map into the attention needs a compiled kernel; the Triton backend fuses elu/relu but still runs
  NaLa's row-wise map in PyTorch.
{alloc}- **Causal chunked {ca['t_linear'] / ca['t_floor']:.2f}× (linear) and
  {ca['t_nala'] / ca['t_floor-2d']:.2f}× (NaLa) their floor**: with chunk C = F = Dv = 64 the intra-chunk
  blocks (A = φ(Q_c)φ(K_c)ᵀ, A·V_c and their gradients) add matmul work that the floor does not have: 14 matmuls
  of N·64·64 here (4 forward, 10 backward, two of which recompute A and S_<c) against the floor's 6, 2.33× its
  flops by construction.{chunk}
{slope_note}{mem_note}- **fla**: flash-linear-attention cannot be imported on this CPU (see the issue), so no same-run
  comparison; against the issue's 0.75 s for its naive chunk form the causal linear form here takes
  {ca['t_linear']:.2f} s (1 thread; absolute times carry the machine's load, so only same-run ratios compare).
{two}"""


# -- GPU (scripts/gpu-check runs `--gpu`) --------------------------------------------------------------------------
OUT_GPU = ROOT / "docs/results/linear_attention_gpu.md"
GPU_SIZES = (1024, 4096, 16384, 65536)


def gpu_case(kind: str, n: int, causal: bool, dtype):
    """One CUDA forward+backward: our Triton ``linear`` (elu+1) / ``nala``, flash-linear-attention's Triton chunk
    kernel on the same elu+1 features (its (B, T, H, K) layout, built in it), or SDPA (flash where it applies)."""
    import torch.nn.functional as F

    from hyperzoo import core

    g = torch.Generator(device="cuda").manual_seed(0)
    shape = (B, n, H, D) if kind.startswith("fla") else (B, H, n, D)
    q, k, v = (torch.randn(shape, generator=g, device="cuda", dtype=dtype).requires_grad_() for _ in range(3))
    do = torch.randn(shape, generator=g, device="cuda", dtype=dtype)
    if kind in ("linear", "nala"):
        op = core.get_operator(f"linear_attention.{kind}")
        return lambda: op(q, k, v, causal=causal, backend="triton").backward(do)
    if kind == "sdpa":
        return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal).backward(do)
    from fla.ops.linear_attn import chunk_linear_attn, fused_chunk_linear_attn

    fn = chunk_linear_attn if kind == "fla-chunk" else fused_chunk_linear_attn

    def run():
        fq, fk = (torch.where(t > 0, t + 1, torch.exp(t.clamp(max=0))) for t in (q, k))   # elu+1, as ours
        fn(fq, fk, v, normalize=True)[0].backward(do)
    return run


def gpu_time(fn, repeats: int = 10) -> tuple[float, int]:
    """Median CUDA-event time (s) of ``fn`` after three warm-up calls (compilation, autotuning), and the peak of
    allocated memory (bytes) of one call."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return float(np.median(times)), int(peak)


def gpu(sizes=GPU_SIZES, dtype_name: str = "bfloat16") -> list[dict]:
    """Every case at every size, rows written as they finish (a run cut short by a time limit keeps its rows)."""
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/linear_attention.py --gpu: no CUDA GPU visible to torch; run it on a GPU")
    dtype = getattr(torch, dtype_name)
    why = None
    try:
        import fla.ops.linear_attn  # noqa: F401
        peers = ["fla-chunk", "fla-fused-chunk"]
    except Exception as e:   # reported in the table, not hidden
        peers, why = [], f"{type(e).__name__}: {e}"
    rows = []
    for causal in (False, True):
        for n in sizes:
            row = {"causal": causal, "n": n, "dtype": dtype_name}
            for kind in ["linear", "nala", "sdpa"] + (peers if causal else []):
                try:
                    row[f"t_{kind}"], row[f"m_{kind}"] = gpu_time(gpu_case(kind, n, causal, dtype))
                except Exception as e:   # e.g. out of memory: the row says so
                    row[f"error_{kind}"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
                torch.cuda.empty_cache()
            rows.append(row)
            print(json.dumps(row), flush=True)
            write_gpu(rows, torch.cuda.get_device_name(0), why)
    return rows


def _gpu_cell(r: dict, k: str) -> str:
    if f"t_{k}" in r:
        return f"{_fmt_t(r[f't_{k}'])}, {_fmt_m(r[f'm_{k}'])}"
    return r.get(f"error_{k}", "–").split(":")[0]


def _gpu_ratio(r: dict, a: str, b: str) -> str:
    return f"{r[f't_{a}'] / r[f't_{b}']:.2f}" if f"t_{a}" in r and f"t_{b}" in r else "–"


def write_gpu(rows: list[dict], device: str, fla_missing: str | None) -> None:
    kinds = ["linear", "nala", "sdpa", "fla-chunk", "fla-fused-chunk"]
    lines = ["# linear_attention on a GPU", "", f"Device: {device}, torch {torch.__version__}. "
             "`python benchmarks/linear_attention.py --gpu` (run by `scripts/gpu-check`). Forward+backward, B=1, "
             f"H={H}, head dim {D}, {rows[0]['dtype']}; median of 10 CUDA-event timings after 3 warm-up calls; peak "
             "allocated memory of one call. *linear*/*nala*: our Triton kernels (causal: chunked); *fla-chunk*, "
             "*fla-fused-chunk*: flash-linear-attention's `chunk_linear_attn` / `fused_chunk_linear_attn` on the "
             "same elu+1 features (causal only: fla has no non-causal linear attention); *sdpa*: "
             "`F.scaled_dot_product_attention`.", ""]
    if fla_missing:
        lines += [f"flash-linear-attention could not be imported here ({fla_missing}): no fla columns.", ""]
    lines += ["| causal | N | " + " | ".join(kinds) + " | fla-chunk / linear | SDPA / linear | SDPA / nala |",
              "|---|---|" + "---|" * (len(kinds) + 3)]
    for r in rows:
        lines.append(f"| {'yes' if r['causal'] else 'no'} | {r['n']} | " + " | ".join(_gpu_cell(r, k) for k in kinds)
                     + f" | {_gpu_ratio(r, 'fla-chunk', 'linear')} | {_gpu_ratio(r, 'sdpa', 'linear')} | "
                     f"{_gpu_ratio(r, 'sdpa', 'nala')} |")
    tmp = OUT_GPU.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, OUT_GPU)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="speed,memory,accuracy")
    p.add_argument("--sizes", default="1024,4096,16384,65536")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seeds", default="0")
    p.add_argument("--attentions", default=",".join(ACC_MODELS))
    p.add_argument("--levels", default=",".join(ACC_LEVELS))
    p.add_argument("--gpu", action="store_true", help="only the CUDA table (docs/results/linear_attention_gpu.md)")
    args = p.parse_args()
    if args.gpu:
        gpu()
        return
    parts = set(args.parts.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    results = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else {}
    results["machine"] = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
                          f"{torch.__version__}, Python {platform.python_version()}")
    results.setdefault("commands", {})
    cmd = "python benchmarks/linear_attention.py " + " ".join(sys.argv[1:])
    if "speed" in parts:
        reps = {1024: 9, 4096: 7, 16384: 7, 65536: 3}
        new = speed(sizes, [int(t) for t in args.threads.split(",")], reps)
        ran = {r["threads"] for r in new}           # rows of thread counts not run now are kept
        results["speed"] = [r for r in results.get("speed", []) if r["threads"] not in ran] + new
        cmds = results["commands"].get("speed", [])
        cmds = [cmds] if isinstance(cmds, str) else cmds
        results["commands"]["speed"] = [c for c in cmds if not _threads_of(c) <= ran] + [cmd]
        big = [r for r in results["speed"] if r["n"] >= 4096]
        results["slopes_time"] = []
        for t in sorted({r["threads"] for r in big}):
            for c in (False, True):
                rs = [r for r in big if r["threads"] == t and r["causal"] == c]
                if len(rs) >= 2:
                    results["slopes_time"].append({"threads": t, "causal": c, **{
                        k: slope([r["n"] for r in rs], [r[f"t_{k}"] for r in rs]) for k in ("linear", "nala",
                                                                                            "floor")}})
    if "allocation" in parts:
        results["allocation"] = allocation(16384)
        results["commands"]["allocation"] = cmd
    if "memory" in parts:
        results["memory"] = memory(sizes)
        results["memory_live"] = memory_live(16384) if 16384 in sizes else []
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
