"""Find embedder providers by name: built-ins, entry points (`shoal.embedders`) and runtime registrations."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from shoal.embeddings._base import Embedder
from shoal.errors import ConfigurationError, UnknownProvider

__all__ = [
    "DEFAULT_EMBEDDER",
    "ProviderFactory",
    "embedder",
    "provider_guess",
    "providers",
    "register_provider",
]

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


def provider_guess(model: str) -> str | None:
    """The Shoal name a bare model name most likely means (``text-embedding-3-small`` ->
    ``openai:text-embedding-3-small``), or None: for messages, never to pick silently."""
    from shoal.embeddings.local._catalog import known_model  # only on this error path

    known = known_model(model)
    if known is not None:
        return f"local:{known.name}"
    if model.startswith("text-embedding-"):
        return f"openai:{model}"
    if model.startswith("embed-"):
        return f"cohere:{model}"
    if "/" in model:  # a Hugging Face id: a sentence-transformers model run locally
        return f"hf:{model}"
    return None


def embedder(name: str = DEFAULT_EMBEDDER, **options: Any) -> Embedder:
    """Build an embedder from ``"provider:model"``, e.g. ``"local:all-MiniLM-L6-v2"`` or ``"hash:64"``.

    Raises:
        UnknownProvider: no provider has that name.
    """
    provider, sep, model = name.partition(":")
    if not sep or not provider or not model:
        guess = provider_guess(name)
        hint = f"; did you mean {guess!r}?" if guess else ""
        raise ConfigurationError(
            f"embedder names look like 'provider:model' (e.g. {DEFAULT_EMBEDDER!r}), "
            f"got {name!r}{hint}"
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
    _check_options(factory, provider, model, options)
    return factory(model, **options)


def _check_options(
    factory: ProviderFactory, provider: str, model: str, options: dict[str, Any]
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
            f"the {provider!r} embedder takes no option {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(takes) or 'none'}"
        ) from None
