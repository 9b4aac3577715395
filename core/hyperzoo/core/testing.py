"""Test helpers for operator authors: backend-vs-reference parity, interpreted Triton parity, test data.

    from hyperzoo.core import testing

    def cases():                       # a list of (args, kwargs)
        x = torch.randn(4, 64, requires_grad=True)
        return [((x, torch.ones(64)), {})]

    def test_parity():                 # every declared backend that can run here
        testing.check_parity("core.rms_norm", cases(), skip={"triton": "needs a GPU; see the interpreted test"})

    def test_triton_parity_interpreted():   # fresh subprocess with TRITON_INTERPRET=1 set before Triton loads
        testing.check_parity_interpreted("core.rms_norm", f"{__file__}::cases", backends=["triton"])

A declared backend that never ran fails the check unless ``skip`` states why.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from .dispatch import Operator, get_operator

__all__ = ["check_parity", "check_parity_interpreted", "ParityReport", "DEFAULT_TOLERANCES", "require_data",
           "load_cases"]

DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-9),
    "float32": (1e-4, 1e-5),
    "float16": (1e-2, 1e-2),
    "bfloat16": (2e-2, 2e-2),
}


@dataclass
class ParityReport:
    """Per backend: how many cases ran, the largest absolute error seen, and why cases were not run."""

    operator: str
    ran: dict[str, int] = field(default_factory=dict)
    max_abs_error: dict[str, float] = field(default_factory=dict)
    not_run: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"operator": self.operator, "ran": self.ran, "max_abs_error": self.max_abs_error,
                "not_run": self.not_run, "skipped": self.skipped}


def _clone(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        out = value.detach().clone()
        return out.requires_grad_(value.requires_grad) if out.is_floating_point() or out.is_complex() else out
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _tensors(value: Any) -> list[Any]:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _leaves(args: Any, kwargs: Any) -> list[Any]:
    return [t for t in _tensors((args, kwargs)) if t.requires_grad]


def _run(fn: Callable[..., Any], args: tuple, kwargs: dict, grad: bool, seed: int) -> tuple[list[Any], list[Any]]:
    """Outputs and (when any input requires grad) gradients for a fixed random cotangent."""
    import torch

    args, kwargs = _clone(args), _clone(kwargs)
    outs = _tensors(fn(*args, **kwargs))
    leaves = _leaves(args, kwargs)
    grads: list[Any] = []
    diff = [o for o in outs if o.requires_grad]
    if grad and leaves and diff:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        cot = [torch.randn(o.shape, generator=gen, dtype=torch.float32).to(o.device, o.dtype) for o in diff]
        grads = list(torch.autograd.grad(diff, leaves, cot, allow_unused=True))
    return [o.detach() for o in outs], grads


def _compare(label: str, ref: list[Any], got: list[Any], tol: Mapping[str, tuple[float, float]]) -> tuple[float, str]:
    import torch

    if len(ref) != len(got):
        return float("inf"), f"{label}: reference gave {len(ref)} tensors, backend {len(got)}"
    worst = 0.0
    for i, (r, g) in enumerate(zip(ref, got)):
        if r is None and g is None:
            continue
        if (r is None) != (g is None):
            return float("inf"), f"{label}[{i}]: gradient present in only one of reference/backend"
        if r.shape != g.shape or r.dtype != g.dtype:
            return float("inf"), (f"{label}[{i}]: reference {tuple(r.shape)} {r.dtype}, "
                                  f"backend {tuple(g.shape)} {g.dtype}")
        rtol, atol = tol.get(str(r.dtype).removeprefix("torch."), (0.0, 0.0))
        err = float((r.double().cpu() - g.double().cpu()).abs().max()) if r.numel() else 0.0
        worst = max(worst, err)
        try:
            torch.testing.assert_close(g.cpu(), r.cpu(), rtol=rtol, atol=atol, equal_nan=True)
        except AssertionError as exc:
            return worst, f"{label}[{i}] differs from the reference (rtol={rtol}, atol={atol}): {exc}"
    return worst, ""


def check_parity(
    operator: str | Operator,
    cases: Iterable[tuple[tuple, dict]],
    *,
    backends: Iterable[str] | None = None,
    skip: Mapping[str, str] | None = None,
    grad: bool = True,
    tolerances: Mapping[str, tuple[float, float]] | None = None,
    seed: int = 0,
) -> ParityReport:
    """Check every backend of ``operator`` (or those named) against its reference: outputs and gradients.

    Each case is ``(args, kwargs)``; inputs are cloned per run, so gradients of inputs with
    ``requires_grad=True`` are compared under one fixed random cotangent. Tolerances by dtype come from
    ``tolerances``, else the backend's registration, else :data:`DEFAULT_TOLERANCES`. Raises
    ``AssertionError`` listing every mismatch and every declared backend that never ran and is not in ``skip``.
    """
    op = operator if isinstance(operator, Operator) else get_operator(operator)
    cases = list(cases)
    if not cases:
        raise ValueError("check_parity needs at least one case")
    skip = dict(skip or {})
    names = list(op.backends) if backends is None else list(backends)
    unknown = [n for n in [*names, *skip] if n not in op.backends]
    if unknown:
        raise ValueError(f"{op.name} has no backend(s) {unknown}; declared: {list(op.backends)}")
    report = ParityReport(op.name, skipped={n: skip[n] for n in names if n in skip})
    failures: list[str] = []
    for name in names:
        if name in skip:
            continue
        backend = op.backends[name]
        tol = {**DEFAULT_TOLERANCES, **backend.tolerances, **dict(tolerances or {})}
        report.ran[name], report.max_abs_error[name] = 0, 0.0
        for i, (args, kwargs) in enumerate(cases):
            ok, why = backend.check(*args, **kwargs)
            if not ok:
                report.not_run.setdefault(name, []).append(f"case {i}: " + "; ".join(why))
                continue
            ref_out, ref_grad = _run(op.reference, args, kwargs, grad, seed + i)
            out, grads = _run(partial(op, backend=name), args, kwargs, grad, seed + i)
            for label, r, g in (("output", ref_out, out), ("grad", ref_grad, grads)):
                err, msg = _compare(f"{name} case {i} {label}", r, g, tol)
                report.max_abs_error[name] = max(report.max_abs_error[name], err)
                if msg:
                    failures.append(msg)
            report.ran[name] += 1
        if report.ran[name] == 0:
            failures.append(
                f"declared backend {name!r} of {op.name} was never exercised: "
                + " | ".join(report.not_run.get(name, ["no case"]))
                + f". Give it inputs it supports, or pass skip={{{name!r}: 'why'}}"
            )
    if failures:
        raise AssertionError(f"parity check of {op.name} failed:\n  " + "\n  ".join(failures))
    return report


def load_cases(spec: str) -> list[tuple[tuple, dict]]:
    """Build cases from ``"path/to/file.py::function"`` or ``"package.module:function"``."""
    if "::" in spec:
        path, _, fn = spec.rpartition("::")
        factory = runpy.run_path(path, run_name="hyperzoo_parity_cases")[fn]
    else:
        from .registry import resolve

        factory = resolve(spec, what="parity cases")
    return list(factory())


def check_parity_interpreted(
    operator: str,
    cases: str,
    *,
    backends: Iterable[str] | None = None,
    skip: Mapping[str, str] | None = None,
    grad: bool = True,
    timeout: float = 600,
) -> dict[str, Any]:
    """Run :func:`check_parity` in a fresh Python with ``TRITON_INTERPRET=1`` set before Triton is imported.

    ``cases`` names a function returning the cases: ``"path/to/test_file.py::cases"`` or
    ``"package.module:cases"``. This is how CI proves GPU kernels correct on a CPU. Returns the report as a dict.
    """
    request = {"operator": operator, "cases": cases, "backends": list(backends) if backends is not None else None,
               "skip": dict(skip or {}), "grad": grad}
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, "-c", "from hyperzoo.core.testing import _main; _main()",
                           json.dumps(request)], capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"interpreted parity check of {operator} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _main() -> None:
    request = json.loads(sys.argv[1])
    report = check_parity(request["operator"], load_cases(request["cases"]), backends=request["backends"],
                          skip=request["skip"], grad=request["grad"])
    print(json.dumps(report.to_dict()))


def require_data(*relative: str) -> Path:
    """The data root holding ``relative`` files, for tests: fail under CI (``CI=true``), skip elsewhere.

    Skips are reported with the reason prefix ``data missing:``, which the test session accepts only
    outside CI.
    """
    from .data import DataNotFoundError, data_root

    try:
        root = data_root()
        missing = [r for r in relative if not (root / r).exists()]
        if missing:
            raise DataNotFoundError(f"{missing} not under {root}")
    except DataNotFoundError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise
        import pytest

        pytest.skip(f"data missing: {exc}")
    return root
