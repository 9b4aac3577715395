"""Keyword-argument configs: signatures, type checks, and JSON-safe records of how a thing was built."""

from __future__ import annotations

import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

__all__ = ["ConfigError", "parameters", "check_kwargs", "bound_config", "jsonable"]


class ConfigError(ValueError):
    """A config key or value that cannot be used; the message says which and what would work."""


def _signature(factory: Callable[..., Any]) -> inspect.Signature:
    target = factory.__init__ if inspect.isclass(factory) else factory
    sig = inspect.signature(target)
    params = list(sig.parameters.values())
    if inspect.isclass(factory) and params and params[0].name == "self":
        sig = sig.replace(parameters=params[1:])
    return sig


def parameters(factory: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool]:
    """The named keyword parameters of a factory (class or function) and whether it takes ``**kwargs``."""
    sig = _signature(factory)
    named = {n: p for n, p in sig.parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return named, var_kw


def _hints(factory: Callable[..., Any]) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: skip type checks rather than guess
        return {}


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence, typing.Sequence) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin in (dict, Mapping) or hint is dict:
        return isinstance(value, Mapping)
    if hint is os.PathLike or origin is os.PathLike:
        return isinstance(value, (str, os.PathLike))
    return True  # callables, tensors, classes...: the factory checks those itself


def _describe_hint(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def check_kwargs(factory: Callable[..., Any], kwargs: Mapping[str, Any], label: str) -> None:
    """Reject unknown keys and values whose type contradicts the factory's annotations."""
    named, var_kw = parameters(factory)
    hints = _hints(factory)
    for key, value in kwargs.items():
        if key not in named:
            if var_kw:
                continue
            raise ConfigError(f"{label} has no argument {key!r}; valid: {', '.join(sorted(named)) or '(none)'}")
        hint = hints.get(key, inspect.Parameter.empty)
        if not _matches(value, hint):
            raise ConfigError(
                f"{label}.{key} must be {_describe_hint(hint)}, got {type(value).__name__} {value!r}"
                f" (on the command line: --set {label}.{key}=<value>, parsed as JSON)"
            )


def bound_config(factory: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Every named argument the factory will see: the given ``kwargs`` over the signature's defaults."""
    named, _ = parameters(factory)
    out = {n: p.default for n, p in named.items() if p.default is not inspect.Parameter.empty}
    out.update(kwargs)
    return jsonable(out)


def jsonable(value: Any) -> Any:
    """A JSON-safe copy: tuples become lists, paths strings, numpy/torch scalars numbers."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:
            pass
    return repr(value)
