"""The `local:` provider: sentence-transformers models on ONNX Runtime (or the engine packaged with them), offline."""

from __future__ import annotations

from shoal.embeddings.local._catalog import KNOWN_MODELS, LocalModel, known_model
from shoal.embeddings.local._embedder import LocalEmbedder

__all__ = ["KNOWN_MODELS", "LocalEmbedder", "LocalModel", "known_model"]
