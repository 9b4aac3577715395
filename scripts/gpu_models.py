"""Each registered model, one small run on CUDA through core.run (a few steps, forward and backward).

For every model, the first registered task of a kind it fits (core's tasks first) runs with the smallest
budget the task honours. Prints one line per model and exits 1 if any failed. Part of scripts/gpu-check.
"""

from __future__ import annotations

import sys
import time
import traceback

import torch

from hyperzoo import core
from hyperzoo.core.discovery import registry
from hyperzoo.core.runner import trainer_keys


def task_for(kinds: tuple[str, ...]) -> str | None:
    reg = registry()
    names = sorted(reg.names("task"), key=lambda n: (reg.get("task", n).plugin != "core", n))
    for name in names:
        if core.task_kind(name) in kinds:
            return name
    return None


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to check")
        return 2
    failed = 0
    for model in core.models():
        task = task_for(core.model_fits(model))
        if task is None:
            print(f"{model:<28} no registered task fits {list(core.model_fits(model))}: skipped")
            continue
        honoured = set(trainer_keys(core.get_task(task)))
        budget = {k: v for k, v in {"epochs": 1, "patience": None}.items() if k in honoured}
        started = time.perf_counter()
        try:
            result = core.run(task, model, device="cuda", progress=False, **budget)
            torch.cuda.synchronize()
            shown = {k: round(v, 4) for k, v in result.metrics.items() if k.startswith("test_")}
            print(f"{model:<28} {task:<26} ok   {time.perf_counter() - started:6.1f} s  {shown}")
        except Exception as exc:  # report every model, then fail
            failed += 1
            print(f"{model:<28} {task:<26} FAIL {type(exc).__name__}: {exc}")
            traceback.print_exc(limit=3)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
