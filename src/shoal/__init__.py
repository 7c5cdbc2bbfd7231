"""Shoal: offline-first embeddings, vector store and retrieval question answering.

>>> import shoal
>>> fake = shoal.embedder("hash:64")
>>> shoal.most_similar("a cat on a mat", ["a dog", "a cat on the mat"], embedder=fake)[0].text
'a cat on the mat'
"""

from __future__ import annotations

from shoal._version import __version__
from shoal.embeddings import (
    DEFAULT_EMBEDDER,
    CachedEmbedder,
    Embedder,
    EmbeddingCache,
    embedder,
    providers,
    register_provider,
)
from shoal.errors import (
    ConfigurationError,
    DatasetNotFound,
    DimensionMismatch,
    EmbedderMismatch,
    EmbeddingError,
    EmptyText,
    FilterError,
    InvalidInput,
    MissingDependency,
    ModelNotFound,
    NonFiniteValues,
    ReadOnlyDataset,
    RefNotFound,
    ShoalError,
    StoreError,
    UnknownProvider,
    WriteConflict,
)
from shoal.ingestion import IngestProgress, IngestReport, ingest
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
    VersionInfo,
    open,
)
from shoal.text import RecursiveCharacterSplitter
from shoal.types import Document, EmbedderSpec, Metric

__all__ = [
    "DEFAULT_EMBEDDER",
    "Binary",
    "CachedEmbedder",
    "ConfigurationError",
    "Dataset",
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
    "IngestProgress",
    "IngestReport",
    "InvalidInput",
    "Match",
    "Metric",
    "MissingDependency",
    "ModelNotFound",
    "NonFiniteValues",
    "ReadOnlyDataset",
    "Record",
    "RecursiveCharacterSplitter",
    "RefNotFound",
    "ShoalError",
    "StoreError",
    "TopK",
    "UnknownProvider",
    "VersionInfo",
    "WriteConflict",
    "__version__",
    "cosine_similarity",
    "dot_similarity",
    "embedder",
    "euclidean_distance",
    "ingest",
    "most_similar",
    "open",
    "pairwise",
    "providers",
    "register_provider",
    "top_k",
]
