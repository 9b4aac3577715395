"""Layers of hyperkernels, one module per paper family (1D layers take (N, C, L), 2D layers (N, C, H, W)); each
class states its equation. This module gathers them under one name.

    slowfast    Terminator (Zhang, arXiv 2401.17948): SlowNet, HyperZZW, GroupIBS, TerminatorBlock
    butterfly   FlashButterfly (Fu et al., ICML 2023): LongConv, squash, smooth
    inception   InceptionNeXt (Yu et al., CVPR 2024): InceptionDWConv2d
    reparam     RepLKNet / UniRepLKNet (Ding et al., CVPR 2022 / 2024): DilatedReparamConv, dilate_kernel
    oneway      a priori compression (Boukraichi et al., arXiv 2304.04964): OneWayConv1d, OneWayConv2d
    phnn        PHNNs (Grassucci et al., IEEE TNNLS 2022): PHConv1d, PHConv2d
    _common     shared building blocks: Pointwise, coordinate_grid, DepthwiseConv, MaterialisedConv

Convolutions run through the registered operators (``hyperkernels.fftconv``, ``.dwconv``, ``.hyperzzw``), so a
GPU backend is used wherever one is available.
"""

from __future__ import annotations

from ._common import Pointwise, coordinate_grid
from .butterfly import LongConv, smooth, squash
from .inception import InceptionDWConv2d
from .oneway import OneWayConv1d, OneWayConv2d
from .phnn import PHConv1d, PHConv2d
from .reparam import DilatedReparamConv, dilate_kernel
from .slowfast import GroupIBS, HyperZZW, SlowNet, TerminatorBlock

__all__ = [
    "SlowNet", "HyperZZW", "GroupIBS", "TerminatorBlock", "LongConv", "InceptionDWConv2d", "DilatedReparamConv",
    "OneWayConv1d", "OneWayConv2d", "PHConv1d", "PHConv2d", "Pointwise", "squash", "smooth", "coordinate_grid",
    "dilate_kernel",
]
