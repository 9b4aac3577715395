"""Plugin discovery and loading.

Entry points of group ``hyperzoo`` load once, on first use, in sorted name order. Each plugin's registration
is all-or-nothing: if its import fails, its requirement on ``hyperzoo`` is not met by this core, or any name
it registers is taken, none of its names are kept and :func:`plugins` reports its status and the reason.

Environment:
  HYPERZOO_PLUGINS=a,b           load only these plugins (the rest are ``blocked``)
  HYPERZOO_DISABLE_PLUGINS=c,d   never load these (``blocked``)
  HYPERZOO_STRICT_PLUGINS=1      re-raise a plugin's error instead of reporting it
"""

from __future__ import annotations

import logging
import os
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata, resources
from typing import Any

import pluggy

from . import hookspecs
from .registry import Entry, PluginLoadError, Registrar, Registry, RegistryError, resolve

__all__ = ["PluginInfo", "PluginCheck", "plugins", "register_plugin", "registry", "catalogue", "check_plugins",
           "CORE_VERSION", "generation", "on_change"]

log = logging.getLogger("hyperzoo")
GROUP = "hyperzoo"
STATUSES = ("loaded", "failed", "incompatible", "blocked", "not-installed")


def _core_version() -> str:
    try:
        return metadata.version("hyperzoo")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.2.0"


CORE_VERSION = _core_version()


@dataclass
class PluginInfo:
    """What :func:`plugins` reports for one plugin."""

    name: str
    version: str | None
    status: str
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)
    distribution: str | None = None
    module: str | None = None
    requires_core: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "provides": self.provides,
            "distribution": self.distribution,
            "module": self.module,
            "requires_core": self.requires_core,
        }


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.loaded = False
        self.generation = 0
        self.listeners: list[Callable[[], None]] = []
        self.registry = Registry()
        self.infos: dict[str, PluginInfo] = {}
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)


_state = _State()


def _provider_hint(kind: str, name: str) -> tuple[str, bool]:
    """For an unknown name: which plugin provides it, and why it is not here (catalogue + load statuses)."""
    plural = kind + "s"
    try:
        known = catalogue()
    except Exception:  # an unreadable catalogue must not hide the "unknown name" error itself
        known = {}
    for plugin, entry in known.items():
        if name not in entry.get("provides", {}).get(plural, []):
            continue
        info = _state.infos.get(plugin)
        dist = entry.get("distribution", "hyperzoo-" + plugin)
        if info is None:
            return (f" The {plugin} plugin provides it and is not installed: pip install {dist} (in a checkout: "
                    f"pip install ./{entry.get('path', 'plugins/' + plugin)})."), True
        if info.status == "blocked":
            return f" The {plugin} plugin provides it but is blocked ({info.error}).", True
        if info.status != "loaded":
            return f" The {plugin} plugin provides it; it is installed but {info.status}: {info.error}", True
    broken = [i for i in _state.infos.values() if i.status in ("failed", "incompatible")]
    if broken:
        return (" Plugins that did not load (one may provide it): "
                + "; ".join(f"{i.name} ({i.status}: {i.error})" for i in broken) + "."), False
    return "", False


_state.registry.hint = _provider_hint


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {p.strip() for p in raw.replace(";", ",").split(",") if p.strip()}


def _register(obj: Any, name: str) -> dict[str, list[str]]:
    """Run ``obj``'s hook with a fresh registrar and commit what it registered, all or nothing."""
    pm = _state.pm
    pm.register(obj, name=name)
    try:
        impls = [i for i in pm.hook.hyperzoo_register.get_hookimpls() if i.plugin is obj]
        if not impls:
            raise RegistryError(
                f"plugin {name!r} defines no hook: decorate `def hyperzoo_register(registrar)` with @core.hookimpl"
            )
        others = [p for p in pm.get_plugins() if p is not obj]
        registrar = Registrar(name)
        pm.subset_hook_caller("hyperzoo_register", remove_plugins=others)(registrar=registrar)
        _state.registry.commit(registrar.entries)
    except BaseException:
        pm.unregister(obj)
        raise
    return _state.registry.by_plugin(name)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None and not isinstance(exc, RegistryError):
        text += f" (at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno})"
    return text


def _core_requirement(dist: metadata.Distribution | None):
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    for raw in (dist.requires or []) if dist is not None else []:
        req = Requirement(raw)
        if canonicalize_name(req.name) != "hyperzoo":
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        return req
    return None


def _compatible(req) -> bool:
    from packaging.version import Version

    return req is None or req.specifier.contains(Version(CORE_VERSION), prereleases=True)


def _load_entry_point(ep: metadata.EntryPoint, allow: set[str] | None, deny: set[str] | None, strict: bool) -> None:
    dist = getattr(ep, "dist", None)
    info = PluginInfo(
        name=ep.name,
        version=dist.version if dist is not None else None,
        status="failed",
        distribution=dist.metadata["Name"] if dist is not None else None,
        module=ep.value,
    )
    if ep.name in _state.infos:
        other = _state.infos[ep.name]
        info.error = f"plugin name {ep.name!r} is already used by {other.distribution or other.module}; not loaded"
        _state.infos[f"{ep.name} ({info.distribution})"] = info
        log.warning("hyperzoo: %s", info.error)
        if strict:
            raise PluginLoadError(ep.name, info.error)
        return
    _state.infos[ep.name] = info
    if (allow is not None and ep.name not in allow) or (deny is not None and ep.name in deny):
        info.status = "blocked"
        info.error = (
            "not in HYPERZOO_PLUGINS" if allow is not None and ep.name not in allow else "in HYPERZOO_DISABLE_PLUGINS"
        )
        return
    try:
        req = _core_requirement(dist)
        info.requires_core = str(req.specifier) if req is not None else None
        if not _compatible(req):
            info.status = "incompatible"
            info.error = (
                f"requires hyperzoo{req.specifier} but hyperzoo {CORE_VERSION} is installed; "
                f"install a version of {info.distribution} made for this core, or the core it asks for"
            )
            if strict:
                raise PluginLoadError(ep.name, f"plugin {ep.name!r}: {info.error}")
            return
        module = ep.load()
        info.provides = _register(module, ep.name)
        info.status = "loaded"
    except PluginLoadError:
        raise
    except Exception as exc:
        info.status = "failed"
        info.error = _describe(exc)
        if strict:  # one clear error naming the plugin; the original is its __cause__
            raise PluginLoadError(ep.name, f"plugin {ep.name!r} ({info.distribution or ep.value}) failed to load "
                                  f"(HYPERZOO_STRICT_PLUGINS=1): {info.error}") from exc
        log.warning("hyperzoo: plugin %r not loaded: %s", ep.name, info.error)


def _load_all() -> None:
    from . import builtins

    _state.infos["core"] = PluginInfo("core", CORE_VERSION, "loaded", distribution="hyperzoo", module=builtins.__name__)
    _state.infos["core"].provides = _register(builtins, "core")
    allow = _env_list("HYPERZOO_PLUGINS")
    deny = _env_list("HYPERZOO_DISABLE_PLUGINS")
    strict = os.environ.get("HYPERZOO_STRICT_PLUGINS", "") not in ("", "0")
    eps = sorted(metadata.entry_points(group=GROUP), key=lambda ep: (ep.name, ep.value))
    for ep in eps:
        if ep.name == "core":
            info = PluginInfo("core", None, "failed", f"the name 'core' is reserved ({ep.value})", module=ep.value)
            _state.infos[f"core ({ep.value})"] = info
            if strict:
                raise PluginLoadError("core", info.error)
            continue
        _load_entry_point(ep, allow, deny, strict)


def ensure_loaded() -> Registry:
    """Load core's built-ins and every installed plugin, once."""
    if not _state.loaded:
        with _state.lock:
            if not _state.loaded:
                try:
                    _load_all()
                finally:
                    _state.loaded = True
                    _changed()
    return _state.registry


def registry() -> Registry:
    return ensure_loaded()


def register_plugin(obj: Any, name: str) -> PluginInfo:
    """Register a plugin object (module or instance with a ``hyperzoo_register`` hookimpl) in this process.

    The programmatic twin of an entry point, for notebooks and tests; same all-or-nothing rules.
    """
    ensure_loaded()
    with _state.lock:
        if name in _state.infos and _state.infos[name].status == "loaded":
            raise RegistryError(f"a plugin named {name!r} is already loaded")
        version = getattr(obj, "__version__", None)
        info = PluginInfo(name, version, "loaded", module=getattr(obj, "__name__", type(obj).__name__))
        info.provides = _register(obj, name)
        _state.infos[name] = info
        _changed()
        return info


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered in this process and every name it registered (core cannot be removed)."""
    if name == "core":
        raise RegistryError("core's built-ins cannot be unregistered")
    ensure_loaded()
    with _state.lock:
        if name not in _state.infos:
            raise RegistryError(f"no plugin named {name!r}")
        plugin = _state.pm.get_plugin(name)
        if plugin is not None:
            _state.pm.unregister(plugin)
        for table in _state.registry.tables.values():
            for key in [k for k, e in table.items() if e.plugin == name]:
                del table[key]
        del _state.infos[name]
        _changed()


def generation() -> int:
    """A counter bumped whenever the registry changes (plugins loaded, registered or unregistered).

    Anything derived from the registry (the dispatcher's operator objects and cached backend choices) compares it
    with the generation it was built at, or subscribes with :func:`on_change`.
    """
    return _state.generation


def on_change(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener()`` after every registry change (see :func:`generation`); returns a function that
    unsubscribes it."""
    with _state.lock:
        _state.listeners.append(listener)

    def remove() -> None:
        with _state.lock:
            if listener in _state.listeners:
                _state.listeners.remove(listener)

    return remove


def _changed() -> None:
    _state.generation += 1
    for listener in list(_state.listeners):
        listener()


def catalogue() -> dict[str, dict[str, Any]]:
    """The first-party plugin catalogue (registry.toml shipped inside the core package)."""
    text = resources.files("hyperzoo.core").joinpath("registry.toml").read_text(encoding="utf-8")
    return tomllib.loads(text).get("plugins", {})


def plugins(*, available: bool = False) -> list[PluginInfo]:
    """Every plugin seen (core first, then by name); ``available=True`` adds catalogue entries not installed."""
    ensure_loaded()
    infos = dict(_state.infos)
    if available:
        for name, entry in catalogue().items():
            if name not in infos:
                infos[name] = PluginInfo(
                    name,
                    None,
                    "not-installed",
                    error=f"pip install {entry.get('distribution', 'hyperzoo-' + name)} (in a checkout: "
                    f"pip install ./{entry.get('path', 'plugins/' + name)})",
                    provides={k: list(v) for k, v in entry.get("provides", {}).items()},
                    distribution=entry.get("distribution"),
                )
    return sorted(infos.values(), key=lambda i: (i.name != "core", i.name))


def entries(kind: str) -> dict[str, Entry]:
    return ensure_loaded().tables[kind]


@dataclass
class PluginCheck:
    """What :func:`check_plugins` found for one plugin: how many lazy targets resolved, and every problem."""

    name: str
    status: str
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "ok": self.ok, "checked": self.checked,
                "problems": self.problems}


def _targets(e: Entry) -> list[tuple[str, Any]]:
    out = [("target", e.target)]
    if e.kind == "backend":
        out += [(label, e.meta[label]) for label in ("is_available", "supports") if e.meta.get(label) is not None]
    return out


def check_plugins() -> list[PluginCheck]:
    """Resolve every lazy ``"module:attribute"`` target of every plugin (importing its modules) and report the
    bad ones: a module that does not import, a missing attribute, a target that is not callable. A plugin that
    failed to load or is incompatible is a problem too; a blocked one is not checked. ``hyperzoo plugins --check``
    prints this and exits with status 2 when any plugin has a problem.
    """
    ensure_loaded()
    results = []
    for info in plugins():
        check = PluginCheck(info.name, info.status)
        results.append(check)
        if info.status == "blocked":
            continue
        if info.status != "loaded":
            check.problems.append(f"{info.status}: {info.error}")
            continue
        for kind, table in _state.registry.tables.items():
            for e in sorted((e for e in table.values() if e.plugin == info.name), key=lambda e: e.name):
                for label, target in _targets(e):
                    check.checked += 1
                    what = f"{kind} {e.name!r} of plugin {info.name!r}: {label}"
                    try:
                        obj = e.load() if label == "target" else resolve(target, what=what)
                    except Exception as exc:  # an import that raises anything at all is a bad target
                        check.problems.append(str(exc) if isinstance(exc, RegistryError)
                                              else f"{what} {target!r}: {_describe(exc)}")
                        continue
                    if not callable(obj):
                        check.problems.append(f"{what} {target!r} is a {type(obj).__name__}, not callable")
    return results
