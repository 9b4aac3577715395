"""hyperzoo.core -- operators, models and tasks, and one call to run any fitting pair.

    from hyperzoo import core
    result = core.run("digits-seq", "cnn", epochs=5)
    result.metrics["test_accuracy"]

Listing (``core.plugins()``, ``core.models()``, ...) never imports torch or a plugin's heavy modules;
``core.run`` and friends import torch when first used.
"""

from __future__ import annotations

from typing import Any

from .config import ConfigError, bound_config, check_kwargs
from .discovery import CORE_VERSION as __version__
from .discovery import PluginCheck, PluginInfo, check_plugins, plugins, register_plugin, unregister_plugin
from .discovery import registry as _registry
from .dispatch import Backend, BackendError, Operator, get_operator, operators, triton_available, triton_supports
from .hookspecs import hookimpl
from .model import Estimator, Model
from .registry import PluginLoadError, Registrar, RegistryError
from .task import ClassificationTask, SupervisedTask, Task

__all__ = [
    "__version__",
    "run", "prepare", "RunPlan", "load", "RunResult", "Trainer", "aggregate", "predict", "evaluate", "describe",
    "sweep", "SweepResult", "functional_hash", "suggest_hyperparameters",
    "plugins", "PluginInfo", "register_plugin", "unregister_plugin", "check_plugins", "PluginCheck",
    "operators", "models", "tasks", "datasets", "optimizers",
    "get_operator", "create_model", "get_task", "get_dataset", "get_optimizer", "model_fits", "task_kind",
    "hookimpl", "Registrar", "Operator", "Backend",
    "Task", "SupervisedTask", "ClassificationTask", "Model", "Estimator",
    "RegistryError", "PluginLoadError", "BackendError", "ConfigError",
    "triton_available", "triton_supports",
]


def models(pattern: str = "*") -> list[str]:
    """Sorted names of registered models matching the fnmatch ``pattern``."""
    return _registry().names("model", pattern)


def tasks(pattern: str = "*") -> list[str]:
    """Sorted names of registered tasks matching the fnmatch ``pattern``."""
    return _registry().names("task", pattern)


def datasets(pattern: str = "*") -> list[str]:
    """Sorted names of registered data-set loaders matching the fnmatch ``pattern``."""
    return _registry().names("dataset", pattern)


def optimizers(pattern: str = "*") -> list[str]:
    """Sorted names of registered optimisers matching the fnmatch ``pattern``."""
    return _registry().names("optimizer", pattern)


def model_fits(name: str) -> tuple[str, ...]:
    """The task kinds model ``name`` declares it fits (no import of the model's module)."""
    return _registry().get("model", name).meta["fits"]


def task_kind(name: str) -> str:
    """The kind of task ``name`` (no import of the task's module)."""
    return _registry().get("task", name).meta["task_kind"]


def _build(kind: str, name: str, kwargs: dict[str, Any]) -> Any:
    factory = _registry().get(kind, name).load()
    check_kwargs(factory, kwargs, kind)
    obj = factory(**kwargs)
    try:  # how it was built, so core.run can record and rebuild it
        obj.hyperzoo_spec = {"name": name, "args": bound_config(factory, kwargs)}
    except AttributeError:
        pass
    return obj


def create_model(name: str, **kwargs: Any) -> Any:
    """Build the model registered as ``name`` with the factory's keyword arguments."""
    return _build("model", name, kwargs)


def get_task(name: str, **kwargs: Any) -> Any:
    """Build the task registered as ``name`` with the factory's keyword arguments."""
    return _build("task", name, kwargs)


def get_dataset(name: str) -> Any:
    """The loader function registered as ``name`` (call it with the loader's own arguments)."""
    return _registry().get("dataset", name).load()


def get_optimizer(name: str) -> Any:
    """The optimiser factory registered as ``name``: ``factory(params, lr=..., weight_decay=...)``."""
    return _registry().get("optimizer", name).load()


_LAZY = {
    "run": "runner",
    "prepare": "runner",
    "RunPlan": "runner",
    "load": "runner",
    "RunResult": "runner",
    "Trainer": "trainer",
    "aggregate": "trainer",
    "predict": "use",
    "evaluate": "use",
    "describe": "use",
    "sweep": "sweeps",
    "SweepResult": "sweeps",
    "functional_hash": "sweeps",
    "suggest_hyperparameters": "steplaw",
}


def __getattr__(name: str) -> Any:  # heavy parts import torch: load them on first use
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hyperzoo.core' has no attribute {name!r}")
