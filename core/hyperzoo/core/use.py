"""Use a trained model: ``core.predict`` and ``core.evaluate`` on a run directory or a ``RunResult``, and
``describe`` for what a registered model or task takes (read from its source, without importing it).

    result = core.run("digits-seq", "cnn", epochs=3, out_dir="runs/cnn")
    logits = core.predict("runs/cnn", x)                  # x: a tensor or array laid out like the task's inputs
    core.evaluate("runs/cnn")["test_accuracy"]            # the run's task and split, or another task=/split=
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
from pathlib import Path
from typing import Any

from .config import ConfigError

__all__ = ["predict", "evaluate", "describe"]


def _model_and_config(source: Any) -> tuple[Any, dict[str, Any]]:
    from .runner import RunResult, load

    if isinstance(source, RunResult):
        return source.model, source.config
    if isinstance(source, (str, os.PathLike)):
        return load(source)
    raise TypeError(f"expected a run directory or a RunResult, got {type(source).__name__}")


def predict(source: Any, inputs: Any, *, batch_size: int = 512) -> Any:
    """The model's outputs on ``inputs`` (a tensor or array shaped like the task's inputs, batch first).

    Torch models return a CPU tensor (logits for classifiers); estimators return what their ``predict``
    (or ``score_samples``) returns."""
    import numpy as np
    import torch

    model, _ = _model_and_config(source)
    if not isinstance(model, torch.nn.Module):
        method = getattr(model, "predict", None) or getattr(model, "score_samples", None)
        if method is None:
            raise TypeError(f"{type(model).__name__} has neither predict() nor score_samples()")
        return method(np.asarray(inputs))
    x = torch.as_tensor(np.asarray(inputs) if not isinstance(inputs, torch.Tensor) else inputs)
    if x.dtype.is_floating_point or x.dtype in (torch.uint8, torch.int32, torch.int64):
        x = x.float() if not x.dtype.is_floating_point else x
    if not torch.isfinite(x).all():
        raise ValueError("inputs hold NaN or infinite values")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    model.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            outs.append(model(x[start:start + batch_size].to(device)).cpu())
    return torch.cat(outs) if outs else torch.empty(0)


def evaluate(source: Any, task: Any = None, *, split: str = "test") -> dict[str, float]:
    """Metrics of a trained model on ``split`` of its run's task (or of ``task``: a name or an instance).

    Works for supervised tasks (``splits()``); keys are ``<split>_<metric>`` like the run's."""
    from . import get_task
    from .trainer import Trainer

    model, config = _model_and_config(source)
    if task is None:
        task = get_task(config["task"], **(config.get("task_args") or {}))
    elif isinstance(task, str):
        task = get_task(task)
    splits = getattr(task, "splits", None)
    if splits is None:
        raise ConfigError(f"task {type(task).__name__} owns its procedure and has no splits(); evaluate needs a "
                          "supervised task (its metrics are in the run's metrics.json)")
    data = splits()
    if split not in data:
        raise ConfigError(f"split {split!r} is not one of the task's splits {sorted(data)}")
    trainer = Trainer(eval_batch_size=int((config.get("trainer_args") or {}).get("eval_batch_size", 512)))
    return {f"{split}_{k}": v for k, v in trainer.evaluate(task, model, data[split]).items()}


# -- describe ----------------------------------------------------------------------------------------------------
def _source_def(target: str) -> tuple[ast.AST, list[dict[str, Any]]] | None:
    """The definition of ``"module:name"`` in its source and its parameters, or None when the source alone
    cannot tell (no .py file, a name assigned rather than defined, an ``__init__`` inherited from elsewhere)."""
    module_name, _, attr = target.partition(":")
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py") or "." in attr:
        return None
    text = Path(spec.origin).read_text(encoding="utf-8")
    defs = {n.name: n for n in ast.parse(text).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    node = defs.get(attr)
    if node is None:
        return None
    signature = node
    while isinstance(signature, ast.ClassDef):  # find the __init__, following bases defined in the same module
        init = next((n for n in signature.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if init is not None:
            signature = init
            break
        bases = [defs.get(b.id) for b in signature.bases if isinstance(b, ast.Name)]
        local = [b for b in bases if isinstance(b, ast.ClassDef)]
        if not local:
            return None
        signature = local[0]
    return node, _params_from_ast(signature, text)


def _params_from_ast(node: ast.FunctionDef, text: str) -> list[dict[str, Any]]:
    args = node.args
    out = []
    positional = [a for a in args.posonlyargs + args.args if a.arg not in ("self", "cls")]
    pos_defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for a, d in [*zip(positional, pos_defaults), *zip(args.kwonlyargs, args.kw_defaults)]:
        out.append({"name": a.arg,
                    "type": ast.get_source_segment(text, a.annotation) if a.annotation is not None else None,
                    "default": ast.get_source_segment(text, d) if d is not None else None,
                    "required": d is None})
    return out


def _first_paragraph(doc: str | None) -> str:
    return inspect.cleandoc(doc or "").split("\n\n")[0].replace("\n", " ")


def describe(kind: str, name: str) -> dict[str, Any]:
    """What the model or task ``name`` takes: parameters (name, type, default), the kinds it fits (or its kind),
    the plugin, and its docstring's first paragraph. Read from the source without importing it when possible."""
    from .discovery import registry

    if kind not in ("model", "task"):
        raise ValueError("kind must be 'model' or 'task'")
    entry = registry().get(kind, name)
    info: dict[str, Any] = {"name": name, "plugin": entry.plugin}
    if kind == "model":
        info["fits"] = list(entry.meta["fits"])
    else:
        info["kind"] = entry.meta["task_kind"]
    found = _source_def(entry.target) if isinstance(entry.target, str) and ":" in entry.target else None
    if found is not None:
        node, info["parameters"] = found
        info["doc"] = _first_paragraph(ast.get_docstring(node))
        info["imported"] = False
    else:  # an object, or a name the source does not define directly: import it
        from .config import parameters

        factory = entry.load()
        named, _ = parameters(factory)
        info["parameters"] = [{"name": n, "type": None if p.annotation is p.empty else str(p.annotation),
                               "default": None if p.default is p.empty else repr(p.default),
                               "required": p.default is p.empty} for n, p in named.items()]
        info["doc"] = _first_paragraph(getattr(factory, "__doc__", None))
        info["imported"] = True
    return info
