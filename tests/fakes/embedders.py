"""A hash embedder that counts its calls, and can fail or go slowly on purpose."""

from __future__ import annotations

import time

import numpy as np

from shoal.embeddings import Embedder
from shoal.embeddings.hashing import HashEmbedder
from shoal.errors import EmbeddingError
from shoal.types import EmbedderSpec, TextKind

__all__ = ["CountingEmbedder"]


class CountingEmbedder(Embedder):
    """hash:<dims> that counts batches and texts; raises EmbeddingError from batch `fail_at` on.

    Its spec is hash:<dims>'s, so a dataset made with it reopens with ``"hash:<dims>"``.
    """

    def __init__(
        self,
        dims: int = 64,
        *,
        batch_size: int = 8,
        fail_at: int | None = None,
        delay: float = 0.0,
    ) -> None:
        self._inner = HashEmbedder(str(dims))
        self.batch_size = batch_size
        self.fail_at = fail_at
        self.delay = delay
        self.batches = 0
        self.texts: list[str] = []

    @property
    def spec(self) -> EmbedderSpec:
        """hash:<dims>'s spec."""
        return self._inner.spec

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Count, maybe wait or fail, then embed like hash:<dims>."""
        self.batches += 1
        if self.fail_at is not None and self.batches >= self.fail_at:
            raise EmbeddingError(f"fake provider down at batch {self.batches}")
        if self.delay:
            time.sleep(self.delay)
        self.texts.extend(texts)
        return self._inner.embed_batch(texts, kind=kind)
