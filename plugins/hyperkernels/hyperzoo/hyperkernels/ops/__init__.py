"""Operators of hyperkernels: references beside their fast backends."""
