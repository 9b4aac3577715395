"""hyperzoo.hyperkernels -- context-dependent hyper-kernels and the large/long-kernel family.

    from hyperzoo.hyperkernels import TerminatorBlock, fftconv, hyperzzw
    from hyperzoo import core
    core.run("digits-seq", "terminator")

Attributes load on first use (``import hyperzoo.hyperkernels`` does not import torch), so that listing
plugins stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "layers": ["SlowNet", "HyperZZW", "GroupIBS", "TerminatorBlock", "LongConv", "InceptionDWConv2d",
               "DilatedReparamConv", "OneWayConv1d", "OneWayConv2d", "PHConv1d", "PHConv2d", "squash", "smooth",
               "coordinate_grid", "dilate_kernel"],
    "models": ["Terminator", "LongConvNet", "LargeKernelNet", "terminator", "terminator2d", "longconv",
               "inceptionnext", "unireplknet", "feedback_error"],
    "optim": ["Kar3", "kar3"],
    "ops.fftconv": ["fftconv"],
    "ops.dwconv": ["dwconv"],
    "ops.hyperzzw": ["hyperzzw", "context_kernel"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
