"""hyperzoo.hyperkernels -- context-dependent hyper-kernels and the large/long-kernel family.

    from hyperzoo.hyperkernels import TerminatorBlock, fftconv, hyperzzw
    from hyperzoo import core
    core.run("digits-seq", "terminator")

Attributes load on first use (``import hyperzoo.hyperkernels`` does not import torch), so that listing
plugins stays light.
"""

from __future__ import annotations

from hyperzoo.core.lazy import lazy_exports

_MODULES = {
    "slowfast": ["SlowNet", "HyperZZW", "GroupIBS", "TerminatorBlock"],
    "butterfly": ["LongConv", "squash", "smooth"],
    "inception": ["InceptionDWConv2d"],
    "reparam": ["DilatedReparamConv", "dilate_kernel"],
    "oneway": ["OneWayConv1d", "OneWayConv2d"],
    "phnn": ["PHConv1d", "PHConv2d"],
    "_common": ["coordinate_grid"],
    "models": ["Terminator", "LongConvNet", "LargeKernelNet", "terminator", "terminator2d", "longconv",
               "inceptionnext", "unireplknet", "feedback_error"],
    "optim": ["Kar3", "kar3"],
    "ops.fftconv": ["fftconv"],
    "ops.dwconv": ["dwconv"],
    "ops.hyperzzw": ["hyperzzw", "context_kernel"],
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, {name: module for module, names in _MODULES.items()
                                                        for name in names})
