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

Speed: a call costs about a microsecond on top of the implementation. Each operator caches its choice per
*dispatch key*: the values of ``HYPERZOO_BACKEND`` and ``TRITON_INTERPRET``, grad mode, and for each tensor
argument (top-level positional, or keyword) its device, dtype and ``requires_grad``. Availability is cached per
process (per ``TRITON_INTERPRET`` value). A backend's ``supports()`` is called on every call unless the backend
was registered with ``cache_supports=True`` (its answer depends on nothing but the dispatch key), so
shape-dependent rules stay correct; backends that are not available are never asked. The cache is dropped
whenever the registry changes (:func:`hyperzoo.core.discovery.on_change`): a backend registered later is seen by
operator objects created before it.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import discovery
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
_generation = discovery.generation()  # this module's copy of discovery.generation(), kept by _on_registry_change

# The two environment variables dispatch depends on, read on every call: through os.environ's own dict where
# CPython has one (about 0.1 µs per read, against 0.8 µs for os.environ.get when the variable is unset).
_ENV_VARS = ("HYPERZOO_BACKEND", "TRITON_INTERPRET")
_env_data = getattr(os.environ, "_data", None)
_encodekey = getattr(os.environ, "encodekey", None)
if isinstance(_env_data, dict) and callable(_encodekey):
    _env_get = _env_data.get
    _K_BACKEND, _K_INTERPRET = (_encodekey(v) for v in _ENV_VARS)
else:  # another Python: the public mapping (correct, slower)
    _env_get = os.environ.get
    _K_BACKEND, _K_INTERPRET = _ENV_VARS

_Tensor: Any = None  # torch.Tensor, bound on the first call (listing operators must not import torch)
_grad_enabled: Callable[[], bool] = lambda: False  # noqa: E731  torch.is_grad_enabled after the first call


def _on_registry_change() -> None:
    global _generation
    _generation = discovery.generation()
    _cache.clear()


discovery.on_change(_on_registry_change)


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
    cache_supports: bool = False
    _available: dict[bool, tuple[bool, str]] = field(default_factory=dict, repr=False)
    _supports: Callable[..., Any] | None = field(default=None, repr=False)

    @property
    def impl(self) -> Callable[..., Any]:
        return self._entry.load()

    @property
    def has_supports(self) -> bool:
        """Whether the backend declared a ``supports`` rule (without one it runs every input)."""
        return self._entry.meta.get("supports") is not None

    def available(self) -> tuple[bool, str]:
        """``(ok, reason)`` from the backend's ``is_available``; cached for the process (per interpreter mode)."""
        mode = interpreting()
        cached = self._available.get(mode)
        if cached is None:
            fn = self._entry.meta.get("is_available")
            try:
                cached = (True, "ok") if fn is None else _as_check(resolve(fn)(), "is_available() is False")
            except Exception as exc:  # a broken availability probe means "not available", with the reason
                cached = (False, f"is_available() raised {type(exc).__name__}: {exc}")
            self._available[mode] = cached
        return cached

    def supports(self, *args: Any, **kwargs: Any) -> tuple[bool, str]:
        if self._supports is None:
            fn = self._entry.meta.get("supports")
            self._supports = (lambda *a, **k: True) if fn is None else resolve(fn)
        return _as_check(self._supports(*args, **kwargs), "supports() is False")

    def check_inputs(self, *args: Any, **kwargs: Any) -> tuple[bool, list[str]]:
        """``supports`` alone (the caller knows the backend is available); an exception counts as "no"."""
        try:
            ok, why = self.supports(*args, **kwargs)
        except Exception as exc:
            return False, [f"supports() raised {type(exc).__name__}: {exc}"]
        return ok, [] if ok else [f"does not support these inputs: {why}"]

    def check(self, *args: Any, **kwargs: Any) -> tuple[bool, list[str]]:
        """Can this backend run these inputs here? ``(ok, reasons)``."""
        ok, why = self.available()
        if not ok:
            return False, [f"not available: {why}"]
        return self.check_inputs(*args, **kwargs)


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


def _warn_fallback(operator: str, wanted: str, why: str) -> None:
    if (operator, wanted) not in _warned:
        _warned.add((operator, wanted))
        log.warning("hyperzoo: HYPERZOO_BACKEND asks %s; falling back: %s", wanted, why)


def _bind_torch() -> None:
    global _Tensor, _grad_enabled
    import torch

    _Tensor, _grad_enabled = torch.Tensor, torch.is_grad_enabled


def dispatch_key(args: tuple, kwargs: dict) -> tuple:
    """The key an operator caches its choice under (see the module docstring): environment, grad mode, and the
    device, dtype and ``requires_grad`` of each top-level tensor argument (``None`` marks a non-tensor)."""
    if _Tensor is None:
        _bind_torch()
    tensor = _Tensor
    key: list[Any] = [_env_get(_K_BACKEND), _env_get(_K_INTERPRET), _grad_enabled()]
    for a in args:
        if isinstance(a, tensor):
            key += (a.device, a.dtype, a.requires_grad)
        else:
            key.append(None)
    if kwargs:
        for k, v in kwargs.items():
            if isinstance(v, tensor):
                key += (k, v.device, v.dtype, v.requires_grad)
    return tuple(key)


@dataclass
class Plan:
    """What calls with one dispatch key run: ``direct`` (no per-call check), or ``steps`` checked in order
    (backends whose ``supports`` depends on more than the key) and then ``fallback``."""

    direct: Callable[..., Any] | None
    name: str | None = None
    steps: list[tuple[str, Backend, Callable[..., Any], bool]] = field(default_factory=list)
    fallback: tuple[str, Callable[..., Any]] | None = None
    operator: str = ""

    def choose(self, args: tuple, kwargs: dict) -> tuple[str, Callable[..., Any]]:
        if self.direct is not None:
            return self.name, self.direct
        for name, b, impl, requested in self.steps:
            ok, why = b.check_inputs(*args, **kwargs)
            if ok:
                return name, impl
            if requested:
                _warn_fallback(self.operator, name, f"backend {name!r} of {self.operator} cannot run here: "
                               + "; ".join(why))
        return self.fallback

    def run(self, *args: Any, **kwargs: Any) -> Any:
        return self.choose(args, kwargs)[1](*args, **kwargs)


class Operator:
    """A named operator: call it like its reference; it dispatches to the best backend for the inputs."""

    def __init__(self, entry: Entry, backends: list[Backend]):
        self.name = entry.name
        self.plugin = entry.plugin
        self._set(entry, backends)

    def _set(self, entry: Entry, backends: list[Backend]) -> None:
        self.doc = entry.meta.get("doc", "")
        self._entry = entry
        self.backends: dict[str, Backend] = {b.name: b for b in sorted(backends, key=lambda b: -b.priority)}
        self._plans: dict[tuple, Callable[..., Any]] = {}
        self._only_reference: Callable[..., Any] | bool | None = None   # the reference, once no backend can run in
        # this process; False once one can (decided on the first call without an override)
        self._generation = _generation

    def _refresh(self) -> None:
        """The registry changed: take this operator's current backends (a plugin may have added or removed one)."""
        table = entries("operator")
        entry = table.get(self.name, self._entry)  # an operator unregistered since: keep calling its reference
        self._set(entry, _backends_for(self.name))

    def __repr__(self) -> str:
        return f"Operator({self.name!r}, backends={list(self.backends)})"

    @property
    def reference(self) -> Callable[..., Any]:
        return self._entry.load()

    def select(self, *args: Any, backend: str | None = None, **kwargs: Any) -> tuple[str, dict[str, list[str]]]:
        """Which implementation a call with these inputs runs, and why the others were passed over.

        This is the uncached decision, with every reason; calls use the cached plan, which always agrees.
        """
        if self._generation != _generation:
            self._refresh()
        reasons: dict[str, list[str]] = {}
        if backend is not None:
            return self._requested(backend, args, kwargs, strict=True), reasons
        wanted = backend_overrides(self.name)
        if wanted is not None:
            try:
                return self._requested(wanted, args, kwargs, strict=False), reasons
            except BackendError as exc:
                _warn_fallback(self.name, wanted, str(exc))
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

    def _plan(self, args: tuple, kwargs: dict) -> Plan:
        """Build the plan for the dispatch key of ``args``/``kwargs`` (the rules of :meth:`select`, with every
        decision that depends only on the key taken now)."""
        steps: list[tuple[str, Backend, Callable[..., Any], bool]] = []

        def settle(name: str, impl: Callable[..., Any]) -> Plan:
            if not steps:
                return Plan(impl, name, operator=self.name)
            return Plan(None, steps=steps, fallback=(name, impl), operator=self.name)

        wanted = backend_overrides(self.name)
        if wanted is not None:
            if wanted == "reference":
                return settle("reference", self.reference)
            b = self.backends.get(wanted)
            if b is None:
                _warn_fallback(self.name, wanted, unknown_name_message(f"backend of {self.name}", wanted,
                                                                       ["reference", *self.backends]))
            elif not (avail := b.available())[0]:
                _warn_fallback(self.name, wanted, f"backend {wanted!r} of {self.name} cannot run here: "
                               f"not available: {avail[1]}")
            elif not b.has_supports:
                return settle(wanted, b.impl)
            elif b.cache_supports:
                ok, why = b.check_inputs(*args, **kwargs)
                if ok:
                    return settle(wanted, b.impl)
                _warn_fallback(self.name, wanted, f"backend {wanted!r} of {self.name} cannot run here: "
                               + "; ".join(why))
            else:
                steps.append((wanted, b, b.impl, True))
        if interpreting():
            return settle("reference", self.reference)
        for name, b in self.backends.items():
            if not b.available()[0]:
                continue
            if not b.has_supports:
                return settle(name, b.impl)
            if b.cache_supports:
                if b.check_inputs(*args, **kwargs)[0]:
                    return settle(name, b.impl)
                continue
            steps.append((name, b, b.impl, False))
        return settle("reference", self.reference)

    def __call__(self, *args: Any, backend: str | None = None, **kwargs: Any) -> Any:
        if backend is not None:  # a named backend: the full check, every reason in the error
            name, _ = self.select(*args, backend=backend, **kwargs)
            fn = self.reference if name == "reference" else self.backends[name].impl
            return fn(*args, **kwargs)
        if self._generation != _generation:
            self._refresh()
        env_backend, env_interpret = _env_get(_K_BACKEND), _env_get(_K_INTERPRET)
        if env_backend is None and env_interpret is None:   # no override: without an available backend (cached per
            only = self._only_reference                      # process) every call runs the reference, keyless
            if only is None:
                only = self._only_reference = (
                    False if any(b.available()[0] for b in self.backends.values()) else self.reference)
            if only:
                return only(*args, **kwargs)
        # dispatch_key(args, kwargs), inlined: this is the hot path
        if _Tensor is None:
            _bind_torch()
        tensor = _Tensor
        key: list[Any] = [env_backend, env_interpret, _grad_enabled()]
        for a in args:
            if isinstance(a, tensor):
                key += (a.device, a.dtype, a.requires_grad)
            else:
                key.append(None)
        if kwargs:
            for k, v in kwargs.items():
                if isinstance(v, tensor):
                    key += (k, v.device, v.dtype, v.requires_grad)
        frozen = tuple(key)
        run = self._plans.get(frozen)
        if run is None:
            plan = self._plan(args, kwargs)
            run = self._plans[frozen] = plan.direct if plan.direct is not None else plan.run
        return run(*args, **kwargs)

    def explain(self) -> dict[str, Any]:
        """Backends, their availability here, and what a call would run (before input checks)."""
        if self._generation != _generation:
            self._refresh()
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
            out.append(Backend(name, e.meta["backend"], e.meta["priority"], e.plugin, e.meta["tolerances"], e,
                               cache_supports=bool(e.meta.get("cache_supports", False))))
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
        table = entries("operator")  # loads the plugins first (which may bump the generation)
        if name not in table:
            raise RegistryError(registry().unknown("operator", name))
        op = _cache[name] = Operator(table[name], _backends_for(name))
    return op
