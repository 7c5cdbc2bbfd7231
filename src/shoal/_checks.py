"""Argument checks shared across layers, each raising InvalidInput that says what is allowed."""

from __future__ import annotations

import math
from typing import Any

from shoal.errors import InvalidInput

__all__ = ["check_count", "check_fraction", "check_number"]


def check_count(value: Any, name: str, *, minimum: int = 1) -> int:
    """`value` as an int >= minimum, or InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_number(value: Any, name: str) -> float:
    """`value` as a finite float, or InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_fraction(value: Any, name: str) -> float:
    """`value` as a float in (0, 0.5], or InvalidInput."""
    number = check_number(value, name)
    if not 0 < number <= 0.5:
        raise InvalidInput(f"{name} must be a fraction in (0, 0.5], e.g. 0.01; got {value!r}")
    return number
