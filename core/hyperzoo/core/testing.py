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

Measurement helpers for benchmarks (never for timed unit tests):

    times = testing.interleaved({"ours": f, "peer": g}, repeats=20)   # round-robin, seconds per call
    testing.medians(times)                                             # {"ours": ..., "peer": ...}
    testing.peak_memory(case, n)       # peak resident bytes of case(n) in a fresh (spawned) process
"""

from __future__ import annotations

import json
import os
import runpy
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from .dispatch import Operator, get_operator

__all__ = ["check_parity", "check_parity_interpreted", "ParityReport", "DEFAULT_TOLERANCES", "require_data",
           "load_cases", "interleaved", "medians", "peak_memory", "PeakMemory", "reset_peak_memory"]

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


# -- measurement helpers for benchmarks ----------------------------------------------------------------------------
def interleaved(cases: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 1, *,
                number: int | Mapping[str, int] = 1) -> dict[str, list[float]]:
    """Round-robin timing: ``{name: [seconds per call, one per repeat]}``.

    Each round calls every case once (``number`` times in a row, timed together and divided by ``number``,
    for cases too short to time one by one; a dict gives each case its own count, e.g. a fast kernel next to a
    slow peer), so that load from other processes on a shared machine hits every case alike; the round's
    starting case rotates, so no case always runs first. ``warmup`` rounds run first and are not recorded
    (first-call caches, lazy imports). Summarise with :func:`medians`.
    """
    cases = dict(cases)
    if not cases:
        raise ValueError("interleaved needs at least one case")
    for name, fn in cases.items():
        if not callable(fn):
            raise TypeError(f"interleaved: case {name!r} is {type(fn).__name__}, not a callable taking no arguments")
    if not (isinstance(repeats, int) and repeats >= 1):
        raise ValueError(f"interleaved: repeats must be an int >= 1, got {repeats!r}")
    if not (isinstance(warmup, int) and warmup >= 0):
        raise ValueError(f"interleaved: warmup must be an int >= 0, got {warmup!r}")
    counts = {n: number.get(n, 1) for n in cases} if isinstance(number, Mapping) else dict.fromkeys(cases, number)
    for name, count in counts.items():
        if not (isinstance(count, int) and count >= 1):
            raise ValueError(f"interleaved: number for {name!r} must be an int >= 1, got {count!r}")
    if isinstance(number, Mapping) and set(number) - set(cases):
        raise ValueError(f"interleaved: number names cases that do not exist: {sorted(set(number) - set(cases))}")
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    clock = time.perf_counter
    for r in range(warmup + repeats):
        for i in range(len(names)):
            name = names[(r + i) % len(names)]
            fn, count = cases[name], counts[name]
            start = clock()
            for _ in range(count):
                fn()
            elapsed = (clock() - start) / count
            if r >= warmup:
                times[name].append(elapsed)
    return times


def medians(times: Mapping[str, Iterable[float]]) -> dict[str, float]:
    """The median of each case's times (e.g. the output of :func:`interleaved`)."""
    out = {}
    for name, values in times.items():
        values = list(values)
        if not values:
            raise ValueError(f"medians: case {name!r} has no times")
        out[name] = float(statistics.median(values))
    return out


class PeakMemory(int):
    """Peak resident memory in bytes (an ``int``), with how it was measured.

    ``baseline``: resident bytes when the peak was last reset (just before the case ran, or where the case
    called :func:`reset_peak_memory`), so ``peak - baseline`` is what the case itself added; ``reset``: whether
    the kernel's peak counter could be reset (else the peak covers the whole child process, see
    :func:`peak_memory`); ``method``: where the figure comes from; ``result``: what the case returned.
    """

    baseline: int
    reset: bool
    method: str
    result: Any

    def __new__(cls, peak: int, baseline: int, reset: bool, method: str, result: Any = None) -> PeakMemory:
        self = super().__new__(cls, peak)
        self.baseline, self.reset, self.method, self.result = baseline, reset, method, result
        return self

    @property
    def above_baseline(self) -> int:
        return int(self) - self.baseline

    def __repr__(self) -> str:
        return (f"PeakMemory({int(self)} bytes, baseline={self.baseline}, reset={self.reset}, "
                f"method={self.method!r})")


_STATUS = Path("/proc/self/status")
_peak_state: dict[str, Any] = {"baseline": 0, "reset": False}


def _status_bytes(field_name: str) -> int | None:
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field_name + ":"):
            value, unit = line.split()[1:3]
            return int(value) * {"kB": 1024}.get(unit, 1)
    return None


def _rusage_peak_bytes() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB


def reset_peak_memory() -> int:
    """Reset this process's peak resident memory to its current resident memory; returns that baseline (bytes).

    Linux: writes ``5`` to ``/proc/self/clear_refs`` (``VmHWM`` := ``VmRSS``). Where that is not allowed the
    peak cannot be reset, and this only records the baseline. A case run by :func:`peak_memory` may call it
    after its own setup (loading data, warming caches), so that only the part after it is measured above
    ``baseline``.
    """
    resident = _status_bytes("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = resident is not None
    except OSError:
        reset = False
    if resident is None:
        resident = _rusage_peak_bytes()
    _peak_state.update(baseline=resident, reset=reset)
    return resident


def _case_spec(fn: Any) -> Any:
    """How to send ``fn`` to the child: a module-level function goes by (module, name, file), so that the child
    can fall back to the file when the module name means something else there (pytest's importlib mode
    imports ``tests/test_x.py`` as ``tests.test_x`` while an installed ``tests`` package may shadow it)."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    file = getattr(sys.modules.get(module or ""), "__file__", None) or getattr(getattr(fn, "__code__", None),
                                                                              "co_filename", None)
    if file and not os.path.isfile(file):
        file = None
    if isinstance(fn, str) or module in (None, "__main__", "__mp_main__") or not file or "." in qualname \
            or "<" in qualname:
        return fn
    return ("function", module, qualname, file)


def _resolve_case(fn: Any) -> Callable[..., Any]:
    if isinstance(fn, tuple):
        _, module, qualname, file = fn
        import importlib

        try:
            mod = importlib.import_module(module)
            if Path(getattr(mod, "__file__", "") or "").resolve() == Path(file).resolve():
                return getattr(mod, qualname)
        except Exception:
            pass
        return runpy.run_path(file, run_name="hyperzoo_memory_case")[qualname]
    if not isinstance(fn, str):
        return fn
    if "::" in fn:
        path, _, name = fn.rpartition("::")
        return runpy.run_path(path, run_name="hyperzoo_memory_case")[name]
    from .registry import resolve

    return resolve(fn, what="memory case")


def _peak_child(conn: Any, fn: Any, args: tuple, kwargs: dict) -> None:
    try:
        case = _resolve_case(fn)
        reset_peak_memory()
        result = case(*args, **kwargs)
        peak = _status_bytes("VmHWM")
        method = "VmHWM" if peak is not None else "ru_maxrss"
        if peak is None:
            peak = _rusage_peak_bytes()
        try:
            conn.send(("ok", (peak, _peak_state["baseline"], _peak_state["reset"], method, result)))
        except Exception:  # an unpicklable result: keep the figures
            conn.send(("ok", (peak, _peak_state["baseline"], _peak_state["reset"], method, None)))
    except BaseException as exc:
        import traceback

        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def peak_memory(fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> PeakMemory:
    """Peak resident memory (bytes) of ``fn(*args, **kwargs)`` run alone in a fresh process.

    The child is started with ``spawn`` (a new interpreter, not a fork: a forked child's ``ru_maxrss`` holds its
    parent's peak). It imports ``fn``, resets the peak with :func:`reset_peak_memory`, runs the case and returns
    ``VmHWM`` from ``/proc/self/status``. ``fn`` must be importable in a new interpreter: a module-level function
    (a benchmark script's own functions work: spawn re-imports the script under ``__mp_main__``, so keep its
    work behind ``if __name__ == "__main__"``), or a ``"package.module:function"`` / ``"path/to/file.py::function"``
    string. Arguments and the result travel by pickle.

    Fallbacks, reported on the result: where ``/proc/self/clear_refs`` cannot be written (``reset=False``), the
    peak is the child's whole-life peak (interpreter start and imports included: an upper bound, never the
    parent's); without ``/proc/self/status`` (macOS), ``ru_maxrss`` of the spawned child (same bound).
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_peak_child, args=(child, _case_spec(fn), args, kwargs), daemon=True)
    try:
        proc.start()
    except Exception as exc:  # pickling the case or its arguments failed
        parent.close()
        child.close()
        raise TypeError(f"peak_memory: cannot send {fn!r} and its arguments to a fresh process ({type(exc).__name__}: "
                        f"{exc}); pass a module-level function or a 'path/to/file.py::function' string, and "
                        "picklable arguments") from exc
    child.close()
    try:
        status, payload = parent.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"peak_memory: the case process died (exit code {proc.exitcode}) before reporting; "
                           "was it killed for memory?") from None
    finally:
        parent.close()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"peak_memory: the case {fn!r} raised in its process: {payload}")
    return PeakMemory(*payload)
