"""The `local:` provider: sentence-transformers and CLIP models on ONNX Runtime (or the engine packaged with them), offline."""

from __future__ import annotations

import os

from shoal.embeddings._base import Embedder
from shoal.embeddings.local._catalog import KNOWN_MODELS, LocalModel, known_model
from shoal.embeddings.local._clip import CLIP_MODELS, ClipEmbedder, ClipPreprocess, is_clip_model
from shoal.embeddings.local._efficientnet import EfficientNetEmbedder
from shoal.embeddings.local._embedder import LocalEmbedder
from shoal.errors import ConfigurationError

__all__ = [
    "CLIP_MODELS",
    "KNOWN_MODELS",
    "ClipEmbedder",
    "ClipPreprocess",
    "EfficientNetEmbedder",
    "LocalEmbedder",
    "LocalModel",
    "is_clip_model",
    "known_model",
    "local_embedder",
]


def local_embedder(
    model: str = "all-MiniLM-L6-v2",
    *,
    path: str | os.PathLike[str] | None = None,
    quantize: bool | None = None,
    threads: int | None = None,
    batch_size: int | None = None,
) -> Embedder:
    """`local:<model>`: a CLIP model (`ClipEmbedder`), EfficientNet-Lite0 (images only), else a text model."""
    if model == "efficientnet-lite0" and path is None:
        if quantize:
            raise ConfigurationError("efficientnet-lite0 runs in fp32 only; leave quantize unset")
        return EfficientNetEmbedder(model, threads=threads)
    if is_clip_model(model, path):
        if quantize:
            raise ConfigurationError(
                f"{model} is a CLIP model, which runs in fp32 only; leave quantize unset"
            )
        return ClipEmbedder(model, path=path, threads=threads, batch_size=batch_size)
    return LocalEmbedder(
        model, path=path, quantize=quantize, threads=threads, batch_size=batch_size
    )
