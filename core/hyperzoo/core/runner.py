"""``core.run(task, model, **config)``: build, train or fit, evaluate, record -- one call for any fitting pair.

Config keys are routed to the task factory, the model factory or the :class:`Trainer` by their signatures.
A key that two of them accept, or none, is an error listing the valid keys; the dotted form
(``model.width=64``, ``task.seed=1``, ``trainer.lr=1e-3``) is always accepted. The task supplies data-derived
sizes (``in_channels``, ``num_classes``, ...) as model defaults; the user's config overrides them.

With ``out_dir`` the run directory holds ``config.json``, ``history.json``, ``metrics.json``, a training
``checkpoint.pt`` and the final ``model.pt``, each written atomically. ``resume=True`` continues a killed run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import model_fits, task_kind
from .config import ConfigError, bound_config, check_kwargs, jsonable, parameters
from .discovery import CORE_VERSION, plugins, registry
from .io import load_checkpoint, read_json, save_checkpoint, write_json
from .model import is_estimator
from .registry import resolve, suggest
from .task import SupervisedTask
from .trainer import Trainer, aggregate, resolve_threads, seed_everything

__all__ = ["run", "run_config", "load", "RunResult"]

COMPONENTS = ("task", "model", "trainer")
_RUN_KEYS = ("seed", "seeds", "device", "out_dir", "resume", "progress", "callbacks")


@dataclass
class RunResult:
    """What :func:`run` returns. Over several seeds ``metrics`` holds means and ``<key>_std`` spreads, ``runs``
    the per-seed results and ``history`` every seed's rows tagged with ``seed``."""

    metrics: dict[str, float]
    history: list[dict[str, Any]]
    model: Any
    config: dict[str, Any]
    run_dir: Path | None
    runs: list[RunResult] = field(default_factory=list)
    reports: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    total_seconds: float = 0.0
    earlier_seconds: float = 0.0  # time of earlier sessions of a resumed run (timing.json)

    def summary(self) -> str:
        """A short human-readable report (what ``hyperzoo run`` prints)."""
        lines = [f"task {self.config['task']}, model {self.config['model']}"
                 + (f", seeds {self.config['seeds']}" if self.config.get("seeds") else f", seed {self.config['seed']}")
                 + (f", {self.config['threads']} thread(s)" if self.config.get("threads") else "")]
        shown = [k for k in self.metrics
                 if not k.endswith("_std") and not k.startswith("params") and "_class" not in k]
        width = max([len(k) for k in shown] + [10]) + 2

        def number(v: float) -> str:
            return f"{int(v):,}" if float(v).is_integer() and abs(v) < 1e15 else f"{v:.4f}"

        if "params" in self.metrics:
            parts = [f"{k.removeprefix('params_')} {int(v):,}" for k, v in self.metrics.items()
                     if k.startswith("params_") and not k.endswith("_std")]
            lines.append(f"  {'parameters':<{width}}{int(self.metrics['params']):,}"
                         + (f"  ({', '.join(parts)})" if parts else ""))
        for k in shown:
            v, std = self.metrics[k], self.metrics.get(f"{k}_std")
            whole = float(v).is_integer() and (std is None or float(std).is_integer())
            text = number(v) if whole else f"{v:.4f}"
            if std is not None:
                text += f" ± {number(std) if whole else f'{std:.4f}'}"
            lines.append(f"  {k:<{width}}{text}")
        time_text = f"{self.seconds:.1f} s"
        if self.earlier_seconds > 0:
            time_text += f" (this session; {self.total_seconds:.1f} s in all, with the earlier sessions)"
        lines.append(f"  {'time':<{width}}{time_text}")
        where = self.run_dir if self.run_dir is not None else "(not saved; pass out_dir)"
        lines.append(f"  {'run dir':<{width}}{where}")
        return "\n".join(lines)


# -- resolving what to build ---------------------------------------------------------------------------------
def load_factory(kind: str, spec: Any) -> tuple[Any, str]:
    """(factory, recorded name) for a registered name or a ``"module:Class"`` path (used by reruns of instances)."""
    if isinstance(spec, str) and ":" in spec:
        return resolve(spec, what=kind), spec
    return registry().get(kind, spec).load(), spec


def instance_spec(obj: Any) -> tuple[str, dict[str, Any]]:
    """How an instance was built: core's record if it came from a factory, else its ``__init__`` arguments
    read back scikit-learn style from same-named attributes."""
    spec = getattr(obj, "hyperzoo_spec", None)
    if spec is not None:
        return spec["name"], dict(spec["args"])
    cls = type(obj)
    named, _ = parameters(cls)
    args = {n: getattr(obj, n) for n in named if hasattr(obj, n)}
    return f"{cls.__module__}:{cls.__qualname__}", jsonable(args)


def _route(config: dict[str, Any], targets: dict[str, tuple[dict[str, Any], bool] | None],
           names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Split ``config`` into per-component kwargs. ``targets[c]`` is (parameters, takes **kwargs) or None for an
    instance (which accepts no config)."""
    routed: dict[str, dict[str, Any]] = {c: {} for c in COMPONENTS}

    def valid() -> str:
        parts = []
        for c in COMPONENTS:
            t = targets[c]
            keys = ", ".join(sorted(t[0])) if t is not None else "(an instance: configure it before passing it)"
            parts.append(f"  {c}{' ' + names[c] if names[c] else ''}: {keys}")
        return "valid keys:\n" + "\n".join(parts) + "\n  run: " + ", ".join(_RUN_KEYS)

    for key, value in config.items():
        comp, dot, sub = key.partition(".")
        if dot:
            if comp not in COMPONENTS:
                raise ConfigError(f"config key {key!r}: prefix must be task., model. or trainer.\n{valid()}")
            t = targets[comp]
            if t is None:
                raise ConfigError(f"config key {key!r}: the {comp} is an instance; configure it before passing it")
            if sub not in t[0] and not t[1]:
                close = suggest(sub, t[0])
                hint = f" Did you mean {comp}.{close[0]}?" if close else ""
                raise ConfigError(f"{comp} {names[comp]} has no argument {sub!r}.{hint}\n{valid()}")
            routed[comp][sub] = value
            continue
        takers = [c for c in COMPONENTS if targets[c] is not None and key in targets[c][0]]
        if not takers:
            every = [k for c in COMPONENTS if targets[c] is not None for k in targets[c][0]]
            close = suggest(key, every + list(_RUN_KEYS))
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown config key {key!r}.{hint}\n{valid()}")
        if len(takers) > 1:
            raise ConfigError(f"config key {key!r} is ambiguous: {' and '.join(takers)} both accept it; write "
                              + " or ".join(f"{c}.{key}={value!r}" for c in takers))
        routed[takers[0]][key] = value
    return routed


def _device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {device!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:N]'") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise ConfigError(f"device {str(device)!r}: CUDA is not available here (torch {torch.__version__}, "
                              f"{build}, sees no GPU); device='auto' would pick 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type not in ("cpu", "mps", "xpu", "meta"):
        raise ConfigError(f"device {str(device)!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'")
    return dev


def _distributed() -> tuple[int, int, bool]:
    """(rank, world size, whether we initialised the process group) -- from torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        created = True
    return dist.get_rank(), dist.get_world_size(), created


# -- the run ---------------------------------------------------------------------------------------------------
def run(task: Any, model: Any, *, seed: int = 0, seeds: list[int] | None = None, device: str = "auto",
        out_dir: str | os.PathLike | None = None, resume: bool = False, progress: bool | str | None = None,
        callbacks: list[Any] | None = None, **config: Any) -> RunResult:
    """Run ``model`` on ``task`` (registered names or instances) and return a :class:`RunResult`.

    Args:
        seed: seeds Python, NumPy and torch (model initialisation, data order, dropout).
        seeds: run once per seed; metrics become means with ``<key>_std`` spreads.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``...
        out_dir: write the run directory here (atomically); ``resume=True`` continues one. Without it
            nothing is written.
        progress: ``"bar"`` (a progress bar), ``"lines"`` (one line per epoch on stderr), ``False`` (quiet);
            default: a bar when stderr is a terminal, else lines.
        callbacks: functions called with each epoch's history row (not recorded in the config); an exception
            raised by one ends the run.
        **config: task, model and trainer keyword arguments (plain or dotted keys).
    """
    started = time.perf_counter()
    if seeds is not None:
        seeds = list(seeds)
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ConfigError(f"seeds must be a non-empty list of ints, got {seeds!r}")
        if len(seeds) > 1 and not isinstance(model, str):
            raise ConfigError("seeds=[...] needs a registered model name: an instance cannot be re-initialised "
                              "per seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an int, got {seed!r}")
    if progress not in (None, True, False, "bar", "lines"):
        raise ConfigError(f"progress must be 'bar', 'lines', True or False, got {progress!r}")
    dev = _device(device)
    out = Path(out_dir) if out_dir is not None else None
    if resume and (out is None or not out.is_dir()):
        raise ConfigError("resume=True needs the run directory to continue, but "
                          + ("no out_dir was given" if out is None else f"{str(out)!r} does not exist")
                          + "; pass the out_dir of an earlier run, or drop resume to start one")

    plan = prepare(task, model, **config)
    resolved = {
        "task": plan.task_name, "model": plan.model_name,
        "task_args": plan.task_args, "model_args": plan.model_args,
        "trainer_args": bound_config(Trainer, plan.trainer_kwargs),
        "seed": seed, "seeds": seeds, "device": str(device), "threads": plan.threads,
        "versions": {"hyperzoo": CORE_VERSION, "torch": torch.__version__,
                     **{p.name: p.version for p in plugins() if p.status == "loaded" and p.name != "core"}},
    }
    ctx = _RunContext(plan.task, model, plan.build_model, plan.trainer_kwargs, dev, resume, progress,
                      list(callbacks or []))
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(plan.threads)
    rank, world, created = _distributed()
    ctx.rank, ctx.world = rank, world
    try:
        if seeds is None:
            result = _run_one(ctx, resolved, seed, out)
        else:
            if out is not None and rank == 0:
                resolved = _prepare_dir(out, resolved, resume)
            runs = [_run_one(ctx, resolved, s, out / f"seed-{s}" if out is not None else None) for s in seeds]
            metrics = aggregate(r.metrics for r in runs)
            history = [{"seed": s, **row} for s, r in zip(seeds, runs) for row in r.history]
            result = RunResult(metrics, history, runs[0].model, resolved, out, runs=runs,
                               earlier_seconds=sum(r.earlier_seconds for r in runs))
            if out is not None and rank == 0:
                write_json(out / "history.json", history)
                write_json(out / "metrics.json", metrics)
    finally:
        torch.set_num_threads(previous_threads)
        if created:
            import torch.distributed as dist

            dist.destroy_process_group()
    result.seconds = time.perf_counter() - started
    result.total_seconds = result.earlier_seconds + result.seconds
    return result


@dataclass
class RunPlan:
    """What :func:`run` builds before it trains: the task object, the model factory's arguments (data-derived
    defaults under the user's config) and the trainer settings, every one checked (see :func:`prepare`)."""

    task: Any
    task_name: str
    task_args: dict[str, Any]
    model: Any
    model_name: str
    model_factory: Any
    model_kwargs: dict[str, Any]
    model_args: dict[str, Any]
    trainer_kwargs: dict[str, Any]
    threads: int

    def build_model(self) -> Any:
        """A fresh model from the factory (a run given a model instance has none)."""
        if self.model_factory is None:
            raise ConfigError("this run was given a model instance; make_model() needs a registered model name")
        obj = _call_factory(self.model_factory, self.model_kwargs, "model")
        try:
            obj.hyperzoo_spec = {"name": self.model_name, "args": self.model_args}
        except AttributeError:
            pass
        return obj


def prepare(task: Any, model: Any, *, task_cache: dict[str, Any] | None = None, **config: Any) -> RunPlan:
    """Route ``config`` (task, model and trainer keys, plain or dotted) exactly as :func:`run` does, build the
    task and check every argument, without training anything: the kind check, unknown or unhonoured keys and
    out-of-range trainer settings fail here. ``task_cache`` (a dict) reuses the task built for the same name and
    arguments, as sweeps do across candidates."""
    task_factory = model_factory = None
    task_name = model_name = ""
    if isinstance(task, str):
        task_factory, task_name = load_factory("task", task)
    else:
        task_name, _ = instance_spec(task)
    if isinstance(model, str):
        model_factory, model_name = load_factory("model", model)
    else:
        model_name, _ = instance_spec(model)
    for comp, factory, name in (("task", task_factory, task_name), ("model", model_factory, model_name)):
        clash = sorted(set(parameters(factory)[0]) & set(_RUN_KEYS)) if factory is not None else []
        if clash:
            raise ConfigError(f"{comp} {name!r} takes {clash}, which are run settings of core.run; rename the "
                              f"parameter (docs/naming.md: a data seed is split_seed)")
    targets = {"task": parameters(task_factory) if task_factory else None,
               "model": parameters(model_factory) if model_factory else None,
               "trainer": parameters(Trainer)}
    routed = _route(config, targets, {"task": task_name, "model": model_name, "trainer": ""})

    # The task, and the kind check before anything heavy happens.
    if task_factory is not None:
        check_kwargs(task_factory, routed["task"], "task")
        kind = task_kind(task) if ":" not in task else getattr(task_factory, "kind", None)
        task_args = bound_config(task_factory, routed["task"])
        key = json.dumps([task_name, jsonable(task_args)], sort_keys=True)
        if task_cache is not None and key in task_cache:
            task_obj = task_cache[key]
        else:
            task_obj = _call_factory(task_factory, routed["task"], "task")
            if task_cache is not None:
                task_cache[key] = task_obj
    else:
        task_obj, kind = task, getattr(task, "kind", None)
        task_args = instance_spec(task)[1]
    if isinstance(model, str) and ":" not in model:
        fits = model_fits(model)
    else:
        fits = tuple(getattr(model_factory if model_factory is not None else model, "fits", ()) or ())
    if fits and kind not in fits:
        raise ConfigError(f"model {model_name!r} fits {list(fits)}, but task {task_name!r} is of kind {kind!r}; "
                          f"pick a model that fits {kind!r} (`hyperzoo models`)")

    # Model arguments: data-derived defaults under the user's config.
    if model_factory is not None:
        named, var_kw = parameters(model_factory)
        derived = {k: v for k, v in dict(task_obj.model_defaults()).items() if var_kw or k in named}
        model_kwargs = {**derived, **routed["model"]}
        check_kwargs(model_factory, model_kwargs, "model")
        model_args = bound_config(model_factory, model_kwargs)
    else:
        model_kwargs, model_args = {}, instance_spec(model)[1]

    # Trainer settings: only those the task's procedure honours.
    honoured = trainer_keys(task_obj)
    defaults = dict(getattr(task_obj, "trainer_defaults", dict)())
    for source, keys in (("the config", routed["trainer"]), (f"task {task_name!r}'s trainer_defaults()", defaults)):
        ignored = sorted(set(keys) - set(honoured))
        if ignored:
            listed = ", ".join(honoured) if honoured else "none (it trains nothing with core's trainer)"
            raise ConfigError(f"task {task_name!r} does not use the trainer setting(s) {ignored} given by {source}; "
                              f"its procedure honours: {listed}")
    trainer_kwargs = {**defaults, **routed["trainer"]}
    check_kwargs(Trainer, trainer_kwargs, "trainer")
    Trainer(**trainer_kwargs)  # out-of-range values fail here, before any run dir exists
    if "optimizer" in honoured:
        registry().get("optimizer", trainer_kwargs.get("optimizer", "adamw"))
    return RunPlan(task_obj, task_name, task_args, model, model_name, model_factory, model_kwargs, model_args,
                   trainer_kwargs, resolve_threads(trainer_kwargs.get("threads", "auto")))


def trainer_keys(task: Any) -> tuple[str, ...]:
    """The trainer settings ``task``'s procedure honours: its ``trainer_keys`` (every setting for a
    :class:`SupervisedTask` that declares none)."""
    declared = getattr(task, "trainer_keys", None)
    if declared is None:
        declared = Trainer.KEYS if isinstance(task, SupervisedTask) else ()
    unknown = sorted(set(declared) - set(Trainer.KEYS))
    if unknown:
        raise ConfigError(f"{type(task).__name__}.trainer_keys names {unknown}, which are not trainer settings; "
                          f"valid: {', '.join(Trainer.KEYS)}")
    return tuple(declared)


def _call_factory(factory: Any, kwargs: dict[str, Any], label: str) -> Any:
    """Call a task/model factory; its ValueError on a bad value becomes a ConfigError naming the component."""
    try:
        return factory(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{label} {getattr(factory, '__name__', factory)!s}: {exc} "
                          f"(set it with {label}.<key>=<value>)") from exc


@dataclass
class _RunContext:
    task: Any
    model: Any
    build_model: Any
    trainer_kwargs: dict[str, Any]
    device: torch.device
    resume: bool
    progress: bool | str | None
    callbacks: list[Any]
    rank: int = 0
    world: int = 1


_SAVED = ("checkpoint.pt", "model.pt")


def holds_run(out: Path) -> bool:
    """Whether ``out`` holds a run worth keeping: a checkpoint or a model (a bare config.json does not count)."""
    if not out.is_dir():
        return False
    return any(out.glob("*.pt")) or any(holds_run(d) for d in out.glob("seed-*"))


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in config.items() if k not in ("versions", "device", "seeds", "threads", "budgets")}
    out["trainer_args"] = {k: v for k, v in (config.get("trainer_args") or {}).items() if k != "epochs"}
    return out


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{k}" + f": {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b))
                    if a.get(k) != b.get(k)]
        elif a != b:
            out.append(f"{key}: {a!r} → {b!r}")
    return out


def _prepare_dir(out: Path, resolved: dict[str, Any], resume: bool) -> dict[str, Any]:
    """Write config.json; refuse to overwrite a run, or to resume with another config. Returns the config as
    recorded (a resume that raises ``epochs`` records every budget under ``budgets``)."""
    cfg_path = out / "config.json"
    resolved = jsonable(resolved)
    if holds_run(out):
        if not resume:
            raise FileExistsError(f"{str(out)!r} already holds a run; pass resume=True to continue it, "
                                  "or choose another out_dir (nothing was overwritten)")
        previous = read_json(cfg_path) if cfg_path.exists() else resolved
        diff = _differences(_comparable(previous), _comparable(resolved))
        if diff:
            raise ConfigError(f"cannot resume {str(out)!r}: its config differs in " + "; ".join(diff)
                              + " (only trainer.epochs may change on resume); rerun with the same config or "
                              "another out_dir")
        old_epochs = (previous.get("trainer_args") or {}).get("epochs")
        new_epochs = (resolved.get("trainer_args") or {}).get("epochs")
        budgets = list(previous.get("budgets") or [old_epochs])
        if new_epochs != budgets[-1]:
            budgets.append(new_epochs)
        if len(budgets) > 1:
            resolved = {**resolved, "budgets": budgets}
    write_json(cfg_path, resolved)
    return resolved


def _run_one(ctx: _RunContext, resolved: dict[str, Any], seed: int, out: Path | None) -> RunResult:
    started = time.perf_counter()
    config = {**resolved, "seed": seed, "seeds": None}
    seed_everything(seed)
    model = ctx.build_model() if isinstance(ctx.model, str) else ctx.model
    trainer = Trainer(**ctx.trainer_kwargs)
    previous_seconds = 0.0
    if out is not None and ctx.rank == 0:
        grown = False
        if ctx.resume and (out / "config.json").exists():
            old = read_json(out / "config.json").get("trainer_args", {}).get("epochs")
            grown = old is not None and trainer.epochs > old
        config = _prepare_dir(out, config, ctx.resume)
        timing = read_json(out / "timing.json") if ctx.resume and (out / "timing.json").exists() else {}
        previous_seconds = float(sum(timing.get("sessions", [])))
        if ctx.resume and not grown and (out / "metrics.json").exists() and (out / "model.pt").exists():
            loaded, _ = load(out)
            saved = read_json(out / "metrics.json")
            flat = {k: v for k, v in saved.items() if isinstance(v, (int, float))}
            return RunResult(flat, read_json(out / "history.json")
                             if (out / "history.json").exists() else [], loaded, config, out,
                             reports={k: v for k, v in saved.items() if k not in flat},
                             seconds=time.perf_counter() - started, earlier_seconds=previous_seconds)
    trainer.device = ctx.device
    trainer.seed, trainer.run_dir, trainer.resume = seed, out, ctx.resume
    interactive = sys.stderr.isatty()
    trainer.show_progress = ("bar" if interactive else "lines") if ctx.progress in (None, True) else ctx.progress
    if ctx.progress is True and not interactive:
        trainer.show_progress = "bar"
    trainer.callbacks = ctx.callbacks
    trainer.rank, trainer.world_size = ctx.rank, ctx.world
    trainer._model_factory = ctx.build_model
    if isinstance(model, torch.nn.Module):
        model.to(ctx.device)
    metrics = {k: float(v) for k, v in dict(ctx.task.run(model, trainer)).items()}
    if isinstance(model, torch.nn.Module):
        metrics.update(parameter_counts(model))
    seconds = time.perf_counter() - started
    if out is not None and ctx.rank == 0:
        save_checkpoint(out / "model.pt", _state(model))
        write_json(out / "history.json", trainer.history)
        write_json(out / "metrics.json", {**metrics, **trainer.reports})
        sessions = (read_json(out / "timing.json").get("sessions", []) if ctx.resume and
                    (out / "timing.json").exists() else [])
        write_json(out / "timing.json", {"sessions": [*sessions, seconds], "total": sum(sessions) + seconds})
    return RunResult(metrics, trainer.history, model, config, out, reports=dict(trainer.reports), seconds=seconds,
                     earlier_seconds=previous_seconds)


def parameter_counts(model: torch.nn.Module) -> dict[str, float]:
    """``params`` (trainable parameters) and ``params_<child>`` for each top-level module that has any."""
    counts = {"params": float(sum(p.numel() for p in model.parameters() if p.requires_grad))}
    for name, child in model.named_children():
        n = sum(p.numel() for p in child.parameters() if p.requires_grad)
        if n:
            counts[f"params_{name}"] = float(n)
    return counts


def _state(model: Any) -> dict[str, Any]:
    if not callable(getattr(model, "state_dict", None)):
        raise TypeError(f"{type(model).__name__} has no state_dict(); models and estimators must implement "
                        "state_dict()/load_state_dict() to be saved without pickle")
    state = model.state_dict()
    if isinstance(model, torch.nn.Module):
        state = {k: v.detach().cpu() for k, v in state.items()}
    return {"format": 1, "estimator": is_estimator(model), "state": state}


def run_config(config: dict[str, Any], **overrides: Any) -> RunResult:
    """Rerun a recorded ``config.json`` (``overrides`` are ``run``'s keywords or config keys, dotted or not)."""
    for key in ("task", "model"):
        if key not in config:
            raise ConfigError(f"config has no {key!r}; is it a hyperzoo run's config.json?")
    kwargs: dict[str, Any] = {f"{c}.{k}": v for c in COMPONENTS for k, v in (config.get(f"{c}_args") or {}).items()}
    run_kw = {k: config[k] for k in ("seed", "seeds", "device") if k in config}
    for key, value in overrides.items():
        if key in _RUN_KEYS:
            run_kw[key] = value
        else:
            dotted = [k for k in kwargs if k.partition(".")[2] == key]
            kwargs[dotted[0] if len(dotted) == 1 and "." not in key else key] = value
    return run(config["task"], config["model"], **run_kw, **kwargs)


def load(run_dir: str | os.PathLike, *, seed: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The trained model (in eval mode, on the CPU) and the config of a run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run directory (no config.json)")
    config = read_json(run_dir / "config.json")
    if config.get("seeds"):
        if seed is None:
            raise ValueError(f"{str(run_dir)!r} holds seeds {config['seeds']}; pass seed=... or load "
                             f"{str(run_dir / ('seed-' + str(config['seeds'][0])))!r}")
        return load(run_dir / f"seed-{seed}")
    if not (run_dir / "model.pt").exists():
        raise FileNotFoundError(f"{str(run_dir)!r} has no model.pt: the run did not finish (resume it first)")
    factory, _ = load_factory("model", config["model"])
    model = factory(**config["model_args"])
    saved = load_checkpoint(run_dir / "model.pt")
    model.load_state_dict(saved["state"])
    if isinstance(model, torch.nn.Module):
        model.eval()
    try:
        model.hyperzoo_spec = {"name": config["model"], "args": config["model_args"]}
    except AttributeError:
        pass
    return model, config
