"""Continual-learning tasks (kind ``continual-learning``): a sequence of sub-tasks learned one after another.

Tasks: ``split-digits``, ``permuted-digits`` (scikit-learn digits, split as core's ``digits-2d``) and
``split-mnist``, ``permuted-mnist`` (the 5k MNIST training subset under the data root, a stratified 10% of it
for validation, and the official 10k test set). Inputs are images ``(N, 1, H, W)`` standardised with the whole
training split's mean and standard deviation; labels are the original digit classes ``0..9``, so a model has
``num_classes = 10`` logits over all sub-tasks.

- **split**: sub-task ``t`` holds the classes ``2t`` and ``2t + 1`` (``num_tasks <= 5``). Task-incremental by
  default (``task_identity=True``): the sub-task is known at test time and logits outside its two classes are
  masked (a multi-head classifier over one shared output layer). With ``task_identity=False`` it is
  class-incremental: no mask, a prediction among all ten classes.
- **permuted**: sub-task ``t`` holds every class with its pixels permuted by a fixed permutation ``P_t`` drawn
  from ``split_seed`` (``P_0`` is the identity, so sub-task 0 is the plain data). Domain-incremental by default
  (``task_identity=False``): the model is not told which permutation an input went through.

**Procedure.** For each sub-task ``t`` in order: ``model.begin_task(t)`` (if the model has it), training with
core's :class:`~hyperzoo.core.trainer.Trainer` in mini-batch mode on that sub-task alone
(``trainer.fit(subtask, model, checkpoint=f"task-{t}.pt")``: every trainer setting applies per sub-task, early
stopping watches the sub-task's validation accuracy, and a killed run resumed with ``resume=True`` continues from
the last checkpoint), then ``model.end_task(t, train_inputs, train_targets)`` (if the model has it; the
sub-task's training tensors on the trainer's device), then evaluation on the test split of every sub-task seen
so far: row ``t`` of the accuracy matrix, ``R[t, i]`` = test accuracy on sub-task ``i`` after learning sub-task
``t`` (``i <= t``). A resumed run replays the hooks of the finished sub-tasks (``begin_task``, ``end_task``)
around their finished fits, which restore the weights and the random state each fit ended with, so the
replay repeats what the uninterrupted run did; a model therefore keeps what ``end_task`` stores in its
``state_dict`` (buffers, parameters) or rebuilds it in ``end_task``.

**The model protocol** (every hook optional, so any plain classifier such as core's ``mlp`` or ``cnn`` is the
*fine-tuning* baseline):

- ``begin_task(t)`` before sub-task ``t`` is trained (e.g. add a task embedding);
- ``end_task(t, train_inputs, train_targets)`` after it (store embeddings, snapshots, a generative replay
  model, ...);
- extra losses through the existing ``auxiliary_losses()`` (added to the loss by the trainer and logged);
- ``continual_loss(x, y, task_id, allowed)``: the model's own training loss, for a loss that needs the labels
  (e.g. a worst-case loss over an interval of networks). When present it is called in training *instead of*
  the forward, with the batch's inputs, labels, sub-task ids and ``allowed`` (``(N, num_classes)`` booleans:
  the classes each example may take with ``task_identity=True``, else ``None``), and returns
  ``(logits, loss)``: the logits (masked like any model's) serve the training metrics and ``loss`` (a scalar)
  replaces the task's cross-entropy; ``auxiliary_losses()`` are still added. Evaluation calls the model as
  usual. It cannot be combined with ``label_smoothing`` (the loss is the model's) nor with
  ``DistributedDataParallel`` (it bypasses the wrapper's forward); both raise;
- ``takes_task_id = True``: the model is called as ``model(x, task_id)`` with a LongTensor of sub-task ids
  (one per example) in training, and in evaluation when ``task_identity=True``; in evaluation without task
  identity it is called as ``model(x)`` and must infer the sub-task itself (or use a task-agnostic path).
  A model without it is always called as ``model(x)``. The learner always knows which sub-task it is
  *training* on (``begin_task``); ``task_identity`` is about test time.

With ``task_identity=True`` the logits of classes outside an example's sub-task are set to ``-inf`` for every
model, in training and evaluation (the task-incremental protocol: predict among the sub-task's classes).

**Joint training** (``joint=True``) is the upper-bound baseline: one training on the union of all sub-tasks
(each example keeps its sub-task id and mask), then one evaluation on every sub-task. A joint learner learns
every sub-task at the same moment, so its accuracy matrix has ``T`` identical rows (its final row; one row is
logged) and its backward transfer and forgetting are 0 by construction; compare its average accuracy.

**Metrics** (``T`` sub-tasks, ``R`` as above, indices from 0):

- ``test_average_accuracy`` = (1/T) Σ_i R[T-1, i] (mean final accuracy over all sub-tasks);
- ``test_backward_transfer`` = (1/(T-1)) Σ_{i<T-1} (R[T-1, i] - R[i, i]) (BWT, Lopez-Paz & Ranzato 2017; negative
  means forgetting);
- ``test_forgetting`` = (1/(T-1)) Σ_{i<T-1} (max_{i<=l<T-1} R[l, i] - R[T-1, i]) (Chaudhry et al. 2018);
- ``test_accuracy_task<i>`` = R[T-1, i].

With one sub-task BWT and forgetting are 0. The history holds the trainer's epoch rows (tagged with
``"subtask": t``) and, after each sub-task, one row ``{"subtask": t, "accuracy_row": [R[t, 0], ..., R[t, t]],
"average_accuracy": mean of that row}``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import ConfigError
from .task import SupervisedTask

if TYPE_CHECKING:  # keep `import hyperzoo.core` free of torch
    import torch

    from .trainer import Trainer

__all__ = ["ContinualTask", "SplitDigits", "PermutedDigits", "SplitMNIST", "PermutedMNIST", "SubTask",
           "continual_metrics", "permutations"]

KIND = "continual-learning"
CLASSES_PER_SPLIT = 2


def continual_metrics(matrix: Sequence[Sequence[float]]) -> dict[str, float]:
    """Average accuracy, backward transfer and forgetting of a lower-triangular accuracy matrix.

    ``matrix[t][i]`` is the test accuracy on sub-task ``i`` after learning sub-task ``t`` (row ``t`` holds
    ``t + 1`` entries, or more; entries past ``t`` are ignored). With ``T = len(matrix)``:
    average accuracy (1/T) Σ_i R[T-1,i]; BWT (1/(T-1)) Σ_{i<T-1} R[T-1,i] - R[i,i];
    forgetting (1/(T-1)) Σ_{i<T-1} max_{i<=l<T-1} R[l,i] - R[T-1,i]. BWT and forgetting are 0 when T = 1.
    """
    rows = [list(map(float, r)) for r in matrix]
    if not rows:
        raise ValueError("the accuracy matrix is empty: learn at least one sub-task")
    for t, row in enumerate(rows):
        if len(row) < t + 1:
            raise ValueError(f"accuracy matrix row {t} has {len(row)} entries; it needs R[{t}, 0..{t}]")
    last = len(rows) - 1
    final = rows[last][: last + 1]
    out = {"test_average_accuracy": float(np.mean(final))}
    if last == 0:
        out.update(test_backward_transfer=0.0, test_forgetting=0.0)
    else:
        out["test_backward_transfer"] = float(np.mean([final[i] - rows[i][i] for i in range(last)]))
        out["test_forgetting"] = float(np.mean([max(rows[l][i] for l in range(i, last)) - final[i]
                                                for i in range(last)]))
    out.update({f"test_accuracy_task{i}": final[i] for i in range(last + 1)})
    return out


def permutations(num_pixels: int, num_tasks: int, split_seed: int) -> list[np.ndarray]:
    """The pixel permutations of the permuted tasks: the identity for sub-task 0, then ``num_tasks - 1``
    permutations drawn with ``numpy.random.default_rng(split_seed)``."""
    rng = np.random.default_rng(split_seed)
    return [np.arange(num_pixels)] + [rng.permutation(num_pixels) for _ in range(num_tasks - 1)]


class SubTask(SupervisedTask):
    """One sub-task (or, for joint training, the union of all), as core's trainer sees it.

    Its data sets hold ``(index, task_id, y)``: ``index`` points into the task's one copy of the inputs and
    ``fetch(index, task_id)`` returns the inputs as the sub-task shows them (permuted for the permuted tasks), on
    the batch's device, so no sub-task copies the data. :meth:`forward` calls the model with or without the ids
    (see the module docstring) and masks the logits of classes outside each example's sub-task when ``allowed``
    is given.
    """

    kind = KIND
    monitor = "accuracy"
    monitor_mode = "max"

    def __init__(self, name: str, data: dict[str, tuple[Any, Any, Any]], *, fetch: Any, num_classes: int,
                 allowed: torch.Tensor | None, takes_task_id: bool, task_identity: bool):
        from torch.utils.data import TensorDataset

        self.name, self.fetch = name, fetch
        self.num_classes = num_classes
        self.allowed, self._allowed_on = allowed, {}
        self._model_loss: tuple[torch.Tensor, torch.Tensor] | None = None  # (logits, loss) of continual_loss
        self.takes_task_id, self.task_identity = takes_task_id, task_identity
        self._splits = {split: TensorDataset(idx, tid, y) for split, (idx, tid, y) in data.items()}

    def __repr__(self) -> str:
        return f"SubTask({self.name!r})"

    def splits(self) -> dict[str, Any]:
        return self._splits

    def tensors(self, split: str, device: Any = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, labels)`` of one split on ``device``, materialised."""
        idx, tid, y = (t.to(device) for t in self._splits[split].tensors)
        return self.fetch(idx, tid), y

    def _allowed(self, device: Any) -> torch.Tensor:
        key = str(device)
        if key not in self._allowed_on:  # one copy per device, not one per batch
            self._allowed_on[key] = self.allowed.to(device)
        return self._allowed_on[key]

    def forward(self, model: Any, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        index, task_id, target = batch
        x = self.fetch(index, task_id)
        own_loss, loss = _continual_loss_hook(model) if model.training else None, None
        if own_loss is not None:
            allowed = self._allowed(x.device)[task_id] if self.allowed is not None else None
            out, loss = own_loss(x, target, task_id, allowed)
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                raise ValueError(f"{type(model).__name__}.continual_loss must return (logits, loss) with a scalar "
                                 f"loss tensor, got a loss of {type(loss).__name__} "
                                 f"{tuple(getattr(loss, 'shape', ()))}")
        elif self.takes_task_id and (model.training or self.task_identity):
            out = model(x, task_id)
        else:
            out = model(x)
        if out.dim() != 2 or out.shape[1] != self.num_classes:
            raise ValueError(f"continual-learning tasks need logits of shape (N, {self.num_classes}) over every "
                             f"sub-task's classes; the model returned {tuple(out.shape)}")
        if self.allowed is not None:
            out = out.masked_fill(~self._allowed(out.device)[task_id], float("-inf"))
        self._model_loss = None if loss is None else (out, loss)
        return out, target

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
        """Cross-entropy over the classes each example may take (``-inf`` logits are masked classes); label
        smoothing spreads over those classes only. For the outputs of a model's ``continual_loss`` (see the
        module docstring) the loss it returned."""
        import torch

        own, self._model_loss = self._model_loss, None
        if own is not None and own[0] is outputs:
            if label_smoothing:
                raise ValueError("the model supplies its own training loss (continual_loss), so label_smoothing "
                                 f"={label_smoothing} cannot apply; set label_smoothing=0 or smooth inside the "
                                 "model's loss")
            return own[1]
        logp = torch.log_softmax(outputs, dim=-1)
        nll = -logp.gather(1, targets[:, None]).squeeze(1)
        if label_smoothing:
            allowed = torch.isfinite(outputs)
            smooth = -logp.masked_fill(~allowed, 0.0).sum(-1) / allowed.sum(-1)
            nll = (1 - label_smoothing) * nll + label_smoothing * smooth
        return nll.mean()

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return {"accuracy": float((outputs.argmax(-1) == targets).float().mean())}


def _continual_loss_hook(model: Any) -> Any:
    """The model's ``continual_loss`` method, or None; an error under DistributedDataParallel (the hook would
    bypass the wrapper's gradient synchronisation)."""
    from torch.nn.parallel import DistributedDataParallel

    if isinstance(model, DistributedDataParallel):
        if callable(getattr(model.module, "continual_loss", None)):
            raise ValueError(f"{type(model.module).__name__} defines continual_loss, which cannot run under "
                             "DistributedDataParallel (it bypasses the wrapper's forward); train it in one process")
        return None
    hook = getattr(model, "continual_loss", None)
    return hook if callable(hook) else None


def _check_int(name: str, value: Any, low: int, high: int | None, why: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{name} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ConfigError(f"{name}={value} is out of range: it must be {bound} ({why})")


class ContinualTask:
    """Base of the continual-learning tasks: subclasses provide :meth:`load_base` (the standardised splits),
    :meth:`classes` and :meth:`members` (which examples and classes a sub-task holds) and, when a sub-task
    shows its inputs differently, :meth:`transform`. See the module docstring."""

    kind = KIND
    scenario = ""  # "split" or "permuted"

    @property
    def trainer_keys(self) -> tuple[str, ...]:
        """Every trainer setting applies: each sub-task is one mini-batch ``trainer.fit``."""
        from .trainer import Trainer

        return Trainer.KEYS

    def __init__(self, *, num_tasks: int, task_identity: bool, joint: bool, split_seed: int):
        if not isinstance(task_identity, bool):
            raise ConfigError(f"task_identity must be True or False, got {task_identity!r}")
        if not isinstance(joint, bool):
            raise ConfigError(f"joint must be True or False, got {joint!r}")
        if not isinstance(split_seed, int) or isinstance(split_seed, bool):
            raise ConfigError(f"split_seed must be an int, got {split_seed!r}")
        self.num_tasks, self.task_identity, self.joint, self.split_seed = num_tasks, task_identity, joint, split_seed
        self._base: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
        self._offsets: dict[str, int] = {}
        self._on_device: dict[str, Any] = {}

    # -- data ------------------------------------------------------------------------------------------------
    def load_base(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{"train", "val", "test"}`` → (images ``(N, 1, H, W)`` float32 standardised, labels int64)."""
        raise NotImplementedError

    def classes(self, t: int) -> list[int]:
        """The classes of sub-task ``t``."""
        raise NotImplementedError

    def members(self, t: int, labels: torch.Tensor) -> torch.Tensor:
        """A boolean mask over a split's ``labels``: the examples sub-task ``t`` holds."""
        raise NotImplementedError

    def transform(self, x: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        """The inputs ``x`` as the sub-tasks ``task_id`` (one per example) show them; the identity here."""
        return x

    def base(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The standardised splits, loaded once (views into one tensor holding every split's inputs)."""
        if self._base is None:
            import torch

            base = self.load_base()
            bank = torch.cat([base[s][0] for s in ("train", "val", "test")])
            self._base, start = {}, 0
            for split in ("train", "val", "test"):
                n = len(base[split][1])
                self._offsets[split] = start
                self._base[split] = (bank[start:start + n], base[split][1])
                start += n
            self._on_device = {"cpu": bank}
        return self._base

    def _bank(self, device: Any) -> torch.Tensor:
        self.base()
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = self._on_device["cpu"].to(device)
        return self._on_device[key]

    def inputs(self, index: torch.Tensor, task_id: torch.Tensor) -> torch.Tensor:
        """Inputs number ``index`` (into train, val, test concatenated) as sub-tasks ``task_id`` show them."""
        return self.transform(self._bank(index.device)[index], task_id)

    def indices(self, t: int, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(global indices, labels) of the examples of ``split`` that sub-task ``t`` holds."""
        import torch

        y = self.base()[split][1]
        keep = torch.nonzero(self.members(t, y)).squeeze(1)
        return keep + self._offsets[split], y[keep]

    def data(self) -> list[dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        """Per sub-task ``{"train", "val", "test"}`` → (inputs, labels), materialised on every call (for
        inspection; training reads the one shared copy through :meth:`inputs`)."""
        import torch

        out = []
        for t in range(self.num_tasks):
            parts = {}
            for split in ("train", "val", "test"):
                idx, y = self.indices(t, split)
                parts[split] = (self.inputs(idx, torch.full_like(idx, t)), y)
            out.append(parts)
        return out

    @property
    def num_classes(self) -> int:
        return int(max(int(y.max()) for y in (s[1] for s in self.base().values()))) + 1

    def allowed(self) -> torch.Tensor:
        """``(num_tasks, num_classes)`` booleans: which classes each sub-task holds."""
        import torch

        mask = torch.zeros(self.num_tasks, self.num_classes, dtype=torch.bool)
        for t in range(self.num_tasks):
            mask[t, self.classes(t)] = True
        return mask

    def subtask(self, t: int | None, *, takes_task_id: bool = False) -> SubTask:
        """Sub-task ``t`` as a trainer task; ``t=None`` is the union of all sub-tasks (joint training)."""
        import torch

        ids = range(self.num_tasks) if t is None else [t]
        splits = {}
        for split in ("train", "val", "test"):
            parts = [self.indices(i, split) for i in ids]
            tids = [torch.full_like(idx, i) for i, (idx, _) in zip(ids, parts)]
            splits[split] = (torch.cat([p[0] for p in parts]), torch.cat(tids), torch.cat([p[1] for p in parts]))
        name = f"{self.scenario}-task{t}" if t is not None else f"{self.scenario}-joint"
        return SubTask(name, splits, fetch=self.inputs, num_classes=self.num_classes,
                       allowed=self.allowed() if self.task_identity else None, takes_task_id=takes_task_id,
                       task_identity=self.task_identity)

    # -- the task protocol -----------------------------------------------------------------------------------
    def model_defaults(self) -> dict[str, Any]:
        x = self.base()["train"][0]
        return {"in_channels": int(x.shape[1]), "image_size": [int(x.shape[2]), int(x.shape[3])],
                "in_features": int(x[0].numel()), "num_classes": self.num_classes, "num_tasks": self.num_tasks}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def run(self, model: Any, trainer: Trainer) -> dict[str, float]:
        takes_id = bool(getattr(model, "takes_task_id", False))
        subtasks = [self.subtask(t, takes_task_id=takes_id) for t in range(self.num_tasks)]

        def evaluate(upto: int) -> list[float]:
            return [float(trainer.evaluate(s, model, s.splits()["test"])["accuracy"]) for s in subtasks[:upto + 1]]

        if self.joint:
            with trainer.tagged(subtask="joint"):
                trainer.fit(self.subtask(None, takes_task_id=takes_id), model, checkpoint="joint.pt")
                row = evaluate(self.num_tasks - 1)
                trainer.log(accuracy_row=row, average_accuracy=float(np.mean(row)))
            return continual_metrics([row] * self.num_tasks)

        begin, end = getattr(model, "begin_task", None), getattr(model, "end_task", None)
        matrix: list[list[float]] = []
        for t, sub in enumerate(subtasks):
            with trainer.tagged(subtask=t):
                if callable(begin):
                    begin(t)
                trainer.fit(sub, model, checkpoint=f"task-{t}.pt")
                if callable(end):
                    end(t, *sub.tensors("train", trainer.device))
                row = evaluate(t)
                matrix.append(row)
                trainer.log(accuracy_row=row, average_accuracy=float(np.mean(row)))
        return continual_metrics(matrix)


# -- scenarios --------------------------------------------------------------------------------------------------
class _Split:
    scenario = "split"
    _max_classes = 10

    def _check_tasks(self, name: str) -> None:
        most = self._max_classes // CLASSES_PER_SPLIT
        _check_int("num_tasks", self.num_tasks, 1, most,
                   f"{name} has {self._max_classes} classes, {CLASSES_PER_SPLIT} per sub-task, so at most {most} "
                   "sub-tasks")

    def classes(self, t: int) -> list[int]:
        return list(range(CLASSES_PER_SPLIT * t, CLASSES_PER_SPLIT * (t + 1)))

    def members(self, t, labels):
        import torch

        return torch.isin(labels, torch.tensor(self.classes(t)))


class _Permuted:
    scenario = "permuted"

    def _check_tasks(self, name: str) -> None:
        _check_int("num_tasks", self.num_tasks, 1, None, f"{name} needs at least one permutation")

    def classes(self, t: int) -> list[int]:
        return list(range(self.num_classes))

    def members(self, t, labels):
        import torch

        return torch.ones_like(labels, dtype=torch.bool)

    def permutations(self) -> list[np.ndarray]:
        x = self.base()["train"][0]
        return permutations(int(x[0].numel()), self.num_tasks, self.split_seed)

    def transform(self, x, task_id):
        """Pixel ``p`` of sub-task ``t``'s input is pixel ``P_t[p]`` of the plain image."""
        import torch

        key = f"perms:{x.device}"
        if key not in self._on_device:
            self._on_device[key] = torch.from_numpy(np.stack(self.permutations())).to(x.device)
        flat = x.reshape(len(x), -1)
        return flat.gather(1, self._on_device[key][task_id]).reshape(x.shape)


class _DigitsData(ContinualTask):
    def load_base(self):
        from .builtin_tasks import _standardise, _stratified_split
        from .data import load_digits

        images, labels = load_digits()
        rest, test = _stratified_split(labels, 0.2, self.split_seed)
        train_rel, val_rel = _stratified_split(labels[rest], 0.1, self.split_seed)
        train, val = rest[train_rel], rest[val_rel]
        x = images.reshape(len(images), 1, 8, 8)
        return _standardise({s: (x[i], labels[i]) for s, i in (("train", train), ("val", val), ("test", test))})

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 10, "batch_size": 32, "lr": 1e-3}


class _MNISTData(ContinualTask):
    def __init__(self, *, num_tasks: int, task_identity: bool, joint: bool, split_seed: int,
                 data_root: str | os.PathLike | None, subset: str, val_fraction: float):
        super().__init__(num_tasks=num_tasks, task_identity=task_identity, joint=joint, split_seed=split_seed)
        if subset not in ("5k", "full"):
            raise ConfigError(f"subset must be '5k' (the shipped training subset) or 'full', got {subset!r}")
        if not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
            raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
        self.data_root, self.subset, self.val_fraction = data_root, subset, val_fraction

    def load_base(self):
        from .builtin_tasks import _standardise, _stratified_split
        from .data import load_mnist

        x_tr, y_tr = load_mnist(self.subset, self.data_root)
        x_te, y_te = load_mnist("test", self.data_root)
        train, val = _stratified_split(y_tr, self.val_fraction, self.split_seed)
        x_tr, x_te = x_tr.reshape(len(x_tr), 1, 28, 28), x_te.reshape(len(x_te), 1, 28, 28)
        return _standardise({"train": (x_tr[train], y_tr[train]), "val": (x_tr[val], y_tr[val]),
                             "test": (x_te, y_te)})

    def trainer_defaults(self) -> dict[str, Any]:
        return {"epochs": 5, "batch_size": 64, "lr": 1e-3}


class SplitDigits(_Split, _DigitsData):
    """Split digits: 5 sub-tasks of two classes (0/1, 2/3, ...) of scikit-learn digits, images (N, 1, 8, 8).
    Task-incremental by default (``task_identity=True``: logits outside the sub-task's classes are masked)."""

    def __init__(self, *, num_tasks: int = 5, task_identity: bool = True, joint: bool = False, split_seed: int = 0):
        super().__init__(num_tasks=num_tasks, task_identity=task_identity, joint=joint, split_seed=split_seed)
        self._check_tasks("split-digits")


class PermutedDigits(_Permuted, _DigitsData):
    """Permuted digits: ``num_tasks`` sub-tasks of all ten digit classes, each with a fixed pixel permutation
    (sub-task 0 unpermuted). Domain-incremental by default (``task_identity=False``)."""

    def __init__(self, *, num_tasks: int = 5, task_identity: bool = False, joint: bool = False,
                 split_seed: int = 0):
        super().__init__(num_tasks=num_tasks, task_identity=task_identity, joint=joint, split_seed=split_seed)
        self._check_tasks("permuted-digits")


class SplitMNIST(_Split, _MNISTData):
    """Split MNIST: 5 sub-tasks of two classes on the 5k training subset (4,500 train / 500 val) and the
    official 10k test set, images (N, 1, 28, 28). Task-incremental by default (``task_identity=True``)."""

    def __init__(self, *, num_tasks: int = 5, task_identity: bool = True, joint: bool = False, split_seed: int = 0,
                 data_root: str | os.PathLike | None = None, subset: str = "5k", val_fraction: float = 0.1):
        super().__init__(num_tasks=num_tasks, task_identity=task_identity, joint=joint, split_seed=split_seed,
                         data_root=data_root, subset=subset, val_fraction=val_fraction)
        self._check_tasks("split-mnist")


class PermutedMNIST(_Permuted, _MNISTData):
    """Permuted MNIST: ``num_tasks`` (default 10) pixel permutations of the 5k subset / official 10k test set
    (sub-task 0 unpermuted), images (N, 1, 28, 28). Domain-incremental by default (``task_identity=False``)."""

    def __init__(self, *, num_tasks: int = 10, task_identity: bool = False, joint: bool = False,
                 split_seed: int = 0, data_root: str | os.PathLike | None = None, subset: str = "5k",
                 val_fraction: float = 0.1):
        super().__init__(num_tasks=num_tasks, task_identity=task_identity, joint=joint, split_seed=split_seed,
                         data_root=data_root, subset=subset, val_fraction=val_fraction)
        self._check_tasks("permuted-mnist")
