"""Core's trainer: one loop for every procedure, a helper that tasks use, not a cage.

Three modes share one epoch loop -- early stopping on a monitored validation metric, best-state restore,
gradient clipping, the per-epoch scheduler, one history row per epoch, a progress bar (or one line per epoch
without a terminal), checkpoints with RNG states and resume, epoch callbacks, and the DDP rules:

- ``fit(task, model)``: mini-batch training on ``task.splits()`` with the task's loss (plus any
  ``auxiliary_losses()`` the model reports), validation every epoch, test at the end.
- ``fit_full_batch(model, loss_fn, select)``: each epoch is one optimisation step on ``loss_fn()``;
  ``select()`` returns the validation metrics that early stopping watches.
- ``fit_steps(model, step, select)``: ``step(epoch)`` does one epoch of its own work (its own optimisers,
  through ``trainer.optimize``) and returns the scalars to log.

With a run directory every mode checkpoints after each epoch (model, optimisers, schedulers, RNG states, its
history rows) under its own file name, so a procedure made of several fits (splits, sub-tasks, a teacher then
a student) resumed with ``resume=True`` skips the finished ones and ends with the same metrics as an
uninterrupted run. Losses stay on the device during an epoch: the host reads them once per epoch.
Under ``torchrun`` mini-batch mode wraps the model in ``DistributedDataParallel`` and shards each epoch with
``DistributedSampler`` (``batch_size`` is the global batch); full-batch and custom modes run the same steps
on every process; only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .io import load_checkpoint, save_checkpoint, write_json

__all__ = ["Trainer", "aggregate", "seed_everything"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def aggregate(results: Iterable[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over runs under its own key and the (population) standard deviation under ``_std``."""
    results = list(results)
    if not results:
        return {}
    keys = [k for k in results[0] if not k.endswith("_std") and all(k in r for r in results)]
    out: dict[str, float] = {}
    for k in keys:
        values = np.asarray([float(r[k]) for r in results])
        out[k] = float(values.mean())
        out[f"{k}_std"] = float(values.std())
    return out


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
             "numpy_pos": int(pos), "numpy_gauss": [int(has_gauss), float(gauss)], "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], state["numpy_gauss"][0], state["numpy_gauss"][1]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch


def _clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}



Metrics = dict[str, Any]
_FORMAT = 2


class Trainer:
    """Training settings and the loop that every procedure runs through.

    Args:
        epochs: maximum number of epochs (passes over the training split; one step each in full-batch mode).
        batch_size: global batch size (split evenly over ``torchrun`` processes).
        lr, weight_decay: optimiser settings.
        optimizer: a registered optimiser name (``adamw``, ``adam``, ``sgd``, or a plugin's, e.g. ``kar3``).
        scheduler: ``"cosine"`` (per-epoch cosine decay after ``warmup_epochs`` of linear warm-up) or ``None``.
        patience: stop after this many epochs without improvement of the monitored validation metric.
        grad_clip: clip the gradient norm to this value.
        label_smoothing: passed to the task's training loss (not to evaluation).
        eval_batch_size: batch size for evaluation.
        threads: torch CPU threads for the run: an int, or ``"auto"`` (see :func:`resolve_threads`).
        logger: also write each history row to TensorBoard event files under ``<run_dir>/tensorboard``
            (``"tensorboard"``, needs the ``tensorboard`` extra) or not (``None``).
    """

    LINE_SECONDS = 2.0
    KEYS = ("epochs", "batch_size", "lr", "weight_decay", "optimizer", "scheduler", "warmup_epochs", "patience",
            "grad_clip", "label_smoothing", "eval_batch_size", "threads", "logger")

    def __init__(self, *, epochs: int = 10, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: str = "adamw", scheduler: str | None = "cosine", warmup_epochs: int = 0,
                 patience: int | None = None, grad_clip: float | None = None, label_smoothing: float = 0.0,
                 eval_batch_size: int = 512, threads: int | str = "auto", logger: str | None = None):
        from .config import ConfigError

        checks = [("epochs", epochs >= 0), ("batch_size", batch_size >= 1), ("lr", lr > 0),
                  ("weight_decay", weight_decay >= 0), ("warmup_epochs", warmup_epochs >= 0),
                  ("patience", patience is None or patience >= 1), ("grad_clip", grad_clip is None or grad_clip > 0),
                  ("label_smoothing", 0 <= label_smoothing < 1), ("eval_batch_size", eval_batch_size >= 1),
                  ("threads", threads == "auto" or (isinstance(threads, int) and threads >= 1))]
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"trainer.{name}={locals()[name]!r} is out of range")
        if scheduler not in (None, "none", "cosine"):
            raise ConfigError(f"trainer.scheduler must be 'cosine' or None, got {scheduler!r}")
        if logger not in (None, "none", "tensorboard"):
            raise ConfigError(f"trainer.logger must be 'tensorboard' or None, got {logger!r}")
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.optimizer, self.scheduler, self.warmup_epochs = optimizer, scheduler, warmup_epochs
        self.patience, self.grad_clip, self.label_smoothing = patience, grad_clip, label_smoothing
        self.eval_batch_size, self.threads, self.logger = eval_batch_size, threads, logger
        # The run context, set by core.run (defaults make a bare Trainer usable on its own).
        self.device = torch.device("cpu")
        self.seed = 0
        self.run_dir: Path | None = None
        self.resume = False
        self.show_progress: bool | str = False   # True/"bar": a tqdm bar; "lines": one line per epoch; False
        self.callbacks: list[Callable[[dict[str, Any]], Any]] = []
        self.rank, self.world_size = 0, 1
        self.history: list[dict[str, Any]] = []
        self.reports: dict[str, Any] = {}  # non-scalar results (a test confusion matrix), saved in metrics.json
        self._model_factory: Callable[[], Any] | None = None
        self._tensorboard: Any = None
        self._tags: dict[str, Any] = {}
        self._last_line = 0.0

    # -- helpers for task-owned procedures ---------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def log(self, **row: Any) -> None:
        """Append one row (e.g. one epoch's metrics) to the run's history."""
        row = {**self._tags, **{k: _scalar(v) for k, v in row.items()}}
        self.history.append(row)
        if self.run_dir is not None and self.is_main:
            write_json(self.run_dir / "history.json", self.history)
            if self.logger == "tensorboard":
                self._log_tensorboard(row)

    def _log_tensorboard(self, row: dict[str, Any]) -> None:
        if self._tensorboard is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                from .config import ConfigError

                raise ConfigError("logger='tensorboard' needs the tensorboard package: pip install tensorboard "
                                  "(or hyperzoo[tensorboard])") from exc
            self._tensorboard = SummaryWriter(str(self.run_dir / "tensorboard"))
        step = int(row.get("epoch", len(self.history)))
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._tensorboard.add_scalar(key, value, step)
        self._tensorboard.flush()

    @contextlib.contextmanager
    def tagged(self, **tags: Any) -> Iterator[None]:
        """Rows logged inside the block carry ``tags`` (e.g. ``split=3``, ``task=1``)."""
        old, self._tags = self._tags, {**self._tags, **tags}
        try:
            yield
        finally:
            self._tags = old

    def progress(self, iterable: Iterable[Any], *, desc: str = "", total: int | None = None) -> Iterable[Any]:
        """A tqdm progress bar on a terminal (rank 0), the bare iterable otherwise."""
        if self.show_progress not in (True, "bar") or not self.is_main:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=False, file=sys.stderr, dynamic_ncols=True)

    def make_model(self, seed: int | None = None) -> Any:
        """A freshly initialised model of the run's config (seeded with ``seed`` when given), on the device."""
        if self._model_factory is None:
            raise RuntimeError("make_model() is available inside core.run (the trainer knows no model factory)")
        if seed is not None:
            seed_everything(seed)
        model = self._model_factory()
        return model.to(self.device) if isinstance(model, nn.Module) else model

    def make_optimizer(self, model: nn.Module | Iterable[nn.Parameter], *, lr: float | None = None,
                       weight_decay: float | None = None) -> tuple[torch.optim.Optimizer, Any]:
        """The configured optimiser over trainable parameters and its per-epoch scheduler (or None)."""
        from . import get_optimizer

        source = model.parameters() if isinstance(model, nn.Module) else model
        params = [p for p in source if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        opt = get_optimizer(self.optimizer)(params, lr=self.lr if lr is None else lr,
                                            weight_decay=self.weight_decay if weight_decay is None else weight_decay)
        if self.scheduler in (None, "none"):
            return opt, None
        warm, total = self.warmup_epochs, max(self.epochs, 1)

        def factor(epoch: int) -> float:
            if epoch < warm:
                return (epoch + 1) / (warm + 1)
            return 0.5 * (1 + math.cos(math.pi * (epoch - warm) / max(total - warm, 1)))

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def optimize(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                 parameters: nn.Module | Iterable[torch.Tensor] | None = None) -> None:
        """One step: zero the gradients, back-propagate ``loss``, clip to ``grad_clip``, step ``optimizer``."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip is not None:
            if parameters is None:
                parameters = [p for g in optimizer.param_groups for p in g["params"]]
            elif isinstance(parameters, nn.Module):
                parameters = parameters.parameters()
            nn.utils.clip_grad_norm_(parameters, self.grad_clip)
        optimizer.step()

    # -- batching ----------------------------------------------------------------------------------------
    def _indices(self, n: int, epoch: int) -> list[int]:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(range(n), num_replicas=self.world_size, rank=self.rank, shuffle=True,
                                     seed=self.seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    def _batches(self, dataset: Any, indices: list[int], batch_size: int,
                 collate: Callable[[list[Any]], Any] | None = None) -> Iterator[Any]:
        tensors = getattr(dataset, "tensors", None)
        for start in range(0, len(indices), batch_size):
            idx = indices[start:start + batch_size]
            if tensors is not None and collate is None:
                index = torch.as_tensor(idx)
                yield _to_device(tuple(t[index] for t in tensors), self.device)
            else:
                if collate is None:
                    from torch.utils.data import default_collate as collate
                yield _to_device(collate([dataset[i] for i in idx]), self.device)

    # -- evaluation --------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, task: Any, model: nn.Module, dataset: Any, *, reports: bool = False) -> dict[str, Any]:
        """``loss`` and the task's metrics on a whole data set (every process evaluates all of it); with
        ``reports`` the task's non-scalar ``reports()`` (e.g. a confusion matrix) under ``"_reports"``."""
        was_training = model.training
        model.eval()
        outputs, targets = [], []
        collate = getattr(task, "collate", None)
        for batch in self._batches(dataset, list(range(len(dataset))), self.eval_batch_size, collate):
            out, target = task.forward(model, batch)
            outputs.append(out.detach())
            targets.append(target.detach())
        model.train(was_training)
        out, target = torch.cat(outputs), torch.cat(targets)
        metrics = {"loss": float(task.loss(out, target)), **task.metrics(out, target)}
        if reports and callable(getattr(task, "reports", None)):
            metrics["_reports"] = task.reports(out, target)
        return metrics

    # -- the three modes -----------------------------------------------------------------------------------
    def fit(self, task: Any, model: nn.Module, *, splits: dict[str, Any] | None = None,
            checkpoint: str = "checkpoint.pt") -> dict[str, float]:
        """Mini-batch training of ``model`` on ``task`` (or the given ``splits``); returns the test metrics and
        the best epoch's validation ones."""
        splits = task.splits() if splits is None else splits
        missing = {"train", "test"} - set(splits)
        if missing:
            raise ValueError(f"{type(task).__name__}: splits lack {sorted(missing)}")
        train, val, test = splits["train"], splits.get("val"), splits["test"]
        if self.batch_size % self.world_size:
            raise ValueError(f"batch_size {self.batch_size} must be divisible by the {self.world_size} processes")
        local_batch = self.batch_size // self.world_size
        collate = getattr(task, "collate", None)
        model.to(self.device)
        net: nn.Module = model
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        opt, sched = self.make_optimizer(model)

        def epoch_fn(epoch: int) -> Metrics:
            net.train()
            sums: dict[str, torch.Tensor] = {}
            seen = 0
            for batch in self._batches(train, self._indices(len(train), epoch), local_batch, collate):
                out, target = task.forward(net, batch)
                loss = task.loss(out, target, label_smoothing=self.label_smoothing)
                parts, total = _with_aux(model, loss)
                self.optimize(total, opt, model)
                n = len(target)
                seen += n
                for k, v in parts.items():  # stays on the device: no host sync per batch
                    v = v.detach() * n
                    sums[k] = sums[k] + v if k in sums else v
            return _global_means(sums, seen, self.world_size)

        def select() -> Metrics:
            return self.evaluate(task, model, val)

        def test_metrics() -> Metrics:
            metrics = self.evaluate(task, model, test, reports=True)
            self.reports.update({f"test_{k}": v for k, v in metrics.pop("_reports", {}).items()})
            return {f"test_{k}": v for k, v in metrics.items()}

        return self._loop(model, epoch_fn, select if val is not None else None,
                          monitor=getattr(task, "monitor", "loss"), mode=getattr(task, "monitor_mode", "min"),
                          optimizers=[opt], schedulers=[sched], checkpoint=checkpoint, desc=type(task).__name__,
                          extra=test_metrics)

    def fit_full_batch(self, model: nn.Module, loss_fn: Callable[[], torch.Tensor],
                       select: Callable[[], Any] | None = None, *, monitor: str = "accuracy", mode: str = "max",
                       checkpoint: str = "checkpoint.pt", desc: str = "full batch") -> dict[str, float]:
        """Full-batch training: each epoch is one step on ``loss_fn()`` (plus the model's auxiliary losses).

        ``select()`` (run in eval mode without gradients) returns the validation metrics, as a dict or a number
        named ``monitor``; early stopping and the best-state restore watch ``monitor`` (``mode`` "max" or
        "min"). Without ``select`` the last epoch counts. Returns the best epoch's ``val_*`` metrics and
        ``epochs``/``best_epoch``.
        """
        model.to(self.device)
        opt, sched = self.make_optimizer(model)

        def epoch_fn(epoch: int) -> Metrics:
            model.train()
            parts, total = _with_aux(model, loss_fn())
            self.optimize(total, opt, model)
            return {k: v.detach() for k, v in parts.items()}

        return self._loop(model, epoch_fn, _eval_select(model, select, monitor), monitor=monitor, mode=mode,
                          optimizers=[opt], schedulers=[sched], checkpoint=checkpoint, desc=desc,
                          restore_best=select is not None)

    def fit_steps(self, model: nn.Module, step: Callable[[int], Metrics], select: Callable[[], Any] | None = None,
                  *, optimizers: Iterable[torch.optim.Optimizer] = (), schedulers: Iterable[Any] = (),
                  monitor: str = "accuracy", mode: str = "max", checkpoint: str = "checkpoint.pt",
                  desc: str = "steps", extra_state: Any = None) -> dict[str, float]:
        """Custom steps: ``step(epoch)`` does one epoch of its own work and returns the scalars to log.

        Its optimisers (stepped through :meth:`optimize` for gradient clipping) and schedulers (stepped by
        the loop once per epoch) are checkpointed with the model; ``extra_state`` (an object with
        ``state_dict()``/``load_state_dict()``) is checkpointed too. ``select``/``monitor``/``mode`` as in
        :meth:`fit_full_batch`.
        """
        model.to(self.device)
        return self._loop(model, step, _eval_select(model, select, monitor), monitor=monitor, mode=mode,
                          optimizers=list(optimizers), schedulers=list(schedulers), checkpoint=checkpoint,
                          desc=desc, restore_best=select is not None, extra_state=extra_state)

    # -- the loop ------------------------------------------------------------------------------------------
    def _loop(self, model: nn.Module, epoch_fn: Callable[[int], Metrics], select: Callable[[], Metrics] | None, *,
              monitor: str, mode: str, optimizers: list[Any], schedulers: list[Any], checkpoint: str, desc: str,
              restore_best: bool = True, extra: Callable[[], Metrics] | None = None,
              extra_state: Any = None) -> dict[str, float]:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        watched = f"val_{monitor}" if select is not None else "train_loss"
        sign = 1.0 if (mode == "max" and select is not None) else -1.0
        schedulers = [s for s in schedulers if s is not None]
        state: dict[str, Any] = {"epoch": 0, "best": None, "best_epoch": 0, "best_state": None, "bad": 0}
        history_start = len(self.history)
        ckpt = self.run_dir / checkpoint if self.run_dir is not None else None
        if ckpt is not None and self.resume and ckpt.exists():
            saved = load_checkpoint(ckpt)
            if saved.get("format") != _FORMAT:
                raise ValueError(f"{str(ckpt)!r} was written by another hyperzoo version (format "
                                 f"{saved.get('format')}); start a new run dir")
            self.history[history_start:] = saved["history"]
            model.load_state_dict(saved["model"])  # the last epoch's weights
            if extra_state is not None:
                extra_state.load_state_dict(saved["extra_state"])
            _set_rng_state(saved["rng"])
            more = saved["state"]["epoch"] < self.epochs and not saved["state"].get("stopped")
            if saved["done"] and not more:  # finished: the best weights and the metrics it reported
                model.load_state_dict(saved["best_model"] if saved.get("best_model") is not None else saved["model"])
                return saved["metrics"]
            for obj, sd in zip(optimizers, saved["optimizers"]):
                obj.load_state_dict(sd)
            for obj, sd in zip(schedulers, saved["schedulers"]):
                obj.load_state_dict(sd)
            state = saved["state"]
            if saved["done"]:  # a finished run resumed with a larger epochs budget trains on
                state["best_state"] = saved["best_model"] if restore_best else None

        def save(done: bool, metrics: dict[str, float] | None = None, best_model: Any = None,
                 last_model: Any = None) -> None:
            if ckpt is None or not self.is_main:
                return
            save_checkpoint(ckpt, {"format": _FORMAT, "done": done, "metrics": metrics,
                                   "model": last_model if last_model is not None else model.state_dict(),
                                   "best_model": best_model,
                                   "optimizers": [o.state_dict() for o in optimizers],
                                   "schedulers": [s.state_dict() for s in schedulers],
                                   "extra_state": extra_state.state_dict() if extra_state is not None else None,
                                   "state": state, "rng": _rng_state(), "history": self.history[history_start:]})

        started = time.perf_counter()
        epochs = self.progress(range(state["epoch"], self.epochs), desc=desc, total=self.epochs - state["epoch"])
        for epoch in epochs:
            row: dict[str, Any] = {"epoch": epoch + 1}
            if optimizers:
                row["lr"] = optimizers[0].param_groups[0]["lr"]
            row.update({k: _scalar(v) for k, v in dict(epoch_fn(epoch)).items()})  # the epoch's one host sync
            loss = row.get("train_loss")
            if isinstance(loss, float) and not math.isfinite(loss):
                raise FloatingPointError(f"training loss is not finite at epoch {epoch + 1}; lower trainer.lr "
                                         f"(now {self.lr}) or set trainer.grad_clip")
            for s in schedulers:
                s.step()
            if select is not None:
                row.update({f"val_{k}": v for k, v in select().items()})
            self.log(**row)
            self._report(epochs, row, watched, desc, started)
            for callback in self.callbacks:
                callback(row)
            value = row.get(watched)
            if value is None:
                raise KeyError(f"early stopping monitors {watched!r}, which the epoch did not produce: {sorted(row)}")
            state["epoch"] = epoch + 1
            # A tie on the monitored metric (common for accuracy on a small validation set) is an improvement
            # when the validation loss is lower: the later, better-fitted weights are kept and patience restarts.
            tie_loss = row.get("val_loss") if watched != "val_loss" else None
            better = state["best"] is None or sign * value > sign * state["best"] or (
                value == state["best"] and tie_loss is not None and state.get("best_loss") is not None
                and tie_loss < state["best_loss"])
            if better:
                state.update(best=value, best_loss=tie_loss, best_epoch=epoch + 1, bad=0,
                             best_state=_clone_state(model) if restore_best else None)
            else:
                state["bad"] += 1
            stop = self.patience is not None and state["bad"] >= self.patience
            state["stopped"] = stop
            save(done=False)
            if stop:
                break
        last = _clone_state(model) if ckpt is not None else None
        if restore_best and state["best_state"] is not None:
            model.load_state_dict(state["best_state"])
        metrics = dict(extra()) if extra is not None else {}
        best_epoch = state["best_epoch"] if restore_best else state["epoch"]
        best_row = next((r for r in self.history[history_start:] if r.get("epoch") == best_epoch), {})
        metrics.update({k: float(v) for k, v in best_row.items() if k.startswith("val_")
                        and isinstance(v, (int, float))})
        metrics.update(epochs=float(state["epoch"]), best_epoch=float(best_epoch))
        best_model = state["best_state"]
        state["best_state"] = None
        if last is not None:  # the checkpoint keeps the last weights (to train longer) and the best ones
            save(done=True, metrics=metrics, last_model=last,
                 best_model=best_model if best_model is not None else model.state_dict())
        return metrics

    def _report(self, bar: Any, row: dict[str, Any], watched: str, desc: str, started: float) -> None:
        shown = {k: v for k, v in row.items() if k in ("train_loss", watched) and isinstance(v, float)}
        if hasattr(bar, "set_postfix"):
            bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()})
        elif self.show_progress == "lines" and self.is_main:
            now = time.perf_counter()  # one line per epoch, at most one per LINE_SECONDS (and the last epoch)
            if now - self._last_line < self.LINE_SECONDS and row["epoch"] < self.epochs:
                return
            self._last_line = now
            tags = "".join(f"{k} {v} " for k, v in self._tags.items())
            parts = " ".join(f"{k} {v:.4g}" for k, v in shown.items())
            print(f"{tags}{desc} epoch {row['epoch']}/{self.epochs} {parts} ({now - started:.1f} s)", file=sys.stderr,
                  flush=True)


def resolve_threads(threads: int | str) -> int:
    """The torch CPU thread count for ``threads``: the int itself, or for ``"auto"`` one thread per run.

    ``"auto"`` is 1 (``HYPERZOO_THREADS`` overrides it): on small shared machines OpenMP workers spin when another
    process holds a core, and the measured 1-thread runs were never much slower than 2-thread runs on an idle
    machine and several times faster on a loaded one (docs/results/threads.md).
    """
    if threads != "auto":
        return int(threads)
    env = os.environ.get("HYPERZOO_THREADS", "")
    return int(env) if env.isdigit() and int(env) >= 1 else 1


def _scalar(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _with_aux(model: nn.Module, loss: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The task loss plus the model's ``auxiliary_losses()``, and each part under its history name."""
    parts, total = {"train_loss": loss}, loss
    aux = getattr(model, "auxiliary_losses", None)
    for name, value in (aux() if callable(aux) else {}).items():
        total = total + value
        parts[f"train_aux_{name}"] = value
    return parts, total


def _global_means(sums: dict[str, torch.Tensor], seen: int, world: int) -> Metrics:
    keys = sorted(sums)
    if not keys:
        return {}
    packed = torch.stack([sums[k].to(torch.float64) for k in keys] + [torch.tensor(float(seen), dtype=torch.float64,
                                                                                  device=sums[keys[0]].device)])
    if world > 1:  # log global averages, not this process's shard
        import torch.distributed as dist

        dist.all_reduce(packed)
    values = packed.tolist()
    return {k: v / max(values[-1], 1.0) for k, v in zip(keys, values[:-1])}


def _eval_select(model: nn.Module, select: Callable[[], Any] | None, monitor: str) -> Callable[[], Metrics] | None:
    if select is None:
        return None

    def run() -> Metrics:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = select()
        model.train(was_training)
        if not isinstance(out, dict):
            out = {monitor: out}
        return {k: _scalar(v) for k, v in out.items()}

    return run
