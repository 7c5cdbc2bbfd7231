"""Embedders: the interface, the provider registry and the built-in providers."""

from __future__ import annotations

from shoal._http import RetryPolicy
from shoal.embeddings._base import (
    BatchCallback,
    Embedder,
    ImageEmbedder,
    embeds_images,
    fits_window,
    validate_texts,
)
from shoal.embeddings._cache import CachedEmbedder, CacheStats, EmbeddingCache
from shoal.embeddings._hosted import HostedEmbedder, RequestLimits
from shoal.embeddings._images import IMAGE_SUFFIXES, ImageInput, describe_image, load_image
from shoal.embeddings._registry import (
    DEFAULT_EMBEDDER,
    ProviderFactory,
    embedder,
    provider_guess,
    providers,
    register_provider,
)
from shoal.embeddings.cohere import CohereEmbedder
from shoal.embeddings.hf import HuggingFaceEmbedder
from shoal.embeddings.openai import OpenAIEmbedder
from shoal.embeddings.openclip import OpenClipEmbedder

__all__ = [
    "DEFAULT_EMBEDDER",
    "IMAGE_SUFFIXES",
    "BatchCallback",
    "CacheStats",
    "CachedEmbedder",
    "CohereEmbedder",
    "Embedder",
    "EmbeddingCache",
    "HostedEmbedder",
    "HuggingFaceEmbedder",
    "ImageEmbedder",
    "ImageInput",
    "OpenAIEmbedder",
    "OpenClipEmbedder",
    "ProviderFactory",
    "RequestLimits",
    "RetryPolicy",
    "describe_image",
    "embedder",
    "embeds_images",
    "fits_window",
    "load_image",
    "provider_guess",
    "providers",
    "register_provider",
    "validate_texts",
]
