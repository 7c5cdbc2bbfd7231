"""Joining a Ray cluster: the one this process is on already, one at an address, or a local one."""

from __future__ import annotations

from types import ModuleType

from shoal._checks import needs
from shoal.errors import ConfigurationError

__all__ = ["connect"]


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
