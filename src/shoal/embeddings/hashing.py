"""A deterministic fake embedder for fast tests: hashed word features, no model, no meaning."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from shoal.embeddings._base import Embedder
from shoal.errors import ConfigurationError
from shoal.types import EmbedderSpec, TextKind

__all__ = ["HashEmbedder"]

_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder(Embedder):
    """`hash:<dims>`: vectors from hashed lower-cased words (feature hashing).

    It is for tests and examples that need speed and determinism, not meaning:
    texts that share words get similar vectors, synonyms do not. Vectors are
    L2-normalised, so cosine and dot agree.
    """

    batch_size = 1024

    def __init__(self, model: str = "64") -> None:
        try:
            dims = int(model)
        except ValueError:
            dims = 0
        if dims <= 0:
            raise ConfigurationError(
                f"hash embedder takes a positive dimension count, like 'hash:64', got {model!r}"
            )
        self._spec = EmbedderSpec(
            provider="hash", model=str(dims), dimensions=dims, normalized=True
        )

    @property
    def spec(self) -> EmbedderSpec:
        """Provider 'hash', the dimension count as model name."""
        return self._spec

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Hash each word to a signed bucket; normalise the sums."""
        dims = self._spec.dimensions
        out = np.zeros((len(texts), dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % dims] += 1.0 if (value >> 63) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:
                # Punctuation-only text: a fixed unit vector rather than a zero one.
                out[row, 0] = 1.0
            else:
                out[row] /= norm
        return out
