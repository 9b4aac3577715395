"""The ``hyperzoo`` command (also ``python -m hyperzoo.core``). See docs/cli.md for every ``--json`` schema.

Listing commands (plugins, models, tasks) never import torch; ``ops`` asks each backend whether it is
available here, and ``run`` trains.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from .config import ConfigError

MAIN_TASK, MAIN_MODEL, FALLBACK_MODEL = "digits-seq", "terminator", "cnn"


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, allow_nan=True))


def cmd_plugins(args: argparse.Namespace) -> int:
    from . import plugins

    infos = plugins(available=args.available)
    if args.json:
        _print_json({"core_version": infos[0].version, "plugins": [i.to_dict() for i in infos]})
        return 0
    for i in infos:
        provides = ", ".join(f"{len(v)} {k}" for k, v in i.provides.items())
        print(f"{i.name:<16}{i.version or '-':<10}{i.status:<14}{provides}")
        if i.error:
            print(f"{'':<16}{i.error}")
    return 0


def _listing(kind: str, args: argparse.Namespace) -> int:
    from .discovery import registry

    table = registry().tables[kind]
    rows = []
    for n in registry().names(kind, args.pattern):
        e = table[n]
        rows.append({"name": n, "plugin": e.plugin, **({"fits": list(e.meta["fits"])} if kind == "model"
                                                        else {"kind": e.meta["task_kind"]})})
    if args.json:
        _print_json({kind + "s": rows})
        return 0
    for r in rows:
        what = ", ".join(r["fits"]) if kind == "model" else r["kind"]
        print(f"{r['name']:<28}{r['plugin']:<16}{what}")
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    from .dispatch import get_operator, operators, orphaned_backends

    ops = [get_operator(n).explain() for n in operators(args.pattern)]
    orphans = orphaned_backends()
    if args.json:
        _print_json({"operators": ops, "orphaned_backends": orphans})
        return 0
    for op in ops:
        print(f"{op['name']:<32}{op['plugin']:<16}runs: {op['would_run']}  ({op['why']})")
        for b in op["backends"]:
            state = "available" if b["available"] else "unavailable"
            print(f"    {b['name']:<14}priority {b['priority']:<4}{state}: {b['reason']}")
    for o in orphans:
        print(f"orphaned backend {o['operator']}/{o['backend']} (plugin {o['plugin']}): operator not present")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    overrides = _parse_set(args.set or [])
    if args.config and (args.task or args.model):
        raise ConfigError("give either TASK MODEL or --config, not both")
    if not args.config and bool(args.task) != bool(args.model):
        raise ConfigError("give both TASK and MODEL (or neither, for the main job)")
    from . import models
    from .io import read_json
    from .runner import run, run_config

    run_kw: dict[str, Any] = {"resume": args.resume}
    if args.config:
        config = read_json(args.config)
        out = args.out or _default_out(config["task"], config["model"])
        result = run_config(config, out_dir=out, **run_kw, **overrides)
    else:
        task, model = args.task, args.model
        if task is None:
            task, model = MAIN_TASK, MAIN_MODEL
            if MAIN_MODEL not in models():
                print(f"hyperzoo: notice: model {MAIN_MODEL!r} needs the hyperkernels plugin, which is not installed "
                      f"(pip install ./plugins/hyperkernels); running the {FALLBACK_MODEL!r} baseline instead.",
                      file=sys.stderr)
                model = FALLBACK_MODEL
        out = args.out or _default_out(task, model)
        result = run(task, model, out_dir=out, **run_kw, **overrides)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return 0
    if args.json:
        _print_json({"task": result.config["task"], "model": result.config["model"], "metrics": result.metrics,
                     "history": result.history, "config": result.config,
                     "run_dir": str(result.run_dir) if result.run_dir else None, "seconds": result.seconds})
    else:
        print("hyperzoo run: " + result.summary())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweeps import parse_space, sweep

    if not args.space:
        raise ConfigError("give the search space with --space key=[choices] (or key=log(low, high)), once per key")
    space = parse_space(args.space)
    config = _parse_set(args.set or [])
    out = args.out
    if out is None and args.storage is None:  # the default study lives in the sweep directory
        out = _default_out(args.task, args.model).replace("runs/", "runs/sweep-", 1)
    result = sweep(args.task, args.model, space, n_trials=args.trials, out_dir=out, storage=args.storage,
                   study_name=args.study_name, metric=args.metric, direction=args.direction, prior=args.prior,
                   functional_hash=args.functional_hash, **config)
    if args.json:
        _print_json(result.to_dict())
    else:
        print("hyperzoo sweep: " + result.summary())
    return 0


def _default_out(task: str, model: str) -> str:
    safe = model.replace(":", "_").replace("/", "_")
    return f"runs/{task}-{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyperzoo", description="Operators, models and tasks from the hyperzoo "
                                     "plugins; run any fitting pair.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plugins", help="installed plugins and their status")
    p.add_argument("--available", action="store_true", help="also list first-party plugins not installed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plugins)
    for name, kind in (("models", "model"), ("tasks", "task")):
        p = sub.add_parser(name, help=f"registered {name}")
        p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=lambda a, k=kind: _listing(k, a))
    p = sub.add_parser("ops", help="operators, their backends and what would run here")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ops)
    p = sub.add_parser("run", help=f"run MODEL on TASK (default: the main job, {MAIN_MODEL} on {MAIN_TASK})")
    p.add_argument("task", nargs="?")
    p.add_argument("model", nargs="?")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a config key (model.width=64, epochs=5, seeds=[0,1,2]); values parse as JSON, else strings")
    p.add_argument("--config", metavar="FILE", help="rerun a run directory's config.json")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/<task>-<model>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("sweep", help="search a config space with Optuna, one run per trial (docs/sweep.md)")
    p.add_argument("task")
    p.add_argument("model")
    p.add_argument("--space", action="append", metavar="KEY=SPACE",
                   help="a searched key: width=[32,64] (choices, JSON), lr=log(1e-4,1e-1), dropout=float(0,0.5), "
                        "depth=int(1,4); repeat per key")
    p.add_argument("--trials", type=int, required=True, help="trials this worker runs")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a fixed config key for every trial")
    p.add_argument("--out", metavar="DIR", help="sweep directory (study.db, trial-<n>/); rerun to continue")
    p.add_argument("--storage", metavar="URL",
                   help="an RDB URL shared by many workers (postgresql://..., sqlite:///...)")
    p.add_argument("--study-name", help="default <task>-<model>")
    p.add_argument("--metric", help="default val_<the task's monitor>")
    p.add_argument("--direction", choices=["maximize", "minimize"], help="default from the task's monitor mode")
    p.add_argument("--prior", choices=["step-law"], help="search lr around Step Law's suggestion")
    p.add_argument("--functional-hash", action="store_true", help="reuse results of equivalent candidates")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .data import DataNotFoundError
    from .dispatch import BackendError
    from .registry import RegistryError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, RegistryError, BackendError, DataNotFoundError, FileExistsError, FileNotFoundError) as exc:
        print(f"hyperzoo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hyperzoo: interrupted (resume with --resume and the same --out)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
