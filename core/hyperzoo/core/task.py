"""What a task is, and the base classes most tasks reuse.

A task has a ``kind`` (matched against a model's ``fits``), supplies data-derived sizes as defaults for the
model factory (``model_defaults()``) and training defaults (``trainer_defaults()``), and owns its procedure:
``run(model, trainer) -> metrics``. :class:`SupervisedTask` hands that to core's trainer; a task may instead
run its own procedure (ten splits, a continual-learning sequence, fitting an estimator) and still use the
trainer's helpers (``trainer.fit``, ``trainer.log``, ``trainer.device``).

Data layout is channels-first everywhere: sequences ``(N, C, L)``, images ``(N, C, H, W)``.
Conventional data-derived keys: ``in_channels``, ``seq_len``, ``image_size`` ([H, W]), ``num_classes``,
``in_features``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # keep `import hyperzoo.core` free of torch
    import torch

    from .trainer import Trainer

__all__ = ["Task", "SupervisedTask", "ClassificationTask"]


@runtime_checkable
class Task(Protocol):
    """The task protocol."""

    kind: str

    def model_defaults(self) -> dict[str, Any]:
        """Data-derived model arguments (e.g. ``in_channels``, ``num_classes``); the user's config overrides them."""
        ...

    def trainer_defaults(self) -> dict[str, Any]:
        """Training arguments that suit this task (e.g. ``epochs``); the user's config overrides them."""
        ...

    def run(self, model: Any, trainer: Trainer) -> dict[str, float]:
        """Train/fit and evaluate ``model``; return flat metrics (``test_accuracy``, ...)."""
        ...


class SupervisedTask(ABC):
    """A task trained by core's :class:`~hyperzoo.core.trainer.Trainer` on ``splits()``.

    Subclasses provide ``splits()`` (``{"train", "val", "test"}`` → ``torch.utils.data.Dataset``; a
    ``TensorDataset`` takes the fast path), ``loss`` and ``metrics``. Early stopping watches
    ``"val_" + monitor`` (maximised when ``monitor_mode == "max"``).
    """

    kind: str = "supervised"
    monitor: str = "loss"
    monitor_mode: str = "min"

    @abstractmethod
    def splits(self) -> dict[str, Any]:
        """``{"train": Dataset, "val": Dataset, "test": Dataset}``, loaded once and cached by the task."""

    def model_defaults(self) -> dict[str, Any]:
        return {}

    def trainer_defaults(self) -> dict[str, Any]:
        return {}

    def forward(self, model: Any, batch: tuple[torch.Tensor, ...]) -> tuple[Any, torch.Tensor]:
        """Model outputs and targets for one batch; the last tensor of a batch is the target."""
        *inputs, target = batch
        return model(*inputs), target

    @abstractmethod
    def loss(self, outputs: Any, targets: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
        """The training objective (``label_smoothing`` is the trainer's option; 0 when evaluating)."""

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Metrics over a whole split from its concatenated outputs and targets (``loss`` is added by the trainer)."""
        return {}

    def run(self, model: Any, trainer: Trainer) -> dict[str, float]:
        return trainer.fit(self, model)


class ClassificationTask(SupervisedTask):
    """Classification from in-memory tensors: subclasses implement ``load()``; cross-entropy, accuracy.

    ``load()`` returns ``{"train": (x, y), "val": (x, y), "test": (x, y)}`` with float inputs laid out
    channels-first and int64 labels in ``[0, num_classes)``.
    """

    kind = "classification"  # subclasses name theirs: "sequence-classification", "image-classification", ...
    monitor = "accuracy"
    monitor_mode = "max"

    @abstractmethod
    def load(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The three splits as tensors (or arrays); called once."""

    def splits(self) -> dict[str, Any]:
        cached = getattr(self, "_splits", None)
        if cached is None:
            import torch
            from torch.utils.data import TensorDataset

            arrays = self.load()
            missing = {"train", "val", "test"} - set(arrays)
            if missing:
                raise ValueError(f"{type(self).__name__}.load() must return train, val and test; missing {missing}")
            cached = {}
            for split, (x, y) in arrays.items():
                x, y = torch.as_tensor(x), torch.as_tensor(y)
                if len(x) != len(y):
                    raise ValueError(f"{type(self).__name__}: {split} has {len(x)} inputs but {len(y)} labels")
                cached[split] = TensorDataset(x.float(), y.long())
            self._splits = cached
        return cached

    @property
    def num_classes(self) -> int:
        return int(max(int(ds.tensors[1].max()) for ds in self.splits().values())) + 1

    def model_defaults(self) -> dict[str, Any]:
        x = self.splits()["train"].tensors[0]
        defaults: dict[str, Any] = {"in_channels": int(x.shape[1]), "num_classes": self.num_classes}
        if x.dim() == 3:
            defaults["seq_len"] = int(x.shape[2])
        elif x.dim() == 4:
            defaults["image_size"] = [int(x.shape[2]), int(x.shape[3])]
        defaults["in_features"] = int(x[0].numel())
        return defaults

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(outputs, targets, label_smoothing=label_smoothing)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Accuracy, and the accuracy of each class c present in ``targets`` as ``accuracy_class<c>``."""
        import torch

        pred = outputs.argmax(-1)
        correct = (pred == targets).double()
        counts = torch.bincount(targets, minlength=outputs.shape[-1]).double()
        per_class = torch.bincount(targets, weights=correct, minlength=outputs.shape[-1]) / counts.clamp(min=1)
        values = torch.cat([correct.mean().reshape(1), per_class]).tolist()  # one host read
        present = (counts > 0).tolist()
        return {"accuracy": values[0], **{f"accuracy_class{c}": v for c, (v, ok) in
                                          enumerate(zip(values[1:], present)) if ok}}

    def reports(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        """Non-scalar results of a split: ``confusion_matrix[true][predicted]`` (counts)."""
        import torch

        k = outputs.shape[-1]
        cm = torch.bincount(targets * k + outputs.argmax(-1), minlength=k * k).reshape(k, k)
        return {"confusion_matrix": cm.tolist()}
