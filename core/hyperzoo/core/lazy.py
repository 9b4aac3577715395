"""Lazy exports for a package's ``__init__``: names import their module on first access (listing plugins must
not import torch).

    from hyperzoo.core.lazy import lazy_exports
    __getattr__, __dir__, __all__ = lazy_exports(__name__, {"KernelDensity": "estimator", "private": None})

A value of ``None`` exports the submodule of that name itself.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, table: Mapping[str, str | None]) -> tuple[Callable[[str], Any],
                                                                        Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` exporting ``name -> submodule`` lazily."""
    table = dict(table)

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{table[name] or name}")
        value = module if table[name] is None else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(table) | set(vars(sys.modules[package])))

    return __getattr__, __dir__, sorted(table)
