"""Side-by-side benchmark of the hypergraph plugin against DHG; writes docs/results/hypergraph.md (+ .json).

    python benchmarks/hypergraph.py                       # everything (tens of minutes on 2 CPU cores)
    python benchmarks/hypergraph.py --parts speed,inference

Parts: ``speed`` (hgnn_smooth forward+backward, ours vs DHG, time and peak memory from a fresh subprocess per
case), ``paths`` (our csr backend's two hgnn_smooth paths, behind its size rule), ``inference`` (LightHGNN
student vs HGNN teacher), ``accuracy`` (cora node classification, 10 splits), ``enc`` (HGNN+ vs CoNHD, 3 seeds),
``recon`` (hyperedge reconstruction vs maximal cliques).
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
OUT_MD, OUT_JSON = ROOT / "docs/results/hypergraph.md", ROOT / "docs/results/hypergraph.json"


def synthetic(seed: int = 0):
    """55,000 nodes, 20,000 hyperedges with sizes uniform in 2..10, 64 features (the LightHGNN paper's size)."""
    from hyperzoo.hypergraph import Hypergraph

    rng = np.random.default_rng(seed)
    edges = [rng.choice(55_000, int(s), replace=False).tolist() for s in rng.integers(2, 11, 20_000)]
    x = torch.from_numpy(rng.standard_normal((55_000, 64)).astype(np.float32))
    return Hypergraph.from_edges(edges, 55_000, x=x, duplicates="merge")


def graph(name: str):
    """Deduplicated hypergraph (DHG merges duplicates, so both sides see the same one) and 64 features."""
    from hyperzoo.hypergraph.data import load_npz

    if name == "synthetic-55k":
        return synthetic()
    hg = load_npz(name=name, duplicates="merge")["hg"]
    hg.x = torch.from_numpy(np.random.default_rng(0).standard_normal((hg.num_nodes, 64)).astype(np.float32))
    return hg


def step_fns(hg, sides=("ours", "dhg")):
    from hyperzoo.hypergraph import hgnn_smooth

    d = hg.to_dhg() if "dhg" in sides else None
    x0 = hg.x

    def ours():
        x = x0.clone().requires_grad_()
        y = hgnn_smooth(x, hg)
        y.backward(torch.ones_like(y))
        return y.detach()

    def theirs():
        x = x0.clone().requires_grad_()
        y = d.smoothing_with_HGNN(x)
        y.backward(torch.ones_like(y))
        return y.detach()

    return {"ours": ours, "dhg": theirs}


def timeit(fns: dict, reps: int) -> dict[str, float]:
    """Median seconds per call of each function. The functions take turns within every repetition
    (``core.testing.interleaved``), so that load from other jobs on the shared CPU hits all of them alike; two
    warm-up rounds first (DHG builds and caches its N×N Laplacian on its first call)."""
    return testing.medians(testing.interleaved(fns, reps, warmup=2))


def save_case(hg, path: Path) -> None:
    """The deduplicated hypergraph and its features as plain arrays, so that a fresh process loads it cheaply."""
    np.savez(path, num_nodes=hg.num_nodes, edge_ptr=hg.edge_ptr.numpy(), node_ids=hg.node_ids.numpy(),
             x=hg.x.numpy())


def memory_case(path: str, side: str) -> None:
    """Run by ``core.testing.peak_memory`` in a fresh (spawned) process: load the arrays, run one step on a 3-node
    hypergraph (code loading), build one side's hypergraph object, reset the peak RSS, run 4 steps (the first
    builds that side's cached matrices)."""
    from hyperzoo.hypergraph import Hypergraph

    z = np.load(path)
    hg = Hypergraph(int(z["num_nodes"]), z["edge_ptr"], z["node_ids"], x=torch.from_numpy(z["x"]))
    tiny = Hypergraph.from_edges([[0, 1], [1, 2]], 3, x=torch.randn(3, hg.x.shape[1]))
    step_fns(tiny, (side,))[side]()  # loads the code paths (plugin registry, lazy imports) outside the measurement
    fn = step_fns(hg, (side,))[side]
    testing.reset_peak_memory()
    for _ in range(4):
        fn()


def peak_rss(path: Path, side: str) -> dict[str, float]:
    """MiB from a fresh process (``core.testing.peak_memory``): ``resident`` (Python, torch, the side's library
    and hypergraph object, when the peak was reset) and ``step_peak``, the peak RSS of the steps (first-call caches
    included) above that resident set. ``ru_maxrss`` of a forked child would also hold the parent's peak."""
    peak = testing.peak_memory(memory_case, str(path), side)
    if not peak.reset:
        raise SystemExit(f"cannot reset the peak RSS through /proc/self/clear_refs here ({peak!r}); the memory "
                         "part needs Linux")
    return {"resident": peak.baseline / 2**20, "step_peak": peak.above_baseline / 2**20}


def part_speed() -> list[dict]:
    import tempfile

    rows = []
    # coauthorship-cora: a small hypergraph on which our backend keeps its two-product path (larger hyperedges)
    for name, reps in (("cocitation-cora", 200), ("coauthorship-cora", 200), ("synthetic-55k", 7)):
        hg = graph(name)
        fns = step_fns(hg)
        diff = float((fns["ours"]() - fns["dhg"]()).abs().max())
        t = timeit(fns, reps)
        t_ours, t_dhg = t["ours"], t["dhg"]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "case.npz"
            save_case(hg, path)
            mem = {side: peak_rss(path, side) for side in ("ours", "dhg")}
        rows.append({"graph": name, "ours_ms": 1e3 * t_ours, "dhg_ms": 1e3 * t_dhg, "speedup": t_dhg / t_ours,
                     **{f"{side}_{k}_mib": v for side, m in mem.items() for k, v in m.items()},
                     "step_peak_ratio": mem["dhg"]["step_peak"] / mem["ours"]["step_peak"], "max_abs_diff": diff})
        print(rows[-1], flush=True)
    return rows


def part_paths() -> list[dict]:
    """Our csr backend's two paths for hgnn_smooth, forward + backward, taking turns: one product with the cached
    N×N Θ vs two products through H (the numbers behind its size rule Σ_e |e|² ≤ 4·nnz(H))."""
    from hyperzoo.hypergraph.ops.hgnn_smooth_csr import THETA_FACTOR, smooth, theta, use_theta

    rows = []
    for name, reps in (("cocitation-cora", 200), ("coauthorship-cora", 200), ("synthetic-55k", 7)):
        hg = graph(name)

        def step(path, hg=hg):
            def fn():
                x = hg.x.clone().requires_grad_()
                y = smooth(x, hg, "zero", path)
                y.backward(torch.ones_like(y))
            return fn

        t = timeit({"theta": step("theta"), "incidence": step("incidence")}, reps)
        s = hg.edge_size
        rows.append({"graph": name, "sum_sq_over_nnz": float((s * s).sum()) / hg.num_incidences,
                     "theta_nnz_over_nnz": theta(hg, torch.float32, "zero").values().numel() / hg.num_incidences,
                     "theta_ms": 1e3 * t["theta"], "incidence_ms": 1e3 * t["incidence"],
                     "chosen": "theta" if use_theta(hg) else "incidence", "factor": THETA_FACTOR})
        print(rows[-1], flush=True)
    return rows


def part_inference(hidden: int = 128, num_classes: int = 10) -> dict:
    """Student MLP vs HGNN teacher, forward only. Teachers: ours and DHG's HGNN (the paper's), each warm (the
    hypergraph and its cached smoothing matrices already built) and cold (built from the hyperedge list inside
    the timed call, as a new hypergraph at inference needs)."""
    import dhg

    from hyperzoo.hypergraph import Hypergraph
    from hyperzoo.hypergraph.lighthgnn import LightHGNN

    hg = synthetic()
    x, edges, n = hg.x, hg.edges(), hg.num_nodes
    model = LightHGNN(64, num_classes, width=hidden).eval()
    theirs = dhg.models.HGNN(64, hidden, num_classes).eval()
    d = hg.to_dhg()
    cases = {
        "student (MLP, features only)": lambda: model(x),
        "teacher: ours, warm": lambda: model.teacher(x, hg),
        "teacher: ours, cold": lambda: model.teacher(x, Hypergraph.from_edges(edges, n)),
        "teacher: DHG HGNN, warm": lambda: theirs(x, d),
        "teacher: DHG HGNN, cold": lambda: theirs(x, dhg.Hypergraph(n, edges)),
    }
    with torch.no_grad():
        ms = {k: 1e3 * v for k, v in timeit(cases, 9).items()}
    student = ms.pop("student (MLP, features only)")
    return {"hidden": hidden, "student_ms": student,
            "teachers": [{"teacher": k, "ms": v, "ratio": v / student} for k, v in ms.items()]}


class _DHGNode(torch.nn.Module):
    """DHG's HGNN model behind our (x, hg) interface; isolated nodes get singleton hyperedges so that DHG runs
    the same operator as our ``isolated="self_loop"`` (DHG would otherwise zero them)."""

    def __init__(self, in_channels, num_classes, hidden, hg):
        super().__init__()
        import dhg

        edges = hg.edges() + [[v] for v in (hg.node_degree == 0).nonzero().flatten().tolist()]
        self.dhg_hg = dhg.Hypergraph(hg.num_nodes, edges)
        self.net = dhg.models.HGNN(in_channels, hidden, num_classes)

    def forward(self, x, hg=None):
        return self.net(x, self.dhg_hg)


def accuracy_models(in_channels: int, num_classes: int, hg) -> dict:
    """label -> factory of a fresh model (hidden 32 everywhere)."""
    from hyperzoo.hypergraph import models

    kw = {"in_channels": in_channels, "num_classes": num_classes}
    return {
        "MLP (node-mlp)": lambda: models.node_mlp(**kw),
        "hgnn (ours)": lambda: models.hgnn(**kw),
        "HGNN (DHG)": lambda: _DHGNode(in_channels, num_classes, 32, hg),
        "hgnnp (ours)": lambda: models.hgnnp(**kw),
        "unigcn (ours)": lambda: models.unigcn(**kw),
        "LightHGNN student": lambda: models.lighthgnn(**kw),
        "LightHGNN+ student": lambda: models.lighthgnn_plus(**kw),
    }


def part_accuracy(epochs: int) -> list[dict]:
    from hyperzoo import core
    from hyperzoo.core.trainer import aggregate

    rows = []
    for task_name in ("cocitation-cora", "coauthorship-cora"):
        task = core.get_task(task_name)
        d = task.data
        makers = accuracy_models(d["hg"].x.shape[1], int(d["labels"].max()) + 1, d["hg"])
        for label, make in makers.items():
            trainer = core.Trainer(epochs=epochs, lr=0.01, weight_decay=5e-4, optimizer="adam", scheduler=None)
            res = []
            t = time.perf_counter()
            for split in range(len(d["train_splits"])):
                torch.manual_seed(split)
                res.append(task.fit_split(make(), split, trainer))
            agg = aggregate(res)
            rows.append({"task": task_name, "model": label, "test_accuracy": agg["test_accuracy"],
                         "test_accuracy_std": agg["test_accuracy_std"], "seconds": time.perf_counter() - t})
            print(rows[-1], flush=True)
    return rows


# (task, model, config, epochs). CoNHD follows the official per-dataset depth (1 diffusion step on
# cora-outsider, 2 on StackOverflowBiology) at hidden 64; HGNN+ gets the same width. On StackOverflowBiology
# CoNHD runs the UNP blocks for 100 epochs (about 3.5 s per epoch here; ISAB is about 3.5x slower), to fit ~20 min.
ENC_RUNS = [
    ("enc-cora-outsider", "hgnnp", {"model.hidden": 64}, 150),
    ("enc-cora-outsider", "conhd", {"model.block": "isab", "model.num_layers": 1}, 150),
    ("enc-cora-outsider", "conhd", {"model.block": "unp", "model.num_layers": 1}, 150),
    ("enc-stackoverflow-biology", "hgnnp", {"model.hidden": 64}, 150),
    ("enc-stackoverflow-biology", "conhd", {"model.block": "unp", "model.num_layers": 2}, 100),
]
ENC_PATIENCE = 50


def part_enc() -> list[dict]:
    from hyperzoo import core

    rows, tasks = [], {}
    for task_name, model, config, epochs in ENC_RUNS:
        task = tasks.setdefault(task_name, core.get_task(task_name))
        _ = task.data  # load and build features outside the timing
        t = time.perf_counter()
        r = core.run(task, model, seeds=[0, 1, 2], device="cpu", progress=False, epochs=epochs,
                     patience=ENC_PATIENCE, **config)
        seconds, m = time.perf_counter() - t, r.metrics
        rows.append({"task": task_name, "model": model, "config": ", ".join(f"{k.split('.')[-1]}={v}"
                                                                            for k, v in config.items()),
                     "epochs": epochs, "epochs_run_mean": m["epochs_run"], "seconds": seconds,
                     "seconds_per_epoch": seconds / (3 * m["epochs_run"]),
                     **{k: m[k] for k in ("test_micro_f1", "test_micro_f1_std", "test_macro_f1",
                                          "test_macro_f1_std", "val_micro_f1")}})
        print(rows[-1], flush=True)
    return rows


def part_recon() -> list[dict]:
    from hyperzoo import core

    rows = []
    for dataset in ("coauthorship-cora", "enc-StackOverflowBiology"):
        t = time.perf_counter()
        r = core.run(core.get_task("hyperedge-reconstruction", dataset=dataset), "hyperedge-reconstructor",
                     device="cpu", progress=False)
        rows.append({"dataset": dataset, **r.metrics, "seconds": time.perf_counter() - t})
        print(rows[-1], flush=True)
    return rows


HR_MODELS = ("hyperformer", "hyperformer-triple", "kg-transformer", "distmult", "complex")


def part_hyper_relational(epochs: int, seeds: int, models: tuple[str, ...] = HR_MODELS,
                          command: str = "") -> dict:
    """WD50K(100): HyperFormer with and without qualifiers and the triple-only baselines, same task, same trainer
    defaults, same epoch budget; then our vectorised filtered ranking vs a brute-force loop. Runs (model, seed,
    epochs) already in the results JSON are kept, not rerun, so more seeds can be added by a later command."""
    from hyperzoo import core
    from hyperzoo.hypergraph.hyperrelational import FilterIndex, brute_force_ranks, filtered_ranks, queries
    from hyperzoo.hypergraph.link_prediction import WD50K100

    saved = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else {}
    old = saved.get("hyper-relational", {})
    rows = [r for r in old.get("runs", []) if r["epochs"] == epochs]
    before = old.get("commands") or [saved.get("runs", {}).get("hyper-relational", {}).get("command")]
    commands = [c for c in before if c and c != command] + [command] if rows else [command]
    done = {(r["model"], r["seed"]) for r in rows}
    for model in models:
        for seed in range(seeds):
            if (model, seed) in done:
                continue
            t0 = time.perf_counter()
            r = core.run("wd50k-100", model, epochs=epochs, seed=seed, progress=False)
            seconds = time.perf_counter() - t0
            m = r.metrics
            rows.append({"model": model, "seed": seed, "epochs": epochs, "seconds": seconds,
                         "params": sum(p.numel() for p in r.model.parameters()),
                         **{k: m[k] for k in ("test_mrr", "test_hits@1", "test_hits@3", "test_hits@10", "val_mrr",
                                              "test_object_mrr", "test_subject_mrr", "best_epoch")},
                         "val_mrr_by_epoch": [h["val_mrr"] for h in r.history if "val_mrr" in h]})
            print(model, seed, {k: round(v, 4) for k, v in rows[-1].items() if isinstance(v, float)}, flush=True)
    # evaluation throughput: the same random scores ranked both ways
    d = WD50K100().data
    nrel = d["train"].num_relations
    index = FilterIndex(d.values(), nrel)
    q = queries(d["test"], nrel)
    groups = index.groups(q)
    g = torch.Generator().manual_seed(0)
    n, ne = len(q["answer"]), d["train"].num_entities
    fast, fast_s = [], 0.0
    for start in range(0, n, 512):
        sl = slice(start, start + 512)
        scores = torch.randn(len(q["answer"][sl]), ne, generator=g)
        t0 = time.perf_counter()  # the filter lookup and the ranking, not the making of the scores
        rows_, ents = index.mask_pairs(groups[sl])
        fast.append(filtered_ranks(scores, q["answer"][sl], rows_, ents))
        fast_s += time.perf_counter() - t0
        if start == 0:
            first_scores = scores
    answers: dict = {}
    for f in d.values():  # the brute force's filter: a dict built by a Python loop over facts
        qq = queries(f, nrel)
        for i in range(len(qq["answer"])):
            key = (int(qq["entity"][i]), int(qq["relation"][i]), frozenset(
                tuple(p) for p, mk in zip(qq["qualifiers"][i].tolist(), qq["qualifier_mask"][i].tolist()) if mk))
            answers.setdefault(key, set()).add(int(qq["answer"][i]))
    k = 8
    true = []
    for i in range(k):
        key = (int(q["entity"][i]), int(q["relation"][i]), frozenset(
            tuple(p) for p, mk in zip(q["qualifiers"][i].tolist(), q["qualifier_mask"][i].tolist()) if mk))
        true.append(answers[key] - {int(q["answer"][i])})
    t0 = time.perf_counter()
    slow = brute_force_ranks(first_scores[:k], q["answer"][:k], true)
    slow_s = time.perf_counter() - t0
    same = bool(torch.equal(slow, torch.cat(fast)[:k]))
    rows.sort(key=lambda r: (HR_MODELS.index(r["model"]) if r["model"] in HR_MODELS else 99, r["seed"]))
    return {"runs": rows, "commands": commands, "throughput": {"queries": n, "fast_s": fast_s, "fast_per_s": n / fast_s,
                                         "brute_queries": k, "brute_s": slow_s, "brute_per_s": k / slow_s,
                                         "speedup": (n / fast_s) / (k / slow_s), "equal": same,
                                         "num_entities": ne}}


def fmt(v: float, d: int = 2) -> str:
    return f"{v:.{d}f}"


def _machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared), "
            f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, CPU only")


def _section(lines: list[str], results: dict, part: str, title: str, intro: str) -> None:
    run = results.get("runs", {}).get(part, {})
    command = run.get("command", f"python benchmarks/hypergraph.py --parts {part}")
    lines += [f"## {title}", "", f"`{command}`" + (f" — {run['machine']}" if "machine" in run else ""), "", intro, ""]


def write(results: dict) -> None:
    old = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else {}
    results = {**old, **results, "runs": {**old.get("runs", {}), **results.get("runs", {})}}
    from hyperzoo.core.io import atomic_write, write_json

    write_json(OUT_JSON, results)
    lines = ["# hypergraph: results", "", "Written by `benchmarks/hypergraph.py`; each part lists the command that "
             "produced it (parts run at different times are merged). Within a part, ours and the peer ran in the "
             "same process, so compare ratios, not absolute times: the CPU is shared with other jobs.", ""]
    if "speed" in results:
        _section(lines, results, "speed", "hgnn_smooth forward + backward vs DHG `smoothing_with_HGNN`",
                 "64 features, deduplicated hypergraphs (DHG merges duplicates). Time: median of repeated steps, "
                 "ours and DHG taking turns, after two warm-up steps (DHG builds and caches its N×N Laplacian in "
                 "the first). Memory, from a fresh subprocess per case that loads the hypergraph from plain arrays "
                 "and builds only its own side's hypergraph object: *step peak* is the peak RSS during 4 steps (the "
                 "first builds the side's cached matrices) above the resident set just before them (the peak is "
                 "reset with `/proc/self/clear_refs`, then read as `VmHWM`; `ru_maxrss` would also hold the peak of "
                 "the parent the subprocess forked from); *resident* is that set (Python, torch, the side's library "
                 "and its hypergraph object). Our csr backend multiplies by its cached N×N smoothing matrix on "
                 "cocitation-cora and by the two incidence matrices on the other two (the size rule in "
                 "docs/plugins/hypergraph.md).")
        lines += ["| graph | ours (ms) | DHG (ms) | speed-up | step peak, ours / DHG (MiB) | DHG/ours step peak | "
                  "resident, ours / DHG (MiB) | max abs diff |", "|---|---|---|---|---|---|---|---|"]
        for r in results["speed"]:
            lines.append(f"| {r['graph']} | {fmt(r['ours_ms'])} | {fmt(r['dhg_ms'])} | {fmt(r['speedup'])}x | "
                         f"{fmt(r['ours_step_peak_mib'], 1)} / {fmt(r['dhg_step_peak_mib'], 1)} | "
                         f"{fmt(r['step_peak_ratio'])}x | {fmt(r['ours_resident_mib'], 0)} / "
                         f"{fmt(r['dhg_resident_mib'], 0)} | {r['max_abs_diff']:.1e} |")
        lines.append("")
    if "paths" in results:
        _section(lines, results, "paths", "hgnn_smooth: our csr backend's two paths",
                 "Forward + backward, 64 features, the two taking turns: one product with the cached N×N Θ "
                 "(forward and backward, Θ being symmetric) vs two products through H each way. The backend takes Θ "
                 "when Σ_e |e|² ≤ 4·nnz(H).")
        lines += ["| graph | Σ_e \\|e\\|² / nnz(H) | nnz(Θ) / nnz(H) | Θ (ms) | two products (ms) | chosen |",
                  "|---|---|---|---|---|---|"]
        for r in results["paths"]:
            lines.append(f"| {r['graph']} | {fmt(r['sum_sq_over_nnz'])} | {fmt(r['theta_nnz_over_nnz'])} | "
                         f"{fmt(r['theta_ms'])} | {fmt(r['incidence_ms'])} | {r['chosen']} |")
        lines.append("")
    if "inference" in results:
        r = results["inference"]
        _section(lines, results, "inference", "LightHGNN: student (MLP, features only) vs HGNN teacher inference",
                 "Synthetic hypergraph: 55,000 nodes, 20,000 hyperedges (sizes 2..10), 64 features, 10 classes, "
                 f"hidden {r['hidden']} (the paper's); forward only, eval mode, no grad; median time, the five "
                 "taking turns. *Warm*: the hypergraph and its cached smoothing matrices exist before the call; "
                 "*cold*: the hypergraph is built from its hyperedge list inside the call (a new hypergraph at "
                 "inference time).")
        lines += ["| model | time (ms) | teacher / student |", "|---|---|---|",
                  f"| student (MLP, features only) | {fmt(r['student_ms'])} | 1.0x |"]
        for t in r["teachers"]:
            lines.append(f"| {t['teacher']} | {fmt(t['ms'])} | {fmt(t['ratio'], 1)}x |")
        lines.append("")
    if "accuracy" in results:
        _section(lines, results, "accuracy", "Node classification, 10 standard splits (mean ± std test accuracy)",
                 "Same splits, same run, same trainer (Adam, lr 0.01, weight decay 5e-4, hidden 32, dropout 0.5, "
                 f"{results.get('accuracy_epochs', 200)} full-batch epochs, last epoch reported; the LightHGNN "
                 "teacher is an HGNN trained the same way). Isolated nodes keep their own features "
                 "(`isolated=\"self_loop\"`; DHG gets singleton hyperedges for them).")
        lines += ["| model | cocitation-cora | coauthorship-cora |", "|---|---|---|"]
        by = {(r["task"], r["model"]): r for r in results["accuracy"]}
        for model in dict.fromkeys(r["model"] for r in results["accuracy"]):
            cells = [f"{100 * by[(t, model)]['test_accuracy']:.2f} ± {100 * by[(t, model)]['test_accuracy_std']:.2f}"
                     if (t, model) in by else "" for t in ("cocitation-cora", "coauthorship-cora")]
            lines.append(f"| {model} | {cells[0]} | {cells[1]} |")
        gaps = [100 * (by[(t, "hgnn (ours)")]["test_accuracy"] - by[(t, "HGNN (DHG)")]["test_accuracy"])
                for t in ("cocitation-cora", "coauthorship-cora") if (t, "HGNN (DHG)") in by]
        lines += ["", "hgnn (ours) − HGNN (DHG): " + ", ".join(f"{g:+.2f}" for g in gaps) + " points (goal: within "
                  "0.5). The two files share features, labels and splits (only the hyperedges differ), so the "
                  "structure-blind MLP scores the same on both.", ""]
    if "enc" in results:
        _section(lines, results, "enc", "Edge-dependent node classification (3 seeds, mean ± std)",
                 "Structural node features (`data.structural_features`, 34 dims); full-batch Adam, lr 0.005, the "
                 f"epoch with the best validation micro-F1 kept (patience {ENC_PATIENCE}); every epoch is one "
                 "optimiser step on the whole training set (the official CoNHD code takes ~30-400 mini-batch steps "
                 "per epoch on a GPU). *epochs*: the limit / mean epochs run. *s/epoch*: one training step plus "
                 "one validation forward, on this shared CPU. CoNHD with ISAB blocks is left out on "
                 "StackOverflowBiology: about 3.5x the UNP time per epoch, so it would not fit the ~20 minutes "
                 "this part gives that dataset.")
        lines += ["| task | model | config | epochs | test micro-F1 | test macro-F1 | s/epoch |",
                  "|---|---|---|---|---|---|---|"]
        for r in results["enc"]:
            lines.append(f"| {r['task']} | {r['model']} | {r['config']} | {r['epochs']} / "
                         f"{r['epochs_run_mean']:.0f} | {r['test_micro_f1']:.4f} ± {r['test_micro_f1_std']:.4f} | "
                         f"{r['test_macro_f1']:.4f} ± {r['test_macro_f1_std']:.4f} | "
                         f"{fmt(r['seconds_per_epoch'], 2)} |")
        lines.append("")
        for task in dict.fromkeys(r["task"] for r in results["enc"]):
            rows = [r for r in results["enc"] if r["task"] == task]
            base = next(r for r in rows if r["model"] == "hgnnp")
            for r in rows:
                if r["model"] == "conhd":
                    lines.append(f"- {task}, conhd ({r['config']}) − hgnnp: micro-F1 "
                                 f"{100 * (r['test_micro_f1'] - base['test_micro_f1']):+.2f}, macro-F1 "
                                 f"{100 * (r['test_macro_f1'] - base['test_macro_f1']):+.2f} points")
        lines.append("")
    if "recon" in results:
        _section(lines, results, "recon", "Hyperedge reconstruction from the projection (Jaccard on the held-out half)",
                 "Trained on the projection and hyperedges of one half, scored on the other half's projection.")
        lines += ["| hypergraph | learned (ours) | maximal cliques | gain | test hyperedges |", "|---|---|---|---|---|"]
        for r in results["recon"]:
            lines.append(f"| {r['dataset']} | {r['test_jaccard']:.4f} | {r['baseline_jaccard']:.4f} | "
                         f"{r['jaccard_gain']:+.4f} | {int(r['num_test_hyperedges'])} |")
        lines.append("")
    if "hyper-relational" in results:
        _hr_section(lines, results)
    atomic_write(OUT_MD, lambda fh: fh.write("\n".join(lines).encode()))


# Published WD50K(100) test numbers (MRR, Hits@1/3/10) to print beside ours, marked as published: only numbers read
# in a retrieved copy of the paper's table go here, as {"mrr": ..., "hits@1": ..., "hits@3": ..., "hits@10": ...,
# "source": "paper, Table N, URL"}; None = no retrieved source gave the table (printed as "not found").
PUBLISHED_WD50K_100: dict[str, dict | None] = {
    "StarE (H) + Transformer (H) (Galkin et al., EMNLP 2020, arXiv 2009.10847)": None,
    "HyperFormer (Hu et al., CIKM 2023, arXiv 2308.06512)": None,
}
PUBLISHED_WD50K_100_SEARCH = (
    "Searched for issue 16, without a result table coming back: the stored web pages of both papers (the search "
    "tool returns each page's first ~2,000 characters only, i.e. abstracts and introductions) — for StarE the ACL "
    "Anthology / doi.org page, deepai.org, paperswithcode.com, beta.hyper.ai, wizwand.com, liner.com and a SPIQA "
    "paragraph extract; for HyperFormer liner.com, orca.cardiff.ac.uk (its post-print), aitopics.org and a Hugging "
    "Face paper-markdown copy; the code repositories migalkin/StarE (all 23 commits: README and code, no result "
    "table) and zhiweihu1103/HKGC-HyperFormer (all 25 commits: README, run.py, run.sh, src/, no numbers); both "
    "repositories' issue threads; GitHub-wide text search for \"WD50K (100)\", \"WD50K(100)\", \"wd50k_100\", "
    "\"wd50k-100\", \"StarE (H) + Transformer (H)\" (only dataset statistics tables, run scripts and third-party "
    "notes). The only StarE numbers found in a retrieved source are for WD50K, the 13.6 %-qualifier full set, a "
    "different data set, so none is placed here.")


def _hr_section(lines: list[str], results: dict) -> None:
    hr = results["hyper-relational"]
    runs = hr["runs"]
    epochs = runs[0]["epochs"] if runs else 0
    _section(lines, results, "hyper-relational", "Hyper-relational link prediction on WD50K(100) (filtered, test)",
             ("Rows merge the runs of: " + "; ".join(f"`{c}`" for c in hr["commands"]) + ". "
              if len(hr.get("commands", [])) > 1 else "") +
             f"Task `wd50k-100` through `core.run` with its defaults (AdamW, lr 2e-3, batch 128, label smoothing 0.1, "
             f"1-N cross-entropy, width 64, depth 2; at most 6 qualifier pairs per fact), {epochs} epoch(s) per "
             "model, the epoch with the best validation MRR kept; object and subject queries together, every other "
             "true answer of the same (entity, relation, qualifiers) query in train/valid/test filtered out, ties "
             "counted half. Every model scores the same queries against the same filter; the triple-only ones "
             "simply ignore the qualifiers. *time*: training plus the per-epoch validation, on this shared CPU.")
    lines += ["| model | qualifiers | params | seeds | test MRR | Hits@1 | Hits@3 | Hits@10 | object / subject MRR | "
              "val MRR by epoch (seed 0) | time (s) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    uses = {"hyperformer": "yes"}
    by: dict = {}
    for r in runs:
        by.setdefault(r["model"], []).append(r)
    for model, rs in by.items():
        def ms(key, rs=rs):
            v = np.array([r[key] for r in rs], dtype=float)
            return f"{v.mean():.4f}" + (f" ± {v.std():.4f}" if len(v) > 1 else "")
        curve = " → ".join(f"{v:.3f}" for v in rs[0]["val_mrr_by_epoch"])
        lines.append(f"| {model} | {uses.get(model, 'no')} | {rs[0]['params']:,} | {len(rs)} | "
                     f"{ms('test_mrr')} | {ms('test_hits@1')} | {ms('test_hits@3')} | {ms('test_hits@10')} | "
                     f"{ms('test_object_mrr')} / {ms('test_subject_mrr')} | {curve} | "
                     f"{np.mean([r['seconds'] for r in rs]):.0f} |")
    for name, pub in PUBLISHED_WD50K_100.items():
        if pub is None:
            lines.append(f"| {name}, published | yes | — | — | not found | not found | not found | not found | — | — "
                         "| — |")
        else:
            lines.append(f"| {name}, published ({pub['source']}) | yes | — | — | {pub['mrr']:.3f} | "
                         f"{pub['hits@1']:.3f} | {pub['hits@3']:.3f} | {pub['hits@10']:.3f} | — | — | — |")
    lines += ["", "Published rows: the papers' own numbers on this WD50K(100) split (GPU, hundreds of epochs, tuned; "
              "not measured here, constants `PUBLISHED_WD50K_100` in `benchmarks/hypergraph.py`); none is quoted "
              "from memory. " + PUBLISHED_WD50K_100_SEARCH, ""]
    t = hr["throughput"]
    lines += [f"Filtered-ranking throughput ({t['num_entities']:,} candidate entities, random scores): the vectorised "
              f"mask ranks {t['queries']:,} test queries in {t['fast_s']:.2f} s ({t['fast_per_s']:,.0f} queries/s, "
              "the per-batch filter lookup included, the query-to-filter join done once per split before); the "
              f"brute-force loop ranks {t['brute_queries']} in "
              f"{t['brute_s']:.2f} s ({t['brute_per_s']:.1f} queries/s): {t['speedup']:,.0f}x. Same ranks on the "
              f"queries both ranked: {t['equal']}.", ""]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="speed,paths,inference,accuracy,enc,recon")
    p.add_argument("--epochs", type=int, default=200, help="full-batch epochs of the accuracy part")
    p.add_argument("--hr-epochs", type=int, default=3, help="epochs of each model in the hyper-relational part")
    p.add_argument("--hr-seeds", type=int, default=1, help="seeds of each model in the hyper-relational part")
    p.add_argument("--hr-models", default=",".join(HR_MODELS), help="models of the hyper-relational part")
    args = p.parse_args()
    torch.manual_seed(0)
    command = "python benchmarks/hypergraph.py " + " ".join(sys.argv[1:])
    parts = {"speed": part_speed, "paths": part_paths, "inference": part_inference,
             "accuracy": lambda: part_accuracy(args.epochs), "enc": part_enc, "recon": part_recon,
             "hyper-relational": lambda: part_hyper_relational(args.hr_epochs, args.hr_seeds,
                                                               tuple(args.hr_models.split(",")), command)}
    unknown = set(args.parts.split(",")) - set(parts)
    if unknown:
        p.error(f"unknown parts {sorted(unknown)}; choose from {list(parts)}")
    for name in args.parts.split(","):
        results = {name: parts[name](), "runs": {name: {"command": command, "machine": _machine()}}}
        if name == "accuracy":
            results["accuracy_epochs"] = args.epochs
        write(results)  # after each part, so a long run keeps what it finished


if __name__ == "__main__":
    main()
