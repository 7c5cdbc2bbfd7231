"""Joining a Ray cluster: the one this process is on already, one at an address, or a local one."""

from __future__ import annotations

import re
from types import ModuleType

from shoal._checks import needs
from shoal.embeddings import EmbeddingCache
from shoal.errors import ConfigurationError, InvalidInput

__all__ = ["cache_path", "cause", "check_counts", "connect", "from_ray"]


def connect(address: str | None) -> ModuleType:
    """The `ray` module, joined to the cluster at `address` (None: the current or a new
    local one).

    Raises:
        MissingDependency: Ray is not installed.
        ConfigurationError: no cluster answers at `address`.
    """
    ray = needs("ray", "ray")
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except ConnectionError as exc:
        raise ConfigurationError(
            f"no Ray cluster answers at {address!r}: start one (ray start --head) or leave "
            "the address out to start a local one"
        ) from exc
    return ray


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_counts(**counts: int) -> None:
    """InvalidInput unless each count is an int >= 1 (`max_retries`: >= 0)."""
    for name, value in counts.items():
        least = 0 if name == "max_retries" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InvalidInput(f"{name} must be an int >= {least}, got {value!r}")


def cache_path(cache: EmbeddingCache | bool) -> str | None:
    """The embedding cache file the workers share (None: no cache)."""
    if cache is False:
        return None
    return str((cache if isinstance(cache, EmbeddingCache) else EmbeddingCache()).path)


def from_ray(exc: BaseException) -> bool:
    """True for the errors Ray raises when a task fails or its worker dies."""
    errors = needs("ray.exceptions", "ray")
    return isinstance(exc, errors.RayError)


def cause(exc: BaseException) -> str:
    """The first line of a Ray error (its traceback follows in the chained cause)."""
    text = _ANSI.sub("", str(exc)).strip().splitlines()
    return text[0] if text else type(exc).__name__
