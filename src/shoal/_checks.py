"""Checks shared across layers: arguments (InvalidInput saying what is allowed) and optional
packages (MissingDependency saying what to install)."""

from __future__ import annotations

import importlib
import math
import os
from types import ModuleType
from typing import Any

from shoal.errors import InvalidInput, MissingDependency

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "check_count",
    "check_fraction",
    "check_number",
    "max_image_pixels",
    "needs",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
"""File types `shoal ingest` reads as images (embedded by an image embedder, else read by OCR)."""
MAX_IMAGE_PIXELS = 40_000_000
"""Default limit on an image's pixels (40 megapixels); $SHOAL_MAX_IMAGE_PIXELS changes it."""


def max_image_pixels() -> int:
    """The pixel limit in force for image embedders and OCR: $SHOAL_MAX_IMAGE_PIXELS, else
    `MAX_IMAGE_PIXELS` (a decompression-bomb guard checked before decoding)."""
    raw = os.environ.get("SHOAL_MAX_IMAGE_PIXELS", "").strip()
    if not raw:
        return MAX_IMAGE_PIXELS
    if not raw.isdigit() or int(raw) == 0:
        raise InvalidInput(f"SHOAL_MAX_IMAGE_PIXELS must be a positive whole number, got {raw!r}")
    return int(raw)


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


def needs(module: str, extra: str) -> ModuleType:
    """`module`, imported; MissingDependency naming the pip command if it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"this needs {module}, which is not installed: pip install 'shoal[{extra}]'"
        ) from exc
