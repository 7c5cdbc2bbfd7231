"""Find embedder providers by name: built-ins, entry points (`shoal.embedders`) and runtime registrations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal._registry import Registry
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
_PROVIDERS: Registry[Embedder] = Registry(
    "embedder",
    ENTRY_POINT_GROUP,
    {
        "hash": "shoal.embeddings.hashing:HashEmbedder",
        "phash": "shoal.embeddings.phash:PerceptualEmbedder",
        "hf": "shoal.embeddings.hf:HuggingFaceEmbedder",
        "local": "shoal.embeddings.local:local_embedder",
        "open_clip": "shoal.embeddings.openclip:OpenClipEmbedder",
        "openai": "shoal.embeddings.openai:OpenAIEmbedder",
        "cohere": "shoal.embeddings.cohere:CohereEmbedder",
    },
    register_with="shoal.register_provider",
)


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Register `factory` under `name` for this process (plugins use entry points instead)."""
    _PROVIDERS.register(name, factory)


def providers() -> list[str]:
    """Names of every provider that `embedder()` can build, sorted."""
    return _PROVIDERS.names()


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
    if provider == "langchain" and _PROVIDERS.find(provider) is None:
        # shoal.integrations.langchain records vectors made by a LangChain object this way.
        raise UnknownProvider(
            f"{name!r} is a LangChain Embeddings object, which Shoal cannot rebuild by name; "
            "search from Python with ShoalVectorStore(dataset_path=..., "
            "embedding_function=<the same embeddings>), or search by keyword (--mode keyword)"
        )
    return _PROVIDERS.build(provider, model, options, example=repr(DEFAULT_EMBEDDER))
