"""hyperkernels benchmarks: FFT long convolution vs direct convolution, and accuracy of the plugin's sequence
models against core's baselines at matched parameter counts. Writes docs/results/hyperkernels.{md,json}.

    python benchmarks/hyperkernels.py                   # everything (about two hours on a 2-core CPU)
    python benchmarks/hyperkernels.py --part speed      # fftconv vs F.conv1d only (a few minutes)
    python benchmarks/hyperkernels.py --part main       # time `hyperzoo run` (the README's main job)
    python benchmarks/hyperkernels.py --part accuracy --tasks digits-seq

Speed: forward + backward of a causal depthwise convolution with a kernel as long as the sequence (C = 64,
batch 1), ``hyperkernels.fftconv`` as the dispatcher runs it vs ``F.conv1d`` (direct, what PyTorch offers), in the
same run, taking turns (``core.testing.interleaved``); each case's peak memory is ``VmHWM`` of a fresh spawned
process running that case alone (``core.testing.peak_memory``).
Accuracy: every model gets the task's default trainer settings (same epochs, lr, early stopping) and its
parameter count is printed; baselines are widened or narrowed to within ±10 % of ``terminator``'s count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
LENGTHS = (1024, 4096, 16384)
CHANNELS = 64
TASK_SEEDS = {"digits-seq": [0, 1, 2], "mnist-seq": [0], "pmnist-seq": [0]}
REFERENCE = "terminator"
MODELS = ("terminator", "longconv", "cnn", "lstm", "transformer")


# ------------------------------------------------------------------------------------------------------ speed
def _inputs(length: int):
    import torch

    torch.manual_seed(0)
    x = torch.randn(1, CHANNELS, length, requires_grad=True)
    k = (torch.randn(CHANNELS, length) / length**0.5).requires_grad_()
    return x, k


def _step(impl: str, x, k):
    """One forward + backward of ``impl``: the operator as the dispatcher runs it, or the direct convolution."""
    import torch.nn.functional as F

    from hyperzoo import core

    op = core.get_operator("hyperkernels.fftconv")
    length = x.shape[-1]

    def step():
        if impl == "fftconv":
            y = op(x, k, causal=True)
        else:  # direct causal convolution: y_t = Σ_s k_s x_{t-s}
            y = F.conv1d(F.pad(x, (length - 1, 0)), k.flip(-1)[:, None], groups=CHANNELS)
        y.square().mean().backward()

    return step


def _memory_case(impl: str, length: int) -> None:
    """Run by ``core.testing.peak_memory`` in a fresh (spawned) process: torch and the inputs are loaded, the
    peak is reset (that resident set is the baseline), then two steps (the first loads code and plans)."""
    from hyperzoo.core import testing

    x, k = _inputs(length)
    step = _step(impl, x, k)
    testing.reset_peak_memory()
    step()
    step()


def speed() -> list[dict]:
    """Per length: the two implementations take turns (``core.testing.interleaved``: one warm-up round, then
    ``rounds`` rounds; fftconv times ``20 // rounds`` calls per sample, the direct convolution one, being up to
    300x slower), medians; then each one's peak memory from a fresh spawned process."""
    from hyperzoo import core
    from hyperzoo.core import testing

    rows = []
    load = os.getloadavg()[0]
    for length in LENGTHS:
        x, k = _inputs(length)
        rounds = max(1, 4096 // length)
        number = {"fftconv": max(1, 20 // rounds), "direct": 1}
        times = testing.interleaved({impl: _step(impl, x, k) for impl in ("fftconv", "direct")}, rounds, warmup=1,
                                    number=number)
        med = testing.medians(times)
        backend = core.get_operator("hyperkernels.fftconv").select(x, k, causal=True)[0]
        for impl in ("fftconv", "direct"):
            peak = testing.peak_memory(_memory_case, impl, length)
            rows.append({"impl": impl, "length": length, "seconds": med[impl], "repeats": rounds * number[impl],
                         "backend": backend if impl == "fftconv" else "F.conv1d",
                         "peak_rss_mb": peak / 2**20, "baseline_rss_mb": peak.baseline / 2**20,
                         "peak_reset": peak.reset, "load_average": [load, os.getloadavg()[0]]})
            print(rows[-1], flush=True)
    return rows


# --------------------------------------------------------------------------------------------------- accuracy
def _params(model: str, defaults: dict, **kwargs) -> int:
    from hyperzoo import core
    from hyperzoo.core.config import parameters

    factory = core._registry().get("model", model).load()
    named, _ = parameters(factory)
    m = core.create_model(model, **{k: v for k, v in defaults.items() if k in named}, **kwargs)
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def matched_width(model: str, defaults: dict, target: int) -> int:
    """The ``width`` whose parameter count is closest to ``target`` (the benchmark fails outside ±10 %)."""
    step = 4 if model == "transformer" else 1  # transformer width must be divisible by its 4 heads
    best = min(range(step, 513, step), key=lambda w: abs(_params(model, defaults, width=w) - target))
    got = _params(model, defaults, width=best)
    if abs(got - target) > 0.1 * target:
        raise RuntimeError(f"{model}: no width within ±10% of {target} parameters (closest {got} at width {best})")
    return best


def accuracy(tasks: list[str], models: list[str], epochs: int | None = None, save=lambda rows: None) -> list[dict]:
    """Train every model on every task (``epochs`` overrides the task's default for all of them);
    ``save(rows)`` runs after each row, so a long run keeps what it finished."""
    from hyperzoo import core

    rows = []
    for task in tasks:
        task_obj = core.get_task(task)
        # Early stopping (and the restored weights) follow the validation *loss*: a 144-image validation
        # accuracy (digits) saturates within a few epochs and its first maximum is often an under-trained model.
        task_obj.monitor, task_obj.monitor_mode = "loss", "min"
        defaults = task_obj.model_defaults()
        target = _params(REFERENCE, defaults)
        for model in models:
            extra = {} if model == REFERENCE else {"width": matched_width(model, defaults, target)}
            seeds = TASK_SEEDS[task]
            start = time.perf_counter()
            budget = {} if epochs is None else {"epochs": epochs}
            result = core.run(task_obj, model, seeds=seeds, progress=False, **extra, **budget)
            m = result.metrics
            rows.append({"task": task, "model": model, "config": {**extra, **budget}, "seeds": seeds,
                         "monitor": "val_loss",
                         "params": int(_params(model, defaults, **extra)),
                         "test_accuracy": m["test_accuracy"], "test_accuracy_std": m.get("test_accuracy_std", 0.0),
                         "epochs": m["epochs"], "seconds": time.perf_counter() - start,
                         "trainer": result.config["trainer_args"]})
            print({k: v for k, v in rows[-1].items() if k != "trainer"}, flush=True)
            save(rows)
    return rows


# ------------------------------------------------------------------------------------------------------ main job
def main_job() -> dict:
    """``hyperzoo run`` = ``core.run("digits-seq", "terminator")`` with every default, timed in a fresh process."""
    code = ("import json, os, time; t = time.perf_counter(); c = time.process_time(); from hyperzoo import core; "
            "r = core.run('digits-seq', 'terminator', progress=False); "
            "print(json.dumps({'test_accuracy': r.metrics['test_accuracy'], 'epochs': r.metrics['epochs'], "
            "'params': r.metrics['params'], 'wall_s': time.perf_counter() - t, 'cpu_s': time.process_time() - c, "
            "'trainer': r.config['trainer_args']}))")
    load_before = os.getloadavg()[0]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["load_average"] = [load_before, os.getloadavg()[0]]
    print(row, flush=True)
    return row


# ------------------------------------------------------------------------------------------------------ report
def _machine() -> str:
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, torch "
            f"{torch.__version__} ({torch.get_num_threads()} intra-op threads), Python {platform.python_version()}")


def write(results: dict, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "hyperkernels.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if results.get("speed"):
        old["speed"] = results["speed"]
    if results.get("main"):
        old.setdefault("main", []).append({**results["main"], "command": command})
    if results.get("accuracy"):  # a row benchmarked now replaces the earlier row of the same task, model, config
        def key(r):
            return r["task"], r["model"], json.dumps(r["config"], sort_keys=True)

        for r in results["accuracy"]:
            r["command"] = command
        new = {key(r) for r in results["accuracy"]}
        old["accuracy"] = [r for r in old.get("accuracy", []) if key(r) not in new] + results["accuracy"]
    if results.get("speed"):
        old["speed_command"] = command
    old["machine"] = _machine()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(old, indent=1))
    os.replace(tmp, path)
    lines = ["# hyperkernels: benchmark results", "",
             f"Machine: {old['machine']}. CPU only: no GPU machine was available to this work, so the Triton "
             "backends are proven by the interpreted parity tests but not timed.", ""]
    if old.get("speed"):
        lines += ["## `hyperkernels.fftconv` vs direct `F.conv1d` (forward + backward)", "",
                  f"Command: `{old['speed_command']}`."
                  + (" One-minute load average {:.1f} at the start, {:.1f} at the end (other jobs on the same "
                     "cores: times are inflated alike for both, ratios less so).".format(
                         old["speed"][0]["load_average"][0], old["speed"][-1]["load_average"][1])
                     if old["speed"] and "load_average" in old["speed"][0] else ""), "",
                  f"Causal depthwise convolution, C = {CHANNELS}, batch 1, kernel as long as the sequence. Median "
                  "time per forward+backward, the two taking turns in every round after a warm-up round "
                  "(`core.testing.interleaved`; fftconv 20 calls per length in all, the direct convolution "
                  "max(1, 4096 / L)); peak memory = `VmHWM` of a fresh spawned process running only that case "
                  "(`core.testing.peak_memory`: two steps), and in brackets the peak above that process's "
                  "baseline (Python, torch and the inputs, where the peak was reset before the first call).",
                  "", "| L | fftconv (s) | direct (s) | speed-up | fftconv peak MB | direct peak MB "
                  "| memory ratio (direct / fftconv) |",
                  "|---|---|---|---|---|---|---|"]
        by = {(r["impl"], r["length"]): r for r in old["speed"]}
        for length in LENGTHS:
            f, d = by.get(("fftconv", length)), by.get(("direct", length))
            if f and d:
                fx, dx = (r["peak_rss_mb"] - r["baseline_rss_mb"] for r in (f, d))
                lines.append(f"| {length} | {f['seconds']:.4f} | {d['seconds']:.3f} | "
                             f"**{d['seconds'] / f['seconds']:.0f}x** | {f['peak_rss_mb']:.0f} (+{fx:.0f}) | "
                             f"{d['peak_rss_mb']:.0f} (+{dx:.0f}) | {d['peak_rss_mb'] / f['peak_rss_mb']:.2f} |")
        lines.append("")
    if old.get("main"):
        lines += ["## The main job: `hyperzoo run` (terminator on digits-seq, every default)", "",
                  "Wall-clock time of a fresh process (import, data, training, test) while the machine is shared; "
                  "the load average (1 min) before and after shows how busy it was. CPU time is this process's.", "",
                  "| test accuracy | epochs run | parameters | wall (s) | CPU (s) | load average | command |",
                  "|---|---|---|---|---|---|---|"]
        for r in old["main"]:
            lines.append(f"| {100 * r['test_accuracy']:.2f} % | {r['epochs']:.0f} | {r['params']:,.0f} | "
                         f"{r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['load_average'][0]:.1f} → "
                         f"{r['load_average'][1]:.1f} | `{r['command']}` |")
        lines += ["", "Trainer settings (core's digits defaults): " + ", ".join(
            f"{k}={v}" for k, v in old["main"][-1]["trainer"].items()), ""]
    if old.get("accuracy"):
        commands = sorted({r["command"] for r in old["accuracy"]})
        lines += ["## Accuracy at matched parameter counts", "",
                  "Commands: " + "; ".join(f"`{c}`" for c in commands) + ".", "",
                  "Every model trains with the task's default trainer settings (listed below the table; `epochs=N` in "
                  "the config column replaces the epoch budget for every model of that run), early "
                  "stopping on the validation loss (the 144-image digits validation accuracy saturates within a few "
                  "epochs, and its first maximum is often an under-trained model); baselines take the `width` that "
                  f"brings them within ±10 % of `{REFERENCE}`'s parameter count. Mean ± standard deviation over the "
                  "seeds listed (seeds vary the initialisation; the data split is the task's fixed one).", "",
                  "| task | model | config | params | test accuracy | seeds | epochs (mean) | time (s, all seeds) |",
                  "|---|---|---|---|---|---|---|---|"]
        order = {name: i for i, name in enumerate([*TASK_SEEDS, *MODELS])}
        for r in sorted(old["accuracy"], key=lambda r: (order[r["task"]], r["config"].get("epochs", 0),
                                                        order[r["model"]])):
            cfg = ", ".join(f"{k}={v}" for k, v in r["config"].items()) or "defaults"
            acc = f"{100 * r['test_accuracy']:.2f}" + (f" ± {100 * r['test_accuracy_std']:.2f}" if len(r["seeds"]) > 1
                                                        else "") + " %"
            lines.append(f"| {r['task']} | {r['model']} | {cfg} | {r['params']:,} | {acc} | "
                         f"{len(r['seeds'])} | {r['epochs']:.0f} | {r['seconds']:.0f} |")
        lines.append("")
        trainers = {r["task"]: r["trainer"] for r in old["accuracy"] if "epochs" in r["config"]}
        trainers.update({r["task"]: r["trainer"] for r in old["accuracy"] if "epochs" not in r["config"]})
        for task, tr in trainers.items():
            lines.append(f"- {task}: " + ", ".join(f"{k}={v}" for k, v in tr.items()))
        lines.append("")
    tmp = RESULTS / "hyperkernels.md.tmp"
    tmp.write_text("\n".join(lines))
    os.replace(tmp, RESULTS / "hyperkernels.md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["speed", "accuracy", "main", "all"], default="all")
    parser.add_argument("--tasks", nargs="+", default=list(TASK_SEEDS), choices=list(TASK_SEEDS))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--epochs", type=int, help="train every model this many epochs (default: the task's)")
    args = parser.parse_args()
    os.chdir(ROOT)
    command = "python benchmarks/hyperkernels.py " + " ".join(sys.argv[1:])
    results = {}
    if args.part in ("speed", "all"):
        results["speed"] = speed()
    if args.part in ("main", "all"):
        results["main"] = main_job()
    if args.part in ("accuracy", "all"):
        results["accuracy"] = accuracy(args.tasks, args.models, args.epochs,
                                       lambda rows: write({"accuracy": rows}, command))
    write(results, command)


if __name__ == "__main__":
    main()
