"""The embedder interface: one abstract method per provider, batching and checks shared here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from shoal.errors import EmbeddingError, EmptyText, InvalidInput
from shoal.progress import step
from shoal.types import EmbedderSpec, TextKind

__all__ = ["BatchCallback", "Embedder", "validate_texts"]

BatchCallback = Callable[[list[str], np.ndarray], None]
"""Called with each batch's texts and checked vectors as soon as the provider returns them."""


def validate_texts(texts: Sequence[str]) -> list[str]:
    """Check that `texts` is a sequence of non-empty strings and return it as a list."""
    if isinstance(texts, (str, bytes)):
        raise InvalidInput(
            "embed_documents takes a list of texts, not a single string; "
            "wrap it in a list, or call embed_query for one text"
        )
    try:
        items = list(texts)
    except TypeError as exc:
        raise InvalidInput(f"texts must be a list of strings, got {type(texts).__name__}") from exc
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidInput(
                f"text at index {index} is a {type(text).__name__}, not a str; "
                "convert it with str() or remove it"
            )
        if not text.strip():
            raise EmptyText(
                f"text at index {index} is empty or only whitespace; "
                "remove empty texts before embedding (an empty text has no meaning to search for)"
            )
    return items


class Embedder(ABC):
    """Turns texts into float32 vectors; providers implement only `embed_batch`.

    The shared code here validates input, splits it into batches of `batch_size`
    (texts of similar length together, which saves padding for local models),
    restores the input order and checks what the provider returned.
    """

    #: Texts sent to `embed_batch` at a time.
    batch_size: int = 32

    @property
    @abstractmethod
    def spec(self) -> EmbedderSpec:
        """Provider, model, dimensions, normalisation and preferred metric."""

    @abstractmethod
    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Embed one batch of already validated texts into a (len(texts), d) array."""

    @property
    def fingerprint(self) -> str:
        """What makes this embedder's vectors: equal fingerprints give the same vectors.

        Caches key vectors by it. The default is the spec; a provider with settings that
        change its vectors without changing the spec (quantisation, say) adds them.
        """
        spec = self.spec
        return f"{spec.name}|{spec.dimensions}|{'norm' if spec.normalized else 'raw'}"

    @property
    def build(self) -> dict[str, str]:
        """How this process computes the vectors beyond the spec: precision, runtime, CPU kernels.

        Two builds of one model give slightly different vectors (int8 kernels round
        differently on AVX2 and AVX-512 VNNI, say); datasets record the builds that wrote
        them. Empty for providers whose vectors do not depend on the local machine.
        """
        return {}

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts to store: a float32 array of shape (len(texts), dimensions)."""
        return self._embed(validate_texts(texts), kind="document")

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one search text: a float32 array of shape (dimensions,)."""
        if not isinstance(text, str):
            raise InvalidInput(
                f"embed_query takes one str, got {type(text).__name__}; "
                "use embed_documents for a list of texts"
            )
        vector: np.ndarray = self._embed(validate_texts([text]), kind="query")[0]
        return vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed many search texts at once: a float32 array of shape (len(texts), dimensions)."""
        return self._embed(validate_texts(texts), kind="query")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r})"

    def _embed(
        self, texts: list[str], *, kind: TextKind, on_batch: BatchCallback | None = None
    ) -> np.ndarray:
        """Embed validated texts in length-sorted batches; `on_batch` sees each one as it is done."""
        dims = self.spec.dimensions
        out = np.empty((len(texts), dims), dtype=np.float32)
        if not texts:
            return out
        # Longest first, so padding within a batch is small and memory peaks early.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            vectors = self.embed_batch([texts[i] for i in chunk], kind=kind)
            out[chunk] = self._check_batch(vectors, expected=len(chunk))
            if on_batch is not None:
                on_batch([texts[i] for i in chunk], out[chunk])
            step("embed", start + len(chunk), len(texts))
        return out

    def _check_batch(self, vectors: np.ndarray, *, expected: int) -> np.ndarray:
        name = self.spec.name
        dims = self.spec.dimensions
        array = np.asarray(vectors)
        if array.shape != (expected, dims):
            raise EmbeddingError(
                f"embedder {name} returned an array of shape {array.shape} for {expected} "
                f"texts, expected ({expected}, {dims}); the provider or model is misconfigured"
            )
        # Checked after the cast: a float64 beyond float32's range becomes inf there.
        with np.errstate(over="ignore", invalid="ignore"):
            cast = array.astype(np.float32, copy=False)
        if not np.isfinite(cast).all():
            raise EmbeddingError(
                f"embedder {name} returned NaN or infinite values (or ones beyond float32's "
                "range); check the model files, they may be corrupt"
            )
        return cast
