"""Shoal: offline-first embeddings, vector store and retrieval question answering.

>>> import shoal
>>> fake = shoal.embedder("hash:64")
>>> shoal.most_similar("a cat on a mat", ["a dog", "a cat on the mat"], embedder=fake)[0].text
'a cat on the mat'
"""

from __future__ import annotations

from typing import Any

from shoal.embeddings import (
    DEFAULT_EMBEDDER,
    CachedEmbedder,
    CohereEmbedder,
    Embedder,
    EmbeddingCache,
    HuggingFaceEmbedder,
    OpenAIEmbedder,
    RetryPolicy,
    embedder,
    providers,
    register_provider,
)
from shoal.errors import (
    AuthenticationError,
    ConfigurationError,
    DatasetDamaged,
    DatasetNotFound,
    DimensionMismatch,
    EmbedderMismatch,
    EmbeddingError,
    EmptyText,
    FilterError,
    InvalidInput,
    MalformedResponse,
    MissingDependency,
    ModelNotFound,
    NonFiniteValues,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    ReadOnlyDataset,
    RefNotFound,
    RequestRejected,
    ShoalError,
    StorageFull,
    StorageReadOnly,
    StoreError,
    UnknownProvider,
    WriteConflict,
)
from shoal.ingestion import IngestProgress, IngestReport, ingest
from shoal.qa import LLM, Answer, QAPrompt, RetrievalQA, llm
from shoal.similarity import (
    Match,
    TopK,
    cosine_similarity,
    dot_similarity,
    euclidean_distance,
    most_similar,
    pairwise,
    top_k,
)
from shoal.store import (
    Binary,
    Dataset,
    DatasetInfo,
    Diff,
    Filter,
    Hit,
    Record,
    Retriever,
    SearchMode,
    SearchType,
    VersionInfo,
    open,
)
from shoal.text import RecursiveCharacterSplitter
from shoal.types import Document, EmbedderSpec, Metric

__all__ = [
    "DEFAULT_EMBEDDER",
    "LLM",
    "Answer",
    "AuthenticationError",
    "Binary",
    "CachedEmbedder",
    "CohereEmbedder",
    "ConfigurationError",
    "Dataset",
    "DatasetDamaged",
    "DatasetInfo",
    "DatasetNotFound",
    "Diff",
    "DimensionMismatch",
    "Document",
    "Embedder",
    "EmbedderMismatch",
    "EmbedderSpec",
    "EmbeddingCache",
    "EmbeddingError",
    "EmptyText",
    "Filter",
    "FilterError",
    "Hit",
    "HuggingFaceEmbedder",
    "IngestProgress",
    "IngestReport",
    "InvalidInput",
    "MalformedResponse",
    "Match",
    "Metric",
    "MissingDependency",
    "ModelNotFound",
    "NonFiniteValues",
    "OpenAIEmbedder",
    "ProviderError",
    "ProviderUnavailable",
    "QAPrompt",
    "RateLimited",
    "ReadOnlyDataset",
    "Record",
    "RecursiveCharacterSplitter",
    "RefNotFound",
    "RequestRejected",
    "RetrievalQA",
    "Retriever",
    "RetryPolicy",
    "SearchMode",
    "SearchType",
    "ShoalError",
    "StorageFull",
    "StorageReadOnly",
    "StoreError",
    "TopK",
    "UnknownProvider",
    "VersionInfo",
    "WriteConflict",
    "__version__",
    "connect",
    "cosine_similarity",
    "dot_similarity",
    "embedder",
    "euclidean_distance",
    "ingest",
    "llm",
    "most_similar",
    "open",
    "pairwise",
    "providers",
    "register_provider",
    "top_k",
]


def __getattr__(name: str) -> Any:
    """`shoal.__version__`, read from the installed metadata on first use (importlib.metadata
    costs ~40 ms, which every CLI call would pay at import)."""
    if name == "__version__":
        from shoal._version import __version__

        return __version__
    if name == "connect":  # httpx loads with it, not with every `import shoal`
        from shoal.client import connect

        return connect
    raise AttributeError(f"module 'shoal' has no attribute {name!r}")
