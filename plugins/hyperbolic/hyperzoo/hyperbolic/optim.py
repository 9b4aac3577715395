"""geoopt's Riemannian optimisers under core's optimiser registry (``optimizer="riemannian-adam"``).

Ball-valued parameters are ``geoopt.ManifoldParameter``s on a ``geoopt.PoincareBall`` of the layer's curvature
(see :func:`hyperzoo.hyperbolic.layers.ball_parameter`); geoopt's optimisers follow their manifold
(Riemannian gradient, retraction, parallel transport of the moments) and treat every other parameter as
Euclidean, so one optimiser trains a mixed model.
"""

from __future__ import annotations

import geoopt


def riemannian_adam(params, *, lr: float, weight_decay: float = 0.0):
    """geoopt.optim.RiemannianAdam (Bécigneul & Ganea 2019), ``stabilize=10`` (re-project every 10 steps)."""
    return geoopt.optim.RiemannianAdam(params, lr=lr, weight_decay=weight_decay, stabilize=10)


def riemannian_sgd(params, *, lr: float, weight_decay: float = 0.0):
    """geoopt.optim.RiemannianSGD with momentum 0.9, ``stabilize=10``."""
    return geoopt.optim.RiemannianSGD(params, lr=lr, weight_decay=weight_decay, momentum=0.9, stabilize=10)
