"""The hyperbolic plugin's registrations (no math, no torch import): see docs/plugins/hyperbolic.md."""

from __future__ import annotations

from hyperzoo import core

_OPS = "hyperzoo.hyperbolic.ops."
_M = "hyperzoo.hyperbolic.models:"
_T = "hyperzoo.hyperbolic.tasks:"
IMG = "image-classification"
EMBED, GCD = "hierarchy-embedding", "category-discovery"


@core.hookimpl
def hyperzoo_register(registrar) -> None:
    registrar.operator("hyperbolic.mobius_matvec", _OPS + "mobius_matvec:mobius_matvec",
                       doc="Möbius matrix-vector product M ⊗ x on the Poincaré ball (HNN)")
    registrar.operator("hyperbolic.midpoint", _OPS + "midpoint:midpoint",
                       doc="weighted Möbius gyromidpoint ½ ⊗ (Σ w λ x / Σ w (λ − 1)) (= Einstein midpoint)")
    registrar.operator("hyperbolic.poincare_fc", _OPS + "poincare_fc:poincare_fc",
                       doc="HNN++ Poincaré fully connected layer (signed distances to hyperplanes)")
    registrar.operator("hyperbolic.poincare_conv2d", _OPS + "poincare_conv2d:poincare_conv2d",
                       doc="Poincaré 2D convolution: β-scaled log₀, unfold, exp₀, HNN++ FC (no unfolded tensor)")
    registrar.operator("hyperbolic.poincare_fc_head", _OPS + "poincare_fc_head:poincare_fc_head",
                       doc="HNN++ FC head after the product: asinh/sinh and the ball normalisation (hand-written "
                           "backward)")
    registrar.backend("hyperbolic.poincare_fc_head", "triton", _OPS + "poincare_fc_head_triton:poincare_fc_head",
                      priority=10, is_available="hyperzoo.core.dispatch:triton_available",
                      supports=_OPS + "poincare_fc_head_triton:supports",
                      tolerances={"float32": (2e-4, 1e-5)})

    registrar.model("poincare-resnet", _M + "poincare_resnet", fits=[IMG])
    registrar.model("resnet", _M + "resnet", fits=[IMG])
    registrar.model("poincare-embedding", _M + "poincare_embedding", fits=[EMBED])
    registrar.model("euclidean-embedding", _M + "euclidean_embedding", fits=[EMBED])

    registrar.task("wordnet-mammals", _T + "WordNetMammals", kind=EMBED)
    registrar.task("tree-embedding", _T + "TreeEmbedding", kind=EMBED)
    registrar.model("hypcd", _M + "hypcd", fits=[GCD])
    registrar.model("gcd-euclidean", _M + "gcd_euclidean", fits=[GCD])
    registrar.task("gcd-digits", _T + "GCDDigits", kind=GCD)

    registrar.optimizer("riemannian-adam", "hyperzoo.hyperbolic.optim:riemannian_adam")
    registrar.optimizer("riemannian-sgd", "hyperzoo.hyperbolic.optim:riemannian_sgd")
    registrar.optimizer("poincare-rsgd", "hyperzoo.hyperbolic.optim:poincare_rsgd")
