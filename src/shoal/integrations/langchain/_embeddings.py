"""Embeddings both ways: a Shoal embedder as LangChain `Embeddings`, and the reverse.

`ShoalEmbeddings` lets LangChain code use any Shoal provider (the offline MiniLM model
by default). `LangChainEmbedder` lets a Shoal dataset store vectors made by any
LangChain `Embeddings` (OpenAIEmbeddings, HuggingFaceEmbeddings, a fake): the dataset
records the class and model that made them, so opening it with another one is an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from shoal.embeddings import DEFAULT_EMBEDDER, Embedder, embedder, provider_guess
from shoal.errors import ConfigurationError, EmbeddingError
from shoal.types import EmbedderSpec, Metric, TextKind

__all__ = ["LANGCHAIN_PROVIDER", "LangChainEmbedder", "ShoalEmbeddings", "as_shoal_embedder"]

LANGCHAIN_PROVIDER = "langchain"
"""The provider name a dataset records for vectors made by a LangChain `Embeddings`."""

# Attributes LangChain embeddings classes keep their model name in.
_MODEL_ATTRIBUTES = ("model", "model_name", "model_id", "deployment")


class ShoalEmbeddings(Embeddings):
    """A Shoal embedder as LangChain `Embeddings`: ``ShoalEmbeddings("local:all-mpnet-base-v2")``.

    Args:
        model: a name for `shoal.embedder()` (default the offline MiniLM model), or an
            `Embedder` already built; LangChain's bare names are mapped where unambiguous
            (``text-embedding-3-small`` -> ``openai:``, ``all-MiniLM-L6-v2`` -> ``local:``,
            ``org/model`` -> ``hf:``), and ``model_name=`` is taken for ``model=``.
        **options: the provider's options, as `shoal.embedder(model, **options)` takes them.
    """

    def __init__(self, model: str | Embedder = DEFAULT_EMBEDDER, **options: Any) -> None:
        if "model_name" in options:  # HuggingFaceEmbeddings' name for it
            if model != DEFAULT_EMBEDDER:
                raise ConfigurationError("ShoalEmbeddings got model and model_name: give one")
            model = options.pop("model_name")
        for key in ("api_key", "openai_api_key", "cohere_api_key"):
            if key in options:
                raise ConfigurationError(
                    f"ShoalEmbeddings takes no {key}: Shoal reads API keys from the environment "
                    "(OPENAI_API_KEY, COHERE_API_KEY), or from the variable named by "
                    "api_key_env='MY_KEY_VARIABLE'"
                )
        if "openai_api_base" in options:
            options["base_url"] = options.pop("openai_api_base")
        if isinstance(model, str) and ":" not in model:
            # LangChain names models bare ("text-embedding-3-small"): map the ones that are
            # unambiguous; embedder() refuses the rest with the names to use.
            model = provider_guess(model) or model
        if isinstance(model, Embedder):
            if options:
                raise ConfigurationError(
                    "options go with a model name, not with an Embedder already built; "
                    f"got {sorted(options)}"
                )
            self.embedder = model
        else:
            self.embedder = embedder(model, **options)

    @property
    def model(self) -> str:
        """The Shoal name of the embedder, e.g. ``local:all-MiniLM-L6-v2``."""
        return self.embedder.spec.name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts to store: one list of floats per text."""
        vectors: list[list[float]] = self.embedder.embed_documents(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Embed one search text."""
        vector: list[float] = self.embedder.embed_query(text).tolist()
        return vector

    def __repr__(self) -> str:
        return f"ShoalEmbeddings({self.model!r})"


class LangChainEmbedder(Embedder):
    """A LangChain `Embeddings` as a Shoal embedder, so a dataset can store its vectors.

    The spec's model is the class's import path and its model name (if it keeps one),
    e.g. ``langchain_openai.embeddings.base.OpenAIEmbeddings/text-embedding-3-small``.

    Args:
        embeddings: the LangChain embeddings object.
        dimensions: the vector size if known; otherwise one query is embedded to learn it.
        metric: how the dataset compares these vectors.
    """

    batch_size = 256

    def __init__(
        self, embeddings: Embeddings, *, dimensions: int | None = None, metric: Metric = "cosine"
    ) -> None:
        if not isinstance(embeddings, Embeddings):
            raise ConfigurationError(
                f"expected a LangChain Embeddings object, got {type(embeddings).__name__}"
            )
        self.embeddings = embeddings
        self._metric: Metric = metric
        self._dimensions = dimensions
        self._spec: EmbedderSpec | None = None

    @property
    def model(self) -> str:
        """The class's import path, with its model name when it has one."""
        kind = type(self.embeddings)
        name = f"{kind.__module__}.{kind.__qualname__}"
        for attribute in _MODEL_ATTRIBUTES:
            value = getattr(self.embeddings, attribute, None)
            if isinstance(value, str) and value:
                return f"{name}/{value}"
        return name

    @property
    def spec(self) -> EmbedderSpec:
        """Provider ``langchain``, the class as model, its size (learnt once) and the metric."""
        if self._spec is None:
            if self._dimensions is None:
                self._dimensions = len(self._call([_PROBE], kind="query")[0])
            self._spec = EmbedderSpec(
                LANGCHAIN_PROVIDER, self.model, self._dimensions, False, self._metric
            )
        return self._spec

    def embed_batch(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        """Call the LangChain object: `embed_documents` for documents, `embed_query` per query."""
        return self._call(texts, kind=kind)

    def _call(self, texts: list[str], *, kind: TextKind) -> np.ndarray:
        if kind == "query":
            rows: list[list[float]] = [self.embeddings.embed_query(text) for text in texts]
        else:
            rows = self.embeddings.embed_documents(texts)
        try:
            array = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise EmbeddingError(
                f"{self.model} returned vectors that are not one list of floats per text: {exc}"
            ) from exc
        if array.ndim != 2 or array.shape[0] != len(texts) or array.shape[1] == 0:
            raise EmbeddingError(
                f"{self.model} returned an array of shape {array.shape} for {len(texts)} texts; "
                "expected one non-empty vector per text"
            )
        return array


_PROBE = "What size are this model's vectors?"


def as_shoal_embedder(
    embedding: Embeddings, *, dimensions: int | None = None, metric: Metric = "cosine"
) -> Embedder:
    """The Shoal embedder behind `embedding`: unwrapped from `ShoalEmbeddings`, else adapted."""
    if isinstance(embedding, ShoalEmbeddings):
        return embedding.embedder
    return LangChainEmbedder(embedding, dimensions=dimensions, metric=metric)
