"""The hyperbolic operators: ``hyperbolic.mobius_matvec``, ``hyperbolic.midpoint``, ``hyperbolic.poincare_fc``,
``hyperbolic.poincare_conv2d`` and their shared hot part ``hyperbolic.poincare_fc_head`` (reference with a
hand-written backward, fused Triton backend)."""
