"""One registry mechanism for every kind of thing a plugin provides.

Every registration is an :class:`Entry`: a kind, a unique name, a target (the object itself or a lazy
``"module:attribute"`` string imported on first use), the plugin that registered it and a little metadata
(a model's ``fits``, a task's ``kind``, a backend's priority...). Listing entries never resolves targets, so
``hyperzoo models`` does not import torch or any plugin's heavy modules.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("operator", "backend", "model", "task", "dataset", "optimizer")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class RegistryError(LookupError):
    """An unknown name, or a registration that cannot be accepted."""


class PluginLoadError(RegistryError):
    """A plugin failed to load under ``HYPERZOO_STRICT_PLUGINS=1``; ``plugin`` names it, ``__cause__`` is the error."""

    def __init__(self, plugin: str, message: str):
        super().__init__(message)
        self.plugin = plugin


def resolve(target: Any, *, what: str = "target") -> Any:
    """Return ``target`` itself, or import it when it is a ``"package.module:attr.sub"`` string."""
    if not isinstance(target, str):
        return target
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise RegistryError(f"{what} {target!r} is not of the form 'package.module:attribute'")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"{what} {target!r}: cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise RegistryError(f"{what} {target!r}: module {module_name!r} has no attribute {attr!r}") from exc
    return obj


@dataclass
class Entry:
    """One registered thing. ``load()`` resolves a lazy target once and caches it."""

    kind: str
    name: str
    target: Any
    plugin: str
    meta: dict[str, Any] = field(default_factory=dict)
    _obj: Any = field(default=None, repr=False)
    _loaded: bool = field(default=False, repr=False)

    @property
    def lazy(self) -> bool:
        return isinstance(self.target, str)

    def load(self) -> Any:
        if not self._loaded:
            self._obj = resolve(self.target, what=f"{self.kind} {self.name!r} of plugin {self.plugin!r}: target")
            self._loaded = True
        return self._obj


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistryError(
            f"{kind} name {name!r} is invalid: use letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def _check_target(kind: str, name: str, target: Any) -> Any:
    if isinstance(target, str):
        if target.count(":") != 1:
            raise RegistryError(f"{kind} {name!r}: lazy target {target!r} must look like 'package.module:attribute'")
    elif not callable(target):
        raise RegistryError(f"{kind} {name!r}: target must be callable or a 'package.module:attribute' string")
    return target


def _str_tuple(kind: str, name: str, field_name: str, value: Any) -> tuple[str, ...]:
    values = (value,) if isinstance(value, str) else tuple(value or ())
    if not values or not all(isinstance(v, str) and v for v in values):
        raise RegistryError(f"{kind} {name!r}: {field_name} must be a non-empty string or list of strings")
    return values


class Registrar:
    """What a plugin's ``hyperzoo_register(registrar)`` receives: one method per kind.

    Registrations are collected and committed together after the hook returns (all-or-nothing).
    ``target``/``reference``/``impl``/``factory``/``loader`` may be the object or a lazy
    ``"module:attribute"`` string; prefer strings, so that listing never imports heavy modules.
    """

    def __init__(self, plugin: str):
        self.plugin = plugin
        self.entries: list[Entry] = []

    def _add(self, kind: str, name: str, target: Any, **meta: Any) -> None:
        self.entries.append(Entry(kind, name, target, self.plugin, meta))

    def operator(self, name: str, reference: Any, *, doc: str = "") -> None:
        """An operator: a functional block whose pure-PyTorch ``reference`` runs everywhere with autograd.

        Its name is ``<plugin>.<op>``, prefixed by the registering plugin's own name (core's are ``core.*``).
        """
        _check_name("operator", name)
        prefix, dot, op = name.partition(".")
        if prefix != self.plugin or not dot or not op:
            owner = " ('core.*' names are core's own)" if prefix == "core" and self.plugin != "core" else ""
            raise RegistryError(
                f"operator name {name!r} registered by plugin {self.plugin!r} must be '{self.plugin}.<op>'{owner}: "
                f"operators are named <plugin>.<op> after the plugin (entry-point) name, e.g. "
                f"{self.plugin + '.' + (op or prefix)!r}"
            )
        self._add("operator", name, _check_target("operator", name, reference), doc=str(doc))

    def backend(
        self,
        operator: str,
        name: str,
        impl: Any,
        *,
        priority: int = 0,
        is_available: Any = None,
        supports: Any = None,
        tolerances: Mapping[str, tuple[float, float]] | None = None,
        cache_supports: bool = False,
    ) -> None:
        """A faster implementation of ``operator`` with the reference's signature.

        ``is_available() -> bool`` (or ``(bool, reason)``) says whether it can run in this process (asked once
        per process); ``supports(*args, **kwargs) -> bool`` (or ``(ok, reason)``) whether it handles these
        inputs, asked on every call. Pass ``cache_supports=True`` when ``supports``'s answer depends only on the
        dispatch key -- the devices, dtypes and ``requires_grad`` of the top-level tensor arguments, grad mode
        and the environment -- and not on shapes or other values: it is then asked once per key. ``tolerances``
        maps a dtype name (``"float32"``) to ``(rtol, atol)`` for the parity check against the reference.
        """
        _check_name("operator", operator)
        _check_name("backend", name)
        if name == "reference":
            raise RegistryError(f"backend name 'reference' is reserved (operator {operator!r})")
        if not isinstance(priority, int):
            raise RegistryError(f"backend {operator}/{name}: priority must be an int")
        if not isinstance(cache_supports, bool):
            raise RegistryError(f"backend {operator}/{name}: cache_supports must be True or False")
        for label, fn in (("is_available", is_available), ("supports", supports)):
            if fn is not None:
                _check_target("backend", f"{operator}/{name} {label}", fn)
        tol = {}
        for dtype, pair in dict(tolerances or {}).items():
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise RegistryError(f"backend {operator}/{name}: tolerances[{dtype!r}] must be (rtol, atol)")
            tol[str(dtype).removeprefix("torch.")] = (float(pair[0]), float(pair[1]))
        self._add(
            "backend",
            f"{operator}/{name}",
            _check_target("backend", f"{operator}/{name}", impl),
            operator=operator,
            backend=name,
            priority=priority,
            is_available=is_available,
            supports=supports,
            tolerances=tol,
            cache_supports=cache_supports,
        )

    def model(self, name: str, factory: Any, *, fits: str | Iterable[str]) -> None:
        """A model factory taking explicit keyword arguments; ``fits`` lists the task kinds it can run."""
        _check_name("model", name)
        self._add("model", name, _check_target("model", name, factory), fits=_str_tuple("model", name, "fits", fits))

    def task(self, name: str, factory: Any, *, kind: str) -> None:
        """A task factory (keyword arguments only); ``kind`` is matched against models' ``fits``."""
        _check_name("task", name)
        (kind,) = _str_tuple("task", name, "kind", kind)[:1]
        self._add("task", name, _check_target("task", name, factory), task_kind=kind)

    def dataset(self, name: str, loader: Any) -> None:
        """A data-set loader: ``loader(root=None, **kwargs)`` reading files under the data root or a user path."""
        _check_name("dataset", name)
        self._add("dataset", name, _check_target("dataset", name, loader))

    def optimizer(self, name: str, factory: Any) -> None:
        """An optimiser factory ``factory(params, lr=..., weight_decay=..., **kwargs) -> torch.optim.Optimizer``."""
        _check_name("optimizer", name)
        self._add("optimizer", name, _check_target("optimizer", name, factory))


class Registry:
    """The tables of committed entries, one per kind."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        # hint(kind, name) -> (text appended to "unknown <kind>" errors, whether it names the providing plugin);
        # discovery sets it from the catalogue and the plugins' load statuses
        self.hint: Callable[[str, str], tuple[str, bool]] | None = None

    def commit(self, entries: list[Entry]) -> None:
        """Add all ``entries`` or none: raise if any name is taken (here or within ``entries``)."""
        seen: set[tuple[str, str]] = set()
        for e in entries:
            key = (e.kind, e.name)
            if key in seen:
                raise RegistryError(f"{e.kind} {e.name!r} is registered twice by plugin {e.plugin!r}")
            seen.add(key)
            taken = self.tables[e.kind].get(e.name)
            if taken is not None:
                raise RegistryError(
                    f"plugin {e.plugin!r} cannot register {e.kind} {e.name!r}: {e.kind} {e.name!r} is already "
                    f"registered by plugin {taken.plugin!r} (names are unique across installed plugins: rename "
                    f"it in {e.plugin!r})"
                )
        for e in entries:
            self.tables[e.kind][e.name] = e

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        return sorted(n for n in self.tables[kind] if fnmatch.fnmatchcase(n, pattern))

    def get(self, kind: str, name: str) -> Entry:
        table = self.tables[kind]
        if name in table:
            return table[name]
        raise RegistryError(self.unknown(kind, name))

    def unknown(self, kind: str, name: str) -> str:
        """The "unknown <kind>" message for ``name``: close matches, the known names, and which plugin provides it
        when the catalogue knows (not installed, or installed but failed to load)."""
        hint, known = self.hint(kind, name) if self.hint is not None else ("", False)
        return unknown_name_message(kind, name, self.tables[kind], hint=hint, provider_known=known)

    def by_plugin(self, plugin: str) -> dict[str, list[str]]:
        provides: dict[str, list[str]] = {}
        for kind, table in self.tables.items():
            names = sorted(n for n, e in table.items() if e.plugin == plugin)
            if names:
                provides[kind + "s"] = names
        return provides


def suggest(name: str, candidates: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)


def unknown_name_message(kind: str, name: str, candidates: Iterable[str], *, hint: str = "",
                         provider_known: bool = False) -> str:
    candidates = sorted(candidates)
    close = suggest(name, candidates)
    msg = f"unknown {kind} {name!r}"
    if close:
        msg += f"; did you mean {' or '.join(repr(c) for c in close)}?"
    else:
        msg += "."
    if candidates:
        shown = ", ".join(candidates[:30]) + (", ..." if len(candidates) > 30 else "")
        msg += f" Known {kind}s: {shown}."
    else:
        msg += f" No {kind}s are registered."
    listing = {"model": "models", "task": "tasks", "operator": "ops"}.get(kind)
    if listing and not provider_known:
        msg += (f" (`hyperzoo {listing}` lists them; an uninstalled plugin may provide it: "
                "`hyperzoo plugins --available`.)")
    return msg + hint
