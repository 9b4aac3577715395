"""hyperzoo.linear_attention -- kernelized linear attention: generic feature maps, NaLa (norm-aware), EcoFormer
(hashed binary codes), ShiftAddViT (angular attention, shift/add MoE MLP), Performer FAVOR+ and SNNK random features.

    from hyperzoo.linear_attention import linear, nala
    o = nala(q, k, v, causal=True)            # q, k, v: (B, H, N, D)

Attributes load on first use (``import hyperzoo.linear_attention`` does not import torch).
"""

from __future__ import annotations

from hyperzoo.core.lazy import lazy_exports

_EXPORTS = {
    "ops.linear": ["linear"],
    "ops.nala": ["nala"],
    "ops.hamming": ["hamming"],
    "ops.angular": ["angular"],
    "ops.favor": ["favor", "gaussian_projection", "positive_features"],
}
__getattr__, __dir__, __all__ = lazy_exports(
    __name__, {name: module for module, names in _EXPORTS.items() for name in names})
