"""Sweeps: what functional hashing saves on a space where hyperparameters interact, and how far Step Law's
suggestion lands from a sweep's best. Writes docs/results/sweep.md (+ sweep.json).

    python benchmarks/sweep.py                       # both parts (about 15 minutes on 2 shared cores)
    python benchmarks/sweep.py --part hash --repeats 2 --epochs 3 --threads 1 2
    python benchmarks/sweep.py --part steplaw

**hash**: the full grid of ``SPACE`` (48 configs of core's MLP on digits-seq) swept twice per round, with and
without ``functional_hash=True`` (the peer: the same Optuna grid sweep that trains every candidate), taking
turns (``core.testing.interleaved``), at 1 and 2 threads; medians over the repeats. Every hit's reused value is
checked against the value the plain sweep trained for that config. The floor is the plain sweep's time scaled
to the distinct functions only (27 of 48, counted by hand below). Peak memory: each mode's sweep alone in a
fresh process (``core.testing.peak_memory``, VmHWM after a reset).

**steplaw**: a grid sweep over the learning rate (half-decades, 1e-4 .. 1) on two sequence tasks with small
models, against runs at Step Law's suggested learning rate (with the task's batch size, and with the
suggested batch size too).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"

SPACE = {"depth": [0, 1, 2], "width": [32, 128], "dropout": [0.0, 0.2], "optimizer": ["adam", "adamw"],
         "weight_decay": [0.0, 0.01]}
# Distinct functions of SPACE, by hand: depth 0 has no hidden layer (width, dropout unused) and adam == adamw at
# weight_decay 0, so depth 0 gives 3 optimiser behaviours; depths 1 and 2 give 2 widths x 2 dropouts x 3 each.
DISTINCT = 3 + 2 * (2 * 2 * 3)
LRS = [round(10 ** (e / 2), 10) for e in range(-8, 1)]  # 1e-4, 3.2e-4, ..., 1
STEPLAW_CASES = [
    {"task": "digits-seq", "model": "transformer", "config": {"width": 32, "depth": 2, "heads": 4}, "epochs": 20},
    {"task": "mnist-seq", "model": "cnn", "config": {"width": 16, "depth": 3}, "epochs": 3},
]


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def hash_sweep(functional_hash: bool, threads: int, epochs: int, tpe_trials: int | None = None) -> dict:
    """One grid sweep of SPACE (or ``tpe_trials`` TPE trials); returns its time, every trial, the hash stats."""
    import optuna

    from hyperzoo import core

    _quiet()
    started = time.perf_counter()
    sampler = optuna.samplers.GridSampler(SPACE, seed=0) if tpe_trials is None else \
        optuna.samplers.TPESampler(seed=0)
    result = core.sweep("digits-seq", "mlp", SPACE, n_trials=tpe_trials or 10_000, functional_hash=functional_hash,
                        sampler=sampler, pruner=optuna.pruners.NopPruner(),
                        epochs=epochs, patience=None, threads=threads, progress=False)
    seconds = time.perf_counter() - started
    trials = [{"config": t["config"], "value": t["value"], "reused_from": t["reused_from"],
               "seconds": t["seconds"], "hash_seconds": t["hash_seconds"]} for t in result.trials]
    return {"seconds": seconds, "trials": trials, "stats": result.hash_stats, "best_value": result.best_value}


def _peak_case(functional_hash: bool, threads: int, epochs: int) -> float:
    return hash_sweep(functional_hash, threads, epochs)["seconds"]


def part_hash(repeats: int, epochs: int, thread_counts: list[int], save) -> dict:
    """Every thread count in turn; ``save(partial)`` after each (a long run stopped early keeps its rows)."""
    from hyperzoo.core import testing

    hash_sweep(False, 1, 1)  # warm-up: imports, the digits data set
    rows: list[dict] = []
    peaks: dict[str, dict] = {}
    for name in ("plain", "hashed"):
        peak = testing.peak_memory(_peak_case, name == "hashed", 1, epochs)
        peaks[name] = {"peak_bytes": int(peak), "reset": peak.reset, "method": peak.method}
        print(f"peak memory {name}: {int(peak) / 2**20:.0f} MiB", flush=True)
    for threads in thread_counts:
        runs: dict[str, list[dict]] = {"plain": [], "hashed": []}
        cases = {name: (lambda name=name, runs=runs, threads=threads:
                        runs[name].append(hash_sweep(name == "hashed", threads, epochs))) for name in runs}
        times = testing.interleaved(cases, repeats, warmup=0)
        plain = {json.dumps(t["config"], sort_keys=True): t["value"] for t in runs["plain"][0]["trials"]}
        mismatched = sum(1 for r in runs["hashed"] for t in r["trials"] if t["reused_from"] is not None
                         and t["value"] != plain[json.dumps(t["config"], sort_keys=True)])
        stats = runs["hashed"][0]["stats"]
        plain_s, hashed_s = statistics.median(times["plain"]), statistics.median(times["hashed"])
        n = stats["trials"]
        rows.append({"threads": threads, "trials": n, "hits": stats["hits"], "hit_rate": stats["hit_rate"],
                     "functional_hits": stats["functional_hits"], "config_hits": stats["config_hits"],
                     "distinct_hashes": stats["distinct_hashes"], "distinct_by_hand": DISTINCT,
                     "reused_values_differing_from_training": mismatched,
                     "plain_seconds": plain_s, "hashed_seconds": hashed_s, "speedup": plain_s / hashed_s,
                     "floor_seconds": plain_s * DISTINCT / n, "ratio_to_floor": hashed_s / (plain_s * DISTINCT / n),
                     "seconds_saved_median": statistics.median(r["stats"]["seconds_saved"] for r in runs["hashed"]),
                     "hash_seconds_median": statistics.median(r["stats"]["hash_seconds"] for r in runs["hashed"]),
                     "best_plain": runs["plain"][0]["best_value"], "best_hashed": runs["hashed"][0]["best_value"],
                     "load_average": list(os.getloadavg()), "times": times})
        print(f"hash, {threads} thread(s): {stats['hits']}/{n} hits, plain {plain_s:.1f} s, hashed "
              f"{hashed_s:.1f} s ({plain_s / hashed_s:.2f}x), {mismatched} reused values differ", flush=True)
        save({"space": SPACE, "epochs": epochs, "repeats": repeats, "rows": rows, "peak_memory": peaks})
    return {"space": SPACE, "epochs": epochs, "repeats": repeats, "rows": rows, "peak_memory": peaks}


def part_tpe(epochs: int, trials: int) -> dict:
    """A TPE search of SPACE (1 thread, seed 0), hashed and plain after a warm-up: TPE repeats configs as well."""
    from hyperzoo.core import testing

    hash_sweep(True, 1, 1, 2)  # warm-up: imports, the digits data set, first calls
    out: dict[str, dict] = {}
    times = testing.interleaved({m: (lambda m=m: out.__setitem__(m, hash_sweep(m == "hashed", 1, epochs, trials)))
                                 for m in ("plain", "hashed")}, 1, warmup=0)
    plain, hashed = out["plain"], out["hashed"]
    plain["seconds"], hashed["seconds"] = times["plain"][0], times["hashed"][0]
    same = all(a["config"] == b["config"] and a["value"] == b["value"]
               for a, b in zip(plain["trials"], hashed["trials"]))
    row = {"trials": trials, "epochs": epochs, **hashed["stats"], "plain_seconds": plain["seconds"],
           "hashed_seconds": hashed["seconds"], "speedup": plain["seconds"] / hashed["seconds"],
           "same_trials_and_values": same, "best_plain": plain["best_value"], "best_hashed": hashed["best_value"],
           "load_average": list(os.getloadavg())}
    print(f"tpe: {row['hits']}/{trials} hits ({row['config_hits']} repeated configs), plain {plain['seconds']:.1f} s, "
          f"hashed {hashed['seconds']:.1f} s, same trials and values: {same}", flush=True)
    return row


def _suggestion(task: str, model: str, config: dict, epochs: int) -> dict:
    from hyperzoo.core import sweeps

    cand = sweeps._resolve(task, model, {**config, "epochs": epochs})
    return {**sweeps.step_law_suggestion(task, model, {**config, "epochs": epochs}),
            "default_batch_size": cand.trainer_kwargs.get("batch_size", 64)}


def part_steplaw() -> list[dict]:
    import optuna

    from hyperzoo import core

    _quiet()
    rows = []
    for case in STEPLAW_CASES:
        task, model, config, epochs = case["task"], case["model"], case["config"], case["epochs"]
        fixed = {**config, "epochs": epochs, "threads": 1, "progress": False}
        s = _suggestion(task, model, config, epochs)
        print(f"steplaw {task}/{model}: N={s['n_params']}, D={s['n_tokens']:.3g}: lr {s['lr']:.3g}, batch "
              f"{s['batch_size']} sequences", flush=True)
        space = {"lr": LRS}
        result = core.sweep(task, model, space, n_trials=len(LRS), sampler=optuna.samplers.GridSampler(space),
                            pruner=optuna.pruners.NopPruner(), **fixed)
        grid = sorted(({"lr": t["config"]["lr"], "val_accuracy": t["value"],
                        "test_accuracy": (t["metrics"] or {}).get("test_accuracy"), "state": t["state"]}
                       for t in result.trials), key=lambda r: r["lr"])
        best = max((g for g in grid if g["val_accuracy"] is not None), key=lambda g: g["val_accuracy"])
        at_lr = core.run(task, model, lr=s["lr"], **fixed).metrics
        try:
            at_both = core.run(task, model, lr=s["lr"], batch_size=s["batch_size"], **fixed).metrics
        except FloatingPointError as exc:
            at_both = {"error": str(exc)}
        row = {**case, "suggestion": s, "grid": grid, "best": best,
               "distance_decades": math.log10(s["lr"] / best["lr"]),
               "at_suggested_lr": {k: at_lr.get(k) for k in ("val_accuracy", "test_accuracy")},
               "at_suggested_lr_and_batch": {k: at_both.get(k) for k in ("val_accuracy", "test_accuracy", "error")
                                             if k in at_both}}
        rows.append(row)
        print(f"  best lr {best['lr']:.3g} (val {best['val_accuracy']:.4f}); suggested lr is "
              f"{row['distance_decades']:+.2f} decades away, val {at_lr['val_accuracy']:.4f}", flush=True)
    return rows


def _fmt_s(x: float) -> str:
    return f"{x:.1f}"


def write(data: dict, command: str) -> None:
    from hyperzoo.core.io import atomic_write, write_json

    previous = json.loads((RESULTS / "sweep.json").read_text()) if (RESULTS / "sweep.json").exists() else {}
    data = {**previous, **{k: v for k, v in data.items() if v is not None}}
    write_json(RESULTS / "sweep.json", data)
    lines = ["# Sweeps: functional hashing and Step Law", "",
             f"Measured with `benchmarks/sweep.py` on {data['machine']} (2 cores shared with other jobs while "
             "measuring). Commands beside each table.", ""]
    h = data.get("hash")
    if h:
        lines += ["## Functional hashing: hit rate and time saved", "",
                  f"`{h['command']}`", "",
                  f"The full grid of {json.dumps(h['space'])} (48 configs) for core's `mlp` on digits-seq, "
                  f"{h['epochs']} epochs per trial, swept with `functional_hash=True` and without it (plain Optuna "
                  f"grid sweep, every candidate trained), taking turns, {h['repeats']} repeats, medians. The floor "
                  f"trains only the {DISTINCT} distinct functions (depth 0 uses neither width nor dropout; adam is "
                  "adamw without weight decay).", "",
                  "| threads | hits / trials | hit rate | distinct hashes (by hand) | reused values ≠ trained | "
                  "plain sweep | hashed sweep | speed-up | floor | hashed / floor | training reused | hashing cost |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in h["rows"]:
            lines.append(f"| {r['threads']} | {r['hits']} / {r['trials']} | {r['hit_rate']:.1%} | "
                         f"{r['distinct_hashes']} ({r['distinct_by_hand']}) | "
                         f"{r['reused_values_differing_from_training']} | {_fmt_s(r['plain_seconds'])} s | "
                         f"{_fmt_s(r['hashed_seconds'])} s | {r['speedup']:.2f}x | {_fmt_s(r['floor_seconds'])} s | "
                         f"{r['ratio_to_floor']:.2f} | {_fmt_s(r['seconds_saved_median'])} s | "
                         f"{_fmt_s(r['hash_seconds_median'])} s |")
        pm = h["peak_memory"]
        lines += ["", "Peak memory of one whole sweep alone in a fresh process (1 thread, VmHWM"
                  + (" after a reset" if pm["plain"]["reset"] else ", whole-process peak") + "): plain "
                  f"{pm['plain']['peak_bytes'] / 2**20:.0f} MiB, hashed {pm['hashed']['peak_bytes'] / 2**20:.0f} MiB.",
                  "", "Seconds depend on the load other jobs put on this shared 2-core machine (the 1-minute load "
                  "average when each row finished is in sweep.json when recorded; 13-17 during the 2-thread rows of "
                  "the run of 2026-12-02, where torch's two threads kept waiting for a core): compare the two "
                  "modes within a row, not rows with each other.",
                  "", "Every hit is a different config computing the same function (the grid has no repeated "
                  "config), and every reused value equals the value the plain sweep got by training that config "
                  "(column 'reused values ≠ trained'), so the hash merged only candidates whose training is "
                  "identical here. The best value of both sweeps is the same "
                  f"({h['rows'][0]['best_plain']:.4f} vs {h['rows'][0]['best_hashed']:.4f}).", ""]
    tpe = data.get("tpe")
    if tpe:
        lines += ["### The same space searched by TPE", "", f"`{tpe['command']}`", "",
                  f"{tpe['trials']} trials of Optuna's TPE sampler (seed 0) over the same space, "
                  f"{tpe['epochs']} epochs, 1 thread, once with and once without hashing (the reused values "
                  "equal the trained ones, so both searches sample the same sequence: "
                  + ("checked, identical" if tpe["same_trials_and_values"] else "NOT identical") + ").", "",
                  "| hits / trials | repeated configs | different configs, same function | distinct hashes | "
                  "plain search | hashed search | speed-up | best (plain / hashed) |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {tpe['hits']} / {tpe['trials']} ({tpe['hit_rate']:.1%}) | {tpe['config_hits']} | "
                  f"{tpe['functional_hits']} | {tpe['distinct_hashes']} | {_fmt_s(tpe['plain_seconds'])} s | "
                  f"{_fmt_s(tpe['hashed_seconds'])} s | {tpe['speedup']:.2f}x | {tpe['best_plain']:.4f} / "
                  f"{tpe['best_hashed']:.4f} |", ""]
    st = data.get("steplaw")
    if st:
        lines += ["## Step Law: suggestion vs a sweep's best", "", f"`{st['command']}`", "",
                  "Learning-rate grid 1e-4 .. 1 in half-decades (a grid sweep with `core.sweep`, the task's batch "
                  "size, AdamW, cosine schedule, seed 0) against runs at Step Law's suggested learning rate, "
                  "with the task's batch size and with the suggested batch size. N: trainable parameters (no "
                  "embeddings in these models); D = epochs × training sequences × sequence length.", "",
                  "| task / model | N | D (tokens) | suggested lr | best grid lr | distance (decades) | "
                  "best val acc | val acc at suggested lr | suggested batch | val acc at suggested lr + batch |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in st["rows"]:
            s, b, a, ab = r["suggestion"], r["best"], r["at_suggested_lr"], r["at_suggested_lr_and_batch"]
            both = f"{ab['val_accuracy']:.4f}" if "val_accuracy" in ab else f"diverged ({ab.get('error', '')[:40]})"
            lines.append(f"| {r['task']} / {r['model']} {json.dumps(r['config'])}, {r['epochs']} epochs | "
                         f"{s['n_params']:,} | {s['n_tokens']:.3g} | {s['lr']:.3g} | {b['lr']:.3g} | "
                         f"{r['distance_decades']:+.2f} | {b['val_accuracy']:.4f} | {a['val_accuracy']:.4f} | "
                         f"{s['batch_size']} (task: {s['default_batch_size']}) | {both} |")
        lines += ["", "Validation accuracy over the grid:", "",
                  "| lr | " + " | ".join(f"{r['task']} / {r['model']}" for r in st["rows"]) + " |",
                  "|---|" + "---|" * len(st["rows"])]
        for i, lr in enumerate(LRS):
            cells = []
            for r in st["rows"]:
                g = r["grid"][i]
                cells.append(f"{g['val_accuracy']:.4f}" if g["val_accuracy"] is not None else g["state"].lower())
            lines.append(f"| {lr:.3g} | " + " | ".join(cells) + " |")
        lines += ["", "Both tasks lie far outside the fit (N = 2.1e8 .. 1.1e9, D = 4e9 .. 1e11 tokens of LLM "
                  "pre-training): the law is extrapolated over 4 to 5 orders of magnitude in N and 3 to 4 in D.", ""]
    atomic_write(RESULTS / "sweep.md", lambda fh: fh.write("\n".join(lines).encode()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["hash", "tpe", "steplaw", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds of the hash part")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial in the hash part")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads of the hash part")
    parser.add_argument("--render", action="store_true", help="only rewrite sweep.md from sweep.json")
    args = parser.parse_args()
    os.chdir(ROOT)  # the data root default is ../shared/data from the checkout
    command = "python benchmarks/sweep.py " + " ".join(sys.argv[1:])
    data = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"}
    if args.render:
        write({}, command)
        return
    if args.part in ("hash", "all"):
        def save(partial: dict) -> None:
            write({**data, "hash": {**partial, "command": command.strip()}}, command)

        data["hash"] = {**part_hash(args.repeats, args.epochs, args.threads, save), "command": command.strip()}
    if args.part in ("tpe", "all"):
        data["tpe"] = {**part_tpe(args.epochs, 48), "command": command.strip()}
    if args.part in ("steplaw", "all"):
        data["steplaw"] = {"rows": part_steplaw(), "command": command.strip()}
    write(data, command)


if __name__ == "__main__":
    main()
