"""What a model is: an ``nn.Module`` (trained by the trainer) or an estimator (fitted by its task).

Models are built by factories with explicit keyword arguments (scikit-learn style), so a model's config is a
plain JSON dict. Optional hooks a model may implement:

- ``auxiliary_losses() -> dict[str, Tensor]``: called after each training forward; the trainer adds the
  scalars to the task loss and logs each one as ``train_aux_<name>``.

An estimator implements ``fit`` and ``score_samples`` and/or ``predict``, and saves without pickle through
``state_dict() -> dict`` (tensors, numbers, strings, lists) and ``load_state_dict(state)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

__all__ = ["Model", "Estimator", "is_estimator"]


@runtime_checkable
class Model(Protocol):
    """A trainable model: an ``nn.Module`` mapping a batch's inputs to outputs."""

    def forward(self, *inputs: torch.Tensor) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


@runtime_checkable
class Estimator(Protocol):
    """A fitted (not gradient-trained) model, e.g. a kernel density estimator."""

    def fit(self, x: Any, y: Any = None) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


def is_estimator(model: Any) -> bool:
    import torch

    return not isinstance(model, torch.nn.Module) and isinstance(model, Estimator)
