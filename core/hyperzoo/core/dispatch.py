"""Operators and backend dispatch.

An :class:`Operator` is a named functional block with a pure-PyTorch ``reference`` (CPU and GPU, autograd).
Backends are faster implementations with the same signature. A call runs the highest-priority backend that
``is_available()`` and ``supports(*args, **kwargs)``, else the reference:

    op = core.get_operator("core.rms_norm")
    y = op(x, weight)                       # dispatch
    y = op(x, weight, backend="triton")     # this backend or an error listing every reason
    y = op(x, weight, backend="reference")

``HYPERZOO_BACKEND=reference`` forces the reference everywhere; ``HYPERZOO_BACKEND="a.op=triton,b.op=reference"``
picks per operator (a bare name applies to every operator). A backend requested through the environment that
cannot run falls back to automatic dispatch, logged once. While ``TRITON_INTERPRET=1`` is set (tests only),
automatic dispatch runs the reference: interpreted kernels run only when named.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .discovery import entries, registry
from .registry import Entry, RegistryError, resolve, unknown_name_message

__all__ = [
    "Operator",
    "Backend",
    "BackendError",
    "get_operator",
    "operators",
    "backend_overrides",
    "triton_available",
    "triton_supports",
]

log = logging.getLogger("hyperzoo")
_cache: dict[str, Operator] = {}
_warned: set[tuple[str, str]] = set()


class BackendError(RuntimeError):
    """A backend asked for by name cannot run these inputs here; the message holds every reason."""


def interpreting() -> bool:
    """True when the Triton interpreter is switched on (``TRITON_INTERPRET=1``): a test-only setting."""
    return os.environ.get("TRITON_INTERPRET", "") not in ("", "0")


def triton_available() -> tuple[bool, str]:
    """``is_available`` for Triton backends: Triton imports and a CUDA GPU is present (or the interpreter is on)."""
    import importlib.util

    if importlib.util.find_spec("triton") is None:
        return False, "triton is not installed (pip install triton)"
    if interpreting():
        return True, "Triton interpreter (TRITON_INTERPRET=1)"
    import torch

    if not torch.cuda.is_available():
        return False, "no CUDA GPU"
    return True, "ok"


def triton_supports(*tensors: Any) -> tuple[bool, str]:
    """``supports`` helper: every tensor is on a CUDA device (or on the CPU under the interpreter)."""
    import torch

    devices = {t.device.type for t in tensors if isinstance(t, torch.Tensor)}
    allowed = {"cuda", "cpu"} if interpreting() else {"cuda"}
    if not devices <= allowed:
        return False, f"tensors on {sorted(devices)}; Triton kernels need CUDA tensors"
    return True, "ok"


def _as_check(result: Any, default_reason: str) -> tuple[bool, str]:
    if isinstance(result, tuple):
        ok, reason = result
        return bool(ok), str(reason or ("ok" if ok else default_reason))
    return bool(result), "ok" if result else default_reason


@dataclass
class Backend:
    """A registered implementation of an operator (see :meth:`Registrar.backend`)."""

    operator: str
    name: str
    priority: int
    plugin: str
    tolerances: dict[str, tuple[float, float]]
    _entry: Entry = field(repr=False)
    _available: tuple[bool, str] | None = field(default=None, repr=False)
    _supports: Callable[..., Any] | None = field(default=None, repr=False)

    @property
    def impl(self) -> Callable[..., Any]:
        return self._entry.load()

    def available(self) -> tuple[bool, str]:
        """``(ok, reason)`` from the backend's ``is_available``; cached for the process."""
        if self._available is None:
            fn = self._entry.meta.get("is_available")
            try:
                self._available = (True, "ok") if fn is None else _as_check(resolve(fn)(), "is_available() is False")
            except Exception as exc:  # a broken availability probe means "not available", with the reason
                self._available = (False, f"is_available() raised {type(exc).__name__}: {exc}")
        return self._available

    def supports(self, *args: Any, **kwargs: Any) -> tuple[bool, str]:
        if self._supports is None:
            fn = self._entry.meta.get("supports")
            self._supports = (lambda *a, **k: True) if fn is None else resolve(fn)
        return _as_check(self._supports(*args, **kwargs), "supports() is False")

    def check(self, *args: Any, **kwargs: Any) -> tuple[bool, list[str]]:
        """Can this backend run these inputs here? ``(ok, reasons)``."""
        ok, why = self.available()
        if not ok:
            return False, [f"not available: {why}"]
        try:
            ok, why = self.supports(*args, **kwargs)
        except Exception as exc:
            return False, [f"supports() raised {type(exc).__name__}: {exc}"]
        return ok, [] if ok else [f"does not support these inputs: {why}"]


def backend_overrides(operator: str) -> str | None:
    """The backend ``HYPERZOO_BACKEND`` asks for ``operator`` (per-operator entries beat a bare name)."""
    raw = os.environ.get("HYPERZOO_BACKEND", "")
    if not raw:
        return None
    default, per_op = _parse_overrides(raw)
    return per_op.get(operator, default)


@functools.lru_cache(maxsize=8)
def _parse_overrides(raw: str) -> tuple[str | None, dict[str, str]]:
    default, per_op = None, {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if "=" in part:
            op, _, name = part.partition("=")
            per_op[op.strip()] = name.strip()
        else:
            default = part
    return default, per_op


class Operator:
    """A named operator: call it like its reference; it dispatches to the best backend for the inputs."""

    def __init__(self, entry: Entry, backends: list[Backend]):
        self.name = entry.name
        self.doc = entry.meta.get("doc", "")
        self.plugin = entry.plugin
        self._entry = entry
        self.backends: dict[str, Backend] = {b.name: b for b in sorted(backends, key=lambda b: -b.priority)}

    def __repr__(self) -> str:
        return f"Operator({self.name!r}, backends={list(self.backends)})"

    @property
    def reference(self) -> Callable[..., Any]:
        return self._entry.load()

    def select(self, *args: Any, backend: str | None = None, **kwargs: Any) -> tuple[str, dict[str, list[str]]]:
        """Which implementation a call with these inputs runs, and why the others were passed over."""
        reasons: dict[str, list[str]] = {}
        if backend is not None:
            return self._requested(backend, args, kwargs, strict=True), reasons
        wanted = backend_overrides(self.name)
        if wanted is not None:
            try:
                return self._requested(wanted, args, kwargs, strict=False), reasons
            except BackendError as exc:
                if (self.name, wanted) not in _warned:
                    _warned.add((self.name, wanted))
                    log.warning("hyperzoo: HYPERZOO_BACKEND asks %s; falling back: %s", wanted, exc)
                reasons[wanted] = [str(exc)]
        if interpreting():
            for name in self.backends:
                reasons.setdefault(name, ["TRITON_INTERPRET=1: backends run only when named (tests)"])
            return "reference", reasons
        for name, b in self.backends.items():
            ok, why = b.check(*args, **kwargs)
            if ok:
                return name, reasons
            reasons[name] = why
        return "reference", reasons

    def _requested(self, name: str, args: tuple, kwargs: dict, *, strict: bool) -> str:
        if name == "reference":
            return name
        b = self.backends.get(name)
        if b is None:
            raise BackendError(
                unknown_name_message(f"backend of {self.name}", name, ["reference", *self.backends])
            )
        ok, why = b.check(*args, **kwargs)
        if not ok:
            raise BackendError(f"backend {name!r} of {self.name} cannot run here: " + "; ".join(why))
        return name

    def __call__(self, *args: Any, backend: str | None = None, **kwargs: Any) -> Any:
        name, _ = self.select(*args, backend=backend, **kwargs)
        fn = self.reference if name == "reference" else self.backends[name].impl
        return fn(*args, **kwargs)

    def explain(self) -> dict[str, Any]:
        """Backends, their availability here, and what a call would run (before input checks)."""
        rows = []
        would = "reference"
        why = "no backend is available here"
        wanted = backend_overrides(self.name)
        for name, b in self.backends.items():
            ok, reason = b.available()
            rows.append({"name": name, "priority": b.priority, "plugin": b.plugin, "available": ok, "reason": reason})
            if ok and would == "reference" and not interpreting():
                would, why = name, "highest-priority available backend (if it supports the inputs)"
        if interpreting() and self.backends:
            why = "TRITON_INTERPRET=1: backends run only when named"
        if wanted is not None:
            would, why = wanted, "requested by HYPERZOO_BACKEND"
            if wanted != "reference" and not any(r["name"] == wanted and r["available"] for r in rows):
                why += " (not available here: falls back)"
        return {"name": self.name, "plugin": self.plugin, "doc": self.doc, "backends": rows, "would_run": would,
                "why": why}


def operators(pattern: str = "*") -> list[str]:
    """Sorted operator names matching the fnmatch ``pattern``."""
    return registry().names("operator", pattern)


def _backends_for(name: str) -> list[Backend]:
    out = []
    for e in entries("backend").values():
        if e.meta["operator"] == name:
            out.append(Backend(name, e.meta["backend"], e.meta["priority"], e.plugin, e.meta["tolerances"], e))
    return out


def orphaned_backends() -> list[dict[str, Any]]:
    """Backends registered for an operator that is not (yet) present."""
    ops = entries("operator")
    return [
        {"operator": e.meta["operator"], "backend": e.meta["backend"], "plugin": e.plugin}
        for e in sorted(entries("backend").values(), key=lambda e: e.name)
        if e.meta["operator"] not in ops
    ]


def get_operator(name: str) -> Operator:
    """The operator registered under ``name`` (e.g. ``"core.rms_norm"``)."""
    op = _cache.get(name)
    if op is None:
        table = entries("operator")
        if name not in table:
            raise RegistryError(unknown_name_message("operator", name, table))
        op = _cache[name] = Operator(table[name], _backends_for(name))
    return op
