"""One registry for every pluggable kind: embedders, answerers and rerankers.

A `Registry` finds a factory by provider name among its built-ins (``"module:attr"``
strings, imported only when used, so ``import shoal`` loads no provider), the entry
points of its group (plugins installed with pip) and factories registered at run time,
which win over both. Factories are called as ``factory(model, **options)``; options a
factory does not take are a `ConfigurationError` that lists the ones it does.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from shoal.errors import ConfigurationError, UnknownProvider

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Providers of one kind (`what`, e.g. "embedder"), found by name.

    Args:
        what: the kind, as messages name it ("embedder", "answerer", "reranker").
        group: the entry-point group plugins register under, e.g. ``shoal.embedders``.
        builtins: provider name -> ``"module:attr"`` of its factory.
        register_with: the public function that registers one, for messages.
    """

    def __init__(
        self, what: str, group: str, builtins: dict[str, str], *, register_with: str
    ) -> None:
        self.what = what
        self.group = group
        self._builtins = dict(builtins)
        self._registered: dict[str, Callable[..., T]] = {}
        self._register_with = register_with

    def register(self, name: str, factory: Callable[..., T]) -> None:
        """Register `factory` under `name` for this process (plugins use entry points instead)."""
        if not isinstance(name, str) or not name or ":" in name:
            raise ConfigurationError(
                f"{self.what} provider names are non-empty and have no ':', got {name!r}"
            )
        if not callable(factory):
            raise ConfigurationError(f"a {self.what} factory must be callable, got {factory!r}")
        self._registered[name] = factory

    def names(self) -> list[str]:
        """Every provider name this registry can build, sorted."""
        return sorted(set(self._targets()) | set(self._registered))

    def find(self, provider: str) -> Callable[..., T] | None:
        """The factory registered under `provider`, or None."""
        factory = self._registered.get(provider)
        if factory is not None:
            return factory
        target = self._targets().get(provider)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        found: Callable[..., T] = getattr(importlib.import_module(module_name), attr)
        return found

    def build(self, provider: str, model: str, options: dict[str, Any], *, example: str) -> T:
        """``factory(model, **options)`` for `provider`; UnknownProvider names the known ones."""
        factory = self.find(provider)
        if factory is None:
            raise UnknownProvider(
                f"no {self.what} provider named {provider!r}; known: {', '.join(self.names())} "
                f"(e.g. {example}). Install the plugin that provides it (entry-point group "
                f"{self.group!r}), or register one with {self._register_with}()"
            )
        self.check_options(factory, provider, model, options)
        return factory(model, **options)

    def check_options(
        self, factory: Callable[..., T], provider: str, model: str, options: dict[str, Any]
    ) -> None:
        """ConfigurationError naming the options `factory` does not take (not a TypeError)."""
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # a builtin or C callable: let it check for itself
            return
        try:
            signature.bind(model, **options)
        except TypeError:
            takes = [
                p.name
                for p in list(signature.parameters.values())[1:]
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            unknown = sorted(set(options) - set(takes))
            if not unknown:
                return  # another mismatch: the factory's own error says it
            raise ConfigurationError(
                f"the {provider!r} {self.what} takes no option {', '.join(map(repr, unknown))}; "
                f"it takes {', '.join(takes) or 'none'}"
            ) from None

    def _targets(self) -> dict[str, str]:
        targets = dict(self._builtins)
        for point in entry_points(group=self.group):
            targets.setdefault(point.name, point.value)
        return targets
