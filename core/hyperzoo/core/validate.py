"""Argument checks shared by model factories (core's baselines and the plugins): one message for one mistake.

    from hyperzoo.core.validate import fraction, positive_int
    width = positive_int("width", width)          # ValueError: width must be a positive int, got 0
    dropout = fraction("dropout", dropout)        # ValueError: dropout must be a number in [0, 1), got 1.5
"""

from __future__ import annotations

import math
import numbers

__all__ = ["positive_int", "fraction"]


def positive_int(name: str, value: object) -> int:
    """``value`` if it is an int >= 1 (not a bool), else a ``ValueError`` naming ``name`` and the value."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def fraction(name: str, value: object) -> float:
    """``float(value)`` if it is a real number in [0, 1) (a probability such as dropout), else a ``ValueError``."""
    if (not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value)
            or not 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)
