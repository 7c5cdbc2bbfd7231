"""Find embedder providers by name: built-ins, entry points (`shoal.embedders`) and runtime registrations."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from shoal.embeddings._base import Embedder
from shoal.errors import ConfigurationError, UnknownProvider

__all__ = ["DEFAULT_EMBEDDER", "ProviderFactory", "embedder", "providers", "register_provider"]

DEFAULT_EMBEDDER = "local:all-MiniLM-L6-v2"
"""The embedder used when none is named: offline, no key, 384 dimensions."""

ProviderFactory = Callable[..., Embedder]
"""Called as ``factory(model, **options)``; returns an `Embedder`."""

ENTRY_POINT_GROUP = "shoal.embedders"

# Built-ins go through the same lazy "module:attr" path as plugins, so importing
# shoal never imports a provider's heavy dependencies.
_BUILTINS: dict[str, str] = {
    "hash": "shoal.embeddings.hashing:HashEmbedder",
    "hf": "shoal.embeddings.hf:HuggingFaceEmbedder",
    "local": "shoal.embeddings.local:LocalEmbedder",
    "openai": "shoal.embeddings.openai:OpenAIEmbedder",
    "cohere": "shoal.embeddings.cohere:CohereEmbedder",
}
_registered: dict[str, ProviderFactory] = {}


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Register `factory` under `name` for this process (plugins use entry points instead)."""
    if not name or ":" in name:
        raise ConfigurationError(f"provider names are non-empty and have no ':', got {name!r}")
    _registered[name] = factory


def _targets() -> dict[str, str]:
    targets = dict(_BUILTINS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        targets.setdefault(ep.name, ep.value)
    return targets


def providers() -> list[str]:
    """Names of every provider that `embedder()` can build, sorted."""
    return sorted(set(_targets()) | set(_registered))


def _load(target: str) -> ProviderFactory:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    factory: ProviderFactory = getattr(module, attr)
    return factory


def embedder(name: str = DEFAULT_EMBEDDER, **options: Any) -> Embedder:
    """Build an embedder from ``"provider:model"``, e.g. ``"local:all-MiniLM-L6-v2"`` or ``"hash:64"``.

    Raises:
        UnknownProvider: no provider has that name.
    """
    provider, sep, model = name.partition(":")
    if not sep or not provider or not model:
        raise ConfigurationError(
            f"embedder names look like 'provider:model' (e.g. {DEFAULT_EMBEDDER!r}), got {name!r}"
        )
    factory = _registered.get(provider)
    if factory is None:
        target = _targets().get(provider)
        if target is None and provider == "langchain":
            # shoal.integrations.langchain records vectors made by a LangChain object this way.
            raise UnknownProvider(
                f"{name!r} is a LangChain Embeddings object, which Shoal cannot rebuild by name; "
                "search from Python with ShoalVectorStore(dataset_path=..., "
                "embedding_function=<the same embeddings>), or search by keyword (--mode keyword)"
            )
        if target is None:
            raise UnknownProvider(
                f"no embedder provider named {provider!r}; known providers: "
                f"{', '.join(providers())}. Install the plugin that provides it, "
                "or register one with shoal.register_provider()"
            )
        factory = _load(target)
    return factory(model, **options)
