"""Core's supervised trainer: a helper that tasks use, not a cage.

``Trainer.fit(task, model)`` runs mini-batch training with the task's loss (plus any ``auxiliary_losses()`` the
model reports), evaluates on validation each epoch, stops early on ``"val_" + task.monitor``, restores the best
weights and evaluates on test. With a run directory it checkpoints every epoch (model, optimiser, scheduler,
RNG states, history) so that a killed run resumed with ``resume=True`` ends with the same metrics.
Under ``torchrun`` it wraps the model in ``DistributedDataParallel`` and shards each epoch with
``DistributedSampler``; ``batch_size`` is the global batch.
"""

from __future__ import annotations

import math
import random
import sys
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


class Trainer:
    """Mini-batch training with early stopping, checkpoints and resume.

    Args:
        epochs: maximum number of passes over the training split.
        batch_size: global batch size (split evenly over ``torchrun`` processes).
        lr, weight_decay: optimiser settings.
        optimizer: a registered optimiser name (``adamw``, ``adam``, ``sgd``, or a plugin's, e.g. ``kar3``).
        scheduler: ``"cosine"`` (per-epoch cosine decay after ``warmup_epochs`` of linear warm-up) or ``None``.
        patience: stop after this many epochs without improvement of the monitored validation metric.
        grad_clip: clip the gradient norm to this value.
        label_smoothing: passed to the task's training loss (not to evaluation).
        eval_batch_size: batch size for evaluation.
    """

    def __init__(self, *, epochs: int = 10, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: str = "adamw", scheduler: str | None = "cosine", warmup_epochs: int = 0,
                 patience: int | None = None, grad_clip: float | None = None, label_smoothing: float = 0.0,
                 eval_batch_size: int = 512):
        from .config import ConfigError

        checks = [("epochs", epochs >= 0), ("batch_size", batch_size >= 1), ("lr", lr > 0),
                  ("weight_decay", weight_decay >= 0), ("warmup_epochs", warmup_epochs >= 0),
                  ("patience", patience is None or patience >= 1), ("grad_clip", grad_clip is None or grad_clip > 0),
                  ("label_smoothing", 0 <= label_smoothing < 1), ("eval_batch_size", eval_batch_size >= 1)]
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"trainer.{name}={locals()[name]!r} is out of range")
        if scheduler not in (None, "none", "cosine"):
            raise ConfigError(f"trainer.scheduler must be 'cosine' or None, got {scheduler!r}")
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.optimizer, self.scheduler, self.warmup_epochs = optimizer, scheduler, warmup_epochs
        self.patience, self.grad_clip, self.label_smoothing = patience, grad_clip, label_smoothing
        self.eval_batch_size = eval_batch_size
        # The run context, set by core.run (defaults make a bare Trainer usable on its own).
        self.device = torch.device("cpu")
        self.seed = 0
        self.run_dir: Path | None = None
        self.resume = False
        self.show_progress = False
        self.rank, self.world_size = 0, 1
        self.history: list[dict[str, Any]] = []
        self._model_factory: Callable[[], Any] | None = None

    # -- helpers for task-owned procedures ---------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def log(self, **row: Any) -> None:
        """Append one row (e.g. one epoch's metrics) to the run's history."""
        self.history.append(row)
        if self.run_dir is not None and self.is_main:
            write_json(self.run_dir / "history.json", self.history)

    def progress(self, iterable: Iterable[Any], *, desc: str = "", total: int | None = None) -> Iterable[Any]:
        """A tqdm progress bar on a terminal (rank 0), the bare iterable otherwise."""
        if not (self.show_progress and self.is_main):
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=False, file=sys.stderr, dynamic_ncols=True)

    def make_model(self, seed: int | None = None) -> Any:
        """A freshly initialised model of the run's config (seeded with ``seed`` when given)."""
        if self._model_factory is None:
            raise RuntimeError("make_model() is available inside core.run (the trainer knows no model factory)")
        if seed is not None:
            seed_everything(seed)
        return self._model_factory()

    def make_optimizer(self, model: nn.Module) -> tuple[torch.optim.Optimizer, Any]:
        """The configured optimiser over trainable parameters and its per-epoch scheduler (or None)."""
        from . import get_optimizer

        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        opt = get_optimizer(self.optimizer)(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.scheduler in (None, "none"):
            return opt, None
        warm, total = self.warmup_epochs, max(self.epochs, 1)

        def factor(epoch: int) -> float:
            if epoch < warm:
                return (epoch + 1) / (warm + 1)
            return 0.5 * (1 + math.cos(math.pi * (epoch - warm) / max(total - warm, 1)))

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)

    # -- batching ----------------------------------------------------------------------------------------
    def _indices(self, n: int, epoch: int) -> list[int]:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(range(n), num_replicas=self.world_size, rank=self.rank, shuffle=True,
                                     seed=self.seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    def _batches(self, dataset: Any, indices: list[int], batch_size: int) -> Iterator[Any]:
        tensors = getattr(dataset, "tensors", None)
        for start in range(0, len(indices), batch_size):
            idx = indices[start:start + batch_size]
            if tensors is not None:
                index = torch.as_tensor(idx)
                yield _to_device(tuple(t[index] for t in tensors), self.device)
            else:
                from torch.utils.data import default_collate

                yield _to_device(default_collate([dataset[i] for i in idx]), self.device)

    # -- evaluation --------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, task: Any, model: nn.Module, dataset: Any) -> dict[str, float]:
        """``loss`` and the task's metrics on a whole data set (every process evaluates all of it)."""
        was_training = model.training
        model.eval()
        outputs, targets = [], []
        for batch in self._batches(dataset, list(range(len(dataset))), self.eval_batch_size):
            out, target = task.forward(model, batch)
            outputs.append(out.detach())
            targets.append(target.detach())
        model.train(was_training)
        out, target = torch.cat(outputs), torch.cat(targets)
        return {"loss": float(task.loss(out, target)), **task.metrics(out, target)}

    # -- training ----------------------------------------------------------------------------------------
    def fit(self, task: Any, model: nn.Module, *, splits: dict[str, Any] | None = None,
            checkpoint: str = "checkpoint.pt") -> dict[str, float]:
        """Train ``model`` on ``task`` (or the given ``splits``); return test metrics and the best validation ones."""
        splits = task.splits() if splits is None else splits
        missing = {"train", "test"} - set(splits)
        if missing:
            raise ValueError(f"{type(task).__name__}: splits lack {sorted(missing)}")
        train, val, test = splits["train"], splits.get("val"), splits["test"]
        if self.batch_size % self.world_size:
            raise ValueError(f"batch_size {self.batch_size} must be divisible by the {self.world_size} processes")
        local_batch = self.batch_size // self.world_size
        model.to(self.device)
        net: nn.Module = model
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        opt, sched = self.make_optimizer(model)
        monitor = "val_" + getattr(task, "monitor", "loss") if val is not None else "train_loss"
        sign = 1.0 if (getattr(task, "monitor_mode", "min") == "max" and val is not None) else -1.0
        state: dict[str, Any] = {"epoch": 0, "best": None, "best_epoch": 0, "best_state": None, "bad": 0}
        history_start = len(self.history)
        ckpt = self.run_dir / checkpoint if self.run_dir is not None else None
        if ckpt is not None and self.resume and ckpt.exists():
            saved = load_checkpoint(ckpt)
            self.history[history_start:] = saved["history"]
            if saved["done"]:
                model.load_state_dict(saved["model"])
                return saved["metrics"]
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            if sched is not None:
                sched.load_state_dict(saved["scheduler"])
            state = saved["state"]
            _set_rng_state(saved["rng"])

        def save(done: bool, metrics: dict[str, float] | None = None) -> None:
            if ckpt is None or not self.is_main:
                return
            save_checkpoint(ckpt, {"format": 1, "done": done, "metrics": metrics, "model": model.state_dict(),
                                   "optimizer": opt.state_dict(), "scheduler": sched.state_dict() if sched else None,
                                   "state": state, "rng": _rng_state(), "history": self.history[history_start:]})

        epochs = self.progress(range(state["epoch"], self.epochs), desc=type(task).__name__,
                               total=self.epochs - state["epoch"])
        for epoch in epochs:
            net.train()
            sums: dict[str, float] = {}
            seen = 0
            for batch in self._batches(train, self._indices(len(train), epoch), local_batch):
                out, target = task.forward(net, batch)
                loss = task.loss(out, target, label_smoothing=self.label_smoothing)
                total = loss
                parts = {"train_loss": loss}
                aux = getattr(model, "auxiliary_losses", None)
                for name, value in (aux() if callable(aux) else {}).items():
                    total = total + value
                    parts[f"train_aux_{name}"] = value
                opt.zero_grad(set_to_none=True)
                total.backward()
                if self.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
                opt.step()
                n = len(target)
                seen += n
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * n
            if self.world_size > 1:  # log global averages, not this process's shard
                import torch.distributed as dist

                keys = sorted(sums)
                packed = torch.tensor([sums[k] for k in keys] + [float(seen)], dtype=torch.float64)
                dist.all_reduce(packed)
                sums, seen = dict(zip(keys, packed[:-1].tolist())), int(packed[-1])
            if not math.isfinite(sums.get("train_loss", 0.0)):
                raise FloatingPointError(f"training loss is not finite at epoch {epoch + 1}; lower trainer.lr "
                                         f"(now {self.lr}) or set trainer.grad_clip")
            row: dict[str, Any] = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"]}
            row.update({k: v / max(seen, 1) for k, v in sums.items()})
            if sched is not None:
                sched.step()
            if val is not None:
                row.update({f"val_{k}": v for k, v in self.evaluate(task, model, val).items()})
            self.log(**row)
            if hasattr(epochs, "set_postfix"):
                epochs.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k in ("train_loss", monitor)})
            value = row.get(monitor)
            if value is None:
                raise KeyError(f"early stopping monitors {monitor!r}, which the epoch did not produce: {sorted(row)}")
            state["epoch"] = epoch + 1
            if state["best"] is None or sign * value > sign * state["best"]:
                state.update(best=value, best_epoch=epoch + 1, best_state=_clone_state(model), bad=0)
            else:
                state["bad"] += 1
            stop = self.patience is not None and state["bad"] >= self.patience
            save(done=False)
            if stop:
                break
        if state["best_state"] is not None:
            model.load_state_dict(state["best_state"])
        metrics = {f"test_{k}": v for k, v in self.evaluate(task, model, test).items()}
        best_row = next((r for r in self.history[history_start:] if r.get("epoch") == state["best_epoch"]), {})
        metrics.update({k: float(v) for k, v in best_row.items() if k.startswith("val_")})
        metrics.update(epochs=float(state["epoch"]), best_epoch=float(state["best_epoch"]))
        state["best_state"] = None
        save(done=True, metrics=metrics)
        return metrics
