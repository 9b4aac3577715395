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


def _check_plugins(args: argparse.Namespace) -> int:
    from . import check_plugins

    results = check_plugins()
    bad = [r.name for r in results if not r.ok]
    if args.json:
        _print_json({"ok": not bad, "plugins": [r.to_dict() for r in results]})
    else:
        w = max(16, *(len(r.name) + 2 for r in results))
        for r in results:
            state = "skipped" if r.status == "blocked" else ("ok" if r.ok else "BAD")
            print(f"{r.name:<{w}}{r.status:<14}{state:<8}{r.checked} targets resolved")
            for problem in r.problems:
                print(f"{'':<{w}}{problem}")
    if bad:
        print(f"hyperzoo: error: {len(bad)} plugin(s) have problems: {', '.join(bad)} "
              "(each is listed above with what is wrong)", file=sys.stderr)
        return 2
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from . import plugins

    if args.check:
        return _check_plugins(args)
    infos = plugins(available=args.available)
    if args.json:
        _print_json({"core_version": infos[0].version, "plugins": [i.to_dict() for i in infos]})
        return 0
    w = max(16, *(len(i.name) + 2 for i in infos))
    for i in infos:
        provides = ", ".join(f"{len(v)} {k}" for k, v in i.provides.items())
        print(f"{i.name:<{w}}{i.version or '-':<10}{i.status:<14}{provides}")
        if i.error:
            print(f"{'':<{w}}{i.error}")
    return 0


def _listing(kind: str, args: argparse.Namespace) -> int:
    from .discovery import registry

    if getattr(args, "describe", None):
        return _describe(kind, args.describe, args.json)
    table = registry().tables[kind]
    rows = []
    for n in registry().names(kind, args.pattern):
        e = table[n]
        extra: dict[str, Any] = {"model": {"fits": list(e.meta.get("fits", ()))},
                                 "task": {"kind": e.meta.get("task_kind")}}.get(kind, {})
        rows.append({"name": n, "plugin": e.plugin, **extra})
    if not rows and args.pattern != "*":
        raise ConfigError(f"no {kind} matches {args.pattern!r} (`hyperzoo {kind}s` lists them all)")
    if args.json:
        _print_json({kind + "s": rows})
        return 0
    for r in rows:
        what = ", ".join(r["fits"]) if kind == "model" else r.get("kind") or ""
        print(f"{r['name']:<28}{r['plugin']:<16}{what}")
    return 0


def _describe(kind: str, name: str, as_json: bool) -> int:
    from .use import describe

    info = describe(kind, name)
    if as_json:
        _print_json(info)
        return 0
    what = f"fits {', '.join(info['fits'])}" if kind == "model" else f"kind {info['kind']}"
    print(f"{kind} {name} (plugin {info['plugin']}): {what}")
    if info["doc"]:
        print(f"  {info['doc']}")
    for p in info["parameters"]:
        default = "required" if p["required"] else f"default {p['default']}"
        print(f"  {p['name']:<22}{p['type'] or '':<28}{default}")
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    from .dispatch import get_operator, operators, orphaned_backends

    names = operators(args.pattern)
    if not names:
        from .registry import RegistryError

        known = operators()
        raise RegistryError(f"no operator matches {args.pattern!r}; the {len(known)} operators are: "
                            + ", ".join(known[:30]) + (", ..." if len(known) > 30 else "")
                            + " (patterns are fnmatch: 'kde.*')")
    ops = [get_operator(n).explain() for n in names]
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
    from .runner import run, run_config

    if args.resume and not args.out:
        raise ConfigError("--resume needs --out DIR, the run directory to continue")
    run_kw: dict[str, Any] = {"resume": args.resume}
    if args.quiet:
        run_kw["progress"] = False
    if args.config:
        config = _read_config(args.config)
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

    try:
        import optuna  # noqa: F401
    except ImportError as exc:
        raise ConfigError("hyperzoo sweep needs Optuna: pip install 'hyperzoo[sweep]' (or pip install optuna)") from exc
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


def _read_config(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") \
            from None
    if not isinstance(config, dict) or not {"task", "model"} <= set(config):
        raise ConfigError(f"--config {path}: expected a run's config.json, a JSON object with 'task' and 'model', "
                          f"got {type(config).__name__}")
    return config


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from .use import predict

    inputs = _read_array(args.file, args.key)
    out = predict(args.run_dir, inputs)
    array = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
    target = args.out or "predictions.npy"
    from .io import atomic_write

    atomic_write(target, lambda fh: np.save(fh, array))
    print(f"hyperzoo predict: {array.shape[0]} predictions of shape {list(array.shape[1:])} -> {target}")
    return 0


def _read_array(path: str, key: str | None) -> Any:
    import numpy as np

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path!r} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a .npy/.npz array file without pickled objects ({exc})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        names = list(data.files)
        key = key or ("x" if "x" in names else names[0] if len(names) == 1 else None)
        if key not in names:
            raise ConfigError(f"{path} holds arrays {names}; choose one with --key")
        return data[key]
    return data


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .use import evaluate

    metrics = evaluate(args.run_dir, args.task, split=args.split)
    if args.json:
        _print_json({"run_dir": args.run_dir, "split": args.split, "metrics": metrics})
    else:
        for k, v in metrics.items():
            print(f"{k:<28}{v:.6g}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .plot import plot_runs

    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    path = plot_runs(args.run_dirs, args.out, metrics)
    print(f"hyperzoo plot: {path}")
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
    p.add_argument("--check", action="store_true", help="import every lazy target of every plugin and report the bad "
                   "ones (exit status 2 if any)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plugins)
    for name, kind in (("models", "model"), ("tasks", "task")):
        p = sub.add_parser(name, help=f"registered {name}")
        p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern")
        p.add_argument("--describe", metavar="NAME", help=f"the {kind}'s parameters, defaults and documentation")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=lambda a, k=kind: _listing(k, a))
    p = sub.add_parser("datasets", help="registered data-set loaders")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda a: _listing("dataset", a))
    p = sub.add_parser("ops", help="operators, their backends and what would run here")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ops)
    p = sub.add_parser("run", help=f"run MODEL on TASK (default: the main job, {MAIN_MODEL} on {MAIN_TASK})",
                       description="Train MODEL on TASK and evaluate it. TASK is a registered task name "
                       "(`hyperzoo tasks`), MODEL a registered model that fits the task's kind (`hyperzoo models`); "
                       "`hyperzoo models --describe MODEL` shows its config keys. Without both, runs the main job.")
    p.add_argument("task", nargs="?", help="a registered task (hyperzoo tasks)")
    p.add_argument("model", nargs="?", help="a registered model that fits the task (hyperzoo models)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a config key (model.width=64, epochs=5, seeds=[0,1,2]); values parse as JSON, else strings")
    p.add_argument("--config", metavar="FILE", help="rerun a run directory's config.json")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/<task>-<model>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("predict", help="a trained run's outputs on inputs from a .npy/.npz file")
    p.add_argument("run_dir")
    p.add_argument("file", help=".npy, or .npz (the array 'x', the only one, or --key)")
    p.add_argument("--key", help="the array of an .npz to use")
    p.add_argument("--out", metavar="FILE", help="where to write the outputs (.npy; default predictions.npy)")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("plot", help="training and validation curves of runs (overlaid) to a PNG")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", default="curves.png", metavar="FILE", help="the PNG to write (default curves.png)")
    p.add_argument("--metrics", help="comma-separated history keys (default: every train_*/val_* metric)")
    p.set_defaults(func=cmd_plot)
    p = sub.add_parser("evaluate", help="a trained run's metrics on a split of its task (or another task)")
    p.add_argument("run_dir")
    p.add_argument("--task", help="evaluate on this task instead of the run's")
    p.add_argument("--split", default="test")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)
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


def _cli_wording(message: str) -> str:
    """Errors raised by the Python API name its keywords; on the command line, name the flags."""
    for python, flag in (("resume=True", "--resume"), ("out_dir", "--out")):
        message = message.replace(python, flag)
    return message


def main(argv: list[str] | None = None) -> int:
    from .data import DataNotFoundError
    from .dispatch import BackendError
    from .registry import RegistryError

    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `hyperzoo tasks --json | head`: the reader left; exit quietly like other tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ConfigError, RegistryError, BackendError, DataNotFoundError, FileExistsError, FileNotFoundError) as exc:
        lines = [line.strip() for line in _cli_wording(str(exc)).splitlines() if line.strip()]
        text = " ".join(lines[:1] + ["; ".join(lines[1:]).replace(":; ", ": ")])  # one line, as docs/cli.md says
        print(f"hyperzoo: error: {text.strip()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hyperzoo: interrupted (resume with --resume and the same --out)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
