"""hyperzoo.hyperbolic -- numerically careful Poincaré-ball and Lorentz operators, the Poincaré ResNet
(convolution, midpoint batch norm, identity init), hyperbolic heads (HypCD, H4G) and Poincaré embeddings.

    from hyperzoo.hyperbolic import expmap0, dist0, mobius_add
    x = expmap0(u, c=1.0)          # tangent vectors at the origin -> points of the ball
    d = dist0(x, c=1.0)            # finite up to the largest float below the boundary

The package imports lazily (listing plugins must not import torch): names load on first access.
"""

from __future__ import annotations

from hyperzoo.core.lazy import lazy_exports

_F = "functional"
_L = "lorentz"
_TABLE = {name: _F for name in (
    "BallError", "cdist", "curvature", "conformal_denominator", "lambda_x", "project", "check_point", "mobius_add",
    "mobius_sub", "mobius_scalar_mul", "mobius_matvec", "gyration", "parallel_transport", "parallel_transport0",
    "expmap0", "logmap0", "expmap", "logmap", "dist", "dist0", "midpoint", "frechet_mean", "beta_concat",
    "beta_split", "beta_ratio")}
_TABLE.update({name: _L for name in (
    "lorentz_inner", "lorentz_dist", "lorentz_expmap0", "lorentz_logmap0", "lorentz_expmap", "lorentz_logmap",
    "lorentz_project", "poincare_to_lorentz", "lorentz_to_poincare", "lorentz_check")})
_TABLE.update({"poincare_fc": "ops.poincare_fc", "poincare_conv2d": "ops.poincare_conv2d"})
_TABLE.update({name: "layers" for name in (
    "PoincareLinear", "PoincareMLR", "ToBall", "hyperplane_logits", "PoincareConv2d", "MidpointBatchNorm2d",
    "MidpointBatchNorm",
    "FrechetBatchNorm2d", "PoincareReLU", "PoincareResidual", "HyperbolicProjectionHead", "RadiusScaling",
    "PoincareEmbedding", "ball_parameter")})
_TABLE.update({"functional": None, "lorentz": None, "layers": None, "models": None, "losses": None})
_TABLE.update({"hybrid_contrastive_loss": "losses", "hungarian_accuracy": "losses"})
_TABLE.update({"PoincareResNet": "models", "EuclideanResNet": "models"})

__getattr__, __dir__, __all__ = lazy_exports(__name__, _TABLE)
