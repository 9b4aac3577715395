"""``core.sweep``: hyperparameter searches on Optuna, each trial one ``core.run``.

    from hyperzoo import core
    result = core.sweep("digits-seq", "mlp", {"width": [32, 64, 128], "lr": [1e-3, 3e-3]}, n_trials=4,
                        out_dir="runs/sweep-mlp", epochs=5)
    result.best_value, result.best_config

- **Search space.** ``space`` maps a config key (plain or dotted, exactly as ``core.run`` accepts) to a list of
  choices or an Optuna distribution (``optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)``, ...).
  ``**config`` is passed to every trial's ``core.run``.
- **Storage.** With ``out_dir`` the study is an embedded SQLite file, ``<out_dir>/study.db``, and each trial runs in
  ``<out_dir>/trial-<n>``; without it the study lives in memory. ``storage="postgresql://..."`` (any RDB URL)
  lets many workers, on many machines, share one study: start the same sweep on each, the trials add up.
  Rerunning a sweep on the same ``out_dir`` (or storage and study name) continues its study: ``n_trials``
  more trials, with the sampler seeing every earlier one. A trial whose worker died is noticed by Optuna's
  heartbeat (RDB storages) and retried; the retry resumes the dead trial's run directory from its checkpoint.
- **Objective.** ``metric`` defaults to ``"val_" + task.monitor`` and ``direction`` to the task's
  ``monitor_mode``. A trial whose training diverges (``FloatingPointError``) is recorded as failed and the sweep
  goes on; any other error stops it.
- **Pruning** reads the trainer's per-epoch validation rows through ``core.run(callbacks=[...])`` and reports
  ``metric`` to Optuna's pruner after every epoch (Optuna's default ``MedianPruner`` unless ``pruner`` is given).
- **Functional hashing** (``functional_hash=True``; Gillard et al., "Unified Functional Hashing in Automatic
  Machine Learning", arXiv:2302.05433): before training, each candidate is hashed by its outputs on a fixed
  probe batch after initialisation and after its first ``k`` training steps (rounded to a stated number of
  significant digits), together with the settings that act only later in training; a candidate whose hash
  matches a finished trial reuses that trial's result instead of training. See :func:`functional_hash`.
- **Step Law prior** (``prior="step-law"``): the learning rate is searched log-uniformly within a factor
  ``prior_span`` either side of Step Law's suggestion for each candidate's size and training tokens
  (:mod:`hyperzoo.core.steplaw`).

Optuna is imported only when a sweep starts: ``import hyperzoo.core`` stays free of it (and of torch).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ConfigError, jsonable

__all__ = ["sweep", "SweepResult", "functional_hash", "FunctionalHash", "parse_space", "step_law_suggestion"]

# Keys a sweep owns: every trial's run directory, resumption and pruning hooks.
_OWNED_KEYS = ("out_dir", "resume", "callbacks")
# Run keys that change where or how visibly a trial runs, not its result: a rerun may change them.
_PRESENTATION_KEYS = ("progress", "device", "threads")
PRIOR_PARAM = "step_law.lr_factor"
HEARTBEAT_INTERVAL, GRACE_PERIOD = 30, 90  # seconds (RDB storages: a dead worker's trial is retried after this)
_OBSERVED_TRAINER_KEYS = ("lr", "batch_size", "weight_decay", "optimizer", "label_smoothing", "scheduler",
                          "warmup_epochs")
_PROBE_VERSION = 1


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - optuna is in the test extra
        raise ImportError("core.sweep needs Optuna: pip install 'hyperzoo[sweep]' (or pip install optuna)") from exc
    return optuna


# -- the search space --------------------------------------------------------------------------------------------
_SCALARS = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class _Dimension:
    key: str
    distribution: Any
    decode: dict[str, Any] | None = None  # JSON-encoded choices (lists, dicts) -> their values

    def suggest(self, trial: Any) -> Any:
        optuna = _optuna()
        d = self.distribution
        if isinstance(d, optuna.distributions.CategoricalDistribution):
            value = trial.suggest_categorical(self.key, list(d.choices))
            return self.decode[value] if self.decode is not None else value
        if isinstance(d, optuna.distributions.FloatDistribution):
            return trial.suggest_float(self.key, d.low, d.high, log=d.log, step=d.step)
        if isinstance(d, optuna.distributions.IntDistribution):
            return trial.suggest_int(self.key, d.low, d.high, log=d.log, step=d.step)
        raise ConfigError(f"space[{self.key!r}]: unsupported distribution {type(d).__name__}; use a list of "
                          "choices, FloatDistribution, IntDistribution or CategoricalDistribution")

    def example(self) -> Any:
        optuna = _optuna()
        d = self.distribution
        if isinstance(d, optuna.distributions.CategoricalDistribution):
            first = d.choices[0]
            return self.decode[first] if self.decode is not None else first
        return d.low


def _dimensions(space: Mapping[str, Any]) -> list[_Dimension]:
    optuna = _optuna()
    if not isinstance(space, Mapping) or not space:
        raise ConfigError(f"space must be a non-empty dict of config key -> list of choices or Optuna distribution, "
                          f"got {space!r}")
    dims = []
    for key, value in space.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"space keys are config keys (strings such as 'width' or 'model.width'), got {key!r}")
        if isinstance(value, optuna.distributions.BaseDistribution):
            dims.append(_Dimension(key, value))
            continue
        if isinstance(value, (list, tuple)):
            if not value:
                raise ConfigError(f"space[{key!r}] is an empty list; give at least one choice")
            if all(isinstance(v, _SCALARS) for v in value):
                dims.append(_Dimension(key, optuna.distributions.CategoricalDistribution(list(value))))
                continue
            try:  # lists or dicts as choices: Optuna stores JSON strings, the trial gets the value back
                encoded = {json.dumps(v, sort_keys=True): v for v in value}
            except TypeError as exc:
                raise ConfigError(f"space[{key!r}]: choices must be JSON values (numbers, strings, lists, dicts), "
                                  f"got {value!r}") from exc
            dims.append(_Dimension(key, optuna.distributions.CategoricalDistribution(list(encoded)), encoded))
            continue
        raise ConfigError(f"space[{key!r}] must be a list of choices or an Optuna distribution "
                          f"(optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)), got {value!r}")
    return dims


_RANGE = re.compile(r"^(float|log|int|intlog)\(\s*([^,]+?)\s*,\s*([^,]+?)\s*\)$")


def parse_space(items: list[str]) -> dict[str, Any]:
    """Parse ``hyperzoo sweep --space`` items: ``key=[1, 2, 3]`` (JSON list of choices), ``key=float(0, 0.5)``,
    ``key=log(1e-4, 1e-1)`` (log-uniform), ``key=int(1, 8)`` or ``key=intlog(8, 256)``."""
    optuna = _optuna()
    space: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not eq or not key or not raw:
            raise ConfigError(f"--space expects key=[choices] or key=log(low, high), got {item!r}")
        match = _RANGE.match(raw)
        if match:
            kind, low, high = match.groups()
            try:
                lo, hi = (int(low), int(high)) if kind.startswith("int") else (float(low), float(high))
            except ValueError as exc:
                raise ConfigError(f"--space {item!r}: bounds must be numbers") from exc
            if not lo < hi:
                raise ConfigError(f"--space {item!r}: low must be below high")
            cls = optuna.distributions.IntDistribution if kind.startswith("int") else \
                optuna.distributions.FloatDistribution
            space[key] = cls(lo, hi, log=kind in ("log", "intlog"))
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--space {item!r}: the value must be a JSON list ([16, 32]) or float(a, b), "
                              "log(a, b), int(a, b), intlog(a, b)") from exc
        if not isinstance(value, list):
            raise ConfigError(f"--space {item!r}: give a list of choices ({key}=[{raw}]) or a range")
        space[key] = value
    return space


# -- resolving a candidate the way core.run does -------------------------------------------------------------
@dataclass
class _Candidate:
    task_name: str
    task_args: dict[str, Any]
    task_obj: Any
    model_factory: Any
    model_kwargs: dict[str, Any]
    trainer_kwargs: dict[str, Any]
    seed: int
    seeds: list[int] | None
    build_model: Any


def _resolve(task: Any, model: Any, config: Mapping[str, Any], cache: dict[str, Any] | None = None) -> _Candidate:
    """Route ``config`` exactly as ``core.run`` does (:func:`runner.prepare`) and build the task (cached per task
    config) and the model factory's arguments, without training anything."""
    from . import runner

    config = dict(config)
    seed = config.pop("seed", 0)
    seeds = config.pop("seeds", None)
    config.pop("device", None)
    config.pop("progress", None)
    if not isinstance(model, str):
        raise ConfigError("functional hashing and sweeps need a registered model name (each candidate builds a "
                          "fresh model); got an instance")
    plan = runner.prepare(task, model, task_cache=cache, **config)
    return _Candidate(plan.task_name, jsonable(plan.task_args), plan.task, plan.model_factory, plan.model_kwargs,
                      plan.trainer_kwargs, seed, seeds, plan.build_model)


# -- functional hashing ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionalHash:
    """A candidate's functional hash. ``digest`` is what a sweep compares; ``init_digest`` and
    ``trained_digest`` hash the rounded probe outputs after initialisation and after ``steps`` training steps,
    ``static`` holds the settings hashed by value (those the probe cannot observe)."""

    digest: str
    init_digest: str
    trained_digest: str
    static: dict[str, Any]
    seconds: float


def _rounded(values: Any, digits: int) -> list[str]:
    """Each value to ``digits`` significant digits, as text (so -0.0 == 0.0 and the hash is platform-stable)."""
    out = []
    for v in values:
        v = float(v)
        if math.isnan(v):
            out.append("nan")
        elif math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        else:
            text = f"{v:.{digits - 1}e}"
            out.append("0" if float(text) == 0.0 else text)
    return out


def _flat_outputs(outputs: Any) -> list[float]:
    import torch

    if isinstance(outputs, torch.Tensor):
        return outputs.detach().double().cpu().reshape(-1).tolist()
    if isinstance(outputs, Mapping):
        return [v for k in sorted(outputs) for v in _flat_outputs(outputs[k])]
    if isinstance(outputs, (list, tuple)):
        return [v for o in outputs for v in _flat_outputs(o)]
    raise TypeError(f"functional hashing reads tensor outputs; the task's forward returned {type(outputs).__name__}")


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, allow_nan=True).encode()).hexdigest()


def _lr_multipliers(trainer: Any, digits: int) -> list[str]:
    """The per-epoch learning-rate multipliers of the trainer's schedule (e.g. cosine over ``epochs``)."""
    import torch

    holder = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(1))])  # no RNG draw
    opt, sched = trainer.make_optimizer(holder)
    factors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping the scheduler without optimiser steps is the point here
        for _ in range(max(int(trainer.epochs), 1)):
            factors.append(opt.param_groups[0]["lr"] / trainer.lr)
            if sched is not None:
                sched.step()
    return _rounded(factors, digits)


def _hash_candidate(cand: _Candidate, *, probe_size: int, steps: int, digits: int) -> FunctionalHash:
    import torch
    from torch import nn

    from .config import bound_config
    from .task import SupervisedTask
    from .trainer import Trainer, _with_aux, seed_everything

    started = time.perf_counter()
    task = cand.task_obj
    if not isinstance(task, SupervisedTask) or type(task).run is not SupervisedTask.run:
        raise ConfigError(f"functional hashing probes a supervised task trained by core's Trainer.fit; task "
                          f"{cand.task_name!r} runs its own procedure, so its probe would not describe the run")
    if cand.seeds is not None and len(cand.seeds) != 1:
        raise ConfigError("functional hashing probes one seed; sweep with seed=... rather than seeds=[...]")
    seed = cand.seeds[0] if cand.seeds else cand.seed
    trainer = Trainer(**cand.trainer_kwargs)
    trainer.device, trainer.seed = torch.device("cpu"), seed  # the probe runs on the CPU, whatever the run's device
    trainer_args = bound_config(Trainer, cand.trainer_kwargs)
    static = {"task": cand.task_name, "task_args": cand.task_args, "seed": seed,
              "trainer": {k: v for k, v in jsonable(trainer_args).items() if k not in _OBSERVED_TRAINER_KEYS},
              "lr_multipliers": _lr_multipliers(trainer, digits),
              "probe": {"size": probe_size, "steps": steps, "digits": digits, "version": _PROBE_VERSION}}
    splits = task.splits()
    train = splits["train"]
    probe_set = splits.get("val")
    if probe_set is None or len(probe_set) == 0:
        probe_set = train
    probe = next(trainer._batches(probe_set, list(range(min(probe_size, len(probe_set)))), probe_size,
                                  getattr(task, "collate", None)))

    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG as it was
        seed_everything(seed)  # as core.run does before building the model: the run's exact initialisation
        model = cand.build_model()
        if not isinstance(model, nn.Module):
            raise ConfigError(f"functional hashing needs a torch model; {type(model).__name__} is not an nn.Module")
        model.to(trainer.device)

        def outputs() -> list[str]:
            was = model.training
            model.eval()
            with torch.no_grad():
                out, _ = task.forward(model, probe)
            model.train(was)
            return _rounded(_flat_outputs(out), digits)

        at_init = outputs()
        opt, _ = trainer.make_optimizer(model)
        model.train()
        collate = getattr(task, "collate", None)
        batches = trainer._batches(train, trainer._indices(len(train), 0), trainer.batch_size, collate)
        for _, batch in zip(range(steps), batches):  # the run's first `steps` steps, as Trainer.fit takes them
            out, target = task.forward(model, batch)
            loss = task.loss(out, target, label_smoothing=trainer.label_smoothing)
            _, total = _with_aux(model, loss)
            trainer.optimize(total, opt, model)
        trained = outputs()
    init_digest, trained_digest = _sha(at_init), _sha(trained)
    digest = _sha({"static": static, "init": init_digest, "trained": trained_digest})
    return FunctionalHash(digest, init_digest, trained_digest, static, time.perf_counter() - started)


def functional_hash(task: Any, model: str, *, probe_size: int = 32, steps: int = 2, digits: int = 6,
                    **config: Any) -> FunctionalHash:
    """Hash the candidate ``core.run(task, model, **config)`` would train, by what it computes.

    The candidate is built exactly as ``core.run`` builds it (same seed, so the same initial weights) on the CPU;
    its outputs on a fixed probe batch (the first ``probe_size`` validation examples) are recorded after
    initialisation and again after its first ``steps`` training steps (the run's own first batches, optimiser,
    loss, label smoothing, auxiliary losses and gradient clipping), each rounded to ``digits`` significant
    digits. The digest covers both, plus, by value, what the probe cannot observe: the task and its config,
    the seed, the per-epoch learning-rate multipliers of the schedule, and every trainer setting that acts only
    later (``epochs``, ``patience``, ``grad_clip``, ...).

    Why equal hashes mean equal training: two candidates that start from the same function (initial outputs)
    and move the same way under the same first updates (outputs after ``steps`` steps), with the same data,
    seed, schedule and stopping rules, train the same way. This is exact when their computations are the same
    up to naming -- an unused width (an MLP with ``depth=0``), a dropout probability with no dropout module
    (a one-layer LSTM), ``adam`` and ``adamw`` without weight decay, a batch size at or above the training
    set's size -- and the hash then finds them whatever their configs say. It is a heuristic, like the paper's,
    where a difference acts only after ``steps`` steps (an optimiser that changes behaviour late; raise
    ``steps``) or below the rounding (``digits``). Zero-initialised parts are why the probe trains: such a
    branch leaves the initial outputs unchanged, and only the outputs after training tell its widths apart.
    """
    for name, value, low in (("probe_size", probe_size, 1), ("steps", steps, 1), ("digits", digits, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be an int >= {low}, got {value!r}")
    return _hash_candidate(_resolve(task, model, config), probe_size=probe_size, steps=steps, digits=digits)


# -- results -----------------------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """What :func:`sweep` returns: the best trial and every trial of the study (from every worker)."""

    study_name: str
    storage: str
    direction: str
    metric: str
    best_trial: int | None
    best_value: float | None
    best_config: dict[str, Any] | None
    best_run_dir: Path | None
    trials: list[dict[str, Any]]
    out_dir: Path | None
    prior: dict[str, Any] | None = None
    seconds: float = 0.0
    study: Any = field(default=None, repr=False)

    @property
    def hash_stats(self) -> dict[str, float] | None:
        """Functional-hash hit rate and time saved over the study's trials (None without hashing).

        ``seconds_saved`` sums the training time of the reused source trials; ``hash_seconds`` is what hashing
        every candidate cost; ``config_hits`` are hits on an identical config, ``functional_hits`` on a
        different config that computes the same thing."""
        hashed = [t for t in self.trials if t.get("functional_hash")]
        if not hashed:
            return None
        hits = [t for t in hashed if t.get("reused_from") is not None]
        by_number = {t["number"]: t for t in self.trials}
        same = sum(1 for t in hits if by_number.get(t["reused_from"], {}).get("config") == t.get("config"))
        saved = sum(float(t.get("saved_seconds") or 0.0) for t in hits)
        cost = sum(float(t.get("hash_seconds") or 0.0) for t in hashed)
        return {"trials": len(hashed), "hits": len(hits), "hit_rate": len(hits) / len(hashed),
                "config_hits": same, "functional_hits": len(hits) - same,
                "distinct_hashes": len({t["functional_hash"] for t in hashed}),
                "seconds_saved": saved, "hash_seconds": cost, "net_seconds_saved": saved - cost}

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"study_name": self.study_name, "storage": self.storage, "direction": self.direction,
                         "metric": self.metric, "n_trials": len(self.trials),
                         "best": {"trial": self.best_trial, "value": self.best_value, "config": self.best_config,
                                  "run_dir": str(self.best_run_dir) if self.best_run_dir else None},
                         "functional_hash": self.hash_stats, "prior": self.prior, "trials": self.trials,
                         "out_dir": str(self.out_dir) if self.out_dir else None, "seconds": self.seconds})

    def summary(self) -> str:
        states: dict[str, int] = {}
        for t in self.trials:
            states[t["state"]] = states.get(t["state"], 0) + 1
        lines = [f"study {self.study_name} ({self.storage}): {len(self.trials)} trials "
                 + ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items()))]
        if self.best_trial is not None:
            lines.append(f"  best trial  {self.best_trial}: {self.metric} = {self.best_value:.4f}")
            lines.append(f"  best config {json.dumps(self.best_config, sort_keys=True)}")
            if self.best_run_dir:
                lines.append(f"  run dir     {self.best_run_dir}")
        stats = self.hash_stats
        if stats:
            lines.append(f"  functional hash: {stats['hits']}/{stats['trials']} hits ({stats['hit_rate']:.0%}), "
                         f"{stats['seconds_saved']:.1f} s of training reused for {stats['hash_seconds']:.1f} s "
                         "of hashing")
        lines.append(f"  time        {self.seconds:.1f} s")
        return "\n".join(lines)


def _trial_record(t: Any) -> dict[str, Any]:
    attrs = t.user_attrs
    return {"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params),
            "config": attrs.get("config"), "metrics": attrs.get("metrics"), "run_dir": attrs.get("run_dir"),
            "seconds": attrs.get("seconds"), "functional_hash": attrs.get("functional_hash"),
            "hash_seconds": attrs.get("hash_seconds"), "reused_from": attrs.get("reused_from"),
            "saved_seconds": attrs.get("saved_seconds"), "pruned_at": attrs.get("pruned_at"),
            "error": attrs.get("error"), "step_law": attrs.get("step_law")}


# -- the sweep ---------------------------------------------------------------------------------------------------
def _storage(storage: Any, out: Path | None) -> tuple[Any, str]:
    optuna = _optuna()
    if storage is None and out is None:
        return None, "in-memory"
    if storage is None:
        out.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{(out / 'study.db').resolve()}"
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage, type(storage).__name__
    if not isinstance(storage, str) or "://" not in storage:
        raise ConfigError(f"storage must be an RDB URL (sqlite:///study.db, postgresql://user@host/db) or an "
                          f"optuna storage, got {storage!r}")
    engine = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite") else None
    import sqlalchemy.exc

    for attempt in range(5):
        try:
            with warnings.catch_warnings():  # heartbeats are marked experimental in Optuna; they resume trials
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                rdb = optuna.storages.RDBStorage(
                    storage, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=GRACE_PERIOD,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
            return rdb, storage
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):
            # Workers started together race to create the schema of a new database: the loser retries and
            # finds the tables the winner made.
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _task_defaults(task: Any, config: Mapping[str, Any]) -> tuple[str, str]:
    """The task's monitored metric and its mode, read from the task class (or an instance)."""
    from . import runner

    obj = runner.load_factory("task", task)[0] if isinstance(task, str) else task
    monitor, mode = getattr(obj, "monitor", None), getattr(obj, "monitor_mode", None)
    if monitor is None or mode is None:
        raise ConfigError(f"task {task!r} declares no monitor/monitor_mode; pass metric= and direction= to sweep")
    return f"val_{monitor}", mode


def _direction(direction: str) -> str:
    table = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
    if direction not in table:
        raise ConfigError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    return table[direction]


def sweep(task: Any, model: str, space: Mapping[str, Any], *, n_trials: int, out_dir: str | os.PathLike | None = None,
          storage: Any = None, study_name: str | None = None, direction: str | None = None,
          metric: str | None = None, prior: str | None = None, prior_span: float = 10.0,
          functional_hash: bool = False, hash_steps: int = 2, hash_probe_size: int = 32, hash_digits: int = 6,
          sampler: Any = None, pruner: Any = None, **config: Any) -> SweepResult:
    """Search ``space`` with Optuna, one ``core.run(task, model, **config, **trial_params)`` per trial.

    Args:
        space: config key (plain or dotted) -> list of choices or an Optuna distribution.
        n_trials: trials this call runs (several workers on one storage each add theirs).
        out_dir: the sweep directory: ``study.db`` (the default storage), ``sweep.json`` and ``trial-<n>/``.
        storage: an RDB URL (``sqlite:///...``, ``postgresql://...``) or an Optuna storage shared by workers.
        study_name: default ``"<task>-<model>"``; rerunning with the same name and storage continues the study.
        direction, metric: default from the task: ``"val_" + task.monitor`` and its ``monitor_mode``.
        prior: ``"step-law"`` searches ``lr`` within ``prior_span`` times either side of Step Law's suggestion.
        functional_hash: reuse the result of an equivalent, already finished candidate (see
            :func:`functional_hash`; ``hash_steps``, ``hash_probe_size``, ``hash_digits`` set its probe).
        sampler, pruner: Optuna objects (default: Optuna's TPE sampler and median pruner).
        **config: passed to every trial's ``core.run`` (task, model, trainer and run keys).
    """
    started = time.perf_counter()
    optuna = _optuna()
    from . import runner
    from .io import write_json

    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(f"n_trials must be a positive int, got {n_trials!r}")
    if not isinstance(model, str):
        raise ConfigError("sweep needs a registered model name: every trial builds a fresh model")
    dims = _dimensions(space)
    for key in _OWNED_KEYS:
        if key in config or key in space:
            raise ConfigError(f"{key!r} is set by the sweep for each trial (out_dir=<sweep dir>/trial-<n>); "
                              "remove it from space/config and pass the sweep's own out_dir")
    both = sorted(set(space) & set(config))
    if both:
        raise ConfigError(f"{both} given both in space and as fixed config; keep each key in one of them")
    if prior not in (None, "step-law"):
        raise ConfigError(f"prior must be None or 'step-law', got {prior!r}")
    if prior is not None:
        clash = [k for k in ("lr", "trainer.lr") if k in space or k in config]
        if clash:
            raise ConfigError(f"prior='step-law' searches the learning rate itself; remove {clash} from space/config "
                              "(or drop the prior)")
        if not (isinstance(prior_span, (int, float)) and prior_span > 1):
            raise ConfigError(f"prior_span must be a number > 1 (the factor either side of the suggestion), "
                              f"got {prior_span!r}")
    supports_callbacks = "callbacks" in inspect.signature(runner.run).parameters
    pruning = not isinstance(pruner, optuna.pruners.NopPruner)
    if pruning and not supports_callbacks:
        raise ConfigError("pruning needs core.run(callbacks=...), which this core lacks; pass "
                          "pruner=optuna.pruners.NopPruner() to sweep without pruning")

    # Check every key routes before any trial runs (the messages are core.run's own).
    example = {**config, **{d.key: d.example() for d in dims}}
    if prior is not None:
        example["lr"] = 1e-3
        step_law_suggestion(task, model, example)  # a sequence task, a countable model
    else:
        _resolve(task, model, example)
    if metric is None or direction is None:
        default_metric, mode = _task_defaults(task, config)
        metric = metric or default_metric
        direction = direction or ("maximize" if mode == "max" else "minimize")
    direction = _direction(direction)
    task_name = task if isinstance(task, str) else runner.instance_spec(task)[0]
    study_name = study_name or f"{task_name}-{model}".replace(":", "_").replace("/", "_")

    out = Path(out_dir) if out_dir is not None else None
    store, storage_label = _storage(storage, out)
    definition = jsonable({"task": task_name, "model": model, "metric": metric, "direction": direction,
                           "space": {d.key: optuna.distributions.distribution_to_json(d.distribution) for d in dims},
                           "config": {k: v for k, v in config.items() if k not in _PRESENTATION_KEYS},
                           "prior": prior, "prior_span": prior_span if prior else None,
                           "functional_hash": {"steps": hash_steps, "probe_size": hash_probe_size,
                                               "digits": hash_digits} if functional_hash else None})
    study = optuna.create_study(storage=store, study_name=study_name, direction=direction, sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    previous = study.user_attrs.get("hyperzoo.sweep")
    if previous is None:
        study.set_user_attr("hyperzoo.sweep", definition)
    elif previous != definition:
        diff = sorted(k for k in set(previous) | set(definition) if previous.get(k) != definition.get(k))
        raise ConfigError(f"study {study_name!r} in {storage_label} was started with a different sweep (differs in "
                          f"{diff}); rerun with the same task, model, space and config, or pass another "
                          "study_name/out_dir")
    if out is not None:
        write_json(out / "sweep.json", definition)

    cache: dict[str, Any] = {}
    prior_info: dict[str, Any] | None = {"name": prior, "span": prior_span} if prior else None

    def objective(trial: Any) -> float:
        params = {d.key: d.suggest(trial) for d in dims}
        run_config = {**config, **params}
        if prior is not None:
            run_config["lr"] = _step_law_lr(trial, task, model, run_config, cache, prior_span)
        trial.set_user_attr("config", jsonable({k: run_config[k] for k in (*params, *(["lr"] if prior else []))}))
        frozen = next((t for t in study.get_trials(deepcopy=False) if t.number == trial.number), None)
        original = frozen.system_attrs.get("failed_trial") if frozen is not None else None
        number = trial.number if original is None else original  # a retried trial resumes the dead one's run
        run_dir = out / f"trial-{number}" if out is not None else None
        if run_dir is not None:
            trial.set_user_attr("run_dir", str(run_dir))
        if functional_hash:
            fh = _hash_candidate(_resolve(task, model, run_config, cache), probe_size=hash_probe_size,
                                 steps=hash_steps, digits=hash_digits)
            trial.set_user_attr("functional_hash", fh.digest)
            trial.set_user_attr("hash_seconds", fh.seconds)
            source = _equivalent(study, fh.digest, trial.number)
            if source is not None:
                return _reuse(trial, source, run_dir, fh)
        callbacks = []
        if pruning:
            def report(row: Mapping[str, Any]) -> None:
                if metric in row and "epoch" in row:
                    trial.report(float(row[metric]), step=int(row["epoch"]))
                    if trial.should_prune():
                        trial.set_user_attr("pruned_at", int(row["epoch"]))
                        raise optuna.TrialPruned(f"pruned at epoch {row['epoch']} ({metric} = {row[metric]:.4g})")
            callbacks.append(report)
        extra = {"callbacks": callbacks} if callbacks else {}
        try:
            resume = original is not None and run_dir is not None and run_dir.is_dir()
            result = runner.run(task, model, out_dir=run_dir, resume=resume, **extra, **run_config)
        except FloatingPointError as exc:
            trial.set_user_attr("error", str(exc))
            raise
        if metric not in result.metrics:
            raise ConfigError(f"the sweep optimises {metric!r}, which the run did not report; its metrics are "
                              f"{sorted(result.metrics)} (pass metric=...)")
        trial.set_user_attr("metrics", jsonable(result.metrics))
        trial.set_user_attr("seconds", result.seconds)
        return float(result.metrics[metric])

    study.optimize(objective, n_trials=n_trials, catch=(FloatingPointError,))
    return _result(study, storage_label, direction, metric, out, prior_info, time.perf_counter() - started)


def step_law_suggestion(task: Any, model: str, config: Mapping[str, Any] | None = None,
                        cache: dict[str, Any] | None = None) -> dict[str, Any]:
    """Step Law's suggestion for the candidate ``core.run(task, model, **config)`` would train: ``N`` its
    trainable non-embedding parameters, ``D = epochs x training sequences x seq_len`` (every position of every
    training sequence once per epoch), the batch converted to sequences of the task's ``seq_len``."""
    import torch

    from .steplaw import non_embedding_parameters, suggest_hyperparameters, tokens_per_run
    from .trainer import Trainer

    cand = _resolve(task, model, {**dict(config or {}), "lr": 1e-3}, cache)
    seq_len = dict(cand.task_obj.model_defaults()).get("seq_len")
    if not isinstance(seq_len, int):
        raise ConfigError(f"the Step Law prior counts training tokens, but task {cand.task_name!r} supplies no "
                          "seq_len (it is not a sequence task); search lr directly instead")
    splits = cand.task_obj.splits()
    with torch.random.fork_rng(devices=[]):
        n_params = non_embedding_parameters(cand.build_model())
    epochs = Trainer(**cand.trainer_kwargs).epochs
    n_tokens = tokens_per_run(n_train=len(splits["train"]), seq_len=seq_len, epochs=max(int(epochs), 1))
    return {"n_params": n_params, "n_tokens": n_tokens, "seq_len": seq_len,
            **suggest_hyperparameters(n_params, n_tokens, seq_len=seq_len)}


def _step_law_lr(trial: Any, task: Any, model: str, run_config: dict[str, Any], cache: dict[str, Any],
                 span: float) -> float:
    """Step Law's learning rate for this candidate, times a log-uniform factor in [1/span, span] that the sampler
    searches."""
    suggestion = step_law_suggestion(task, model, run_config, cache)
    factor = trial.suggest_float(PRIOR_PARAM, 1.0 / span, float(span), log=True)
    trial.set_user_attr("step_law", {**suggestion, "factor": factor})
    return factor * suggestion["lr"]


def _equivalent(study: Any, digest: str, number: int) -> Any:
    """The earliest finished (complete or pruned) trial with this functional hash, if any."""
    optuna = _optuna()
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for t in sorted(study.get_trials(deepcopy=False, states=states), key=lambda t: t.number):
        if t.number != number and t.user_attrs.get("functional_hash") == digest \
                and t.user_attrs.get("reused_from") is None:
            return t
    return None


def _reuse(trial: Any, source: Any, run_dir: Path | None, fh: FunctionalHash) -> float:
    """Give ``trial`` the result of the equivalent ``source`` trial without training it."""
    optuna = _optuna()
    from .io import write_json

    trial.set_user_attr("reused_from", source.number)
    trial.set_user_attr("saved_seconds", float(source.user_attrs.get("seconds") or 0.0))
    trial.set_user_attr("metrics", source.user_attrs.get("metrics"))
    if run_dir is not None:
        write_json(run_dir / "reused.json", jsonable({
            "reused_from": source.number, "source_run_dir": source.user_attrs.get("run_dir"),
            "functional_hash": fh.digest, "config": trial.user_attrs.get("config"),
            "source_config": source.user_attrs.get("config"), "metrics": source.user_attrs.get("metrics")}))
    if source.state == optuna.trial.TrialState.PRUNED:
        for step, value in sorted(source.intermediate_values.items()):
            trial.report(value, step)
        trial.set_user_attr("pruned_at", source.user_attrs.get("pruned_at"))
        raise optuna.TrialPruned(f"equivalent to trial {source.number}, which was pruned")
    return float(source.value)


def _best_dir(study: Any, best: Any) -> Path | None:
    """The run directory holding the best result (a reused trial's is its source's)."""
    if best is None:
        return None
    source = best.user_attrs.get("reused_from")
    if source is not None:
        best = next((t for t in study.get_trials(deepcopy=False) if t.number == source), best)
    run_dir = best.user_attrs.get("run_dir")
    return Path(run_dir) if run_dir else None


def _result(study: Any, storage: str, direction: str, metric: str, out: Path | None, prior: dict[str, Any] | None,
            seconds: float) -> SweepResult:
    from .io import write_json

    trials = [_trial_record(t) for t in study.get_trials(deepcopy=False)]
    try:
        best = study.best_trial
    except ValueError:  # no finished trial yet
        best = None
    result = SweepResult(
        study_name=study.study_name, storage=storage, direction=direction, metric=metric,
        best_trial=best.number if best else None, best_value=float(best.value) if best else None,
        best_config=best.user_attrs.get("config") if best else None,
        best_run_dir=_best_dir(study, best),
        trials=trials, out_dir=out, prior=prior, seconds=seconds, study=study)
    if out is not None:
        write_json(out / "results.json", result.to_dict())
    return result
