"""Embedders: the interface, the provider registry and the built-in providers."""

from __future__ import annotations

from shoal.embeddings._base import BatchCallback, Embedder, validate_texts
from shoal.embeddings._cache import CachedEmbedder, CacheStats, EmbeddingCache
from shoal.embeddings._registry import (
    DEFAULT_EMBEDDER,
    ProviderFactory,
    embedder,
    providers,
    register_provider,
)

__all__ = [
    "DEFAULT_EMBEDDER",
    "BatchCallback",
    "CacheStats",
    "CachedEmbedder",
    "Embedder",
    "EmbeddingCache",
    "ProviderFactory",
    "embedder",
    "providers",
    "register_provider",
    "validate_texts",
]
